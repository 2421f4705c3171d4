"""Safe retries: the ``Idempotency-Key`` request header.

The first request with a given key (per user) runs, and its answer (status and body) is
stored with the key in the same database transaction as the money movement, by one
INSERT at its end. A later request with the same key and the same operation and body
gets that answer again, marked with the ``Idempotent-Replayed: true`` header, and moves
no money; with a different operation or body it gets 409.

A key already answered is found first, by one index probe, and replayed without running
anything. A new key is claimed last, with its answer, by one INSERT at the end of the
movement's transaction: one write (not a row inserted, then updated) and no savepoint.
Two requests with one key arriving together cannot both commit: the second one's INSERT
waits on the first one's uncommitted key (PostgreSQL's unique index; SQLite's single
writer) and then does nothing (``ON CONFLICT DO NOTHING``), and the second request's
whole transaction, its movement with it, is rolled back and the first one's answer
replayed. (No deadlock: a transaction waits on a key only at its end, and the key's
holder has by then taken every lock it needs.)
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from banking.api import error_answer
from banking.db import prepared, run_in_transaction
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


class _KeyTaken(Exception):
    """The key was claimed by another request: roll this one back, and replay that one."""


def run_idempotent(
    *, user: User, key: str, operation: str, payload: dict[str, Any], run: Callable[[str], Outcome]
) -> tuple[int, dict[str, Any], bool]:
    """Run ``run(key)`` at most once per (user, key). Returns (status, body, replayed).

    The movement ``run`` posts, the key and the answer stored for replays are one unit of
    work: they commit together, and a deadlock or serialization failure retries all of
    them together (``run_in_transaction``; the movement's own unit joins this one).
    Domain errors (insufficient balance, account not found...) are answers too: stored
    and replayed like successes. Anything else (the database went away) rolls the key
    back with everything else, so the client can retry with the same key."""
    validate_key(key)
    fingerprint = request_hash(operation=operation, payload=payload)

    def unit() -> Outcome:
        try:
            status, body = run(key)
        except ApplicationError as exc:
            status, body = error_answer(exc)
        if not _claim(user=user, key=key, fingerprint=fingerprint, status=status, body=body):
            raise _KeyTaken()
        return status, body

    def own_unit() -> Outcome:
        # Its own transaction (retried on a deadlock), or, inside one already open (a
        # caller's, the tests'), a savepoint: a taken key must roll back the movement.
        if not transaction.get_connection().in_atomic_block:
            return run_in_transaction(unit)
        with transaction.atomic():
            return unit()

    for _ in range(3):
        record = _stored(user=user, key=key)
        if record is None:
            try:
                status, body = own_unit()
                return status, body, False
            except _KeyTaken:  # a request with the same key committed meanwhile
                record = _stored(user=user, key=key)
        if record is None:  # purged meanwhile: this request is the first again
            continue
        stored_hash, status, body = record
        if stored_hash != fingerprint:
            raise IdempotencyConflict()
        return status, body, True
    raise AssertionError("an idempotency key claimed and purged three times over")  # pragma: no cover


def _stored(*, user: User, key: str) -> tuple[str, int, dict[str, Any]] | None:
    """The request hash and the answer stored with a key, or None."""
    with connection.cursor() as cursor:
        cursor.execute(prepared(_STORED_SQL), [user.pk, key])
        row = cursor.fetchone()
    if row is None:
        return None
    request_hash, status, body = row
    return request_hash, status, json.loads(body) if isinstance(body, str) else body


def _claim(*, user: User, key: str, fingerprint: str, status: int, body: dict[str, Any]) -> bool:
    """Insert the key with its answer; False (and nothing written) when it is taken.
    When another transaction holds the same key uncommitted, this waits for that one to
    end (and then writes nothing if it committed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            prepared(_CLAIM_SQL),
            [user.pk, key, fingerprint, status, json.dumps(body),
             connection.ops.adapt_datetimefield_value(timezone.now())],
        )
        return cursor.fetchone() is not None


_STORED_SQL = (
    f"SELECT request_hash, response_status, response_body FROM {_TABLE} WHERE user_id = %s AND key = %s"
)
_CLAIM_SQL = (
    f"INSERT INTO {_TABLE} (user_id, key, request_hash, response_status, response_body, created_at) "
    f"VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, key) DO NOTHING RETURNING id"
)


def purge_expired_keys(*, older_than_hours: int | None = None) -> int:
    hours = older_than_hours if older_than_hours is not None else settings.IDEMPOTENCY_KEY_TTL_HOURS
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
