"""OpenAPI helpers: the contract's paths, the Token security scheme, shared components."""
from __future__ import annotations

import functools
import re
import sys

from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from banking.serializers import IdField
from banking.text import has_invisible_characters


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


def errors(*statuses: int, media_type: str | None = None) -> dict:
    """The error answers of an operation (each ``{"error": ...}``). ``media_type`` pins
    them to one content type, for a view that renders its successes in several."""
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
        (status, media_type) if media_type else status: OpenApiResponse(ErrorSerializer, description=descriptions[status])
        for status in sorted({*statuses, 503})
    }


# --- Parameter schemas: the rules the views enforce, in a form clients and fuzzers read ----

INSTANT_SCHEMA = {
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}],
    "description": "ISO 8601 datetime (UTC if it has no offset) or date.",
}
PAGE_LIMIT_SCHEMA = {"type": "integer", "minimum": 1}
CURSOR_SCHEMA = {"type": "integer", "minimum": 1, "maximum": IdField.MAX}
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": IdField.MAX}
# Printable ASCII, as ``transactions.idempotency.validate_key`` checks it.
IDEMPOTENCY_KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$(?!\\n)"}


def page_limit(maximum: int, default: int) -> OpenApiParameter:
    return OpenApiParameter(
        "limit", {**PAGE_LIMIT_SCHEMA, "maximum": maximum},
        description=f"Rows per page, 1-{maximum} (default {default}).",
    )


def id_path_parameters(result: dict, generator, request, public) -> dict:
    """Ids in paths are routed as any segment (so that "/accounts/abc" answers the same
    404 as a missing account): document them as what they must be, positive integers."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"].endswith("_id"):
                    parameter["schema"] = dict(ID_SCHEMA)
    return result


IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    type=IDEMPOTENCY_KEY_SCHEMA,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Client-chosen key (1-255 printable ASCII characters) that makes a retry safe: the same key and "
        "body replay the first answer (with `Idempotent-Replayed: true`) and move no money again; the same "
        "key with a different body answers 409. Kept at least 24 hours."
    ),
)


class TextFieldExtension(OpenApiSerializerFieldExtension):
    """Publish what ``TextField`` refuses as a `pattern`, so that clients and fuzzers know
    it: no control or invisible formatting characters."""

    target_class = "banking.serializers.TextField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        # Only the type: drf-spectacular adds lengths, nullability, defaults and a field's
        # own validators (a username's stricter pattern replaces this one) around it.
        own = [v.regex.pattern for v in self.target.validators if isinstance(v, RegexValidator)]
        # A field's own, stricter pattern (usernames, URLs) is published instead, with ECMA anchors.
        pattern = ecma(own[0]) if own else text_pattern()
        schema = {"type": "string", "pattern": pattern}
        if isinstance(self.target, serializers.EmailField):
            schema["format"] = "email"
        return schema


def ecma(pattern: str) -> str:
    """A Python pattern anchored with \\A and \\Z, as JSON Schema (ECMA-262) writes it."""
    return pattern.replace("\\A", "^").replace("\\Z", "$(?!\\n)")


@functools.cache
def text_pattern() -> str:
    """A character class of everything ``has_invisible_characters`` refuses, computed
    from Unicode itself (once, when the schema is built) so the two cannot drift."""
    refused = [code for code in range(sys.maxunicode + 1) if has_invisible_characters(chr(code))]
    ranges: list[list[int]] = []
    for code in refused:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])

    def char(code: int) -> str:
        # \uXXXX is understood by ECMA-262 and Python regexes alike; beyond the BMP only the
        # character itself is.
        return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)

    body = "".join(char(a) if a == b else f"{char(a)}-{char(b)}" for a, b in ranges)
    # "+", not "*": an empty string is published separately where a field allows it (drf-
    # spectacular's oneOf of this and maxLength 0, which "" must match exactly once).
    return f"^[^{body}]+$(?!\\n)"
