"""The ledger's hot path in plain SQL.

Every money movement runs these statements inside its transaction (and every hold's
insert, lock and change of status), so they are written out rather than built by the
ORM: building a query costs more Python time than PostgreSQL spends running it
(measured: ORM compilation was ~25% of a transfer's CPU).
Each statement runs on PostgreSQL and SQLite alike, except the row lock and the one-
statement posting insert (PostgreSQL only; SQLite gets two statements).
Table and column names come from the models.

Order matters for correctness: a writer's heads are read by a statement after the one
that locks the accounts (``accounts_lock``), so they are read under the lock. (Reading
the newest entry in the same statement as the lock would use that statement's snapshot,
taken *before* the lock was granted, and could see a stale head.)

This module is also the one home of "the balance is the newest entry's running
balance": ``accounts_lock`` for the writers, ``ledger_heads`` for reads of several
accounts, ``head_balance_sql`` for every other read that needs it in SQL (the owner's balance read, the admin's account list, the audit).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache

from django.db import connection

from banking.db import model_columns, prepared
from events.services import deliveries_fan_out
from events.sql import entry_events_sql, fanout_sql
from transactions.models import Hold, HoldStatus, Posting, Transaction

_ACCOUNT = Transaction._meta.get_field("account").related_model
_USER = _ACCOUNT._meta.get_field("user").related_model
ACCOUNTS = _ACCOUNT._meta.db_table
# Entries, postings, accounts, holds: their columns by field name.
E, P, A, H = model_columns(Transaction), model_columns(Posting), model_columns(_ACCOUNT), model_columns(Hold)
LEDGER = Transaction._meta.db_table
POSTINGS = Posting._meta.db_table
HOLDS = Hold._meta.db_table
USERS = _USER._meta.db_table



def head_balance_sql(account_id_column: str) -> str:
    """SQL for the balance of the customer account whose id is in ``account_id_column``:
    the running balance of its newest entry, one backward probe of the (account, seq)
    index. NULL for an account with no entries yet (a balance of 0)."""
    return (
        f"(SELECT balance_after FROM {LEDGER} h WHERE h.account_id = {account_id_column} "
        f"AND h.seq IS NOT NULL ORDER BY h.seq DESC LIMIT 1)"
    )



def held_sql(account_id_column: str, *, except_hold: bool = False) -> str:
    """SQL for what the active holds of the account in ``account_id_column`` reserve: the
    sum of its PENDING holds not yet expired at the instant given as the first parameter
    (``%s``; with ``except_hold``, a second parameter names a hold left out: the one
    being captured). A range probe of the partial index of PENDING holds by expiry, so
    the cost follows the active holds only, not every hold the account ever had.
    (``Hold.objects.active`` is the same rule for the ORM.)"""
    leave_out = f" AND {H.id} <> %s" if except_hold else ""
    return (
        f"(SELECT COALESCE(SUM({H.amount}), 0) FROM {HOLDS} WHERE {H.account} = {account_id_column} "
        f"AND {H.status} = '{HoldStatus.PENDING}' AND {H.expires_at} > %s{leave_out})"
    )


@dataclass(frozen=True)
class LockedAccount:
    id: int
    user_id: int
    username: str | None  # read only when asked for (``accounts_lock(with_usernames=True)``)
    status: str  # ``accounts.models.AccountStatus``, read under the lock


@dataclass(frozen=True)
class LedgerHead:
    """The newest entry of a customer account's ledger: what the next entry builds on;
    and, when asked for, what the account's active holds reserve (``held``)."""

    seq: int
    balance: Decimal
    created_at: datetime | None
    held: Decimal = Decimal("0.00")

    @property
    def available(self) -> Decimal:
        return self.balance - self.held


EMPTY_HEAD = LedgerHead(seq=0, balance=Decimal("0.00"), created_at=None)

