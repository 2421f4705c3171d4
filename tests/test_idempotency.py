from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.concurrency import run_concurrently
from tests.factories import AccountFactory
from transactions.models import IdempotencyKey, Transaction
from transactions.selectors import balance_get
from users.services import token_issue

pytestmark = pytest.mark.django_db


def post(client, path, body, key):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_retry_with_same_key_and_body_replays_the_answer_and_moves_money_once(alice, account):
    body = {"account_id": account.pk, "amount": "100.00", "note": "pay"}
    first = post(alice, "/transactions/deposit", body, "key-1")
    second = post(alice, "/transactions/deposit", body, "key-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert balance_get(account_id=account.pk) == Decimal("100.00")
    assert Transaction.objects.filter(account=account).count() == 1


def test_same_amount_written_differently_is_the_same_request(alice, account):
    post(alice, "/transactions/deposit", {"account_id": account.pk, "amount": "5"}, "k")
    again = post(alice, "/transactions/deposit", {"account_id": account.pk, "amount": "5.00"}, "k")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"


def test_same_key_with_a_different_body_is_409_and_moves_nothing(alice, account):
    post(alice, "/transactions/deposit", {"account_id": account.pk, "amount": "10.00"}, "k")
    response = post(alice, "/transactions/deposit", {"account_id": account.pk, "amount": "11.00"}, "k")
    assert response.status_code == 409
    assert "Idempotency-Key" in response.json()["error"]
    assert balance_get(account_id=account.pk) == Decimal("10.00")


def test_same_key_on_another_operation_is_409(alice, account, fund):
    fund(account, "50.00")
    body = {"account_id": account.pk, "amount": "10.00"}
    post(alice, "/transactions/deposit", body, "k")
    assert post(alice, "/transactions/withdraw", body, "k").status_code == 409
    assert balance_get(account_id=account.pk) == Decimal("60.00")


def test_a_refused_withdrawal_is_replayed_as_refused(alice, account, fund):
    fund(account, "5.00")
    body = {"account_id": account.pk, "amount": "9.00"}
    first = post(alice, "/transactions/withdraw", body, "w")
    fund(account, "100.00")  # even once the money is there, the key's answer stands
    second = post(alice, "/transactions/withdraw", body, "w")
    assert first.status_code == second.status_code == 400
    assert first.json() == second.json()
    assert Transaction.objects.filter(status="FAILED").count() == 1


def test_a_replay_records_no_refusal_when_the_movement_would_now_be_refused(alice, account, fund):
    """A replay answers what was stored and runs nothing: a withdrawal that emptied the
    account is replayed as it was, and its replay leaves no FAILED entry."""
    fund(account, "5.00")
    body = {"account_id": account.pk, "amount": "5.00"}
    first = post(alice, "/transactions/withdraw", body, "empty-it")
    again = post(alice, "/transactions/withdraw", body, "empty-it")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert balance_get(account_id=account.pk) == Decimal("0.00")
    assert not Transaction.objects.filter(account=account, status="FAILED").exists()


def test_a_key_is_stored_once_with_its_answer(alice, account):
    post(alice, "/transactions/deposit", {"account_id": account.pk, "amount": "3.00"}, "once")
    post(alice, "/transactions/deposit", {"account_id": account.pk, "amount": "3.00"}, "once")
    (record,) = IdempotencyKey.objects.all()
    assert (record.key, record.response_status, record.response_body["amount"]) == ("once", 201, "3.00")


def test_transfer_replay_returns_the_original_legs(alice, account, other_account, fund):
    fund(account, "30.00")
    body = {"from_account_id": account.pk, "to_account_id": other_account.pk, "amount": "10.00"}
    first = post(alice, "/transactions/transfer", body, "t")
    second = post(alice, "/transactions/transfer", body, "t")
    assert second.json() == first.json()
    assert balance_get(account_id=other_account.pk) == Decimal("10.00")


def test_keys_are_scoped_to_the_user(alice, bob, account, other_account):
    a = post(alice, "/transactions/deposit", {"account_id": account.pk, "amount": "1.00"}, "shared")
    b = post(bob, "/transactions/deposit", {"account_id": other_account.pk, "amount": "1.00"}, "shared")
    assert a.status_code == b.status_code == 201
    assert "Idempotent-Replayed" not in b


def test_without_a_key_every_request_moves_money(alice, account):
    body = {"account_id": account.pk, "amount": "1.00"}
    alice.post("/transactions/deposit", body, format="json")
    alice.post("/transactions/deposit", body, format="json")
    assert balance_get(account_id=account.pk) == Decimal("2.00")


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "é"])
def test_invalid_keys_are_400(alice, account, key):
    response = post(alice, "/transactions/deposit", {"account_id": account.pk, "amount": "1.00"}, key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]
    assert not Transaction.objects.exists()


def test_purge_removes_keys_older_than_24_hours_only(alice, account):
    post(alice, "/transactions/deposit", {"account_id": account.pk, "amount": "1.00"}, "old")
    post(alice, "/transactions/deposit", {"account_id": account.pk, "amount": "2.00"}, "new")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyKey.objects.filter(key="new").update(created_at=timezone.now() - timedelta(hours=23))
    call_command("purge_expired")
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_requests_with_one_key_move_money_once(fund):
    from rest_framework.test import APIClient

    account = AccountFactory()
    _, token = token_issue(user=account.user)

    def deposit(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        response = post(client, "/transactions/deposit", {"account_id": account.pk, "amount": "25.00"}, "race")
        return response.status_code, response.json(), response.get("Idempotent-Replayed")

    results = run_concurrently(12, deposit)
    assert {status for status, _, _ in results} == {201}
    assert len({body["id"] for _, body, _ in results}) == 1
    assert sum(1 for *_, replayed in results if replayed is None) == 1
    assert balance_get(account_id=account.pk) == Decimal("25.00")
    assert Transaction.objects.filter(account=account).count() == 1
