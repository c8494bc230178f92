"""roster_import_10k: a 10,000-row roster Excel imported end to end (parse, validate, write) by a company.

value = seconds for `membership.roster.roster_import`; baseline = the floor of the same work measured in
this run: reading the sheet's cells with calamine (no validation) plus bulk-inserting the same number
of users and profiles. ratio = floor / total (goal >= 0.25), and the goal on the total is <= 5 s.
The import runs in a transaction that is rolled back, so the run leaves nothing behind.
"""

import io
import time

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django_tenants.utils import schema_context

ROWS = 10_000
SLUG = "benchroute"  # shared with tenant_routing: one bench tenant


class _Rollback(Exception):
    pass


def _xlsx_from(people: list[dict]) -> bytes:
    import openpyxl

    from shared.excel.roster import ROSTER_COLUMNS, ROSTER_SHEET_TITLE, header_text

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(ROSTER_SHEET_TITLE)
    sheet.append([header_text(column) for column in ROSTER_COLUMNS])
    keys = [column.key for column in ROSTER_COLUMNS]
    for person in people:
        sheet.append([person.get(key, "") for key in keys])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _xlsx(rows: int) -> bytes:
    from shared.validation import id_number_check_character

    people = []
    for number in range(rows):
        body = f"310101{1960 + number // 1000 % 40}{(number // 28) % 12 + 1:02d}{number % 28 + 1:02d}{number % 1000:03d}"
        id_number = body + id_number_check_character(body)
        people.append(
            {
                "name": f"学员{number}",
                "gender": "男" if int(id_number[16]) % 2 else "女",
                "id_type": "居民身份证",
                "id_number": id_number,
                "phone": f"13{number % 7 + 3}{number:08d}",
                "email": f"p{number}@example.com",
                "work_start_date": "2012-07",
                "specialty": "岩土工程",
                "address": "上海市黄浦区人民路 1 号",
            }
        )
    return _xlsx_from(people)


def _timed_in_rollback(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = None
    try:
        with transaction.atomic():
            result = function()
            elapsed = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    return elapsed, result


def run(report) -> None:
    from python_calamine import CalamineWorkbook

    from infra.bench.tenant_routing import _ensure_tenant
    from membership.roster import PROFILE_FIELDS, USER_FIELDS, roster_import
    from shared.accounts.models import Company, PersonProfile, User, UserKind
    from shared.db import bulk_insert_copy
    from tenant_configs.selectors import rules_current

    tenant = _ensure_tenant()
    data = _xlsx(ROWS)
    with schema_context(tenant.schema_name):
        rules = rules_current()
        company, _ = Company.objects.get_or_create(name="基准测试单位")
        operator = User.objects.filter(username="bench-operator").first() or User.objects.create_user(
            "bench-operator", None, kind=UserKind.COMPANY, company=company
        )

        total, result = _timed_in_rollback(
            lambda: roster_import(rules=rules, company=company, actor=operator, data=data)
        )
        if result.errors or result.imported != ROWS:
            raise AssertionError(
                f"import failed: {result.imported} imported, first errors {result.errors[:3]}"
            )

        started = time.perf_counter()
        cells = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
        parse_floor = time.perf_counter() - started
        assert len(cells) == ROWS + 1

        def raw_write():
            # The same rows' raw cell text written the same (fastest) way, without any checks.
            password = make_password(None)
            users = [
                User(
                    username=f"raw{n}",
                    password=password,
                    kind=UserKind.PERSON,
                    id_number=str(row[3]),
                    name=str(row[0]),
                    phone=str(row[4]),
                    email=str(row[5]),
                )
                for n, row in enumerate(cells[1:])
            ]
            bulk_insert_copy(User, users, fields=USER_FIELDS)
            bulk_insert_copy(
                PersonProfile,
                [
                    PersonProfile(
                        user=user,
                        name=user.name,
                        id_number=user.id_number,
                        company=company,
                        company_name=company.name,
                    )
                    for user in users
                ],
                fields=PROFILE_FIELDS,
            )

        write_floor, _ = _timed_in_rollback(raw_write)
    connection.set_schema_to_public()
    floor = parse_floor + write_floor
    report(
        name="roster_import_10k",
        value=total,
        unit="s",
        baseline=floor,
        goal="total <= 5 s and baseline/value >= 0.25",
        floor_ratio=round(floor / total, 4),
        parse_floor_s=round(parse_floor, 3),
        write_floor_s=round(write_floor, 3),
        rows=ROWS,
        note="ratio = value/baseline as everywhere; the issue's ratio is floor_ratio = baseline/value",
    )
