from __future__ import annotations

from django.conf import settings
from django.db import models


class Account(models.Model):
    """A bank account. It has no balance column on purpose: the balance is derived from
    its ledger rows (see ``transactions.selectors.balance_get``), so it cannot drift."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="accounts"
    )
    bank_name = models.CharField(max_length=100)
    branch = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["bank_name"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.bank_name} / {self.branch} ({self.user})"
