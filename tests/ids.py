"""Valid PRC resident ID numbers for tests that need people (the validator's own tests compute theirs)."""

from shared.validation import id_number_check_character


def valid_id_number(region: str = "510104", birth_date: str = "19850312", sequence: str = "123") -> str:
    body = f"{region}{birth_date}{sequence}"
    return body + id_number_check_character(body)
