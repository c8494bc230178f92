"""Checks of one upload against its DocumentSpec: every problem code, its Chinese message, and their order.

Pure: images, PNG headers and PDFs are built in memory; no database. The image builders here are also
used by test_photo_zip.py.
"""

import hashlib
import io
import struct
import zlib

import pytest
from PIL import Image, ImageDraw

from shared.documents.checks import CheckedUpload, UploadProblem, check_upload
from tenant_configs.schema import DocumentFormat, DocumentSpec

WHITE = (255, 255, 255)
BLUE_BACKDROP = (67, 142, 219)  # the light blue of a typical ID-photo backdrop
SKIN = (226, 182, 150)
JACKET = (40, 60, 120)


def photo_spec(**changes: object) -> DocumentSpec:
    """The 1-inch photo slot: JPG only, 295×413, at most 150 KB, colour on white."""
    fields: dict[str, object] = {
        "key": "photo",
        "label": "证件照",
        "formats": (DocumentFormat.JPG,),
        "allowed_pixel_sizes": ((295, 413),),
        "max_kb": 150,
        "white_background": True,
        "color_required": True,
    }
    fields.update(changes)
    return DocumentSpec(**fields)


def portrait(
    size: tuple[int, int] = (295, 413), *, background: tuple[int, ...] = WHITE, mode: str = "RGB"
) -> Image.Image:
    """A head and shoulders; the shoulders fill the bottom quarter edge to edge, as in a real ID photo.

    A four-value `background` gives an RGBA image (for transparency)."""
    width, height = size
    image = Image.new("RGBA" if len(background) == 4 else "RGB", size, background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.3, height * 0.15, width * 0.7, height * 0.6), fill=SKIN)
    draw.rectangle((0, height * 0.75, width, height), fill=JACKET)
    return image.convert(mode) if mode != "RGB" else image


