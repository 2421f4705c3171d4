"""Every write to the ledger goes through one primitive, ``posting_create``.

A posting is one database transaction that
1. locks the customer account rows its legs touch with ``SELECT ... FOR UPDATE``, always
   in ascending id order, so that opposite transfers (A->B and B->A) queue instead of
   deadlocking (system accounts are never locked: they are on every deposit and
   withdrawal, and must not make those queue on one row);
2. reads the newest entry of each locked account (its running balance and sequence);
3. checks funds, in this one place, and the balance ceiling;
4. appends the posting and its entries, which sum to zero: each customer entry carries
   the next sequence number and the new running balance, all with one timestamp taken
   *after* the locks were granted.

Because the account locks are held from step 1 to commit, no two writers can ever build
on the same ledger head: balances cannot be double-spent or lost. On SQLite, where
``select_for_update()`` is a no-op, ``BEGIN IMMEDIATE`` (see settings) serializes writers
instead. Nothing slow (no network, no hashing) happens while a lock is held.

Deposits, withdrawals, transfers and reversals are thin callers that say which legs move.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from banking.db import run_in_transaction
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
from banking.text import has_invisible_characters
from transactions.ledger_sql import LedgerHead, LockedAccount, insert_posting, ledger_heads, lock_accounts
from transactions.models import EXTERNAL_FUNDS, Direction, Kind, Posting, Status, Transaction, system_account_id
from users.models import User

NOTE_MAX_LENGTH = 255

Locked = Mapping[int, LockedAccount]


@dataclass(frozen=True)
class Leg:
    """One account's side of a posting. ``amount`` is signed: positive credits the
    account, negative debits it. Either a customer ``account_id`` or a ``system_code``."""

    amount: Decimal
    account_id: int | None = None
    system_code: str | None = None
    # The entry's note; a function when it names the accounts (known once they are locked).
    note: str | Callable[[Locked], str] = ""
    reversal_of: Transaction | None = None


@dataclass(frozen=True)
class PostingResult:
    posting: Posting
    entries: list[Transaction]  # in the order of the legs

    def entry(self, account_id: int) -> Transaction:
        return next(e for e in self.entries if e.account_id == account_id)


# --- the primitive -------------------------------------------------------------------

def posting_create(
    *,
    kind: str,
    legs: list[Leg],
    initiated_by: User,
    note: str = "",
    authorize: Callable[[Locked], None] | None = None,
    record_refusal: bool = True,
    reversal_of: Posting | None = None,
    idempotency_key: str = "",
) -> PostingResult:
    """Move money: one posting whose legs sum to zero, or, when a debited account's
    balance does not cover its leg, a refused posting.

    ``authorize(locked)`` runs once the customer accounts are locked (ownership checks);
    a customer account that does not exist is ``AccountNotFound``. A refusal for
    insufficient funds is recorded (a FAILED posting with one entry on the account that
    lacked the funds, moving nothing) when ``record_refusal``, and raised as
    ``InsufficientFunds`` after its transaction commits."""
    if sum(leg.amount for leg in legs) != 0 or len(legs) < 2:
        raise ValueError("a posting's legs must be at least two and sum to zero")
    for leg in legs:
        validate_amount(abs(leg.amount))
    customer_ids = sorted({leg.account_id for leg in legs if leg.account_id is not None})

    def work() -> tuple[PostingResult, ApplicationError | None]:
        locked = lock_accounts(customer_ids)
        if authorize is not None:
            authorize(locked)
        if len(locked) != len(customer_ids):
            raise AccountNotFound()
        heads = ledger_heads(customer_ids)
        now = _posting_time(heads.values())
        for account_id in customer_ids:
            change = sum(leg.amount for leg in legs if leg.account_id == account_id)
            balance = heads[account_id].balance
            if balance + change < 0:  # the one funds check
                error = InsufficientFunds(
                    f"Insufficient balance: available {format_money(balance)}, requested {format_money(-change)}."
                )
                if not record_refusal:
                    raise error
                return _refusal(kind, legs, account_id, -change, locked, heads, initiated_by, note, now,
                                idempotency_key), error
            if balance + change > MAX_BALANCE:
                raise BalanceLimitExceeded(
                    f"This {kind.lower()} would take the balance of account {account_id} over the maximum "
                    f"an account may hold."
                )
        posting = Posting(kind=kind, status=Status.SUCCESS, note=note, initiated_by=initiated_by, created_at=now,
                          idempotency_key=idempotency_key, reversal_of=reversal_of)
        running = {account_id: heads[account_id] for account_id in customer_ids}
        entries = []
        for leg in legs:
            entry = _entry(posting, leg, locked, initiated_by, now)
            if leg.account_id is not None:
                head = running[leg.account_id]
                entry.seq, entry.balance_after = head.seq + 1, head.balance + leg.amount
                running[leg.account_id] = LedgerHead(entry.seq, entry.balance_after, now)
            entries.append(entry)
        insert_posting(posting, entries)
        return PostingResult(posting, entries), None

    result, error = run_in_transaction(work)
    if error is not None:
        raise error
    return result


def _refusal(kind, legs, account_id, requested, locked, heads, initiated_by, note, now, idempotency_key):
    """The record of a refused attempt: one FAILED entry on the account that lacked the
    funds, for the amount asked, leaving its balance as it was."""
    posting = Posting(kind=kind, status=Status.FAILED, note=note, initiated_by=initiated_by, created_at=now,
                      idempotency_key=idempotency_key)
    leg = next(leg for leg in legs if leg.account_id == account_id and leg.amount < 0)
    entry = _entry(posting, Leg(amount=-requested, account_id=account_id, note=leg.note), locked, initiated_by, now)
    head = heads[account_id]
    entry.seq, entry.balance_after = head.seq + 1, head.balance
    insert_posting(posting, [entry])
    return PostingResult(posting, [entry])


def _entry(posting: Posting, leg: Leg, locked: Locked, initiated_by: User, now) -> Transaction:
    return Transaction(
        account_id=leg.account_id if leg.system_code is None else system_account_id(leg.system_code),
        transaction_type=posting.kind,
        status=posting.status,
        direction=Direction.CREDIT if leg.amount > 0 else Direction.DEBIT,
        amount=abs(leg.amount),
        note=leg.note(locked) if callable(leg.note) else leg.note,
        created_at=now,
        initiated_by=initiated_by,
        reversal_of=leg.reversal_of,
    )


def _posting_time(heads) -> timezone.datetime:
    """Now, taken after the locks were granted, and never earlier than the newest entry of
    any account involved, so that sequence order and time order agree on every account
    even if the clock steps back."""
    now = timezone.now()
    latest = max((h.created_at for h in heads if h.created_at is not None), default=None)
    return max(now, latest) if latest is not None else now


# --- the movements -------------------------------------------------------------------

def _owned_by(owner: User | None, account_id: int) -> Callable[[Locked], None]:
    """An account the owner holds (or any customer account, for staff: ``owner=None``);
    someone else's account is "not found", exactly like a missing one."""

    def check(locked: Locked) -> None:
        account = locked.get(account_id)
        if account is None or (owner is not None and account.user_id != owner.pk):
            raise AccountNotFound()

    return check


