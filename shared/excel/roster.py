"""The roster import: the .xlsx template a company fills in with its people, and the parser that checks it.

A company downloads the template, fills in one person per row and uploads it; the parser returns every
valid row with its normalised values and every problem with its Excel row number and a Chinese message,
so the person can fix the whole file in one go. Matching against existing accounts, storing and photos
happen later, in services that take `RosterRow` values.

Pure: no Django and no database, so every rule is tested in milliseconds.

Reading is done in three steps, cheapest first, so a hostile or oversized file is refused before any
expensive work:

1. the zip directory (sizes and compression ratios only: a zip bomb is refused without inflating it);
2. streaming passes over the data sheet's XML that count the rows (stopping as soon as there are
   more than allowed) and find formula cells, which python-calamine would silently read as their
   cached values;
3. python-calamine (Rust) for the cell values: 10–17× faster than openpyxl (research/ecosystem.md §3).

10,000 rows take about 1 s of CPU on the 2-core reference box: 0.1 s for the XML pass, 0.2 s for
calamine, the rest for the per-cell rules (a third of it the ID-number checks).
"""

from __future__ import annotations

import datetime
import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Literal
from xml.etree import ElementTree
from xml.parsers import expat

import python_calamine
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from shared.errors import CodedError
from shared.validation import (
    CHINA_TIME_ZONE,
    IdentifierError,
    id_number_birth_date,
    id_number_gender,
    normalise_id_number,
    normalise_mobile,
)

ColumnKind = Literal["text", "id_number", "mobile", "email", "date", "month", "postal_code", "choice"]
Gender = Literal["male", "female"]


@dataclass(frozen=True)
class RosterColumn:
    """One template column. `label` is the header text without the "*" that marks required columns."""

    key: str
    label: str
    required: bool
    choices: tuple[str, ...] = ()
    kind: ColumnKind = "text"
    max_length: int = 100
    width: int = 14
    hint: str = ""


# The only ID type accepted for now: accounts, certificates and the duplicate check all key on the PRC
# resident ID number.
RESIDENT_ID_CARD = "居民身份证"
GENDER_CHOICES = ("男", "女")
_GENDER_BY_LABEL: dict[str, Gender] = {"男": "male", "女": "female"}
_LABEL_BY_GENDER = {code: label for label, code in _GENDER_BY_LABEL.items()}
EDUCATION_CHOICES = ("博士研究生", "硕士研究生", "大学本科", "大学专科", "中专", "高中及以下")
POLITICAL_STATUS_CHOICES = ("中共党员", "中共预备党员", "共青团员", "民主党派", "群众")
ACADEMICIAN_CHOICES = ("否", "院士", "大师")

_DATE_FORMATS_HINT = "1990-05-01、1990/05/01、1990-05、1990.05、1990年05月，或 Excel 日期"

ROSTER_COLUMNS: tuple[RosterColumn, ...] = (
    RosterColumn("name", "姓名", True, max_length=50, width=12, hint="与身份证上的姓名一致"),
    RosterColumn(
        "gender",
        "性别",
        True,
        GENDER_CHOICES,
        kind="choice",
        width=8,
        hint="男 / 女，须与身份证号第 17 位一致；留空时按身份证号自动填写",
    ),
    RosterColumn(
        "id_type",
        "证件类型",
        True,
        (RESIDENT_ID_CARD,),
        kind="choice",
        width=12,
        hint="目前只支持居民身份证（留空即为居民身份证）；持其他证件的人员请联系协会单独办理",
    ),
    RosterColumn(
        "id_number",
        "身份证号",
        True,
        kind="id_number",
        width=22,
        hint="18 位，末位可以是 X。本列已设为文本格式，请不要改成数字，否则 Excel 会显示成 1.1E+17 并丢掉末几位",
    ),
    RosterColumn(
        "phone", "手机号", True, kind="mobile", width=15, hint="11 位中国大陆手机号，每人一个，不能重复"
    ),
    RosterColumn(
        "email", "邮箱", True, kind="email", max_length=254, width=24, hint="如 zhangsan@example.com"
    ),
    RosterColumn(
        "birth_date",
        "出生年月",
        True,
        kind="date",
        width=12,
        hint=f"留空时按身份证号自动填写；填写时须与身份证号一致。可填 {_DATE_FORMATS_HINT}",
    ),
    RosterColumn(
        "education", "学历", False, EDUCATION_CHOICES, kind="choice", width=12, hint="从下拉列表中选择"
    ),
    RosterColumn("ethnicity", "民族", False, max_length=20, width=8, hint="如：汉族"),
    RosterColumn(
        "political_status",
        "政治面貌",
        False,
        POLITICAL_STATUS_CHOICES,
        kind="choice",
        width=12,
        hint="从下拉列表中选择",
    ),
    RosterColumn(
        "work_start_date",
        "参加工作时间",
        True,
        kind="month",
        width=14,
        hint=f"填写年月即可（按当月 1 日保存）。可填 {_DATE_FORMATS_HINT}",
    ),
    RosterColumn("title", "职称", False, max_length=50, width=14, hint="如：高级工程师"),
    RosterColumn("specialty", "从事专业", True, max_length=50, width=16, hint="如：房屋建筑工程"),
    RosterColumn("position", "职务", False, max_length=50, width=14, hint="如：总监理工程师"),
    RosterColumn(
        "academician",
        "院士/大师",
        False,
        ACADEMICIAN_CHOICES,
        kind="choice",
        width=10,
        hint="从下拉列表中选择；不是请选「否」或留空",
    ),
    RosterColumn("postal_code", "邮编", False, kind="postal_code", width=10, hint="6 位数字"),
    RosterColumn("address", "联系地址", True, max_length=200, width=36, hint="邮寄证书、教材时使用"),
    RosterColumn("remark", "备注", False, max_length=500, width=24, hint="最多 500 字"),
)
_COLUMNS_BY_KEY = {column.key: column for column in ROSTER_COLUMNS}
_LABEL_ORDER = {column.label: index for index, column in enumerate(ROSTER_COLUMNS)}

