"""The one place that defines money: its database field, its bounds, its parsing and
formatting. No API framework here: models and services import only this; the API's
field for amounts (``banking.serializers.AmountField``) is built on it.

Amounts are exact decimals with two places. Clients send them as decimal strings
("100.00"); a JSON number is accepted too, because the API's JSON parser reads numbers
as Decimal (never float), so ``100.1`` arrives exactly as ``Decimal("100.1")``.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.db import models
from banking.errors import InvalidAmount

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
DECIMAL_PLACES = 2
# The largest single deposit, withdrawal or transfer.
MAX_AMOUNT = Decimal("1000000000.00")
# The largest balance an account may hold; the balance column has room for it.
MAX_BALANCE = Decimal("999999999999999.99")
BALANCE_MAX_DIGITS = 17  # 15 integer digits + 2 decimal places

# Every string amount the API accepts, as one regular expression (ECMA-262 and Python
# alike): published as the OpenAPI `pattern`, and what ``parse_amount`` accepts exactly
# (a property test holds the two together). Positive, at most two places, at most
# MAX_AMOUNT, digits before any point; leading zeros are harmless. It ends in "$(?!\n)":
# Python's "$" also matches before a final newline, and fuzzers generate that.
AMOUNT_PATTERN = (
    r"^0*(?:[1-9][0-9]{0,8}(?:\.[0-9]{1,2})?|1000000000(?:\.0{1,2})?|0\.(?:0[1-9]|[1-9][0-9]?))$(?!\n)"
)
_DECIMAL_STRING = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_NEGATIVE_STRING = re.compile(r"-\s*[0-9]+(?:\.[0-9]+)?")


class MoneyField(models.DecimalField):
    """A two-place decimal column wide enough for any balance."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", BALANCE_MAX_DIGITS)
        kwargs.setdefault("decimal_places", DECIMAL_PLACES)
        super().__init__(*args, **kwargs)


def format_money(value: Decimal) -> str:
    """Render an amount the way the API always shows money: two places, as a string."""
    return str(value.quantize(CENT))


def parse_amount(value: object) -> Decimal:
    """Turn client input into a valid amount or raise ``InvalidAmount``.

    Valid: a decimal string or JSON number, positive, at most two decimal places,
    at most ``MAX_AMOUNT``. Rejected: booleans, floats (inexact), NaN, Infinity,
    exponent notation, signs, blanks.
    """
    if value is None or (isinstance(value, str) and value.strip() == ""):
        raise InvalidAmount("Amount is required.")
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidAmount('Amount must be a decimal string such as "100.00".')
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        # Exactly as sent: no surrounding blanks (the published pattern has none).
        if _NEGATIVE_STRING.fullmatch(value):
            raise InvalidAmount("Amount must be positive.")
        if not _DECIMAL_STRING.fullmatch(value) or len(value) > 40:
            raise InvalidAmount('Amount must be a decimal number such as "100.00".')
        try:
            amount = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern already excludes this
            raise InvalidAmount('Amount must be a decimal number such as "100.00".') from None
    else:
        raise InvalidAmount('Amount must be a decimal string such as "100.00".')
    return validate_amount(amount)


def validate_amount(amount: Decimal) -> Decimal:
    """Check an already-decimal amount (services call this too) and quantize it."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidAmount('Amount must be a decimal number such as "100.00".')
    if amount <= 0:
        raise InvalidAmount("Amount must be positive.")
    if amount.as_tuple().exponent < -DECIMAL_PLACES:
        raise InvalidAmount("Amount must have at most 2 decimal places.")
    if amount > MAX_AMOUNT:
        raise InvalidAmount(f"Amount must not exceed {format_money(MAX_AMOUNT)}.")
    return amount.quantize(CENT)
