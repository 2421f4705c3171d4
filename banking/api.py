"""API plumbing shared by every app: the JSON parser, the base input serializer, the
one exception handler, and JSON answers for Django-level 404/500."""
from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import set_rollback

from banking.errors import ApplicationError, NotFound, PayloadTooLarge
from banking.text import has_invisible_characters

logger = logging.getLogger("banking.api")

AUTH_REQUIRED_MESSAGE = (
    "Authentication token required. Include 'Authorization: Token <your_token>' in headers."
)


class DecimalJSONParser(JSONParser):
    """JSON parser that reads numbers with a fraction as ``Decimal``, never float, and
    refuses what JSON parsers usually let through silently: the non-standard constants
    NaN and Infinity, duplicate keys (``{"amount": "1.00", "amount": "7.00"}`` must not
    quietly move 7.00) and nesting too deep to parse (Python's parser would raise
    RecursionError, a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = settings.API_MAX_BODY_BYTES
        # BodyLimitMiddleware has already refused a Content-Length over the limit; read
        # at most one byte past it anyway, so an oversized body is never held whole.
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"Request body too large: at most {limit} bytes.")
        try:
            return json.loads(
                raw.decode(encoding), parse_float=Decimal, parse_constant=_reject_constant,
                object_pairs_hook=_unique_keys,
            )
        except RecursionError:
            raise exceptions.ParseError("Malformed JSON: nested too deeply.") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {json.dumps(key)}")
        obj[key] = value
    return obj


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


def path_id(value: str, *, not_found: type[NotFound]) -> int:
    """An id from the URL path. Something that is no id ("abc", "0", 20 digits) is
    answered like an id that does not exist, with the same 404 and message."""
    if value.isascii() and value.isdigit() and 1 <= int(value) <= IdField.MAX:
        return int(value)
    raise not_found()


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


class IdField(serializers.IntegerField):
    """A database id: a JSON number with no fraction, from 1 to the largest 64-bit id.
    DRF's IntegerField also takes the strings "5" and "5.0"; JSON (and JSON Schema's
    "integer") does not tell 5 from 5.0, so both are accepted."""

    MAX = 2**63 - 1

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", self.MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data: object) -> int:
        if isinstance(data, Decimal) and data.is_finite() and data == data.to_integral_value():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError(f"{_label(self)} must be a whole number (a JSON integer).")
        return super().to_internal_value(data)


def exception_handler(exc: Exception, context: dict) -> Response:
    """Map every error to ``{"error": "<message>"}`` with the right status.

    Domain errors carry their own status; DRF's errors keep theirs; anything else is
    logged with its traceback and answered as a plain 500 (the traceback never leaves
    the server). ``set_rollback()`` makes sure a request-level atomic block, if any,
    does not commit half of a failed request.
    """
    set_rollback()
    if isinstance(exc, ApplicationError):
        return Response({"error": exc.message, **exc.extra}, status=exc.status_code, headers=exc.headers)

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        body: dict[str, Any] = {"error": _message_for(exc)}
        if isinstance(exc, exceptions.ValidationError):
            body["details"] = exc.detail
        return Response(body, status=exc.status_code, headers=headers)

    if isinstance(exc, (OperationalError, InterfaceError)):
        pgcode = getattr(exc.__cause__, "pgcode", None)
        message = _RETRYABLE_MESSAGES.get(pgcode, "The service is temporarily unavailable. Please retry.")
        logger.warning("database unavailable (%s): %s", pgcode or "no code", str(exc).strip())
        return Response({"error": message}, status=503, headers={"Retry-After": "1"})
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
    else:
        logger.exception("unhandled error")
    return Response({"error": "Internal server error."}, status=500)


# Waits the database cut short (DATABASE_LOCK_TIMEOUT_MS, DATABASE_STATEMENT_TIMEOUT_MS):
# the transaction rolled back, nothing changed, and the same request may simply be retried.
_RETRYABLE_MESSAGES = {
    "55P03": "The account is busy with another operation. Nothing was changed; retry in a moment "
             "(with the same Idempotency-Key, a retry is always safe).",
    "57014": "The request took too long and was cancelled. Nothing was changed; retry in a moment.",
}


def _message_for(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.NotAuthenticated):
        return AUTH_REQUIRED_MESSAGE
    if isinstance(exc, exceptions.ValidationError):
        return _first_validation_message(exc.detail) or "Invalid input."
    if isinstance(exc, exceptions.NotFound):
        return "Not found."
    detail = exc.detail
    return str(detail if not isinstance(detail, (list, dict)) else exc.default_detail)


def _first_validation_message(detail: Any, field: str | None = None) -> str | None:
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = None if key == "non_field_errors" else (f"{field}.{key}" if field else key)
            message = _first_validation_message(value, name)
            if message:
                return message
        return None
    if isinstance(detail, list):
        for item in detail:
            message = _first_validation_message(item, field)
            if message:
                return message
        return None
    message = str(detail)
    if field is None:
        return message
    key = field.split(".")[-1]
    if message.lower().startswith(key.replace("_", " ").lower()) or message.startswith(key):
        return message
    return f"{field}: {message}"


# --- Django-level handlers (paths no DRF view answered) ---------------------------

def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"error": "Not found."}, status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"error": "Internal server error."}, status=500)


def json_bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"error": "Bad request."}, status=400)


def json_permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"error": "Permission denied."}, status=403)
