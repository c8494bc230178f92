"""Private documents: upload into the tenant's private storage, review (accept / return → re-upload),
and who may open a file — owner, reviewing staff, the person's company — with 404 for everyone else.

Files go to pytest's `tmp_path` (MEDIA_ROOT); each association's under its own schema folder.
"""

from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from membership.services import join_request_approve, join_request_create
from shared.accounts.identity import (
    CompanyRegistration,
    PersonRegistration,
    company_register,
    person_register,
)
from shared.accounts.models import StaffRole, User, UserKind
from shared.accounts.services import user_create
from shared.documents.checks import UploadProblem
from shared.documents.models import Document, DocumentStatus
from shared.documents.selectors import current_document, document_get_for_viewer
from shared.documents.services import DocumentError, document_accept, document_return, document_upload
from shared.models import AuditEntry
from shared.sms import LocmemSmsBackend, sms_code_send
from shared.validation import uscc_check_character
from tenant_configs.selectors import rules_current
from tenant_configs.services import rules_publish
from tests.conftest import PASSWORD, host_client, staff_client
from tests.ids import valid_id_number
from tests.unit.test_document_checks import encode, minimal_pdf, photo_jpeg, photo_spec, portrait

pytestmark = pytest.mark.django_db

HOST_A = "sichuan.localhost"
HOST_B = "sichuanb.localhost"
ID_ZHANG = valid_id_number("510104", "19850312", "123")
ID_LI = valid_id_number("510104", "19900101", "456")
ID_WANG = valid_id_number("510105", "19920202", "789")
OTHER_USCC = "91510100MA6123456" + uscc_check_character("91510100MA6123456")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    # django-tenants' storage caches MEDIA_ROOT joined with this setting and only forgets it when this
    # setting changes, so it is "changed" (to its own value) after MEDIA_ROOT.
    settings.MULTITENANT_RELATIVE_MEDIA_ROOT = "%s"
    return tmp_path


@pytest.fixture(autouse=True)
def sms_outbox(settings):
    settings.SMS_BACKEND = "shared.sms.LocmemSmsBackend"
    LocmemSmsBackend.reset()
    return LocmemSmsBackend.outbox


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def register_person(*, name: str, id_number: str, phone: str) -> User:
    """Register through the identity service; call inside the tenant's schema_context."""
    sms_code_send(phone=phone, purpose="register")
    code = [sms for sms in LocmemSmsBackend.outbox if sms.phone == phone][-1].params["code"]
    return person_register(
        rules=rules_current(),
        registration=PersonRegistration(
            name=name, id_number=id_number, phone=phone, password=PASSWORD, sms_code=code
        ),
    )


def register_company(*, name: str, uscc: str, phone: str) -> User:
    """A self-registered company and its first operator; call inside the tenant's schema_context."""
    sms_code_send(phone=phone, purpose="register")
    code = [sms for sms in LocmemSmsBackend.outbox if sms.phone == phone][-1].params["code"]
    return company_register(
        rules=rules_current(),
        registration=CompanyRegistration(
            name=name, uscc=uscc, contact_name="李经办", phone=phone, password=PASSWORD, sms_code=code
        ),
    )


def join(person: User, operator: User) -> None:
    request = join_request_create(person=person, company=operator.company)
    join_request_approve(request_id=request.pk, company=operator.company, actor=operator)


def upload_photo(owner: User, data: bytes | None = None, *, review_required: bool = True) -> Document:
    return document_upload(
        owner=owner,
        key="photo",
        spec=photo_spec(),
        data=data if data is not None else photo_jpeg(),
        filename="张伟证件照.jpg",
        review_required=review_required,
    )


def reviewer(username: str = "reviewer1") -> User:
    return user_create(
        username=username,
        password=PASSWORD,
        kind=UserKind.STAFF,
        name="审核员",
        staff_roles=[StaffRole.REVIEWER],
    )


def person_client(hostname: str, username: str):
    client = host_client(hostname)
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return client


def body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def photo_rules(tenant_a):
    """sichuan with a staff-reviewed 1-inch photo (its own rules file asks for none)."""
    with schema_context("sichuan"):
        rules = rules_current()
        identity = rules.identity.model_copy(
            update={"profile_photo": photo_spec(), "photo_review_by_staff": True}
        )
        rules_publish(rules=rules.model_copy(update={"identity": identity}), actor=None)
    cache.clear()  # the publish forgets the cached version on commit, which a test never reaches
    return rules


