"""The printable 报名表 and 承诺书 (registration/printouts.py) and the PDF kernel (shared/pdf.py).

Real PDFs are rendered with WeasyPrint and read back with poppler (pdftotext, pdfimages, pdffonts,
pdfinfo; `infra/debian-packages.sh test` installs them), not pypdf, which cannot decode WeasyPrint's CJK
font encoding. No database.
"""

import dataclasses
import io
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.test import override_settings
from PIL import Image

from registration.printouts import (
    PrintedField,
    PrintedPledge,
    RegistrationPrintout,
    pledge_pdf,
    registration_form_pdf,
)
from shared.pdf import DataOnlyURLFetcher, PdfAssetRefused, image_data_uri, qr_svg_data_uri, render_pdf

# 䶮 is in CJK Extension A: a name character that fonts without Ext-A print as tofu.
PERSON = "王䶮"


def _jpeg(width: int = 295, height: int = 413) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _printout(**changes) -> RegistrationPrintout:
    printout = RegistrationPrintout(
        association_name="河南省建设教育协会",
        program_name="施工现场专业人员职业培训",
        session_name="2026年第3期",
        application_number="HN-2026-000123",
        status_label="审核通过",
        # 12:10 UTC is 20:10 in Asia/Shanghai (settings.TIME_ZONE), which the printout shows.
        submitted_at=datetime(2026, 11, 23, 12, 10, tzinfo=UTC),
        person_name=PERSON,
        gender_label="男",
        id_number="410105199001011234",
        phone="13800138000",
        employer="河南省第一建筑工程集团有限责任公司",
        fields=(PrintedField("报考岗位", "施工员（土建方向）"), PrintedField("最高学历", "本科")),
        documents=("身份证正面扫描件", "身份证反面扫描件", "学历证书"),
        pledges=(
            PrintedPledge(
                title="个人承诺书",
                version=1,
                text="本人承诺所填信息真实有效。\n\n如有虚假，本人愿承担一切责任。",
                accepted_at=datetime(2026, 11, 23, 12, 15, tzinfo=UTC),
                accepted_by=PERSON,
            ),
            PrintedPledge(
                title="诚信考试承诺书",
                version=2,
                text="本人承诺遵守考试纪律。",
                accepted_at=None,
                accepted_by="",
            ),
        ),
        photo=_jpeg(),
        photo_content_type="image/jpeg",
        decisions=(PrintedField("初审", "通过"), PrintedField("复审", "通过：资料齐全")),
        printed_at=datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
    )
    return dataclasses.replace(printout, **changes)


