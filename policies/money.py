"""Money as integer minor units plus an ISO 4217 code, and how to show it."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

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


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def money_in(params: Mapping[str, Any]) -> tuple[int | None, str]:
    """The amount and currency an action's params name, as the listing columns keep them: only a
    real, non-negative whole number is money in minor units (None otherwise)."""
    amount = params.get("amount")
    return (amount if _whole(amount) and amount >= 0 else None), str(params.get("currency", ""))[:3]


def params_money_text(params: Mapping[str, Any]) -> str:
    """The amount of `params` as a reviewer reads it ("120.00 USD"), or "" when the params do
    not name a whole amount and a currency."""
    amount, currency = params.get("amount"), params.get("currency")
    if _whole(amount) and isinstance(currency, str):
        return format_money(amount, currency)
    return ""
