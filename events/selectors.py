"""Reading events and webhook state."""
from __future__ import annotations

from collections import defaultdict

from django.db import connection
from django.db.models import F, QuerySet
from django.db.models.expressions import RawSQL
# Django's own tuple comparison (what composite primary keys use): (a, b) > (x, y) in SQL,
# or the equivalent OR chain where a backend has no row values.
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan

from banking.errors import ValidationFailed
from events import registry
from events.models import Delivery, DeliveryAttempt, Event, EventType, WebhookEndpoint
from events.sql import readable_bound_sql
from users.models import User


def events_page(
    *, user: User, limit: int, after: int | None = None, types: list[str] | None = None,
    account_id: int | None = None,
) -> list[Event]:
    """The user's events after event ``after`` (from the first, without it), oldest
    first, at most ``limit``, with their data rendered.

    Only events that can no longer be overtaken are listed: ones whose ``bound`` no
    running transaction is below (``Event.bound``), in (bound, id) order. So a client that
    polls with ``after`` set to the last event it got sees every event once, and each
    account's events in the order they committed."""
    events = Event.objects.filter(user=user)
    if after is not None:
        bound = Event.objects.filter(user=user, pk=after).values_list("bound", flat=True).first()
        if bound is None:
            raise ValidationFailed(f"after: you have no event {after} (events are kept for a limited time).")
        # One row comparison, not `bound > b OR (bound = b AND id > after)`: PostgreSQL
        # starts the index scan at (user, bound, id) itself, where the OR made it walk
        # every event sharing the cursor's bound (all of them, for events written
        # before bounds were, with bound 0).
        events = events.filter(TupleGreaterThan(Tuple(F("bound"), F("id")), (bound, after)))
    readable = readable_bound_sql()
    if readable is not None:
        events = events.filter(bound__lte=RawSQL(readable, []))
    if account_id is not None:
        events = events.filter(account_id=account_id)
    elif not types:
        return events_render(list(events.order_by("bound", "id")[:limit]))
    return events_render(events_by_type(events, types or EventType.values, ("bound", "id"), limit))


def events_by_type(events: QuerySet[Event], types: list[str], order: tuple[str, ...], limit: int) -> list[Event]:
    """The first ``limit`` of ``events`` in ``order`` that have one of ``types``: the
    first ``limit`` of each type (a range of the (user or account, type, bound, id)
    indexes each), merged in one statement. Filtering one (user, bound, id) range by type
    or account instead would walk every event of the user until ``limit`` of them
    matched: all of them, for a type that never occurs."""
    parts, params = [], []
    for number, kind in enumerate(dict.fromkeys(types)):
        sql, part_params = events.filter(type=kind).order_by(*order)[:limit].query.sql_with_params()
        parts.append(f"SELECT * FROM ({sql}) AS type_{number}")
        params.extend(part_params)
    quote = connection.ops.quote_name
    ordering = ", ".join(
        quote(Event._meta.get_field(name.lstrip("-")).column) + (" DESC" if name.startswith("-") else "")
        for name in order)
    return list(Event.objects.raw(f"{' UNION ALL '.join(parts)} ORDER BY {ordering} LIMIT %s", [*params, limit]))


def events_render(events: list[Event]) -> list[Event]:
    """Set ``payload_data`` on each event: its stored data, or, for the types whose data
    lives elsewhere (a ledger entry), that rendered as the API answers it."""
    wanted: dict[str, list[int]] = defaultdict(list)
    for event in events:
        if event.data is None:
            wanted[event.type].append(event.transaction_id)
    rendered = {kind: registry.renderer(kind)(ids) for kind, ids in wanted.items()}
    for event in events:
        event.payload_data = event.data if event.data is not None else rendered[event.type][event.transaction_id]
    return events


def endpoints_for_user(*, user: User) -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(user=user).order_by("id"))


def attempts_page(*, endpoint: WebhookEndpoint, limit: int, before_id: int | None = None) -> list[DeliveryAttempt]:
    """The endpoint's delivery attempts, newest first, keyset-paged on id."""
    attempts = DeliveryAttempt.objects.filter(endpoint_id=endpoint.pk)
    if before_id is not None:
        attempts = attempts.filter(id__lt=before_id)
    return list(attempts.order_by("-id")[:limit])


def account_events_recent(*, user_id: int, account_id: int, limit: int) -> list[Event]:
    """The account's newest events, newest first, each with ``delivery_list`` (its webhook
    deliveries). Read through the owner's event stream index (an account's events are
    its owner's), for the console: every event, readable by pollers yet or not."""
    events = events_by_type(Event.objects.filter(user_id=user_id, account_id=account_id), EventType.values,
                            ("-bound", "-id"), limit)
    deliveries = defaultdict(list)
    for delivery in Delivery.objects.filter(event_id__in=[e.pk for e in events]).select_related("endpoint"):
        deliveries[delivery.event_id].append(delivery)
    for event in events:
        event.delivery_list = sorted(deliveries[event.pk], key=lambda d: d.pk)
    return events
