"""Reading a zip of `姓名-身份证号.jpg` photos: name encodings, unsafe and junk entries, ID numbers, duplicates,
per-photo checks, and the whole-archive refusals (not a zip, too many entries, too large, bomb, password).

Pure: zips are built in memory with `zipfile`, photos with Pillow; no database.
"""

import ast
import io
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from shared.documents import checks, photo_zip
from shared.documents.checks import UploadProblem
from shared.documents.photo_zip import PhotoZipResult, ZipEntryProblem, read_photo_zip
from tests.unit.test_document_checks import encode, photo_jpeg, photo_spec, portrait

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARACTERS = "10X98765432"


def id_number(first_17: str) -> str:
    """Complete 17 digits with their ISO 7064 MOD 11-2 check character (written out, not imported)."""
    total = sum(int(digit) * weight for digit, weight in zip(first_17, ID_WEIGHTS, strict=True))
    return first_17 + ID_CHECK_CHARACTERS[total % 11]


ZHANG = id_number("11010519491231002")  # the standard's own example: ends in X
LI = id_number("51010419900101123")
WANG = id_number("44030519851212004")
OUYANG = id_number("65010219920315002")
PHOTO = photo_jpeg()


class LegacyNameZipInfo(zipfile.ZipInfo):
    """Writes its name as raw bytes without the UTF-8 flag, as Windows' built-in zip does.

    `filename` holds the raw bytes decoded as cp437 (how zipfile itself represents unflagged names);
    zipfile would otherwise re-encode any non-ASCII name as UTF-8 and set the flag.
    """

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("cp437"), self.flag_bits


def legacy_entry(name: str, encoding: str) -> LegacyNameZipInfo:
    return LegacyNameZipInfo(name.encode(encoding).decode("cp437"))


