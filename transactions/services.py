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
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from banking.db import run_in_transaction
from accounts.models import AccountStatus
from banking.errors import (
    AccountClosed,
    AccountFrozen,
    AccountNotFound,
    AlreadyReversed,
    ApplicationError,
    BalanceLimitExceeded,
    HoldNotPending,
    InsufficientFunds,
    NotReversible,
    SameAccountTransfer,
    TransactionNotFound,
    ValidationFailed,
)
from banking.money import MAX_BALANCE, format_money, validate_amount
from banking.text import clean_text
from events.models import EventType
from transactions.events import hold_events_record
from transactions.ledger_sql import (
    LedgerHead, LockedAccount, accounts_lock, hold_insert, hold_lock, hold_state_write, insert_posting,
)
from transactions.limits import HOLD_DEFAULT_EXPIRY, HOLD_MAX_EXPIRY, HOLD_MIN_EXPIRY, NOTE_MAX_LENGTH
from transactions.selectors import hold_get_for_actor
from transactions.models import (
    EXTERNAL_FUNDS,
    Direction,
    Hold,
    HoldStatus,
    Kind,
    Posting,
    Status,
    Transaction,
    system_account_id,
)
from users.models import User


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
    capturing: Hold | None = None,
) -> PostingResult:
    """Move money: one posting whose legs sum to zero, or, when a debited account's
    available balance (posted balance less its active holds) does not cover its leg, a
    refused posting.

    ``authorize(locked)`` runs once the customer accounts are locked (ownership checks);
    a customer account that does not exist is ``AccountNotFound``. A refusal for
    insufficient funds is recorded (a FAILED posting with one entry on the account that
    lacked the funds, moving nothing) when ``record_refusal``, and raised as
    ``InsufficientFunds`` after its transaction commits.

    ``capturing``: the posting captures this hold. The hold is locked after the accounts
    (always in that order: no deadlock with another capture or a void), must still be
    PENDING at the posting's time, stops reserving as the posting takes its money, and is
    marked CAPTURED in the same transaction."""
    if sum(leg.amount for leg in legs) != 0 or len(legs) < 2:
        raise ValueError("a posting's legs must be at least two and sum to zero")
    for leg in legs:
        validate_amount(abs(leg.amount))
    customer_ids = sorted({leg.account_id for leg in legs if leg.account_id is not None})
    debits_a_customer = any(leg.amount < 0 for leg in legs if leg.account_id is not None)
    names_accounts = any(callable(leg.note) for leg in legs)  # notes that name the accounts' owners

    def work() -> tuple[PostingResult, ApplicationError | None]:
        # Holds matter only to debits: a deposit reads no holds. The hold being captured
        # is left out of what the account's holds reserve: its capture takes the money.
        locked, heads = accounts_lock(customer_ids, holds_active_at=timezone.now() if debits_a_customer else None,
                                      except_hold=capturing.pk if capturing is not None else None,
                                      with_usernames=names_accounts)
        if authorize is not None:
            authorize(locked)
        if len(locked) != len(customer_ids):
            raise AccountNotFound()
        for leg in legs:
            if leg.account_id is not None:
                _require_status_allows(locked[leg.account_id], debit=leg.amount < 0,
                                       correction=kind == Kind.REVERSAL)
        # After the accounts, always in that order (no deadlock with another capture or
        # a void). What the account's other holds reserve was read under its lock, and
        # only a movement under that lock can add to it.
        now = _posting_time(heads.values())
        hold = capturing
        if hold is not None:
            hold_lock(hold)
            _require_pending(hold, now)
        for account_id in customer_ids:
            change = sum(leg.amount for leg in legs if leg.account_id == account_id)
            error = _funds_check(heads[account_id], change, "Insufficient balance")
            if error is not None:
                if not record_refusal:
                    raise error
                return _refusal(kind=kind, account_id=account_id, requested=-change,
                                leg_note=_debit_note(legs, account_id), locked=locked, head=heads[account_id],
                                initiated_by=initiated_by, note=note, now=now,
                                idempotency_key=idempotency_key), error
            if heads[account_id].balance + change > MAX_BALANCE:
                raise BalanceLimitExceeded(
                    f"This {kind.lower()} would take the balance of account {account_id} over the maximum "
                    f"an account may hold."
                )
        posting = Posting(kind=kind, status=Status.SUCCESS, note=note, initiated_by=initiated_by, created_at=now,
                          idempotency_key=idempotency_key, reversal_of=reversal_of, hold=hold)
        running = {account_id: heads[account_id] for account_id in customer_ids}
        entries = []
        for leg in legs:
            entry = _entry(posting, leg, locked, initiated_by, now)
            if leg.account_id is not None:
                head = running[leg.account_id]
                entry.seq, entry.balance_after = head.seq + 1, head.balance + leg.amount
                running[leg.account_id] = LedgerHead(entry.seq, entry.balance_after, now, head.held)
            entries.append(entry)
        insert_posting(posting, entries, owners=_owners(locked))
        if hold is not None:
            captured = -sum(leg.amount for leg in legs if leg.account_id == hold.account_id)
            _hold_resolve(hold, HoldStatus.CAPTURED, now, initiated_by, captured_amount=captured)
            hold_events_record(hold, EventType.HOLD_CAPTURED, owners=_owners(locked),
                               available=heads[hold.account_id].available - captured, at=now)
        return PostingResult(posting, entries), None

    result, error = run_in_transaction(work)
    if error is not None:
        raise error
    return result


