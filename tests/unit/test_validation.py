"""Chinese identifiers: ID numbers, unified social credit codes, mobile numbers, masking."""

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.validation import (
    ID_NUMBER_PROVINCES,
    IdentifierError,
    id_number_birth_date,
    id_number_gender,
    mask_id_number,
    mask_phone,
    normalise_id_number,
    normalise_mobile,
    normalise_uscc,
)

# --- helpers: the check characters computed here, independently of the module under test ---------


def with_check_digit(first_17: str) -> str:
    """Append the ISO 7064 MOD 11-2 check character (GB 11643-1999) to 17 digits."""
    assert len(first_17) == 17 and first_17.isdigit()
    total = sum(int(digit) * (2 ** (17 - position) % 11) for position, digit in enumerate(first_17))
    return first_17 + "10X98765432"[total % 11]


def with_check_character(first_17: str) -> str:
    """Append the GB 32100-2015 MOD 31 check character to 17 USCC characters."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    total = sum(alphabet.index(character) * 3**position for position, character in enumerate(first_17))
    return first_17 + alphabet[-total % 31]


def full_width(text: str) -> str:
    return "".join(
        chr(ord(character) + 0xFEE0) if "!" <= character <= "~" else character for character in text
    )


def flip_check(number: str) -> str:
    """The same number with a different (wrong) last character."""
    return number[:17] + ("0" if number[17] != "0" else "1")


TODAY = datetime.date(2026, 3, 15)
PUBLISHED_EXAMPLE = "11010519491231002X"  # the GB 11643 example: Beijing Chaoyang, 1949-12-31, female
CHENGDU_MAN = with_check_digit("51010719851123001")  # 武侯区 before 1990: python-stdnum refuses it
TAIWAN_PERMIT = with_check_digit("83000019900101002")


# --- ID numbers ------------------------------------------------------------------------------------


def test_helper_reproduces_the_published_example():
    assert with_check_digit(PUBLISHED_EXAMPLE[:17]) == PUBLISHED_EXAMPLE


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        (PUBLISHED_EXAMPLE, PUBLISHED_EXAMPLE),
        ("11010519491231002x", PUBLISHED_EXAMPLE),
        (" 110105 19491231 002X ", PUBLISHED_EXAMPLE),
        (full_width("11010519491231002x"), PUBLISHED_EXAMPLE),
        ("１１０１０５１９４９１２３１００２Ｘ", PUBLISHED_EXAMPLE),
        ("\u3000" + PUBLISHED_EXAMPLE, PUBLISHED_EXAMPLE),
        (CHENGDU_MAN, CHENGDU_MAN),
        (TAIWAN_PERMIT, TAIWAN_PERMIT),
        (with_check_digit("81000020000229001"), with_check_digit("81000020000229001")),  # leap 2000
        (with_check_digit("44030420040229002"), with_check_digit("44030420040229002")),  # leap 2004
        (with_check_digit("11010519000101001"), with_check_digit("11010519000101001")),  # earliest date
        (with_check_digit("11010520260315001"), with_check_digit("11010520260315001")),  # born today
    ],
)
def test_normalise_id_number_accepts_and_canonicalises(typed, stored):
    assert normalise_id_number(typed, today=TODAY) == stored


@pytest.mark.parametrize(
    ("typed", "code", "message"),
    [
        (
            flip_check(PUBLISHED_EXAMPLE),
            "id_number_checksum",
            "身份证号校验位错误，应为 X，请核对号码是否有误",
        ),
        (
            flip_check(CHENGDU_MAN),
            "id_number_checksum",
            f"身份证号校验位错误，应为 {CHENGDU_MAN[17]}，请核对号码是否有误",
        ),
        (
            with_check_digit("19010519491231002"),
            "id_number_region",
            "身份证号前两位地区码 19 无效",
        ),
        (with_check_digit("91010519491231002"), "id_number_region", "身份证号前两位地区码 91 无效"),
        (with_check_digit("00010519491231002"), "id_number_region", "身份证号前两位地区码 00 无效"),
        (
            with_check_digit("11010519000229001"),  # 1900 is not a leap year
            "id_number_birth_date",
            "身份证号中的出生日期 19000229 不是有效日期",
        ),
        (
            with_check_digit("11010520230229001"),
            "id_number_birth_date",
            "身份证号中的出生日期 20230229 不是有效日期",
        ),
        (
            with_check_digit("11010519901301001"),
            "id_number_birth_date",
            "身份证号中的出生日期 19901301 不是有效日期",
        ),
        (
            with_check_digit("11010518991231001"),
            "id_number_birth_date",
            "身份证号中的出生日期 1899-12-31 早于1900年",
        ),
        (
            with_check_digit("11010520260316001"),  # tomorrow
            "id_number_birth_date",
            "身份证号中的出生日期 2026-03-16 晚于今天",
        ),
        (
            "110105491231002",
            "id_number_old_format",
            "不支持15位旧身份证号，请填写18位身份证号（可在新身份证上查看）",
        ),
        *[
            (typed, "id_number_format", "身份证号格式错误，应为18位：前17位为数字，最后一位为数字或 X")
            for typed in (
                "",
                "11010519491231002",
                "11010519491231002XX",
                "1101051949123100XX",
                "11010519491231002Y",
                "110105-19491231-002X",
                "11010519491231002²",
                "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",  # Arabic-Indic digits are digits to Python, not to us
            )
        ],
    ],
)
def test_normalise_id_number_refuses_with_a_specific_reason(typed, code, message):
    with pytest.raises(IdentifierError) as caught:
        normalise_id_number(typed, today=TODAY)

    assert (caught.value.code, caught.value.message, str(caught.value)) == (code, message, message)
    assert isinstance(caught.value, ValueError)


def test_normalise_id_number_refuses_a_future_birth_date_without_a_given_today():
    with pytest.raises(IdentifierError) as caught:
        normalise_id_number(with_check_digit("11010520991231001"))

    assert caught.value.code == "id_number_birth_date"


def test_every_province_level_code_is_accepted():
    expected = {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37"}
    expected |= {"41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64"}
    expected |= {"65", "71", "81", "82", "83"}
    assert ID_NUMBER_PROVINCES == expected
    for province in sorted(expected):
        number = with_check_digit(f"{province}010519800101001")
        assert normalise_id_number(number, today=TODAY) == number


@pytest.mark.parametrize(
    ("id_number", "born", "gender"),
    [
        (PUBLISHED_EXAMPLE, datetime.date(1949, 12, 31), "female"),  # 17th digit 2
        ("11010519491231002x", datetime.date(1949, 12, 31), "female"),
        (CHENGDU_MAN, datetime.date(1985, 11, 23), "male"),  # 17th digit 1
        (with_check_digit("44030420040229009"), datetime.date(2004, 2, 29), "male"),
        (with_check_digit("44030420040229000"), datetime.date(2004, 2, 29), "female"),
    ],
)
def test_birth_date_and_gender_come_from_the_number(id_number, born, gender):
    assert id_number_birth_date(id_number) == born
    assert id_number_gender(id_number) == gender


def test_birth_date_and_gender_refuse_an_invalid_number():
    with pytest.raises(IdentifierError) as birth:
        id_number_birth_date(flip_check(PUBLISHED_EXAMPLE))
    with pytest.raises(IdentifierError) as gender:
        id_number_gender("110105491231002")

    assert (birth.value.code, gender.value.code) == ("id_number_checksum", "id_number_old_format")


# Property tests: any ID built with the checksum from a valid province and date.
valid_id_numbers = st.builds(
    lambda province, county, born, sequence: with_check_digit(
        f"{province}{county:04d}{born:%Y%m%d}{sequence:03d}"
    ),
    st.sampled_from(sorted(ID_NUMBER_PROVINCES)),
    st.integers(min_value=0, max_value=9999),
    st.dates(min_value=datetime.date(1900, 1, 1), max_value=TODAY),
    st.integers(min_value=0, max_value=999),
)


@given(valid_id_numbers)
def test_property_a_valid_id_number_normalises_to_itself(number):
    assert normalise_id_number(number, today=TODAY) == number
    assert normalise_id_number(full_width(number.lower()), today=TODAY) == number


@given(valid_id_numbers, st.integers(min_value=0, max_value=17), st.integers(min_value=1, max_value=10))
def test_property_any_single_character_change_is_refused(number, position, shift):
    # Every other character allowed at that position, so the change is never a no-op.
    alphabet = "0123456789X" if position == 17 else "0123456789"
    current = alphabet.index(number[position])
    replacement = alphabet[(current + shift) % len(alphabet)]
    if replacement == number[position]:  # shift of 10 wraps round the ten digits
        replacement = alphabet[(current + 1) % len(alphabet)]
    changed = number[:position] + replacement + number[position + 1 :]

    with pytest.raises(IdentifierError) as caught:
        normalise_id_number(changed, today=TODAY)

    assert caught.value.code in {"id_number_checksum", "id_number_region", "id_number_birth_date"}


# --- unified social credit codes ------------------------------------------------------------------


def test_helper_reproduces_the_published_codes():
    assert with_check_character("91350100M000100Y4") == "91350100M000100Y43"
    assert with_check_character("91110000600037341") == "91110000600037341L"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("91350100M000100Y43", "91350100M000100Y43"),  # the GB 32100-2015 example
        ("91110000600037341L", "91110000600037341L"),
        ("91110000600037341l", "91110000600037341L"),
        (" 9111 0000 6000 3734 1L ", "91110000600037341L"),
        (full_width("91350100m000100y43"), "91350100M000100Y43"),
        (with_check_character("12100000400000624"), with_check_character("12100000400000624")),  # 机构编制
        (with_check_character("53100000500021676"), with_check_character("53100000500021676")),  # 民政
        (with_check_character("92510107MA6CXXXX1"), with_check_character("92510107MA6CXXXX1")),  # 个体户
        (with_check_character("Y1440300MA5FXXXX0"), with_check_character("Y1440300MA5FXXXX0")),  # 其他
    ],
)
def test_normalise_uscc_accepts_and_canonicalises(typed, stored):
    assert normalise_uscc(typed) == stored


@pytest.mark.parametrize(
    ("typed", "code", "message"),
    [
        (
            "91350100M000100Y44",
            "uscc_checksum",
            "统一社会信用代码校验位错误，应为 3，请核对代码是否有误",
        ),
        (
            "91110000600037341K",
            "uscc_checksum",
            "统一社会信用代码校验位错误，应为 L，请核对代码是否有误",
        ),
        (
            "91110000600037314L",  # two neighbouring characters swapped
            "uscc_checksum",
            f"统一社会信用代码校验位错误，应为 {with_check_character('91110000600037314')[17]}，请核对代码是否有误",
        ),
        ("", "uscc_format", "统一社会信用代码应为18位，当前为0位"),
        ("91110000600037341", "uscc_format", "统一社会信用代码应为18位，当前为17位"),
        ("91110000600037341LL", "uscc_format", "统一社会信用代码应为18位，当前为19位"),
        (
            "91110000600O37341L",
            "uscc_format",
            "统一社会信用代码含有无效字符 O（代码中不使用字母 I、O、Z、S、V）",
        ),
        (
            "9111000060003734SI",
            "uscc_format",
            "统一社会信用代码含有无效字符 I、S（代码中不使用字母 I、O、Z、S、V）",
        ),
        ("91110000-60003734L", "uscc_format", "统一社会信用代码含有无效字符 -"),
        (
            with_check_character("H1110000600037341"),
            "uscc_format",
            "统一社会信用代码第一位登记管理部门代码 H 无效",
        ),
        (
            with_check_character("01110000600037341"),
            "uscc_format",
            "统一社会信用代码第一位登记管理部门代码 0 无效",
        ),
    ],
)
def test_normalise_uscc_refuses_with_a_specific_reason(typed, code, message):
    with pytest.raises(IdentifierError) as caught:
        normalise_uscc(typed)

    assert (caught.value.code, caught.value.message) == (code, message)


# --- mobile numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+8613812345678",
        "+86 138 1234 5678",
        "0086 13812345678",
        "＋８６ １３８１２３４５６７８",
        "１３８－１２３４－５６７８",
        "\t13812345678\n",
    ],
)
def test_normalise_mobile_accepts_common_ways_of_typing(typed):
    assert normalise_mobile(typed) == "13812345678"


@pytest.mark.parametrize("typed", ["19912345678", "17012345678", "14712345678", "16612345678"])
def test_normalise_mobile_accepts_every_current_prefix(typed):
    assert normalise_mobile(typed) == typed


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "12345678901",  # 12x is not a mobile range
        "10012345678",
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "8613812345678",  # country code without + or 00
        "+85261234567",  # Hong Kong
        "+1 4155550123",
        "028-85551234",  # a landline
        "1381234567a",
        "138.1234.5678",
        "١٣٨١٢٣٤٥٦٧٨",
    ],
)
def test_normalise_mobile_refuses_non_mainland_mobiles(typed):
    with pytest.raises(IdentifierError) as caught:
        normalise_mobile(typed)

    assert (caught.value.code, caught.value.message) == (
        "mobile_format",
        "手机号格式错误，请填写11位中国大陆手机号",
    )


# --- masking -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("510104199001011234", "510104********1234"),
        ("11010519491231002x", "110105********002X"),
        (" 110105 19491231 002X", "110105********002X"),
        ("110105491231002", "110105*****1002"),
        ("1234567890", "**********"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_id_number(value, masked):
    assert mask_id_number(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138 1234 5678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("02885551234", "028****1234"),
        ("1234567", "*******"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(value, masked):
    assert mask_phone(value) == masked