def build_zip(
    entries: list[tuple[str | zipfile.ZipInfo, bytes]], *, compression: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def read(data: bytes, **options: object) -> PhotoZipResult:
    return read_photo_zip(data=data, spec=photo_spec(), **options)


def summary(result: PhotoZipResult) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(entry, person, ID) of each photo and (entry, code) of each problem, in archive order."""
    return (
        [(photo.entry_name, photo.person_name, photo.id_number) for photo in result.photos],
        [(problem.entry_name, problem.code) for problem in result.problems],
    )


def refusal(data: bytes, **options: object) -> tuple[str, str]:
    with pytest.raises(UploadProblem) as caught:
        read(data, **options)
    return caught.value.code, caught.value.message


def test_the_test_ids_have_the_check_characters_of_real_ids() -> None:
    assert ZHANG == "11010519491231002X"


# ---------------------------------------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------------------------------------


def test_utf8_flagged_names_give_photos_with_name_id_and_checked_bytes() -> None:
    data = build_zip([(f"张三-{ZHANG}.jpg", PHOTO), (f"李四-{LI}.jpg", PHOTO)])

    result = read(data)

    assert summary(result) == (
        [(f"张三-{ZHANG}.jpg", "张三", ZHANG), (f"李四-{LI}.jpg", "李四", LI)],
        [],
    )
    first = result.photos[0]
    assert first.data == PHOTO
    assert first.checked == checks.check_upload(data=PHOTO, filename="a.jpg", spec=photo_spec())


def test_gbk_names_without_the_utf8_flag_from_chinese_windows_are_decoded() -> None:
    entry = legacy_entry(f"欧阳娜娜-{OUYANG}.jpg", "gbk")
    data = build_zip([(entry, PHOTO)])
    assert not zipfile.ZipFile(io.BytesIO(data)).infolist()[0].flag_bits & 0x800  # really unflagged

    assert summary(read(data)) == ([(f"欧阳娜娜-{OUYANG}.jpg", "欧阳娜娜", OUYANG)], [])


def test_gbk_folder_and_file_names_are_decoded_together() -> None:
    data = build_zip([(legacy_entry(f"照片/王五-{WANG}.jpg", "gbk"), PHOTO)])

    assert summary(read(data)) == ([(f"照片/王五-{WANG}.jpg", "王五", WANG)], [])


def test_utf8_names_without_the_flag_from_macos_are_decoded() -> None:
    data = build_zip([(legacy_entry(f"李四-{LI}.jpg", "utf-8"), PHOTO)])

    assert summary(read(data)) == ([(f"李四-{LI}.jpg", "李四", LI)], [])


def test_a_name_in_neither_encoding_is_shown_as_zipfile_decoded_it() -> None:
    raw = b"\xff\xfe-" + LI.encode() + b".jpg"  # neither UTF-8 nor GBK
    data = build_zip([(LegacyNameZipInfo(raw.decode("cp437")), PHOTO)])

    result = read(data)

    assert summary(result) == ([], [(raw.decode("cp437"), "entry_bad_name")])


@pytest.mark.parametrize(
    ("filename", "person"),
    [
        (f"欧阳·娜娜-{OUYANG}.jpg", "欧阳·娜娜"),
        (f"欧阳•娜娜-{OUYANG}.jpg", "欧阳·娜娜"),  # bullet from an input method: stored as the ID card's dot
        (f"买买提・艾力-{OUYANG}.jpg", "买买提·艾力"),
        (f"王𠮷-{OUYANG}.jpg", "王𠮷"),  # CJK Extension B
        (f"张三－{OUYANG}.JPG", "张三"),  # full-width hyphen, upper-case extension
        (f"张三 - {OUYANG.lower()}.jpeg", "张三"),  # spaces and a lower-case x
        (f"张三_{OUYANG}.jpg", "张三"),
    ],
)
def test_name_variants_people_produce_are_accepted(filename: str, person: str) -> None:
    result = read(build_zip([(filename, PHOTO)]))

    assert summary(result) == ([(filename, person, OUYANG)], [])


@pytest.mark.parametrize(
    ("filename", "code", "message"),
    [
        (
            "张三.jpg",
            "entry_bad_name",
            "文件名中没有“-身份证号”：文件名应为“姓名-身份证号.jpg”，如“张三-11010519491231002X.jpg”",
        ),
        (
            f"zhangsan-{LI}.jpg",
            "entry_bad_name",
            "文件名中的姓名“zhangsan”应为 2–20 个汉字（少数民族姓名可含间隔号“·”）："
            "文件名应为“姓名-身份证号.jpg”，如“张三-11010519491231002X.jpg”",
        ),
        (
            f"张-三-{LI}.jpg",
            "entry_bad_name",
            "文件名格式不对：文件名应为“姓名-身份证号.jpg”，如“张三-11010519491231002X.jpg”",
        ),
        (
            f"李四-{LI[:17]}{'0' if LI[17] != '0' else '1'}.jpg",
            "id_number_checksum",
            f"身份证号校验位错误，应为 {LI[17]}，请核对号码是否有误",
        ),
        (
            f"李四-{LI[:17]}.jpg",
            "id_number_format",
            "身份证号格式错误，应为18位：前17位为数字，最后一位为数字或 X",
        ),
        (
            "李四-510104900101123.jpg",
            "id_number_old_format",
            "不支持15位旧身份证号，请填写18位身份证号（可在新身份证上查看）",
        ),
    ],
)
def test_bad_names_and_id_numbers_are_reported_per_entry(filename: str, code: str, message: str) -> None:
    result = read(build_zip([(filename, PHOTO), (f"张三-{ZHANG}.jpg", PHOTO)]))

    assert result.problems == [ZipEntryProblem(filename, code, message)]
    assert [photo.id_number for photo in result.photos] == [ZHANG]


# ---------------------------------------------------------------------------------------------------------
# entries that are skipped or refused
# ---------------------------------------------------------------------------------------------------------


def test_folders_macos_metadata_dotfiles_and_windows_thumbnails_are_skipped_silently() -> None:
    data = build_zip(
        [
            ("照片/", b""),
            (f"照片/张三-{ZHANG}.jpg", PHOTO),
            (f"__MACOSX/照片/._张三-{ZHANG}.jpg", b"\x00\x05\x16\x07"),
            (".DS_Store", b"\x00\x00\x00\x01Bud1"),
            ("照片/Thumbs.db", b"\xd0\xcf\x11\xe0"),
        ]
    )

    assert summary(read(data)) == ([(f"照片/张三-{ZHANG}.jpg", "张三", ZHANG)], [])


@pytest.mark.parametrize(
    "entry_name", [f"../../张三-{ZHANG}.jpg", f"照片/../../张三-{ZHANG}.jpg", f"/etc/张三-{ZHANG}.jpg"]
)
def test_path_traversal_entries_are_reported_and_not_returned(entry_name: str) -> None:
    result = read(build_zip([(entry_name, PHOTO), (f"李四-{LI}.jpg", PHOTO)]))

    assert summary(result) == ([(f"李四-{LI}.jpg", "李四", LI)], [(entry_name, "entry_unsafe_path")])


def test_backslash_paths_from_windows_tools_are_checked_like_slashes() -> None:
    entry_name = f"..\\..\\张三-{ZHANG}.jpg"

    result = read(build_zip([(entry_name, PHOTO)]))

    assert summary(result) == ([], [(f"../../张三-{ZHANG}.jpg", "entry_unsafe_path")])


def test_the_second_photo_with_the_same_id_number_is_a_duplicate() -> None:
    data = build_zip(
        [
            (f"张三-{ZHANG}.jpg", PHOTO),
            (f"李四-{LI}.jpg", PHOTO),
            (f"张三丰-{ZHANG.lower()}.jpg", PHOTO),  # the same number once normalised
        ]
    )

    result = read(data)

    assert summary(result) == (
        [(f"张三-{ZHANG}.jpg", "张三", ZHANG), (f"李四-{LI}.jpg", "李四", LI)],
        [(f"张三丰-{ZHANG.lower()}.jpg", "entry_duplicate")],
    )
    assert result.problems[0].message == f"身份证号 {ZHANG} 与“张三-{ZHANG}.jpg”重复，已忽略此文件"


def test_a_photo_failing_its_checks_is_reported_with_the_check_message() -> None:
    grey = photo_jpeg(mode="L")
    png = encode(portrait(), "PNG")
    data = build_zip([(f"张三-{ZHANG}.jpg", grey), (f"李四-{LI}.png", png), (f"王五-{WANG}.jpg", PHOTO)])

    result = read(data)

    assert [photo.id_number for photo in result.photos] == [WANG]
    assert result.problems == [
        ZipEntryProblem(f"张三-{ZHANG}.jpg", "image_not_color", "照片须为彩色，上传的是黑白（灰度）图片"),
        ZipEntryProblem(f"李四-{LI}.png", "format_not_allowed", "文件内容是 PNG 图片，只允许上传 JPG 文件"),
    ]


def test_an_entry_over_the_size_limit_is_refused_from_its_header() -> None:
    oversize = PHOTO + b"\x00" * (200 * 1024)

    result = read(build_zip([(f"张三-{ZHANG}.jpg", oversize)]))

    assert result.problems == [
        ZipEntryProblem(
            f"张三-{ZHANG}.jpg", "file_too_large", f"文件大小 {-(-len(oversize) // 1024)} KB 超过上限 150 KB"
        )
    ]


def test_an_entry_whose_header_understates_its_size_is_never_read_beyond_it() -> None:
    # A crafted central directory claims 100 bytes for a 200 KB entry: zipfile stops at the claimed size,
    # the CRC then fails, and the entry is refused rather than inflated.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"张三-{ZHANG}.jpg", PHOTO + b"\x00" * (200 * 1024))
        archive.infolist()[0].file_size = 100

    result = read(buffer.getvalue())

    assert summary(result) == ([], [(f"张三-{ZHANG}.jpg", "entry_unreadable")])


def test_a_zip_of_only_junk_gives_nothing() -> None:
    assert read(build_zip([("__MACOSX/", b""), (".hidden", b"x")])) == PhotoZipResult(photos=[], problems=[])


# ---------------------------------------------------------------------------------------------------------
# the whole archive
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"not a zip at all", PHOTO, b"PK\x03\x04" + b"\x00" * 100])
def test_data_that_is_not_a_zip_is_refused(data: bytes) -> None:
    assert refusal(data) == ("zip_invalid", "文件不是有效的 ZIP 压缩包，请用“压缩为 ZIP”重新打包后上传")


def test_too_many_entries_are_refused_before_any_is_read() -> None:
    data = build_zip([(f"{index}.jpg", b"") for index in range(4)])

    assert refusal(data, max_entries=3) == (
        "zip_too_many_entries",
        "压缩包内有 4 个文件和文件夹，超过上限 3 个，请分批上传",
    )


def test_a_total_uncompressed_size_over_the_limit_is_refused() -> None:
    data = build_zip(
        [(f"张三-{ZHANG}.jpg", PHOTO), (f"李四-{LI}.jpg", PHOTO)], compression=zipfile.ZIP_STORED
    )

    assert refusal(data, max_total_bytes=len(PHOTO)) == (
        "zip_too_large",
        f"压缩包解压后共 {-(-2 * len(PHOTO) // 1024)} KB，超过上限 {-(-len(PHOTO) // 1024)} KB，请分批上传",
    )


def test_a_run_of_zeros_compressed_far_beyond_the_ratio_is_a_zip_bomb() -> None:
    data = build_zip([(f"张三-{ZHANG}.jpg", PHOTO), (f"李四-{LI}.jpg", b"\x00" * (5 * 1024 * 1024))])
    assert len(data) < 64 * 1024  # 5 MB declared, a few KB shipped

    assert refusal(data) == (
        "zip_bomb",
        "压缩包的压缩比异常（可能是“压缩炸弹”），已拒绝；请直接打包照片文件后重新上传",
    )


def test_the_ratio_is_the_callers_choice() -> None:
    data = build_zip([(f"李四-{LI}.jpg", b"\x00" * (2 * 1024 * 1024))])

    result = read(data, max_ratio=10_000)

    assert [problem.code for problem in result.problems] == ["file_too_large"]


def test_an_encrypted_entry_refuses_the_archive() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"张三-{ZHANG}.jpg", PHOTO)
        archive.writestr(f"李四-{LI}.jpg", PHOTO)
        # zipfile cannot encrypt; setting the flag in the central directory is what a reader sees.
        archive.infolist()[1].flag_bits |= 0x1

    assert refusal(buffer.getvalue()) == ("zip_encrypted", "压缩包设置了密码，请去掉密码后重新打包上传")


# ---------------------------------------------------------------------------------------------------------
# usable outside Django (the benchmark and any worker)
# ---------------------------------------------------------------------------------------------------------


def imported_modules(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", [checks, photo_zip])
def test_the_modules_import_nothing_from_django(module: ModuleType) -> None:
    source = Path(str(module.__file__)).read_text(encoding="utf-8")

    top_level = {name.split(".")[0] for name in imported_modules(source)}

    assert not top_level & {"django", "rest_framework"}
