from __future__ import annotations

from datetime import datetime, time, timezone as dt_timezone

from django.utils.dateparse import parse_date, parse_datetime

from banking.errors import ValidationFailed


def parse_instant(value: str, *, name: str, date_means: str = "end") -> datetime:
    """Parse an ISO 8601 query parameter into an aware datetime.

    A datetime without an offset is taken as UTC; a date alone means the end of that
    day (UTC), i.e. "as of that date", or its start with ``date_means="start"`` (for the
    beginning of a period). A '+' in the offset that arrived as a space (an unencoded
    query string) is repaired.
    """
    text = value.strip().replace(" ", "+") if "T" in value else value.strip()
    try:
        # A bare date first: Python 3.11's fromisoformat would read it as midnight.
        day = parse_date(text) if len(text) == 10 else None
        if day:
            parsed = datetime.combine(day, time.min if date_means == "start" else time.max)
        else:
            parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationFailed(
            f"{name} must be an ISO 8601 date or datetime, e.g. 2025-08-16T10:30:00Z."
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt_timezone.utc)
    try:
        # Year 1 with a positive offset (or 9999 with a negative one) lies outside what a
        # datetime can hold in UTC, where the database compares it.
        return parsed.astimezone(dt_timezone.utc)
    except OverflowError:
        raise ValidationFailed(f"{name} is out of range.") from None
