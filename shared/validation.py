"""Chinese identifiers: resident ID numbers, unified social credit codes, mobile numbers.

Pure functions (no Django, no database) so forms, serializers, imports and services share one rule.
Each `normalise_*` returns the canonical form to store, or raises `IdentifierError` with a stable
English `code` and a specific Simplified Chinese `message` for the person who typed the value.

Why not python-stdnum's `cn.ric`: it checks the county code against the *birth* year and refuses
Hong Kong / Macao / Taiwan residence-permit numbers, so it rejects real IDs (research/ecosystem.md §4).
"""

import datetime
import re
from typing import Literal
from zoneinfo import ZoneInfo

from shared.errors import CodedError

# PRC IDs carry Beijing dates; "in the future" must not depend on the server's own time zone.
CHINA_TIME_ZONE = ZoneInfo("Asia/Shanghai")

# Full-width digits and Latin letters (from Chinese input methods) map to ASCII, and the ideographic
# space U+3000 to a plain space. Built explicitly rather than with NFKC, which would also turn
# look-alikes such as superscript "²" into digits.
_FULL_WIDTH = str.maketrans(
    {
        **{chr(0xFF10 + offset): str(offset) for offset in range(10)},
        **{chr(0xFF21 + offset): chr(ord("A") + offset) for offset in range(26)},
        **{chr(0xFF41 + offset): chr(ord("a") + offset) for offset in range(26)},
        "\u3000": " ",
        "＋": "+",
        "－": "-",
    }
)
_WHITESPACE = re.compile(r"\s+")


class IdentifierError(CodedError, ValueError):
    """A value that is not a valid identifier; `code` is stable English, `message` is for people."""


def _to_ascii_compact(value: str) -> str:
    return _WHITESPACE.sub("", (value or "").translate(_FULL_WIDTH))


# --- resident ID numbers (GB 11643-1999) ---------------------------------------------------------

# Province-level codes (GB/T 2260), plus 81/82 (Hong Kong, Macao) and 83 (Taiwan) which prefix the
# residence permits of those residents. 91 (the old "abroad" code) is never issued on an ID card.
ID_NUMBER_PROVINCES = frozenset(
    {
        *(str(code) for code in range(11, 16)),
        *(str(code) for code in range(21, 24)),
        *(str(code) for code in range(31, 38)),
        *(str(code) for code in range(41, 47)),
        *(str(code) for code in range(50, 55)),
        *(str(code) for code in range(61, 66)),
        "71",
        "81",
        "82",
        "83",
    }
)
ID_NUMBER_EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)
# ISO 7064 MOD 11-2: weight of position i (0-based, 17 digits) is 2^(17 - i) mod 11.
_ID_WEIGHTS = tuple(pow(2, 17 - position, 11) for position in range(17))
_ID_CHECK_CHARACTERS = "10X98765432"
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_OLD_ID_SHAPE = re.compile(r"[0-9]{15}")


