from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from banking.roles import TELLER
from tests.factories import AccountFactory, UserFactory, staff_member
from transactions.models import Transaction
from transactions.selectors import balance_get

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client_for):
    return client_for(staff_member(TELLER, username="teller"))


def reverse(client, row_id, note=""):
    return client.post(f"/transactions/{row_id}/reverse", {"note": note}, format="json")


# --- append-only ---------------------------------------------------------------------

@pytest.mark.postgres
def test_raw_sql_update_of_a_ledger_row_is_rejected_by_the_database(account, fund):
    row = fund(account, "10.00")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE transactions_transaction SET amount = 1000 WHERE id = %s", [row.pk])
    row.refresh_from_db()
    assert row.amount == Decimal("10.00")


@pytest.mark.postgres
def test_raw_sql_delete_of_a_ledger_row_is_rejected_by_the_database(account, fund):
    row = fund(account, "10.00")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM transactions_transaction WHERE id = %s", [row.pk])
    assert Transaction.objects.filter(pk=row.pk).exists()


@pytest.mark.postgres
def test_orm_update_of_a_ledger_row_is_rejected_by_the_database(account, fund):
    fund(account, "10.00")
    with pytest.raises(DatabaseError), transaction.atomic():
        Transaction.objects.filter(account=account).update(note="rewritten")


def test_every_row_records_who_initiated_it_and_when(alice, user, account):
    body = alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "3.00"}, format="json").json()
    row = Transaction.objects.get(pk=body["id"])
    assert row.initiated_by == user
    assert row.created_at is not None


# --- reversals -------------------------------------------------------------------------

def test_staff_reversal_of_a_deposit_posts_the_opposite_movement(staff, account, fund):
    deposit = fund(account, "40.00")
    response = reverse(staff, deposit.pk, "posted twice by mistake")
    assert response.status_code == 201
    body = response.json()
    assert body["reversed_transaction_id"] == deposit.pk
    (row,) = body["reversal_transactions"]
    assert row["transaction_type"] == "REVERSAL" and row["amount"] == "40.00"
    assert row["reversal_of"] == deposit.pk and row["balance_after"] == "0.00"
    assert row["note"] == f"Reversal of transaction {deposit.pk}: posted twice by mistake"
    assert balance_get(account_id=account.pk) == Decimal("0.00")
    assert Transaction.objects.get(pk=row["id"]).initiated_by.username == "teller"
    deposit.refresh_from_db()
    assert deposit.amount == Decimal("40.00") and deposit.status == "SUCCESS"  # history untouched


def test_reversing_a_transfer_moves_the_money_back_on_both_legs(staff, alice, account, other_account, fund):
    fund(account, "100.00")
    legs = alice.post("/transactions/transfer",
                      {"from_account_id": account.pk, "to_account_id": other_account.pk, "amount": "30.00"},
                      format="json").json()
    response = reverse(staff, legs["credit_transaction"]["id"])
    assert response.status_code == 201
    assert len(response.json()["reversal_transactions"]) == 2
    assert balance_get(account_id=account.pk) == Decimal("100.00")
    assert balance_get(account_id=other_account.pk) == Decimal("0.00")
    call_command("verify_ledger")


def test_a_row_can_be_reversed_only_once(staff, account, fund):
    deposit = fund(account, "10.00")
    fund(account, "10.00")
    assert reverse(staff, deposit.pk).status_code == 201
    again = reverse(staff, deposit.pk)
    assert again.status_code == 409
    assert again.json() == {"error": "This transaction has already been reversed."}
    assert balance_get(account_id=account.pk) == Decimal("10.00")


def test_a_reversal_that_would_overdraw_is_refused(staff, alice, account, fund):
    deposit = fund(account, "10.00")
    alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "8.00"}, format="json")
    response = reverse(staff, deposit.pk)
    assert response.status_code == 400
    assert "would overdraw" in response.json()["error"]
    assert balance_get(account_id=account.pk) == Decimal("2.00")


