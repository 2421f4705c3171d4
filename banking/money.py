"""The one place that defines money: its database field, its bounds and its parsing.

Amounts are exact decimals with two places. Clients send them as decimal strings
("100.00"); a JSON number is accepted too, because the API's JSON parser reads numbers
as Decimal (never float), so ``100.1`` arrives exactly as ``Decimal("100.1")``.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from banking.errors import InvalidAmount

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
DECIMAL_PLACES = 2
# The largest single deposit, withdrawal or transfer.
MAX_AMOUNT = Decimal("1000000000.00")
# The largest balance an account may hold; the balance column has room for it.
MAX_BALANCE = Decimal("999999999999999.99")
BALANCE_MAX_DIGITS = 17  # 15 integer digits + 2 decimal places

_AMOUNT_STRING = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
_NEGATIVE_STRING = re.compile(r"^-\s*[0-9]+(?:\.[0-9]+)?$")


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
        text = value.strip()
        if _NEGATIVE_STRING.match(text):
            raise InvalidAmount("Amount must be positive.")
        if not _AMOUNT_STRING.match(text) or len(text) > 40:
            raise InvalidAmount('Amount must be a decimal number such as "100.00".')
        try:
            amount = Decimal(text)
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


@extend_schema_field({
    "type": ["string", "number"],
    "description": 'Positive, at most 2 decimal places, at most 1000000000.00. A decimal string such as "100.00" '
                   "(a JSON number is read exactly, never as a float).",
    "example": "100.00",
})
class AmountField(serializers.Field):
    """The API's money input: ``parse_amount`` rules, errors as field errors."""

    default_error_messages = {"null": "Amount may not be null."}

    def to_internal_value(self, data: object) -> Decimal:
        try:
            return parse_amount(data)
        except InvalidAmount as exc:
            raise serializers.ValidationError(exc.message) from None

    def to_representation(self, value: Decimal) -> str:
        return format_money(value)