def encode(image: Image.Image, image_format: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def photo_jpeg(size: tuple[int, int] = (295, 413), **changes: object) -> bytes:
    """A 295×413 colour portrait on white, as JPEG: passes `photo_spec()`."""
    return encode(portrait(size, **changes), "JPEG", quality=90)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG of a few bytes whose header claims `width`×`height` (a decompression bomb's header)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def minimal_pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
        b"2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n"
        b"trailer <</Root 1 0 R>>\n%%EOF\n"
    )


def problem_of(data: bytes, filename: str = "photo.jpg", spec: DocumentSpec | None = None) -> tuple[str, str]:
    with pytest.raises(UploadProblem) as caught:
        check_upload(data=data, filename=filename, spec=spec or photo_spec())
    return caught.value.code, caught.value.message


# ---------------------------------------------------------------------------------------------------------
# accepted uploads
# ---------------------------------------------------------------------------------------------------------


def test_a_colour_portrait_on_white_of_the_right_size_is_accepted() -> None:
    data = photo_jpeg()

    checked = check_upload(data=data, filename="张三.jpg", spec=photo_spec())

    assert checked == CheckedUpload(
        format=DocumentFormat.JPG,
        width=295,
        height=413,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        extension=".jpg",
    )


@pytest.mark.parametrize("filename", ["a.JPG", "a.jpeg", "a.Jpeg", "a.jfif", "no-extension", "dir\\a.jpg"])
def test_any_name_for_jpeg_content_gives_the_canonical_extension(filename: str) -> None:
    checked = check_upload(data=photo_jpeg(), filename=filename, spec=photo_spec())

    assert checked.extension == ".jpg"


def test_another_allowed_pixel_size_is_accepted() -> None:
    spec = photo_spec(allowed_pixel_sizes=((295, 413), (658, 926)))

    checked = check_upload(data=photo_jpeg((658, 926)), filename="a.jpg", spec=spec)

    assert (checked.width, checked.height) == (658, 926)


def test_a_large_scan_is_measured_on_a_reduced_copy_and_accepted() -> None:
    # 2400×3360 is reduced 6× for sampling; the 8-pixel frame shrinks with it.
    spec = photo_spec(allowed_pixel_sizes=(), min_width=1000, max_kb=2048)

    checked = check_upload(data=photo_jpeg((2400, 3360)), filename="a.jpg", spec=spec)

    assert (checked.width, checked.height) == (2400, 3360)


def test_a_palette_png_in_colour_on_white_is_accepted() -> None:
    spec = photo_spec(formats=(DocumentFormat.PNG,))
    data = encode(portrait().convert("P", palette=Image.Palette.ADAPTIVE), "PNG")

    checked = check_upload(data=data, filename="a.png", spec=spec)

    assert (checked.format, checked.extension) == (DocumentFormat.PNG, ".png")


def test_a_cmyk_jpeg_in_colour_on_white_is_accepted() -> None:
    data = encode(portrait(mode="CMYK"), "JPEG", quality=90)

    checked = check_upload(data=data, filename="a.jpg", spec=photo_spec())

    assert checked.format == DocumentFormat.JPG


def test_a_transparent_background_counts_as_white_as_it_prints_white() -> None:
    image = portrait(background=(0, 0, 0, 0))  # transparent black: black if the alpha were ignored
    spec = photo_spec(formats=(DocumentFormat.PNG,))

    checked = check_upload(data=encode(image, "PNG"), filename="a.png", spec=spec)

    assert checked.format == DocumentFormat.PNG


def test_a_pdf_is_accepted_without_pixel_checks_when_the_spec_allows_it() -> None:
    data = minimal_pdf()
    spec = photo_spec(formats=(DocumentFormat.JPG, DocumentFormat.PDF))

    checked = check_upload(data=data, filename="scan.PDF", spec=spec)

    assert checked == CheckedUpload(
        format=DocumentFormat.PDF,
        width=None,
        height=None,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        extension=".pdf",
    )


def test_a_grey_image_on_any_background_passes_when_neither_rule_is_set() -> None:
    spec = photo_spec(white_background=False, color_required=False)

    checked = check_upload(data=photo_jpeg(background=BLUE_BACKDROP, mode="L"), filename="a.jpg", spec=spec)

    assert checked.width == 295


def test_the_size_limit_itself_is_allowed() -> None:
    data = photo_jpeg()
    padded = data + b"\x00" * (150 * 1024 - len(data))  # JPEG decoders ignore bytes after the end marker

    checked = check_upload(data=padded, filename="a.jpg", spec=photo_spec())

    assert checked.size_bytes == 150 * 1024


# ---------------------------------------------------------------------------------------------------------
# refused uploads, one per code
# ---------------------------------------------------------------------------------------------------------


def test_an_empty_file_is_refused() -> None:
    assert problem_of(b"") == ("file_empty", "文件是空的（0 字节），请重新选择文件")


def test_a_file_over_the_size_limit_is_refused_with_both_sizes() -> None:
    assert problem_of(b"\xff\xd8\xff" + b"\x00" * (180 * 1024 - 3)) == (
        "file_too_large",
        "文件大小 180 KB 超过上限 150 KB",
    )


def test_one_byte_over_the_limit_reads_as_the_next_kilobyte() -> None:
    assert problem_of(b"\x00" * (150 * 1024 + 1)) == ("file_too_large", "文件大小 151 KB 超过上限 150 KB")


def test_a_png_where_only_jpg_is_allowed_is_refused_by_content() -> None:
    data = encode(portrait(), "PNG")

    assert problem_of(data, "photo.jpg") == ("format_not_allowed", "文件内容是 PNG 图片，只允许上传 JPG 文件")


def test_a_png_renamed_jpg_is_refused_when_both_formats_are_allowed() -> None:
    spec = photo_spec(formats=(DocumentFormat.JPG, DocumentFormat.PNG))
    data = encode(portrait(), "PNG")

    assert problem_of(data, "photo.jpg", spec) == ("format_mismatch", "文件内容是 PNG 图片，但扩展名为 .jpg")


def test_a_jpeg_renamed_png_is_refused() -> None:
    spec = photo_spec(formats=(DocumentFormat.JPG, DocumentFormat.PNG))

    assert problem_of(photo_jpeg(), "photo.PNG", spec) == (
        "format_mismatch",
        "文件内容是 JPG 图片，但扩展名为 .png",
    )


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64, "文件内容是 HEIC 图片（苹果手机默认格式）"),
        (b"GIF89a" + b"\x00" * 64, "文件内容是 GIF 图片"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 64, "文件内容是 WebP 图片"),
        (b"PK\x03\x04" + b"\x00" * 64, "文件内容是 ZIP 压缩包或 Office 文档"),
        (minimal_pdf(), "文件内容是 PDF 文档"),
        (b"just some text", "无法识别文件类型"),
    ],
)
def test_content_of_another_kind_is_named_in_the_refusal(data: bytes, found: str) -> None:
    assert problem_of(data, "photo.jpg") == ("format_not_allowed", f"{found}，只允许上传 JPG 文件")


