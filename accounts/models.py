from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


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

    class Meta:
        indexes = [models.Index(fields=["bank_name"])]
        constraints = [
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
