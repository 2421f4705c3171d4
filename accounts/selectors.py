from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Account
from banking.errors import AccountNotFound
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
