from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from banking.money import MoneyField


# The system accounts the ledger posts to (accounts.models.Account with this
# ``system_code``; created by migrations and after every flush): money from and to the
# world outside the ledger passes through them. Their ids are fixed, at or below zero:
# customers' account ids start at 1 and stay what they always were.
EXTERNAL_FUNDS = "external"
SYSTEM_ACCOUNTS: dict[str, tuple[int, str]] = {EXTERNAL_FUNDS: (0, "External funds (money outside the ledger)")}


def system_account_id(code: str) -> int:
    return SYSTEM_ACCOUNTS[code][0]


class Kind(models.TextChoices):
    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"
    TRANSFER = "TRANSFER"
    # A correction posted by staff: the opposite movement of an earlier posting.
    REVERSAL = "REVERSAL"
    # A refused hold (insufficient available balance), recorded like a refused withdrawal.
    # A hold that is granted moves no money; its capture is a WITHDRAWAL or a TRANSFER.
    HOLD = "HOLD"


class Status(models.TextChoices):
    SUCCESS = "SUCCESS"
    # A refused attempt (insufficient balance): recorded, moves no money.
    FAILED = "FAILED"


class Direction(models.TextChoices):
    CREDIT = "CREDIT"  # money in
    DEBIT = "DEBIT"  # money out


class Posting(models.Model):
    """One movement of money: a deposit, a withdrawal, a transfer or a reversal. Its
    entries (``Transaction`` rows, one per account leg) have signed amounts that sum to
    zero: money only ever moves from one account to another, and money that comes from
    or goes to the outside world passes through a system account. Written only by
    ``transactions.services.posting_create``; append-only, like its entries.

    A refused attempt (insufficient balance) is a posting too, with status FAILED and a
    single entry on the account it would have debited: it moves nothing and is kept for
    the audit trail and the customer's history."""

    Kind = Kind
    Status = Status

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices)
    note = models.CharField(max_length=255, blank=True, help_text="The note as the client gave it.")
    initiated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=255, blank=True, help_text="The client's Idempotency-Key, if any.")
    # For a REVERSAL: the posting it reverses. One-to-one, so a posting is reversed once.
    # (References between ledger rows are checked at commit by the posting's trigger, not
    # by foreign keys: each key is an event queued and run at commit for every row, set
    # or not, and the rows they point at can never be deleted. Migration 0009.)
    # Both at most once per posting or hold (the partial unique constraints below: an
    # index of the few rows that have one, not of every posting's NULL).
    reversal_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by", db_constraint=False,
        db_index=False,
    )
    # For the capture of a hold: the hold it captures.
    hold = models.ForeignKey("Hold", on_delete=models.PROTECT, null=True, blank=True, related_name="captures",
                             db_index=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="posting_kind_valid"),
            models.CheckConstraint(
                condition=Q(hold__isnull=True) | Q(kind__in=[Kind.WITHDRAWAL, Kind.TRANSFER], status=Status.SUCCESS),
                name="posting_capture_moves_money",
            ),
            models.UniqueConstraint(fields=["reversal_of"], condition=Q(reversal_of__isnull=False),
                                    name="posting_reversed_once"),
            models.UniqueConstraint(fields=["hold"], condition=Q(hold__isnull=False), name="posting_captures_hold_once"),
            models.CheckConstraint(condition=Q(status__in=Status.values), name="posting_status_valid"),
            models.CheckConstraint(
                condition=Q(kind=Kind.REVERSAL, reversal_of__isnull=False)
                | (~Q(kind=Kind.REVERSAL) & Q(reversal_of__isnull=True)),
                name="posting_reversal_linked",
            ),
        ]

    def __str__(self) -> str:
        return f"posting {self.pk}: {self.kind} ({self.status})"


