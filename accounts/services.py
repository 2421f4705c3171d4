from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, AccountStatus, AccountStatusChange
from accounts.serializers import AccountCreatedOutputSerializer, AccountOutputSerializer
from banking.db import run_in_transaction
from banking.errors import AccountNotFound, StatusChangeRefused, ValidationFailed
from banking.money import ZERO, format_money
from banking.text import clean_text
from banking.serializers import represent
from events.models import EventType
from events.services import NewEvent, events_record
from transactions.ledger_sql import accounts_lock
from transactions.models import SYSTEM_ACCOUNTS, Hold
from users.models import User

REASON_MAX_LENGTH = 255
_STATUS_EVENTS = {
    AccountStatus.FROZEN: EventType.ACCOUNT_FROZEN,
    AccountStatus.ACTIVE: EventType.ACCOUNT_UNFROZEN,
    AccountStatus.CLOSED: EventType.ACCOUNT_CLOSED,
}


def account_create(*, user: User, bank_name: str, branch: str) -> Account:
    """Open an account, announced by an ``account.created`` event (the account as
    ``POST /accounts`` answers it) in the same transaction."""
    bank_name, branch = bank_name.strip(), branch.strip()
    if not bank_name:
        raise ValidationFailed("Bank name may not be blank.")
    if not branch:
        raise ValidationFailed("Branch may not be blank.")
    with transaction.atomic():
        account = Account.objects.create(user=user, bank_name=bank_name, branch=branch)
        account.balance = ZERO  # a new account's ledger is empty
        events_record([NewEvent(user_id=user.pk, account_id=account.pk, type=EventType.ACCOUNT_CREATED,
                                created_at=account.created_at,
                                data=represent(AccountCreatedOutputSerializer, account))])
    return account


def account_freeze(*, account_id: int, actor: User, reason: str) -> Account:
    """Staff: the account refuses debits from now on (credits still land). Any debit that
    has its lock first committed before the freeze; any later one is refused."""
    return _status_change(account_id=account_id, to=AccountStatus.FROZEN, allowed_from={AccountStatus.ACTIVE},
                          actor=actor, reason=_required_reason(reason))


def account_unfreeze(*, account_id: int, actor: User, reason: str) -> Account:
    """Staff: a frozen account is active again."""
    return _status_change(account_id=account_id, to=AccountStatus.ACTIVE, allowed_from={AccountStatus.FROZEN},
                          actor=actor, reason=_required_reason(reason))


def account_close(*, account_id: int, actor: User, owner: User | None, reason: str = "") -> Account:
    """Close for good: the owner closes an active account (``owner``), staff any account
    not yet closed (``owner=None``; a reason is required). The balance must be zero and
    no active hold may be on it or payable to it, checked under the account's lock: no
    movement or hold can slip in between the check and the close."""
    if owner is None:
        reason = _required_reason(reason)
    allowed = {AccountStatus.ACTIVE} if owner is not None else {AccountStatus.ACTIVE, AccountStatus.FROZEN}
    return _status_change(account_id=account_id, to=AccountStatus.CLOSED, allowed_from=allowed, actor=actor,
                          reason=_clean_reason(reason), owner=owner, check=_closable)


def _closable(account_id: int, balance, held, now) -> None:
    if balance != 0:
        raise StatusChangeRefused(
            f"Account {account_id} has a balance of {format_money(balance)}: only an account with a zero balance "
            f"can be closed. Withdraw or transfer the money first."
        )
    if held != 0 or Hold.objects.active(now).filter(to_account_id=account_id).exists():
        raise StatusChangeRefused(
            f"Account {account_id} has active holds on it or payable to it: capture or void them, or let them "
            f"expire, before closing it."
        )


def _status_change(*, account_id: int, to: str, allowed_from: set[str], actor: User, reason: str,
                   owner: User | None = None, check=None) -> Account:
    """Change the status under the account's lock (the lock every movement takes before
    it reads the status), with its ``AccountStatusChange`` and its event, in one
    transaction."""

    def work() -> Account:
        locked, heads = accounts_lock([account_id], holds_active_at=timezone.now())
        # Taken once the lock is granted: every movement that committed before the change
        # is stamped earlier, every later one is refused.
        now = timezone.now()
        account = locked.get(account_id)
        if account is None or (owner is not None and account.user_id != owner.pk):
            raise AccountNotFound()
        if account.status not in allowed_from:
            raise StatusChangeRefused(_refusal_message(account_id, account.status, to, owner is not None))
        if check is not None:
            check(account_id, heads[account_id].balance, heads[account_id].held, now)
        Account.objects.filter(pk=account_id).update(status=to)
        AccountStatusChange.objects.create(account_id=account_id, from_status=account.status, to_status=to,
                                           reason=reason, changed_by=actor, created_at=now)
        changed = Account.objects.select_related("user").get(pk=account_id)
        changed.balance = heads[account_id].balance
        events_record([NewEvent(user_id=changed.user_id, account_id=account_id, type=_STATUS_EVENTS[to],
                                created_at=now, data=represent(AccountOutputSerializer, changed))])
        return changed

    return run_in_transaction(work)


def _refusal_message(account_id: int, status: str, to: str, by_owner: bool) -> str:
    if status == to:
        return f"Account {account_id} is already {status}."
    if status == AccountStatus.CLOSED:
        return f"Account {account_id} is closed: a closed account stays closed."
    if to == AccountStatus.CLOSED and by_owner:
        return f"Account {account_id} is frozen: only staff can close it."
    return f"Account {account_id} is {status}: it cannot become {to}."


def _clean_reason(reason: str | None) -> str:
    return clean_text(reason, name="Reason", max_length=REASON_MAX_LENGTH)


def _required_reason(reason: str | None) -> str:
    reason = _clean_reason(reason)
    if not reason:
        raise ValidationFailed("A reason is required: it is kept with the change.")
    return reason


def system_accounts_ensure(*, using: str = "default") -> None:
    """Create the system accounts the ledger needs that are missing."""
    for code, (account_id, description) in SYSTEM_ACCOUNTS.items():
        Account.objects.using(using).get_or_create(
            pk=account_id, defaults={"system_code": code, "user": None, "bank_name": "System", "branch": description},
        )

