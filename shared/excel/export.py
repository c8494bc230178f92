"""Excel exports: one sheet, a header row, values as they are (dates as dates, numbers as numbers)."""

from collections.abc import Iterable, Sequence
from io import BytesIO

from django.http import HttpResponse
from openpyxl import Workbook

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook_bytes(*, title: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xlsx_response(*, data: bytes, filename: str) -> HttpResponse:
    """An attachment download; `filename` is ASCII (Chinese names go in the sheet, not the header)."""
    response = HttpResponse(data, content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
