"""Money is integer fen everywhere; Decimal with two places only at the edges (display, gateways)."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN_PER_YUAN = 100


class MoneyError(ValueError):
    pass


def yuan_to_fen(value: str | int | Decimal) -> int:
    """'200', '200.5', Decimal('200.50') -> fen. Floats are refused: they cannot hold 0.1 exactly."""
    if isinstance(value, float):
        raise MoneyError("amounts must not be floats")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as error:
        raise MoneyError(f"not an amount: {value!r}") from error
    if not amount.is_finite():
        raise MoneyError(f"not an amount: {value!r}")
    fen = amount * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise MoneyError(f"more than two decimal places: {value!r}")
    return int(fen)


def fen_to_yuan(fen: int) -> Decimal:
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise MoneyError("fen must be an integer")
    return (Decimal(fen) / FEN_PER_YUAN).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def format_yuan(fen: int) -> str:
    """12345678 -> '123,456.78'."""
    return f"{fen_to_yuan(fen):,.2f}"