def _poppler(tool: str, pdf: bytes, *arguments: str, tmp_path: Path) -> str:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        [tool, *arguments, str(path), *(["-"] if tool == "pdftotext" else [])],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _text(pdf: bytes, tmp_path: Path, *, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return _poppler("pdftotext", pdf, "-layout", *pages, tmp_path=tmp_path)


def _images(pdf: bytes, tmp_path: Path) -> list[list[str]]:
    lines = _poppler("pdfimages", pdf, "-list", tmp_path=tmp_path).splitlines()
    return [line.split() for line in lines[2:]]  # two header lines


def _page_count(pdf: bytes, tmp_path: Path) -> int:
    info = _poppler("pdfinfo", pdf, tmp_path=tmp_path)
    return int(next(line.split()[1] for line in info.splitlines() if line.startswith("Pages:")))


def test_registration_form_prints_the_application_in_chinese(tmp_path):
    pdf = registration_form_pdf(_printout())

    assert pdf.startswith(b"%PDF-")
    text = _text(pdf, tmp_path)
    for expected in (
        "河南省建设教育协会",
        "施工现场专业人员职业培训报名表",
        "报名编号：HN-2026-000123",
        "期次/班次：2026年第3期",
        "状态：审核通过",
        "提交时间：2026-11-23 20:10",
        "打印时间：2026-11-24 09:00",
        "姓名",
        PERSON,
        "身份证号",
        "410105199001011234",
        "13800138000",
        "河南省第一建筑工程集团有限责任公司",
        "施工员（土建方向）",
        "身份证正面扫描件",
        "复审",
        "通过：资料齐全",
        f"已于 2026-11-23 20:15 由 {PERSON} 在线确认《个人承诺书》第 1 版",
        "《诚信考试承诺书》第 2 版尚未确认",
    ):
        assert expected in text, expected
    assert "第1页/共1页" in text.replace(" ", "")  # pdftotext drops the small footer's spaces
    # The footer repeats the number on every page.
    assert text.count("报名编号：HN-2026-000123") == 2


def test_registration_form_embeds_the_one_inch_photo_unchanged(tmp_path):
    pdf = registration_form_pdf(_printout())

    images = _images(pdf, tmp_path)
    assert len(images) == 1
    page, _number, kind, width, height, _color, _components, _bits, encoding = images[0][:9]
    x_ppi, y_ppi = images[0][12:14]  # after the two-column "object ID"
    # The JPEG is passed through, and 295×413 px fill 25×35 mm: 300 ppi.
    assert (page, kind, width, height, encoding, x_ppi, y_ppi) == (
        "1",
        "image",
        "295",
        "413",
        "jpeg",
        "300",
        "300",
    )


def test_registration_form_without_a_photo_prints_a_box_for_one(tmp_path):
    pdf = registration_form_pdf(_printout(photo=None, photo_content_type=""))

    assert _images(pdf, tmp_path) == []
    assert "照片" in _text(pdf, tmp_path)


def test_registration_form_with_nothing_reviewed_or_submitted(tmp_path):
    printout = _printout(
        session_name="", submitted_at=None, documents=(), decisions=(), pledges=(), fields=()
    )

    text = _text(registration_form_pdf(printout), tmp_path)

    assert "提交时间：未提交" in text
    assert "尚未审核" in text
    assert "期次/班次" not in text and "承诺书" not in text and "报名信息" not in text


def test_text_uses_the_embedded_noto_cjk_font_not_tofu(tmp_path):
    fonts = _poppler("pdffonts", registration_form_pdf(_printout()), tmp_path=tmp_path).splitlines()[2:]

    names = {line.split()[0].split("+", 1)[1] for line in fonts}
    assert names == {"Noto-Sans-CJK-SC", "Noto-Sans-CJK-SC-Bold"}
    # Embedded and subset, with a ToUnicode map (columns emb, sub, uni).
    assert all(line.split()[-5:-2] == ["yes", "yes", "yes"] for line in fonts)


def test_pledge_pdf_prints_each_pledge_on_its_own_page_to_be_signed(tmp_path):
    pdf = pledge_pdf(_printout())

    assert pdf.startswith(b"%PDF-")
    assert _page_count(pdf, tmp_path) == 2
    first, second = _text(pdf, tmp_path, page=1), _text(pdf, tmp_path, page=2)
    assert "个人承诺书" in first and "诚信考试承诺书" not in first
    assert "本人承诺所填信息真实有效。" in first and "如有虚假，本人愿承担一切责任。" in first
    assert f"已于 2026-11-23 20:15 由 {PERSON} 在线确认《个人承诺书》第 1 版" in first
    assert "诚信考试承诺书" in second and "本人承诺遵守考试纪律。" in second
    assert "《诚信考试承诺书》第 2 版尚未确认" in second
    for page_text, number in ((first, 1), (second, 2)):
        assert "承诺人（签字）：" in page_text
        assert "日期：" in page_text and "年" in page_text and "月" in page_text and "日" in page_text
        assert "报名编号：HN-2026-000123" in page_text
        assert f"第{number}页/共2页" in page_text.replace(" ", "")


def test_pledge_pdf_refuses_a_printout_without_pledges():
    with pytest.raises(ValueError, match="HN-2026-000123 has no pledges"):
        pledge_pdf(_printout(pledges=()))


def test_rendering_is_deterministic():
    assert registration_form_pdf(_printout()) == registration_form_pdf(_printout())


def test_user_values_are_printed_as_text_and_nothing_is_fetched(tmp_path, monkeypatch):
    requested: list[str] = []
    fetch = DataOnlyURLFetcher.fetch

    def recording_fetch(self, url, headers=None):
        requested.append(url)
        return fetch(self, url, headers)

    monkeypatch.setattr(DataOnlyURLFetcher, "fetch", recording_fetch)
    printout = _printout(
        person_name="<script>alert(1)</script>",
        employer='<img src="http://example.com/x.png">',
        fields=(PrintedField("<b>备注</b>", '<style>@import "http://example.com/a.css";</style>&lt;'),),
    )

    pdf = registration_form_pdf(printout)

    text = _text(pdf, tmp_path)
    assert "<script>alert(1)</script>" in text
    assert '<img src="http://example.com/x.png">' in text
    assert "<b>备注</b>" in text
    assert '<style>@import "http://example.com/a.css";</style>&lt;' in text
    assert len(_images(pdf, tmp_path)) == 1  # the photo only
    assert [url[:23] for url in requested] == ["data:image/jpeg;base64,"]


TEMPLATES_WITH = {
    "remote image": '<img src="http://example.com/x.png">',
    "remote stylesheet": '<link rel="stylesheet" href="https://example.com/print.css">',
    "css import": '<style>@import url("http://example.com/a.css");</style>',
    "css background": '<div style="background: url(http://example.com/bg.png)">x</div>',
    "remote font": "<style>@font-face { font-family: x; src: url(http://example.com/x.woff2) }</style>",
    "local file": '<img src="file:///etc/hostname">',
    "relative path": '<img src="static/logo.png">',
    "absolute path": '<img src="/etc/hostname">',
}


@pytest.mark.parametrize("markup", TEMPLATES_WITH.values(), ids=TEMPLATES_WITH.keys())
def test_render_pdf_refuses_anything_but_data_uris(markup, monkeypatch):
    connections: list[object] = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: connections.append(address))
    with _templates({"remote.html": f"<html><body>{markup}<p>正文</p></body></html>"}):
        with pytest.raises(PdfAssetRefused, match="only embed data: URIs"):
            render_pdf(template_name="remote.html", context={})
    assert connections == []