_ENTRY_FIELDS = [f for f in Transaction._meta.concrete_fields if not f.primary_key]
_ENTRY_COLUMNS = ", ".join(connection.ops.quote_name(f.column) for f in _ENTRY_FIELDS)
_POSTING_FIELDS = [f for f in Posting._meta.concrete_fields if not f.primary_key]
_POSTING_COLUMNS = ", ".join(connection.ops.quote_name(f.column) for f in _POSTING_FIELDS)
_POSTING_ATTNAMES = [f.attname for f in _POSTING_FIELDS]
_ENTRY_ATTNAMES_BUT_POSTING = [f.attname for f in _ENTRY_FIELDS if f.attname != "posting_id"]


def accounts_lock(
    account_ids: list[int], *, holds_active_at: datetime | None = None, except_hold: int | None = None,
    with_usernames: bool = False,
) -> tuple[dict[int, LockedAccount], dict[int, LedgerHead]]:
    """Lock the customer account rows until commit, in ascending id order (so two
    transactions locking the same pair always queue instead of deadlocking), then read
    each one's owner (and username, ``with_usernames``) and ledger head (with
    ``holds_active_at``, also what its active holds reserve, leaving out hold
    ``except_hold``). System accounts are never locked (nor returned).

    On PostgreSQL the lock and the read are two statements sent in one round trip: in
    READ COMMITTED each statement takes its own snapshot, so the read, a statement after
    the lock was granted, sees everything committed by whoever held the lock before.
    SQLite has no row locks: its BEGIN IMMEDIATE has already taken the database's single
    write lock, and the reads run one after the other."""
    ids = sorted(set(account_ids))
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_accounts_sql(len(ids), with_usernames), ids)
            locked = {row[0]: LockedAccount(*row) for row in cursor.fetchall()}
        return locked, ledger_heads(list(locked), holds_active_at=holds_active_at, except_hold=except_hold)
    held, held_params = _held_column("a.id", holds_active_at, except_hold)
    with connection.cursor() as cursor:
        cursor.execute(f"{prepared(_lock_sql(len(ids)))}; {prepared(locked_heads_sql(len(ids), held, with_usernames))}",
                       ids + held_params + ids)
        rows = cursor.fetchall()
    locked, heads = {}, {}
    for account_id, user_id, username, status, seq, balance, created_at, held_amount in rows:
        locked[account_id] = LockedAccount(account_id, user_id, username, status)
        heads[account_id] = EMPTY_HEAD if seq is None else LedgerHead(seq, balance, created_at, held_amount)
    return locked, heads


@cache
def _accounts_sql(count: int, with_usernames: bool, columns: str = "", joins: str = "") -> str:
    """The customer accounts among ``count`` ids (``%s``), in id order: id, owner and
    username (NULL unless asked for: it joins the users table, which only the notes of
    transfers need), status, then ``columns`` from ``joins``."""
    users = f" JOIN {USERS} u ON u.id = a.user_id" if with_usernames else ""
    username = "u.username" if with_usernames else "NULL"
    return (
        f"SELECT a.id, a.user_id, {username}, a.{A.status}{columns} FROM {ACCOUNTS} a{users}{joins} "
        f"WHERE a.id IN ({', '.join(['%s'] * count)}) AND a.user_id IS NOT NULL ORDER BY a.id"
    )


@cache
def _lock_sql(count: int) -> str:
    return (
        f"SELECT a.id FROM {ACCOUNTS} a WHERE a.id IN ({', '.join(['%s'] * count)}) AND a.user_id IS NOT NULL "
        f"ORDER BY a.id FOR UPDATE"
    )


@cache
def locked_heads_sql(count: int, held: str, with_usernames: bool) -> str:
    """The read of ``accounts_lock`` on PostgreSQL: the accounts, and the newest entry of
    each (one backward probe of the (account, seq) index) with ``held`` beside it."""
    newest_entry = (
        f" LEFT JOIN LATERAL (SELECT seq, balance_after, created_at FROM {LEDGER} h "
        f"WHERE h.account_id = a.id AND h.seq IS NOT NULL ORDER BY h.seq DESC LIMIT 1) AS head ON true"
    )
    return _accounts_sql(count, with_usernames, f", head.seq, head.balance_after, head.created_at, {held}",
                         newest_entry)


