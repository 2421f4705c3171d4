"""Reads from PostgreSQL streaming replicas, with read-your-writes.

With ``DATABASE_REPLICA_URLS`` set, the reads that tolerate a little lag (an account's
history, statements, ``?at=`` balances, ``GET /events``, the console's lists) go to a
replica; everything else (funds checks, locks, writes, current balances, logins) reads
the primary. The rule a client sees: never older data than it has itself written.

- After a request of a user's that may have written (an unsafe method that did not fail),
  the primary's current WAL position is stored as that user's *read fence* (a row in the
  primary's ``banking_readfence``: shared by every process and app server, not kept in
  any one's memory).
- A lag-tolerant read by that user takes a replica only if the replica has replayed WAL
  at least up to the fence (``pg_last_wal_replay_lsn()``) and lags the primary by at
  most ``REPLICA_MAX_LAG_SECONDS``; otherwise it reads the primary.
- A replica that cannot be reached, or fails mid-read, is skipped for a few seconds and
  the read runs again on the primary: no request fails because a replica did.

The reads are routed by ``ReplicaRouter`` (``DATABASE_ROUTERS``) while a context
variable names the replica chosen for the request: only inside ``lag_tolerant`` views,
after authentication, so tokens, sessions and fences are always read from the primary.
"""
from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)
T = TypeVar("T")

REPLICA_PREFIX = "replica"
# A replica that refused a connection or broke mid-read is not tried again for this long
# (by this process): a down replica costs each request nothing, not a connect timeout.
_SKIP_SECONDS = 5.0

_reading_from: ContextVar[str | None] = ContextVar("banking_replica_alias", default=None)
_skipped_until: dict[str, float] = {}

# The replica's replay position, and how far behind the primary it is: zero when it has
# replayed all it has received (caught up, or the primary is idle), else the age of the
# last transaction it replayed (NULL when it has replayed none since it started).
_REPLICA_STATE_SQL = (
    "SELECT (pg_last_wal_replay_lsn() - '0/0')::bigint, "
    "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
)


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith(REPLICA_PREFIX)]


def replicas_enabled() -> bool:
    return bool(replica_aliases())


class ReplicaRouter:
    """Reads go to the replica chosen for the current lag-tolerant read, if any; every
    write and every other read goes to the primary. Replicas are physical copies: they
    are never migrated (their schema arrives with the WAL)."""

    def db_for_read(self, model, **hints) -> str | None:
        return _reading_from.get()

    def db_for_write(self, model, **hints) -> str:
        # Explicit: an object read from a replica must still be saved to the primary.
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # the same data on every alias

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS


def fence_advance(*, user_id: int) -> None:
    """Store the primary's current WAL insert position as the user's read fence: every
    transaction the user has committed so far ends at or before it. (The insert position,
    not the flushed one: with synchronous_commit off a commit may not be flushed yet.)"""
    from banking.models import ReadFence

    table = ReadFence._meta.db_table
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, lsn) VALUES (%s, (pg_current_wal_insert_lsn() - '0/0')::bigint) "
            f"ON CONFLICT (user_id) DO UPDATE SET lsn = GREATEST({table}.lsn, EXCLUDED.lsn)",
            [user_id],
        )


def fence_get(*, user_id: int) -> int:
    from banking.models import ReadFence

    lsn = ReadFence.objects.using(DEFAULT_DB_ALIAS).filter(user_id=user_id).values_list("lsn", flat=True).first()
    return lsn or 0


def replica_for(*, user_id: int | None) -> str | None:
    """A replica that has replayed the user's writes and is within the lag limit, or
    None (read the primary)."""
    candidates = [alias for alias in replica_aliases() if _skipped_until.get(alias, 0) <= time.monotonic()]
    if not candidates:
        return None
    fence = fence_get(user_id=user_id) if user_id is not None else 0
    random.shuffle(candidates)  # spread the reads over the replicas
    for alias in candidates:
        state = _replica_state(alias, fence)
        if state is None:
            continue
        replayed, lag = state
        if replayed >= fence and lag is not None and lag <= settings.REPLICA_MAX_LAG_SECONDS:
            return alias
    return None


