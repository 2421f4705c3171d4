"""Double entry: every movement is one posting whose entries sum to zero; money from and
to the outside world passes through a system account; the database enforces it."""
from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.db.models import Sum

from accounts.models import Account
from banking.errors import AccountNotFound
from tests.factories import AccountFactory, UserFactory
from transactions import services
from transactions.models import EXTERNAL_FUNDS, Posting, Transaction
from transactions.selectors import balance_recompute

pytestmark = pytest.mark.django_db


def external_funds() -> Account:
    return Account.objects.get(system_code=EXTERNAL_FUNDS)


def books_total() -> Decimal:
    """All successful entries of all accounts, customers' and system ones, signed."""
    credits = Transaction.objects.filter(status="SUCCESS", direction="CREDIT").aggregate(t=Sum("amount"))["t"] or 0
    debits = Transaction.objects.filter(status="SUCCESS", direction="DEBIT").aggregate(t=Sum("amount"))["t"] or 0
    return Decimal(credits) - Decimal(debits)


def test_a_deposit_takes_its_money_from_external_funds(alice, account):
    body = alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "25.00"}, format="json").json()
    entry = Transaction.objects.get(pk=body["id"])
    legs = list(entry.posting.entries.order_by("pk").values_list("account__system_code", "direction", "amount"))
    assert legs == [(None, "CREDIT", Decimal("25.00")), (EXTERNAL_FUNDS, "DEBIT", Decimal("25.00"))]
    assert entry.posting.kind == "DEPOSIT" and entry.posting.status == "SUCCESS"


def test_a_withdrawal_sends_its_money_to_external_funds(alice, account, fund):
    fund(account, "30.00")
    body = alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "10.00"}, format="json").json()
    legs = list(Transaction.objects.get(pk=body["id"]).posting.entries.order_by("pk")
                .values_list("account__system_code", "direction", "amount"))
    assert legs == [(None, "DEBIT", Decimal("10.00")), (EXTERNAL_FUNDS, "CREDIT", Decimal("10.00"))]


def test_a_transfer_is_one_posting_of_two_legs(alice, account, other_account, fund):
    fund(account, "30.00")
    body = alice.post("/transactions/transfer",
                      {"from_account_id": account.pk, "to_account_id": other_account.pk, "amount": "7.00", "note": "x"},
                      format="json").json()
    posting = Transaction.objects.get(pk=body["debit_transaction"]["id"]).posting
    assert sorted(posting.entries.values_list("pk", flat=True)) == sorted(
        [body["debit_transaction"]["id"], body["credit_transaction"]["id"]]
    )
    assert (posting.kind, posting.note, posting.initiated_by.username) == ("TRANSFER", "x", "alice")


def test_a_refused_withdrawal_is_a_failed_posting_of_one_entry_that_moves_nothing(alice, account, fund):
    fund(account, "5.00")
    response = alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "9.00"}, format="json")
    assert response.status_code == 400
    failed = Transaction.objects.get(account=account, status="FAILED")
    assert list(failed.posting.entries.all()) == [failed]
    assert failed.posting.status == "FAILED" and failed.balance_after == Decimal("5.00")
    assert books_total() == 0


def test_customer_and_system_balances_always_sum_to_zero(staff_client_api, alice, account, other_account, fund):
    fund(account, "100.00")
    alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "30.00"}, format="json")
    alice.post("/transactions/transfer", {"from_account_id": account.pk, "to_account_id": other_account.pk,
                                          "amount": "20.00"}, format="json")
    deposit = alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "5.00"}, format="json").json()
    staff_client_api.post(f"/transactions/{deposit['id']}/reverse", {}, format="json")
    customers = balance_recompute(account_id=account.pk) + balance_recompute(account_id=other_account.pk)
    assert customers == Decimal("70.00")
    assert balance_recompute(account_id=external_funds().pk) == Decimal("-70.00")
    assert books_total() == 0


def test_reversing_a_deposit_reverses_its_system_leg_too(staff_client_api, account, fund):
    entry = fund(account, "12.00")
    body = staff_client_api.post(f"/transactions/{entry.pk}/reverse", {}, format="json").json()
    reversal = Posting.objects.get(reversal_of=entry.posting)
    legs = list(reversal.entries.order_by("pk").values_list("account__system_code", "direction", "amount"))
    assert legs == [(None, "DEBIT", Decimal("12.00")), (EXTERNAL_FUNDS, "CREDIT", Decimal("12.00"))]
    assert [row["reversal_of"] for row in body["reversal_transactions"]] == [entry.pk]


@pytest.mark.parametrize("path", ["/accounts/{id}", "/accounts/{id}/balance", "/transactions/{id}",
                                  "/accounts/{id}/statement"])
