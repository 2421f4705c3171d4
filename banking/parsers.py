"""The API's JSON parser (its own module: DRF's settings import it while DRF itself is
still loading, so it must not import DRF's views)."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from banking.errors import PayloadTooLarge


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
