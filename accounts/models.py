from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class AccountStatus(models.TextChoices):
    ACTIVE = "ACTIVE"
    # Refuses debits (withdrawals, outgoing transfers, new holds and their captures);
    # still accepts credits, and staff reversals. Staff freeze and unfreeze.
    FROZEN = "FROZEN"
    # Final: refuses every movement and keeps its history. Needs a zero balance and no
    # active holds, on it or payable to it.
    CLOSED = "CLOSED"


class Account(models.Model):
    """A bank account. It has no balance column on purpose: the balance is derived from
    its ledger entries (see ``transactions.selectors.balance_get``), so it cannot drift.

    Most accounts belong to a customer. A *system* account (``system_code`` set, no
    user) stands for something outside the customers' money, such as the funds that
    deposits bring in from, and withdrawals send out to, the world outside the ledger
    (``transactions.models.SYSTEM_ACCOUNTS``). Every posting's entries sum to zero, so the customer balances
    and the system balances together always sum to zero."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="accounts", null=True, blank=True
    )
    bank_name = models.CharField(max_length=100)
    branch = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    system_code = models.CharField(max_length=32, null=True, blank=True, unique=True, editable=False)
    # Changed only by ``accounts.services`` (under the account's lock, with an
    # ``AccountStatusChange`` and an event); read by every movement under the same lock.
    status = models.CharField(max_length=8, choices=AccountStatus.choices, default=AccountStatus.ACTIVE,
                              editable=False)

    Status = AccountStatus

    class Meta:
        indexes = [models.Index(fields=["bank_name"])]
        permissions = [
            ("freeze_account", "Can freeze and unfreeze accounts"),
            ("close_account", "Can close accounts"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=AccountStatus.values), name="account_status_valid"),
            # Exactly one of: a customer's account, or a system account.
            models.CheckConstraint(
                condition=Q(user__isnull=False, system_code__isnull=True) | Q(user__isnull=True, system_code__isnull=False),
                name="account_customer_xor_system",
            ),
        ]

    @property
    def is_system(self) -> bool:
        return self.system_code is not None

    def __str__(self) -> str:
        owner = f"system: {self.system_code}" if self.is_system else str(self.user)
        return f"#{self.pk} {self.bank_name} / {self.branch} ({owner})"


class AccountStatusChange(models.Model):
    """One change of an account's status, by whom and why: the account's lifecycle as
    staff and auditors read it on the account's page. Append-only, written in the same
    transaction as the change (``accounts.services``)."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="status_changes")
    from_status = models.CharField(max_length=8, choices=AccountStatus.choices)
    to_status = models.CharField(max_length=8, choices=AccountStatus.choices)
    reason = models.CharField(max_length=255, blank=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(from_status=F("to_status")), name="status_change_changes"),
        ]

    def __str__(self) -> str:
        return f"account {self.account_id}: {self.from_status} -> {self.to_status}"