def test_system_accounts_are_not_found_through_the_api(staff_client_api, path):
    response = staff_client_api.get(path.format(id=external_funds().pk))
    assert response.status_code == 404
    assert response.json() == {"error": "Account not found."}


def test_a_system_account_cannot_be_a_transfer_destination(account, fund):
    fund(account, "10.00")
    with pytest.raises(AccountNotFound, match="Destination account not found."):
        services.transfer_create(from_account_id=account.pk, to_account_id=external_funds().pk,
                                 amount=Decimal("1.00"), initiated_by=account.user, owner=account.user)


def test_staff_cannot_deposit_into_a_system_account(account):
    with pytest.raises(AccountNotFound):
        services.deposit_create(account_id=external_funds().pk, amount=Decimal("1.00"),
                                initiated_by=account.user, owner=None)


def test_system_account_ids_are_not_customer_ids(alice):
    # Fixed ids at or below zero: the API does not even take them as account ids.
    response = alice.post("/transactions/deposit", {"account_id": external_funds().pk, "amount": "1.00"},
                          format="json")
    assert response.status_code == 400


def test_posting_legs_that_do_not_sum_to_zero_are_refused_by_the_primitive(account):
    with pytest.raises(ValueError, match="sum to zero"):
        services.posting_create(kind="DEPOSIT", initiated_by=account.user, legs=[
            services.Leg(Decimal("5.00"), account_id=account.pk),
            services.Leg(Decimal("-4.00"), system_code=EXTERNAL_FUNDS),
        ])
    assert not Transaction.objects.exists()


# --- the database enforces the books (PostgreSQL triggers) -----------------------------

def _insert_entry(cursor, posting_id: int, account_id: int, direction: str, amount: str, seq, balance, user_id: int,
                  kind: str = "DEPOSIT", status: str = "SUCCESS"):
    cursor.execute(
        "INSERT INTO transactions_transaction (posting_id, account_id, seq, transaction_type, status, direction, "
        "amount, balance_after, note, created_at, initiated_by_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, '', now(), %s)",
        [posting_id, account_id, seq, kind, status, direction, amount, balance, user_id],
    )