# ---------------------------------------------------------------------------------------------------------
# upload service
# ---------------------------------------------------------------------------------------------------------


def test_an_upload_is_stored_privately_under_the_tenant_schema_with_a_generated_name(tenant_a, media_root):
    data = photo_jpeg()
    with schema_context("sichuan"):
        person = register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")

        document = upload_photo(person, data)

        document.refresh_from_db()
        stored = media_root / "sichuan" / document.file.name
        assert document.file.name.startswith("documents/photo/") and document.file.name.endswith(".jpg")
        assert len(Path(document.file.name).stem) == 32  # a uuid, never the uploader's file name
        assert stored_files(media_root) == [stored]
        assert stored.read_bytes() == data
        assert (document.owner, document.company, document.key) == (person, None, "photo")
        assert (document.original_name, document.content_type) == ("张伟证件照.jpg", "image/jpeg")
        assert (document.width, document.height, document.size_bytes) == (295, 413, len(data))
        assert document.status == DocumentStatus.UPLOADED and document.get_status_display() == "待确认"
        entry = AuditEntry.objects.get(action="document.upload")
        assert entry.actor == person and entry.object_id == str(document.pk)
        assert entry.data["sha256"] == document.sha256 and entry.data["supersedes"] is None


@pytest.mark.parametrize(
    ("review_required", "status"), [(True, DocumentStatus.UPLOADED), (False, DocumentStatus.ACCEPTED)]
)
def test_the_new_document_waits_for_staff_only_when_review_is_required(tenant_a, review_required, status):
    with schema_context("sichuan"):
        person = register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")

        document = upload_photo(person, review_required=review_required)

        assert Document.objects.get(pk=document.pk).status == status
        assert document.reviewed_by is None


@pytest.mark.parametrize(
    ("data", "filename", "code", "message"),
    [
        (
            photo_jpeg((300, 400)),
            "a.jpg",
            "pixel_size_not_allowed",
            "图片尺寸应为 295×413 像素，上传的是 300×400",
        ),
        (
            encode(portrait(), "PNG"),
            "renamed.jpg",
            "format_not_allowed",
            "文件内容是 PNG 图片，只允许上传 JPG 文件",
        ),
        (photo_jpeg() + b"\0" * (151 * 1024), "a.jpg", "file_too_large", "超过上限 150 KB"),
    ],
    ids=["wrong-size", "png-renamed-jpg", "too-large"],
)
def test_a_refused_upload_stores_nothing_and_keeps_the_current_document(
    tenant_a, media_root, data, filename, code, message
):
    with schema_context("sichuan"):
        person = register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")
        current = upload_photo(person)
        files_before = stored_files(media_root)
        audit_before = AuditEntry.objects.count()

        with pytest.raises(UploadProblem) as caught:
            document_upload(
                owner=person,
                key="photo",
                spec=photo_spec(),
                data=data,
                filename=filename,
                review_required=True,
            )

        assert caught.value.code == code and message in caught.value.message
        assert list(Document.objects.values_list("pk", flat=True)) == [current.pk]
        assert current_document(owner=person, key="photo") == current
        assert stored_files(media_root) == files_before
        assert AuditEntry.objects.count() == audit_before


def test_returned_with_a_reason_then_a_re_upload_supersedes_it(tenant_a):
    with schema_context("sichuan"):
        person = register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")
        staff = reviewer()
        first = upload_photo(person)

        returned = document_return(document_id=first.pk, actor=staff, reason=" 背景不是白色 ")
        second = upload_photo(person)

        first.refresh_from_db()
        assert (returned.status, returned.return_reason, returned.reviewed_by) == (
            DocumentStatus.RETURNED,
            "背景不是白色",
            staff,
        )
        assert first.superseded_by == second and first.superseded_at is not None
        assert second.status == DocumentStatus.UPLOADED and second.superseded_by is None
        assert current_document(owner=person, key="photo") == second
        assert AuditEntry.objects.get(action="document.return").data["reason"] == "背景不是白色"
        assert AuditEntry.objects.filter(action="document.upload").latest("id").data["supersedes"] == first.pk
        with pytest.raises(DocumentError) as caught:
            document_accept(document_id=first.pk, actor=staff)
        assert caught.value.code == "document_superseded"


