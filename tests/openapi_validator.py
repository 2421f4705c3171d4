"""Validate real API responses against the OpenAPI schema the project generates.

conftest.py wraps every APIClient request of the suite with ``check_response``: a body
that does not match its documented shape, or a status the operation does not document,
fails the test that produced it. So the schema cannot drift from the code."""
from __future__ import annotations

import re
import threading
from functools import lru_cache

from jsonschema import Draft202012Validator

SKIPPED_STATUSES = {405, 406, 500}  # generic answers of the framework, documented in the README
seen_operations: set[tuple[str, str]] = set()
_lock = threading.Lock()


_generation_lock = threading.Lock()


def schema() -> dict:
    # Generated once, by one thread: drf-spectacular's generator is not thread-safe, and
    # the concurrency tests' first requests arrive from many threads at once.
    with _generation_lock:
        return _schema()


@lru_cache(maxsize=1)
def _schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


@lru_cache(maxsize=1)
def _routes() -> list[tuple[re.Pattern, str]]:
    routes = []
    for template in schema()["paths"]:
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        routes.append((re.compile(rf"^{pattern}/?$"), template))
    # Literal segments before parameters: /accounts/all must not match /accounts/{account_id}.
    routes.sort(key=lambda route: route[1].count("{"))
    return routes


def operation_for(method: str, path: str) -> tuple[str, dict] | None:
    for regex, template in _routes():
        if regex.match(path):
            operation = schema()["paths"][template].get(method.lower())
            return (template, operation) if operation else None
    return None


@lru_cache(maxsize=None)
def _validator(template: str, method: str, status: str) -> Draft202012Validator | None:
    response = schema()["paths"][template][method]["responses"].get(status)
    assert response is not None, f"{method.upper()} {template} answered {status}, which the schema does not document"
    content = response.get("content", {}).get("application/json")
    if content is None:
        return None
    return Draft202012Validator({**content["schema"], "components": schema()["components"]})


def check_response(method: str, path: str, response) -> None:
    if response.status_code in SKIPPED_STATUSES:
        return
    found = operation_for(method, path.split("?")[0])
    if found is None:
        return
    template, operation = found
    with _lock:
        seen_operations.add((method.lower(), template))
    if not response.get("Content-Type", "").startswith("application/json"):
        # No body to check (204), or one in another format (CSV): its status is still documented.
        assert str(response.status_code) in operation["responses"], (
            f"{method.upper()} {template} answered {response.status_code}, which the schema does not document")
        return
    validator = _validator(template, method.lower(), str(response.status_code))
    if validator is not None:
        errors = sorted(validator.iter_errors(response.json()), key=str)
        assert not errors, f"{method.upper()} {path} -> {response.status_code} breaks the schema: {errors[0].message}"
