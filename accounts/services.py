from __future__ import annotations

from django.db import transaction

from accounts.models import Account
from accounts.serializers import AccountCreatedOutputSerializer
from banking.errors import ValidationFailed
from banking.money import ZERO
from banking.serializers import represent
from events.models import EventType
from events.services import NewEvent, events_record
from transactions.models import SYSTEM_ACCOUNTS
from users.models import User


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


def system_accounts_ensure(*, using: str = "default") -> None:
    """Create the system accounts the ledger needs that are missing."""
    for code, (account_id, description) in SYSTEM_ACCOUNTS.items():
        Account.objects.using(using).get_or_create(
            pk=account_id, defaults={"system_code": code, "user": None, "bank_name": "System", "branch": description},
        )

