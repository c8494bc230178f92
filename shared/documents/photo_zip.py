"""Read a zip of ID photos named `姓名-身份证号.jpg` (the batch upload of a company or an association).

Pure: bytes and a spec in, the photos that passed and a problem per refused entry out. Nothing is written
to disk (so a `../../x.jpg` entry can do no harm beyond being reported), no Django, no database: matching
names and ID numbers to people is the caller's job.

Problems with the whole archive (not a zip, too big, a zip bomb, a password) raise `UploadProblem`; a
problem with one entry is reported in `PhotoZipResult.problems` and the other entries are still read, so
one bad photo in a thousand does not send the whole batch back.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass

from shared.documents.checks import CheckedUpload, UploadProblem, check_upload, file_too_large
from shared.validation import IdentifierError, normalise_id_number
from tenant_configs.schema import DocumentSpec

# The compression ratio is judged only from this declared size up: a bomb smaller than this is harmless,
# while a small, highly compressible file (a text note beside the photos) would otherwise trip it.
RATIO_CHECK_MIN_BYTES = 1024 * 1024

_UTF8_NAME_FLAG = 0x800  # general purpose bit 11: the name is UTF-8 (APPNOTE 4.4.4)
_ENCRYPTED_FLAG = 0x1

# Files the operating system adds when a folder is zipped; never meant as photos, so skipped silently.
_SYSTEM_FILE_NAMES = frozenset({"thumbs.db", "desktop.ini"})
_SYSTEM_FOLDER_NAMES = frozenset({"__MACOSX"})

# Name, separator, ID number. The separator also accepts the full-width hyphen and the underscore that
# Chinese input methods and habits produce; spaces around it are ignored. The ID part is handed to
# `normalise_id_number` as typed, so a 17-digit or 15-digit number gets its own specific message.
_SEPARATOR = re.compile(r"[-－_]")
_STEM = re.compile(r"(?P<name>[^-－_]+?)\s*[-－_]\s*(?P<id_number>[^-－_]+)")
# CJK Unified Ideographs with Extension A (U+3400–) and Extensions B–G (U+20000–U+3134F: rare characters
# in real names), and a middle dot for names such as 欧阳·娜娜 or 买买提·艾力.
_PERSON_NAME = re.compile(r"[\u3400-\u9fff\U00020000-\U0003134F·]{2,20}")
# Middle-dot look-alikes that input methods produce, stored as the one the ID card uses (U+00B7).
_MIDDLE_DOTS = str.maketrans({"•": "·", "・": "·", "･": "·", "‧": "·"})
_NAME_PATTERN_HINT = "文件名应为“姓名-身份证号.jpg”，如“张三-11010519491231002X.jpg”"


@dataclass(frozen=True)
class ZipPhoto:
    entry_name: str  # the path inside the zip, decoded, as the uploader sees it in their zip tool
    person_name: str
    id_number: str  # normalised: 18 characters, upper-case X
    checked: CheckedUpload
    data: bytes


@dataclass(frozen=True)
class ZipEntryProblem:
    entry_name: str
    code: str  # stable English: entry_* below, or the code of the UploadProblem / IdentifierError
    message: str  # Simplified Chinese, for the uploader


@dataclass(frozen=True)
class PhotoZipResult:
    photos: list[ZipPhoto]
    problems: list[ZipEntryProblem]


def read_photo_zip(
    *,
    data: bytes,
    spec: DocumentSpec,
    max_entries: int = 2000,
    max_total_bytes: int = 300 * 1024 * 1024,
    max_ratio: int = 100,
) -> PhotoZipResult:
    """Check every `姓名-身份证号.jpg` in the zip `data` against `spec`.

    Raises `UploadProblem` for the whole archive: `zip_invalid`, `zip_too_many_entries`, `zip_too_large`,
    `zip_bomb` (declared sizes over `max_ratio` times their compressed size), `zip_encrypted`. Each entry
    is then checked on its own; folders, `__MACOSX/`, dotfiles and system files are skipped silently.
    Entries are reported in the order of the archive.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise UploadProblem(
            "zip_invalid", "文件不是有效的 ZIP 压缩包，请用“压缩为 ZIP”重新打包后上传"
        ) from None
    with archive:
        entries = archive.infolist()
        _check_archive(entries, max_entries=max_entries, max_total_bytes=max_total_bytes, max_ratio=max_ratio)
        return _read_entries(archive, entries, spec)