def _require_status_allows(account: LockedAccount, *, debit: bool, correction: bool = False) -> None:
    """The account's status, read under its lock, allows this leg: a closed account takes
    nothing; a frozen one takes credits, and staff corrections (reversals) either way."""
    if account.status == AccountStatus.CLOSED:
        raise AccountClosed(account.id)
    if account.status == AccountStatus.FROZEN and debit and not correction:
        raise AccountFrozen(account.id)


def _funds_check(head: LedgerHead, change: Decimal, message: str) -> InsufficientFunds | None:
    """The one funds check: a debit must be covered by the available balance (the posted
    balance less what active holds reserve), so that the posted balance always covers
    the active holds."""
    if head.available + change >= 0:
        return None
    return InsufficientFunds(f"{message}: available {format_money(head.available)}, requested {format_money(-change)}.")


def _debit_note(legs: list[Leg], account_id: int) -> str | Callable[[Locked], str]:
    return next(leg.note for leg in legs if leg.account_id == account_id and leg.amount < 0)


def _refusal(
    *, kind: str, account_id: int, requested: Decimal, leg_note: str | Callable[[Locked], str], locked: Locked,
    head: LedgerHead, initiated_by: User, note: str, now: datetime, idempotency_key: str,
) -> PostingResult:
    """The record of a refused attempt: one FAILED entry on the account that lacked the
    funds, for the amount asked, leaving its balance as it was."""
    posting = Posting(kind=kind, status=Status.FAILED, note=note, initiated_by=initiated_by, created_at=now,
                      idempotency_key=idempotency_key)
    entry = _entry(posting, Leg(amount=-requested, account_id=account_id, note=leg_note), locked, initiated_by, now)
    entry.seq, entry.balance_after = head.seq + 1, head.balance
    insert_posting(posting, [entry], owners=_owners(locked))
    return PostingResult(posting, [entry])


def _owners(locked: Locked) -> dict[int, int]:
    """Each locked account's owner: the user its entries' events belong to."""
    return {account_id: account.user_id for account_id, account in locked.items()}


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


# --- holds: authorize now, capture or void later ------------------------------------



@dataclass(frozen=True)
class HoldResult:
    hold: Hold
    available_balance: Decimal  # of the held account, just after the change


