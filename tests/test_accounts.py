import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_create_account_answers_201_with_the_contract_fields(alice, user):
    response = alice.post("/accounts", {"bank_name": "Savings Bank", "branch": "Main Branch"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "bank_name", "branch", "user_id", "username", "balance", "created_at"}
    assert body["bank_name"] == "Savings Bank" and body["branch"] == "Main Branch"
    assert body["user_id"] == user.pk and body["username"] == "alice"
    assert body["balance"] == "0.00"
    assert Account.objects.get(pk=body["id"]).user == user


def test_a_user_may_hold_several_accounts(alice, user):
    for branch in ("Downtown", "Uptown"):
        assert alice.post("/accounts", {"bank_name": "B", "branch": branch}, format="json").status_code == 201
    assert Account.objects.filter(user=user).count() == 2


@pytest.mark.parametrize(
    "body, message",
    [
        ({"branch": "Main"}, "Bank name is required."),
        ({"bank_name": "Bank"}, "Branch is required."),
        ({"bank_name": "", "branch": "Main"}, "Bank name may not be blank."),
        ({"bank_name": "   ", "branch": "Main"}, "Bank name may not be blank."),
        ({"bank_name": "x" * 101, "branch": "Main"}, "bank_name: Ensure this field has no more than 100 characters."),
    ],
)
def test_create_account_with_invalid_fields_is_400(alice, body, message):
    response = alice.post("/accounts", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == message
    assert not Account.objects.filter(user__isnull=False).exists()


def test_account_details_show_name_bank_branch_balance(alice, account, fund):
    fund(account, "1000.00")
    response = alice.get(f"/accounts/{account.pk}")
    assert response.status_code == 200
    assert response.json() == {"name": "Alice Smith", "bank": "Savings Bank", "branch": "Main Branch",
                               "status": "ACTIVE", "balance": "1000.00", "available_balance": "1000.00"}


def test_account_details_name_falls_back_to_username(client_for):
    account = AccountFactory(user__username="carol", user__first_name="", user__last_name="")
    response = client_for(account.user).get(f"/accounts/{account.pk}")
    assert response.json()["name"] == "carol"


def test_list_all_shows_only_the_callers_accounts_with_contract_fields(alice, account, other_account, user):
    response = alice.get("/accounts/all")
    assert response.status_code == 200
    body = response.json()
    assert len(body) == 1
    assert body[0]["id"] == account.pk
    assert set(body[0]) == {"id", "user_id", "bank_name", "branch", "created_at", "status", "available_balance"}
    assert body[0]["user_id"] == user.pk


def test_list_all_is_empty_for_a_user_without_accounts(alice):
    assert alice.get("/accounts/all").json() == []


def test_balance_is_derived_from_the_ledger(alice, account, fund):
    fund(account, "100.00")
    fund(account, "0.50")
    response = alice.get(f"/accounts/{account.pk}/balance")
    assert response.status_code == 200
    assert response.json() == {"balance": "100.50", "available_balance": "100.50"}


def test_balance_of_new_account_is_zero(alice, account):
    assert alice.get(f"/accounts/{account.pk}/balance").json() == {"balance": "0.00", "available_balance": "0.00"}


def test_balance_at_an_instant_is_the_balance_as_of_then(alice, account, fund):
    first = fund(account, "100.00")
    time.sleep(0.002)  # two distinct instants, with room between them
    second = fund(account, "50.00")
    between = first.created_at + (second.created_at - first.created_at) / 2
    assert first.created_at < between < second.created_at
    assert alice.get(f"/accounts/{account.pk}/balance", {"at": first.created_at.isoformat()}).json()["balance"] == "100.00"
    assert alice.get(f"/accounts/{account.pk}/balance", {"at": between.isoformat()}).json()["balance"] == "100.00"
    assert alice.get(f"/accounts/{account.pk}/balance", {"at": second.created_at.isoformat()}).json()["balance"] == "150.00"


def test_balance_before_the_first_transaction_is_zero(alice, account, fund):
    fund(account, "100.00")
    earlier = (timezone.now() - timedelta(days=1)).isoformat()
    assert alice.get(f"/accounts/{account.pk}/balance", {"at": earlier}).json()["balance"] == "0.00"


def test_balance_at_accepts_a_date_as_the_end_of_that_day(alice, account, fund):
    fund(account, "100.00")
    today = timezone.now().date().isoformat()
    body = alice.get(f"/accounts/{account.pk}/balance", {"at": today}).json()
    assert body["balance"] == "100.00"


def test_balance_at_with_an_unencoded_plus_offset_is_understood(alice, account, fund):
    fund(account, "5.00")
    later = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    response = alice.get(f"/accounts/{account.pk}/balance?at={later}+00:00")
    assert response.status_code == 200
    assert response.json()["balance"] == "5.00"


@pytest.mark.parametrize("at", ["yesterday", "2025-13-01", "2025-08-16T25:00:00", ""])
def test_balance_at_with_an_invalid_instant_is_400(alice, account, at):
    response = alice.get(f"/accounts/{account.pk}/balance", {"at": at})
    assert response.status_code == 400
    assert "ISO 8601" in response.json()["error"]


@pytest.mark.parametrize("path", ["/accounts/{id}", "/accounts/{id}/balance", "/transactions/{id}"])
def test_unknown_account_is_404(alice, path):
    response = alice.get(path.format(id=999999))
    assert response.status_code == 404
    assert response.json() == {"error": "Account not found."}


@pytest.mark.parametrize("path", ["/accounts/abc", "/accounts/-1/balance", "/accounts/1.5", "/accounts/" + "9" * 30])
def test_malformed_account_ids_are_404_json(alice, path):
    response = alice.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert "error" in response.json()


def test_unauthenticated_account_requests_are_401(api, account):
    for response in (
        api.post("/accounts", {"bank_name": "B", "branch": "M"}, format="json"),
        api.get(f"/accounts/{account.pk}"),
        api.get("/accounts/all"),
        api.get(f"/accounts/{account.pk}/balance"),
    ):
        assert response.status_code == 401
        assert "Authentication token required" in response.json()["error"]


def test_balance_is_exact_after_many_cent_deposits(alice, account, fund):
    for _ in range(30):
        fund(account, "0.10")
    assert alice.get(f"/accounts/{account.pk}/balance").json()["balance"] == "3.00"
    assert Decimal(alice.get(f"/accounts/{account.pk}").json()["balance"]) == Decimal("3.00")
