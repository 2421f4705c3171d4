"""Input fields and the base input serializer shared by every app's API: strictly typed
(a JSON string for text, a JSON integer for ids, money by ``banking.money``'s rules),
with error messages that name the key to fix."""
from __future__ import annotations

import functools
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings

from banking.errors import InvalidAmount
from banking.money import AMOUNT_PATTERN, MAX_AMOUNT, format_money, parse_amount
from banking.text import has_invisible_characters


class InputSerializer(serializers.Serializer):
    """Base for request bodies: error messages that name the field, so that the single
    ``error`` string tells a person what to fix."""

    def get_fields(self):
        fields = super().get_fields()
        for name, field in fields.items():
            label = name.replace("_", " ").capitalize()
            field.error_messages["required"] = f"{label} is required."
            field.error_messages["null"] = f"{label} may not be null."
            field.error_messages["blank"] = f"{label} may not be blank."
        return fields


def _label(field: serializers.Field) -> str:
    # The key as the client sent it, so that the message says exactly what to fix.
    return field.field_name or "value"


class TextField(serializers.CharField):
    """A string field that takes only a JSON string (DRF's CharField turns 0 into "0")
    and refuses control and invisible formatting characters."""

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError(f"{_label(self)} must be a string.")
        if has_invisible_characters(data):
            raise serializers.ValidationError(
                f"{_label(self)} must not contain control or invisible formatting characters."
            )
        return super().to_internal_value(data)


class SecretField(serializers.CharField):
    """A password: only a JSON string, taken exactly as sent (no trimming)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("write_only", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError(f"{_label(self)} must be a string.")
        return super().to_internal_value(data)


class EmailTextField(TextField, serializers.EmailField):
    """An e-mail address: a JSON string, then Django's e-mail validation."""


class WholeNumberField(serializers.IntegerField):
    """A JSON number with no fraction, within ``min_value``..``max_value``. DRF's
    IntegerField also takes the strings "5" and "5.0"; JSON (and JSON Schema's "integer")
    does not tell 5 from 5.0, so both are accepted."""

    def to_internal_value(self, data: object) -> int:
        if isinstance(data, Decimal) and data.is_finite() and data == data.to_integral_value():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError(f"{_label(self)} must be a whole number (a JSON integer).")
        if not self.min_value <= data <= self.max_value:
            raise serializers.ValidationError(
                f"{_label(self)} must be a whole number from {self.min_value} to {self.max_value}."
            )
        return super().to_internal_value(data)


class IdField(WholeNumberField):
    """A database id: a whole number from 1 to the largest 64-bit id."""

    MAX = 2**63 - 1

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", self.MAX)
        super().__init__(**kwargs)


AMOUNT_SCHEMA = {
    "description": f'Positive, at most 2 decimal places, at most {MAX_AMOUNT}. A decimal string such as "100.00" '
                   "(a JSON number is read exactly, never as a float).",
    "oneOf": [
        {"type": "string", "pattern": AMOUNT_PATTERN, "maxLength": 40},
        {"type": "number", "exclusiveMinimum": 0, "maximum": int(MAX_AMOUNT), "multipleOf": 0.01},
    ],
    "example": "100.00",
}


@extend_schema_field(AMOUNT_SCHEMA)
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


@extend_schema_field({"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "example": "100.00"})
class MoneyOutputField(serializers.Field):
    """Money in an answer: always a string with two places."""

    def __init__(self, **kwargs):
        # Read-only, which the schema shows as always present; a field that an answer
        # may leave out (``required=False``) is left writable so that it does not.
        if kwargs.get("required", True):
            kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: Decimal) -> str:
        return format_money(value)


@functools.cache
def _shared(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    return serializer_class()


def validated(serializer_class: type[serializers.Serializer], data) -> dict:
    """``serializer_class(data=data)``'s validated data, or its ``ValidationError``, as
    ``is_valid(raise_exception=True)`` raises it, without building a new serializer for
    every request (DRF deep-copies every declared field into each new instance: a
    tenth of a deposit's server time). One instance per class is shared; validating
    stores nothing on it, and the API's input serializers have no per-request state
    (no context, no ``validate`` reading ``initial_data``)."""
    try:
        return _shared(serializer_class).run_validation(data)
    except serializers.ValidationError as exc:
        detail = exc.detail
        if isinstance(detail, list) and len(detail) == 1 and getattr(detail[0], "code", None) == "null":
            # What Serializer.errors answers for a body of JSON null.
            detail = {api_settings.NON_FIELD_ERRORS_KEY: [ErrorDetail("No data provided", code="null")]}
        raise serializers.ValidationError(detail) from None


def represent(serializer_class: type[serializers.Serializer], instance) -> dict:
    """``serializer_class(instance).data``, without building a new serializer (and deep
    copies of its fields) for every answer: one instance per class is shared, which is
    safe because representing an object changes nothing on the serializer."""
    return _shared(serializer_class).to_representation(instance)


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false, nothing else (DRF's BooleanField also takes "yes", 1, "on")."""

    def to_internal_value(self, data: object) -> bool:
        if not isinstance(data, bool):
            raise serializers.ValidationError(f"{_label(self)} must be true or false.")
        return data
