"""Every write to the ledger.

Each operation is one short database transaction that
1. locks the account row(s) with ``SELECT ... FOR UPDATE``, always in ascending id order,
   so that opposite transfers (A->B and B->A) queue instead of deadlocking;
2. reads the newest ledger row of each locked account (its running balance and sequence);
3. decides, then appends rows carrying the next sequence number, the new running balance
   and a timestamp taken *after* the lock was granted.

Because the account lock is held from step 1 to commit, no two writers can ever build on
the same ledger head: balances cannot be double-spent or lost. On SQLite, where
``select_for_update()`` is a no-op, ``BEGIN IMMEDIATE`` (see settings) serializes writers
instead. Nothing slow (no network, no hashing) happens while a lock is held.
"""
from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from django.db import OperationalError, transaction
from django.utils import timezone

from banking.errors import (
    AccountNotFound,
    AlreadyReversed,
    ApplicationError,
    BalanceLimitExceeded,
    InsufficientFunds,
    NotReversible,
    SameAccountTransfer,
    TransactionNotFound,
    ValidationFailed,
)
from banking.money import MAX_BALANCE, format_money, validate_amount
from transactions.ledger_sql import LedgerHead, LockedAccount, insert_rows, ledger_heads, lock_accounts
from transactions.models import Transaction
from users.models import User

logger = logging.getLogger(__name__)

T = TypeVar("T")
NOTE_MAX_LENGTH = 255
# PostgreSQL: serialization_failure, deadlock_detected. Neither should happen with the
# ordered locking below, but a bank retries them rather than failing a customer.
_RETRYABLE_PGCODES = {"40001", "40P01"}
_ATTEMPTS = 5


@dataclass(frozen=True)
class TransferResult:
    debit: Transaction
    credit: Transaction

    @property
    def amount(self) -> Decimal:
        return self.debit.amount


# --- public services ---------------------------------------------------------------

def deposit_create(
    *, account_id: int, amount: Decimal, note: str = "", initiated_by: User, owner: User | None
) -> Transaction:
    """Credit ``amount`` to the account. ``owner``: the user the account must belong to
    (None when staff act on any account)."""
    amount = validate_amount(amount)
    note = _clean_note(note)

    def work() -> Transaction:
        account = _lock_owned_account(account_id, owner)
        head = ledger_heads([account.id])[account.id]
        new_balance = head.balance + amount
        if new_balance > MAX_BALANCE:
            raise BalanceLimitExceeded()
        (entry,) = insert_rows([Transaction(
            **_entry_fields(account, head, initiated_by),
            transaction_type=Transaction.Type.DEPOSIT,
            direction=Transaction.Direction.CREDIT,
            amount=amount,
            balance_after=new_balance,
            note=note,
        )])
        return entry

    return _run_atomic(work)


def withdrawal_create(
    *, account_id: int, amount: Decimal, note: str = "", initiated_by: User, owner: User | None
) -> Transaction:
    """Debit ``amount`` from the account if the balance covers it. A refused attempt is
    recorded as a FAILED row (the audit trail keeps it) and then raised as
    ``InsufficientFunds``."""
    amount = validate_amount(amount)
    note = _clean_note(note)

    def work() -> tuple[Transaction, ApplicationError | None]:
        account = _lock_owned_account(account_id, owner)
        head = ledger_heads([account.id])[account.id]
        sufficient = head.balance >= amount
        (entry,) = insert_rows([Transaction(
            **_entry_fields(account, head, initiated_by),
            transaction_type=Transaction.Type.WITHDRAWAL,
            direction=Transaction.Direction.DEBIT,
            status=Transaction.Status.SUCCESS if sufficient else Transaction.Status.FAILED,
            amount=amount,
            balance_after=head.balance - amount if sufficient else head.balance,
            note=note,
        )])
        return entry, None if sufficient else _insufficient(head.balance, amount)

    entry, error = _run_atomic(work)
    if error is not None:
        raise error
    return entry


def transfer_create(
    *,
    from_account_id: int,
    to_account_id: int,
    amount: Decimal,
    note: str = "",
    initiated_by: User,
    owner: User | None,
) -> TransferResult:
    """Move ``amount`` from one account to another: a DEBIT row on the source and a
    CREDIT row on the destination, both in one database transaction, sharing a
    ``transfer_ref``. The source must belong to ``owner``; the destination may be
    anyone's."""
    amount = validate_amount(amount)
    note = _clean_note(note)

    def work() -> tuple[TransferResult | Transaction, ApplicationError | None]:
        locked = lock_accounts([from_account_id, to_account_id])
        source = locked.get(from_account_id)
        if source is None or (owner is not None and source.user_id != owner.pk):
            raise AccountNotFound()
        # After the ownership check: someone else's account is "not found", whatever
        # else is wrong with the request.
        if from_account_id == to_account_id:
            raise SameAccountTransfer()
        destination = locked.get(to_account_id)
        if destination is None:
            raise AccountNotFound("Destination account not found.")
        heads = ledger_heads([source.id, destination.id])
        source_head, destination_head = heads[source.id], heads[destination.id]
        debit_note = _join_note(f"Transfer to {destination.username}", note)
        credit_note = _join_note(f"Transfer from {source.username}", note)

        if source_head.balance < amount:
            (failed,) = insert_rows([Transaction(
                **_entry_fields(source, source_head, initiated_by),
                transaction_type=Transaction.Type.TRANSFER,
                direction=Transaction.Direction.DEBIT,
                status=Transaction.Status.FAILED,
                amount=amount,
                balance_after=source_head.balance,
                note=debit_note,
            )])
            return failed, _insufficient(source_head.balance, amount)
        if destination_head.balance + amount > MAX_BALANCE:
            raise BalanceLimitExceeded(
                "This transfer would take the destination balance over the maximum an account may hold."
            )

        ref = uuid.uuid4()
        debit, credit = insert_rows(
            [
                Transaction(
                    **_entry_fields(source, source_head, initiated_by),
                    transaction_type=Transaction.Type.TRANSFER,
                    direction=Transaction.Direction.DEBIT,
                    amount=amount,
                    balance_after=source_head.balance - amount,
                    note=debit_note,
                    transfer_ref=ref,
                ),
                Transaction(
                    **_entry_fields(destination, destination_head, initiated_by),
                    transaction_type=Transaction.Type.TRANSFER,
                    direction=Transaction.Direction.CREDIT,
                    amount=amount,
                    balance_after=destination_head.balance + amount,
                    note=credit_note,
                    transfer_ref=ref,
                ),
            ]
        )
        return TransferResult(debit=debit, credit=credit), None

    result, error = _run_atomic(work)
    if error is not None:
        raise error
    assert isinstance(result, TransferResult)
    return result