class Transaction(models.Model):
    """One entry of a posting: one account's leg of a movement. The API calls entries
    "transactions" (the contract's word); entries are append-only, created only by
    ``posting_create`` and never updated or deleted.

    An entry on a customer's account carries the account's running balance after it
    (``balance_after``) and a per-account sequence number (``seq``), both assigned while
    the account row is locked: the balance is the newest entry's ``balance_after`` (one
    index probe, whatever the history length), and a full SUM remains the audit path
    that must agree with it. An entry on a system account has neither: system accounts
    are never locked and keep no running balance, so they cannot become a point every
    deposit queues on; their balance is a SUM, computed where it is needed (admin, audit).
    """

    Type = Kind
    Status = Status
    Direction = Direction

    # No database foreign keys on entries (migration 0009): the commit-time check of each
    # posting verifies its entries' posting, account, initiator and reversed entry, and
    # none of those rows can be deleted (append-only ledger; accounts with entries are
    # kept by a trigger). A key on the account would lock the system account's row on
    # every deposit; each key would queue an event per row, run at commit.
    posting = models.ForeignKey(
        Posting, on_delete=models.PROTECT, related_name="entries", db_constraint=False, db_index=False
    )
    # No index of its own either: every system leg would land on one page (one key value).
    # Customer reads use the partial indexes below.
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, related_name="transactions", db_constraint=False, db_index=False
    )
    seq = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Position in a customer account's ledger, from 1 (none on system accounts)."
    )
    # The posting's kind and status, kept on each entry so that an account's history is
    # read from this table alone; the database checks they agree with the posting.
    transaction_type = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.SUCCESS)
    direction = models.CharField(max_length=6, choices=Direction.choices)
    amount = MoneyField()
    balance_after = MoneyField(null=True, blank=True)
    note = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField()
    # Always the posting's initiator (checked at commit; the posting's key guards the user,
    # and its index finds a user's movements).
    initiated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    # For a REVERSAL entry: the entry it reverses; an entry is reversed once (the partial
    # unique constraint below).
    reversal_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by", db_constraint=False,
        db_index=False,
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            # Customer entries only (partial): system legs, one per deposit or withdrawal,
            # must not make every write maintain index entries nobody reads by seq.
            models.UniqueConstraint(
                fields=["account", "seq"], condition=Q(seq__isnull=False), name="ledger_account_seq_unique"
            ),
            models.UniqueConstraint(fields=["reversal_of"], condition=Q(reversal_of__isnull=False),
                                    name="ledger_reversed_once"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_amount_positive"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="ledger_balance_never_negative"),
            models.CheckConstraint(condition=Q(seq__gte=1), name="ledger_seq_from_one"),
            # A running balance and a sequence number go together (customer entries).
            models.CheckConstraint(
                condition=Q(seq__isnull=True, balance_after__isnull=True)
                | Q(seq__isnull=False, balance_after__isnull=False),
                name="ledger_seq_with_balance",
            ),
            models.CheckConstraint(condition=Q(status__in=Status.values), name="ledger_status_valid"),
            models.CheckConstraint(condition=Q(direction__in=Direction.values), name="ledger_direction_valid"),
            models.CheckConstraint(condition=Q(transaction_type__in=Kind.values), name="ledger_type_valid"),
            # On a customer's account, deposits only credit and withdrawals only debit.
            models.CheckConstraint(
                condition=~Q(transaction_type=Kind.DEPOSIT, direction=Direction.DEBIT, seq__isnull=False)
                & ~Q(transaction_type=Kind.WITHDRAWAL, direction=Direction.CREDIT, seq__isnull=False),
                name="ledger_type_direction_consistent",
            ),
            # A reversal entry always names what it reverses; nothing else does.
            models.CheckConstraint(
                condition=Q(transaction_type=Kind.REVERSAL, reversal_of__isnull=False)
                | (~Q(transaction_type=Kind.REVERSAL) & Q(reversal_of__isnull=True)),
                name="ledger_reversal_linked",
            ),
        ]
        indexes = [
            # Balance as of an instant: newest entry at or before it, one probe.
            models.Index(
                fields=["account", "created_at", "seq"], condition=Q(seq__isnull=False), name="ledger_account_time_idx"
            ),
            models.Index(fields=["posting"], name="ledger_posting_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_type} {self.direction} {self.amount} on account {self.account_id} ({self.status})"


class HoldStatus(models.TextChoices):
    PENDING = "PENDING"  # reserving its amount until expires_at
    CAPTURED = "CAPTURED"
    VOIDED = "VOIDED"
    # Never stored by a request: a PENDING hold past its expires_at reads as EXPIRED (and
    # has stopped reserving at that instant, whether or not anything has written it down).
    EXPIRED = "EXPIRED"


class HoldQuerySet(models.QuerySet):
    def active(self, at) -> "HoldQuerySet":
        """Holds reserving funds at instant ``at`` (``ledger_sql.held_sql`` is the same
        rule in SQL)."""
        return self.filter(status=HoldStatus.PENDING, expires_at__gt=at)

    def visible_to(self, user) -> "HoldQuerySet":
        """Holds ``user`` may see and act on: on or payable to their accounts; staff: all.
        (Their account ids, read first, let the database use the holds' indexes by
        account and by payee rather than walk every hold to join it to its owner.)"""
        if user.is_staff:
            return self
        account_ids = list(user.accounts.values_list("pk", flat=True))
        return self.filter(Q(account_id__in=account_ids) | Q(to_account_id__in=account_ids))

    def with_status(self, status: str, at) -> "HoldQuerySet":
        """Holds that read ``status`` at instant ``at`` (EXPIRED and PENDING by the clock)."""
        if status == HoldStatus.PENDING:
            return self.active(at)
        if status == HoldStatus.EXPIRED:
            return self.filter(Q(status=HoldStatus.PENDING, expires_at__lte=at) | Q(status=HoldStatus.EXPIRED))
        return self.filter(status=status)


class Hold(models.Model):
    """Funds reserved on a customer account: authorized now, captured (moved, in whole or
    part) or voided later, or left to expire. A hold moves no money; it lowers the
    account's *available* balance (posted balance minus the amounts of its active holds)
    while it is active, i.e. PENDING and not past ``expires_at``. Its capture is one
    posting (``Posting.hold``): a withdrawal, or a transfer to ``to_account``.

    Holds are state, not ledger: ``status`` changes once, from PENDING, under the lock of
    the hold's row (a capture also holds its accounts' locks; ``transactions.services``)."""

    Status = HoldStatus

    objects = HoldQuerySet.as_manager()

    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="holds", db_index=False)
    # The payee, if any: the capture is a transfer to it, and its owner may capture or void.
    to_account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, null=True, blank=True, related_name="incoming_holds",
        db_index=False,
    )
    amount = MoneyField()
    captured_amount = MoneyField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=HoldStatus.choices, default=HoldStatus.PENDING)
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    initiated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=255, blank=True)
    # Who captured or voided it, and when.
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=HoldStatus.values), name="hold_status_valid"),
            models.CheckConstraint(
                condition=Q(status=HoldStatus.CAPTURED, captured_amount__gt=0, captured_amount__lte=F("amount"))
                | (~Q(status=HoldStatus.CAPTURED) & Q(captured_amount__isnull=True)),
                name="hold_captured_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(status=HoldStatus.PENDING, resolved_at__isnull=True)
                | (~Q(status=HoldStatus.PENDING) & Q(resolved_at__isnull=False)),
                name="hold_resolved_when_not_pending",
            ),
            models.CheckConstraint(condition=Q(expires_at__gt=F("created_at")), name="hold_expires_after_creation"),
            models.CheckConstraint(condition=~Q(to_account=F("account")), name="hold_payee_is_another_account"),
        ]
        indexes = [
            # What reserves funds: only PENDING holds are indexed, by expiry, so that the
            # available balance is a range probe over the active ones whatever the number
            # of holds the account has had (resolved ones leave the index; expired ones
            # sit before the probe's start).
            models.Index(fields=["account", "expires_at"], condition=Q(status=HoldStatus.PENDING),
                         name="hold_active_idx"),
            models.Index(fields=["account", "id"], name="hold_account_idx"),
            models.Index(fields=["to_account", "id"], condition=Q(to_account__isnull=False), name="hold_payee_idx"),
            # The expiry sweep: pending holds by expiry, whatever their account.
            models.Index(fields=["expires_at"], condition=Q(status=HoldStatus.PENDING), name="hold_expiry_idx"),
        ]

    def status_at(self, now) -> str:
        """The status as of ``now``: a PENDING hold past its expiry reads EXPIRED."""
        if self.status == HoldStatus.PENDING and self.expires_at <= now:
            return HoldStatus.EXPIRED
        return self.status

    def __str__(self) -> str:
        return f"hold {self.pk}: {self.amount} on account {self.account_id} ({self.status})"


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


class Side(models.TextChoices):
    CUSTOMER = "customer"  # the legs on customers' accounts
    SYSTEM = "system"  # the legs on system accounts


class DailySummary(models.Model):
    """The ledger's entries of one UTC day, counted and summed by kind, status, side and
    direction: what the staff dashboard reads instead of scanning the ledger. Written
    only by ``transactions.summaries.summaries_roll_up``, which adds the entries above
    its watermark (``SummaryWatermark``); the entries not yet rolled up are read live,
    by primary key, so the dashboard is always exact."""

    day = models.DateField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices)
    side = models.CharField(max_length=8, choices=Side.choices)
    direction = models.CharField(max_length=6, choices=Direction.choices)
    entries = models.PositiveBigIntegerField(default=0)
    amount = models.DecimalField(max_digits=24, decimal_places=2, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "kind", "status", "side", "direction"],
                                    name="daily_summary_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.kind} {self.status} {self.side} {self.direction}: {self.entries}, {self.amount}"


class SummaryWatermark(models.Model):
    """One row: the id of the newest ledger entry the daily summaries include."""

    last_entry_id = models.BigIntegerField(default=0)
