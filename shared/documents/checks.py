"""Check one uploaded file against the `DocumentSpec` of its slot: size, real format, pixels, colour, background.

Pure: bytes and a spec in, a `CheckedUpload` or the first `UploadProblem` out. No Django, no database, no
files written, so forms, APIs, zip imports and benchmarks share one rule and tests need no setup.

The checks run in the order a person can act on them, cheapest first, and stop at the first problem:
empty → file size → format (from the content's magic bytes, never from the name) → extension agrees with
the content → decode (with a pixel cap, before any pixel is decoded) → pixel size → colour → white
background. Each image is decoded once; colour and background are measured on a reduced copy.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import PurePosixPath

from PIL import Image, ImageChops, UnidentifiedImageError

from shared.errors import CodedError
from tenant_configs.schema import DocumentFormat, DocumentSpec

# An image above this many pixels is refused from its header, before decoding. A 1-inch photo has 0.12 MP
# and a phone photo 12–50 MP uncompressed in memory at 3 bytes a pixel, so 40 MP (~120 MB decoded) admits
# any real scan or photo while a 109 KB PNG claiming 30000×30000 never reaches the decoder. Our own cap,
# not `Image.MAX_IMAGE_PIXELS`: a global that other code may change.
MAX_IMAGE_PIXELS = 40_000_000

# Colour and background are measured on a copy reduced by an integer factor until its longer side is at
# most this long: plenty of pixels for a share, and cheap for a 40 MP scan.
SAMPLE_LONGEST_SIDE = 512

# White background: the frame sampled is this many pixels wide (of the original image) along the top,
# and along the left and right edges down to this share of the height. The bottom and the lower sides are
# left out because in a portrait they are the person's shoulders, not the background.
BACKGROUND_FRAME_PIXELS = 8
BACKGROUND_SIDE_HEIGHT_SHARE = 0.6
# A pixel is near white when each of its channels is at least this (0–255): JPEG noise and a slightly
# grey studio backdrop pass, a light-blue ID-photo backdrop (~ 67, 142, 219) does not.
NEAR_WHITE_MIN_CHANNEL = 220
# Share of the sampled frame that must be near white; the rest allows for hair or a shoulder at the edge.
WHITE_FRAME_MIN_SHARE = 0.90

# A pixel is coloured when its channels differ by at least this (max − min, 0–255): JPEG chroma noise in a
# greyscale photo saved as RGB stays well below it, skin tones (~ 225, 180, 150) are far above.
COLOUR_MIN_CHANNEL_SPREAD = 24
# Share of sampled pixels that must be coloured: a face is far more than this even on a white background.
COLOUR_MIN_PIXEL_SHARE = 0.01

# PDF readers look for %%EOF within the last 1024 bytes (Acrobat's implementation note); a download or
# export cut short lacks it.
PDF_EOF_WINDOW = 1024

_GREYSCALE_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
# Modes `Image.reduce` supports; others ("P", "1", "I;16") are converted to RGB(A) first.
_REDUCIBLE_MODES = frozenset({"RGB", "RGBA", "L", "LA", "CMYK"})

_LABELS = {DocumentFormat.JPG: "JPG", DocumentFormat.PNG: "PNG", DocumentFormat.PDF: "PDF"}
_KINDS = {DocumentFormat.JPG: "JPG 图片", DocumentFormat.PNG: "PNG 图片", DocumentFormat.PDF: "PDF 文档"}
CANONICAL_EXTENSIONS = {DocumentFormat.JPG: ".jpg", DocumentFormat.PNG: ".png", DocumentFormat.PDF: ".pdf"}
# Extensions that name the same content. Windows 10 saves web images as .jfif, which is a JPEG.
_EXTENSIONS = {
    DocumentFormat.JPG: frozenset({".jpg", ".jpeg", ".jpe", ".jfif"}),
    DocumentFormat.PNG: frozenset({".png"}),
    DocumentFormat.PDF: frozenset({".pdf"}),
}
_PILLOW_FORMATS = {DocumentFormat.JPG: "JPEG", DocumentFormat.PNG: "PNG"}

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PDF_MAGIC = b"%PDF-"
# Formats never allowed but common enough to name, so the message says what the file is (an iPhone's
# HEIC, a Word file) instead of "unknown". Checked in order; offsets are from the start of the file.
_OTHER_KINDS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"GIF87a", "GIF 图片"),
    (0, b"GIF89a", "GIF 图片"),
    (0, b"BM", "BMP 图片"),
    (0, b"II*\x00", "TIFF 图片"),
    (0, b"MM\x00*", "TIFF 图片"),
    (8, b"WEBP", "WebP 图片"),
    (4, b"ftypheic", "HEIC 图片（苹果手机默认格式）"),
    (4, b"ftypheix", "HEIC 图片（苹果手机默认格式）"),
    (4, b"ftypmif1", "HEIF 图片"),
    (4, b"ftypavif", "AVIF 图片"),
    (0, b"PK\x03\x04", "ZIP 压缩包或 Office 文档"),
    (0, b"\xd0\xcf\x11\xe0", "Office 97-2003 文档"),
)


class UploadProblem(CodedError, ValueError):
    """Why an upload was refused: `code` is stable English, `message` is for the person who uploaded it."""


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed every check of its spec. `width`/`height` are None for a PDF."""

    format: DocumentFormat
    width: int | None
    height: int | None
    size_bytes: int
    sha256: str
    extension: str  # canonical for the content (".jpg" for a .jpeg or .JPG upload): use it when storing