def deposit_create(
    *, account_id: int, amount: Decimal, note: str = "", initiated_by: User, owner: User | None,
    idempotency_key: str = "",
) -> Transaction:
    """Credit ``amount`` to the account, from external funds. Returns the account's entry."""
    amount, note = validate_amount(amount), _clean_note(note)
    result = posting_create(
        kind=Kind.DEPOSIT, note=note, initiated_by=initiated_by, authorize=_owned_by(owner, account_id),
        legs=[Leg(amount, account_id=account_id, note=note), Leg(-amount, system_code=EXTERNAL_FUNDS, note=note)],
        idempotency_key=idempotency_key,
    )
    return result.entry(account_id)


def withdrawal_create(
    *, account_id: int, amount: Decimal, note: str = "", initiated_by: User, owner: User | None,
    idempotency_key: str = "",
) -> Transaction:
    """Debit ``amount`` from the account, to external funds, if the balance covers it; a
    refused attempt is recorded (FAILED) and raised as ``InsufficientFunds``."""
    amount, note = validate_amount(amount), _clean_note(note)
    result = posting_create(
        kind=Kind.WITHDRAWAL, note=note, initiated_by=initiated_by, authorize=_owned_by(owner, account_id),
        legs=[Leg(-amount, account_id=account_id, note=note), Leg(amount, system_code=EXTERNAL_FUNDS, note=note)],
        idempotency_key=idempotency_key,
    )
    return result.entry(account_id)


