from decimal import Decimal

import pytest

from tests.conftest import assert_ledger_consistent
from tests.factories import AccountFactory
from transactions.models import Transaction
from transactions.selectors import balance_get

pytestmark = pytest.mark.django_db

ROW_FIELDS = {"id", "account_id", "amount", "transaction_type", "status", "note", "created_at"}


def test_deposit_answers_201_with_the_row_and_new_balance(alice, account, user):
    response = alice.post(
        "/transactions/deposit", {"account_id": account.pk, "amount": "100.00", "note": "Initial deposit"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == ROW_FIELDS | {"new_balance"}
    assert body["account_id"] == account.pk
    assert body["amount"] == "100.00"
    assert body["transaction_type"] == "DEPOSIT"
    assert body["status"] == "SUCCESS"
    assert body["note"] == "Initial deposit"
    assert body["new_balance"] == "100.00"
    row = Transaction.objects.get(pk=body["id"])
    assert row.initiated_by == user and row.direction == "CREDIT"
    assert assert_ledger_consistent(account) == Decimal("100.00")


def test_deposit_note_is_optional(alice, account):
    response = alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "1"}, format="json")
    assert response.status_code == 201
    assert response.json()["note"] == ""
    assert response.json()["amount"] == "1.00"


def test_withdraw_answers_201_with_the_row_and_new_balance(alice, account, fund):
    fund(account, "100.00")
    response = alice.post(
        "/transactions/withdraw", {"account_id": account.pk, "amount": "50.00", "note": "ATM withdrawal"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == ROW_FIELDS | {"new_balance"}
    assert body["transaction_type"] == "WITHDRAWAL" and body["status"] == "SUCCESS"
    assert body["amount"] == "50.00" and body["new_balance"] == "50.00"
    assert body["note"] == "ATM withdrawal"
    assert assert_ledger_consistent(account) == Decimal("50.00")


def test_withdrawing_the_whole_balance_leaves_zero(alice, account, fund):
    fund(account, "10.00")
    response = alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "10.00"}, format="json")
    assert response.json()["new_balance"] == "0.00"


def test_withdraw_more_than_the_balance_is_400_and_moves_nothing(alice, account, fund):
    fund(account, "100.00")
    response = alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "100.01"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"error": "Insufficient balance: available 100.00, requested 100.01."}
    assert assert_ledger_consistent(account) == Decimal("100.00")


def test_refused_withdrawal_is_recorded_as_a_failed_row(alice, account, fund):
    fund(account, "5.00")
    alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "6.00", "note": "too much"}, format="json")
    failed = Transaction.objects.get(account=account, status="FAILED")
    assert failed.amount == Decimal("6.00") and failed.balance_after == Decimal("5.00")
    history = alice.get(f"/transactions/{account.pk}").json()
    assert history[0]["status"] == "FAILED" and history[0]["note"] == "too much"


def test_transfer_answers_201_with_both_legs_and_balances(alice, account, other_account, fund):
    fund(account, "50.00")
    response = alice.post(
        "/transactions/transfer",
        {"from_account_id": account.pk, "to_account_id": other_account.pk, "amount": "25.00", "note": "Payment for services"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"debit_transaction", "credit_transaction", "from_account_balance", "to_account_balance", "transfer_amount"}
    debit, credit = body["debit_transaction"], body["credit_transaction"]
    assert set(debit) == ROW_FIELDS and set(credit) == ROW_FIELDS
    assert debit["account_id"] == account.pk and credit["account_id"] == other_account.pk
    assert debit["amount"] == credit["amount"] == "25.00"
    assert debit["transaction_type"] == credit["transaction_type"] == "TRANSFER"
    assert debit["status"] == credit["status"] == "SUCCESS"
    assert debit["note"] == "Transfer to bob: Payment for services"
    assert credit["note"] == "Transfer from alice: Payment for services"
    assert body["from_account_balance"] == "25.00"
    assert body["to_account_balance"] == "25.00"
    assert body["transfer_amount"] == "25.00"
    assert assert_ledger_consistent(account) == Decimal("25.00")
    assert assert_ledger_consistent(other_account) == Decimal("25.00")


def test_transfer_legs_share_a_reference(alice, account, other_account, fund):
    fund(account, "10.00")
    body = alice.post(
        "/transactions/transfer", {"from_account_id": account.pk, "to_account_id": other_account.pk, "amount": "1"}, format="json"
    ).json()
    debit = Transaction.objects.get(pk=body["debit_transaction"]["id"])
    credit = Transaction.objects.get(pk=body["credit_transaction"]["id"])
    assert debit.posting_id == credit.posting_id is not None
    assert (debit.direction, credit.direction) == ("DEBIT", "CREDIT")
    assert debit.note == "Transfer to bob" and credit.note == "Transfer from alice"


def test_transfer_between_own_accounts_is_allowed(alice, account, user, fund):
    second = AccountFactory(user=user)
    fund(account, "10.00")
    response = alice.post(
        "/transactions/transfer", {"from_account_id": account.pk, "to_account_id": second.pk, "amount": "4.00"}, format="json"
    )
    assert response.status_code == 201
    assert balance_get(account_id=second.pk) == Decimal("4.00")


def test_transfer_from_someone_elses_account_to_itself_is_not_found(alice, other_account):
    body = {"from_account_id": other_account.pk, "to_account_id": other_account.pk, "amount": "1.00"}
    response = alice.post("/transactions/transfer", body, format="json")
    assert response.status_code == 404
    assert response.json() == {"error": "Account not found."}


def test_transfer_to_the_same_account_is_400(alice, account, fund):
    fund(account, "10.00")
    response = alice.post(
        "/transactions/transfer", {"from_account_id": account.pk, "to_account_id": account.pk, "amount": "1.00"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"error": "Cannot transfer to the same account."}
    assert Transaction.objects.filter(account=account).count() == 1


def test_transfer_more_than_the_balance_is_400_and_moves_nothing(alice, account, other_account, fund):
    fund(account, "10.00")
    response = alice.post(
        "/transactions/transfer", {"from_account_id": account.pk, "to_account_id": other_account.pk, "amount": "10.01"}, format="json"
    )
    assert response.status_code == 400
    assert "Insufficient balance" in response.json()["error"]
    assert balance_get(account_id=account.pk) == Decimal("10.00")
    assert not Transaction.objects.filter(account=other_account).exists()
    assert Transaction.objects.get(account=account, status="FAILED").note == "Transfer to bob"


def test_transfer_to_an_unknown_account_is_404_and_moves_nothing(alice, account, fund):
    fund(account, "10.00")
    response = alice.post(
        "/transactions/transfer", {"from_account_id": account.pk, "to_account_id": 999999, "amount": "1.00"}, format="json"
    )
    assert response.status_code == 404
    assert "not found" in response.json()["error"]
    assert Transaction.objects.filter(account=account).count() == 1


def test_history_lists_rows_newest_first_with_contract_fields(alice, account, other_account, fund):
    fund(account, "100.00")
    alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "30.00"}, format="json")
    alice.post("/transactions/transfer", {"from_account_id": account.pk, "to_account_id": other_account.pk, "amount": "20.00"}, format="json")
    response = alice.get(f"/transactions/{account.pk}")
    assert response.status_code == 200
    rows = response.json()
    assert [r["transaction_type"] for r in rows] == ["TRANSFER", "WITHDRAWAL", "DEPOSIT"]
    assert [r["amount"] for r in rows] == ["20.00", "30.00", "100.00"]
    assert all(set(r) == ROW_FIELDS | {"direction", "balance_after", "posting_id", "hold_id"} for r in rows)
    assert [(r["direction"], r["balance_after"]) for r in rows] == [
        ("DEBIT", "50.00"), ("DEBIT", "70.00"), ("CREDIT", "100.00")
    ]
    assert all(r["account_id"] == account.pk for r in rows)


