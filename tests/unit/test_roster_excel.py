"""The roster import template and parser (shared/excel/roster.py).

Pure: no database. Files are built in memory, either by filling the real template with openpyxl (as a
person would in Excel) or, for sizes openpyxl writes too slowly, by swapping in hand-written sheet XML.
"""

import datetime
import functools
import io
import os
import random
import time
import zipfile
from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape

import openpyxl
import pytest

from shared.excel import roster
from shared.excel.roster import (
    ROSTER_COLUMNS,
    RosterFileError,
    RosterRow,
    build_roster_template,
    parse_roster,
)

TODAY = datetime.date(2026, 3, 1)
KEYS = [column.key for column in ROSTER_COLUMNS]
LABELS = [column.label for column in ROSTER_COLUMNS]
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARACTERS = "10X98765432"
SPREADSHEET_NAMESPACE = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


# --- helpers -----------------------------------------------------------------------------------------


def id_number(*, born: str = "19900307", sequence: int = 123, region: str = "310104") -> str:
    """A valid 18-character ID; the sequence's last digit is odd for men and even for women."""
    first_17 = f"{region}{born}{sequence:03d}"
    total = sum(int(digit) * weight for digit, weight in zip(first_17, ID_WEIGHTS, strict=True))
    return first_17 + ID_CHECK_CHARACTERS[total % 11]


