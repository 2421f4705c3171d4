"""Reads of the ledger. Every one is a bounded number of index probes, whatever the
length of an account's history."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Case, DecimalField, F, Sum, When

from banking.errors import AccountNotFound
from banking.money import CENT, ZERO
from transactions.ledger_sql import ledger_heads, owned_balance
from transactions.models import Transaction
from users.models import User


def balance_get(*, account_id: int) -> Decimal:
    """The current balance: the running balance stored on the newest ledger row."""
    return ledger_heads([account_id])[account_id].balance


def owned_balance_get(*, user: User, account_id: int) -> Decimal:
    """The balance of the caller's own account (one statement); another user's account
    is "not found", like a missing one."""
    balance = owned_balance(account_id=account_id, user_id=user.pk)
    if balance is None:
        raise AccountNotFound()
    return balance


def balance_at(*, account_id: int, at: datetime) -> Decimal:
    """The balance as of instant ``at``: the newest row created at or before it.

    Rows of one account are created in ``seq`` order with non-decreasing timestamps
    (both assigned under the account lock), so this agrees with the history."""
    value = (
        Transaction.objects.filter(account_id=account_id, created_at__lte=at)
        .order_by("-created_at", "-seq")
        .values_list("balance_after", flat=True)
        .first()
    )
    return value if value is not None else ZERO


def balance_recompute(*, account_id: int) -> Decimal:
    """The audit path: the balance by full aggregation of the account's successful rows.
    Linear in history length; used by ``verify_ledger`` and the tests, never per request."""
    signed = Case(
        When(direction=Transaction.Direction.CREDIT, then=F("amount")),
        default=-F("amount"),
        output_field=DecimalField(max_digits=20, decimal_places=2),
    )
    total = Transaction.objects.filter(
        account_id=account_id, status=Transaction.Status.SUCCESS
    ).aggregate(total=Sum(signed))["total"]
    return ZERO if total is None else total.quantize(CENT)


def history_page(*, account_id: int, limit: int, before_seq: int | None = None) -> list[Transaction]:
    """Newest first, keyset-paged on ``seq`` (fast at any depth, unlike OFFSET)."""
    rows = Transaction.objects.filter(account_id=account_id)
    if before_seq is not None:
        rows = rows.filter(seq__lt=before_seq)
    return list(rows.order_by("-seq")[:limit])
