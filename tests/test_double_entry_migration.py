"""Existing data migrates to double entry: a database built at the single-entry schema,
with a deposit, a withdrawal, a transfer, a reversal and a refused attempt in it, is
migrated; afterwards verify_ledger passes and the API answers the same balances and
histories, and the append-only trigger is on."""
from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from events.models import Event
from transactions.models import Posting, Transaction
from users.models import User
from users.services import token_issue

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SINGLE_ENTRY = [("transactions", "0004_ledger_append_only_trigger"), ("accounts", "0002_initial")]


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


@pytest.fixture
def single_entry_ledger():
    """The ledger as the previous release wrote it, through the models of that time."""
    old = _migrate(SINGLE_ENTRY).loader.project_state(SINGLE_ENTRY).apps  # (undoes the system accounts too)
    OldAccount, Row = old.get_model("accounts", "Account"), old.get_model("transactions", "Transaction")
    alice = User.objects.create_user(username="alice", password="x-S3cret-pass-1")
    bob = User.objects.create_user(username="bob", password="x-S3cret-pass-2")
    a = OldAccount.objects.create(user_id=alice.pk, bank_name="B", branch="1")
    b = OldAccount.objects.create(user_id=bob.pk, bank_name="B", branch="2")
    t0, ref = timezone.now() - timedelta(hours=1), uuid.uuid4()

    def row(account, seq, kind, direction, amount, balance, minutes, note="", status="SUCCESS", **extra):
        return Row.objects.create(account_id=account.pk, seq=seq, transaction_type=kind, direction=direction,
                                  status=status, amount=Decimal(amount), balance_after=Decimal(balance), note=note,
                                  created_at=t0 + timedelta(minutes=minutes), initiated_by_id=alice.pk, **extra)

    row(a, 1, "DEPOSIT", "CREDIT", "100.00", "100.00", 1, "pay")
    row(a, 2, "WITHDRAWAL", "DEBIT", "30.00", "70.00", 2, "atm")
    debit = row(a, 3, "TRANSFER", "DEBIT", "20.00", "50.00", 3, "Transfer to bob: rent", transfer_ref=ref)
    credit = row(b, 1, "TRANSFER", "CREDIT", "20.00", "20.00", 3, "Transfer from alice: rent", transfer_ref=ref)
    row(a, 4, "WITHDRAWAL", "DEBIT", "500.00", "50.00", 5, "too much", status="FAILED")
    staff_deposit = row(b, 2, "DEPOSIT", "CREDIT", "5.00", "25.00", 6, "cash")
    row(b, 3, "REVERSAL", "DEBIT", "5.00", "20.00", 7, "Reversal of transaction 6", reversal_of_id=staff_deposit.pk)
    back = uuid.uuid4()  # the transfer reversed whole: both legs, one reference
    row(a, 5, "REVERSAL", "CREDIT", "20.00", "70.00", 8, "Reversal of transaction 3", transfer_ref=back,
        reversal_of_id=debit.pk)
    row(b, 4, "REVERSAL", "DEBIT", "20.00", "0.00", 8, "Reversal of transaction 4", transfer_ref=back,
        reversal_of_id=credit.pk)
    return alice, bob, a.pk, b.pk


def _answers(user, account_id: int) -> tuple:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user)[1]}")
    history = [{k: r[k] for k in ("id", "amount", "transaction_type", "status", "note", "created_at")}
               for r in client.get(f"/transactions/{account_id}").json()]
    return client.get(f"/accounts/{account_id}/balance").json(), history


def test_existing_rows_become_balanced_postings_and_the_api_answers_the_same(single_entry_ledger, capsys):
    alice, bob, a, b = single_entry_ledger
    with connection.cursor() as cursor:  # what the previous release answered, read straight from its rows
        cursor.execute("SELECT account_id, COUNT(*) FROM transactions_transaction GROUP BY account_id ORDER BY 1")
        rows_before = cursor.fetchall()
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    balance_a, history_a = _answers(alice, a)
    balance_b, history_b = _answers(bob, b)
    assert balance_a["balance"] == "70.00" and balance_b["balance"] == "0.00"
    assert [(r["transaction_type"], r["amount"], r["status"]) for r in history_a] == [
        ("REVERSAL", "20.00", "SUCCESS"), ("WITHDRAWAL", "500.00", "FAILED"), ("TRANSFER", "20.00", "SUCCESS"),
        ("WITHDRAWAL", "30.00", "SUCCESS"), ("DEPOSIT", "100.00", "SUCCESS"),
    ]
    assert [r["note"] for r in history_b] == [
        "Reversal of transaction 4", "Reversal of transaction 6", "cash", "Transfer from alice: rent",
    ]
    assert [(account, count) for account, count in rows_before] == [
        (account, Transaction.objects.filter(account_id=account).count()) for account, _ in rows_before
    ]
    # The two legs of the transfer are one posting; deposits and withdrawals got their system leg.
    transfer = Transaction.objects.get(account_id=a, transaction_type="TRANSFER").posting
    assert sorted(transfer.entries.values_list("account_id", flat=True)) == [a, b]
    cash = Transaction.objects.get(note="cash", account_id=b).posting
    assert Posting.objects.get(kind="REVERSAL", reversal_of=cash).entries.count() == 2  # with its system leg
    reversed_transfer = Posting.objects.get(kind="REVERSAL", reversal_of=transfer)
    assert sorted(reversed_transfer.entries.values_list("account_id", flat=True)) == [a, b]
    assert Posting.objects.get(status="FAILED").entries.count() == 1

    # Events for what happened before events: the opening first, then each entry in ledger order.
    stream = list(Event.objects.filter(user=alice).order_by("bound", "id").values_list("type", "transaction_id"))
    assert stream[0] == ("account.created", None)
    assert [t for _, t in stream[1:]] == list(
        Transaction.objects.filter(account_id=a).order_by("seq").values_list("pk", flat=True))

    call_command("verify_ledger")  # ... which also finds every change announced
    assert "the books balance" in capsys.readouterr().out
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Transaction.objects.filter(account_id=a).update(note="rewritten")


def test_the_migration_can_be_undone(single_entry_ledger):
    alice, bob, a, b = single_entry_ledger
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    old = _migrate(SINGLE_ENTRY).loader.project_state(SINGLE_ENTRY).apps
    Row = old.get_model("transactions", "Transaction")
    assert Row.objects.count() == 9  # the single-entry rows, no system legs
    transfer_refs = set(Row.objects.filter(transaction_type="TRANSFER").values_list("transfer_ref", flat=True))
    assert len(transfer_refs) == 1 and None not in transfer_refs
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())  # and forward again
    assert Transaction.objects.filter(account_id=a).count() == 5
