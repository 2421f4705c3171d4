"""Safe retries: the ``Idempotency-Key`` request header.

The first request with a given key (per user) runs and its answer (status and body) is
stored in the same database transaction as the money movement. A later request with
the same key and the same operation and body gets that answer again, marked with the
``Idempotent-Replayed: true`` header, and moves no money; with a different operation or
body it gets 409. Two requests with one key arriving together cannot both run: the
second one's INSERT of the key waits on the first one's uncommitted row (PostgreSQL's
unique index; SQLite's single writer) and then finds it.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from banking.api import error_answer
from banking.errors import ApplicationError, IdempotencyConflict, ValidationFailed
from transactions.models import IdempotencyKey
from users.models import User

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
KEY_MAX_LENGTH = 255

Outcome = tuple[int, dict[str, Any]]


def validate_key(key: str) -> str:
    if not key or len(key) > KEY_MAX_LENGTH or not key.isprintable() or not key.isascii():
        raise ValidationFailed(f"{HEADER} must be 1 to {KEY_MAX_LENGTH} printable ASCII characters.")
    return key


def request_hash(*, operation: str, payload: dict[str, Any]) -> str:
    """Fingerprint of what was asked: the operation and its validated input (so that
    "100" and "100.00" count as the same amount)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{operation}\n{canonical}".encode()).hexdigest()


def run_idempotent(
    *, user: User, key: str, operation: str, payload: dict[str, Any], run: Callable[[], Outcome]
) -> tuple[int, dict[str, Any], bool]:
    """Run ``run`` at most once per (user, key). Returns (status, body, replayed).

    Domain errors (insufficient balance, account not found...) are answers too: they are
    stored and replayed like successes. Anything else (the database went away) rolls the
    key back with everything else, so the client can retry with the same key."""
    validate_key(key)
    fingerprint = request_hash(operation=operation, payload=payload)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(user=user, key=key, request_hash=fingerprint)
        except IntegrityError:
            record = IdempotencyKey.objects.get(user=user, key=key)
            if record.request_hash != fingerprint:
                raise IdempotencyConflict() from None
            return record.response_status, record.response_body, True
        try:
            status, body = run()
        except ApplicationError as exc:
            status, body = error_answer(exc)
        record.response_status, record.response_body = status, body
        record.save(update_fields=["response_status", "response_body"])
    return status, body, False


def purge_expired_keys(*, older_than_hours: int | None = None) -> int:
    hours = older_than_hours if older_than_hours is not None else settings.IDEMPOTENCY_KEY_TTL_HOURS
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
