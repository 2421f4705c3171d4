"""Rate limits on shared counters (Django's cache: the database table by default, Redis
when REDIS_URL is set), so the limit holds across gunicorn workers and app servers.

Fixed windows aligned to the clock: a counter per (subject, window) that expires with
its window. With Redis the increment is atomic; with the database cache two concurrent
increments can count once, which errs toward letting one extra request through."""
from __future__ import annotations

import hashlib
import re
import time

from django.conf import settings
from django.core.cache import cache

from banking.errors import TooManyRequests

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(rate: str) -> tuple[int, int] | None:
    """ "120/minute" -> (120, 60); "off" -> None."""
    if rate.lower() in ("", "off", "none", "0"):
        return None
    match = re.fullmatch(r"(\d+)\s*/\s*([a-z]+)", rate.lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"rate {rate!r} is not like '120/minute' or 'off'")
    return int(match.group(1)), _UNITS[match.group(2)]


def _key(scope: str, subject: str, window: int, now: float) -> tuple[str, int]:
    index = int(now // window)
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]  # safe for any cache key rules
    return f"throttle:{scope}:{digest}:{index}", int((index + 1) * window - now) + 1


def count(scope: str, subject: str, window: int) -> tuple[int, int]:
    """Current count in this window, and seconds until the window ends."""
    key, retry_after = _key(scope, subject, window, time.time())
    return cache.get(key, 0), retry_after


def hit(scope: str, subject: str, window: int) -> tuple[int, int]:
    """Add one to this window's counter; returns (new count, seconds left)."""
    key, retry_after = _key(scope, subject, window, time.time())
    if cache.add(key, 1, timeout=window + 1):
        return 1, retry_after
    try:
        return cache.incr(key), retry_after
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window + 1)
        return 1, retry_after


def reset(scope: str, subject: str, window: int) -> None:
    key, _ = _key(scope, subject, window, time.time())
    cache.delete(key)


# --- login ----------------------------------------------------------------------------

def _login_subjects(username: str, address: str) -> list[tuple[str, str, int]]:
    return [
        ("login-user", username.lower(), settings.LOGIN_FAILURES_PER_USERNAME),
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
    reset("login-user", username.lower(), settings.LOGIN_FAILURE_WINDOW_SECONDS)


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
