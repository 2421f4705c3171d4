"""OpenAPI helpers: the contract's paths, the Token security scheme, shared components."""
from __future__ import annotations

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


def contract_paths(endpoints):
    """Routes accept an optional trailing slash (``/?$``); document them as the contract
    writes them, without it."""
    cleaned = []
    for path, path_regex, method, callback in endpoints:
        path = re.sub(r"/\??$", "", path) or "/"
        cleaned.append((path, path_regex, method, callback))
    return cleaned


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "users.authentication.BearerTokenAuthentication"
    name = "TokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>` (or `Bearer <token>`), with the token returned by POST /auth/login.",
        }


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="What went wrong, for a person to act on.")
    details = serializers.DictField(required=False, help_text="Per-field validation messages.")


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    descriptions = {
        400: "Invalid input (or insufficient balance for money movements)",
        401: "Missing, invalid or expired token",
        403: "Not allowed (staff only)",
        404: "Not found (also: an account that is not yours)",
        409: "Conflict",
        413: "Request body too large",
        415: "Body is not application/json",
        429: "Too many requests (see the Retry-After header)",
        503: "Database unavailable, or a lock or statement timeout (e.g. the account is busy): nothing was "
             "changed; retry after Retry-After seconds",
    }
    # Any endpoint that touches the database may answer 503.
    return {
        status: OpenApiResponse(ErrorSerializer, description=descriptions[status])
        for status in sorted({*statuses, 503})
    }


IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Client-chosen key (1-255 printable ASCII characters) that makes a retry safe: the same key and "
        "body replay the first answer (with `Idempotent-Replayed: true`) and move no money again; the same "
        "key with a different body answers 409. Kept at least 24 hours."
    ),
)