def test_the_fetcher_serves_data_uris_and_refuses_other_urls():
    fetcher = DataOnlyURLFetcher()

    response = fetcher(image_data_uri(b"\x89PNG-bytes", "image/png"))

    assert (response.read(), response.content_type) == (b"\x89PNG-bytes", "image/png")
    for url in ("http://example.com/x.png", "HTTPS://example.com/x", "file:///etc/passwd", "ftp://x/y"):
        with pytest.raises(PdfAssetRefused):
            fetcher(url)


@pytest.mark.parametrize("content_type", ["text/html", "image/png;charset=x", "image/png,evil", "", "IMAGE"])
def test_image_data_uri_refuses_what_is_not_an_image_type(content_type):
    with pytest.raises(ValueError, match="not an image content type"):
        image_data_uri(b"x", content_type)


def test_qr_code_renders_and_decodes(tmp_path):
    url = "https://henan.example.cn/verify/HN-2026-000123?k=Zx81"
    with _templates({"qr.html": '<html><body><img src="{{ qr }}" style="width: 30mm"></body></html>'}):
        pdf = render_pdf(template_name="qr.html", context={"qr": qr_svg_data_uri(url)})

    (tmp_path / "qr.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", "qr.pdf", "qr"], cwd=tmp_path, check=True)
    decoded = subprocess.run(
        ["zbarimg", "-q", "--raw", "qr.png"], cwd=tmp_path, check=True, capture_output=True, text=True
    )
    assert qr_svg_data_uri(url).startswith("data:image/svg+xml;charset=utf-8,")
    assert decoded.stdout.strip() == url


def _templates(templates: dict[str, str]):
    return override_settings(
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader", templates)]},
            }
        ]
    )
