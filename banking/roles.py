"""Staff roles, as Django groups: what each may see and do in the console and the API.

- **auditor**: sees everything (every model's ``view_`` permission), changes nothing.
- **teller**: sees everything, and posts deposits, withdrawals and reversals
  (``transactions.add_transaction``: the admin's Deposit / withdraw and Reverse, and
  ``POST /transactions/{id}/reverse``).
- Freezing, unfreezing and closing accounts (``accounts.freeze_account``,
  ``accounts.close_account``) belong to superusers, or to a group an operator makes.

A migration creates the groups; ``roles_sync`` runs again after every ``migrate`` so that
an auditor also sees the models added later."""
from __future__ import annotations

from django.apps import apps as installed_apps

AUDITOR = "auditor"
TELLER = "teller"
POST_MOVEMENTS = "transactions.add_transaction"
FREEZE_ACCOUNTS = "accounts.freeze_account"
CLOSE_ACCOUNTS = "accounts.close_account"
_TELLER_EXTRA = [POST_MOVEMENTS]


def roles_sync(apps=installed_apps, using: str = "default") -> None:
    """Create or update the auditor and teller groups (``apps``: a migration's historical
    apps, or the installed ones)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    views = list(Permission.objects.using(using).filter(codename__startswith="view_"))
    extra = [
        Permission.objects.using(using).get(content_type__app_label=label, codename=codename)
        for label, codename in (name.split(".") for name in _TELLER_EXTRA)
    ]
    auditor, _ = Group.objects.using(using).get_or_create(name=AUDITOR)
    auditor.permissions.set(views)
    teller, _ = Group.objects.using(using).get_or_create(name=TELLER)
    teller.permissions.set(views + extra)