@dataclass(frozen=True)
class TransferResult:
    debit: Transaction
    credit: Transaction

    @property
    def amount(self) -> Decimal:
        return self.debit.amount


def transfer_create(
    *, from_account_id: int, to_account_id: int, amount: Decimal, note: str = "", initiated_by: User,
    owner: User | None, idempotency_key: str = "",
) -> TransferResult:
    """Move ``amount`` from one customer account to another in one posting. The source
    must belong to ``owner``; the destination may be anyone's (never a system account).
    The entries' notes name the other party: "Transfer to bob: <note>"."""
    amount, note = validate_amount(amount), _clean_note(note)

    def authorize(locked: Locked) -> None:
        _owned_by(owner, from_account_id)(locked)
        # After the ownership check: someone else's account is "not found", whatever
        # else is wrong with the request.
        if from_account_id == to_account_id:
            raise SameAccountTransfer()
        if to_account_id not in locked:
            raise AccountNotFound("Destination account not found.")

    result = posting_create(
        kind=Kind.TRANSFER, note=note, initiated_by=initiated_by, authorize=authorize,
        legs=[
            Leg(-amount, account_id=from_account_id,
                note=lambda locked: _join_note(f"Transfer to {locked[to_account_id].username}", note)),
            Leg(amount, account_id=to_account_id,
                note=lambda locked: _join_note(f"Transfer from {locked[from_account_id].username}", note)),
        ],
        idempotency_key=idempotency_key,
    )
    return TransferResult(debit=result.entry(from_account_id), credit=result.entry(to_account_id))


def reversal_create(*, transaction_id: int, note: str = "", initiated_by: User) -> list[Transaction]:
    """Staff correction: post the opposite of the whole posting that entry
    ``transaction_id`` belongs to (a transfer is reversed whole: money goes back). History
    is never rewritten. A posting is reversed at most once (checked under the account
    locks, and by a unique constraint), and a reversal that would overdraw an account is
    refused. Returns the reversal's entries on customer accounts."""
    note = _clean_note(note)
    original = Transaction.objects.select_related("posting").filter(pk=transaction_id).first()
    if original is None:
        raise TransactionNotFound()
    if original.status != Status.SUCCESS:
        raise NotReversible("Only successful transactions can be reversed; this one moved no money.")
    if original.transaction_type == Kind.REVERSAL:
        raise NotReversible("A reversal cannot itself be reversed; post a new movement instead.")
    entries = list(original.posting.entries.select_related("account").order_by("pk"))
    legs = [
        Leg(
            -(e.amount if e.direction == Direction.CREDIT else -e.amount),
            account_id=None if e.account.system_code else e.account_id,
            system_code=e.account.system_code,
            note=_join_note(f"Reversal of transaction {e.pk}", note),
            reversal_of=e,
        )
        for e in entries
    ]

    def not_yet_reversed(locked: Locked) -> None:
        # Under the locks: two reversals of one posting cannot both pass.
        if Posting.objects.filter(reversal_of=original.posting).exists():
            raise AlreadyReversed()

    try:
        result = posting_create(
            kind=Kind.REVERSAL, legs=legs, note=note, initiated_by=initiated_by, authorize=not_yet_reversed,
            record_refusal=False, reversal_of=original.posting,
        )
    except InsufficientFunds as exc:
        raise InsufficientFunds(f"Reversal refused: it would overdraw an account. {exc.message}") from None
    return [e for e in result.entries if e.seq is not None]


# --- helpers -------------------------------------------------------------------------

def _clean_note(note: str | None) -> str:
    """The same rules for every caller (API, admin, reversals): at most NOTE_MAX_LENGTH
    characters, none of them control or invisible formatting characters."""
    note = (note or "").strip()
    if len(note) > NOTE_MAX_LENGTH:
        raise ValidationFailed(f"Note must be at most {NOTE_MAX_LENGTH} characters.")
    if has_invisible_characters(note):
        raise ValidationFailed("Note must not contain control or invisible formatting characters.")
    return note


def _join_note(prefix: str, note: str) -> str:
    return f"{prefix}: {note}" if note else prefix
