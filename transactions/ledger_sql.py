"""The ledger's hot path in plain SQL.

Every money movement runs these three statements inside its transaction, so they are
written out rather than built by the ORM: building a query costs more Python time than
PostgreSQL spends running it (measured: ORM compilation was ~25% of a transfer's CPU).
Each statement is portable between PostgreSQL and SQLite; only the row lock differs.

Order matters for correctness: ``lock_accounts`` must return before ``ledger_heads``
reads, so the heads are read under the lock. (Reading the newest row in the same
statement as the lock, e.g. with a LATERAL join, would use the statement's snapshot,
taken *before* the lock was granted, and could see a stale head.)
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime
from decimal import Decimal

from django.db import connection

from accounts.models import Account
from transactions.models import Transaction
from users.models import User

ACCOUNTS = Account._meta.db_table
LEDGER = Transaction._meta.db_table
USERS = User._meta.db_table


@dataclass(frozen=True)
class LockedAccount:
    id: int
    user_id: int
    username: str


@dataclass(frozen=True)
class LedgerHead:
    """The newest row of an account's ledger: what the next row builds on."""

    seq: int
    balance: Decimal
    created_at: datetime | None


EMPTY_HEAD = LedgerHead(seq=0, balance=Decimal("0.00"), created_at=None)

_INSERT_FIELDS = [f for f in Transaction._meta.concrete_fields if not f.primary_key]
_INSERT_COLUMNS = ", ".join(connection.ops.quote_name(f.column) for f in _INSERT_FIELDS)


def lock_accounts(account_ids: list[int]) -> dict[int, LockedAccount]:
    """Lock the account rows until commit, in ascending id order (so two transactions
    locking the same pair always queue instead of deadlocking). SQLite has no row locks:
    its BEGIN IMMEDIATE has already taken the database's single write lock."""
    ids = sorted(set(account_ids))
    placeholders = ", ".join(["%s"] * len(ids))
    lock = " FOR UPDATE OF a" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT a.id, a.user_id, u.username FROM {ACCOUNTS} a JOIN {USERS} u ON u.id = a.user_id "
            f"WHERE a.id IN ({placeholders}) ORDER BY a.id{lock}",
            ids,
        )
        return {row[0]: LockedAccount(*row) for row in cursor.fetchall()}


def ledger_heads(account_ids: list[int]) -> dict[int, LedgerHead]:
    """The newest row of each account, in one statement: one backward probe of the
    (account, seq) index per account, whatever the history length."""
    one = (
        f"SELECT * FROM (SELECT account_id, seq, balance_after, created_at FROM {LEDGER} "
        f"WHERE account_id = %s ORDER BY seq DESC LIMIT 1) AS head{{i}}"
    )
    sql = " UNION ALL ".join(one.format(i=i) for i in range(len(account_ids)))
    heads = dict.fromkeys(account_ids, EMPTY_HEAD)
    with connection.cursor() as cursor:
        cursor.execute(sql, list(account_ids))
        for account_id, seq, balance, created_at in cursor.fetchall():
            heads[account_id] = LedgerHead(seq, _convert("balance_after", balance), _convert("created_at", created_at))
    return heads


def insert_rows(rows: list[Transaction]) -> list[Transaction]:
    """INSERT the rows in one statement and set their ids (RETURNING)."""
    values = []
    for row in rows:
        values += [f.get_db_prep_save(getattr(row, f.attname), connection) for f in _INSERT_FIELDS]
    one = "(" + ", ".join(["%s"] * len(_INSERT_FIELDS)) + ")"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {LEDGER} ({_INSERT_COLUMNS}) VALUES {', '.join([one] * len(rows))} RETURNING id",
            values,
        )
        for row, (pk,) in zip(rows, cursor.fetchall(), strict=True):
            row.pk = pk
            row._state.adding = False
    return rows


def owned_balance(*, account_id: int, user_id: int) -> Decimal | None:
    """The balance of an account the user owns, or None (missing or someone else's), in
    one statement: the ownership check and the newest row's running balance."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT a.id, (SELECT balance_after FROM {LEDGER} t WHERE t.account_id = a.id "
            f"ORDER BY seq DESC LIMIT 1) FROM {ACCOUNTS} a WHERE a.id = %s AND a.user_id = %s",
            [account_id, user_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return _convert("balance_after", row[1]) if row[1] is not None else Decimal("0.00")


@lru_cache(maxsize=None)
def _converters(vendor: str, field_name: str) -> tuple:
    """The ORM's converters for one ledger column on this database (SQLite returns text
    or float for decimals and datetimes; PostgreSQL returns Decimal and aware datetime)."""
    field = Transaction._meta.get_field(field_name)
    expression = field.get_col(LEDGER)
    return expression, tuple(connection.ops.get_db_converters(expression) + field.get_db_converters(connection))


def _convert(field_name: str, value):
    expression, converters = _converters(connection.vendor, field_name)
    for converter in converters:
        value = converter(value, expression, connection)
    return value
