from __future__ import annotations

import json
import logging
import re
import time
import uuid

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger("banking.requests")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestLogMiddleware:
    """One JSON log line per request (method, path, status, duration, user id, request id)
    and an ``X-Request-ID`` on every answer: the client's own if it sent a sane one,
    otherwise a new one, so a support ticket can be matched to the server's log line."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sent = request.headers.get("X-Request-ID", "")
        request_id = sent if _VALID_REQUEST_ID.match(sent) else uuid.uuid4().hex
        request.request_id = request_id
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = (time.perf_counter() - started) * 1000
        response["X-Request-ID"] = request_id
        if logger.isEnabledFor(logging.INFO):
            user = getattr(request, "user", None)
            logger.info(json.dumps({
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(duration_ms, 2),
                "user_id": user.pk if getattr(user, "is_authenticated", False) else None,
                "request_id": request_id,
            }))
        return response


class BodyLimitMiddleware:
    """Refuse a body over ``API_MAX_BODY_BYTES`` with 413 from its ``Content-Length``,
    before anything reads it (Django itself would read up to DATA_UPLOAD_MAX_MEMORY_SIZE,
    then raise RequestDataTooBig, a 500). The admin's forms are held to it too (they are a
    few KiB): no path reads a body larger than the server worker buffers whole.

    A chunked body has no Content-Length: ``banking.wsgi`` reads it up to one byte past
    the limit and frames it, so it arrives here with a length like any other."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.API_MAX_BODY_BYTES
        if _content_length(request) > limit:
            response = JsonResponse({"error": f"Request body too large: at most {limit} bytes."}, status=413)
            response["Connection"] = "close"  # the unread body must not be taken for a next request
            return response
        return self.get_response(request)


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


# --- the console's middleware, for the console only ------------------------------------
# Sessions, the user from a session and messages serve the staff console (the Django
# admin) alone: the API authenticates every request by its token (DRF sets
# ``request.user``), keeps no session and shows no messages. Running them on every API
# request cost about 4 % of its server time, for nothing. CSRF protection stays on
# every path (the API's views are exempt: no cookie authenticates them).
CONSOLE_PREFIX = "/admin"


def _console_only(middleware_class: type) -> type:
    class ConsoleOnly(middleware_class):
        __doc__ = f"{middleware_class.__name__}, on the console's paths only."

        def __call__(self, request: HttpRequest) -> HttpResponse:
            if not request.path_info.startswith(CONSOLE_PREFIX):
                return self.get_response(request)
            return super().__call__(request)

    ConsoleOnly.__name__ = ConsoleOnly.__qualname__ = f"Console{middleware_class.__name__}"
    return ConsoleOnly


ConsoleSessionMiddleware = _console_only(SessionMiddleware)
ConsoleAuthenticationMiddleware = _console_only(AuthenticationMiddleware)
ConsoleMessageMiddleware = _console_only(MessageMiddleware)