def _held_column(account_id_column: str, at: datetime | None, except_hold: int | None) -> tuple[str, list]:
    """The SQL column of what active holds reserve, and its parameters ("0" when holds
    are not asked for: a deposit reads none)."""
    if at is None:
        return "0", []
    return held_sql(account_id_column, except_hold=except_hold is not None), [at] + (
        [except_hold] if except_hold is not None else []
    )


def ledger_heads(
    account_ids: list[int], *, holds_active_at: datetime | None = None, except_hold: int | None = None
) -> dict[int, LedgerHead]:
    """The newest entry of each customer account, in one statement: one backward probe
    of the (account, seq) index per account, whatever the history length. With
    ``holds_active_at``, also what the account's holds active at that instant reserve
    (leaving out hold ``except_hold``), in the same statement. (A writer reads its
    heads through ``accounts_lock``.)"""
    heads = dict.fromkeys(account_ids, EMPTY_HEAD)
    if not account_ids:
        return heads
    held, held_params = _held_column("head{i}.account_id", holds_active_at, except_hold)
    params = []
    for account_id in account_ids:
        params += held_params + [account_id]
    with connection.cursor() as cursor:
        cursor.execute(_heads_sql(len(account_ids), held), params)
        for account_id, seq, balance, created_at, held_amount in cursor.fetchall():
            heads[account_id] = LedgerHead(
                seq, _convert("balance_after", balance), _convert("created_at", created_at),
                _convert("amount", held_amount),
            )
    return heads


@cache
def _heads_sql(count: int, held: str) -> str:
    # An account with no entries yet has no row here, and no holds either (a hold needs
    # an available balance): EMPTY_HEAD is right for it.
    one = (
        f"SELECT head{{i}}.*, {held} FROM (SELECT account_id, seq, balance_after, created_at FROM {LEDGER} "
        f"WHERE account_id = %s AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1) AS head{{i}}"
    )
    return " UNION ALL ".join(one.format(i=i) for i in range(count))


def insert_posting(posting: Posting, entries: list[Transaction], *, owners: Mapping[int, int]) -> None:
    """INSERT the posting, all its entries and their events (a ``transaction.created``
    for each entry on a customer account, the account's owner's: ``owners`` maps account
    ids to user ids) with their webhook deliveries, and set the rows' ids (RETURNING).
    On PostgreSQL that is one statement, one round trip (data-modifying CTEs); elsewhere
    one statement each."""
    customers = [(e.account_id, owners[e.account_id]) for e in entries if e.seq is not None]
    event_params = [x for pair in customers for x in pair] + [posting.created_at]
    account_ids = [account_id for account_id, _ in customers]
    if connection.vendor == "postgresql":
        _insert_posting_one_statement(posting, entries, event_params + account_ids, len(customers))
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {POSTINGS} ({_POSTING_COLUMNS}) VALUES ({', '.join(['%s'] * len(_POSTING_FIELDS))}) "
            f"RETURNING id",
            [f.get_db_prep_save(getattr(posting, f.attname), connection) for f in _POSTING_FIELDS],
        )
        posting.pk = cursor.fetchone()[0]
        posting._state.adding = False
        values = []
        for entry in entries:
            entry.posting_id = posting.pk
            values += [f.get_db_prep_save(getattr(entry, f.attname), connection) for f in _ENTRY_FIELDS]
        one = "(" + ", ".join(["%s"] * len(_ENTRY_FIELDS)) + ")"
        cursor.execute(f"INSERT INTO {LEDGER} ({_ENTRY_COLUMNS}) VALUES {', '.join([one] * len(entries))} RETURNING id",
                       values)
        for entry, (pk,) in zip(entries, cursor.fetchall(), strict=True):
            entry.pk = pk
            entry._state.adding = False
        entry_ids = [e.pk for e in entries]
        source = f"(SELECT id, account_id FROM {LEDGER} WHERE id IN ({', '.join(['%s'] * len(entry_ids))}))"
        cursor.execute(entry_events_sql(source, len(customers)),
                       event_params[:-1] + [connection.ops.adapt_datetimefield_value(posting.created_at)]
                       + entry_ids + account_ids)
        event_ids = [row[0] for row in cursor.fetchall()]
    deliveries_fan_out(event_ids)


