"""PDF rendering: a Django template, rendered to HTML and laid out by WeasyPrint with the Noto CJK fonts.

Printouts (报名表, 承诺书, later 准考证 and 合格证) are ordinary templates with print CSS; they extend
`pdf/base.html`, which sets A4, the CJK font stack and the page numbers.

Rendering never touches the network or the file system: the URL fetcher accepts only `data:` URIs, so a
photo or QR code must be embedded (`image_data_uri`, `qr_svg_data_uri`), and a template that asks for any
other URL fails to render instead of silently missing a picture. The output depends only on the context:
nothing here adds a timestamp (WeasyPrint writes no creation date and no file identifier unless asked), so
the same context gives the same bytes.

A first render in a process costs 1–2 s (fontconfig loads the CJK fonts); one `FontConfiguration` is kept
per process so later renders take a few hundred milliseconds. Render in a Celery task, not in a
request, when there are many (research/ecosystem.md §1).
"""

from __future__ import annotations

import base64
import functools
import re

import segno
from django.template.loader import render_to_string
from PIL import ImageFile
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher

# Importing WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES = True, which would let a truncated
# upload pass `shared.documents.checks` in any process that ever rendered a PDF. Our PDFs embed only images
# that passed those checks, so truncated images are never needed here: put the safe default back.
ImageFile.LOAD_TRUNCATED_IMAGES = False

# Relative URLs ("/static/logo.png") resolve against this and are then refused like any other URL; without a
# base URL WeasyPrint would only log an error and leave the image out. `.invalid` is a reserved domain.
_BASE_URL = "https://pdf.invalid/"
_IMAGE_TYPE = re.compile(r"image/[a-z0-9][a-z0-9.+-]*")

__all__ = ["DataOnlyURLFetcher", "PdfAssetRefused", "image_data_uri", "qr_svg_data_uri", "render_pdf"]


class PdfAssetRefused(ValueError):
    """A template asked for a resource by a URL other than a `data:` URI."""


class DataOnlyURLFetcher(URLFetcher):
    """Serves `data:` URIs and refuses every other URL (http, https, file, ftp, ...)."""

    def __init__(self) -> None:
        # fail_on_errors: WeasyPrint would otherwise log a warning and leave the image out.
        super().__init__(allowed_protocols=("data",), allow_redirects=False, fail_on_errors=True)

    def fetch(self, url, headers=None):
        if not url.lower().startswith("data:"):
            raise PdfAssetRefused(f"PDF templates may only embed data: URIs, not {url[:200]!r}")
        return super().fetch(url, headers)


@functools.cache
def _font_configuration() -> FontConfiguration:
    return FontConfiguration()


def render_pdf(*, template_name: str, context: dict) -> bytes:
    """Render `template_name` with `context` (autoescaped, like any Django template) to PDF bytes.

    Raises `PdfAssetRefused` when the template refers to anything but a `data:` URI.
    """
    html = render_to_string(template_name, context)
    document = HTML(string=html, base_url=_BASE_URL, url_fetcher=DataOnlyURLFetcher())
    try:
        return document.write_pdf(font_config=_font_configuration())
    except FatalURLFetchingError as error:
        raise PdfAssetRefused(str(error.__cause__ or error)) from error


def image_data_uri(data: bytes, content_type: str) -> str:
    """A `data:` URI for an image to embed in a PDF template (`<img src="{{ uri }}">`).

    Raises ValueError when `content_type` is not a plain image type (it becomes part of the URI).
    """
    if not _IMAGE_TYPE.fullmatch(content_type):
        raise ValueError(f"not an image content type: {content_type[:100]!r}")
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def qr_svg_data_uri(text: str) -> str:
    """A QR code for `text` as an SVG `data:` URI (vector, so it stays sharp at any print size).

    Error level M, not boosted, so the symbol size depends only on the length of `text`.
    """
    return segno.make(text, error="m", boost_error=False).svg_data_uri(scale=4, border=2)