def test_failed_rows_and_reversals_cannot_be_reversed(staff, alice, account, fund):
    deposit = fund(account, "1.00")
    alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "5.00"}, format="json")
    failed = Transaction.objects.get(status="FAILED")
    assert reverse(staff, failed.pk).status_code == 400
    reversal_id = reverse(staff, deposit.pk).json()["reversal_transactions"][0]["id"]
    assert reverse(staff, reversal_id).status_code == 400


def test_customers_cannot_reverse(alice, account, fund):
    deposit = fund(account, "10.00")
    response = reverse(alice, deposit.pk)
    assert response.status_code == 403
    assert "error" in response.json()
    assert balance_get(account_id=account.pk) == Decimal("10.00")


def test_reversing_an_unknown_transaction_is_404(staff):
    assert reverse(staff, 987654).json() == {"error": "Transaction not found."}


def test_admin_action_reverses_through_the_service(client, account, fund):
    teller = UserFactory(username="teller", is_staff=True, is_superuser=True)
    client.force_login(teller)
    deposit = fund(account, "15.00")
    client.post("/admin/transactions/transaction/",
                {"action": "reverse_selected", "_selected_action": [deposit.pk], "apply": "Reverse",
                 "reason": "posted twice"})
    reversal = Transaction.objects.get(reversal_of=deposit)
    assert reversal.initiated_by == teller and balance_get(account_id=account.pk) == Decimal("0.00")
    assert "posted twice" in reversal.note


def test_admin_action_asks_for_a_reason_before_reversing(client, account, fund):
    client.force_login(UserFactory(username="teller", is_staff=True, is_superuser=True))
    deposit = fund(account, "15.00")
    page = client.post("/admin/transactions/transaction/",
                       {"action": "reverse_selected", "_selected_action": [deposit.pk]})
    assert page.status_code == 200 and b'name="reason"' in page.content
    client.post("/admin/transactions/transaction/",
                {"action": "reverse_selected", "_selected_action": [deposit.pk], "apply": "Reverse", "reason": ""})
    assert not Transaction.objects.filter(reversal_of=deposit).exists()
    assert balance_get(account_id=account.pk) == Decimal("15.00")


# --- verify_ledger --------------------------------------------------------------------------

def test_verify_ledger_passes_on_a_consistent_ledger(alice, account, other_account, fund, capsys):
    fund(account, "10.00")
    alice.post("/transactions/transfer",
               {"from_account_id": account.pk, "to_account_id": other_account.pk, "amount": "4.00"}, format="json")
    alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "99.00"}, format="json")  # refused
    call_command("verify_ledger")
    # the external-funds system account and two customers'; a deposit and a transfer of two
    # entries each, a refused withdrawal of one
    assert "ledger OK: 3 accounts, 3 postings, 5 entries; the books balance" in capsys.readouterr().out


