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

from banking.errors import ApplicationError, PayloadTooLarge

logger = logging.getLogger("banking.api")

AUTH_REQUIRED_MESSAGE = (
    "Authentication token required. Include 'Authorization: Token <your_token>' in headers."
)


class DecimalJSONParser(JSONParser):
    """JSON parser that reads numbers with a fraction as ``Decimal``, never float, and
    refuses the non-standard constants NaN and Infinity."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = settings.API_MAX_BODY_BYTES
        # Read at most one byte past the limit, whatever Content-Length claims (or if
        # the body is chunked), so an oversized body is never held in memory whole.
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"Request body too large: at most {limit} bytes.")
        try:
            return json.loads(raw.decode(encoding), parse_float=Decimal, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


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
        logger.warning("database unavailable: %s", exc)
        return Response(
            {"error": "The service is temporarily unavailable. Please retry."},
            status=503,
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
    else:
        logger.exception("unhandled error")
    return Response({"error": "Internal server error."}, status=500)


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
    label = field.split(".")[-1].replace("_", " ")
    if message.lower().startswith(label.lower()):
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
