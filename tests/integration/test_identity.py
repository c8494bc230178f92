"""Registration and login under each association's rules; join requests; tenant isolation of accounts."""

import pytest
from django_tenants.utils import schema_context

from membership.models import JoinRequest, JoinRequestStatus
from shared.accounts.models import Company, PersonProfile, User, UserKind
from shared.sms import LocmemSmsBackend
from tests.conftest import host_client
from tests.ids import valid_id_number

pytestmark = pytest.mark.django_db

PASSWORD = "Jianli-2026"
USCC = "91350100M000100Y43"


@pytest.fixture(autouse=True)
def sms_outbox(settings):
    settings.SMS_BACKEND = "shared.sms.LocmemSmsBackend"
    LocmemSmsBackend.reset()
    return LocmemSmsBackend.outbox


def _last_code(outbox, phone: str) -> str:
    return [sms for sms in outbox if sms.phone == phone][-1].params["code"]


def _send_code(client, phone: str, purpose: str = "register"):
    return client.post("/sms/send/", {"phone": phone, "purpose": purpose})


def _register_person(client, outbox, *, name="张伟", id_number=None, phone="13812345678", code=None):
    id_number = id_number or valid_id_number("510104", "19850312", "123")
    if code is None:
        _send_code(client, phone)
        code = _last_code(outbox, phone)
    return client.post(
        "/register/",
        {
            "name": name,
            "id_number": id_number,
            "phone": phone,
            "sms_code": code,
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )


def _register_company(client, outbox, *, name="四川华建监理有限公司", uscc=USCC, phone="13900001111"):
    _send_code(client, phone)
    return client.post(
        "/register/company/",
        {
            "name": name,
            "uscc": uscc,
            "contact_name": "李经办",
            "phone": phone,
            "sms_code": _last_code(outbox, phone),
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )


def test_sichuan_person_registers_with_an_sms_code_and_logs_in_by_phone(tenant_a, sms_outbox):
    client = host_client("sichuan.localhost")

    response = _register_person(client, sms_outbox)

    assert response.status_code == 302 and response["Location"] == "/me/"
    with schema_context("sichuan"):
        user = User.objects.get(phone="13812345678")
        assert user.kind == UserKind.PERSON and user.username == "13812345678"
        assert user.profile.gender == "male" and str(user.profile.birth_date) == "1985-03-12"
    fresh = host_client("sichuan.localhost")
    assert fresh.post("/login/", {"username": "138 1234 5678", "password": PASSWORD}).status_code == 302


@pytest.mark.parametrize(
    ("changes", "field_error"),
    [
        ({"id_number": "510104198503121230"}, "校验"),
        ({"id_number": "51010419850312123"}, "18"),
        ({"phone": "1381234567", "code": "123456"}, "手机号"),
        ({"code": "000000"}, "验证码"),
    ],
)
def test_registration_refuses_bad_input_and_creates_nothing(tenant_a, sms_outbox, changes, field_error):
    client = host_client("sichuan.localhost")
    with schema_context("sichuan"):
        before = User.objects.count()

    response = _register_person(client, sms_outbox, **changes)

    assert response.status_code == 200
    assert field_error in response.content.decode()
    with schema_context("sichuan"):
        assert User.objects.count() == before
        assert not PersonProfile.objects.exists()


def test_an_sms_code_works_once(tenant_a, sms_outbox):
    client = host_client("sichuan.localhost")
    _send_code(client, "13812345678")
    code = _last_code(sms_outbox, "13812345678")
    assert _register_person(client, sms_outbox, code=code).status_code == 302

    second = _register_person(
        host_client("sichuan.localhost"),
        sms_outbox,
        code=code,
        phone="13812345678",
        id_number=valid_id_number("510104", "19900101", "456"),
    )

    assert second.status_code == 200


def test_duplicate_id_or_phone_in_one_tenant_is_refused_but_allowed_in_another(
    tenant_a, tenant_b, sms_outbox
):
    assert _register_person(host_client("sichuan.localhost"), sms_outbox).status_code == 302

    same_phone = _register_person(
        host_client("sichuan.localhost"), sms_outbox, id_number=valid_id_number("510104", "19900101", "456")
    )
    same_id = _register_person(host_client("sichuan.localhost"), sms_outbox, phone="13700000000")
    other_tenant = _register_person(host_client("sichuanb.localhost"), sms_outbox)

    assert "该手机号已注册" in same_phone.content.decode()
    assert "该身份证号已注册" in same_id.content.decode()
    assert other_tenant.status_code == 302  # each association is its own personal-information handler


def test_sms_sends_are_rate_limited_per_phone(tenant_a, sms_outbox):
    client = host_client("sichuan.localhost")

    first = _send_code(client, "13812345678")
    second = _send_code(client, "13812345678")
    bad = _send_code(client, "12345")

    assert first.json()["code"] == "sent"
    assert second.status_code == 429 and second.json()["code"] == "sms_too_soon"
    assert bad.status_code == 400
    assert len(sms_outbox) == 1


def test_company_registers_and_logs_in_by_uscc_and_a_person_joins_it(tenant_a, sms_outbox):
    company_client = host_client("sichuan.localhost")
    assert _register_company(company_client, sms_outbox).status_code == 302
    person_client = host_client("sichuan.localhost")
    _register_person(person_client, sms_outbox)

    results = person_client.get("/me/company/", {"q": "华建"}).content.decode()
    with schema_context("sichuan"):
        company = Company.objects.get(uscc=USCC)
    asked = person_client.post("/me/company/join/", {"company_id": company.pk})
    pending = company_client.get("/company/members/").content.decode()
    with schema_context("sichuan"):
        request = JoinRequest.objects.get()
    decided = company_client.post(f"/company/members/requests/{request.pk}/", {"decision": "approve"})

    assert "四川华建监理有限公司" in results and asked.status_code == 302
    assert "张伟" in pending and "510104********" in pending  # ID masked for the company
    assert decided.status_code == 302
    with schema_context("sichuan"):
        assert JoinRequest.objects.get().status == JoinRequestStatus.APPROVED
        assert PersonProfile.objects.get().company == company
    # sichuan companies log in with the registering phone; the USCC is not a login there.
    phone_login = host_client("sichuan.localhost").post(
        "/login/", {"username": "13900001111", "password": PASSWORD}
    )
    uscc_login = host_client("sichuan.localhost").post("/login/", {"username": USCC, "password": PASSWORD})
    assert phone_login.status_code == 302 and uscc_login.status_code == 200


def test_the_rules_decide_which_identifiers_log_in(tenant_a, sms_outbox):
    from shared.accounts.backends import candidate_users
    from tenant_configs.loader import load_rules_file
    from tests.conftest import CONFIGS

    _register_company(host_client("sichuan.localhost"), sms_outbox)
    _register_person(host_client("sichuan.localhost"), sms_outbox)
    shanghai = load_rules_file(CONFIGS / "shanghai.toml")
    sichuan = load_rules_file(CONFIGS / "sichuan.toml")
    id_number = valid_id_number("510104", "19850312", "123")

    with schema_context("sichuan"):
        assert [u.phone for u in candidate_users(shanghai, USCC.lower())] == ["13900001111"]
        assert [u.phone for u in candidate_users(shanghai, id_number.lower())] == ["13812345678"]
        assert candidate_users(sichuan, USCC) == []
        assert candidate_users(sichuan, id_number) == []
        assert [u.phone for u in candidate_users(sichuan, "+86 138-1234-5678")] == ["13812345678"]


def test_a_company_cannot_decide_another_companys_request(tenant_a, sms_outbox):
    first = host_client("sichuan.localhost")
    _register_company(first, sms_outbox)
    second = host_client("sichuan.localhost")
    _register_company(
        second, sms_outbox, name="另一家监理公司", uscc="91110000600037341L", phone="13900002222"
    )
    person = host_client("sichuan.localhost")
    _register_person(person, sms_outbox)
    with schema_context("sichuan"):
        company = Company.objects.get(uscc=USCC)
    person.post("/me/company/join/", {"company_id": company.pk})
    with schema_context("sichuan"):
        request = JoinRequest.objects.get()

    response = second.post(f"/company/members/requests/{request.pk}/", {"decision": "approve"})

    assert response.status_code == 404
    with schema_context("sichuan"):
        assert JoinRequest.objects.get().status == JoinRequestStatus.PENDING


def test_gansu_person_cannot_log_in_until_the_company_approves(tenant_gansu):
    from membership.services import join_request_approve, join_request_create
    from shared.accounts.identity import PersonRegistration, company_issue, person_register
    from shared.accounts.services import invitation_accept
    from tenant_configs.selectors import rules_current

    id_number = valid_id_number("620102", "19800101", "111")
    with schema_context("gansu"):
        rules = rules_current()
        staff = User.objects.get(username="admin")
        company, issued = company_issue(rules=rules, name="甘肃某监理公司", actor=staff)
        operator = invitation_accept(token=issued.token, username="gsjl", password="Lanzhou-Jianli-1")
        person = person_register(
            rules=rules,
            registration=PersonRegistration(
                name="马丽", id_number=id_number, phone="13600000001", password=PASSWORD
            ),
        )
        request = join_request_create(person=person, company=company)

    refused = host_client("gansu.localhost").post("/login/", {"username": id_number, "password": PASSWORD})
    with schema_context("gansu"):
        join_request_approve(request_id=request.pk, company=company, actor=operator)
    allowed = host_client("gansu.localhost").post("/login/", {"username": id_number, "password": PASSWORD})

    assert "需经本单位审核通过后才能登录" in refused.content.decode()
    assert allowed.status_code == 302
    assert (
        host_client("gansu.localhost")
        .post("/login/", {"username": "甘肃某监理公司", "password": "Lanzhou-Jianli-1"})
        .status_code
        == 302
    )


def test_gansu_companies_cannot_register_themselves(tenant_gansu):
    response = host_client("gansu.localhost").get("/register/company/")

    assert response.status_code == 403
    assert "由协会统一开通" in response.content.decode()


def test_login_is_locked_after_repeated_failures(tenant_a, sms_outbox):
    _register_person(host_client("sichuan.localhost"), sms_outbox)
    client = host_client("sichuan.localhost")

    for _ in range(5):
        client.post("/login/", {"username": "13812345678", "password": "wrong-password"})
    locked = client.post("/login/", {"username": "13812345678", "password": PASSWORD})

    assert locked.status_code == 429
    assert "登录失败次数过多" in locked.content.decode()


def test_an_account_of_tenant_a_does_not_exist_on_tenant_b(tenant_a, tenant_b, sms_outbox):
    _register_person(host_client("sichuan.localhost"), sms_outbox)

    response = host_client("sichuanb.localhost").post(
        "/login/", {"username": "13812345678", "password": PASSWORD}
    )

    assert response.status_code == 200  # the form again
    with schema_context("sichuanb"):
        assert not User.objects.filter(phone="13812345678").exists()


def test_password_reset_by_sms_sets_a_new_password_and_refuses_a_wrong_code(tenant_a, sms_outbox):
    _register_person(host_client("sichuan.localhost"), sms_outbox)
    client = host_client("sichuan.localhost")
    _send_code(client, "13812345678", "password_reset")
    code = _last_code(sms_outbox, "13812345678")

    wrong = client.post(
        "/password/reset/",
        {
            "phone": "13812345678",
            "sms_code": "000000" if code != "000000" else "111111",
            "password": "Xin-mima-2026",
            "password_again": "Xin-mima-2026",
        },
    )
    right = client.post(
        "/password/reset/",
        {
            "phone": "13812345678",
            "sms_code": code,
            "password": "Xin-mima-2026",
            "password_again": "Xin-mima-2026",
        },
    )

    assert wrong.status_code == 200 and "验证码" in wrong.content.decode()
    assert right.status_code == 302
    assert (
        host_client("sichuan.localhost")
        .post("/login/", {"username": "13812345678", "password": "Xin-mima-2026"})
        .status_code
        == 302
    )


def test_real_name_verification_checks_name_and_own_id(tenant_a, sms_outbox):
    client = host_client("sichuan.localhost")
    _register_person(client, sms_outbox)
    own_id = valid_id_number("510104", "19850312", "123")

    other_id = client.post(
        "/me/real-name/", {"name": "张伟", "id_number": valid_id_number("510104", "19900101", "456")}
    )
    mismatch = client.post("/me/real-name/", {"name": "不一致", "id_number": own_id})
    verified = client.post("/me/real-name/", {"name": "张伟", "id_number": own_id})

    assert "与注册时填写的不一致" in other_id.content.decode()
    assert "实名认证未通过" in mismatch.content.decode()
    assert verified.status_code == 302
    with schema_context("sichuan"):
        assert User.objects.get(phone="13812345678").real_name_verified_at is not None


def test_admin_issues_a_company_account_with_a_one_time_link(tenant_gansu):
    from tests.conftest import staff_client

    client = staff_client("gansu.localhost")

    page = client.post("/console/people/", {"action": "issue", "name": "甘肃新开监理公司"}).content.decode()

    assert "/invite/" in page
    with schema_context("gansu"):
        company = Company.objects.get(name="甘肃新开监理公司")
        assert company.status == "invited" and not company.operators.exists()
    assert staff_client("gansu.localhost", "finance").get("/console/people/").status_code == 403


def test_staff_lists_mask_ids_and_a_full_record_view_is_audited(tenant_a, sms_outbox):
    from shared.models import AuditEntry
    from tests.conftest import staff_client
    from tests.factories import StaffFactory

    _register_person(host_client("sichuan.localhost"), sms_outbox)
    with schema_context("sichuan"):
        StaffFactory(username="reviewer1", staff_roles=["reviewer"])
        profile = PersonProfile.objects.get()
    finance = staff_client("sichuan.localhost", "finance")
    reviewer = staff_client("sichuan.localhost", "reviewer1")

    listing = finance.get("/console/persons/").content.decode()
    finance_detail = finance.get(f"/console/persons/{profile.pk}/")
    reviewer_detail = reviewer.get(f"/console/persons/{profile.pk}/").content.decode()

    assert "510104********" in listing and profile.id_number not in listing
    assert finance_detail.status_code == 403
    assert profile.id_number in reviewer_detail
    with schema_context("sichuan"):
        assert (
            AuditEntry.objects.filter(
                action="person.view_full_record", object_id=str(profile.pk), actor__username="reviewer1"
            ).count()
            == 1
        )


def test_a_company_adds_a_second_operator_who_acts_for_the_same_company(tenant_a, sms_outbox):
    client = host_client("sichuan.localhost")
    _register_company(client, sms_outbox)

    client.post("/company/operators/", {"name": "第二操作员"})
    page = client.get("/company/members/").content.decode()
    import re

    link = re.search(r'id="operator-link">([^<]+)<', page)
    assert link is not None, page
    token = link.group(1).rstrip("/").rsplit("/", 1)[1]
    second = host_client("sichuan.localhost")
    second.post(
        f"/invite/{token}/",
        {
            "username": "op2",
            "name": "第二操作员",
            "password": "Second-op-2026",
            "password_again": "Second-op-2026",
        },
    )

    assert second.get("/company/members/").status_code == 200
    with schema_context("sichuan"):
        company = Company.objects.get(uscc=USCC)
        assert sorted(company.operators.values_list("username", flat=True)) == ["13900001111", "op2"]


def test_staff_correct_a_locked_field_and_the_change_is_audited(tenant_gansu):
    from shared.accounts.identity import PersonRegistration, person_register
    from shared.models import AuditEntry
    from tenant_configs.selectors import rules_current
    from tests.conftest import staff_client
    from tests.factories import StaffFactory

    with schema_context("gansu"):
        person = person_register(
            rules=rules_current(),
            registration=PersonRegistration(
                name="马丽",
                id_number=valid_id_number("620102", "19800101", "111"),
                phone="13600000009",
                password=PASSWORD,
            ),
        )
        profile = person.profile
        StaffFactory(username="gs-reviewer", staff_roles=["reviewer"])
    url = f"/console/persons/{profile.pk}/"

    by_finance = staff_client("gansu.localhost", "finance").post(url, {"name": "马莉"})
    corrected = staff_client("gansu.localhost", "gs-reviewer").post(url, {"name": "马莉"})

    assert by_finance.status_code == 403
    assert corrected.status_code == 302
    with schema_context("gansu"):
        profile.refresh_from_db()
        assert profile.name == "马莉" and User.objects.get(pk=person.pk).name == "马莉"
        entry = AuditEntry.objects.get(action="profile.staff_update")
        assert entry.actor.username == "gs-reviewer" and entry.data["changes"] == {"name": ["马丽", "马莉"]}