ROSTER_SHEET_TITLE = "学员信息"
INSTRUCTIONS_SHEET_TITLE = "填写说明"
CHOICES_SHEET_TITLE = "选项"
DEFAULT_MAX_ROWS = 20000
# Cells pre-formatted as text, so Excel keeps 18-digit IDs exactly as typed ("a few thousand" rows;
# the whole column also carries the text format for rows beyond).
TEXT_FORMATTED_ROWS = 3000
_HEADER_ROW = 1

# Zip-bomb limits, checked on the zip directory before anything is inflated. Real rosters compress
# about 5–15×; a sheet of repeated bytes compresses about 1000×. Small members cannot hurt whatever
# their ratio, so the ratio only applies from 1 MB uncompressed.
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_COMPRESSION_RATIO = 100
_RATIO_CHECK_FROM_BYTES = 1024 * 1024
_MAX_ZIP_MEMBERS = 1000
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and password-protected .xlsx

_REQUIRED_FILL = PatternFill("solid", fgColor="FCE4D6")
_OPTIONAL_FILL = PatternFill("solid", fgColor="DDEBF7")


# --- results -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterRow:
    """One valid person. Optional text columns are "" when empty; dates are `datetime.date`."""

    row_number: int
    name: str
    gender: Gender
    id_type: str
    id_number: str
    phone: str
    email: str
    birth_date: datetime.date
    education: str
    ethnicity: str
    political_status: str
    # "参加工作时间" is a year and month: stored as the first day of that month.
    work_start_date: datetime.date
    title: str
    specialty: str
    position: str
    academician: str
    postal_code: str
    address: str
    remark: str


@dataclass(frozen=True)
class RowError:
    """A problem in one cell; `message` is the full Chinese sentence, e.g. "第 7 行「身份证号」：…"."""

    row_number: int
    column_label: str
    code: str
    message: str


