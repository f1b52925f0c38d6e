"""Money as integer minor units plus an ISO 4217 code, and how to show it."""

from decimal import Decimal

# Currencies whose minor unit is not the cent; every other code uses two decimals.
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "JOD": 3}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def format_money(amount: int | None, currency: str | None) -> str:
    if amount is None:
        return ""
    exp = exponent(currency or "")
    value = Decimal(amount).scaleb(-exp)
    text = f"{value:,.{exp}f}"
    return f"{text} {currency}".strip() if currency else text
