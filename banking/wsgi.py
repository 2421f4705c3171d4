"""The WSGI entry point (gunicorn: ``banking.wsgi:application``)."""
from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "banking.settings")

_django = get_wsgi_application()


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    """Django reads a body only up to its ``Content-Length``, so a chunked body (no
    length; the server has already removed the chunk framing from ``wsgi.input``) would
    be silently ignored. Read it here, at most one byte past the API's body limit, and
    hand Django a framed body: a too-long one then answers 413 like any other."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and not environ.get("CONTENT_LENGTH"):
        from django.conf import settings

        body = environ["wsgi.input"].read(settings.API_MAX_BODY_BYTES + 1)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
    return _django(environ, start_response)
