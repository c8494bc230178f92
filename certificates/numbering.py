"""Pure helpers of the registry: registry numbers from the rules' pattern, validity, masking for display.

Nothing here touches the database, so every pattern and edge case is tested in milliseconds
(tests/unit/test_certificate_numbering.py).
"""

from __future__ import annotations

from datetime import date

from shared.validation import mask_id_number

__all__ = ["certificate_number", "mask_id_number", "mask_name", "valid_until_for"]


def certificate_number(*, pattern: str, year: int, seq: int, program: str = "") -> str:
    """The registry number for sequence `seq` of `year`: `pattern` with {year}, {seq} and {program}.

    The pattern was validated by the rules schema (only those placeholders, {seq} present). Raises
    ValueError for a sequence below 1.
    """
    if seq < 1:
        raise ValueError(f"sequence numbers start at 1, not {seq}")
    return pattern.format(year=year, seq=seq, program=program)


def valid_until_for(*, issued_on: date, validity_years: int) -> date | None:
    """The last day of validity: the same day `validity_years` later (28 Feb for 29 Feb); None for 0 (长期)."""
    if validity_years <= 0:
        return None
    year = issued_on.year + validity_years
    try:
        return issued_on.replace(year=year)
    except ValueError:  # 29 February into a year that has none
        return issued_on.replace(year=year, day=28)


def mask_name(name: str) -> str:
    """'张三丰' -> '张*丰', '张三' -> '张*', '欧阳娜娜' -> '欧**娜', '张' -> '张'; empty stays empty."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