def test_history_of_the_receiving_account_shows_the_credit(bob, account, other_account, fund):
    fund(account, "10.00")
    from transactions.services import transfer_create

    transfer_create(from_account_id=account.pk, to_account_id=other_account.pk, amount=Decimal("3"),
                    note="hi", initiated_by=account.user, owner=account.user)
    rows = bob.get(f"/transactions/{other_account.pk}").json()
    assert rows == [{**rows[0], "amount": "3.00", "note": "Transfer from alice: hi", "transaction_type": "TRANSFER"}]


def test_history_pages_with_a_link_header(alice, account, fund):
    for _ in range(7):
        fund(account, "1.00")
    first = alice.get(f"/transactions/{account.pk}", {"limit": 3})
    assert len(first.json()) == 3
    link = first["Link"]
    assert link.endswith('>; rel="next"')
    second = alice.get(link[1 : link.index(">")])
    third = alice.get(second["Link"][1 : second["Link"].index(">")])
    ids = [r["id"] for page in (first, second, third) for r in page.json()]
    assert len(ids) == 7 == len(set(ids))
    assert ids == sorted(ids, reverse=True)
    assert "Link" not in third


def test_history_default_page_is_50(alice, account, fund):
    for _ in range(51):
        fund(account, "1.00")
    response = alice.get(f"/transactions/{account.pk}")
    assert len(response.json()) == 50 and "Link" in response


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=abc", "cursor=-1", "cursor=x", "limit=%C2%B2", "cursor=%D9%A3"])
def test_history_with_invalid_paging_is_400(alice, account, query):
    response = alice.get(f"/transactions/{account.pk}?{query}")
    assert response.status_code == 400
    assert "must be a whole number" in response.json()["error"]


@pytest.mark.parametrize(
    "path, body",
    [
        ("/transactions/deposit/", {"account_id": "{id}", "amount": "1.00"}),
        ("/transactions/deposit", {"account_id": "{id}", "amount": "1.00"}),
    ],
)
def test_paths_work_with_and_without_trailing_slash(alice, account, path, body):
    body = {**body, "account_id": account.pk}
    assert alice.post(path, body, format="json").status_code == 201
    assert alice.get(f"/accounts/{account.pk}/balance/").status_code == 200
    assert alice.get("/accounts/all/").status_code == 200
    assert alice.get(f"/transactions/{account.pk}/").status_code == 200


@pytest.mark.parametrize(
    "method, path",
    [("get", "/transactions/deposit"), ("put", "/transactions/withdraw"), ("delete", "/accounts/{id}"),
     ("post", "/accounts/{id}/balance"), ("get", "/auth/login"), ("get", "/users")],
)
def test_wrong_method_is_405_json(alice, account, method, path):
    response = getattr(alice, method)(path.format(id=account.pk))
    assert response.status_code == 405
    assert "not allowed" in response.json()["error"]


def test_unknown_path_is_404_json(alice):
    response = alice.get("/no/such/path")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found."}


def test_unexpected_error_is_500_json_without_traceback(alice, account, monkeypatch):
    import accounts.views

    def explode(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(accounts.views, "owned_balance_get", explode)
    alice.raise_request_exception = False
    response = alice.get(f"/accounts/{account.pk}/balance")
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error."}
    assert b"secret internals" not in response.content and b"Traceback" not in response.content
