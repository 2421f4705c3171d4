"""Writing events, and managing webhook endpoints and deliveries.

``events_record`` must be called inside the transaction of the change it announces, and
after that transaction has locked the accounts the events are about (their order per
account is the order of those locks: ``Event.bound``). The ledger writes the events of a
posting in the same statement as its entries instead (``transactions.ledger_sql``)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from banking.errors import LimitReached, ValidationFailed, WebhookNotFound
from events import addresses, secrets
from events.models import Delivery, DeliveryAttempt, DeliveryStatus, Event, EventType, WebhookEndpoint
from events.sql import EVENT_COLUMNS, EVENTS, bound_sql, fanout_sql
from users.models import User

# Types a webhook can subscribe to (webhook.test goes only to the endpoint tested).
SUBSCRIBABLE = [t for t in EventType.values if t != EventType.WEBHOOK_TEST]
DESCRIPTION_MAX_LENGTH = 255
SECRET_GRACE = timedelta(hours=24)  # an old secret still signs this long after a rotation


@dataclass(frozen=True)
class NewEvent:
    user_id: int
    account_id: int | None
    type: str
    created_at: datetime
    data: dict[str, Any]


def events_record(events: list[NewEvent], *, fan_out: bool = True) -> list[int]:
    """INSERT the events and (``fan_out``) their pending deliveries to the endpoints that
    take them, in one statement on PostgreSQL; returns the events' ids."""
    if not events:
        return []
    row = f"(%s, %s, %s, {bound_sql()}, %s, NULL, %s)"
    values = []
    for event in events:
        values += [event.user_id, event.account_id, event.type, event.created_at, json.dumps(event.data)]
    insert = (
        f"INSERT INTO {EVENTS} ({', '.join(EVENT_COLUMNS)}) VALUES {', '.join([row] * len(events))} "
        f"RETURNING id, user_id, type, created_at"
    )
    with connection.cursor() as cursor:
        if fan_out and connection.vendor == "postgresql":
            cursor.execute(f"WITH ev AS ({insert}), d AS ({fanout_sql('ev')}) SELECT id FROM ev", values)
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(insert, values)
        ids = [row[0] for row in cursor.fetchall()]
    if fan_out:
        deliveries_fan_out(ids)
    return ids


def deliveries_fan_out(event_ids: list[int]) -> None:
    """Pending deliveries of these events to the endpoints that take them (the second
    statement where the first could not do it too: SQLite)."""
    placeholders = ", ".join(["%s"] * len(event_ids))
    source = f"(SELECT id, user_id, type, created_at FROM {EVENTS} WHERE id IN ({placeholders}))"
    with connection.cursor() as cursor:
        cursor.execute(fanout_sql(source), event_ids)


# --- endpoints ---------------------------------------------------------------------------

@dataclass(frozen=True)
class EndpointWithSecret:
    endpoint: WebhookEndpoint
    secret: str  # shown once: on creation and on rotation


def _clean_types(event_types: list[str] | None) -> str:
    if not event_types:
        return ""
    unknown = sorted(set(event_types) - set(SUBSCRIBABLE))
    if unknown:
        raise ValidationFailed(f"Unknown event type {unknown[0]!r}; one of: {', '.join(SUBSCRIBABLE)}.")
    return " " + " ".join(sorted(set(event_types))) + " "


def _clean_description(description: str | None) -> str:
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise ValidationFailed(f"Description must be at most {DESCRIPTION_MAX_LENGTH} characters.")
    return description


