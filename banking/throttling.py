"""Rate limits on counters shared by every gunicorn worker and every app server.

Fixed windows aligned to the clock. Where the counters live:
- by default, the database: a small table (banking.models.RateCounter) with one row per subject,
  updated by a single atomic ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``
  (UNLOGGED on PostgreSQL, so the update needs no WAL flush);
- with ``REDIS_URL`` set, Redis, through Django's cache (atomic INCR on a key per window).

Django's database cache backend was measured first and rejected: it runs several
statements (including a COUNT(*)) per update and cost a quarter of write throughput."""
from __future__ import annotations

import hashlib
import re
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from banking.errors import TooManyRequests
from banking.models import RateCounter
from users.models import username_key

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_TABLE = RateCounter._meta.db_table
_UPSERT = (
    f"INSERT INTO {_TABLE} (counter_key, window_start, hits) VALUES (%s, %s, 1) "
    f"ON CONFLICT (counter_key) DO UPDATE SET "
    f"hits = CASE WHEN {_TABLE}.window_start = excluded.window_start THEN {_TABLE}.hits + 1 ELSE 1 END, "
    f"window_start = excluded.window_start RETURNING hits"
)


def parse_rate(rate: str) -> tuple[int, int] | None:
    """ "100/second" -> (100, 1); "off" -> None."""
    if rate.lower() in ("", "off", "none", "0"):
        return None
    match = re.fullmatch(r"(\d+)\s*/\s*([a-z]+)", rate.lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"rate {rate!r} is not like '100/second' or 'off'")
    return int(match.group(1)), _UNITS[match.group(2)]


def _window(scope: str, subject: str, window: int) -> tuple[str, int, int]:
    """(counter key, window start, seconds until the window ends)."""
    now = time.time()
    start = int(now // window) * window
    digest = hashlib.sha256(subject.encode()).hexdigest()[:40]  # any subject, bounded key
    return f"{scope}:{digest}", start, int(start + window - now) + 1


def _use_redis() -> bool:
    return bool(settings.REDIS_URL)


def count(scope: str, subject: str, window: int) -> tuple[int, int]:
    """Hits in the current window, and seconds until the window ends."""
    key, start, retry_after = _window(scope, subject, window)
    if _use_redis():
        return cache.get(f"throttle:{key}:{start}", 0), retry_after
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT hits FROM {_TABLE} WHERE counter_key = %s AND window_start = %s", [key, start])
        row = cursor.fetchone()
    return (row[0] if row else 0), retry_after


def hit(scope: str, subject: str, window: int) -> tuple[int, int]:
    """Add one to the current window's counter; returns (hits now, seconds left)."""
    key, start, retry_after = _window(scope, subject, window)
    if _use_redis():
        redis_key = f"throttle:{key}:{start}"
        if cache.add(redis_key, 1, timeout=window + 1):
            return 1, retry_after
        try:
            return cache.incr(redis_key), retry_after
        except ValueError:  # expired between add and incr
            cache.add(redis_key, 1, timeout=window + 1)
            return 1, retry_after
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, [key, start])
        return cursor.fetchone()[0], retry_after


def reset(scope: str, subject: str, window: int) -> None:
    key, start, _ = _window(scope, subject, window)
    if _use_redis():
        cache.delete(f"throttle:{key}:{start}")
    else:
        RateCounter.objects.filter(counter_key=key).delete()


# --- login ----------------------------------------------------------------------------

def _login_subjects(username: str, address: str) -> list[tuple[str, str, int]]:
    return [
        ("login-user", username_key(username), settings.LOGIN_FAILURES_PER_USERNAME),
        ("login-addr", address, settings.LOGIN_FAILURES_PER_ADDRESS),
    ]


def login_check(*, username: str, address: str) -> None:
    """Refuse (429) a login for a username, or from an address, that failed too often."""
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    for scope, subject, limit in _login_subjects(username, address):
        failures, retry_after = count(scope, subject, window)
        if failures >= limit:
            raise TooManyRequests(
                f"Too many failed logins. Try again in {retry_after} seconds.", retry_after=retry_after
            )


def login_failed(*, username: str, address: str) -> None:
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    for scope, subject, _ in _login_subjects(username, address):
        hit(scope, subject, window)


def login_succeeded(*, username: str) -> None:
    reset("login-user", username_key(username), settings.LOGIN_FAILURE_WINDOW_SECONDS)


# --- writes ---------------------------------------------------------------------------

def write_check(*, user_id: int) -> None:
    """Count one money movement (or account opening) for the user; 429 past the rate."""
    rate = parse_rate(settings.WRITE_THROTTLE_RATE)
    if rate is None:
        return
    limit, window = rate
    used, retry_after = hit("writes", str(user_id), window)
    if used > limit:
        raise TooManyRequests(
            f"Too many requests: at most {limit} per {window} s. Try again in {retry_after} seconds.",
            retry_after=retry_after,
        )


class WriteThrottle:
    """DRF throttle for POSTs of an authenticated user (money movements, account
    openings); raises 429 with Retry-After past WRITE_THROTTLE_RATE."""

    def allow_request(self, request, view) -> bool:
        if request.method == "POST" and getattr(request.user, "is_authenticated", False):
            write_check(user_id=request.user.pk)
        return True

    def wait(self):  # pragma: no cover - allow_request never returns False
        return None
