"""Events (what happened, for one user) and webhooks (where to announce it).

An event is written in the same database transaction as the change it announces (a
transactional outbox): it exists if and only if its change committed. Each matching
webhook endpoint gets a ``Delivery`` row in that same transaction, which the delivery
worker (``manage.py deliver_webhooks``) works off; every attempt is a ``DeliveryAttempt``.

This app knows nothing of the ledger or of accounts: the apps that make changes write
their events through ``events.services`` (and, for the ledger's hot path, the SQL in
``events.sql``), and register how to render the data of events they do not store whole
(``events.registry``).
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class EventType(models.TextChoices):
    TRANSACTION_CREATED = "transaction.created"  # a ledger entry on the account (its status in data)
    HOLD_CREATED = "hold.created"
    HOLD_CAPTURED = "hold.captured"
    HOLD_VOIDED = "hold.voided"
    HOLD_EXPIRED = "hold.expired"
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_FROZEN = "account.frozen"
    ACCOUNT_UNFROZEN = "account.unfrozen"
    ACCOUNT_CLOSED = "account.closed"
    WEBHOOK_TEST = "webhook.test"  # POST /webhooks/{id}/test: to that endpoint only


class Event(models.Model):
    """Something that happened to one of a user's accounts, for that user. A transfer is
    two events, one per leg, each its account owner's.

    ``bound`` makes polling gap-free. Ids are handed out when a transaction writes its
    events, not when it commits, so a later id can commit first, and a poller that read
    it could step over the earlier one for good. ``bound`` is above the id of the
    transaction that wrote the event (PostgreSQL's transaction ids), and readers take an
    event only once no transaction below its ``bound`` is still running (``bound`` <=
    ``pg_snapshot_xmin`` of their snapshot), in (bound, id) order. An event that is not
    readable yet has a bound above that xmin (its writer is still running, or has not
    started), so it will come after every event readable now: never behind a poller's
    cursor (``events.selectors``).

    ``bound`` is also at least the snapshot's xmax (one past the newest finished
    transaction) when the event was written: an event written under an account's lock
    after another transaction released that lock gets a bound at least as high as the
    other's events, and a higher id. Per account, (bound, id) is commit order. On SQLite,
    whose writers are serialized, ids are commit order and ``bound`` is 0."""

    Type = EventType

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, related_name="+",
                             db_constraint=False, db_index=False)
    # The account the event is about (none for webhook.test). No foreign key: events are
    # written on the ledger's hot path, and accounts that have events are never deleted.
    account_id = models.BigIntegerField(null=True, blank=True)
    type = models.CharField(max_length=32, choices=EventType.choices)
    bound = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()
    # For transaction.created: the ledger entry, rendered when read (it never changes).
    transaction_id = models.BigIntegerField(null=True, blank=True)
    # For every other type: the resource as the API answered it when the event happened.
    data = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["user", "bound", "id"], name="event_user_stream_idx"),
            # ?type= and ?account_id=: one range of these per type, merged
            # (events.selectors.events_by_type), so a rare type or a quiet account among
            # busy ones is found without walking the user's other events.
            models.Index(fields=["user", "type", "bound", "id"], name="event_user_type_stream_idx"),
            models.Index(fields=["account_id", "type", "bound", "id"], name="event_account_type_stream_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(type__in=EventType.values), name="event_type_valid"),
            models.CheckConstraint(
                condition=Q(type=EventType.TRANSACTION_CREATED, transaction_id__isnull=False, data__isnull=True)
                | (~Q(type=EventType.TRANSACTION_CREATED) & Q(transaction_id__isnull=True, data__isnull=False)),
                name="event_data_or_entry",
            ),
        ]

    def __str__(self) -> str:
        return f"event {self.pk}: {self.type}"


class WebhookEndpoint(models.Model):
    """A URL a user wants events POSTed to, signed per the Standard Webhooks spec with
    the endpoint's secret (kept encrypted: ``events.secrets``)."""

    MAX_PER_USER = 10

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=255, blank=True)
    # The event types it takes, as " type1 type2 " (padded with spaces, so that the fan-out
    # in SQL matches one with LIKE '% type %' on every database); "" takes every type.
    event_types = models.CharField(max_length=512, blank=True, default="")
    secret_encrypted = models.TextField()
    # After a rotation the old secret signs too (a second signature), until this instant.
    previous_secret_encrypted = models.TextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=255, blank=True)
    # Since when every attempt has failed (cleared by a success): five days of it disable it.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["user"], condition=Q(enabled=True), name="webhook_enabled_user_idx")]

    @property
    def event_type_list(self) -> list[str]:
        return self.event_types.split()

    def __str__(self) -> str:
        return f"webhook {self.pk} → {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING"  # waiting for its next attempt
    DELIVERED = "DELIVERED"  # a 2xx answer
    FAILED = "FAILED"  # every attempt failed, or the endpoint was disabled


class Delivery(models.Model):
    """One event to one endpoint: retried on its schedule until delivered or failed.

    A worker claims a due delivery by setting ``claimed_until`` (a lease, taken with
    ``FOR UPDATE SKIP LOCKED`` and committed before it sends): no other worker takes it
    meanwhile, and if the worker dies the lease runs out and another one does."""

    Status = DeliveryStatus

    # No foreign keys: rows are written on the ledger's hot path, and a key on the endpoint
    # would share-lock its row from every posting of its user. Deleting an endpoint deletes
    # its deliveries and attempts (events.services); events are purged with theirs.
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.DO_NOTHING, related_name="deliveries",
                                 db_constraint=False)
    event = models.ForeignKey(Event, on_delete=models.DO_NOTHING, related_name="deliveries", db_constraint=False)
    status = models.CharField(max_length=9, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="PENDING"), name="delivery_due_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="delivery_status_valid"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk}: event {self.event_id} → webhook {self.endpoint_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One POST of an event to an endpoint, and what came of it."""

    delivery = models.ForeignKey(Delivery, on_delete=models.DO_NOTHING, related_name="attempt_log",
                                 db_constraint=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.DO_NOTHING, related_name="+",
                                 db_constraint=False, db_index=False)
    event = models.ForeignKey(Event, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False,
                              db_index=False)
    attempted_at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)  # None: no HTTP answer
    error = models.CharField(max_length=255, blank=True)
    duration_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["endpoint", "id"], name="attempt_endpoint_idx")]

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
