from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from accounts.models import Account
from banking.errors import AccountNotFound
from banking.money import format_money
from transactions.selectors import account_entries
from users.models import User


def account_list_for_user(*, user: User) -> QuerySet[Account]:
    return Account.objects.filter(user=user).order_by("pk")


def account_get_for_user(*, user: User, account_id: int) -> Account:
    """The caller's own account; another user's account is reported exactly like a
    missing one, so account ids cannot be probed."""
    account = Account.objects.select_related("user").filter(pk=account_id, user=user).first()
    if account is None:
        raise AccountNotFound()
    return account


@dataclass(frozen=True)
class StaffAction:
    """Something staff did to an account: a status change, or a movement they posted."""

    at: datetime
    actor: User
    action: str
    reason: str
    posting_id: int | None = None


def account_staff_actions(*, account: Account, limit: int) -> list[StaffAction]:
    """The newest ``limit`` staff actions on the account, newest first: its status changes
    and the movements posted on it by staff (the reason is the posting's note)."""
    changes = [
        StaffAction(change.created_at, change.changed_by, f"{change.from_status} → {change.to_status}",
                    change.reason)
        for change in account.status_changes.select_related("changed_by").order_by("-id")[:limit]
    ]
    staff = User.objects.filter(is_staff=True).values("pk")
    entries = (
        account_entries(account_id=account.pk)
        .filter(initiated_by__in=staff)
        .exclude(initiated_by_id=account.user_id)
        .select_related("initiated_by")
        .order_by("-seq")[:limit]
    )
    movements = [
        StaffAction(entry.created_at, entry.initiated_by,
                    f"{entry.transaction_type} {entry.direction} {format_money(entry.amount)} ({entry.status})",
                    entry.note, entry.posting_id)
        for entry in entries
    ]
    return sorted(changes + movements, key=lambda action: action.at, reverse=True)[:limit]