def check_upload(*, data: bytes, filename: str, spec: DocumentSpec) -> CheckedUpload:
    """Check `data` (uploaded as `filename`) against `spec`; raise the first `UploadProblem` found.

    The content decides the format; the name only has to agree with it (a name without an extension is
    accepted, since the canonical extension is returned for storage). Pixel, colour and background rules
    apply to images only: a PDF allowed by the same spec skips them.
    """
    if not data:
        raise UploadProblem("file_empty", "文件是空的（0 字节），请重新选择文件")
    if len(data) > spec.max_kb * 1024:
        raise file_too_large(size_bytes=len(data), max_kb=spec.max_kb)
    detected = _detect_format(data, allowed=spec.formats)
    _check_extension(filename, detected)
    width: int | None = None
    height: int | None = None
    if detected == DocumentFormat.PDF:
        _check_pdf(data)
    else:
        image = _decode_image(data, detected)
        width, height = image.size
        _check_pixel_size(width, height, spec)
        if spec.color_required or spec.white_background:
            sample = _rgb_sample(image)
            if spec.color_required:
                _check_colour(image, sample)
            if spec.white_background:
                _check_white_background(sample, scale=max(image.size) / max(sample.size))
    return CheckedUpload(
        format=detected,
        width=width,
        height=height,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        extension=CANONICAL_EXTENSIONS[detected],
    )


