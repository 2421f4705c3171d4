"""Daily summaries of the ledger, for the staff dashboard: its cost follows the days shown,
not the ledger's length.

``summaries_roll_up`` adds the entries above the watermark to their days' rows
(``DailySummary``), up to entries at least ``SETTLE`` old: an entry's id is handed out
before its transaction commits, and a posting's transaction lasts milliseconds (every
statement is cut off at DATABASE_STATEMENT_TIMEOUT_MS), so by then every entry with a
lower id has committed or never will. The delivery worker runs it every minute; the
dashboard reads the entries above the watermark live, by primary key, and adds them in,
so what it shows is exact whether or not the roll-up has run."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Case, CharField, Count, F, Max, QuerySet, Sum, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from banking.money import ZERO
from transactions.models import (
    DailySummary,
    Direction,
    Hold,
    Kind,
    Side,
    Status,
    SummaryWatermark,
    Transaction,
)

SETTLE = timedelta(seconds=60)
ROLL_UP_BATCH = 200_000  # entries per roll-up transaction
DASHBOARD_DAYS = 90

Key = tuple[date, str, str, str, str]  # day, kind, status, side, direction


def _grouped(entries: QuerySet) -> dict[Key, tuple[int, Decimal]]:
    rows = (
        entries.annotate(
            day=TruncDate("created_at"),
            side=Case(When(seq__isnull=False, then=Value(Side.CUSTOMER)), default=Value(Side.SYSTEM),
                      output_field=CharField()),
        )
        .values_list("day", "transaction_type", "status", "side", "direction")
        .annotate(n=Count("id"), total=Sum("amount"))
        .order_by()
    )
    return {(day, kind, status, side, direction): (n, total) for day, kind, status, side, direction, n, total in rows}


def summaries_roll_up(*, batch: int = ROLL_UP_BATCH, settle: timedelta = SETTLE) -> int:
    """Add the settled entries above the watermark (at most ``batch``) to their days.
    Returns how many it added; 0 when another roll-up is running (it skips, not waits)."""
    with transaction.atomic():
        SummaryWatermark.objects.get_or_create(pk=1)
        mark = SummaryWatermark.objects.select_for_update(skip_locked=True).filter(pk=1).first()
        if mark is None:
            return 0
        window = Transaction.objects.filter(pk__gt=mark.last_entry_id, pk__lte=mark.last_entry_id + batch)
        upto = window.filter(created_at__lt=timezone.now() - settle).aggregate(upto=Max("pk"))["upto"]
        if upto is None:
            return 0
        groups = _grouped(Transaction.objects.filter(pk__gt=mark.last_entry_id, pk__lte=upto))
        for (day, kind, status, side, direction), (n, total) in groups.items():
            key = {"day": day, "kind": kind, "status": status, "side": side, "direction": direction}
            if not DailySummary.objects.filter(**key).update(entries=F("entries") + n, amount=F("amount") + total):
                DailySummary.objects.create(**key, entries=n, amount=total)
        added = sum(n for n, _ in groups.values())
        mark.last_entry_id = upto
        mark.save(update_fields=["last_entry_id"])
        return added


@dataclass
class Volume:
    count: int = 0
    amount: Decimal = ZERO


@dataclass
class Dashboard:
    """The bank's books and activity, as the admin's index shows them."""

    customer_total: Decimal
    system_total: Decimal
    held_total: Decimal
    today: dict[str, Volume]
    month: dict[str, Volume]
    refused_today: int
    refused_month: int
    daily_volume: list[tuple[date, Decimal]]  # money moved each day (successful postings)
    daily_balances: list[tuple[date, Decimal]]  # customers' total balance at each day's end
    pending_roll_up: int = 0  # entries read live (above the watermark)
    kinds: list[str] = field(default_factory=lambda: list(Kind.values))

    @property
    def books_sum(self) -> Decimal:
        return self.customer_total + self.system_total


def dashboard_get(*, now: datetime | None = None, days: int = DASHBOARD_DAYS) -> Dashboard:
    """Everything the dashboard shows: sums over the summaries (one row per day and kind,
    status, side, direction) plus the entries not yet rolled up, read by primary key."""
    now = now or timezone.now()
    today = now.date()
    first_day, month_start = today - timedelta(days=days - 1), today.replace(day=1)
    mark = SummaryWatermark.objects.filter(pk=1).values_list("last_entry_id", flat=True).first() or 0
    live = _grouped(Transaction.objects.filter(pk__gt=mark))
    totals: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)  # (status, side, direction)
    for status, side, direction, total in (DailySummary.objects.values_list("status", "side", "direction")
                                           .annotate(total=Sum("amount")).order_by()):
        totals[status, side, direction] += total
    recent: dict[Key, tuple[int, Decimal]] = dict(live)
    for row in DailySummary.objects.filter(day__gte=min(first_day, month_start)).values_list(
            "day", "kind", "status", "side", "direction", "entries", "amount"):
        key, (n, total) = row[:5], row[5:]
        before = recent.get(key, (0, ZERO))
        recent[key] = (before[0] + n, before[1] + total)
    for (_, _, status, side, direction), (_, total) in live.items():
        totals[status, side, direction] += total

    def balance(side: str) -> Decimal:
        return totals[Status.SUCCESS, side, Direction.CREDIT] - totals[Status.SUCCESS, side, Direction.DEBIT]

    # Every posting has exactly one debit entry (a refusal: its only entry): counting and
    # summing debits counts each movement once, whichever accounts it touched.
    today_volume, month_volume = defaultdict(Volume), defaultdict(Volume)
    refused_today = refused_month = 0
    moved: dict[date, Decimal] = defaultdict(lambda: ZERO)
    customer_net: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for (day, kind, status, side, direction), (n, total) in recent.items():
        if status == Status.SUCCESS and side == Side.CUSTOMER:
            customer_net[day] += total if direction == Direction.CREDIT else -total
        if direction != Direction.DEBIT:
            continue
        if status == Status.FAILED:
            refused_month += n if day >= month_start else 0
            refused_today += n if day == today else 0
            continue
        moved[day] += total
        for volume, since in ((month_volume, month_start), (today_volume, today)):
            if day >= since:
                volume[kind].count += n
                volume[kind].amount += total
    customer_total = balance(Side.CUSTOMER)
    # A day's closing total is today's less what came in after that day.
    closing, after = [], ZERO
    for offset in range(days):
        day = today - timedelta(days=offset)
        closing.append((day, customer_total - after))
        after += customer_net[day]
    held = Hold.objects.active(now).aggregate(total=Sum("amount"))["total"] or ZERO
    return Dashboard(
        customer_total=customer_total, system_total=balance(Side.SYSTEM), held_total=held,
        today=dict(today_volume), month=dict(month_volume), refused_today=refused_today,
        refused_month=refused_month,
        daily_volume=[(first_day + timedelta(days=i), moved[first_day + timedelta(days=i)]) for i in range(days)],
        daily_balances=closing[::-1], pending_roll_up=sum(n for n, _ in live.values()),
    )