def _tamper(sql, params):
    """Simulate corruption that bypassed the services: a superuser session with triggers
    off (session_replication_role = replica), as a restore or a rogue DBA might do."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = origin")


def _verify_fails(capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_ledger")
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "LEDGER MISMATCH" in err
    return err


# Corruption is committed (transaction=True), as it would be in a real database: the
# commit-time checks of the PostgreSQL triggers have passed before the tampering.

@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_a_balance_that_disagrees_with_the_entries(account, fund, capsys):
    fund(account, "10.00")
    row = fund(account, "5.00")
    _tamper("UPDATE transactions_transaction SET amount = 6 WHERE id = %s", [row.pk])
    assert f"account {account.pk}: the API answers a balance of 15.00 but its entries sum to 16.00" in _verify_fails(capsys)


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_a_broken_running_balance_chain(account, fund, capsys):
    fund(account, "10.00")
    row = fund(account, "5.00")
    _tamper("UPDATE transactions_transaction SET balance_after = 14 WHERE id = %s", [row.pk])
    assert f"entry {row.pk} (account {account.pk}, seq 2): its running balance" in _verify_fails(capsys)


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_an_unbalanced_posting(alice, account, other_account, fund, capsys):
    fund(account, "10.00")
    legs = alice.post("/transactions/transfer",
                      {"from_account_id": account.pk, "to_account_id": other_account.pk, "amount": "4.00"},
                      format="json").json()
    _tamper("DELETE FROM transactions_transaction WHERE id = %s", [legs["credit_transaction"]["id"]])
    posting = Transaction.objects.get(pk=legs["debit_transaction"]["id"]).posting_id
    assert f"posting {posting} is unbalanced: 1 entries summing to -4.00" in _verify_fails(capsys)


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_books_that_do_not_sum_to_zero(alice, account, fund, capsys):
    fund(account, "10.00")
    refused = alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "50.00"}, format="json")
    failed = Transaction.objects.get(account=account, status="FAILED")
    assert refused.status_code == 400
    # A refused attempt turned into money that left the bank, with no other side.
    _tamper("UPDATE transactions_transaction SET status = 'SUCCESS' WHERE id = %s", [failed.pk])
    err = _verify_fails(capsys)
    assert "the books do not balance: all accounts together sum to -50.00, not 0" in err
    assert f"entry {failed.pk} does not match the kind or status of its posting {failed.posting_id}" in err


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_a_refused_posting_with_more_than_one_entry(alice, account, fund, capsys):
    fund(account, "10.00")
    alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "50.00"}, format="json")
    failed = Transaction.objects.get(account=account, status="FAILED")
    _tamper(
        "INSERT INTO transactions_transaction (posting_id, account_id, transaction_type, status, direction, amount, "
        "note, created_at, initiated_by_id) SELECT posting_id, (SELECT id FROM accounts_account WHERE system_code = "
        "'external'), transaction_type, status, 'CREDIT', amount, note, created_at, initiated_by_id "
        "FROM transactions_transaction WHERE id = %s", [failed.pk],
    )
    assert f"refused posting {failed.posting_id} has 2 entries instead of one" in _verify_fails(capsys)


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_a_customer_entry_without_its_running_balance(account, fund, capsys):
    fund(account, "10.00")
    row = fund(account, "5.00")
    _tamper("UPDATE transactions_transaction SET seq = NULL, balance_after = NULL WHERE id = %s", [row.pk])
    assert f"entry {row.pk} on account {account.pk}: a sequence number" in _verify_fails(capsys)


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_a_reversal_that_does_not_mirror_its_original(staff, account, fund, capsys):
    row = fund(account, "10.00")
    reversal_id = reverse(staff, row.pk).json()["reversal_transactions"][0]["id"]
    _tamper("UPDATE transactions_transaction SET amount = 9, balance_after = 1 WHERE id = %s", [reversal_id])
    assert f"reversal entry {reversal_id} does not mirror the entry it reverses" in _verify_fails(capsys)


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_an_entry_on_an_account_that_does_not_exist(account, fund, capsys):
    row = fund(account, "10.00")
    _tamper("UPDATE transactions_transaction SET account_id = 987654 WHERE id = %s", [row.pk])
    assert f"entry {row.pk} is on account 987654, which does not exist" in _verify_fails(capsys)


def _captured_hold(client, account) -> int:
    held = client.post("/transactions/holds", {"account_id": account.pk, "amount": "8.00"}, format="json").json()
    client.post(f"/transactions/holds/{held['id']}/capture", {"amount": "5.00"}, format="json")
    return held["id"]


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_a_captured_hold_without_its_capture_posting(alice, account, fund, capsys):
    fund(account, "10.00")
    hold_id = alice.post("/transactions/holds", {"account_id": account.pk, "amount": "8.00"}, format="json").json()["id"]
    _tamper("UPDATE transactions_hold SET status = 'CAPTURED', captured_amount = 8, resolved_at = created_at "
            "WHERE id = %s", [hold_id])
    assert f"hold {hold_id} (CAPTURED) has 0 capture postings" in _verify_fails(capsys)


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_a_capture_that_does_not_take_the_captured_amount(alice, account, fund, capsys):
    fund(account, "10.00")
    hold_id = _captured_hold(alice, account)
    _tamper("UPDATE transactions_hold SET captured_amount = 6 WHERE id = %s", [hold_id])
    assert f"the capture of hold {hold_id} does not move the captured amount" in _verify_fails(capsys)


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_active_holds_the_balance_does_not_cover(alice, account, fund, capsys):
    fund(account, "10.00")
    hold_id = alice.post("/transactions/holds", {"account_id": account.pk, "amount": "8.00"}, format="json").json()["id"]
    _tamper("UPDATE transactions_hold SET amount = 12 WHERE id = %s", [hold_id])
    assert f"account {account.pk}: its balance 10.00 does not cover its active holds (12.00)" in _verify_fails(capsys)


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_a_capture_paid_to_someone_else_than_the_payee(alice, account, other_account, fund,
                                                                             capsys):
    fund(account, "10.00")
    third = AccountFactory()
    held = alice.post("/transactions/holds", {"account_id": account.pk, "amount": "8.00",
                                              "to_account_id": other_account.pk}, format="json").json()
    credit = alice.post(f"/transactions/holds/{held['id']}/capture", {}, format="json").json()["credit_transaction"]
    _tamper("UPDATE transactions_transaction SET account_id = %s WHERE id = %s", [third.pk, credit["id"]])
    assert f"the capture of hold {held['id']} does not move the captured amount" in _verify_fails(capsys)


# --- events: no change without its event, no event without its change ---------------

@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_an_entry_without_its_event(account, fund, capsys):
    row = fund(account, "10.00")
    _tamper("DELETE FROM events_event WHERE transaction_id = %s", [row.pk])
    assert f"entry {row.pk} has 0 transaction.created events instead of one" in _verify_fails(capsys)


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_an_event_without_its_entry(account, other_account, fund, capsys):
    row = fund(account, "10.00")
    from events.models import Event

    event = Event.objects.get(transaction_id=row.pk)
    _tamper("UPDATE events_event SET account_id = %s WHERE id = %s", [other_account.pk, event.pk])
    assert f"event {event.pk} announces entry {row.pk}, which is not an entry of that user's account" \
        in _verify_fails(capsys)


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_an_account_opened_without_its_event(account, capsys):
    _tamper("DELETE FROM events_event WHERE account_id = %s AND type = 'account.created'", [account.pk])
    assert f"account {account.pk} has 0 account.created events instead of one" in _verify_fails(capsys)


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_a_hold_whose_end_was_not_announced(alice, account, fund, capsys):
    fund(account, "10.00")
    hold = alice.post("/transactions/holds", {"account_id": account.pk, "amount": "4.00"}, format="json").json()
    alice.post(f"/transactions/holds/{hold['id']}/void", {}, format="json")
    _tamper("DELETE FROM events_event WHERE type = 'hold.voided'", [])
    assert f"hold {hold['id']} (VOIDED): its events do not tell its story" in _verify_fails(capsys)


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_an_event_about_a_hold_that_does_not_exist(alice, account, fund, capsys):
    fund(account, "10.00")
    alice.post("/transactions/holds", {"account_id": account.pk, "amount": "4.00"}, format="json")
    from events.models import Event

    event = Event.objects.get(type="hold.created")
    _tamper("UPDATE events_event SET data = %s WHERE id = %s", ['{"id": 999999}', event.pk])
    assert f"event {event.pk} (hold.created) is about a hold that does not exist" in _verify_fails(capsys)


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_a_status_no_status_change_explains(account, capsys):
    _tamper("UPDATE accounts_account SET status = 'CLOSED' WHERE id = %s", [account.pk])
    assert f"account {account.pk} is CLOSED but its status changes leave it ACTIVE" in _verify_fails(capsys)


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_reports_money_posted_to_a_closed_account(alice, account, fund, capsys):
    alice.post(f"/accounts/{account.pk}/close", {}, format="json")
    _tamper("UPDATE accounts_account SET status = 'ACTIVE' WHERE id = %s", [account.pk])
    fund(account, "5.00")
    _tamper("UPDATE accounts_account SET status = 'CLOSED' WHERE id = %s", [account.pk])
    assert f"closed account {account.pk} holds 5.00 or has entries posted after it closed" in _verify_fails(capsys)
