"""A company imports its people from the Excel template (all or nothing) and binds registered ones."""

import io

import openpyxl
import pytest
from django_tenants.utils import schema_context

from membership.roster import RosterError, roster_bind_person, roster_import
from shared.accounts.models import Company, PersonProfile, User, UserKind
from shared.excel.roster import ROSTER_COLUMNS, ROSTER_SHEET_TITLE, header_text
from tenant_configs.selectors import rules_current
from tests.conftest import host_client
from tests.ids import valid_id_number

pytestmark = pytest.mark.django_db


def roster_xlsx(rows: list[dict]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = ROSTER_SHEET_TITLE
    sheet.append([header_text(column) for column in ROSTER_COLUMNS])
    for row in rows:
        sheet.append([row.get(column.key, "") for column in ROSTER_COLUMNS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def person_row(number: int, **overrides) -> dict:
    id_number = valid_id_number("310101", "19900101", f"{number:03d}")
    values = {
        "name": f"学员{number}",
        "gender": "男" if int(id_number[16]) % 2 else "女",
        "id_type": "居民身份证",
        "id_number": id_number,
        "phone": f"137{number:08d}",
        "email": f"p{number}@example.com",
        "birth_date": "1990-01-01",
        "work_start_date": "2012-07",
        "specialty": "岩土工程",
        "address": "上海市黄浦区人民路 1 号",
    }
    values.update(overrides)
    return values


@pytest.fixture
def company(tenant_a):
    with schema_context("sichuan"):
        company = Company.objects.create(name="上海示例勘察公司", uscc="91310000MA1FL0NQ5U")
        operator = User.objects.create_user(
            "op1", "Jianli-2026", kind=UserKind.COMPANY, company=company, phone="13900009999"
        )
        yield company, operator


def test_a_clean_file_imports_everyone_with_no_usable_password(company):
    company, operator = company
    with schema_context("sichuan"):
        result = roster_import(
            rules=rules_current(),
            company=company,
            actor=operator,
            data=roster_xlsx([person_row(n) for n in range(1, 4)]),
        )

        assert result.succeeded and result.imported == 3
        people = PersonProfile.objects.filter(company=company).order_by("name")
        assert [p.name for p in people] == ["学员1", "学员2", "学员3"]
        assert not people[0].user.has_usable_password()
        assert people[0].user.kind == UserKind.PERSON


def test_one_bad_row_imports_nobody_and_every_problem_is_reported(company):
    company, operator = company
    good = person_row(2)["id_number"]
    bad_checksum = good[:-1] + ("0" if good[-1] != "0" else "1")
    rows = [
        person_row(1),
        person_row(2, id_number=bad_checksum),
        person_row(3, phone="123"),
        person_row(1, name="重复"),
    ]
    with schema_context("sichuan"):
        before = User.objects.count()
        result = roster_import(rules=rules_current(), company=company, actor=operator, data=roster_xlsx(rows))

        assert not result.succeeded and result.imported == 0
        assert {(e.row_number, e.code) for e in result.errors} >= {
            (3, "id_number_checksum"),
            (4, "mobile_format"),
        }
        assert any(e.row_number == 5 for e in result.errors)  # the duplicate of row 2
        assert User.objects.count() == before


def test_people_who_already_have_an_account_are_flagged(company):
    company, operator = company
    existing = person_row(7)
    with schema_context("sichuan"):
        User.objects.create_user(
            "someone", "x-Password-1", kind=UserKind.PERSON, id_number=existing["id_number"]
        )
        result = roster_import(
            rules=rules_current(),
            company=company,
            actor=operator,
            data=roster_xlsx([person_row(6), existing]),
        )

        assert [(e.row_number, e.code) for e in result.errors] == [(3, "account_exists")]
        assert "存在账号" in result.errors[0].message
        assert not PersonProfile.objects.filter(company=company).exists()


def test_bind_needs_name_and_id_to_match(company):
    company, operator = company
    row = person_row(8)
    with schema_context("sichuan"):
        other = Company.objects.create(name="另一单位")
        roster_import(rules=rules_current(), company=other, actor=operator, data=roster_xlsx([row]))
        PersonProfile.objects.filter(id_number=row["id_number"]).update(company=None)

        with pytest.raises(RosterError, match="没有找到"):
            roster_bind_person(company=company, actor=operator, name="别人", id_number=row["id_number"])
        profile = roster_bind_person(
            company=company, actor=operator, name=row["name"], id_number=row["id_number"].lower()
        )
        assert profile.company == company


def test_company_page_imports_and_reports_errors(company):
    client = host_client("sichuan.localhost")
    client.post("/login/", {"username": "13900009999", "password": "Jianli-2026"})
    template = client.get("/company/roster/template.xlsx")
    bad = client.post(
        "/company/roster/", {"action": "import", "file": io.BytesIO(roster_xlsx([person_row(9, phone="1")]))}
    )
    not_excel = client.post("/company/roster/", {"action": "import", "file": io.BytesIO(b"name,id\n")})

    assert template.status_code == 200 and template.content[:2] == b"PK"
    assert "本次没有导入任何人员" in bad.content.decode()
    assert "import-file-error" in not_excel.content.decode()


def _zip(entries: dict[str, bytes]) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_photos_in_a_zip_are_stored_for_the_companys_own_people_only(tenant_a, settings, tmp_path):
    from membership.roster import roster_photos_import
    from shared.documents.models import Document
    from tests.unit.test_document_checks import photo_jpeg

    settings.MEDIA_ROOT = tmp_path
    first, second, stranger = (
        person_row(21, name="李雷"),
        person_row(22, name="韩梅梅"),
        person_row(23, name="王强"),
    )
    fourth = person_row(24, name="赵敏")
    with schema_context("shanghai"):
        rules = rules_current()
        company = Company.objects.create(name="上海照片测试公司")
        operator = User.objects.create_user("op-sh", "Jianli-2026", kind=UserKind.COMPANY, company=company)
        assert roster_import(
            rules=rules, company=company, actor=operator, data=roster_xlsx([first, second])
        ).succeeded
        data = _zip(
            {
                f"{first['name']}-{first['id_number']}.jpg": photo_jpeg(),
                f"别人-{second['id_number']}.jpg": photo_jpeg(),
                f"{stranger['name']}-{stranger['id_number']}.jpg": photo_jpeg(),
                "../../etc/evil.jpg": photo_jpeg(),
                f"{fourth['name']}-{fourth['id_number']}.jpeg": photo_jpeg(size=(300, 400)),
            }
        )

        result = roster_photos_import(rules=rules, company=company, actor=operator, data=data)

        outcomes = {outcome.entry_name: (outcome.ok, outcome.message) for outcome in result.outcomes}
        assert result.stored == 1
        assert outcomes[f"{first['name']}-{first['id_number']}.jpg"] == (True, "已上传")
        assert "姓名与身份证号不符" in outcomes[f"别人-{second['id_number']}.jpg"][1]
        assert outcomes[f"{stranger['name']}-{stranger['id_number']}.jpg"] == (
            False,
            "本单位没有该身份证号的人员",
        )
        assert not outcomes["../../etc/evil.jpg"][0]
        assert "295×413" in outcomes[f"{fourth['name']}-{fourth['id_number']}.jpeg"][1]
        stored = Document.objects.get()
        assert stored.owner.id_number == first["id_number"]
        assert str(tmp_path / "shanghai" / "documents") in stored.file.path


def test_a_tenant_without_a_photo_spec_refuses_photo_zips(company):
    from membership.roster import roster_photos_import

    company, operator = company
    with schema_context("sichuan"), pytest.raises(RosterError, match="证件照"):
        roster_photos_import(rules=rules_current(), company=company, actor=operator, data=_zip({}))


def test_company_adds_one_person_with_the_same_checks_as_an_import(company):
    company, _operator = company
    client = host_client("sichuan.localhost")
    client.post("/login/", {"username": "13900009999", "password": "Jianli-2026"})
    good = person_row(31, name="欧阳·娜娜")
    bad_checksum = good["id_number"][:-1] + ("0" if good["id_number"][-1] != "0" else "1")

    refused = client.post(
        "/company/roster/", {"action": "add", **person_row(31, id_number=bad_checksum, phone="")}
    )
    added = client.post("/company/roster/", {"action": "add", **good})

    page = refused.content.decode()
    assert "「身份证号」" in page and "「手机号」" in page
    assert added.status_code == 302
    with schema_context("sichuan"):
        profile = PersonProfile.objects.get(company=company)
        assert profile.name == "欧阳·娜娜" and profile.id_number == good["id_number"]


def test_practice_certificates_are_kept_by_the_person_or_their_company_only(company, tenant_b):
    company, operator = company
    with schema_context("sichuan"):
        roster_import(
            rules=rules_current(), company=company, actor=operator, data=roster_xlsx([person_row(41)])
        )
        profile = PersonProfile.objects.get(company=company)
        outsider = Company.objects.create(name="无关单位")
        User.objects.create_user(
            "op-other", "Jianli-2026", kind=UserKind.COMPANY, company=outsider, phone="13900008888"
        )
    own = host_client("sichuan.localhost")
    own.post("/login/", {"username": "13900009999", "password": "Jianli-2026"})
    other = host_client("sichuan.localhost")
    other.post("/login/", {"username": "13900008888", "password": "Jianli-2026"})
    url = f"/people/{profile.pk}/practice-certificates/"

    added = own.post(url, {"kind": "注册土木工程师（岩土）", "number": "AY123456"})
    incomplete = own.post(url, {"kind": "注册监理工程师", "number": ""})
    foreign = other.post(url, {"kind": "伪造", "number": "X1"})
    twin = host_client("sichuanb.localhost").get(url)

    assert added.status_code == 302
    assert "请填写证书类型和证书编号" in incomplete.content.decode()
    assert foreign.status_code == 404 and twin.status_code in (302, 404)
    with schema_context("sichuan"):
        assert list(profile.practice_certificates.values_list("kind", "number")) == [
            ("注册土木工程师（岩土）", "AY123456")
        ]


def test_photo_uploads_by_the_company_are_audited_as_the_company_operators(tenant_a, settings, tmp_path):
    from membership.roster import roster_photos_import
    from shared.models import AuditEntry
    from tests.unit.test_document_checks import photo_jpeg

    settings.MEDIA_ROOT = tmp_path
    person = person_row(51, name="周杰")
    with schema_context("shanghai"):
        rules = rules_current()
        company = Company.objects.create(name="上海审计测试公司")
        operator = User.objects.create_user("op-audit", "Jianli-2026", kind=UserKind.COMPANY, company=company)
        roster_import(rules=rules, company=company, actor=operator, data=roster_xlsx([person]))

        roster_photos_import(
            rules=rules,
            company=company,
            actor=operator,
            data=_zip({f"{person['name']}-{person['id_number']}.jpg": photo_jpeg()}),
        )

        from shared.documents.models import Document

        document = Document.objects.get(owner__id_number=person["id_number"])
        entry = AuditEntry.objects.get(action="document.upload", object_id=str(document.pk))
        assert entry.actor == operator
