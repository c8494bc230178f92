"""photo_zip_1000: a company uploads a zip of 1,000 ID photos (`姓名-身份证号.jpg`, 295×413) for its people.

value = photos/s for `membership.roster.roster_photos_import` end to end (read and check every photo,
match the person, store the file, record the document); baseline = photos/s of reading and checking
the same zip alone (`read_photo_zip`), measured in this run. Seconds are reported too. Runs in a
transaction that is rolled back, with files written to a temporary MEDIA_ROOT that is removed.
"""

import io
import tempfile
import time
import zipfile

from django.db import connection, transaction
from django.test import override_settings
from django_tenants.utils import schema_context

PHOTOS = 1000
SLUG = "benchphoto"
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬"


class _Rollback(Exception):
    pass


def _people() -> list[dict]:
    from shared.validation import id_number_check_character

    people = []
    for number in range(PHOTOS):
        body = f"310101{1960 + number // 300}{number % 12 + 1:02d}{number % 28 + 1:02d}{number % 1000:03d}"
        id_number = body + id_number_check_character(body)
        name = (
            SURNAMES[number % len(SURNAMES)] + GIVEN[number // len(SURNAMES) % len(GIVEN)] + GIVEN[number % 7]
        )
        people.append(
            {
                "name": name,
                "id_number": id_number,
                "phone": f"136{number:08d}",
                "gender": "男" if int(id_number[16]) % 2 else "女",
                "id_type": "居民身份证",
                "email": f"p{number}@example.com",
                "work_start_date": "2012-07",
                "specialty": "岩土工程",
                "address": "上海市黄浦区人民路 1 号",
            }
        )
    return people


def _photo() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (295, 413), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((90, 80, 205, 210), fill=(222, 184, 160))
    draw.rectangle((60, 230, 235, 413), fill=(30, 60, 140))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _zip(people: list[dict]) -> bytes:
    photo = _photo()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for person in people:
            archive.writestr(f"{person['name']}-{person['id_number']}.jpg", photo)
    return buffer.getvalue()


def _ensure_tenant():
    from django.conf import settings

    from tenant_configs.loader import load_rules_data, load_rules_file, rules_to_data
    from tenants.models import Association
    from tenants.services import tenant_onboard

    tenant = Association.objects.filter(slug=SLUG).first()
    if tenant is None:
        data = rules_to_data(load_rules_file(settings.BASE_DIR / "tenant_configs" / "shanghai.toml"))
        data["association"]["slug"] = SLUG
        tenant = tenant_onboard(rules=load_rules_data(data, source="bench")).tenant
    return tenant


def run(report) -> None:
    from infra.bench.roster_import_10k import _xlsx_from
    from membership.roster import roster_import, roster_photos_import
    from shared.accounts.models import Company, User, UserKind
    from shared.documents.photo_zip import read_photo_zip
    from tenant_configs.selectors import rules_current

    tenant = _ensure_tenant()
    people = _people()
    data = _zip(people)
    with schema_context(tenant.schema_name), tempfile.TemporaryDirectory() as media:
        rules = rules_current()
        started = time.perf_counter()
        checked = read_photo_zip(data=data, spec=rules.identity.profile_photo)
        check_seconds = time.perf_counter() - started
        if len(checked.photos) != PHOTOS:
            raise AssertionError(f"{len(checked.photos)} photos read, problems {checked.problems[:3]}")
        seconds = 0.0
        try:
            with override_settings(MEDIA_ROOT=media), transaction.atomic():
                company = Company.objects.create(name="照片基准测试单位")
                operator = User.objects.create_user(
                    "bench-photo-op", None, kind=UserKind.COMPANY, company=company
                )
                imported = roster_import(
                    rules=rules, company=company, actor=operator, data=_xlsx_from(people)
                )
                if not imported.succeeded:
                    raise AssertionError(f"roster import failed: {imported.errors[:3]}")
                started = time.perf_counter()
                result = roster_photos_import(rules=rules, company=company, actor=operator, data=data)
                seconds = time.perf_counter() - started
                if result.stored != PHOTOS:
                    raise AssertionError(f"{result.stored} stored: {result.outcomes[:3]}")
                raise _Rollback
        except _Rollback:
            pass
    connection.set_schema_to_public()
    report(
        name="photo_zip_1000",
        value=PHOTOS / seconds,
        unit="photos/s",
        baseline=PHOTOS / check_seconds,
        goal="report (seconds and photos/s)",
        seconds=round(seconds, 3),
        check_only_seconds=round(check_seconds, 3),
        zip_bytes=len(data),
    )