def test_the_refusal_lists_every_allowed_format() -> None:
    spec = photo_spec(formats=(DocumentFormat.PNG, DocumentFormat.PDF))

    assert problem_of(b"GIF89a", "a.gif", spec) == (
        "format_not_allowed",
        "文件内容是 GIF 图片，只允许上传 PNG、PDF 文件",
    )


def test_a_truncated_jpeg_is_unreadable() -> None:
    data = photo_jpeg()

    assert problem_of(data[: len(data) // 2]) == (
        "image_unreadable",
        "图片无法读取，文件可能已损坏或不完整，请重新导出后上传",
    )


def test_a_pdf_without_its_end_marker_is_refused() -> None:
    spec = photo_spec(
        formats=(DocumentFormat.PDF,), allowed_pixel_sizes=(), white_background=False, color_required=False
    )
    truncated = minimal_pdf().replace(b"%%EOF", b"")

    assert problem_of(truncated, "scan.pdf", spec)[0] == "pdf_unreadable"


@pytest.mark.parametrize(
    ("width", "height", "shown"),
    [
        (8000, 6000, "（8000×6000）"),  # over our 40 MP cap, under Pillow's global: refused by our check
        (10000, 10000, ""),  # over Pillow's warning threshold: the warning is turned into the refusal
        (30000, 30000, ""),  # over twice Pillow's threshold: Pillow's own DecompressionBombError
    ],
)
def test_a_png_header_claiming_huge_dimensions_is_refused_before_decoding(
    width: int, height: int, shown: str
) -> None:
    spec = photo_spec(formats=(DocumentFormat.PNG,))

    assert problem_of(png_header_only(width, height), "bomb.png", spec) == (
        "image_too_many_pixels",
        f"图片像素过多{shown}，最多 4000 万像素，请缩小后上传",
    )


def test_the_pixel_cap_does_not_depend_on_pillows_global(monkeypatch: pytest.MonkeyPatch) -> None:
    # Other code switching Pillow's own limit off must not let a bomb through.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    spec = photo_spec(formats=(DocumentFormat.PNG,))

    assert problem_of(png_header_only(8000, 6000), "bomb.png", spec)[0] == "image_too_many_pixels"


def test_a_wrong_pixel_size_is_refused_with_all_allowed_sizes() -> None:
    spec = photo_spec(allowed_pixel_sizes=((295, 413), (658, 926)))

    assert problem_of(photo_jpeg((300, 400)), spec=spec) == (
        "pixel_size_not_allowed",
        "图片尺寸应为 295×413 或 658×926 像素，上传的是 300×400",
    )


def test_three_allowed_sizes_read_as_a_list() -> None:
    spec = photo_spec(allowed_pixel_sizes=((295, 413), (390, 567), (658, 926)))

    assert problem_of(photo_jpeg((413, 295)), spec=spec) == (
        "pixel_size_not_allowed",
        "图片尺寸应为 295×413、390×567 或 658×926 像素，上传的是 413×295",
    )


def test_an_image_below_the_minimum_is_refused_naming_the_short_side() -> None:
    spec = photo_spec(allowed_pixel_sizes=(), min_width=300, min_height=400)

    assert problem_of(photo_jpeg((295, 413)), spec=spec) == (
        "image_too_small",
        "图片宽度至少 300 像素，上传的是 295×413",
    )


def test_an_image_above_the_maximum_is_refused_naming_both_sides() -> None:
    spec = photo_spec(allowed_pixel_sizes=(), max_width=200, max_height=300)

    assert problem_of(photo_jpeg((295, 413)), spec=spec) == (
        "image_too_large",
        "图片宽度最多 200 像素、高度最多 300 像素，上传的是 295×413",
    )


def test_a_greyscale_jpeg_is_refused_when_colour_is_required() -> None:
    assert problem_of(photo_jpeg(mode="L")) == ("image_not_color", "照片须为彩色，上传的是黑白（灰度）图片")


def test_a_grey_photo_saved_as_rgb_is_refused_when_colour_is_required() -> None:
    grey_as_rgb = portrait().convert("L").convert("RGB")

    assert problem_of(encode(grey_as_rgb, "JPEG", quality=90)) == (
        "image_not_color",
        "照片须为彩色，上传的图片看起来是黑白（灰度）的",
    )


def test_a_16_bit_greyscale_png_is_not_colour() -> None:
    spec = photo_spec(formats=(DocumentFormat.PNG,))
    data = encode(Image.new("I;16", (295, 413), 60000), "PNG")

    assert problem_of(data, "a.png", spec)[0] == "image_not_color"


def test_a_dark_16_bit_greyscale_png_is_not_white_although_its_values_exceed_255() -> None:
    spec = photo_spec(formats=(DocumentFormat.PNG,), color_required=False)
    data = encode(Image.new("I;16", (295, 413), 1000), "PNG")  # 1000 of 65535: nearly black

    assert problem_of(data, "a.png", spec) == (
        "background_not_white",
        "照片背景须为白色：边缘只有 0% 接近白色（至少应为 90%）",
    )


def test_a_blue_backdrop_is_refused_when_white_is_required() -> None:
    assert problem_of(photo_jpeg(background=BLUE_BACKDROP)) == (
        "background_not_white",
        "照片背景须为白色：边缘只有 0% 接近白色（至少应为 90%）",
    )


def test_a_mostly_white_frame_below_the_threshold_is_refused_with_its_share() -> None:
    image = portrait()
    # A dark edge 3 px wide down the whole left side: of the sampled frame (top 295×8 plus two sides of
    # 8×240), 3×8 + 3×240 = 744 of 6200 pixels are dark: 88% near white.
    ImageDraw.Draw(image).rectangle((0, 0, 2, 413), fill=(30, 30, 30))

    assert problem_of(encode(image, "PNG"), "a.png", photo_spec(formats=(DocumentFormat.PNG,))) == (
        "background_not_white",
        "照片背景须为白色：边缘只有 88% 接近白色（至少应为 90%）",
    )


def test_a_little_hair_at_the_edge_is_tolerated() -> None:
    image = portrait()
    ImageDraw.Draw(image).rectangle((100, 0, 180, 4), fill=(20, 15, 10))  # hair touching the top edge
    spec = photo_spec(formats=(DocumentFormat.PNG,))

    assert check_upload(data=encode(image, "PNG"), filename="a.png", spec=spec).width == 295


# ---------------------------------------------------------------------------------------------------------
# the order: the first problem a person can act on is reported
# ---------------------------------------------------------------------------------------------------------


def test_size_is_reported_before_format() -> None:
    assert problem_of(b"GIF89a" + b"\x00" * (200 * 1024))[0] == "file_too_large"


def test_a_format_mismatch_is_reported_before_pixel_size() -> None:
    spec = photo_spec(formats=(DocumentFormat.JPG, DocumentFormat.PNG))

    assert problem_of(encode(portrait((10, 10)), "PNG"), "a.jpg", spec)[0] == "format_mismatch"


def test_pixel_size_is_reported_before_colour_and_background() -> None:
    grey_on_blue = photo_jpeg((300, 400), background=BLUE_BACKDROP, mode="L")

    assert problem_of(grey_on_blue)[0] == "pixel_size_not_allowed"


def test_colour_is_reported_before_background() -> None:
    assert problem_of(photo_jpeg(background=BLUE_BACKDROP, mode="L"))[0] == "image_not_color"


def test_rendering_pdfs_does_not_let_truncated_uploads_through():
    """WeasyPrint flips Pillow's LOAD_TRUNCATED_IMAGES on import; shared.pdf puts it back."""
    from PIL import ImageFile

    import shared.pdf  # noqa: F401

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    data = photo_jpeg()
    assert problem_of(data[: len(data) // 2])[0] == "image_unreadable"