def reversal_create(*, transaction_id: int, note: str = "", initiated_by: User) -> list[Transaction]:
    """Staff correction: post the opposite movement of an earlier successful row, linked
    to it by ``reversal_of``. A transfer is reversed whole (both legs, money goes back).
    History is never rewritten. A row is reversed at most once (checked under the
    account locks, and by a unique constraint), and a reversal that would overdraw an
    account is refused."""
    note = _clean_note(note)
    original = Transaction.objects.filter(pk=transaction_id).first()
    if original is None:
        raise TransactionNotFound()
    if original.status != Transaction.Status.SUCCESS:
        raise NotReversible("Only successful transactions can be reversed; this one moved no money.")
    if original.transaction_type == Transaction.Type.REVERSAL:
        raise NotReversible("A reversal cannot itself be reversed; post a new movement instead.")
    legs = [original]
    if original.transfer_ref is not None:
        legs = list(Transaction.objects.filter(transfer_ref=original.transfer_ref).order_by("pk"))

    def work() -> list[Transaction]:
        locked = lock_accounts([leg.account_id for leg in legs])
        if Transaction.objects.filter(reversal_of__in=legs).exists():
            raise AlreadyReversed()
        heads = ledger_heads(list(locked))
        ref = uuid.uuid4() if len(legs) > 1 else None
        rows = []
        for leg in legs:
            head = heads[leg.account_id]
            credit = leg.direction == Transaction.Direction.DEBIT  # undo a debit by crediting
            if not credit and head.balance < leg.amount:
                raise InsufficientFunds(
                    f"Reversal refused: it would overdraw account {leg.account_id} "
                    f"(available {format_money(head.balance)}, needed {format_money(leg.amount)})."
                )
            balance = head.balance + leg.amount if credit else head.balance - leg.amount
            if balance > MAX_BALANCE:
                raise BalanceLimitExceeded()
            rows.append(Transaction(
                **_entry_fields(locked[leg.account_id], head, initiated_by),
                transaction_type=Transaction.Type.REVERSAL,
                direction=Transaction.Direction.CREDIT if credit else Transaction.Direction.DEBIT,
                amount=leg.amount,
                balance_after=balance,
                note=_join_note(f"Reversal of transaction {leg.pk}", note),
                transfer_ref=ref,
                reversal_of=leg,
            ))
        return insert_rows(rows)

    return _run_atomic(work)


# --- helpers -----------------------------------------------------------------------

def _run_atomic(work: Callable[[], T]) -> T:
    """Run ``work`` in one database transaction, retrying it if the database aborted it
    for a deadlock or serialization failure (or SQLite gave up waiting for its lock).
    Inside an outer transaction there is nothing safe to retry, so errors propagate."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return work()
        except OperationalError as exc:
            if (
                attempt == _ATTEMPTS
                or not _is_retryable(exc)
                or transaction.get_connection().in_atomic_block
            ):
                raise
            logger.warning("retrying ledger write after %s (attempt %d)", exc, attempt)
            time.sleep(random.uniform(0.001, 0.01 * attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def _is_retryable(exc: OperationalError) -> bool:
    if getattr(exc.__cause__, "pgcode", None) in _RETRYABLE_PGCODES:
        return True
    return "database is locked" in str(exc)


def _lock_owned_account(account_id: int, owner: User | None) -> LockedAccount:
    account = lock_accounts([account_id]).get(account_id)
    # A foreign account is "not found", exactly like a missing one.
    if account is None or (owner is not None and account.user_id != owner.pk):
        raise AccountNotFound()
    return account


def _entry_fields(account: LockedAccount, head: LedgerHead, initiated_by: User) -> dict:
    """Fields that place a new row after ``head``: the next sequence number and a
    timestamp taken now (after the lock), never earlier than the previous row's, so
    that sequence order and time order agree even if the clock steps back."""
    now = timezone.now()
    if head.created_at is not None and head.created_at > now:
        now = head.created_at
    return {"account_id": account.id, "seq": head.seq + 1, "created_at": now, "initiated_by": initiated_by}


def _insufficient(balance: Decimal, amount: Decimal) -> InsufficientFunds:
    return InsufficientFunds(
        f"Insufficient balance: available {format_money(balance)}, requested {format_money(amount)}."
    )


def _clean_note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX_LENGTH:
        raise ValidationFailed(f"Note must be at most {NOTE_MAX_LENGTH} characters.")
    return note


def _join_note(prefix: str, note: str) -> str:
    return f"{prefix}: {note}" if note else prefix