def hold_create(
    *, account_id: int, amount: Decimal, note: str = "", to_account_id: int | None = None,
    expires_in: timedelta = HOLD_DEFAULT_EXPIRY, initiated_by: User, owner: User | None, idempotency_key: str = "",
) -> HoldResult:
    """Reserve ``amount`` of the account's available balance until ``expires_in`` from
    now, for a later capture (a withdrawal, or a transfer to ``to_account_id``) or void.
    Under the account's lock, like a withdrawal; a refusal is recorded like a refused
    withdrawal (a FAILED posting of kind HOLD) and raised as ``InsufficientFunds``."""
    amount, note = validate_amount(amount), _clean_note(note)
    if not HOLD_MIN_EXPIRY <= expires_in <= HOLD_MAX_EXPIRY:
        raise ValidationFailed(
            f"expires_in must be from {int(HOLD_MIN_EXPIRY.total_seconds())} to "
            f"{int(HOLD_MAX_EXPIRY.total_seconds())} seconds."
        )

    if to_account_id == account_id:
        raise ValidationFailed("A hold's payee must be another account.")

    def work() -> tuple[HoldResult | PostingResult, ApplicationError | None]:
        # The payee's row is locked too, in the same ascending order as every movement:
        # the hold's key on it would otherwise take a share lock at commit, out of order
        # (a deadlock with a transfer from the payee).
        locked, heads = accounts_lock([account_id] if to_account_id is None else [account_id, to_account_id],
                                      holds_active_at=timezone.now())
        _owned_by(owner, account_id)(locked)
        if to_account_id is not None and to_account_id not in locked:
            raise AccountNotFound("Destination account not found.")
        _require_status_allows(locked[account_id], debit=True)
        if to_account_id is not None:
            _require_status_allows(locked[to_account_id], debit=False)
        head = heads[account_id]
        now = _posting_time([head])
        error = _funds_check(head, -amount, "Insufficient available balance")
        if error is not None:
            return _refusal(kind=Kind.HOLD, account_id=account_id, requested=amount, leg_note=note, locked=locked,
                            head=head, initiated_by=initiated_by, note=note, now=now,
                            idempotency_key=idempotency_key), error
        hold = Hold(
            account_id=account_id, to_account_id=to_account_id, amount=amount, note=note, created_at=now,
            expires_at=now + expires_in, initiated_by=initiated_by, idempotency_key=idempotency_key,
        )
        hold_insert(hold)
        hold_events_record(hold, EventType.HOLD_CREATED, owners=_owners(locked), available=head.available - amount,
                           at=now)
        return HoldResult(hold, head.available - amount), None

    result, error = run_in_transaction(work)
    if error is not None:
        raise error
    return result


@dataclass(frozen=True)
class HoldCaptureResult:
    hold: Hold
    posting: PostingResult


def hold_capture(
    *, hold_id: int, amount: Decimal | None = None, note: str = "", actor: User, idempotency_key: str = "",
) -> HoldCaptureResult:
    """Move the held money, all of it or less (the rest is released at once): a
    withdrawal from the held account, or a transfer to the hold's payee. One capture per
    hold; an expired, captured or voided hold is ``HoldNotPending``."""
    hold = hold_get_for_actor(hold_id=hold_id, actor=actor, acting=True)
    amount = hold.amount if amount is None else validate_amount(amount)
    if amount > hold.amount:
        raise ValidationFailed(
            f"Cannot capture {format_money(amount)}: the hold is for {format_money(hold.amount)}."
        )
    note = _clean_note(note)
    entry_note = _join_note(f"Capture of hold {hold.pk}", note or hold.note)
    if hold.to_account_id is None:
        kind = Kind.WITHDRAWAL
        legs = [Leg(-amount, account_id=hold.account_id, note=entry_note),
                Leg(amount, system_code=EXTERNAL_FUNDS, note=entry_note)]
    else:
        kind, payer, payee = Kind.TRANSFER, hold.account_id, hold.to_account_id
        legs = [
            Leg(-amount, account_id=payer,
                note=lambda locked: _join_note(f"Transfer to {locked[payee].username}", entry_note)),
            Leg(amount, account_id=payee,
                note=lambda locked: _join_note(f"Transfer from {locked[payer].username}", entry_note)),
        ]
    result = posting_create(
        kind=kind, legs=legs, initiated_by=actor, note=note or hold.note, record_refusal=False,
        capturing=hold, idempotency_key=idempotency_key,
    )
    return HoldCaptureResult(result.posting.hold, result)  # the hold as locked and marked CAPTURED


