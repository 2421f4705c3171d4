from __future__ import annotations

from accounts.models import Account
from transactions.models import SYSTEM_ACCOUNTS
from banking.errors import ValidationFailed
from users.models import User


def account_create(*, user: User, bank_name: str, branch: str) -> Account:
    bank_name, branch = bank_name.strip(), branch.strip()
    if not bank_name:
        raise ValidationFailed("Bank name may not be blank.")
    if not branch:
        raise ValidationFailed("Branch may not be blank.")
    return Account.objects.create(user=user, bank_name=bank_name, branch=branch)


def system_accounts_ensure(*, using: str = "default") -> None:
    """Create the system accounts the ledger needs that are missing."""
    for code, (account_id, description) in SYSTEM_ACCOUNTS.items():
        Account.objects.using(using).get_or_create(
            pk=account_id, defaults={"system_code": code, "user": None, "bank_name": "System", "branch": description},
        )

