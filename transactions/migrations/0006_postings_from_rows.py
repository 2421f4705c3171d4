"""Double entry, step 2 of 3: every existing ledger row joins a posting.

- the two legs of a transfer (and of a transfer's reversal), tied until now by their
  ``transfer_ref``, become one posting;
- a deposit, a withdrawal, or the reversal of either, becomes a posting whose other leg is
  a new entry on the external-funds system account (money from or to outside the ledger);
- a refused attempt (FAILED) becomes a FAILED posting with its one entry.

Existing rows keep their ids, sequence numbers, running balances and times; the new
system legs get new ids. Rows are append-only on PostgreSQL: the trigger is set aside
for this one migration's UPDATE of ``posting_id`` and put back at its end.
"""
import uuid

from django.db import migrations
from django.db.models import Count

EXTERNAL_FUNDS = "external"
EXTERNAL_FUNDS_ID = 0  # system accounts have fixed ids at or below zero (see transactions.models)


def _external_funds(apps):
    Account = apps.get_model("accounts", "Account")
    account, _ = Account.objects.get_or_create(
        pk=EXTERNAL_FUNDS_ID,
        defaults={"system_code": EXTERNAL_FUNDS, "user": None, "bank_name": "System",
                  "branch": "External funds (money outside the ledger)"},
    )
    return account


def forwards(apps, schema_editor):
    Transaction = apps.get_model("transactions", "Transaction")
    Posting = apps.get_model("transactions", "Posting")
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute("ALTER TABLE transactions_transaction DISABLE TRIGGER ledger_append_only")
    external = _external_funds(apps)
    posting_of_row: dict[int, int] = {}  # existing row id -> its posting id
    posting_of_ref: dict = {}  # transfer_ref -> posting id
    system_leg_of_row: dict[int, int] = {}  # deposit/withdrawal row id -> its new system leg id
    for row in Transaction.objects.filter(posting__isnull=True).order_by("id").iterator():
        posting_id = posting_of_ref.get(row.transfer_ref) if row.transfer_ref else None
        if posting_id is None:
            posting_id = Posting.objects.create(
                kind=row.transaction_type, status=row.status, note=row.note[:255], initiated_by_id=row.initiated_by_id,
                created_at=row.created_at,
                reversal_of_id=posting_of_row[row.reversal_of_id] if row.reversal_of_id else None,
            ).pk
            if row.transfer_ref:
                posting_of_ref[row.transfer_ref] = posting_id
        posting_of_row[row.id] = posting_id
        Transaction.objects.filter(pk=row.pk).update(posting_id=posting_id)
        if row.transfer_ref is None and row.status == "SUCCESS":
            # The leg outside the customer's account: money from or to the outside world.
            leg = Transaction.objects.create(
                posting_id=posting_id, account=external, seq=None, balance_after=None,
                transaction_type=row.transaction_type, status=row.status,
                direction="DEBIT" if row.direction == "CREDIT" else "CREDIT", amount=row.amount, note=row.note,
                created_at=row.created_at, initiated_by_id=row.initiated_by_id,
                reversal_of_id=system_leg_of_row.get(row.reversal_of_id) if row.reversal_of_id else None,
            )
            system_leg_of_row[row.id] = leg.pk
    if postgres:
        # The foreign keys are checked at commit; check them now, or the table cannot be altered.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute("ALTER TABLE transactions_transaction ENABLE TRIGGER ledger_append_only")


def backwards(apps, schema_editor):
    """Back to single entry: the system legs go, the legs of a posting on two customer
    accounts (a transfer, or its reversal) are tied by a transfer_ref again, and the
    postings go."""
    Transaction = apps.get_model("transactions", "Transaction")
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute("ALTER TABLE transactions_transaction DISABLE TRIGGER ledger_append_only")
    paired = (
        Transaction.objects.filter(seq__isnull=False).values("posting_id").annotate(legs=Count("id"))
        .filter(legs__gt=1).values_list("posting_id", flat=True)
    )
    for posting_id in list(paired):
        Transaction.objects.filter(posting_id=posting_id).update(transfer_ref=uuid.uuid4())
    schema_editor.execute("DELETE FROM transactions_transaction WHERE seq IS NULL", params=None)
    schema_editor.execute("UPDATE transactions_transaction SET posting_id = NULL", params=None)
    # Reversals first: they refer to what they reverse (and are never reversed themselves).
    schema_editor.execute("DELETE FROM transactions_posting WHERE reversal_of_id IS NOT NULL", params=None)
    schema_editor.execute("DELETE FROM transactions_posting", params=None)
    schema_editor.execute("DELETE FROM accounts_account WHERE system_code IS NOT NULL", params=None)
    if postgres:
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute("ALTER TABLE transactions_transaction ENABLE TRIGGER ledger_append_only")


class Migration(migrations.Migration):
    dependencies = [("transactions", "0005_postings")]
    operations = [migrations.RunPython(forwards, backwards)]
