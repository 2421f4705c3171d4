"""Reads of the ledger. Every one is a bounded number of index probes, whatever the
length of an account's history."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Case, DecimalField, F, Q, QuerySet, Sum, When
from django.utils import timezone

from banking.errors import AccountNotFound, HoldNotFound, NotPermitted, ValidationFailed
from banking.money import CENT, ZERO
from banking.roles import POST_MOVEMENTS
from transactions.ledger_sql import hold_with_accounts, ledger_heads, owned_balance
from transactions.models import Direction, Hold, Posting, Transaction
from users.models import User


def account_entries(*, account_id: int) -> QuerySet[Transaction]:
    """A customer account's ledger. ``seq IS NOT NULL`` says so to the planner too: the
    (account, seq) and (account, time) indexes hold customer entries only."""
    return Transaction.objects.filter(account_id=account_id, seq__isnull=False)


def balance_get(*, account_id: int) -> Decimal:
    """The current balance: the running balance stored on the newest ledger row."""
    return ledger_heads([account_id])[account_id].balance


@dataclass(frozen=True)
class Balances:
    """An account's posted balance (its ledger's) and available balance (less what its
    active holds reserve)."""

    balance: Decimal
    available_balance: Decimal


def balances_get(*, account_ids: list[int]) -> dict[int, Balances]:
    """Posted and available balances of customer accounts, in one statement."""
    if not account_ids:
        return {}
    heads = ledger_heads(account_ids, holds_active_at=timezone.now())
    return {account_id: Balances(head.balance, head.available) for account_id, head in heads.items()}


def owned_balance_get(*, user: User, account_id: int) -> Balances:
    """The balances of the caller's own account (one statement); another user's account
    is "not found", like a missing one."""
    found = owned_balance(account_id=account_id, user_id=user.pk, at=timezone.now())
    if found is None:
        raise AccountNotFound()
    balance, held = found
    return Balances(balance, balance - held)


def balance_at(*, account_id: int, at: datetime, inclusive: bool = True) -> Decimal:
    """The balance as of instant ``at``: the running balance of the newest entry created
    at or before it (before it, with ``inclusive=False``).

    Entries of one account are created in ``seq`` order with non-decreasing timestamps
    (both assigned under the account lock), so this agrees with the history."""
    lookup = "created_at__lte" if inclusive else "created_at__lt"
    value = (
        account_entries(account_id=account_id).filter(**{lookup: at})
        .order_by("-created_at", "-seq")
        .values_list("balance_after", flat=True)
        .first()
    )
    return value if value is not None else ZERO


def balance_recompute(*, account_id: int) -> Decimal:
    """The audit path: the balance by full aggregation of the account's successful rows.
    Linear in history length; used for system accounts (which keep no running balance) in
    the admin, and by the tests; never per request. (``verify_ledger`` sums in its own SQL,
    over every account at once.)"""
    signed = Case(
        When(direction=Transaction.Direction.CREDIT, then=F("amount")),
        default=-F("amount"),
        output_field=DecimalField(max_digits=20, decimal_places=2),
    )
    total = Transaction.objects.filter(
        account_id=account_id, status=Transaction.Status.SUCCESS
    ).aggregate(total=Sum(signed))["total"]
    return ZERO if total is None else total.quantize(CENT)


@dataclass(frozen=True)
class HistoryFilter:
    transaction_type: str | None = None
    status: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None

    def apply(self, rows: QuerySet[Transaction]) -> QuerySet[Transaction]:
        lookups = {
            "transaction_type": self.transaction_type, "status": self.status,
            "created_at__gte": self.created_from, "created_at__lte": self.created_to,
            "amount__gte": self.min_amount, "amount__lte": self.max_amount,
        }
        return rows.filter(**{k: v for k, v in lookups.items() if v is not None})


def history_page(
    *, account_id: int, limit: int, before_seq: int | None = None, filters: HistoryFilter | None = None
) -> list[Transaction]:
    """Newest first, keyset-paged on ``seq`` (the (account, seq) index; fast at any
    depth, unlike OFFSET), optionally filtered."""
    rows = account_entries(account_id=account_id)
    if before_seq is not None:
        rows = rows.filter(seq__lt=before_seq)
    if filters is not None:
        rows = filters.apply(rows)
    # hold_id: the posting's (one primary-key probe per row of the page).
    return list(rows.annotate(hold_id=F("posting__hold_id")).order_by("-seq")[:limit])


@dataclass(frozen=True)
class Statement:
    account_id: int
    period_from: datetime
    period_to: datetime
    opening_balance: Decimal
    closing_balance: Decimal
    total_credits: Decimal
    total_debits: Decimal
    rows: list[Transaction]


STATEMENT_MAX_ROWS = 10_000


def statement_get(*, account_id: int, period_from: datetime, period_to: datetime) -> Statement:
    """Opening balance (just before the period), every movement in it in ledger order
    with its running balance, closing balance. Refused attempts (FAILED) moved no money
    and are left out. Raises ValidationFailed past STATEMENT_MAX_ROWS rows."""
    opening = balance_at(account_id=account_id, at=period_from, inclusive=False)
    rows = list(
        account_entries(account_id=account_id).filter(
            created_at__gte=period_from, created_at__lte=period_to,
            status=Transaction.Status.SUCCESS,
        ).order_by("seq")[: STATEMENT_MAX_ROWS + 1]
    )
    if len(rows) > STATEMENT_MAX_ROWS:
        raise ValidationFailed(
            f"The period holds more than {STATEMENT_MAX_ROWS} transactions; ask for a shorter one."
        )
    closing = rows[-1].balance_after if rows else opening
    credits = sum((row.amount for row in rows if row.direction == Direction.CREDIT), ZERO)
    debits = sum((row.amount for row in rows if row.direction == Direction.DEBIT), ZERO)
    return Statement(account_id, period_from, period_to, opening, closing, credits, debits, rows)


# --- holds ---------------------------------------------------------------------------

_ACCOUNT = Hold._meta.get_field("account").related_model  # (accounts imports transactions, not back)

def hold_get_for_actor(*, hold_id: int, actor: User, acting: bool = False) -> Hold:
    """The hold, if ``actor`` may see it (``acting``: capture or void it): the owner of
    the held account, the owner of its payee account, or staff (to act on another's
    hold, staff allowed to post movements: not an auditor). Anyone else gets
    ``HoldNotFound``, exactly like for a hold that does not exist."""
    # One statement, the rule of ``Hold.objects.visible_to`` then applied to the one hold
    # (with the actor's account ids read first, and the ORM's query, it cost 1.37 ms of
    # CPU in process).
    hold = hold_with_accounts(hold_id)
    if hold is None:
        raise HoldNotFound()
    party = actor.pk in (hold.account.user_id, hold.to_account.user_id if hold.to_account else None)
    if not party and not actor.is_staff:
        raise HoldNotFound()
    if acting and not party and not actor.has_perm(POST_MOVEMENTS):
        raise NotPermitted("Only staff allowed to post movements may capture or void another's hold.")
    return hold


def balance_visible_to(account, viewer: User) -> bool:
    """A balance is its owner's (and staff's) to see: not the other party's of a hold."""
    return viewer.is_staff or account.user_id == viewer.pk