def _insert_posting_one_statement(posting: Posting, entries: list[Transaction], event_params: list,
                                  customers: int) -> None:
    # The attribute values go to psycopg2 as they are: on PostgreSQL, Django's per-field
    # preparation returns every one of these types unchanged (str, int, Decimal, aware
    # datetime, None) and cost a tenth of a deposit's Python time (profiled).
    values = [getattr(posting, name) for name in _POSTING_ATTNAMES]
    for entry in entries:
        values += [getattr(entry, name) for name in _ENTRY_ATTNAMES_BUT_POSTING]
    with connection.cursor() as cursor:
        cursor.execute(prepared(_posting_insert_sql(len(entries), customers)), values + event_params)
        for entry, (pk, posting_id) in zip(entries, cursor.fetchall(), strict=True):
            entry.pk, entry.posting_id = pk, posting_id
            entry._state.adding = False
    posting.pk = entries[0].posting_id
    posting._state.adding = False


@cache
def _posting_insert_sql(entry_count: int, customers: int) -> str:
    # Typed placeholders: VALUES rows of NULLs would otherwise be typed text.
    row = "(" + ", ".join(
        "(SELECT id FROM p)" if f.attname == "posting_id" else f"CAST(%s AS {f.cast_db_type(connection)})"
        for f in _ENTRY_FIELDS
    ) + ")"
    return (
        f"WITH p AS (INSERT INTO {POSTINGS} ({_POSTING_COLUMNS}) "
        f"VALUES ({', '.join(['%s'] * len(_POSTING_FIELDS))}) RETURNING id), "
        f"e AS (INSERT INTO {LEDGER} ({_ENTRY_COLUMNS}) VALUES {', '.join([row] * entry_count)} "
        f"RETURNING id, posting_id, account_id), "
        f"ev AS ({entry_events_sql('e', customers)}), "
        f"d AS ({fanout_sql('ev')}) "
        f"SELECT id, posting_id FROM e"
    )


_OWNED_BALANCE_SQL = (
    f"SELECT a.id, {head_balance_sql('a.id')}, {held_sql('a.id')} FROM {ACCOUNTS} a WHERE a.id = %s AND a.user_id = %s"
)