def test_a_return_needs_a_reason_and_changes_nothing_without_one(tenant_a):
    with schema_context("sichuan"):
        person = register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")
        document = upload_photo(person)

        with pytest.raises(DocumentError) as caught:
            document_return(document_id=document.pk, actor=reviewer(), reason="  ")

        assert caught.value.code == "reason_required" and caught.value.message == "请填写退回原因"
        assert Document.objects.get(pk=document.pk).status == DocumentStatus.UPLOADED
        assert not AuditEntry.objects.filter(action="document.return").exists()


def test_accepting_twice_is_a_no_op_and_a_returned_document_cannot_be_accepted(tenant_a):
    with schema_context("sichuan"):
        person = register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")
        staff = reviewer()
        document = upload_photo(person)

        first = document_accept(document_id=document.pk, actor=staff)
        second = document_accept(document_id=document.pk, actor=staff)

        assert first.status == second.status == DocumentStatus.ACCEPTED
        assert second.reviewed_at == first.reviewed_at and second.reviewed_by == staff
        assert AuditEntry.objects.filter(action="document.accept").count() == 1
        # Staff may revoke an acceptance with a reason; the person then uploads again.
        revoked = document_return(document_id=document.pk, actor=staff, reason="照片模糊")
        assert revoked.status == DocumentStatus.RETURNED
        with pytest.raises(DocumentError) as caught:
            document_accept(document_id=document.pk, actor=staff)
        assert caught.value.code == "invalid_transition"
        assert Document.objects.get(pk=document.pk).status == DocumentStatus.RETURNED


# ---------------------------------------------------------------------------------------------------------
# who may open a file
# ---------------------------------------------------------------------------------------------------------


def test_the_owner_downloads_the_file_inline_and_privately(tenant_a):
    data = photo_jpeg()
    with schema_context("sichuan"):
        person = register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")
        document = upload_photo(person, data)
    client = person_client(HOST_A, "13812345678")

    response = client.get(f"/documents/{document.pk}/file")

    assert response.status_code == 200 and body(response) == data
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"] == f'inline; filename="photo-{document.pk}.jpg"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-store"
    with schema_context("sichuan"):
        assert not AuditEntry.objects.filter(action="document.view").exists()  # one's own file is not logged


def test_another_person_and_anonymous_visitors_cannot_open_the_file(tenant_a):
    with schema_context("sichuan"):
        owner = register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")
        register_person(name="李娜", id_number=ID_LI, phone="13812345679")
        document = upload_photo(owner)

    other = person_client(HOST_A, "13812345679")

    assert other.get(f"/documents/{document.pk}/file").status_code == 404
    assert other.get(f"/documents/{document.pk + 1000}/file").status_code == 404  # same answer as no such id
    anonymous = host_client(HOST_A).get(f"/documents/{document.pk}/file")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")


def test_a_reviewer_opens_a_persons_file_and_the_view_is_audit_logged(tenant_a):
    data = photo_jpeg()
    with schema_context("sichuan"):
        person = register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")
        document = upload_photo(person, data)
        staff = reviewer()

    response = staff_client(HOST_A, "reviewer1").get(f"/documents/{document.pk}/file")

    assert response.status_code == 200 and body(response) == data
    with schema_context("sichuan"):
        entry = AuditEntry.objects.get(action="document.view")
        assert entry.actor == staff and entry.object_id == str(document.pk)
        assert entry.data == {"key": "photo", "owner": person.pk}
    # Staff without the reviewer or admin role (finance) are answered as if there were no such file.
    assert staff_client(HOST_A, "finance").get(f"/documents/{document.pk}/file").status_code == 404