def file_too_large(*, size_bytes: int, max_kb: int) -> UploadProblem:
    """The size problem, also used by the zip reader when an entry's header already says it is too big."""
    # Rounded up, so a file one byte over 150 KB reads "151 KB", never "150 KB 超过上限 150 KB".
    size_kb = -(-size_bytes // 1024)
    return UploadProblem("file_too_large", f"文件大小 {size_kb} KB 超过上限 {max_kb} KB")


# ---------------------------------------------------------------------------------------------------------
# format and extension
# ---------------------------------------------------------------------------------------------------------


def _format_from_magic(data: bytes) -> DocumentFormat | None:
    if data.startswith(_JPEG_MAGIC):
        return DocumentFormat.JPG
    if data.startswith(_PNG_MAGIC):
        return DocumentFormat.PNG
    if data.startswith(_PDF_MAGIC):
        return DocumentFormat.PDF
    return None


def _other_kind(data: bytes) -> str | None:
    for offset, magic, kind in _OTHER_KINDS:
        if data[offset : offset + len(magic)] == magic:
            return kind
    return None


def _allowed_text(formats: tuple[DocumentFormat, ...]) -> str:
    return "、".join(_LABELS[item] for item in formats)


def _detect_format(data: bytes, *, allowed: tuple[DocumentFormat, ...]) -> DocumentFormat:
    detected = _format_from_magic(data)
    if detected is not None and detected in allowed:
        return detected
    kind = _KINDS[detected] if detected is not None else _other_kind(data)
    found = f"文件内容是 {kind}" if kind else "无法识别文件类型"
    raise UploadProblem("format_not_allowed", f"{found}，只允许上传 {_allowed_text(allowed)} 文件")


def _check_extension(filename: str, detected: DocumentFormat) -> None:
    extension = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if extension and extension not in _EXTENSIONS[detected]:
        raise UploadProblem("format_mismatch", f"文件内容是 {_KINDS[detected]}，但扩展名为 {extension}")


def _check_pdf(data: bytes) -> None:
    if b"%%EOF" not in data[-PDF_EOF_WINDOW:]:
        raise UploadProblem(
            "pdf_unreadable", "PDF 文件不完整（缺少文件结尾标记），可能下载或导出未完成，请重新导出后上传"
        )


# ---------------------------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------------------------


def _too_many_pixels(size: tuple[int, int] | None) -> UploadProblem:
    shown = f"（{size[0]}×{size[1]}）" if size else ""
    limit = MAX_IMAGE_PIXELS // 10_000
    return UploadProblem("image_too_many_pixels", f"图片像素过多{shown}，最多 {limit} 万像素，请缩小后上传")


def _unreadable() -> UploadProblem:
    return UploadProblem("image_unreadable", "图片无法读取，文件可能已损坏或不完整，请重新导出后上传")


def _decode_image(data: bytes, detected: DocumentFormat) -> Image.Image:
    """Open (header only), refuse too many pixels, then decode once. Returns the loaded image."""
    # Pillow's own bomb check runs inside `Image.open` against its global limit: it warns above
    # MAX_IMAGE_PIXELS (89 MP by default) and raises above twice that. The warning is turned into an
    # error here so it cannot be missed. Only that category is changed, so another thread that happens
    # to run during this window (warning filters are process-wide) is affected in the same safe way.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            # `formats` limits Pillow to the decoder the magic bytes chose: no other parser sees the data.
            image = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[detected]])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(None) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            raise _unreadable() from None
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise _too_many_pixels(image.size)
        try:
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(image.size) from None
        except (OSError, SyntaxError, ValueError, EOFError):
            # A truncated JPEG raises OSError("image file is truncated") unless a global says otherwise.
            raise _unreadable() from None
    return image


# ---------------------------------------------------------------------------------------------------------
# pixel size
# ---------------------------------------------------------------------------------------------------------


def _sizes_text(sizes: tuple[tuple[int, int], ...]) -> str:
    shown = [f"{width}×{height}" for width, height in sizes]
    if len(shown) == 1:
        return shown[0]
    return "、".join(shown[:-1]) + " 或 " + shown[-1]


def _check_pixel_size(width: int, height: int, spec: DocumentSpec) -> None:
    uploaded = f"上传的是 {width}×{height}"
    if spec.allowed_pixel_sizes:
        if (width, height) not in spec.allowed_pixel_sizes:
            raise UploadProblem(
                "pixel_size_not_allowed",
                f"图片尺寸应为 {_sizes_text(spec.allowed_pixel_sizes)} 像素，{uploaded}",
            )
        return
    # 0 means "no limit" for each bound (the schema's convention).
    too_small = [
        f"{axis}至少 {minimum} 像素"
        for axis, value, minimum in (("宽度", width, spec.min_width), ("高度", height, spec.min_height))
        if minimum and value < minimum
    ]
    if too_small:
        raise UploadProblem("image_too_small", f"图片{'、'.join(too_small)}，{uploaded}")
    too_large = [
        f"{axis}最多 {maximum} 像素"
        for axis, value, maximum in (("宽度", width, spec.max_width), ("高度", height, spec.max_height))
        if maximum and value > maximum
    ]
    if too_large:
        raise UploadProblem("image_too_large", f"图片{'、'.join(too_large)}，{uploaded}")