def with_wrong_check_character(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


def person(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "name": "张伟",
        "gender": "男",
        "id_type": "居民身份证",
        "id_number": id_number(),
        "phone": "13812345678",
        "email": "zhangwei@example.com",
        "birth_date": "1990-03-07",
        "education": "大学本科",
        "ethnicity": "汉族",
        "political_status": "群众",
        "work_start_date": "2012-07",
        "title": "高级工程师",
        "specialty": "房屋建筑工程",
        "position": "总监理工程师",
        "academician": "否",
        "postal_code": "200092",
        "address": "上海市杨浦区四平路 1 号",
        "remark": "",
    }
    values.update(overrides)
    return values


@functools.cache
def template() -> bytes:
    return build_roster_template()


def saved(workbook: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write_rows(sheet, rows: Sequence[dict[str, object] | None]) -> None:
    """Rows from row 2 down, as in Excel; None leaves that row empty."""
    for row_number, values in enumerate(rows, start=2):
        for key, value in (values or {}).items():
            sheet.cell(row=row_number, column=KEYS.index(key) + 1, value=value)


def fill_template(rows: Sequence[dict[str, object] | None]) -> bytes:
    """The real template filled in (slower: it carries thousands of formatted cells)."""
    workbook = openpyxl.load_workbook(io.BytesIO(template()))
    write_rows(workbook[roster.ROSTER_SHEET_TITLE], rows)
    return saved(workbook)


def roster_file(rows: Sequence[dict[str, object] | None], *, header: Sequence[str] | None = None) -> bytes:
    """A bare workbook with the template's header: what a person's copy-paste into Excel looks like."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = roster.ROSTER_SHEET_TITLE
    sheet.append(list(header or header_row()))
    write_rows(sheet, rows)
    return saved(workbook)


def parse(rows: Sequence[dict[str, object] | None], **kwargs: object) -> roster.RosterParseResult:
    return parse_roster(roster_file(rows), today=TODAY, **kwargs)


def codes(result: roster.RosterParseResult) -> list[tuple[int, str, str]]:
    return [(error.row_number, error.column_label, error.code) for error in result.errors]


def file_error(data: bytes, **kwargs: object) -> RosterFileError:
    with pytest.raises(RosterFileError) as caught:
        parse_roster(data, today=TODAY, **kwargs)
    return caught.value


def column_letter(index: int) -> str:
    return openpyxl.utils.get_column_letter(index + 1)


def shared_strings_sheet(rows: Iterable[Sequence[str]]) -> tuple[bytes, bytes]:
    """Sheet XML and sharedStrings.xml the way Excel writes them (strings by index, explicit refs)."""
    strings: dict[str, int] = {}
    parts = [f'<worksheet xmlns="{SPREADSHEET_NAMESPACE}"><sheetData>']
    for row_number, row in enumerate(rows, start=1):
        parts.append(f'<row r="{row_number}">')
        for index, value in enumerate(row):
            if value:
                string_index = strings.setdefault(value, len(strings))
                parts.append(f'<c r="{column_letter(index)}{row_number}" t="s"><v>{string_index}</v></c>')
        parts.append("</row>")
    parts.append("</sheetData></worksheet>")
    table = "".join(f"<si><t>{escape(text)}</t></si>" for text in strings)
    shared = (
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'count="{len(strings)}" uniqueCount="{len(strings)}">{table}</sst>'
    )
    return "".join(parts).encode(), shared.encode()


def with_sheet_xml(sheet_xml: bytes, *, shared_strings: bytes | None = None) -> bytes:
    """The template with its data sheet replaced (and a sharedStrings part added when given)."""
    source = zipfile.ZipFile(io.BytesIO(template()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            content = source.read(member.filename)
            if member.filename == "xl/worksheets/sheet1.xml":
                content = sheet_xml
            elif member.filename == "[Content_Types].xml" and shared_strings is not None:
                content = content.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
                )
            elif member.filename == "xl/_rels/workbook.xml.rels" and shared_strings is not None:
                content = content.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdStrings" Target="sharedStrings.xml" Type="http://schemas.'
                    b'openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/></Relationships>',
                )
            target.writestr(member.filename, content)
        if shared_strings is not None:
            target.writestr("xl/sharedStrings.xml", shared_strings)
    return buffer.getvalue()


def header_row() -> list[str]:
    return [roster.header_text(column) for column in ROSTER_COLUMNS]


def as_cells(values: dict[str, object]) -> list[str]:
    return [str(values.get(key, "")) for key in KEYS]


# --- the template ------------------------------------------------------------------------------------


def test_template_has_header_formats_dropdowns_and_instructions():
    workbook = openpyxl.load_workbook(io.BytesIO(template()))

    assert workbook.sheetnames == ["学员信息", "填写说明", "选项"]
    assert [sheet.sheet_state for sheet in workbook] == ["visible", "visible", "hidden"]
    sheet = workbook["学员信息"]
    header = [cell.value for cell in sheet[1]]
    assert header == [
        "姓名*", "性别*", "证件类型*", "身份证号*", "手机号*", "邮箱*", "出生年月*", "学历", "民族",
        "政治面貌", "参加工作时间*", "职称", "从事专业*", "职务", "院士/大师", "邮编", "联系地址*", "备注",
    ]  # fmt: skip
    assert sheet.freeze_panes == "A2"
    required_fill = sheet["A1"].fill.fgColor.rgb
    assert sheet["H1"].fill.fgColor.rgb != required_fill  # 学历 is optional
    assert all(sheet.cell(row=1, column=i + 1).fill.fgColor.rgb == required_fill
               for i, column in enumerate(ROSTER_COLUMNS) if column.required)  # fmt: skip
    assert sheet.column_dimensions["D"].width == 22

    # No example row: every data cell is empty, but ID, phone and postcode cells are text-formatted.
    assert all(cell.value is None for row in sheet.iter_rows(min_row=2) for cell in row)
    for letter in ("D", "E", "P"):
        assert sheet[f"{letter}2"].number_format == "@"
        assert sheet[f"{letter}{roster.TEXT_FORMATTED_ROWS + 1}"].number_format == "@"
    assert sheet["A2"].number_format == "General"

    assert "1990-05" in sheet["G1"].comment.text and "1990-05" in sheet["K1"].comment.text

    lists = {
        str(validation.sqref): validation.formula1
        for validation in sheet.data_validations.dataValidation
        if validation.type == "list"
    }
    assert lists == {
        "B2:B20001": "'选项'!$A$1:$A$2",
        "C2:C20001": "'选项'!$B$1:$B$1",
        "H2:H20001": "'选项'!$C$1:$C$6",
        "J2:J20001": "'选项'!$D$1:$D$5",
        "O2:O20001": "'选项'!$E$1:$E$3",
    }
    options = workbook["选项"]
    assert [options.cell(row=r, column=3).value for r in range(1, 7)] == list(roster.EDUCATION_CHOICES)
    assert [options.cell(row=r, column=2).value for r in range(1, 3)] == ["居民身份证", None]

    instructions = [cell.value for row in workbook["填写说明"].iter_rows() for cell in row if cell.value]
    for label in LABELS:
        assert label in instructions
    assert any("公式" in text for text in instructions)


def test_empty_template_is_refused_as_having_no_rows():
    error = file_error(template())

    assert error.code == "no_rows"


# --- round trip --------------------------------------------------------------------------------------


def test_round_trip_gives_normalised_rows_with_excel_row_numbers():
    woman_id = id_number(born="19851120", sequence=246)
    data = fill_template(
        [
            person(
                name="  张伟 ",
                id_number=id_number().lower(),
                phone="+86 138-1234-5678",
                email="ZhangWei@Example.COM ",
                remark="  首次报名  ",
            ),
            None,
            person(
                name="李娜",
                gender="",
                id_type="",
                id_number=f" {woman_id[:6]} {woman_id[6:14]} {woman_id[14:]} ",
                phone=13912345678,
                email="lina@example.com",
                birth_date=None,
                education=None,
                ethnicity=None,
                political_status=None,
                work_start_date=datetime.datetime(2008, 9, 15),
                title=None,
                position=None,
                academician=None,
                postal_code=10000,
                remark=None,
            ),
        ]
    )

    result = parse_roster(data, today=TODAY)

    assert result.errors == []
    assert result.is_valid
    assert result.rows == [
        RosterRow(
            row_number=2,
            name="张伟",
            gender="male",
            id_type="居民身份证",
            id_number=id_number(),
            phone="13812345678",
            email="ZhangWei@example.com",
            birth_date=datetime.date(1990, 3, 7),
            education="大学本科",
            ethnicity="汉族",
            political_status="群众",
            work_start_date=datetime.date(2012, 7, 1),
            title="高级工程师",
            specialty="房屋建筑工程",
            position="总监理工程师",
            academician="否",
            postal_code="200092",
            address="上海市杨浦区四平路 1 号",
            remark="首次报名",
        ),
        RosterRow(
            row_number=4,
            name="李娜",
            gender="female",
            id_type="居民身份证",
            id_number=woman_id,
            phone="13912345678",
            email="lina@example.com",
            birth_date=datetime.date(1985, 11, 20),
            education="",
            ethnicity="",
            political_status="",
            work_start_date=datetime.date(2008, 9, 1),
            title="",
            specialty="房屋建筑工程",
            position="",
            academician="",
            postal_code="010000",
            address="上海市杨浦区四平路 1 号",
            remark="",
        ),
    ]


def test_header_is_matched_by_label_in_any_order_with_or_without_stars():
    header = header_row()
    header[0], header[1] = "性别", " 姓名 *"  # swapped, odd spacing
    header[2] = "证件类型"  # the "*" removed
    data = roster_file([person(name="男", gender="王强")], header=header)

    result = parse_roster(data, today=TODAY)

    assert result.errors == []
    assert [(row.name, row.gender) for row in result.rows] == [("王强", "male")]


# --- header and file-level errors --------------------------------------------------------------------


def test_renamed_and_missing_columns_are_one_header_error_naming_them():
    header = header_row()
    header[KEYS.index("email")] = "电子邮箱"
    header[KEYS.index("remark")] = ""  # 备注 deleted

    error = file_error(roster_file([person()], header=header))

    assert error.code == "header_mismatch"
    assert "缺少列「邮箱」「备注」" in error.message
    assert "多出列「电子邮箱」" in error.message


def test_a_title_row_above_the_header_is_a_header_mismatch():
    data = roster_file(
        [dict(zip(KEYS, header_row(), strict=True)), person()], header=["2026 年第一期学员名单"]
    )

    error = file_error(data)

    assert error.code == "header_mismatch"
    assert "多出列「2026年第一期学员名单」" in error.message


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(os.urandom(4096), id="random-bytes"),
        pytest.param("姓名,身份证号\n张伟,310104199003071235\n".encode(), id="csv"),
        pytest.param(b"%PDF-1.7\n", id="pdf"),
    ],
)
def test_files_that_are_not_zips_are_not_xlsx(data):
    error = file_error(data)

    assert error.code == "not_xlsx"
    assert ".xlsx" in error.message


def test_old_xls_files_are_told_to_save_as_xlsx():
    ole_header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)

    error = file_error(ole_header)

    assert error.code == "not_xlsx"
    assert "另存为" in error.message and ".xls" in error.message


def test_a_renamed_zip_is_not_xlsx():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("名单.csv", "姓名,身份证号\n")
        archive.writestr("[Content_Types].xml", "<Types/>")  # even with a look-alike content-types part

    assert file_error(buffer.getvalue()).code == "not_xlsx"


def test_a_corrupt_sheet_is_not_xlsx():
    assert file_error(with_sheet_xml(b"<worksheet><sheetData><row>")).code == "not_xlsx"


def test_a_zip_bomb_is_refused_before_any_xml_is_parsed(monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the sheet was parsed")

    monkeypatch.setattr(roster, "_scan_sheet", must_not_run)
    monkeypatch.setattr(roster, "_read_values", must_not_run)
    source = zipfile.ZipFile(io.BytesIO(template()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for member in source.infolist():
            if member.filename != "xl/worksheets/sheet1.xml":
                bomb.writestr(member, source.read(member))
        bomb.writestr(
            "xl/worksheets/sheet1.xml", b"<worksheet>" + b" " * (64 * 1024 * 1024) + b"</worksheet>"
        )
    data = buffer.getvalue()
    assert len(data) < 1024 * 1024  # 64 MB inflated from well under 1 MB

    error = file_error(data)

    assert error.code == "file_too_complex"


def test_total_uncompressed_size_is_capped(monkeypatch):
    data = roster_file([person()])
    total = sum(member.file_size for member in zipfile.ZipFile(io.BytesIO(data)).infolist())
    monkeypatch.setattr(roster, "MAX_UNCOMPRESSED_BYTES", total - 1)

    assert file_error(data).code == "file_too_complex"
    monkeypatch.setattr(roster, "MAX_UNCOMPRESSED_BYTES", total)
    assert parse_roster(data, today=TODAY).is_valid


def test_too_many_rows_stops_without_reading_the_file():
    # 100,000 rows of three cells each; the row count is settled before the header or any cell is read.
    rows = "".join(
        f'<row r="{n}"><c r="A{n}" t="s"><v>{n % 7}</v></c><c r="D{n}" t="inlineStr"><is><t>{n}</t></is></c>'
        f'<c r="E{n}"><v>{13800000000 + n}</v></c></row>'
        for n in range(1, 100_002)
    )
    data = with_sheet_xml(
        f'<worksheet xmlns="{SPREADSHEET_NAMESPACE}"><sheetData>{rows}</sheetData></worksheet>'.encode()
    )

    started = time.perf_counter()
    error = file_error(data)
    elapsed = time.perf_counter() - started

    assert error.code == "too_many_rows"
    assert "20000" in error.message
    print(f"\n100k-row file refused in {elapsed:.2f} s")


def test_max_rows_counts_rows_with_content_not_blank_or_formatted_ones():
    # The real template: thousands of text-formatted empty cells that must not count as rows.
    rows = [person(id_number=id_number(sequence=2 * n + 1), phone=f"1381234{n:04d}") for n in range(3)]
    data = fill_template([rows[0], None, rows[1], None, rows[2]])

    assert len(parse_roster(data, max_rows=3, today=TODAY).rows) == 3
    assert file_error(data, max_rows=2).code == "too_many_rows"


# --- row errors --------------------------------------------------------------------------------------


def test_blank_rows_are_skipped_and_row_numbers_kept():
    result = parse(
        [
            None,
            {"name": "  ", "remark": "\u3000"},
            person(),
            None,
            person(id_number=id_number(sequence=135), phone="13900000000"),
        ]
    )

    assert result.errors == []
    assert [row.row_number for row in result.rows] == [4, 6]


def test_duplicate_id_and_phone_are_errors_on_every_later_row_naming_the_first():
    first = person()
    result = parse(
        [
            first,
            person(name="甲", phone="13900000001"),  # same ID as row 2
            person(name="乙", id_number=id_number(sequence=357)),  # same phone as row 2
            person(name="丙", id_number=first["id_number"].lower(), phone="13900000001"),  # both again
        ]
    )

    assert codes(result) == [
        (3, "身份证号", "duplicate_in_file"),
        (4, "手机号", "duplicate_in_file"),
        (5, "身份证号", "duplicate_in_file"),
        (5, "手机号", "duplicate_in_file"),
    ]
    assert result.errors[0].message == "第 3 行「身份证号」：与第 2 行重复"
    assert result.errors[3].message == "第 5 行「手机号」：与第 3 行重复"
    assert [row.row_number for row in result.rows] == [2]


def test_wrong_check_character_names_row_and_column():
    result = parse([None, None, None, None, None, person(id_number=with_wrong_check_character(id_number()))])

    assert codes(result) == [(7, "身份证号", "id_number_checksum")]
    assert result.errors[0].message.startswith("第 7 行「身份证号」：")
    assert "校验位错误" in result.errors[0].message
    assert result.rows == []


def test_id_number_stored_as_a_number_asks_for_a_text_column():
    result = parse([person(id_number=float(id_number()[:17] + "1"))])

    assert codes(result) == [(2, "身份证号", "id_number_not_text")]
    assert "文本" in result.errors[0].message and "1.1E+17" in result.errors[0].message


def test_gender_must_agree_with_the_17th_digit():
    result = parse([person(gender="女"), person(id_number=id_number(sequence=124), phone="13900000000")])

    assert codes(result) == [(2, "性别", "gender_mismatch"), (3, "性别", "gender_mismatch")]
    assert result.errors[0].message == "第 2 行「性别」：填写为「女」，但身份证号第 17 位表明是「男」"


@pytest.mark.parametrize(
    ("cell", "expected_error"),
    [
        pytest.param(datetime.datetime(1990, 3, 7), None, id="excel-date"),
        pytest.param("1990-03-07", None, id="dashes"),
        pytest.param("1990/3/7", None, id="slashes"),
        pytest.param("1990-03", None, id="year-month"),
        pytest.param("1990.03", None, id="dotted-text"),
        pytest.param(1990.03, None, id="dotted-number"),
        pytest.param("1990年3月", None, id="chinese"),
        pytest.param(datetime.datetime(1990, 3, 8), "birth_date_mismatch", id="excel-date-other-day"),
        pytest.param("1990-04", "birth_date_mismatch", id="other-month"),
        pytest.param("1990-02-30", "invalid_date", id="no-such-day"),
        pytest.param("三月", "invalid_date", id="words"),
    ],
)
def test_birth_date_formats_and_agreement_with_the_id(cell, expected_error):
    result = parse([person(birth_date=cell)])

    if expected_error is None:
        assert result.errors == []
        assert result.rows[0].birth_date == datetime.date(1990, 3, 7)  # the ID's full date
    else:
        assert codes(result) == [(2, "出生年月", expected_error)]


def test_birth_date_mismatch_message_shows_both_dates():
    result = parse([person(birth_date="1991-03-07")])

    assert result.errors[0].message == (
        "第 2 行「出生年月」：填写为 1991-03-07，与身份证号中的出生日期 1990-03-07 不一致"
    )


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (datetime.datetime(2012, 7, 18), datetime.date(2012, 7, 1)),
        ("2012-07-18", datetime.date(2012, 7, 1)),
        ("2012/07/18", datetime.date(2012, 7, 1)),
        ("2012.07", datetime.date(2012, 7, 1)),
        ("2012-7", datetime.date(2012, 7, 1)),
        ("2012年07月", datetime.date(2012, 7, 1)),
        ("２０１２年７月", datetime.date(2012, 7, 1)),
        (2012.07, datetime.date(2012, 7, 1)),
        (2012.11, datetime.date(2012, 11, 1)),
        (2012.2, datetime.date(2012, 2, 1)),  # typed "2012.2": 2012.20 is no month
    ],
)
def test_work_start_dates_are_accepted_in_common_forms(cell, expected):
    result = parse([person(work_start_date=cell)])

    assert result.errors == []
    assert result.rows[0].work_start_date == expected


@pytest.mark.parametrize(
    ("cell", "code"),
    [
        pytest.param(2012.1, "invalid_date", id="january-or-october"),
        pytest.param(2012.0, "invalid_date", id="year-only"),
        pytest.param(41000.0, "invalid_date", id="bare-serial"),
        pytest.param("2012-13", "invalid_date", id="month-13"),
        pytest.param("2026-04", "date_out_of_range", id="future"),
        pytest.param("1989-12", "work_start_before_birth", id="before-birth"),
    ],
)
def test_bad_work_start_dates(cell, code):
    result = parse([person(work_start_date=cell)])

    assert codes(result) == [(2, "参加工作时间", code)]


def test_ambiguous_dotted_month_explains_why():
    result = parse([person(work_start_date=2012.1)])

    assert "无法区分 1 月和 10 月" in result.errors[0].message


def test_required_choice_and_format_errors_are_all_reported_for_one_row():
    result = parse(
        [
            person(
                name="",
                id_type="护照",
                phone="12345",
                email="zhangwei.example.com",
                education="本科",
                work_start_date=None,
                specialty="  ",
                postal_code="2000",
                address="路" * 201,
            )
        ]
    )

    assert codes(result) == [
        (2, "姓名", "required"),
        (2, "证件类型", "unsupported_id_type"),
        (2, "手机号", "mobile_format"),
        (2, "邮箱", "invalid_email"),
        (2, "学历", "invalid_choice"),
        (2, "参加工作时间", "required"),
        (2, "从事专业", "required"),
        (2, "邮编", "invalid_postal_code"),
        (2, "联系地址", "too_long"),
    ]
    messages = {error.column_label: error.message for error in result.errors}
    assert "只接受居民身份证" in messages["证件类型"]
    assert "大学本科" in messages["学历"]
    assert result.rows == []


def test_a_rows_errors_are_listed_left_to_right():
    result = parse([person(gender="女", email="不是邮箱", name="")])

    assert codes(result) == [
        (2, "姓名", "required"),
        (2, "性别", "gender_mismatch"),
        (2, "邮箱", "invalid_email"),
    ]


def test_formulas_are_refused_per_cell_even_with_a_plausible_cached_value():
    result = parse(
        [
            person(),
            person(id_number=id_number(sequence=135), phone='="139"&"00000000"', name='="王"&"五"'),
        ]
    )

    assert codes(result) == [(3, "姓名", "formula_not_allowed"), (3, "手机号", "formula_not_allowed")]
    assert "选择性粘贴" in result.errors[0].message
    assert [row.row_number for row in result.rows] == [2]


def test_shared_formulas_written_by_fill_down_are_found():
    # Excel's fill-down writes the formula once and <f t="shared" si="0"/> in the cells below it,
    # with cached values that calamine would happily return.
    values = as_cells(person())
    cells = "".join(
        f'<c r="{column_letter(i)}{{row}}" t="inlineStr"><is><t>{escape(v)}</t></is></c>'
        for i, v in enumerate(values)
        if v and KEYS[i] != "address"
    )
    address_column = column_letter(KEYS.index("address"))
    header = "".join(
        f'<c r="{column_letter(i)}1" t="inlineStr"><is><t>{escape(text)}</t></is></c>'
        for i, text in enumerate(header_row())
    )
    rows = [f'<row r="1">{header}</row>']
    for row_number, formula in (
        (2, '<f t="shared" ref="Q2:Q3" si="0">"上海"&amp;"市"</f>'),
        (3, '<f t="shared" si="0"/>'),
    ):
        row_cells = (
            cells.replace("{row}", str(row_number))
            .replace(values[KEYS.index("id_number")], id_number(sequence=row_number * 2 + 1))
            .replace(values[KEYS.index("phone")], f"1390000000{row_number}")
        )
        rows.append(
            f'<row r="{row_number}">{row_cells}'
            f'<c r="{address_column}{row_number}" t="str">{formula}<v>上海市</v></c></row>'
        )
    sheet_xml = (
        f'<worksheet xmlns="{SPREADSHEET_NAMESPACE}"><sheetData>' + "".join(rows) + "</sheetData></worksheet>"
    ).encode()

    result = parse_roster(with_sheet_xml(sheet_xml), today=TODAY)

    assert codes(result) == [(2, "联系地址", "formula_not_allowed"), (3, "联系地址", "formula_not_allowed")]


def inline_row(row_number: int, values: Sequence[str], *, prefix: str = "") -> str:
    return f'<{prefix}row r="{row_number}">' + "".join(
        f'<{prefix}c r="{column_letter(index)}{row_number}" t="inlineStr"><{prefix}is><{prefix}t>'
        f"{escape(value)}</{prefix}t></{prefix}is></{prefix}c>"
        for index, value in enumerate(values)
        if value
    )  # the caller closes the row, so it can add cells


def test_formulas_are_found_with_a_namespace_prefix_and_without_cell_references():
    # Some generators write <x:row>/<x:c>/<x:f>, and "r" is optional on cells.
    values = as_cells(person())
    values[KEYS.index("remark")] = ""
    sheet_xml = (
        f'<x:worksheet xmlns:x="{SPREADSHEET_NAMESPACE}"><x:sheetData>'
        + inline_row(1, header_row(), prefix="x:")
        + "</x:row>"
        + inline_row(2, values[:-1], prefix="x:")
        + '<x:c t="str"><x:f>"备"&amp;"注"</x:f><x:v>备注</x:v></x:c></x:row>'
        + "</x:sheetData></x:worksheet>"
    ).encode()

    result = parse_roster(with_sheet_xml(sheet_xml), today=TODAY)

    assert codes(result) == [(2, "备注", "formula_not_allowed")]


def test_a_sheet_with_a_dtd_is_refused():
    # Entity expansion ("billion laughs") needs a DTD; no spreadsheet part has one.
    sheet_xml = (
        '<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        f'<worksheet xmlns="{SPREADSHEET_NAMESPACE}"><sheetData>'
        + inline_row(1, header_row())
        + '<c r="S1"><f>1+1</f><v>2</v></c></row>'
        + inline_row(2, as_cells(person(remark="&b;")))
        + "</row></sheetData></worksheet>"
    ).encode()

    assert file_error(with_sheet_xml(sheet_xml)).code == "not_xlsx"


def test_a_tag_longer_than_any_spreadsheet_writes_is_refused():
    junk = os.urandom(1024 * 1024).hex()  # random, so the zip ratio check does not catch it first
    sheet_xml = f'<worksheet xmlns="{SPREADSHEET_NAMESPACE}"><sheetData><row r="1" junk="{junk}"/></sheetData></worksheet>'

    assert file_error(with_sheet_xml(sheet_xml.encode())).code == "file_too_complex"


def test_formulas_outside_the_template_columns_are_ignored():
    workbook = openpyxl.load_workbook(io.BytesIO(roster_file([person()])))
    workbook["学员信息"]["T2"] = "=1+1"  # no header above it: never read

    assert parse_roster(saved(workbook), today=TODAY).is_valid


# --- speed -------------------------------------------------------------------------------------------


def ten_thousand_people() -> list[dict[str, object]]:
    generator = random.Random(20260301)
    people = []
    for index in range(10_000):
        born = datetime.date(1960, 1, 1) + datetime.timedelta(days=generator.randrange(0, 365 * 40))
        sequence = index % 1000
        people.append(
            person(
                name=f"学员{index:05d}",
                gender="男" if sequence % 2 else "女",
                id_number=id_number(
                    born=born.strftime("%Y%m%d"), sequence=sequence, region=f"{310101 + index // 1000}"
                ),
                phone=f"139{index:08d}",
                email=f"person{index}@example.com",
                birth_date=born.strftime("%Y-%m"),
                work_start_date=f"{born.year + 22}-{generator.randrange(1, 13):02d}",
            )
        )
    return people


@pytest.mark.slow
def test_ten_thousand_rows_parse_correctly_and_report_time():
    people = ten_thousand_people()
    people[4321]["id_number"] = with_wrong_check_character(str(people[4321]["id_number"]))
    sheet_xml, shared = shared_strings_sheet([header_row()] + [as_cells(values) for values in people])
    data = with_sheet_xml(sheet_xml, shared_strings=shared)

    started, started_cpu = time.perf_counter(), time.process_time()
    result = parse_roster(data, today=TODAY)
    elapsed, elapsed_cpu = time.perf_counter() - started, time.process_time() - started_cpu

    print(
        f"\n10,000 rows ({len(data) / 1024:.0f} KB xlsx) parsed and validated in {elapsed:.2f} s"
        f" ({elapsed_cpu:.2f} s CPU)"
    )
    assert codes(result) == [(4323, "身份证号", "id_number_checksum")]
    assert len(result.rows) == 9_999
    assert result.rows[0].row_number == 2 and result.rows[-1].row_number == 10_001
    assert result.rows[-1].phone == "13900009999"
    last_id = str(people[-1]["id_number"])
    assert result.rows[-1].birth_date == datetime.datetime.strptime(last_id[6:14], "%Y%m%d").date()
