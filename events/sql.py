"""The SQL that writes events and fans them out to webhook endpoints, shared by
``events.services`` and the ledger's one-statement posting insert
(``transactions.ledger_sql``), which writes a posting's events in the same statement as
its entries. Table and column names come from the models."""
from __future__ import annotations

from functools import cache

from django.db import connection

from banking.db import model_columns
from events.models import Delivery, DeliveryStatus, Event, EventType, WebhookEndpoint

EV, W, D = model_columns(Event), model_columns(WebhookEndpoint), model_columns(Delivery)
EVENTS = Event._meta.db_table
ENDPOINTS = WebhookEndpoint._meta.db_table
DELIVERIES = Delivery._meta.db_table

# The event's bound (``Event.bound``): above the writing transaction's id, and at least
# one past the newest finished transaction. (Both 64-bit: xid8 through text.)
_PG_BOUND = ("GREATEST(pg_current_xact_id()::text::bigint + 1, "
             "pg_snapshot_xmax(pg_current_snapshot())::text::bigint)")
# What a reader may take: events whose bound is at or below the oldest running transaction.
_PG_READABLE = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


def bound_sql() -> str:
    return _PG_BOUND if connection.vendor == "postgresql" else "0"


def readable_bound_sql() -> str | None:
    """SQL for the highest bound a reader may take now, or None (SQLite: every committed event)."""
    return _PG_READABLE if connection.vendor == "postgresql" else None


EVENT_COLUMNS = (EV.user, EV.account_id, EV.type, EV.bound, EV.created_at, EV.transaction_id, EV.data)


@cache
def fanout_sql(source: str) -> str:
    """INSERT a pending delivery of each event of ``source`` (a table expression with
    id, user_id, type, created_at) to each of its user's enabled endpoints that takes
    its type, due at once. The matching rule of ``WebhookEndpoint.event_types``."""
    return (
        f"INSERT INTO {DELIVERIES} ({D.endpoint}, {D.event}, {D.status}, {D.attempts}, {D.next_attempt_at}, "
        f"{D.created_at}) "
        f"SELECT w.{W.id}, ev.id, '{DeliveryStatus.PENDING}', 0, ev.created_at, ev.created_at "
        f"FROM {source} ev JOIN {ENDPOINTS} w ON w.{W.user} = ev.user_id AND w.{W.enabled} "
        f"AND (w.{W.event_types} = '' OR w.{W.event_types} LIKE '%%%% ' || ev.type || ' %%%%')"
    )


def _typed(field_name: str) -> str:
    """A placeholder for a value of the event's field. Typed on PostgreSQL, where the
    statement may be prepared and the type of a CASE's results or of a bare select-list
    parameter cannot be inferred from the INSERT; bare on SQLite, whose CAST to a
    datetime would make a number of the text."""
    if connection.vendor != "postgresql":
        return "%s"
    return f"CAST(%s AS {Event._meta.get_field(field_name).cast_db_type(connection)})"


@cache
def entry_events_sql(source: str, accounts: int) -> str:
    """INSERT a ``transaction.created`` event, for its account's owner, for each entry of
    ``source`` (a table expression with id, account_id) on one of ``accounts`` customer
    accounts. Parameters, in order: each account's id and its owner's id, the events'
    time, then (after any of ``source``'s own) the accounts' ids. RETURNING what
    ``fanout_sql`` reads."""
    owner = "CASE s.account_id " + " ".join([f"WHEN %s THEN {_typed('user')}"] * accounts) + " END"
    return (
        f"INSERT INTO {EVENTS} ({', '.join(EVENT_COLUMNS)}) "
        f"SELECT {owner}, s.account_id, '{EventType.TRANSACTION_CREATED}', {bound_sql()}, "
        f"{_typed('created_at')}, s.id, NULL "
        f"FROM {source} s WHERE s.account_id IN ({', '.join(['%s'] * accounts)}) "
        f"RETURNING id, user_id, type, created_at"
    )


def json_int_sql(column: str, key: str) -> str:
    """SQL for the whole number at ``key`` of a JSON column (the audit reads the ids in
    events' data)."""
    if connection.vendor == "postgresql":
        return f"CAST({column} ->> '{key}' AS bigint)"
    return f"CAST(json_extract({column}, '$.{key}') AS INTEGER)"