@dataclass
class RosterParseResult:
    """Valid rows (in file order) and every error; a row with any error is not in `rows`."""

    rows: list[RosterRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors


class RosterFileError(CodedError, ValueError):
    """The file as a whole cannot be read (not an xlsx, too big, wrong header…); nothing was parsed."""


# --- template ----------------------------------------------------------------------------------------


def header_text(column: RosterColumn) -> str:
    return f"{column.label}*" if column.required else column.label


def build_roster_template() -> bytes:
    """The empty import template (.xlsx): header, text-formatted ID/phone columns, dropdowns, instructions.

    Deliberately has no example row: people forget to delete it and import "张三".
    """
    workbook = Workbook()
    roster_sheet = workbook.active
    roster_sheet.title = ROSTER_SHEET_TITLE
    instructions_sheet = workbook.create_sheet(INSTRUCTIONS_SHEET_TITLE)
    choices_sheet = workbook.create_sheet(CHOICES_SHEET_TITLE)

    _write_header(roster_sheet)
    _format_text_columns(roster_sheet)
    _add_dropdowns(roster_sheet, choices_sheet)
    _write_instructions(instructions_sheet)
    # Hidden rather than deleted: the dropdowns point at it. Lists live on a sheet because Excel caps
    # inline list formulas at 255 characters.
    choices_sheet.sheet_state = "hidden"
    workbook.active = 0

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _write_header(sheet: Worksheet) -> None:
    for index, column in enumerate(ROSTER_COLUMNS, start=1):
        cell = sheet.cell(row=_HEADER_ROW, column=index, value=header_text(column))
        cell.font = Font(bold=True, color="C00000" if column.required else "000000")
        cell.fill = _REQUIRED_FILL if column.required else _OPTIONAL_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center")
        if column.kind in ("date", "month", "id_number"):
            cell.comment = _comment(column.hint)
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.row_dimensions[_HEADER_ROW].height = 22
    sheet.freeze_panes = "A2"


def _comment(text: str) -> Comment:
    comment = Comment(text, "协会")
    comment.width = 320
    comment.height = 110
    return comment


def _format_text_columns(sheet: Worksheet) -> None:
    # Without the text format Excel stores an 18-digit ID as a float (1.1E+17, last digits lost) and
    # drops the leading zero of postcodes such as 010000.
    for index, column in enumerate(ROSTER_COLUMNS, start=1):
        if column.kind not in ("id_number", "mobile", "postal_code"):
            continue
        sheet.column_dimensions[get_column_letter(index)].number_format = "@"
        for row in range(_HEADER_ROW + 1, _HEADER_ROW + 1 + TEXT_FORMATTED_ROWS):
            sheet.cell(row=row, column=index).number_format = "@"


def _data_range(index: int) -> str:
    letter = get_column_letter(index)
    return f"{letter}{_HEADER_ROW + 1}:{letter}{_HEADER_ROW + DEFAULT_MAX_ROWS}"


def _add_dropdowns(roster_sheet: Worksheet, choices_sheet: Worksheet) -> None:
    choice_columns = [
        (index, column) for index, column in enumerate(ROSTER_COLUMNS, start=1) if column.choices
    ]
    for list_index, (index, column) in enumerate(choice_columns, start=1):
        list_letter = get_column_letter(list_index)
        for row, choice in enumerate(column.choices, start=1):
            choices_sheet.cell(row=row, column=list_index, value=choice)
        validation = DataValidation(
            type="list",
            formula1=f"'{CHOICES_SHEET_TITLE}'!${list_letter}$1:${list_letter}${len(column.choices)}",
            allow_blank=True,
            showErrorMessage=True,
            errorTitle=f"「{column.label}」填写有误",
            error="请从下拉列表中选择：" + "、".join(column.choices),
        )
        validation.add(_data_range(index))
        roster_sheet.add_data_validation(validation)

    id_index = next(
        index for index, column in enumerate(ROSTER_COLUMNS, start=1) if column.kind == "id_number"
    )
    id_length = DataValidation(
        type="textLength",
        operator="equal",
        formula1="18",
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="身份证号位数不对",
        error="身份证号应为 18 位（末位可以是 X）",
    )
    id_length.add(_data_range(id_index))
    roster_sheet.add_data_validation(id_length)


_GENERAL_INSTRUCTIONS = (
    "每行填写一人，从第 2 行开始；不要修改、删除或移动表头，也不要在表头上方插入行。",
    "表头标 * 且底色为橙色的列必须填写。",
    "请直接输入或「选择性粘贴 → 数值」，不要使用公式，含公式的单元格会被退回。",
    f"一个文件最多 {DEFAULT_MAX_ROWS} 人；同一文件中身份证号、手机号不能重复。",
    "已在平台注册过账号的人员会在导入结果中标出。",
    "照片在导入完成后另行上传。",
)


def _write_instructions(sheet: Worksheet) -> None:
    sheet["A1"] = "填写说明"
    sheet["A1"].font = Font(bold=True, size=14)
    row = 2
    for number, text in enumerate(_GENERAL_INSTRUCTIONS, start=1):
        sheet.cell(row=row, column=1, value=f"{number}. {text}")
        row += 1
    row += 1
    for index, title in enumerate(("列名", "是否必填", "填写要求"), start=1):
        cell = sheet.cell(row=row, column=index, value=title)
        cell.font = Font(bold=True)
        cell.fill = _OPTIONAL_FILL
    for column in ROSTER_COLUMNS:
        row += 1
        requirement = column.hint
        if column.choices:
            requirement = f"{requirement}（可选值：{'、'.join(column.choices)}）"
        sheet.cell(row=row, column=1, value=column.label)
        sheet.cell(row=row, column=2, value="必填" if column.required else "选填")
        sheet.cell(row=row, column=3, value=requirement).alignment = Alignment(wrap_text=True)
    sheet.column_dimensions["A"].width = 16
    sheet.column_dimensions["B"].width = 10
    sheet.column_dimensions["C"].width = 90


# --- parsing: the container --------------------------------------------------------------------------

_MAIN_NAMESPACES = (
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "http://purl.oclc.org/ooxml/spreadsheetml/main",  # "Strict Open XML", which Excel can save
)
_RELATIONSHIP_NAMESPACES = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
)
_PACKAGE_RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"


# ElementTree spells a namespaced tag "{namespace}name"; expat, given "}" as separator, "namespace}name".
_SHEET_TAGS = frozenset(f"{{{namespace}}}sheet" for namespace in _MAIN_NAMESPACES)


def _expat_names(*local_names: str) -> frozenset[str]:
    return frozenset(f"{namespace}}}{name}" for namespace in _MAIN_NAMESPACES for name in local_names)


_ROW_NAMES = _expat_names("row")
_CELL_NAMES = _expat_names("c")
_FORMULA_NAMES = _expat_names("f")


def _not_xlsx(data: bytes) -> RosterFileError:
    if data.startswith(_OLE_SIGNATURE):
        return RosterFileError(
            "not_xlsx",
            "这是旧版 Excel（.xls）或设置了打开密码的文件。请先取消密码，在 Excel 中「另存为」.xlsx 格式后再上传",
        )
    return RosterFileError(
        "not_xlsx", "文件不是有效的 Excel（.xlsx）文件，或已损坏。请下载导入模板填写后上传"
    )


def _too_complex() -> RosterFileError:
    return RosterFileError(
        "file_too_complex",
        "文件解压后过大或结构异常，无法读取。请把数据复制粘贴（仅数值）到新下载的导入模板中再上传",
    )


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _not_xlsx(data) from None
    names = set(archive.namelist())
    # A renamed .zip or .docx is a valid zip but not a workbook.
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise _not_xlsx(data)
    return archive