def test_staff_of_the_look_alike_tenant_cannot_reach_a_document_by_its_id(tenant_a, tenant_b, media_root):
    data_a = photo_jpeg()
    data_b = photo_jpeg(background=(250, 250, 250))
    with schema_context("sichuan"):
        person_a = register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")
        document_a = upload_photo(person_a, data_a)
    with schema_context("sichuanb"):
        assert not Document.objects.exists()
    admin_b = staff_client(HOST_B, "admin")

    response = admin_b.get(f"/documents/{document_a.pk}/file")

    assert response.status_code == 404  # the id does not exist in sichuanb's schema
    with schema_context("sichuanb"):
        person_b = register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")  # look-alike
        document_b = upload_photo(person_b, data_b)
    assert body(admin_b.get(f"/documents/{document_b.pk}/file")) == data_b
    assert (media_root / "sichuan" / document_a.file.name).read_bytes() == data_a
    assert (media_root / "sichuanb" / document_b.file.name).read_bytes() == data_b
    with schema_context("sichuan"):
        assert not AuditEntry.objects.filter(action="document.view").exists()


def test_a_company_operator_sees_only_its_own_peoples_documents(tenant_a):
    with schema_context("sichuan"):
        licence_spec = rules_current().identity.company_documents[0]
        operator = register_company(
            name="四川华建监理有限公司", uscc="91350100M000100Y43", phone="13900001111"
        )
        other_operator = register_company(name="成都另一监理有限公司", uscc=OTHER_USCC, phone="13900002222")
        employee = register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")
        stranger = register_person(name="李娜", id_number=ID_LI, phone="13812345679")
        other_employee = register_person(name="王芳", id_number=ID_WANG, phone="13812345670")
        join(employee, operator)
        join(other_employee, other_operator)
        employee_photo = upload_photo(employee)
        stranger_photo = upload_photo(stranger)
        other_photo = upload_photo(other_employee)
        licence = document_upload(
            owner=operator,
            company=operator.company,
            key=licence_spec.key,
            spec=licence_spec,
            data=minimal_pdf(),
            filename="营业执照.pdf",
            review_required=True,
        )
        assert licence.content_type == "application/pdf" and licence.file.name.endswith(".pdf")
        visible = {document.pk for document in Document.objects.all() if _visible(document.pk, operator)}
        assert visible == {employee_photo.pk, licence.pk}
        other_visible = {
            document.pk for document in Document.objects.all() if _visible(document.pk, other_operator)
        }
        assert other_visible == {other_photo.pk}

    client = person_client(HOST_A, "13900001111")
    assert client.get(f"/documents/{employee_photo.pk}/file").status_code == 200
    assert client.get(f"/documents/{licence.pk}/file")["Content-Type"] == "application/pdf"
    assert client.get(f"/documents/{stranger_photo.pk}/file").status_code == 404
    assert client.get(f"/documents/{other_photo.pk}/file").status_code == 404
    with schema_context("sichuan"):
        entry = AuditEntry.objects.get(action="document.view")
        assert entry.actor == operator and entry.object_id == str(employee_photo.pk)


def _visible(document_id: int, viewer: User) -> bool:
    try:
        document_get_for_viewer(document_id=document_id, viewer=viewer)
    except Document.DoesNotExist:
        return False
    return True


# ---------------------------------------------------------------------------------------------------------
# the person's photo page and the staff queue
# ---------------------------------------------------------------------------------------------------------


def test_the_photo_page_shows_the_spec_and_takes_an_upload(tenant_a, photo_rules, media_root):
    with schema_context("sichuan"):
        register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")
    client = person_client(HOST_A, "13812345678")

    page = client.get("/documents/photo/").content.decode()
    response = client.post("/documents/photo/", {"file": _upload("我的照片.jpg", photo_jpeg())})

    assert "295×413 像素" in page and "不超过 150 KB" in page and "须为白色背景" in page
    assert "尚未上传照片" in page
    assert response.status_code == 302 and response["Location"] == "/documents/photo/"
    after = client.get("/documents/photo/").content.decode()
    assert "待确认" in after and "照片已上传，等待协会确认。" in after
    with schema_context("sichuan"):
        document = Document.objects.get()
        assert document.original_name == "我的照片.jpg" and document.status == DocumentStatus.UPLOADED
    assert len(stored_files(media_root / "sichuan")) == 1


