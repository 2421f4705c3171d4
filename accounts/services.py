from __future__ import annotations

from accounts.models import Account
from banking.errors import ValidationFailed
from users.models import User


def account_create(*, user: User, bank_name: str, branch: str) -> Account:
    bank_name, branch = bank_name.strip(), branch.strip()
    if not bank_name:
        raise ValidationFailed("Bank name may not be blank.")
    if not branch:
        raise ValidationFailed("Branch may not be blank.")
    return Account.objects.create(user=user, bank_name=bank_name, branch=branch)
