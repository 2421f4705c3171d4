"""API plumbing shared by every app: the one exception handler (domain errors to HTTP),
ids in paths, and JSON answers for Django-level 400/403/404/500."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import set_rollback

from banking.errors import (
    ApplicationError,
    Conflict,
    InvalidCredentials,
    NotFound,
    NotPermitted,
    PayloadTooLarge,
    TooManyRequests,
    ValidationFailed,
)
from banking.serializers import IdField

logger = logging.getLogger("banking.api")

AUTH_REQUIRED_MESSAGE = (
    "Authentication token required. Include 'Authorization: Token <your_token>' in headers."
)


def _whole_number(raw: str, low: int, high: int) -> int | None:
    """``raw`` as a whole number within ``low``..``high``, or None. ASCII digits only:
    str.isdigit() also takes "²", which int() refuses."""
    if raw.isascii() and raw.isdigit() and low <= int(raw) <= high:
        return int(raw)
    return None


def path_id(value: str, *, not_found: type[NotFound]) -> int:
    """An id from the URL path. Something that is no id ("abc", "0", 20 digits) is
    answered like an id that does not exist, with the same 404 and message."""
    number = _whole_number(value, 1, IdField.MAX)
    if number is None:
        raise not_found()
    return number


def query_int(request: Request, name: str, *, default: int | None, low: int, high: int) -> int | None:
    """A whole-number query parameter within ``low``..``high``, or ``default`` if absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    number = _whole_number(raw, low, high)
    if number is None:
        raise ValidationFailed(f"{name} must be a whole number from {low} to {high}.")
    return number


def keyset_page(request: Request, rows: list, *, limit: int, cursor: Callable[[Any], int],
                param: str = "cursor") -> tuple[list, dict]:
    """A page of at most ``limit`` rows out of ``rows`` (fetched with one more, to know
    whether there is a next page) and its headers: ``Link: <...>; rel="next"`` with the
    same query and ``param`` (``cursor``) set to the last row's position."""
    if len(rows) <= limit:
        return rows, {}
    rows = rows[:limit]
    query = request.query_params.copy()
    query[param] = str(cursor(rows[-1]))
    query["limit"] = str(limit)
    next_url = request.build_absolute_uri(request.path) + "?" + urlencode(query)
    return rows, {"Link": f'<{next_url}>; rel="next"'}


# The HTTP status of each kind of domain error; any other ApplicationError is a 400.
_ERROR_STATUS: list[tuple[type[ApplicationError], int]] = [
    (InvalidCredentials, 401), (NotPermitted, 403), (NotFound, 404), (Conflict, 409), (PayloadTooLarge, 413), (TooManyRequests, 429),
]


def error_answer(exc: ApplicationError) -> tuple[int, dict[str, Any]]:
    """The status and body that answer a domain error (also what an idempotency key
    stores and replays)."""
    status = next((code for kind, code in _ERROR_STATUS if isinstance(exc, kind)), 400)
    body: dict[str, Any] = {"error": exc.message}
    if exc.details:
        body["details"] = exc.details
    return status, body


def exception_handler(exc: Exception, context: dict) -> Response:
    """Map every error to ``{"error": "<message>"}`` with the right status.

    Domain errors carry their own status; DRF's errors keep theirs; anything else is
    logged with its traceback and answered as a plain 500 (the traceback never leaves
    the server). ``set_rollback()`` makes sure a request-level atomic block, if any,
    does not commit half of a failed request.
    """
    set_rollback()
    if isinstance(exc, ApplicationError):
        status, body = error_answer(exc)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else {}
        return Response(body, status=status, headers=headers)

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
    # The request id (RequestLogMiddleware) ties this traceback to the request's log line
    # and to what the client saw in X-Request-ID.
    request_id = getattr(context.get("request"), "request_id", "-")
    if isinstance(exc, DatabaseError):
        logger.exception("database error (request %s)", request_id)
    else:
        logger.exception("unhandled error (request %s)", request_id)
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
