"""Safe retries: the ``Idempotency-Key`` request header.

The first request with a given key (per user) runs and its answer (status and body) is
stored in the same database transaction as the money movement. A later request with
the same key and the same operation and body gets that answer again, marked with the
``Idempotent-Replayed: true`` header, and moves no money; with a different operation or
body it gets 409. Two requests with one key arriving together cannot both run: the
second one's INSERT of the key waits on the first one's uncommitted row (PostgreSQL's
unique index; SQLite's single writer) and then finds it, answered.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from banking.api import error_answer
from banking.db import run_in_transaction
from banking.errors import ApplicationError, IdempotencyConflict, ValidationFailed
from transactions.models import IdempotencyKey
from users.models import User

_TABLE = IdempotencyKey._meta.db_table
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
    *, user: User, key: str, operation: str, payload: dict[str, Any], run: Callable[[str], Outcome]
) -> tuple[int, dict[str, Any], bool]:
    """Run ``run(key)`` at most once per (user, key). Returns (status, body, replayed).

    The key, the movement ``run`` posts and the answer stored for replays are one unit of
    work: they commit together, and a deadlock or serialization failure retries all of
    them together (``run_in_transaction``; the movement's own unit joins this one).
    Domain errors (insufficient balance, account not found...) are answers too: stored
    and replayed like successes. Anything else (the database went away) rolls the key
    back with everything else, so the client can retry with the same key."""
    validate_key(key)
    fingerprint = request_hash(operation=operation, payload=payload)

    def unit() -> tuple[int, dict[str, Any], bool]:
        record, created = _claim(user=user, key=key, fingerprint=fingerprint)
        if not created:
            if record.request_hash != fingerprint:
                raise IdempotencyConflict()
            return record.response_status, record.response_body, True
        try:
            status, body = run(key)
        except ApplicationError as exc:
            status, body = error_answer(exc)
        IdempotencyKey.objects.filter(pk=record.pk).update(response_status=status, response_body=body)
        return status, body, False

    return run_in_transaction(unit)


def _claim(*, user: User, key: str, fingerprint: str) -> tuple[IdempotencyKey, bool]:
    """Insert the key, or find the one already there. ``ON CONFLICT DO NOTHING`` needs no
    savepoint; when another transaction holds the same key uncommitted, it waits for that
    one to end and then finds its row (with the answer it stored)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_TABLE} (user_id, key, request_hash, created_at) VALUES (%s, %s, %s, %s) "
            f"ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
            [user.pk, key, fingerprint, connection.ops.adapt_datetimefield_value(timezone.now())],
        )
        inserted = cursor.fetchone()
    if inserted is not None:
        return IdempotencyKey(pk=inserted[0], user=user, key=key, request_hash=fingerprint), True
    return IdempotencyKey.objects.get(user=user, key=key), False


def purge_expired_keys(*, older_than_hours: int | None = None) -> int:
    hours = older_than_hours if older_than_hours is not None else settings.IDEMPOTENCY_KEY_TTL_HOURS
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
