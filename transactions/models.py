from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from banking.money import MoneyField


class Transaction(models.Model):
    """One row of an account's ledger. Rows are append-only: they are created by the
    services in ``transactions.services`` and never updated or deleted.

    Each row carries the account's running balance after it (``balance_after``) and a
    per-account sequence number (``seq``), both assigned while the account row is
    locked. The balance is therefore the newest row's ``balance_after`` (one index
    probe, whatever the history length), and a full SUM over the rows remains the
    audit path that must agree with it.
    """

    class Type(models.TextChoices):
        DEPOSIT = "DEPOSIT"
        WITHDRAWAL = "WITHDRAWAL"
        TRANSFER = "TRANSFER"
        # A correction posted by staff: the opposite movement of an earlier row.
        REVERSAL = "REVERSAL"

    class Status(models.TextChoices):
        SUCCESS = "SUCCESS"
        # An attempt refused for insufficient funds: recorded for the audit trail,
        # moves no money (its balance_after equals the balance before it).
        FAILED = "FAILED"

    class Direction(models.TextChoices):
        CREDIT = "CREDIT"  # money in
        DEBIT = "DEBIT"  # money out

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, related_name="transactions"
    )
    seq = models.PositiveBigIntegerField(help_text="Position in the account's ledger, from 1.")
    transaction_type = models.CharField(max_length=16, choices=Type.choices)
    direction = models.CharField(max_length=6, choices=Direction.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.SUCCESS)
    amount = MoneyField()
    balance_after = MoneyField()
    note = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField()
    initiated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # Both legs of a transfer (or of a transfer's reversal) share this reference.
    transfer_ref = models.UUIDField(null=True, blank=True)
    # For a REVERSAL row: the row it reverses. One-to-one, so a row is reversed once.
    reversal_of = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )

    class Meta:
        ordering = ["-seq"]
        constraints = [
            models.UniqueConstraint(fields=["account", "seq"], name="ledger_account_seq_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_amount_positive"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="ledger_balance_never_negative"
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="ledger_seq_from_one"),
            models.CheckConstraint(
                condition=Q(status__in=["SUCCESS", "FAILED"]), name="ledger_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(direction__in=["CREDIT", "DEBIT"]), name="ledger_direction_valid"
            ),
            models.CheckConstraint(
                condition=Q(transaction_type__in=["DEPOSIT", "WITHDRAWAL", "TRANSFER", "REVERSAL"]),
                name="ledger_type_valid",
            ),
            # Deposits only credit, withdrawals only debit.
            models.CheckConstraint(
                condition=~Q(transaction_type="DEPOSIT", direction="DEBIT")
                & ~Q(transaction_type="WITHDRAWAL", direction="CREDIT"),
                name="ledger_type_direction_consistent",
            ),
            # A reversal always names what it reverses; nothing else does.
            models.CheckConstraint(
                condition=Q(transaction_type="REVERSAL", reversal_of__isnull=False)
                | (~Q(transaction_type="REVERSAL") & Q(reversal_of__isnull=True)),
                name="ledger_reversal_linked",
            ),
        ]
        indexes = [
            # Balance as of an instant: newest row at or before it, one probe.
            models.Index(fields=["account", "created_at", "seq"], name="ledger_account_time_idx"),
            models.Index(fields=["transfer_ref"], name="ledger_transfer_ref_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_type} {self.direction} {self.amount} on account {self.account_id} ({self.status})"


class IdempotencyKey(models.Model):
    """A client-chosen ``Idempotency-Key`` and the answer given to the first request that
    carried it, so that a retried request replays that answer instead of moving money
    twice. Scoped to the user; kept at least ``IDEMPOTENCY_KEY_TTL_HOURS``."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of the operation and its canonical request body.
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_unique")]

    def __str__(self) -> str:
        return f"{self.key} ({self.user_id})"
