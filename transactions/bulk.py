"""Long histories in seconds, for the benchmark and the tests that measure depth.

``expired_holds_append`` adds holds that have run out without being captured or voided:
still PENDING, past their expiry, so the worst case for the available balance (nothing
has swept them out of the index of pending holds).

``deposits_append`` writes, in one bulk SQL statement, exactly what ``posting_create`` writes
for a run of deposits of one amount: a posting each, a credit entry on the customer
account carrying the next sequence number and the running balance, a debit entry on
external funds, increasing timestamps, and the customer entry's event. PostgreSQL only (generate_series). It sets
``session_replication_role = replica`` for its own statements, so that the commit-time
checks of the ledger triggers do not run millions of times: it is a trusted loader, and
its callers run ``verify_ledger`` (or the tests' own checks) on the result."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from banking.serializers import represent
from events.models import EventType
from events.services import NewEvent, events_record
from events.sql import EV, EVENTS
from transactions.ledger_sql import ACCOUNTS, LEDGER, POSTINGS, A, E, P
from transactions.models import EXTERNAL_FUNDS, Direction, Hold, HoldStatus, Kind, Status, system_account_id
from transactions.serializers import HoldOutputSerializer


def deposits_append(*, account_id: int, count: int, amount: Decimal = Decimal("1.00"),
                    step: str = "1 microsecond", start: datetime | None = None) -> None:
    """Append ``count`` deposits of ``amount`` to a customer account's ledger, ``step``
    apart in time, from ``start`` (which must not be before its newest entry; default:
    its newest entry, or now for an empty ledger)."""
    if count <= 0:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            f"SELECT COALESCE(MAX({E.seq}), 0), COALESCE(MAX({E.created_at}), now()) FROM {LEDGER} "
            f"WHERE {E.account} = %s",
            [account_id],
        )
        last_seq, last_time = cursor.fetchone()
        if start is not None:
            if last_seq and start < last_time:
                raise ValueError("start is before the account's newest entry: the ledger would go back in time")
            last_time = start
        cursor.execute(f"SELECT {E.balance_after} FROM {LEDGER} WHERE {E.account} = %s AND {E.seq} = %s",
                       [account_id, last_seq])
        row = cursor.fetchone()
        balance = row[0] if row else Decimal("0.00")
        cursor.execute(f"SELECT {A.user} FROM {ACCOUNTS} WHERE {A.id} = %s", [account_id])
        user_id = cursor.fetchone()[0]
        cursor.execute(
            f"""
            WITH new AS (
                INSERT INTO {POSTINGS} ({P.kind}, {P.status}, {P.note}, {P.created_at}, {P.idempotency_key},
                                        {P.initiated_by})
                SELECT %(kind)s, %(status)s, '', %(t0)s::timestamptz + g * %(step)s::interval, '', %(user)s
                  FROM generate_series(1, %(count)s) AS g
                RETURNING {P.id} AS id, {P.created_at} AS created_at
            ), numbered AS (
                SELECT id, created_at, ROW_NUMBER() OVER (ORDER BY id) AS n FROM new
            ), entries AS (
                INSERT INTO {LEDGER} ({E.posting}, {E.account}, {E.seq}, {E.transaction_type}, {E.status},
                                      {E.direction}, {E.amount}, {E.balance_after}, {E.note}, {E.created_at},
                                      {E.initiated_by})
                SELECT id, %(account)s, %(seq)s + n, %(kind)s, %(status)s, %(credit)s, %(amount)s,
                       %(balance)s + n * %(amount)s, '', created_at, %(user)s FROM numbered
                UNION ALL
                SELECT id, %(system)s, NULL, %(kind)s, %(status)s,
                       %(debit)s, %(amount)s, NULL, '', created_at, %(user)s FROM numbered
                RETURNING {E.id} AS id, {E.seq} AS seq, {E.created_at} AS created_at
            )
            -- Each customer entry's transaction.created event (bound 0: readable at once).
            INSERT INTO {EVENTS} ({EV.user}, {EV.account_id}, {EV.type}, {EV.bound}, {EV.created_at},
                                  {EV.transaction_id})
            SELECT %(user)s, %(account)s, %(event)s, 0, created_at, id FROM entries WHERE seq IS NOT NULL
            """,
            {"event": EventType.TRANSACTION_CREATED, "kind": Kind.DEPOSIT, "status": Status.SUCCESS, "t0": last_time, "step": step, "user": user_id,
             "count": count, "account": account_id, "seq": last_seq, "credit": Direction.CREDIT,
             "debit": Direction.DEBIT, "amount": amount, "balance": balance,
             "system": system_account_id(EXTERNAL_FUNDS)},
        )
        _analyze(cursor, LEDGER, EVENTS)


def expired_holds_append(*, account_id: int, count: int, amount: Decimal = Decimal("1.00")) -> None:
    """Add ``count`` PENDING holds of ``amount`` on the account that expired a day ago."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {A.user} FROM {ACCOUNTS} WHERE {A.id} = %s", [account_id])
        user_id = cursor.fetchone()[0]
    expired = timezone.now() - timedelta(days=1)
    holds = Hold.objects.bulk_create(
        [Hold(account_id=account_id, amount=amount, created_at=expired - timedelta(hours=1, seconds=i),
              expires_at=expired, initiated_by_id=user_id) for i in range(count)],
        batch_size=5000,
    )
    # Their hold.created events, as hold_create writes them (the balance then unknown here).
    for start in range(0, len(holds), 2000):
        batch = holds[start:start + 2000]
        for hold in batch:
            hold.current_status, hold.available_balance = HoldStatus.PENDING, None
        events_record([NewEvent(user_id=user_id, account_id=account_id, type=EventType.HOLD_CREATED,
                                created_at=hold.created_at, data=represent(HoldOutputSerializer, hold))
                       for hold in batch], fan_out=False)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            _analyze(cursor, Hold._meta.db_table)


def _analyze(cursor, *tables: str) -> None:
    """ANALYZE ``tables``, so that the planner knows what was just loaded. Autovacuum may be
    working on the same table after a big load (or a rolled-back one); it gives way to a
    waiting ANALYZE only after ``deadlock_timeout`` (1 s), no sooner than the connection's
    ``lock_timeout`` (1 s by default) would cancel it: so this waits up to a minute."""
    cursor.execute("SHOW lock_timeout")
    (previous,) = cursor.fetchone()
    cursor.execute("SET lock_timeout = '60s'")
    for table in tables:
        cursor.execute(f"ANALYZE {table}")
    cursor.execute("SELECT set_config('lock_timeout', %s, false)", [previous])