def _insert_posting(cursor, user_id: int, status: str = "SUCCESS") -> int:
    cursor.execute(
        "INSERT INTO transactions_posting (kind, status, note, created_at, idempotency_key, initiated_by_id) "
        "VALUES ('DEPOSIT', %s, '', now(), '', %s) RETURNING id", [status, user_id],
    )
    return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_an_unbalanced_posting_at_commit():
    account = AccountFactory()
    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic():
        with connection.cursor() as cursor:
            posting = _insert_posting(cursor, account.user_id)
            _insert_entry(cursor, posting, account.pk, "CREDIT", "100.00", 1, "100.00", account.user_id)
            _insert_entry(cursor, posting, external_funds().pk, "DEBIT", "1.00", None, None, account.user_id)
    assert not Transaction.objects.exists() and not Posting.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_accepts_a_balanced_posting_written_leg_by_leg():
    account = AccountFactory()
    with transaction.atomic(), connection.cursor() as cursor:
        posting = _insert_posting(cursor, account.user_id)
        _insert_entry(cursor, posting, account.pk, "CREDIT", "100.00", 1, "100.00", account.user_id)
        _insert_entry(cursor, posting, external_funds().pk, "DEBIT", "100.00", None, None, account.user_id)
    assert balance_recompute(account_id=account.pk) == Decimal("100.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_a_posting_without_entries():
    user = UserFactory()
    with pytest.raises(IntegrityError, match="no entries"), transaction.atomic():
        with connection.cursor() as cursor:
            _insert_posting(cursor, user.pk)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_a_customer_entry_without_its_running_balance():
    account = AccountFactory()
    with pytest.raises(IntegrityError, match="customer entries"), transaction.atomic():
        with connection.cursor() as cursor:
            posting = _insert_posting(cursor, account.user_id)
            _insert_entry(cursor, posting, account.pk, "CREDIT", "1.00", None, None, account.user_id)
            _insert_entry(cursor, posting, external_funds().pk, "DEBIT", "1.00", None, None, account.user_id)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_entries_that_disagree_with_their_posting():
    account = AccountFactory()
    with pytest.raises(IntegrityError, match="differ from its kind"), transaction.atomic():
        with connection.cursor() as cursor:
            posting = _insert_posting(cursor, account.user_id)
            _insert_entry(cursor, posting, account.pk, "CREDIT", "1.00", 1, "1.00", account.user_id, kind="TRANSFER")
            _insert_entry(cursor, posting, external_funds().pk, "DEBIT", "1.00", None, None, account.user_id,
                          kind="TRANSFER")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_a_refused_posting_of_more_than_one_entry():
    account = AccountFactory()
    with pytest.raises(IntegrityError, match="records one attempt"), transaction.atomic():
        with connection.cursor() as cursor:
            posting = _insert_posting(cursor, account.user_id, status="FAILED")
            _insert_entry(cursor, posting, account.pk, "CREDIT", "1.00", 1, "0.00", account.user_id, status="FAILED")
            _insert_entry(cursor, posting, external_funds().pk, "DEBIT", "1.00", None, None, account.user_id,
                          status="FAILED")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_an_entry_on_an_account_that_does_not_exist():
    account = AccountFactory()
    with pytest.raises(IntegrityError, match="accounts that do not exist"), transaction.atomic():
        with connection.cursor() as cursor:
            posting = _insert_posting(cursor, account.user_id)
            _insert_entry(cursor, posting, account.pk, "CREDIT", "1.00", 1, "1.00", account.user_id)
            _insert_entry(cursor, posting, 987654, "DEBIT", "1.00", None, None, account.user_id)
    assert not Transaction.objects.exists()


@pytest.mark.postgres
@pytest.mark.parametrize("statement", ["DELETE FROM accounts_account WHERE id = %s",
                                       "UPDATE accounts_account SET id = 987654 WHERE id = %s"])
def test_the_database_keeps_an_account_that_has_entries(account, fund, statement):
    fund(account, "10.00")
    with pytest.raises(IntegrityError, match="neither deleted nor renumbered"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement, [account.pk])
    assert Account.objects.filter(pk=account.pk).exists()


@pytest.mark.postgres
def test_the_database_keeps_the_system_accounts():
    with pytest.raises(IntegrityError, match="neither deleted nor renumbered"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM accounts_account WHERE id = %s", [external_funds().pk])


@pytest.mark.postgres
def test_an_account_without_entries_can_still_be_deleted(account):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_account WHERE id = %s", [account.pk])
    assert not Account.objects.filter(pk=account.pk).exists()


@pytest.mark.postgres
def test_postings_are_append_only(account, fund):
    entry = fund(account, "10.00")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Posting.objects.filter(pk=entry.posting_id).update(note="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM transactions_posting WHERE id = %s", [entry.posting_id])


# --- no hot spot: the system account is never locked ------------------------------------

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_deposit_does_not_wait_for_another_uncommitted_deposit_into_another_account():
    first, second = AccountFactory(), AccountFactory()
    inside, release = threading.Event(), threading.Event()

    def hold_a_deposit_open():
        try:
            with transaction.atomic():
                services.deposit_create(account_id=first.pk, amount=Decimal("1.00"), initiated_by=first.user,
                                        owner=first.user)
                inside.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_a_deposit_open)
    holder.start()
    try:
        assert inside.wait(timeout=10)
        started = time.monotonic()
        services.deposit_create(account_id=second.pk, amount=Decimal("2.00"), initiated_by=second.user,
                                owner=second.user)
        elapsed = time.monotonic() - started
    finally:
        release.set()
        holder.join(timeout=10)
    assert elapsed < 0.5  # it would wait for the holder (or its lock timeout) if it queued on a shared row
    assert balance_recompute(account_id=external_funds().pk) == Decimal("-3.00")


# --- a retried unit of work under an Idempotency-Key --------------------------------------

class _SerializationFailure(Exception):
    pgcode = "40001"  # what psycopg2 reports for PostgreSQL's serialization_failure


@pytest.mark.django_db(transaction=True)
def test_a_serialization_failure_under_an_idempotency_key_is_retried_whole(alice, account, monkeypatch):
    """The key, the posting and the stored answer are one unit of work: when the database
    aborts it (serialization failure, deadlock) it is retried whole, and the money moves
    once. The failure is injected once, in the locked section of the first try."""
    from transactions import ledger_sql

    real, calls = ledger_sql.accounts_lock, []

    def fail_once(ids, **kwargs):
        calls.append(ids)
        if len(calls) == 1:
            raise OperationalError("could not serialize access") from _SerializationFailure()
        return real(ids, **kwargs)

    monkeypatch.setattr(services, "accounts_lock", fail_once)
    body = {"account_id": account.pk, "amount": "10.00"}
    first = alice.post("/transactions/deposit", body, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    again = alice.post("/transactions/deposit", body, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert len(calls) == 2  # the failed try and its retry; the replay runs nothing
    assert balance_recompute(account_id=account.pk) == Decimal("10.00")
    assert Posting.objects.get().idempotency_key == "retry-me"
