"""The person's profile form under the rules' locks, and the invoice titles and mailing addresses of
persons and company operators (模板管理), on the associations' own hosts."""

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from shared.accounts.identity import (
    CompanyRegistration,
    PersonRegistration,
    company_register,
    person_register,
)
from shared.accounts.models import InvoiceTitle, MailingAddress, PersonProfile, User
from shared.models import AuditEntry
from shared.sms import LocmemSmsBackend, sms_code_send
from shared.validation import uscc_check_character
from tenant_configs.selectors import rules_current
from tests.conftest import CONFIGS, host_client
from tests.ids import valid_id_number

pytestmark = pytest.mark.django_db

PASSWORD = "Jianli-2026"
SICHUAN = "sichuan.localhost"
SICHUANB = "sichuanb.localhost"
ZHANG_ID = valid_id_number("510104", "19850312", "123")
LI_ID = valid_id_number("510104", "19900101", "456")


@pytest.fixture(autouse=True)
def sms_outbox(settings):
    settings.SMS_BACKEND = "shared.sms.LocmemSmsBackend"
    LocmemSmsBackend.reset()
    return LocmemSmsBackend.outbox


def _register_code(phone: str) -> str:
    sms_code_send(phone=phone, purpose="register")
    return [sms for sms in LocmemSmsBackend.outbox if sms.phone == phone][-1].params["code"]


def _person(schema: str, *, phone="13812345678", name="张伟", id_number=ZHANG_ID) -> User:
    """A person registered through the identity service (SMS code and all)."""
    with schema_context(schema):
        return person_register(
            rules=rules_current(),
            registration=PersonRegistration(
                name=name, id_number=id_number, phone=phone, password=PASSWORD, sms_code=_register_code(phone)
            ),
        )


def _company_operator(schema: str, *, name="四川华建监理有限公司", phone="13900001111") -> User:
    body = "91510100MA6C" + "00001"
    with schema_context(schema):
        return company_register(
            rules=rules_current(),
            registration=CompanyRegistration(
                name=name,
                uscc=body + uscc_check_character(body),
                contact_name="李经办",
                phone=phone,
                password=PASSWORD,
                sms_code=_register_code(phone),
            ),
        )


def _logged_in(hostname: str, username: str):
    client = host_client(hostname)
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return client


def _publish_sichuan_rules_with_locks(django_capture_on_commit_callbacks) -> None:
    """Sichuan's rules, but the ID number locked on submission and name and gender on the first
    enrolment, published through the real path (rolled back with the test)."""
    from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data
    from tenant_configs.services import rules_publish

    data = rules_to_data(load_rules_file(CONFIGS / "sichuan.toml"))
    data["identity"]["locked_on_submit"] = ["id_number"]
    data["identity"]["locked_on_enrolment"] = ["name", "gender"]
    with schema_context("sichuan"), django_capture_on_commit_callbacks(execute=True):
        rules_publish(rules=load_rules_data(data, source="sichuan.toml with locks"), actor=None)


def _profile(schema: str, user: User) -> PersonProfile:
    with schema_context(schema):
        return PersonProfile.objects.get(user=user)


# --- profile ------------------------------------------------------------------------------------


def test_the_form_shows_the_fields_the_rules_show_and_saves_the_allowed_ones(tenant_a, tenant_b):
    person = _person("sichuan")
    twin = _person("sichuanb")  # the look-alike twin, untouched by anything below
    client = _logged_in(SICHUAN, "13812345678")

    page = client.get("/me/profile/edit/").content.decode()

    for name in ("name", "gender", "id_number", "email", "address", "company_name", "education"):
        assert f'name="{name}"' in page
    assert 'name="phone"' not in page and 'name="photo"' not in page
    assert "手机号不能在此修改" in page

    response = client.post(
        "/me/profile/edit/",
        {
            "name": "张伟",
            "gender": "male",
            "id_number": ZHANG_ID,
            "email": " zhang.wei@example.com ",
            "address": "成都市武侯区人民南路四段 1 号",
            "company_name": "四川华建监理有限公司",
            "education": "本科",
            "professional_title": "工程师",
            "phone": "13700000000",  # not a field of this page: ignored
        },
    )

    assert response.status_code == 302 and response["Location"] == "/me/profile/edit/"
    profile = _profile("sichuan", person)
    assert (profile.email, profile.address, profile.company_name, profile.education) == (
        "zhang.wei@example.com",
        "成都市武侯区人民南路四段 1 号",
        "四川华建监理有限公司",
        "本科",
    )
    assert profile.professional_title == "工程师" and profile.phone == "13812345678"
    with schema_context("sichuan"):
        entry = AuditEntry.objects.filter(actor=person, action="profile.update").get()
        assert entry.data == {
            "fields": ["address", "company_name", "education", "email", "professional_title"]
        }
    twins_profile = _profile("sichuanb", twin)
    assert (twins_profile.email, twins_profile.education) == ("", "")


