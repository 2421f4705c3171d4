"""Units of work: one database transaction, retried when the database aborts it for a
reason that a second try cures."""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import TypeVar

from django.db import OperationalError, connection, transaction

logger = logging.getLogger(__name__)

T = TypeVar("T")
# PostgreSQL: serialization_failure, deadlock_detected. Neither should happen with the
# ledger's ordered locking, but a bank retries them rather than failing a customer.
_RETRYABLE_PGCODES = {"40001", "40P01"}
_ATTEMPTS = 5


def run_in_transaction(work: Callable[[], T]) -> T:
    """Run ``work`` in one database transaction and return what it returns; retry it if
    the database aborted it for a deadlock or a serialization failure (or SQLite gave up
    waiting for its write lock).

    Called inside a transaction that is already open, ``work`` simply runs in it: the
    outermost unit (e.g. an idempotent request: its key and its posting) is the one that
    commits, and the one that is retried, whole."""
    if transaction.get_connection().in_atomic_block:
        return work()
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return work()
        except OperationalError as exc:
            if attempt == _ATTEMPTS or not _is_retryable(exc):
                raise
            logger.warning("retrying a unit of work after %s (attempt %d)", str(exc).strip(), attempt)
            time.sleep(random.uniform(0.001, 0.01 * attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def _is_retryable(exc: OperationalError) -> bool:
    if getattr(exc.__cause__, "pgcode", None) in _RETRYABLE_PGCODES:
        return True
    return "database is locked" in str(exc)


def model_columns(model) -> SimpleNamespace:
    """The model's column names by field name (``E.account`` is "account_id"), for SQL
    written out by hand that must follow the models."""
    return SimpleNamespace(**{f.name: f.column for f in model._meta.concrete_fields})


def prepared(sql: str) -> str:
    """What to execute (with the same parameters) to run ``sql``, one statement that runs
    on every request, as a prepared statement on PostgreSQL: parsed and planned once per
    connection instead of on every call (``banking.postgresql``). ``sql`` itself on
    other databases and behind PgBouncer."""
    make = getattr(connection, "prepared", None)
    return sql if make is None else make(sql)