def test_the_photo_page_shows_the_checks_message_and_stores_nothing(tenant_a, photo_rules, media_root):
    with schema_context("sichuan"):
        register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")
    client = person_client(HOST_A, "13812345678")

    wrong_size = client.post("/documents/photo/", {"file": _upload("a.jpg", photo_jpeg((300, 400)))})
    renamed_png = client.post("/documents/photo/", {"file": _upload("a.jpg", encode(portrait(), "PNG"))})
    large = photo_jpeg() + b"\0" * 160_000
    too_large = client.post("/documents/photo/", {"file": _upload("a.jpg", large)})
    oversized_request = client.post(
        "/documents/photo/", {"file": _upload("a.jpg", photo_jpeg())}, CONTENT_LENGTH=str(21 * 1024 * 1024)
    )

    assert wrong_size.status_code == 400
    assert "图片尺寸应为 295×413 像素，上传的是 300×400" in wrong_size.content.decode()
    assert "文件内容是 PNG 图片，只允许上传 JPG 文件" in renamed_png.content.decode()
    assert f"文件大小 {-(-len(large) // 1024)} KB 超过上限 150 KB" in too_large.content.decode()
    assert oversized_request.status_code == 413
    assert "上传内容超过 20 MB" in oversized_request.content.decode()
    with schema_context("sichuan"):
        assert not Document.objects.exists()
    assert stored_files(media_root) == []


def test_a_returned_photo_shows_its_reason_and_is_uploaded_again(tenant_a, photo_rules):
    with schema_context("sichuan"):
        register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")
        reviewer()
    person = person_client(HOST_A, "13812345678")
    person.post("/documents/photo/", {"file": _upload("a.jpg", photo_jpeg())})
    with schema_context("sichuan"):
        first = Document.objects.get()
    staff = staff_client(HOST_A, "reviewer1")

    refused = staff.post(f"/documents/{first.pk}/return/", {"reason": "", "status": "uploaded"}, follow=True)
    returned = staff.post(f"/documents/{first.pk}/return/", {"reason": "面部不清晰", "status": "uploaded"})
    page = person.get("/documents/photo/").content.decode()
    again = person.post("/documents/photo/", {"file": _upload("b.jpg", photo_jpeg())})

    assert "请填写退回原因" in refused.content.decode()
    assert returned.status_code == 302 and returned["Location"] == "/documents/review/?status=uploaded"
    assert "已退回" in page and "退回原因：面部不清晰" in page and "重新上传" in page
    assert again.status_code == 302
    with schema_context("sichuan"):
        first.refresh_from_db()
        second = Document.objects.get(superseded_at__isnull=True)
        assert first.status == DocumentStatus.RETURNED and first.superseded_by == second
        assert second.status == DocumentStatus.UPLOADED


def test_the_photo_page_says_so_when_the_association_asks_for_no_photo(tenant_a):
    with schema_context("sichuan"):
        register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")

    response = person_client(HOST_A, "13812345678").get("/documents/photo/")

    assert response.status_code == 404 and "本协会不需要上传个人证件照" in response.content.decode()


def test_the_review_queue_shows_masked_people_and_staff_accept_from_it(tenant_a, photo_rules):
    with schema_context("sichuan"):
        person = register_person(name="张伟", id_number=ID_ZHANG, phone="13812345678")
        waiting = upload_photo(person)
        reviewer()
    staff = staff_client(HOST_A, "reviewer1")

    queue = staff.get("/documents/review/").content.decode()
    accepted = staff.post(f"/documents/{waiting.pk}/accept/", {"status": "uploaded"})
    again = staff.post(f"/documents/{waiting.pk}/accept/", {"status": "uploaded"})
    after = staff.get("/documents/review/?status=accepted").content.decode()

    assert "张伟" in queue and "510104********" + ID_ZHANG[-4:] in queue and ID_ZHANG not in queue
    assert f'src="/documents/{waiting.pk}/file"' in queue
    assert 'data-status="uploaded">待确认 <span class="count">1</span>' in queue
    assert accepted.status_code == again.status_code == 302
    assert 'data-status="accepted">已确认 <span class="count">1</span>' in after
    with schema_context("sichuan"):
        assert Document.objects.get().status == DocumentStatus.ACCEPTED
        assert AuditEntry.objects.filter(action="document.accept").count() == 1
    assert staff_client(HOST_A, "finance").get("/documents/review/").status_code == 403
    assert staff_client(HOST_A, "finance").post(f"/documents/{waiting.pk}/accept/").status_code == 403
    assert staff.post("/documents/999999/accept/").status_code == 404


def _upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg")