def id_number_check_character(first_17_digits: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits of an ID number."""
    total = sum(int(digit) * weight for digit, weight in zip(first_17_digits, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARACTERS[total % 11]


def _china_today() -> datetime.date:
    return datetime.datetime.now(CHINA_TIME_ZONE).date()


def normalise_id_number(value: str, *, today: datetime.date | None = None) -> str:
    """Return an 18-character PRC resident ID number in upper-case ASCII, or raise IdentifierError.

    Accepts spaces, full-width characters and a lower-case x. Checks, in the order a person can act
    on: shape, province code, birth date (real, from 1900 to `today` in Beijing), check character.
    `today` is for tests; callers leave it out.
    """
    number = _to_ascii_compact(value).upper()
    if _OLD_ID_SHAPE.fullmatch(number):
        raise IdentifierError(
            "id_number_old_format", "不支持15位旧身份证号，请填写18位身份证号（可在新身份证上查看）"
        )
    if not _ID_SHAPE.fullmatch(number):
        raise IdentifierError(
            "id_number_format", "身份证号格式错误，应为18位：前17位为数字，最后一位为数字或 X"
        )
    if number[:2] not in ID_NUMBER_PROVINCES:
        raise IdentifierError("id_number_region", f"身份证号前两位地区码 {number[:2]} 无效")
    _check_birth_date(number[6:14], today=today or _china_today())
    expected = id_number_check_character(number[:17])
    if number[17] != expected:
        raise IdentifierError(
            "id_number_checksum", f"身份证号校验位错误，应为 {expected}，请核对号码是否有误"
        )
    return number


def _check_birth_date(digits: str, *, today: datetime.date) -> datetime.date:
    try:
        born = datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise IdentifierError("id_number_birth_date", f"身份证号中的出生日期 {digits} 不是有效日期") from None
    if born < ID_NUMBER_EARLIEST_BIRTH_DATE:
        raise IdentifierError("id_number_birth_date", f"身份证号中的出生日期 {born.isoformat()} 早于1900年")
    if born > today:
        raise IdentifierError("id_number_birth_date", f"身份证号中的出生日期 {born.isoformat()} 晚于今天")
    return born


def id_number_birth_date(id_number: str) -> datetime.date:
    """The birth date in a valid ID number (validated first; raises IdentifierError otherwise)."""
    number = normalise_id_number(id_number)
    return datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def id_number_gender(id_number: str) -> Literal["male", "female"]:
    """The 17th digit (the sequence number's last) is odd for men and even for women."""
    number = normalise_id_number(id_number)
    return "male" if int(number[16]) % 2 == 1 else "female"


# --- unified social credit codes (GB 32100-2015) ---------------------------------------------------

# 31 characters: digits and capitals without I, O, Z, S, V (confusable with 1, 0, 2, 5, U).
USCC_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {character: value for value, character in enumerate(USCC_CHARACTERS)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # 3^i mod 31
# The registration authority (first character): 1 机构编制, 5 民政, 9 市场监管, Y 其他, and the other
# digits and A–G that the standard reserves for further authorities.
USCC_AUTHORITIES = frozenset("123456789ABCDEFGY")
_USCC_FORBIDDEN = frozenset("IOZSV")


def uscc_check_character(first_17_characters: str) -> str:
    """The GB 32100 MOD 31 check character for the first 17 characters of a USCC."""
    total = sum(
        _USCC_VALUES[character] * weight
        for character, weight in zip(first_17_characters, _USCC_WEIGHTS, strict=True)
    )
    return USCC_CHARACTERS[(31 - total % 31) % 31]


def normalise_uscc(value: str) -> str:
    """Return an 18-character unified social credit code in upper-case ASCII, or raise IdentifierError.

    Does not check the embedded organisation code's own GB 11714 check digit: codes issued to
    individual businesses (92…) and some other bodies do not follow it, so checking would refuse
    real codes.
    """
    code = _to_ascii_compact(value).upper()
    if len(code) != 18:
        raise IdentifierError("uscc_format", f"统一社会信用代码应为18位，当前为{len(code)}位")
    invalid = sorted({character for character in code if character not in _USCC_VALUES})
    if invalid:
        forbidden = [character for character in invalid if character in _USCC_FORBIDDEN]
        hint = "（代码中不使用字母 I、O、Z、S、V）" if forbidden else ""
        raise IdentifierError("uscc_format", f"统一社会信用代码含有无效字符 {'、'.join(invalid)}{hint}")
    if code[0] not in USCC_AUTHORITIES:
        raise IdentifierError("uscc_format", f"统一社会信用代码第一位登记管理部门代码 {code[0]} 无效")
    expected = uscc_check_character(code[:17])
    if code[17] != expected:
        raise IdentifierError(
            "uscc_checksum", f"统一社会信用代码校验位错误，应为 {expected}，请核对代码是否有误"
        )
    return code


# --- mainland mobile numbers -------------------------------------------------------------------------

_MOBILE_SHAPE = re.compile(r"1[3-9][0-9]{9}")
_MOBILE_PREFIXES = ("+86", "0086")


def normalise_mobile(value: str) -> str:
    """Return the 11 digits of a mainland China mobile number, or raise IdentifierError.

    Accepts spaces, dashes, full-width characters and a +86 / 0086 country prefix.
    """
    number = _to_ascii_compact(value).replace("-", "")
    for prefix in _MOBILE_PREFIXES:
        if number.startswith(prefix):
            number = number[len(prefix) :]
            break
    if not _MOBILE_SHAPE.fullmatch(number):
        raise IdentifierError("mobile_format", "手机号格式错误，请填写11位中国大陆手机号")
    return number


# --- masking for display and logs --------------------------------------------------------------------


def _mask(value: str, *, keep_start: int, keep_end: int) -> str:
    # Too short to show both ends without revealing most of it: hide everything.
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]


def mask_id_number(value: str | None) -> str:
    """'510104199001011234' -> '510104********1234'; empty or None -> ''. Never raises."""
    compact = _to_ascii_compact(value or "").upper()
    return _mask(compact, keep_start=6, keep_end=4)


def mask_phone(value: str | None) -> str:
    """'13812345678' (or '+86 138 1234 5678') -> '138****5678'; empty or None -> ''. Never raises."""
    try:
        compact = normalise_mobile(value or "")
    except IdentifierError:
        compact = _to_ascii_compact(value or "")
    return _mask(compact, keep_start=3, keep_end=4)