def _check_zip_budget(archive: zipfile.ZipFile) -> None:
    """Refuse zip bombs from the directory alone, before anything is inflated.

    The declared sizes can lie, but zipfile never inflates past a member's declared size (and fails on
    the CRC), and python-calamine's zip reader does the same, so the declared sizes bound the work.
    """
    members = archive.infolist()
    if len(members) > _MAX_ZIP_MEMBERS:
        raise _too_complex()
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_CHECK_FROM_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise _too_complex()
    if total > MAX_UNCOMPRESSED_BYTES:
        raise _too_complex()


@dataclass(frozen=True)
class _SheetLocation:
    name: str
    member: str


def _find_roster_sheet(archive: zipfile.ZipFile, data: bytes) -> _SheetLocation:
    """The sheet named 学员信息 if present, else the first sheet in workbook order (as Excel shows them)."""
    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        relationships = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError, zipfile.BadZipFile, OSError):
        raise _not_xlsx(data) from None
    targets = {
        relation.get("Id"): relation.get("Target", "")
        for relation in relationships.iter(_PACKAGE_RELATIONSHIPS)
    }
    sheets: list[_SheetLocation] = []
    for sheet in workbook.iter():
        if sheet.tag not in _SHEET_TAGS:
            continue
        relation_ids = (sheet.get(f"{{{namespace}}}id") for namespace in _RELATIONSHIP_NAMESPACES)
        target = targets.get(next((relation_id for relation_id in relation_ids if relation_id), None), "")
        if target:
            member = target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
            sheets.append(_SheetLocation(sheet.get("name", ""), member))
    chosen = next(
        (sheet for sheet in sheets if sheet.name == ROSTER_SHEET_TITLE), sheets[0] if sheets else None
    )
    if chosen is None or chosen.member not in archive.namelist():
        raise _not_xlsx(data)
    return chosen


# --- parsing: streaming passes over the sheet XML ---------------------------------------------------
#
# python-calamine returns a formula's cached value and reads the whole sheet into memory, so before it
# runs we stream the sheet's XML ourselves: once at regular-expression speed to count the rows that
# hold something (refusing too many as soon as the count passes the limit) and to see whether any
# formula might exist, and, only if one might, once more with expat to find each formula's cell.
#
# Why a pattern is safe here: in XML a raw "<" only ever starts markup, and a start tag is "<"
# followed at once by its (possibly prefixed) name, so the patterns below cannot miss a <row>, <v>,
# <is> or <f>. They can only over-count (such text inside a comment or CDATA section), which costs a
# needless exact pass or, in a crafted file, an earlier too_many_rows; never a missed formula.
# Measured on this 2-core box for a 10,000-row sheet: this pass 0.08 s; expat with handlers 0.4 s;
# ElementTree.iterparse (expat plus an element and a Python-level event per node) 0.9–1.0 s.

_QNAME_PREFIX = rb"(?:[A-Za-z_][\w.-]*:)?"
_ROW_START_TAG = re.compile(rb"<" + _QNAME_PREFIX + rb"row[\s>/]")
_CONTENT_START_TAG = re.compile(rb"<" + _QNAME_PREFIX + rb"(?:v|is|f)[\s>/]")
_FORMULA_START_TAG = re.compile(rb"<" + _QNAME_PREFIX + rb"f[\s>/]")
_READ_CHUNK_BYTES = 1024 * 1024
_MAX_TAG_BYTES = 1024 * 1024


def _too_many_rows(max_rows: int) -> RosterFileError:
    return RosterFileError("too_many_rows", f"一个文件最多导入 {max_rows} 人，请分成几个文件分别导入")


class _RowCounter:
    """Counts <row> elements holding a value, an inline string or a formula, across chunk boundaries.

    Formatting-only cells (the template pre-formats thousands) have none of these and do not count.
    The first row with content is the header (if it is not on row 1 the header check refuses the file).
    """

    def __init__(self, *, max_rows: int) -> None:
        self.max_rows = max_rows
        self.rows_with_content = 0
        self.open_row_has_content = False

    def feed(self, buffer: bytes, end: int) -> None:
        """Take buffer[:end], which must not end inside a tag."""
        position = 0
        for row_start in _ROW_START_TAG.finditer(buffer, 0, end):
            self._extend_open_row(buffer, position, row_start.start())
            self._close_row()
            position = row_start.end()
        self._extend_open_row(buffer, position, end)

    def finish(self) -> None:
        self._close_row()

    def _extend_open_row(self, buffer: bytes, start: int, end: int) -> None:
        if not self.open_row_has_content and _CONTENT_START_TAG.search(buffer, start, end):
            self.open_row_has_content = True

    def _close_row(self) -> None:
        if self.open_row_has_content:
            self.rows_with_content += 1
            if self.rows_with_content - _HEADER_ROW > self.max_rows:
                raise _too_many_rows(self.max_rows)  # stops reading here
        self.open_row_has_content = False


def _count_rows_and_look_for_formulas(stream: IO[bytes], *, max_rows: int) -> bool:
    """Raise too_many_rows as soon as there are more data rows than allowed; True if an <f> may exist."""
    counter = _RowCounter(max_rows=max_rows)
    formula_possible = False
    carry = b""
    while chunk := stream.read(_READ_CHUNK_BYTES):
        buffer = carry + chunk
        # Cut before the last "<" so that no tag spans two chunks; text without any "<" holds no tag.
        cut = buffer.rfind(b"<")
        if cut == -1:
            cut = len(buffer)
        elif cut == 0 and len(buffer) > _MAX_TAG_BYTES:
            raise _too_complex()  # one "tag" over a megabyte: no spreadsheet writes that
        counter.feed(buffer, cut)
        formula_possible = formula_possible or _FORMULA_START_TAG.search(buffer, 0, cut) is not None
        carry = buffer[cut:]
    tail = carry + b" "  # the closing space lets a final "<f>"-like fragment match the patterns
    counter.feed(tail, len(tail))
    counter.finish()
    return formula_possible or _FORMULA_START_TAG.search(tail) is not None


