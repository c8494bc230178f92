"""shanghai (DESIGN §4): the company logs in with its USCC, imports its people from Excel and uploads
their photos as a zip; a bad file is refused with row-level reasons and nothing imported."""

import io
import random
import zipfile

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from tests.ids import valid_id_number
from tests.integration.test_roster import person_row, roster_xlsx
from tests.unit.test_document_checks import photo_jpeg

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "Jianli-2026"


def test_shanghai_company_imports_people_and_their_photos(page, live_url, settings, tmp_path):
    from shared.accounts.identity import CompanyRegistration, company_register
    from shared.accounts.models import Company, PersonProfile, User
    from shared.documents.models import Document
    from shared.validation import uscc_check_character
    from tenant_configs.selectors import rules_current

    settings.MEDIA_ROOT = tmp_path
    settings.MULTITENANT_RELATIVE_MEDIA_ROOT = "%s"
    body = f"913100{random.randint(0, 10**11 - 1):011d}"
    uscc = body + uscc_check_character(body)
    phone = f"139{random.randint(0, 10**8 - 1):08d}"
    company_name = f"上海浏览器勘察{random.randint(1000, 9999)}有限公司"
    serial = random.randint(100, 899)
    people = [
        person_row(
            1,
            name="李雷",
            id_number=valid_id_number("310101", "19900101", f"{serial:03d}"),
            phone=f"135{random.randint(0, 10**8 - 1):08d}",
        ),
        person_row(
            2,
            name="韩梅梅",
            id_number=valid_id_number("310101", "19910202", f"{serial + 1:03d}"),
            phone=f"135{random.randint(0, 10**8 - 1):08d}",
        ),
    ]
    for person in people:
        person["gender"] = ""  # derived from the ID number
        person["birth_date"] = ""
    connection.set_schema_to_public()
    with schema_context("shanghai"):
        rules = rules_current()
        rules = rules.model_copy(
            update={"identity": rules.identity.model_copy(update={"registration_requires_sms": False})}
        )
        company_register(
            rules=rules,
            registration=CompanyRegistration(
                name=company_name, uscc=uscc, contact_name="王经办", phone=phone, password=PASSWORD
            ),
        )
    try:
        page.goto(live_url("shanghai.localhost", "/login/"))
        page.fill("#id_username", uscc.lower())
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_contain_text("成员管理")
        page.click("text=单位人员管理")

        bad = [dict(people[0]), dict(people[1], phone="12")]
        page.set_input_files(
            "#id_file",
            files=[{"name": "学员.xlsx", "mimeType": "application/octet-stream", "buffer": roster_xlsx(bad)}],
        )
        page.click("button:has-text('导入')")
        expect(page.locator("#import-errors")).to_contain_text("手机号")
        with schema_context("shanghai"):
            assert not PersonProfile.objects.filter(company__name=company_name).exists()

        page.set_input_files(
            "#id_file",
            files=[
                {"name": "学员.xlsx", "mimeType": "application/octet-stream", "buffer": roster_xlsx(people)}
            ],
        )
        page.click("button:has-text('导入')")
        expect(page.locator("#import-success")).to_have_text("已导入 2 人。")

        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as photos:
            photos.writestr(f"{people[0]['name']}-{people[0]['id_number']}.jpg", photo_jpeg())
            photos.writestr(f"{people[1]['name']}-{people[1]['id_number']}.jpg", photo_jpeg(size=(300, 400)))
        page.set_input_files(
            "#id_zip",
            files=[{"name": "照片.zip", "mimeType": "application/zip", "buffer": archive.getvalue()}],
        )
        page.click("button:has-text('上传照片')")
        expect(page.locator("#photo-summary")).to_have_text("成功 1 张，共 2 个文件。")
        expect(page.locator("#photo-results")).to_contain_text("295×413")
        with schema_context("shanghai"):
            assert Document.objects.filter(owner__id_number=people[0]["id_number"]).count() == 1
    finally:
        connection.set_schema_to_public()
        with schema_context("shanghai"):
            ids = [person["id_number"] for person in people]
            Document.objects.filter(owner__id_number__in=ids).delete()
            PersonProfile.objects.filter(id_number__in=ids).delete()
            User.objects.filter(id_number__in=ids).delete()
            for company in Company.objects.filter(name=company_name):
                company.operators.all().delete()
                company.delete()