def endpoint_create(*, user: User, url: str, event_types: list[str] | None = None,
                    description: str = "") -> EndpointWithSecret:
    """Register an endpoint (at most ``MAX_PER_USER`` per user) with a new secret."""
    url = addresses.validate(url)
    types, description = _clean_types(event_types), _clean_description(description)
    secret = secrets.new_secret()
    with transaction.atomic():
        # The user's row, locked: two registrations at once cannot both pass the limit.
        User.objects.select_for_update().filter(pk=user.pk).first()
        if WebhookEndpoint.objects.filter(user=user).count() >= WebhookEndpoint.MAX_PER_USER:
            raise LimitReached(f"At most {WebhookEndpoint.MAX_PER_USER} webhook endpoints per user.")
        endpoint = WebhookEndpoint.objects.create(
            user=user, url=url, event_types=types, description=description,
            secret_encrypted=secrets.encrypt(secret),
        )
    return EndpointWithSecret(endpoint, secret)


def endpoint_update(*, endpoint: WebhookEndpoint, url: str | None = None, event_types: list[str] | None = None,
                    description: str | None = None, enabled: bool | None = None) -> WebhookEndpoint:
    """Change what is given; enabling a disabled endpoint clears why it was disabled."""
    if url is not None:
        endpoint.url = addresses.validate(url)
    if event_types is not None:
        endpoint.event_types = _clean_types(event_types)
    if description is not None:
        endpoint.description = _clean_description(description)
    if enabled is not None:
        endpoint.enabled = enabled
        if enabled:
            endpoint.disabled_reason, endpoint.failing_since = "", None
    endpoint.save()
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    with transaction.atomic():
        DeliveryAttempt.objects.filter(endpoint_id=endpoint.pk).delete()
        Delivery.objects.filter(endpoint_id=endpoint.pk).delete()
        endpoint.delete()


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> EndpointWithSecret:
    """A new secret signs from now on; the old one also signs (a second signature in
    ``webhook-signature``) for ``SECRET_GRACE``, while receivers switch over."""
    secret = secrets.new_secret()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = timezone.now() + SECRET_GRACE
    endpoint.secret_encrypted = secrets.encrypt(secret)
    endpoint.save(update_fields=["secret_encrypted", "previous_secret_encrypted", "previous_secret_expires_at"])
    return EndpointWithSecret(endpoint, secret)


def endpoint_test(*, endpoint: WebhookEndpoint) -> Event:
    """A ``webhook.test`` event, delivered to this endpoint only (whatever its types)."""
    now = timezone.now()
    with transaction.atomic():
        (event_id,) = events_record([NewEvent(
            user_id=endpoint.user_id, account_id=None, type=EventType.WEBHOOK_TEST, created_at=now,
            data={"webhook_id": endpoint.pk, "message": "A test event from Banking Backend."},
        )], fan_out=False)
        Delivery.objects.create(endpoint=endpoint, event_id=event_id, next_attempt_at=now, created_at=now)
    return Event.objects.get(pk=event_id)


def endpoint_get_for_user(*, user: User, endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, user=user).first()
    if endpoint is None:
        raise WebhookNotFound()
    return endpoint


# --- deliveries --------------------------------------------------------------------------

def delivery_retry(*, delivery: Delivery) -> Delivery:
    """Staff: attempt a delivery again now (a failed one gets one more attempt)."""
    delivery.status, delivery.next_attempt_at, delivery.claimed_until = DeliveryStatus.PENDING, timezone.now(), None
    delivery.save(update_fields=["status", "next_attempt_at", "claimed_until"])
    return delivery


def events_purge_expired() -> int:
    """Delete events older than EVENT_RETENTION_DAYS, with their deliveries and attempts.
    Events are removed oldest first by id (ids follow time closely enough: the cut is the
    oldest event still inside the retention period)."""
    cutoff = timezone.now() - timedelta(days=settings.EVENT_RETENTION_DAYS)
    first_kept = Event.objects.filter(created_at__gte=cutoff).order_by("id").values_list("id", flat=True).first()
    with transaction.atomic():
        old = Event.objects.all() if first_kept is None else Event.objects.filter(id__lt=first_kept)
        old = old.filter(created_at__lt=cutoff)
        ids = old.values("id")
        DeliveryAttempt.objects.filter(event_id__in=ids).delete()
        Delivery.objects.filter(event_id__in=ids).delete()
        deleted, _ = old.delete()
    return deleted