def _column_index(reference: str) -> int:
    """0-based column of a cell reference such as "AB12"."""
    index = 0
    for character in reference:
        if character.isdigit():
            break
        index = index * 26 + (ord(character.upper()) - ord("A") + 1)
    return index - 1


class _FormulaLocator:
    """Expat handlers noting the (row number, 0-based column) of every <f>, shared formulas included.

    Expat directly rather than ElementTree.iterparse, which runs on expat but also builds an element
    and yields a Python-level event for every node: 2–3× slower for the same answer.
    """

    def __init__(self) -> None:
        self.formula_cells: list[tuple[int, int]] = []
        self.row_number = 0
        # "r" is optional on rows and cells: without it a row or cell follows the previous one. The
        # column is only worked out when a formula turns up.
        self.last_cell_reference = ""
        self.cells_since_reference = 0

    def start(self, name: str, attributes: dict[str, str]) -> None:
        if name in _CELL_NAMES:
            reference = attributes.get("r")
            if reference:
                self.last_cell_reference = reference
                self.cells_since_reference = 0
            else:
                self.cells_since_reference += 1
        elif name in _FORMULA_NAMES:
            self.formula_cells.append((self.row_number, self._current_column()))
        elif name in _ROW_NAMES:
            reference = attributes.get("r", "")
            self.row_number = int(reference) if reference.isdigit() else self.row_number + 1
            self.last_cell_reference = ""
            self.cells_since_reference = 0

    def _current_column(self) -> int:
        start = _column_index(self.last_cell_reference) if self.last_cell_reference else -1
        return start + self.cells_since_reference


class _CorruptSheet(Exception):
    pass


def _refuse_doctype(*_arguments: object) -> None:
    # No spreadsheet part has a DTD; refusing one shuts out entity-expansion tricks altogether.
    raise _CorruptSheet


def _locate_formulas(stream: IO[bytes]) -> list[tuple[int, int]]:
    locator = _FormulaLocator()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartElementHandler = locator.start
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.ParseFile(stream)
    return locator.formula_cells


@dataclass(frozen=True)
class _SheetScan:
    formula_cells: tuple[tuple[int, int], ...]  # (Excel row number, 0-based column index)


def _scan_sheet(archive: zipfile.ZipFile, member: str, *, max_rows: int, data: bytes) -> _SheetScan:
    """Count data rows (too_many_rows past `max_rows`, without reading further) and find formula cells."""
    try:
        with archive.open(member) as stream:
            formula_possible = _count_rows_and_look_for_formulas(stream, max_rows=max_rows)
        if not formula_possible:
            return _SheetScan(())
        with archive.open(member) as stream:
            return _SheetScan(tuple(_locate_formulas(stream)))
    except (_CorruptSheet, expat.ExpatError, zipfile.BadZipFile, zlib.error, EOFError, OSError):
        raise _not_xlsx(data) from None


# --- parsing: cell values ----------------------------------------------------------------------------


def _read_values(data: bytes, sheet_name: str) -> list[list[object]]:
    try:
        workbook = python_calamine.CalamineWorkbook.from_object(io.BytesIO(data))
        sheet = workbook.get_sheet_by_name(sheet_name)
        # skip_empty_area=False keeps list index i = Excel row i + 1 and column j = column j + 1.
        return sheet.to_python(skip_empty_area=False)
    except python_calamine.CalamineError:
        raise _not_xlsx(data) from None


_HEADER_NOISE = re.compile(r"[\s*＊]+")


def _column_positions(header: Sequence[object]) -> dict[str, int]:
    """Template key → 0-based column index; raises header_mismatch naming missing and unknown columns.

    Columns may be in any order (people move them); every template label must be there exactly once
    and no unknown column may carry a header, so nothing a person typed is silently ignored.
    """
    key_by_label = {column.label: column.key for column in ROSTER_COLUMNS}
    positions: dict[str, int] = {}
    unknown: list[str] = []
    repeated: list[str] = []
    for index, value in enumerate(header):
        label = _HEADER_NOISE.sub("", _cell_text(value))
        if not label:
            continue
        key = key_by_label.get(label)
        if key is None:
            unknown.append(label)
        elif key in positions:
            repeated.append(label)
        else:
            positions[key] = index
    missing = [column.label for column in ROSTER_COLUMNS if column.key not in positions]
    if missing or unknown or repeated:
        problems = []
        if missing:
            problems.append("缺少列「" + "」「".join(missing) + "」")
        if unknown:
            problems.append("多出列「" + "」「".join(unknown) + "」")
        if repeated:
            problems.append("重复的列「" + "」「".join(repeated) + "」")
        raise RosterFileError(
            "header_mismatch",
            "表头与导入模板不一致：" + "；".join(problems) + "。请下载最新的导入模板，不要修改第 1 行表头",
        )
    return positions