# ---------------------------------------------------------------------------------------------------------
# the whole archive
# ---------------------------------------------------------------------------------------------------------


def _check_archive(
    entries: list[zipfile.ZipInfo], *, max_entries: int, max_total_bytes: int, max_ratio: int
) -> None:
    # Only declared sizes are known here and a crafted header can lie; the bounded read of each entry
    # is what really caps memory. These checks refuse the obvious cases before anything is inflated.
    if len(entries) > max_entries:
        raise UploadProblem(
            "zip_too_many_entries",
            f"压缩包内有 {len(entries)} 个文件和文件夹，超过上限 {max_entries} 个，请分批上传",
        )
    if any(entry.flag_bits & _ENCRYPTED_FLAG for entry in entries if not entry.is_dir()):
        raise UploadProblem("zip_encrypted", "压缩包设置了密码，请去掉密码后重新打包上传")
    total = sum(entry.file_size for entry in entries)
    if total > max_total_bytes:
        raise UploadProblem(
            "zip_too_large",
            f"压缩包解压后共 {_size_text(total)}，超过上限 {_size_text(max_total_bytes)}，请分批上传",
        )
    compressed = sum(entry.compress_size for entry in entries)
    # Per entry, because one bomb hides among a thousand real photos; in total, for many small ones.
    if _ratio_exceeds(total, compressed, max_ratio) or any(
        _ratio_exceeds(entry.file_size, entry.compress_size, max_ratio) for entry in entries
    ):
        raise UploadProblem(
            "zip_bomb", "压缩包的压缩比异常（可能是“压缩炸弹”），已拒绝；请直接打包照片文件后重新上传"
        )


def _ratio_exceeds(size: int, compressed: int, max_ratio: int) -> bool:
    return size >= RATIO_CHECK_MIN_BYTES and size > max_ratio * max(compressed, 1)


def _size_text(size: int) -> str:
    # Rounded up, so a size just over the limit never reads the same as the limit.
    if size >= 1024 * 1024:
        return f"{-(-size // (1024 * 1024))} MB"
    return f"{-(-size // 1024)} KB"


# ---------------------------------------------------------------------------------------------------------
# entries
# ---------------------------------------------------------------------------------------------------------


def _read_entries(
    archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo], spec: DocumentSpec
) -> PhotoZipResult:
    photos: list[ZipPhoto] = []
    problems: list[ZipEntryProblem] = []
    first_entry_of: dict[str, str] = {}  # ID number -> entry name that claimed it first
    for info in entries:
        if info.is_dir():
            continue
        entry_name = entry_display_name(info)
        try:
            photo = _read_entry(archive, info, entry_name, spec, first_entry_of)
        except UploadProblem as problem:  # about this entry only: report it and read the next
            problems.append(ZipEntryProblem(entry_name, problem.code, problem.message))
            continue
        if photo is not None:
            photos.append(photo)
    return PhotoZipResult(photos=photos, problems=problems)