def owned_balance(*, account_id: int, user_id: int, at: datetime) -> tuple[Decimal, Decimal] | None:
    """The posted balance of an account the user owns and what its holds active at
    ``at`` reserve, or None (missing or someone else's), in one statement: the ownership
    check, the newest entry's running balance and the active holds."""
    with connection.cursor() as cursor:
        cursor.execute(prepared(_OWNED_BALANCE_SQL), [at, account_id, user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    balance = _convert("balance_after", row[1]) if row[1] is not None else Decimal("0.00")
    return balance, _convert("amount", row[2])


_HOLD_FIELDS = list(Hold._meta.concrete_fields)
_ACCOUNT_FIELDS = list(_ACCOUNT._meta.concrete_fields)
_HOLD_WITH_ACCOUNTS_SQL = (
    "SELECT " + ", ".join([f"h.{f.column}" for f in _HOLD_FIELDS] + [f"a.{f.column}" for f in _ACCOUNT_FIELDS]
                          + [f"t.{f.column}" for f in _ACCOUNT_FIELDS])
    + f" FROM {HOLDS} h JOIN {ACCOUNTS} a ON a.id = h.{H.account} LEFT JOIN {ACCOUNTS} t ON t.id = h.{H.to_account}"
    f" WHERE h.{H.id} = %s"
)


def hold_with_accounts(hold_id: int) -> Hold | None:
    """The hold with its account and payee account (``select_related``'s objects), or
    None. One prepared statement: the ORM's query cost 0.78 ms of CPU here, in process,
    on every capture and void (and read of a hold); this one a fraction of it."""
    with connection.cursor() as cursor:
        cursor.execute(prepared(_HOLD_WITH_ACCOUNTS_SQL), [hold_id])
        row = cursor.fetchone()
    if row is None:
        return None
    hold = _from_row(Hold, _HOLD_FIELDS, row[:len(_HOLD_FIELDS)])
    account_values = row[len(_HOLD_FIELDS):]
    hold.account = _from_row(_ACCOUNT, _ACCOUNT_FIELDS, account_values[:len(_ACCOUNT_FIELDS)])
    hold.to_account = (None if hold.to_account_id is None
                       else _from_row(_ACCOUNT, _ACCOUNT_FIELDS, account_values[len(_ACCOUNT_FIELDS):]))
    return hold


def _from_row(model, fields, values):
    """A model instance from its columns as the database returned them."""
    return model.from_db(connection.alias, [field.attname for field in fields], _converted(model, fields, values))


def _converted(model, fields, values) -> list:
    """Column values as the database returned them, converted as the ORM would have."""
    return [None if value is None else _convert(field.name, value, model=model)
            for field, value in zip(fields, values, strict=True)]


# What can change on a hold once it is written: its status and resolution (``_hold_resolve``).
_HOLD_STATE = [Hold._meta.get_field(name) for name in ("status", "resolved_at", "resolved_by", "captured_amount")]
_HOLD_LOCK_SQL = f"SELECT {', '.join(f.column for f in _HOLD_STATE)} FROM {HOLDS} WHERE {H.id} = %s"


def hold_lock(hold: Hold) -> None:
    """Lock the row of ``hold`` until commit (after its accounts': see posting_create), and
    read into ``hold`` what may have changed since it was read: its status and
    resolution. One prepared statement: the ORM's query for the whole hold and its
    accounts cost 0.74 ms of CPU here, in process, with the accounts locked; this 0.14.
    (SQLite: no row lock; its writer already holds the database's.)"""
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(prepared(_HOLD_LOCK_SQL + lock), [hold.pk])
        row = cursor.fetchone()
    for field, value in zip(_HOLD_STATE, _converted(Hold, _HOLD_STATE, row), strict=True):
        setattr(hold, field.attname, value)


_HOLD_INSERT_FIELDS = [f for f in _HOLD_FIELDS if not f.primary_key]
_HOLD_INSERT_SQL = (
    f"INSERT INTO {HOLDS} ({', '.join(f.column for f in _HOLD_INSERT_FIELDS)}) "
    f"VALUES ({', '.join(['%s'] * len(_HOLD_INSERT_FIELDS))}) RETURNING {H.id}"
)


def hold_insert(hold: Hold) -> None:
    """INSERT ``hold`` and set its id, under its account's lock: one prepared statement
    (``Hold.objects.create`` cost 0.30 ms of CPU here)."""
    values = [f.get_db_prep_save(getattr(hold, f.attname), connection) for f in _HOLD_INSERT_FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(prepared(_HOLD_INSERT_SQL), values)
        (hold.pk,) = cursor.fetchone()
    hold._state.adding, hold._state.db = False, connection.alias


_HOLD_STATE_WRITE_SQL = (
    f"UPDATE {HOLDS} SET {', '.join(f'{f.column} = %s' for f in _HOLD_STATE)} WHERE {H.id} = %s"
)


def hold_state_write(hold: Hold) -> None:
    """Write ``hold``'s status and resolution (what ``hold_lock`` reads), under its lock:
    one prepared statement (``save(update_fields=...)`` cost 0.27 ms of CPU here)."""
    values = [field.get_db_prep_save(getattr(hold, field.attname), connection) for field in _HOLD_STATE]
    with connection.cursor() as cursor:
        cursor.execute(prepared(_HOLD_STATE_WRITE_SQL), [*values, hold.pk])


@cache
def _converters(vendor: str, model, field_name: str) -> tuple:
    """The ORM's converters for one column on this database (SQLite returns text or
    float for decimals and datetimes; PostgreSQL returns Decimal and aware datetime)."""
    field = model._meta.get_field(field_name)
    expression = field.get_col(model._meta.db_table)
    return expression, tuple(connection.ops.get_db_converters(expression) + field.get_db_converters(connection))


def _convert(field_name: str, value, *, model=Transaction):
    expression, converters = _converters(connection.vendor, model, field_name)
    for converter in converters:
        value = converter(value, expression, connection)
    return value