# A replica's state as last asked, reused for this long when it already covers the fence:
# a replay position only moves forward, so an older one is a safe lower bound, and the
# lag limit is seconds. Saves a round trip to the replica on most reads.
_STATE_REUSE_SECONDS = 0.1
_states: dict[str, tuple[float, int, float | None]] = {}


def _replica_state(alias: str, fence: int) -> tuple[int, float | None] | None:
    """(replayed position, lag in seconds) of the replica, or None if it cannot be used."""
    asked_at, replayed, lag = _states.get(alias, (float("-inf"), -1, None))
    if time.monotonic() - asked_at <= _STATE_REUSE_SECONDS and replayed >= fence:
        return replayed, lag
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(_REPLICA_STATE_SQL)
            replayed, lag = cursor.fetchone()
    except (OperationalError, InterfaceError) as exc:
        _skip(alias, exc)
        return None
    if replayed is None:
        logger.warning("database %s is not a replica (not in recovery): not reading from it", alias)
        return None
    _states[alias] = (time.monotonic(), replayed, None if lag is None else float(lag))
    return replayed, lag


def read_from_replica(*, user_id: int | None, read: Callable[[], T]) -> T:
    """Run ``read`` with its queries on a suitable replica, or on the primary when there is
    none; if the replica fails during the read, run it again on the primary."""
    alias = replica_for(user_id=user_id) if replicas_enabled() else None
    if alias is None:
        return read()
    token = _reading_from.set(alias)
    try:
        return read()
    except (OperationalError, InterfaceError) as exc:
        # A read only: running it again is safe. (A query cancelled by a recovery
        # conflict lands here too; the replica itself may be fine.)
        if not connections[alias].is_usable():
            _skip(alias, exc)
        else:
            logger.warning("a read on %s failed (%s): reading the primary instead", alias, str(exc).strip())
    finally:
        _reading_from.reset(token)
    return read()


def lag_tolerant(handler: Callable[..., T]) -> Callable[..., T]:
    """For an API view method ``(self, request, ...)`` whose reads may come from a replica
    that has replayed the requesting user's writes. (It runs after DRF's authentication,
    so the token is read from the primary; the answer's data is built inside.)"""

    @functools.wraps(handler)
    def wrapped(view, request, *args, **kwargs):
        return read_from_replica(user_id=_user_id(request), read=lambda: handler(view, request, *args, **kwargs))

    return wrapped


class ReplicaChangelist:
    """For a ModelAdmin: its list (a GET of the changelist) reads from a replica, rendered
    inside so that the lazily evaluated rows are read there too. A POST (an action) runs
    on the primary."""

    def changelist_view(self, request, extra_context=None):
        parent = super().changelist_view
        if request.method != "GET":
            return parent(request, extra_context)

        def read():
            response = parent(request, extra_context)
            if hasattr(response, "render"):
                response.render()
            return response

        return read_from_replica(user_id=_user_id(request), read=read)


def _user_id(request) -> int | None:
    user = getattr(request, "user", None)
    return user.pk if getattr(user, "is_authenticated", False) else None


def _skip(alias: str, exc: Exception) -> None:
    logger.warning("replica %s unavailable (%s): reading the primary for %.0f s", alias, str(exc).strip(), _SKIP_SECONDS)
    _skipped_until[alias] = time.monotonic() + _SKIP_SECONDS
    _states.pop(alias, None)
    try:
        connections[alias].close()
    except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is gone either way
        pass


class ReadYourWritesMiddleware:
    """After a request that may have written for its user (an unsafe method not answered
    with a 4xx: those change nothing), advance the user's read fence. Placed after the
    authentication middleware; DRF sets ``request.user`` on the underlying request too."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.enabled = replicas_enabled()

    def __call__(self, request):
        response = self.get_response(request)
        if self.enabled and request.method not in ("GET", "HEAD", "OPTIONS") and not 400 <= response.status_code < 500:
            user = getattr(request, "user", None)
            if getattr(user, "is_authenticated", False):
                fence_advance(user_id=user.pk)
        return response
