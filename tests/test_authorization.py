"""A user only ever sees and moves their own money; foreign accounts are "not found"."""
import pytest

from transactions.models import Transaction
from transactions.selectors import balance_get

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(account, other_account, fund):
    fund(account, "100.00")
    fund(other_account, "100.00")


@pytest.mark.parametrize("path", ["/accounts/{id}", "/accounts/{id}/balance", "/transactions/{id}",
                                  "/accounts/{id}/balance?at=2030-01-01"])
def test_another_users_account_is_not_found(bob, account, funded, path):
    response = bob.get(path.format(id=account.pk))
    assert response.status_code == 404
    assert response.json() == {"error": "Account not found."}


def test_another_users_accounts_are_not_listed(bob, account, other_account):
    ids = [a["id"] for a in bob.get("/accounts/all").json()]
    assert ids == [other_account.pk]


@pytest.mark.parametrize("path", ["/transactions/deposit", "/transactions/withdraw"])
def test_cannot_move_money_on_another_users_account(bob, account, funded, path):
    response = bob.post(path, {"account_id": account.pk, "amount": "10.00"}, format="json")
    assert response.status_code == 404
    assert response.json() == {"error": "Account not found."}
    assert balance_get(account_id=account.pk) == 100
    assert Transaction.objects.filter(account=account).count() == 1


def test_cannot_transfer_out_of_another_users_account(bob, account, other_account, funded):
    response = bob.post(
        "/transactions/transfer", {"from_account_id": account.pk, "to_account_id": other_account.pk, "amount": "10.00"},
        format="json",
    )
    assert response.status_code == 404
    assert balance_get(account_id=account.pk) == 100
    assert balance_get(account_id=other_account.pk) == 100


def test_foreign_and_missing_accounts_answer_identically(bob, account):
    foreign = bob.get(f"/accounts/{account.pk}")
    missing = bob.get("/accounts/987654321")
    assert (foreign.status_code, foreign.json()) == (missing.status_code, missing.json())


def test_a_transfer_may_credit_another_users_account(bob, account, other_account, funded):
    response = bob.post(
        "/transactions/transfer", {"from_account_id": other_account.pk, "to_account_id": account.pk, "amount": "10.00"},
        format="json",
    )
    assert response.status_code == 201
    assert balance_get(account_id=account.pk) == 110


@pytest.mark.parametrize(
    "method, path",
    [("post", "/transactions/deposit"), ("post", "/transactions/withdraw"), ("post", "/transactions/transfer"),
     ("get", "/transactions/{id}"), ("get", "/accounts/{id}"), ("get", "/accounts/{id}/balance"),
     ("get", "/accounts/all"), ("post", "/accounts"), ("post", "/auth/logout")],
)
def test_every_protected_endpoint_needs_a_token(api, account, method, path):
    response = getattr(api, method)(path.format(id=account.pk), {}, format="json")
    assert response.status_code == 401
    assert "Authentication token required" in response.json()["error"]