def test_a_service_refusal_is_shown_next_to_its_field_and_nothing_changes(tenant_a):
    person = _person("sichuan")
    client = _logged_in(SICHUAN, "13812345678")

    response = client.post(
        "/me/profile/edit/", {"name": "张伟", "email": "not-an-email", "education": "硕士"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {"email": ["电子邮箱格式不正确"]}
    assert 'id="id_email_error"><li>电子邮箱格式不正确</li>' in response.content.decode()
    profile = _profile("sichuan", person)
    assert (profile.email, profile.education) == ("", "")


def test_locked_fields_are_read_only_and_a_forged_change_is_refused(
    tenant_a, django_capture_on_commit_callbacks
):
    _publish_sichuan_rules_with_locks(django_capture_on_commit_callbacks)
    person = _person("sichuan")
    with schema_context("sichuan"):
        PersonProfile.objects.filter(user=person).update(first_enrolled_at=timezone.now())
    client = _logged_in(SICHUAN, "13812345678")

    page = client.get("/me/profile/edit/").content.decode()

    assert 'name="name"' not in page and 'name="gender"' not in page and 'name="id_number"' not in page
    assert (
        'id="locked-name">张伟 <span class="lock-note" style="color:var(--bad)">*已报名，信息不能修改' in page
    )
    assert (
        'id="locked-gender">男 <span class="lock-note" style="color:var(--bad)">*已报名，信息不能修改' in page
    )
    assert (
        f'id="locked-id_number">{ZHANG_ID} <span class="lock-note" style="color:var(--bad)">*已提交' in page
    )
    assert 'name="email"' in page

    response = client.post(
        "/me/profile/edit/", {"name": "李四", "id_number": LI_ID, "email": "li.si@example.com"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "name": ["已报名，信息不能修改"],
        "id_number": ["已提交，信息不能修改"],
    }
    assert 'id="id_name_error"><li>已报名，信息不能修改</li>' in response.content.decode()
    profile = _profile("sichuan", person)
    assert (profile.name, profile.id_number, profile.email) == ("张伟", ZHANG_ID, "")
    with schema_context("sichuan"):
        assert User.objects.get(pk=person.pk).name == "张伟"
        assert not AuditEntry.objects.filter(actor=person, action="profile.update").exists()

    # The unlocked field alone is saved.
    assert client.post("/me/profile/edit/", {"email": "li.si@example.com"}).status_code == 302
    assert _profile("sichuan", person).email == "li.si@example.com"


def test_the_profile_page_is_for_persons(tenant_a):
    _company_operator("sichuan")

    anonymous = host_client(SICHUAN).get("/me/profile/edit/")
    company = _logged_in(SICHUAN, "13900001111").get("/me/profile/edit/")

    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert company.status_code == 403


# --- invoice titles -----------------------------------------------------------------------------


def test_a_person_creates_edits_and_deletes_an_invoice_title(tenant_a):
    person = _person("sichuan")
    client = _logged_in(SICHUAN, "13812345678")
    assert "<h1>发票抬头</h1>" in client.get("/me/invoice-titles/").content.decode()

    created = client.post(
        "/me/invoice-titles/",
        {
            "title": "四川华建监理有限公司",
            "tax_number": "91510100ma6c00001x",
            "address_phone": "成都市武侯区人民南路四段 1 号 028-87354706",
            "email": "fapiao@example.com",
            "is_default": "on",
        },
    )

    assert created.status_code == 302 and created["Location"] == "/me/invoice-titles/"
    with schema_context("sichuan"):
        title = InvoiceTitle.objects.get()
        assert (title.owner_id, title.company_id, title.title, title.tax_number, title.is_default) == (
            person.pk,
            None,
            "四川华建监理有限公司",
            "91510100MA6C00001X",
            True,
        )
    listed = client.get("/me/invoice-titles/").content.decode()
    assert '<tr class="invoice-title">' in listed and "91510100MA6C00001X" in listed

    edit_page = client.get(f"/me/invoice-titles/{title.pk}/edit/").content.decode()
    assert 'value="四川华建监理有限公司"' in edit_page
    edited = client.post(
        f"/me/invoice-titles/{title.pk}/edit/",
        {"title": "四川华建监理有限公司成都分公司", "tax_number": "91510100MA6C00001X"},
    )

    assert edited.status_code == 302
    with schema_context("sichuan"):
        title.refresh_from_db()
        assert (title.title, title.address_phone, title.email, title.is_default) == (
            "四川华建监理有限公司成都分公司",
            "",
            "",
            False,
        )

    deleted = client.post(f"/me/invoice-titles/{title.pk}/delete/")

    assert deleted.status_code == 302
    with schema_context("sichuan"):
        assert not InvoiceTitle.objects.exists()
        assert list(
            AuditEntry.objects.filter(actor=person, action__startswith="invoice_title.")
            .order_by("id")
            .values_list("action", flat=True)
        ) == ["invoice_title.create", "invoice_title.update", "invoice_title.delete"]


def test_an_invalid_invoice_title_is_refused_next_to_the_field(tenant_a):
    _person("sichuan")
    client = _logged_in(SICHUAN, "13812345678")

    response = client.post("/me/invoice-titles/", {"title": "四川华建", "tax_number": "12345"})

    assert response.status_code == 200
    assert response.context["form"].errors == {"tax_number": ["税号为 15 至 20 位数字或大写字母"]}
    assert 'id="id_tax_number_error"><li>税号为' in response.content.decode()
    with schema_context("sichuan"):
        assert not InvoiceTitle.objects.exists()


def test_another_persons_invoice_title_is_404_and_stays_as_it_was(tenant_a):
    owner = _person("sichuan")
    _person("sichuan", phone="13700000000", name="李四", id_number=LI_ID)
    with schema_context("sichuan"):
        title = InvoiceTitle.objects.create(owner=owner, title="张伟个人")
    other = _logged_in(SICHUAN, "13700000000")

    assert other.get(f"/me/invoice-titles/{title.pk}/edit/").status_code == 404
    assert other.post(f"/me/invoice-titles/{title.pk}/edit/", {"title": "改掉"}).status_code == 404
    assert other.post(f"/me/invoice-titles/{title.pk}/delete/").status_code == 404
    assert "张伟个人" not in other.get("/me/invoice-titles/").content.decode()
    with schema_context("sichuan"):
        assert InvoiceTitle.objects.get(pk=title.pk).title == "张伟个人"


def test_delete_is_post_only(tenant_a):
    owner = _person("sichuan")
    with schema_context("sichuan"):
        title = InvoiceTitle.objects.create(owner=owner, title="张伟个人")
    client = _logged_in(SICHUAN, "13812345678")

    assert client.get(f"/me/invoice-titles/{title.pk}/delete/").status_code == 405
    with schema_context("sichuan"):
        assert InvoiceTitle.objects.filter(pk=title.pk).exists()


# --- company operators --------------------------------------------------------------------------


def test_a_company_operator_manages_its_companys_addresses(tenant_a):
    operator = _company_operator("sichuan")
    person = _person("sichuan")
    with schema_context("sichuan"):
        persons_address = MailingAddress.objects.create(
            owner=person,
            recipient="张伟",
            phone="13812345678",
            province_city="四川省成都市",
            street="人民南路",
        )
    client = _logged_in(SICHUAN, "13900001111")
    assert "<h1>企业物流信息管理</h1>" in client.get("/me/addresses/").content.decode()
    assert "<h1>企业发票管理</h1>" in client.get("/me/invoice-titles/").content.decode()

    created = client.post(
        "/me/addresses/",
        {
            "recipient": "李经办",
            "phone": "028-87354706",
            "province_city": "四川省成都市武侯区",
            "street": "人民南路四段 1 号",
            "postcode": "610041",
        },
    )

    assert created.status_code == 302 and created["Location"] == "/me/addresses/"
    with schema_context("sichuan"):
        address = MailingAddress.objects.get(company__isnull=False)
        assert (address.company_id, address.owner_id, address.recipient, address.postcode) == (
            operator.company_id,
            None,
            "李经办",
            "610041",
        )
    listed = client.get("/me/addresses/").content.decode()
    assert "人民南路四段 1 号" in listed and "四川省成都市</td>" not in listed

    edited = client.post(
        f"/me/addresses/{address.pk}/edit/",
        {
            "recipient": "王收件",
            "phone": "028-87354706",
            "province_city": "四川省成都市武侯区",
            "street": "二号路",
        },
    )
    refused = client.post(
        f"/me/addresses/{address.pk}/edit/",
        {"recipient": "王收件", "phone": "abc", "province_city": "四川省成都市武侯区", "street": "三号路"},
    )

    assert edited.status_code == 302
    assert refused.status_code == 200
    assert refused.context["form"].errors == {"phone": ["联系电话格式不正确"]}
    with schema_context("sichuan"):
        address.refresh_from_db()
        assert (address.recipient, address.street, address.postcode) == ("王收件", "二号路", "")

    assert client.get(f"/me/addresses/{persons_address.pk}/edit/").status_code == 404
    assert client.post(f"/me/addresses/{persons_address.pk}/delete/").status_code == 404
    assert client.post(f"/me/addresses/{address.pk}/delete/").status_code == 302
    with schema_context("sichuan"):
        assert list(MailingAddress.objects.values_list("pk", flat=True)) == [persons_address.pk]


def test_the_company_rows_are_shared_by_its_operators_and_hidden_from_its_people(tenant_a):
    operator = _company_operator("sichuan")
    _person("sichuan")
    with schema_context("sichuan"):
        title = InvoiceTitle.objects.create(company_id=operator.company_id, title="四川华建监理有限公司")
        User.objects.create_user(
            "13900002222",
            PASSWORD,
            name="第二经办",
            phone="13900002222",
            kind="company",
            company=operator.company,
        )

    second_operator = _logged_in(SICHUAN, "13900002222")
    person = _logged_in(SICHUAN, "13812345678")

    assert second_operator.get(f"/me/invoice-titles/{title.pk}/edit/").status_code == 200
    assert person.get(f"/me/invoice-titles/{title.pk}/edit/").status_code == 404


# --- the look-alike association -----------------------------------------------------------------


def test_the_look_alike_host_sees_none_of_tenant_a_rows(tenant_a, tenant_b):
    owner = _person("sichuan")
    _person("sichuanb")  # same phone and ID number: the same login on the twin host
    with schema_context("sichuan"):
        title = InvoiceTitle.objects.create(owner=owner, title="只属于四川")
        address = MailingAddress.objects.create(
            owner=owner,
            recipient="张伟",
            phone="13812345678",
            province_city="四川省成都市",
            street="只属于四川路",
        )
    twin = _logged_in(SICHUANB, "13812345678")

    assert "只属于四川" not in twin.get("/me/invoice-titles/").content.decode()
    assert "只属于四川路" not in twin.get("/me/addresses/").content.decode()
    assert twin.get(f"/me/invoice-titles/{title.pk}/edit/").status_code == 404
    assert twin.post(f"/me/invoice-titles/{title.pk}/delete/").status_code == 404
    assert twin.get(f"/me/addresses/{address.pk}/edit/").status_code == 404
    assert twin.post(f"/me/addresses/{address.pk}/delete/").status_code == 404
    with schema_context("sichuan"):
        assert InvoiceTitle.objects.filter(pk=title.pk).exists()
        assert MailingAddress.objects.filter(pk=address.pk).exists()