def entry_display_name(info: zipfile.ZipInfo) -> str:
    """The entry's path as its author typed it, with `/` separators.

    Names flagged UTF-8 are already decoded by `zipfile`. Unflagged names are decoded by Python as
    cp437, which is mojibake for Chinese: the raw bytes are recovered and tried as UTF-8 first (macOS
    Archive Utility writes UTF-8 without setting the flag), then as GBK (Chinese Windows' code page).
    GBK-encoded Chinese is almost never valid UTF-8, so the order does not misread Windows zips.
    """
    name = info.filename
    if not info.flag_bits & _UTF8_NAME_FLAG:
        raw = name.encode("cp437")  # cannot fail: cp437 maps all 256 bytes both ways
        for encoding in ("utf-8", "gbk"):
            try:
                name = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    # Zips made on Windows by some tools use backslashes, which zipfile leaves alone on Linux.
    return unicodedata.normalize("NFC", name.replace("\\", "/"))


def _read_entry(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    entry_name: str,
    spec: DocumentSpec,
    first_entry_of: dict[str, str],
) -> ZipPhoto | None:
    """One entry as a photo, None when it is to be skipped silently; raises `UploadProblem`."""
    parts = entry_name.split("/")
    if entry_name.startswith("/") or ".." in parts or ":" in parts[0]:
        raise UploadProblem(
            "entry_unsafe_path", "文件路径不安全（含“..”、盘符或以“/”开头），已忽略；请直接打包照片文件"
        )
    basename = parts[-1]
    if _is_system_file(parts):
        return None
    person_name, id_number = _parse_basename(basename)
    if id_number in first_entry_of:
        raise UploadProblem(
            "entry_duplicate", f"身份证号 {id_number} 与“{first_entry_of[id_number]}”重复，已忽略此文件"
        )
    first_entry_of[id_number] = entry_name
    content = _read_bounded(archive, info, spec.max_kb)
    checked = check_upload(data=content, filename=basename, spec=spec)
    return ZipPhoto(
        entry_name=entry_name, person_name=person_name, id_number=id_number, checked=checked, data=content
    )


def _is_system_file(parts: list[str]) -> bool:
    basename = parts[-1]
    return (
        not basename  # a folder whose name ends in a backslash, which `is_dir` does not recognise
        or basename.startswith(".")
        or basename.lower() in _SYSTEM_FILE_NAMES
        or any(part in _SYSTEM_FOLDER_NAMES for part in parts[:-1])
    )


def _parse_basename(basename: str) -> tuple[str, str]:
    """(person name, normalised ID number) from `姓名-身份证号.jpg`; the extension is check_upload's job."""
    stem = basename.rsplit(".", 1)[0] if "." in basename else basename
    match = _STEM.fullmatch(stem.strip())
    if match is None:
        reason = "文件名格式不对" if _SEPARATOR.search(stem) else "文件名中没有“-身份证号”"
        raise UploadProblem("entry_bad_name", f"{reason}：{_NAME_PATTERN_HINT}")
    person_name = match["name"].strip().translate(_MIDDLE_DOTS)
    if not _PERSON_NAME.fullmatch(person_name):
        raise UploadProblem(
            "entry_bad_name",
            f"文件名中的姓名“{person_name}”应为 2–20 个汉字（少数民族姓名可含间隔号“·”）：{_NAME_PATTERN_HINT}",
        )
    try:
        id_number = normalise_id_number(match["id_number"])
    except IdentifierError as error:
        raise UploadProblem(error.code, error.message) from None
    return person_name, id_number


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_kb: int) -> bytes:
    """The entry's bytes, never more than one byte over the limit (enough for check_upload to refuse it)."""
    limit = max_kb * 1024
    if info.file_size > limit:
        raise file_too_large(size_bytes=info.file_size, max_kb=max_kb)
    try:
        # The declared size can lie; reading limit + 1 bytes caps memory whatever the stream inflates to.
        with archive.open(info) as stream:
            return stream.read(limit + 1)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError, EOFError):
        # A bad CRC, a corrupt stream, or a compression method zipfile lacks (Deflate64, AES).
        raise UploadProblem(
            "entry_unreadable", "无法读取压缩包中的这个文件（文件已损坏或压缩方式不受支持），请重新打包"
        ) from None
