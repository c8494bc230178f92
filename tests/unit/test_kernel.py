"""Pure kernel helpers: money and settings parsing."""

from decimal import Decimal

import pytest

from shared.env import database_from_url
from shared.money import MoneyError, fen_to_yuan, format_yuan, yuan_to_fen


@pytest.mark.parametrize(
    ("value", "fen"),
    [("200", 20000), ("200.5", 20050), (Decimal("0.01"), 1), (10000, 1000000), (" 1.10 ", 110), ("0", 0)],
)
def test_yuan_to_fen(value, fen):
    assert yuan_to_fen(value) == fen


@pytest.mark.parametrize("value", [0.1, "1.001", "abc", "NaN", "Infinity", ""])
def test_yuan_to_fen_refuses_floats_and_non_amounts(value):
    with pytest.raises(MoneyError):
        yuan_to_fen(value)


def test_fen_to_yuan_and_format():
    assert fen_to_yuan(1000000) == Decimal("10000.00")
    assert format_yuan(12345678) == "123,456.78"
    with pytest.raises(MoneyError):
        fen_to_yuan(1.5)


def test_database_url_with_socket_directory():
    parsed = database_from_url("postgresql://postgres@/xiehui?host=/work/var/pgdata")

    assert parsed["HOST"] == "/work/var/pgdata"
    assert parsed["NAME"] == "xiehui" and parsed["USER"] == "postgres" and parsed["OPTIONS"] == {}


def test_database_url_with_host_port_and_escaped_password():
    parsed = database_from_url("postgres://app:p%40ss@db.internal:6432/xiehui?sslmode=require")

    assert (parsed["HOST"], parsed["PORT"], parsed["PASSWORD"]) == ("db.internal", "6432", "p@ss")
    assert parsed["OPTIONS"] == {"sslmode": "require"}


def test_database_url_must_be_postgres():
    with pytest.raises(ValueError):
        database_from_url("sqlite:///db.sqlite3")