def holds_present(holds: list[Hold], *, viewer: User, available: Decimal | None = None) -> list[Hold]:
    """Set what the API shows of each hold beside its columns: its status now (EXPIRED
    past its expiry), and the held account's available balance, for its owner and staff
    only (``available`` when the caller already knows it; else one statement for all)."""
    now = timezone.now()
    shown = {h.account_id for h in holds if balance_visible_to(h.account, viewer)}
    balances = {} if available is not None else balances_get(account_ids=sorted(shown))
    for hold in holds:
        hold.current_status = hold.status_at(now)
        if hold.account_id not in shown:
            hold.available_balance = None
        else:
            hold.available_balance = available if available is not None else balances[hold.account_id].available_balance
    return holds


def holds_page(
    *, viewer: User, limit: int, account_id: int | None = None, status: str | None = None,
    before_id: int | None = None,
) -> list[Hold]:
    """Holds the viewer may see (on their accounts, or payable to them; staff: all),
    newest first, keyset-paged on id; ``account_id`` narrows to holds on or payable to
    that account, ``status`` to holds that read so now."""
    if account_id is not None:
        accounts = _ACCOUNT.objects.filter(pk=account_id, system_code__isnull=True)
        if not accounts.filter(**({} if viewer.is_staff else {"user": viewer})).exists():
            raise AccountNotFound()
    holds = Hold.objects.visible_to(viewer).select_related("account", "to_account")
    if account_id is not None:
        holds = holds.filter(Q(account_id=account_id) | Q(to_account_id=account_id))
    if status is not None:
        holds = holds.with_status(status, timezone.now())
    if before_id is not None:
        holds = holds.filter(id__lt=before_id)
    return list(holds.order_by("-id")[:limit])


@dataclass(frozen=True)
class LedgerPage:
    """A page of one account's ledger, newest first, and whether there are entries on
    either side of it (the same filters applied)."""

    rows: list[Transaction]
    has_older: bool
    has_newer: bool


def account_ledger_page(
    *, account_id: int, limit: int, before_seq: int | None = None, after_seq: int | None = None,
    kind: str = "", direction: str = "", status: str = "",
) -> LedgerPage:
    """One page of an account's ledger, newest first: the ``limit`` entries just below
    ``before_seq`` (the newest ones without it), or just above ``after_seq``. Keyset
    paging on (account, seq): the same few index probes on page 1 and page 10,000."""
    entries = account_entries(account_id=account_id).select_related("initiated_by")
    filters = {"transaction_type": kind, "direction": direction, "status": status}
    entries = entries.filter(**{field: value for field, value in filters.items() if value})
    if after_seq is not None:
        rows = list(entries.filter(seq__gt=after_seq).order_by("seq")[: limit + 1])
        has_newer = len(rows) > limit
        rows = rows[:limit][::-1]
        return LedgerPage(rows, entries.filter(seq__lte=after_seq).exists(), has_newer)
    if before_seq is not None:
        entries_below = entries.filter(seq__lt=before_seq)
    else:
        entries_below = entries
    rows = list(entries_below.order_by("-seq")[: limit + 1])
    has_newer = before_seq is not None and entries.filter(seq__gte=before_seq).exists()
    return LedgerPage(rows[:limit], len(rows) > limit, has_newer)


def postings_reversed(posting_ids: list[int]) -> set[int]:
    """Which of these postings have been reversed (one probe of the reversal index)."""
    return set(
        Posting.objects.filter(reversal_of_id__in=posting_ids).values_list("reversal_of_id", flat=True)
    )