def _cell_text(value: object) -> str:
    """A cell as trimmed text; whole numbers lose Excel's ".0" (a phone typed as a number is 1.38e10)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if value is None:
        return ""
    return str(value).strip()


def _trimmed(value: object) -> object:
    """A cell with surrounding whitespace (also U+3000 and no-break spaces) removed; None when blank."""
    if isinstance(value, str):
        return value.strip() or None
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- parsing: rules for one cell ---------------------------------------------------------------------

DatePrecision = Literal["day", "month"]
_EARLIEST_DATE = datetime.date(1900, 1, 1)
_DAY_PATTERN = re.compile(r"(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})")
_MONTH_PATTERN = re.compile(r"(\d{4})\s*[-/.]\s*(\d{1,2})")
_CHINESE_DATE_PATTERN = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月(?:\s*(\d{1,2})\s*日)?")
_EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_POSTAL_CODE_PATTERN = re.compile(r"\d{6}")
_FULL_WIDTH_TO_ASCII = str.maketrans(
    {chr(0xFF01 + offset): chr(0x21 + offset) for offset in range(94)} | {"\u3000": " ", "。": "."}
)


class _CellError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _parse_date(value: object, *, today: datetime.date) -> tuple[datetime.date, DatePrecision]:
    if isinstance(value, datetime.datetime):
        parsed, precision = value.date(), "day"
    elif isinstance(value, datetime.date):
        parsed, precision = value, "day"
    elif _is_number(value):
        parsed, precision = _date_from_number(float(value)), "month"  # type: ignore[arg-type]
    else:
        parsed, precision = _date_from_text(_cell_text(value).translate(_FULL_WIDTH_TO_ASCII))
    if parsed < _EARLIEST_DATE:
        raise _CellError("date_out_of_range", f"{parsed.isoformat()} 早于 1900 年")
    if parsed > today:
        raise _CellError("date_out_of_range", f"{parsed.isoformat()} 晚于今天")
    return parsed, precision


def _invalid_date(text: str) -> _CellError:
    return _CellError("invalid_date", f"无法识别日期「{text}」，请填写如 {_DATE_FORMATS_HINT}")


def _make_date(text: str, year: str, month: str, day: str | None) -> datetime.date:
    try:
        return datetime.date(int(year), int(month), int(day or 1))
    except ValueError:
        raise _invalid_date(text) from None


def _date_from_text(text: str) -> tuple[datetime.date, DatePrecision]:
    if match := _DAY_PATTERN.fullmatch(text):
        return _make_date(text, *match.groups()), "day"
    if match := _MONTH_PATTERN.fullmatch(text):
        return _make_date(text, match[1], match[2], None), "month"
    if match := _CHINESE_DATE_PATTERN.fullmatch(text):
        year, month, day = match.groups()
        return _make_date(text, year, month, day), "day" if day else "month"
    raise _invalid_date(text)


def _date_from_number(number: float) -> datetime.date:
    """Excel turns "1990.05" typed into a General cell into the number 1990.05: read it as a year-month.

    "1990.10" becomes 1990.1, the same number as "1990.1" (January to most people), so it is refused
    rather than guessed.
    """
    text = f"{number:g}"
    hundredths = round(number * 100)
    if abs(number * 100 - hundredths) > 1e-6 or not 1000 <= number < 10000 or number.is_integer():
        raise _invalid_date(text)
    year, month = divmod(hundredths, 100)
    if month == 10:
        raise _CellError(
            "invalid_date",
            f"「{text}」无法区分 1 月和 10 月（Excel 会把 {year}.10 存成 {year}.1），请改填 {year}-01 或 {year}-10",
        )
    if month % 10 == 0:  # "1990.2" typed as such: 1990.20 is not a month, so it means February
        month //= 10
    if not 1 <= month <= 12:
        raise _invalid_date(text)
    return datetime.date(year, month, 1)


def _parse_id_number(value: object, *, today: datetime.date) -> str:
    if _is_number(value):
        # Beyond 15 digits a float cannot hold the number: the last digits are already gone.
        raise _CellError(
            "id_number_not_text",
            "身份证号被 Excel 存成了数字（显示为 1.1E+17 之类），末几位已经丢失。"
            "请把这一列设置为「文本」格式后重新录入身份证号",
        )
    try:
        return normalise_id_number(_cell_text(value), today=today)
    except IdentifierError as error:
        raise _CellError(error.code, error.message) from None


def _parse_mobile(value: object) -> str:
    try:
        return normalise_mobile(_cell_text(value))
    except IdentifierError as error:
        raise _CellError(error.code, error.message) from None


def _parse_email(value: object) -> str:
    text = _cell_text(value).translate(_FULL_WIDTH_TO_ASCII).replace(" ", "")
    if len(text) > 254 or not _EMAIL_PATTERN.fullmatch(text):
        raise _CellError("invalid_email", f"邮箱格式错误：「{text}」")
    local, _at, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def _parse_postal_code(value: object) -> str:
    text = _cell_text(value).translate(_FULL_WIDTH_TO_ASCII)
    if _is_number(value) and text.isdigit() and len(text) < 6:
        text = text.zfill(6)  # a General cell drops the leading zero of 010000
    if not _POSTAL_CODE_PATTERN.fullmatch(text):
        raise _CellError("invalid_postal_code", f"邮编应为 6 位数字，当前为「{text}」")
    return text


def _parse_text(value: object, column: RosterColumn) -> str:
    text = _cell_text(value)
    if column.choices and text not in column.choices:
        if column.key == "id_type":
            raise _CellError(
                "unsupported_id_type",
                f"暂不支持「{text}」：平台目前只接受居民身份证，持其他证件的人员请联系协会单独办理",
            )
        raise _CellError(
            "invalid_choice", f"「{text}」不是可选值，请从下拉列表中选择：{'、'.join(column.choices)}"
        )
    if len(text) > column.max_length:
        raise _CellError("too_long", f"最多 {column.max_length} 个字，当前 {len(text)} 个字")
    return text


_CellParser = Callable[[object, RosterColumn, datetime.date], object]
# One parser per kind, looked up once per cell.
_CELL_PARSERS: dict[ColumnKind, _CellParser] = {
    "text": lambda value, column, today: _parse_text(value, column),
    "choice": lambda value, column, today: _parse_text(value, column),
    "id_number": lambda value, column, today: _parse_id_number(value, today=today),
    "mobile": lambda value, column, today: _parse_mobile(value),
    "email": lambda value, column, today: _parse_email(value),
    "date": lambda value, column, today: _parse_date(value, today=today),
    "month": lambda value, column, today: _parse_date(value, today=today),
    "postal_code": lambda value, column, today: _parse_postal_code(value),
}


# --- parsing: one row --------------------------------------------------------------------------------

_COLUMN_PARSERS = tuple((column, _CELL_PARSERS[column.kind]) for column in ROSTER_COLUMNS)
# Columns a person may leave empty although the form requires them: the value follows from another.
_DERIVED_WHEN_EMPTY = frozenset({"gender", "birth_date", "id_type"})


@dataclass
class _RowCheck:
    """The cells of one row while they are checked; `values` holds only cells that passed."""

    row_number: int
    values: dict[str, object] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)

    def fail(self, column: RosterColumn, code: str, detail: str) -> None:
        self.errors.append(
            RowError(
                self.row_number, column.label, code, f"第 {self.row_number} 行「{column.label}」：{detail}"
            )
        )


def _check_row(
    row_number: int,
    cells: dict[str, object],
    *,
    blank_keys: set[str],
    formula_keys: frozenset[str],
    today: datetime.date,
) -> _RowCheck:
    check = _RowCheck(row_number)
    for column, parser in _COLUMN_PARSERS:
        if column.key in formula_keys:
            check.fail(column, "formula_not_allowed", "单元格中含有公式，请复制后「选择性粘贴 → 数值」再导入")
        elif column.key in blank_keys:
            if column.required and column.key not in _DERIVED_WHEN_EMPTY:
                check.fail(column, "required", "必填，不能为空")
        else:
            try:
                check.values[column.key] = parser(cells[column.key], column, today)
            except _CellError as error:
                check.fail(column, error.code, error.detail)
    _check_against_id_number(check, blank_keys=blank_keys)
    _check_work_start(check)
    return check


def _check_against_id_number(check: _RowCheck, *, blank_keys: set[str]) -> None:
    """Gender and birth date follow from the ID number: fill them in when empty, refuse contradictions."""
    id_number = check.values.get("id_number")
    if not isinstance(id_number, str):
        return
    expected_gender = id_number_gender(id_number)
    given_gender = check.values.get("gender")
    if "gender" in blank_keys:
        check.values["gender"] = expected_gender
    elif isinstance(given_gender, str):
        if _GENDER_BY_LABEL[given_gender] != expected_gender:
            check.fail(
                _COLUMNS_BY_KEY["gender"],
                "gender_mismatch",
                f"填写为「{given_gender}」，但身份证号第 17 位表明是「{_LABEL_BY_GENDER[expected_gender]}」",
            )
        check.values["gender"] = _GENDER_BY_LABEL[given_gender]

    expected_birth = id_number_birth_date(id_number)
    given_birth = check.values.get("birth_date")
    if "birth_date" in blank_keys:
        check.values["birth_date"] = expected_birth
    elif isinstance(given_birth, tuple):
        given_date, precision = given_birth
        same = (
            given_date == expected_birth
            if precision == "day"
            else (given_date.year, given_date.month) == (expected_birth.year, expected_birth.month)
        )
        if not same:
            shown = given_date.isoformat() if precision == "day" else given_date.strftime("%Y-%m")
            check.fail(
                _COLUMNS_BY_KEY["birth_date"],
                "birth_date_mismatch",
                f"填写为 {shown}，与身份证号中的出生日期 {expected_birth.isoformat()} 不一致",
            )
        # The ID carries the full date even when the cell only has the year and month.
        check.values["birth_date"] = expected_birth


def _check_work_start(check: _RowCheck) -> None:
    work_start = check.values.get("work_start_date")
    if isinstance(work_start, tuple):
        month_start = work_start[0].replace(day=1)
        check.values["work_start_date"] = month_start
        birth = check.values.get("birth_date")
        if isinstance(birth, datetime.date) and month_start < birth.replace(day=1):
            check.fail(
                _COLUMNS_BY_KEY["work_start_date"],
                "work_start_before_birth",
                f"{month_start.strftime('%Y-%m')} 早于出生日期 {birth.isoformat()}",
            )


# What an empty optional column becomes in a RosterRow (all optional columns are text).
_EMPTY_OPTIONAL_VALUES: dict[str, object] = {
    column.key: "" for column in ROSTER_COLUMNS if not column.required
}


def _roster_row(check: _RowCheck) -> RosterRow:
    """Build the row from a check without errors: by then every required value is present and typed."""
    values = {**_EMPTY_OPTIONAL_VALUES, "id_type": RESIDENT_ID_CARD, **check.values}
    return RosterRow(row_number=check.row_number, **values)  # type: ignore[arg-type]


# --- parsing: the whole file -------------------------------------------------------------------------


def _china_today() -> datetime.date:
    return datetime.datetime.now(CHINA_TIME_ZONE).date()


def parse_roster(
    data: bytes, *, max_rows: int = DEFAULT_MAX_ROWS, today: datetime.date | None = None
) -> RosterParseResult:
    """Read a filled-in roster template and check every row.

    Returns the valid rows and every row error (blank rows are skipped silently). Raises
    `RosterFileError` when the file as a whole is unusable: `not_xlsx`, `file_too_complex` (zip bomb
    or oversized), `too_many_rows` (more than `max_rows` non-empty data rows; found without reading
    them all), `header_mismatch`, or `no_rows`. `today` is for tests; callers leave it out.
    """
    today = today or _china_today()
    archive = _open_zip(data)
    with archive:
        _check_zip_budget(archive)
        location = _find_roster_sheet(archive, data)
        scan = _scan_sheet(archive, location.member, max_rows=max_rows, data=data)
    table = _read_values(data, location.name)
    if not table:
        raise RosterFileError("header_mismatch", "第 1 行没有表头，请使用导入模板填写")
    positions = _column_positions(table[0])
    return _check_rows(table, positions, scan, today=today)


def _check_rows(
    table: list[list[object]], positions: dict[str, int], scan: _SheetScan, *, today: datetime.date
) -> RosterParseResult:
    formula_keys_by_row = _formula_keys_by_row(scan, positions)
    # A formula whose cached value is empty may sit below the last row calamine returns: pad the table
    # so that row is still reported.
    last_formula_row = max(formula_keys_by_row, default=0)
    table = table + [[] for _ in range(len(table), last_formula_row)]
    result = RosterParseResult()
    first_row_by_id: dict[str, int] = {}
    first_row_by_phone: dict[str, int] = {}
    has_data = False
    for index in range(_HEADER_ROW, len(table)):
        row_number = index + 1
        raw = table[index]
        width = len(raw)
        cells = {
            key: _trimmed(raw[position]) if position < width else None for key, position in positions.items()
        }
        formula_keys = formula_keys_by_row.get(row_number, frozenset())
        blank_keys = {key for key, value in cells.items() if value is None}
        if not formula_keys and len(blank_keys) == len(cells):
            continue
        has_data = True
        check = _check_row(row_number, cells, blank_keys=blank_keys, formula_keys=formula_keys, today=today)
        _check_duplicate(check, "id_number", first_row_by_id)
        _check_duplicate(check, "phone", first_row_by_phone)
        if check.errors:
            # Cross-column checks add their errors last; show a row's errors left to right.
            result.errors.extend(sorted(check.errors, key=lambda error: _LABEL_ORDER[error.column_label]))
        else:
            result.rows.append(_roster_row(check))
    if not has_data:
        raise RosterFileError("no_rows", "表格中没有填写任何人员，请从第 2 行开始填写")
    return result


def _formula_keys_by_row(scan: _SheetScan, positions: dict[str, int]) -> dict[int, frozenset[str]]:
    # Formulas outside the template's columns (or in the header) are harmless: they are never read.
    key_by_position = {position: key for key, position in positions.items()}
    keys: dict[int, set[str]] = {}
    for row_number, column in scan.formula_cells:
        key = key_by_position.get(column)
        if key is not None and row_number > _HEADER_ROW:
            keys.setdefault(row_number, set()).add(key)
    return {row_number: frozenset(row_keys) for row_number, row_keys in keys.items()}


def _check_duplicate(check: _RowCheck, key: str, first_rows: dict[str, int]) -> None:
    value = check.values.get(key)
    if not isinstance(value, str):
        return
    first_row = first_rows.setdefault(value, check.row_number)
    if first_row != check.row_number:
        check.fail(_COLUMNS_BY_KEY[key], "duplicate_in_file", f"与第 {first_row} 行重复")


def check_roster_values(
    values: dict[str, object], *, today: datetime.date | None = None
) -> RosterParseResult:
    """Check one person's values (keys of ROSTER_COLUMNS) by the same rules as an imported row.

    For the company's "add one person" form, so a person typed in and a person imported are held to
    exactly the same checks. The result has one row, or that row's errors (row number 1).
    """
    cells = {column.key: _trimmed(values.get(column.key, "")) for column in ROSTER_COLUMNS}
    blank_keys = {key for key, value in cells.items() if value in ("", None)}
    check = _check_row(
        1, cells, blank_keys=blank_keys, formula_keys=frozenset(), today=today or _china_today()
    )
    if check.errors:
        return RosterParseResult(errors=check.errors)
    return RosterParseResult(rows=[_roster_row(check)])