def hold_void(*, hold_id: int, actor: User) -> Hold:
    """Release a pending hold: it stops reserving at once. An expired, captured or
    voided hold is ``HoldNotPending``. Locks the held account (and the payee's) before
    the hold, like every change announced to their owners: their events keep the order
    of those locks."""
    hold = hold_get_for_actor(hold_id=hold_id, actor=actor, acting=True)
    return run_in_transaction(lambda: _hold_release(hold, HoldStatus.VOIDED, actor))


def holds_expire_due(*, limit: int = 500) -> int:
    """The sweep (the webhook worker runs it every HOLD_SWEEP_SECONDS): up to ``limit``
    pending holds past their expiry are marked EXPIRED, each with its ``hold.expired``
    events, one transaction each. A hold reserves nothing from its expiry on, swept or
    not; the sweep writes it down and announces it. Returns how many it expired."""
    due = list(
        Hold.objects.filter(status=HoldStatus.PENDING, expires_at__lte=timezone.now())
        .order_by("expires_at")[:limit]
    )
    return sum(run_in_transaction(lambda hold=hold: _hold_release(hold, HoldStatus.EXPIRED, None)) is not None
               for hold in due)


_RELEASE_EVENTS = {HoldStatus.VOIDED: EventType.HOLD_VOIDED, HoldStatus.EXPIRED: EventType.HOLD_EXPIRED}


def _hold_release(hold: Hold, status: str, actor: User | None) -> Hold | None:
    """Void (``actor`` asked) or expire (the sweep) a hold, under the locks of its
    accounts then its own. An expiry of a hold that is no longer pending and past its
    time (captured or voided meanwhile) does nothing and returns None."""
    accounts = [hold.account_id] + ([hold.to_account_id] if hold.to_account_id is not None else [])
    locked, heads = accounts_lock(accounts, holds_active_at=timezone.now(), except_hold=hold.pk)
    hold_lock(hold)
    now = timezone.now()
    if status == HoldStatus.EXPIRED:
        if hold.status != HoldStatus.PENDING or hold.expires_at > now:
            return None
    else:
        _require_pending(hold, now)
    _hold_resolve(hold, status, now, actor)
    hold_events_record(hold, _RELEASE_EVENTS[status], owners=_owners(locked),
                       available=heads[hold.account_id].available, at=now)
    return hold


def _require_pending(hold: Hold, now) -> None:
    status = hold.status_at(now)
    if status != HoldStatus.PENDING:
        raise HoldNotPending(status)


def _hold_resolve(hold: Hold, status: str, now, actor: User | None, *,
                  captured_amount: Decimal | None = None) -> None:
    hold.status, hold.resolved_at, hold.resolved_by, hold.captured_amount = status, now, actor, captured_amount
    hold_state_write(hold)


# --- helpers -------------------------------------------------------------------------

def _clean_note(note: str | None) -> str:
    """The same rules for every caller (API, admin, reversals): at most NOTE_MAX_LENGTH
    characters, none of them control or invisible formatting characters."""
    return clean_text(note, name="Note", max_length=NOTE_MAX_LENGTH)


def _join_note(prefix: str, note: str) -> str:
    return f"{prefix}: {note}" if note else prefix