# ---------------------------------------------------------------------------------------------------------
# colour and background, on a reduced RGB copy
# ---------------------------------------------------------------------------------------------------------


def _rgb_sample(image: Image.Image) -> Image.Image:
    """A reduced RGB copy; transparency is flattened onto white, as it shows on a page or certificate."""
    factor = max(1, max(image.size) // SAMPLE_LONGEST_SIDE)
    sample = image
    if sample.mode not in _REDUCIBLE_MODES:
        if sample.mode.startswith("I;16"):
            # 16-bit grey: scale to 8 bits; a plain convert would clip every value above 255 to white.
            sample = sample.point(lambda value: value * (1 / 257), "L")
        else:
            sample = sample.convert("RGBA" if _has_transparency(sample) else "RGB")
    if factor > 1:
        sample = sample.reduce(factor)
    if sample.mode in ("RGBA", "LA"):
        background = Image.new("RGBA", sample.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, sample.convert("RGBA")).convert("RGB")
    return sample.convert("RGB")


def _has_transparency(image: Image.Image) -> bool:
    return "transparency" in image.info or image.mode in ("RGBA", "LA", "PA")


def _channel_extremes(image: Image.Image) -> tuple[Image.Image, Image.Image]:
    """Per pixel, the darkest and the brightest of the R, G and B values (as two "L" images)."""
    red, green, blue = image.split()
    darkest = ImageChops.darker(ImageChops.darker(red, green), blue)
    brightest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    return darkest, brightest


def _count_at_least(image: Image.Image, threshold: int) -> int:
    return sum(image.histogram()[threshold:])


def _check_colour(image: Image.Image, sample: Image.Image) -> None:
    if image.mode in _GREYSCALE_MODES:
        raise UploadProblem("image_not_color", "照片须为彩色，上传的是黑白（灰度）图片")
    darkest, brightest = _channel_extremes(sample)
    spread = ImageChops.subtract(brightest, darkest)
    coloured = _count_at_least(spread, COLOUR_MIN_CHANNEL_SPREAD)
    if coloured < COLOUR_MIN_PIXEL_SHARE * sample.width * sample.height:
        raise UploadProblem("image_not_color", "照片须为彩色，上传的图片看起来是黑白（灰度）的")


def _background_frame(sample: Image.Image, *, scale: float) -> list[Image.Image]:
    width, height = sample.size
    # Clamped to the image: `crop` beyond the edge pads with black, which would read as "not white".
    frame = max(1, min(round(BACKGROUND_FRAME_PIXELS / scale), width // 2, height // 2))
    side_bottom = min(height, max(frame + 1, round(height * BACKGROUND_SIDE_HEIGHT_SHARE)))
    return [
        sample.crop((0, 0, width, frame)),  # top
        sample.crop((0, frame, frame, side_bottom)),  # left, below the top strip
        sample.crop((width - frame, frame, width, side_bottom)),  # right, below the top strip
    ]


def _check_white_background(sample: Image.Image, *, scale: float) -> None:
    near_white = 0
    total = 0
    for strip in _background_frame(sample, scale=scale):
        darkest, _ = _channel_extremes(strip)
        near_white += _count_at_least(darkest, NEAR_WHITE_MIN_CHANNEL)
        total += strip.width * strip.height
    if near_white < WHITE_FRAME_MIN_SHARE * total:
        # Rounded down, so 89.6% reads "89%", never "只有 90%（至少应为 90%）".
        percent = near_white * 100 // total
        raise UploadProblem(
            "background_not_white",
            f"照片背景须为白色：边缘只有 {percent}% 接近白色（至少应为 {WHITE_FRAME_MIN_SHARE:.0%}）",
        )
