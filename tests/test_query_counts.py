"""Every endpoint runs a small, fixed number of SQL statements, whatever the length of
the account's history. (Counts include the savepoint statements that the test's
surrounding transaction turns each atomic block into.)"""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[3, 120], ids=["short-history", "long-history"])
def history(request, account, other_account, fund):
    for _ in range(request.param):
        fund(account, "1.00")
    return request.param


def count(callable_) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = callable_()
    assert response.status_code < 300, response.content
    return len(queries)


WRITE_LIMITS = {"deposit": 6, "withdraw": 6, "transfer": 6}


@pytest.mark.postgres  # SQLite writes a posting in more statements (ledger_sql.insert_posting)
def test_deposit_statement_count_is_bounded(alice, account, history, django_assert_max_num_queries):
    with django_assert_max_num_queries(WRITE_LIMITS["deposit"]):
        alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "1.00"}, format="json")


@pytest.mark.postgres  # SQLite writes a posting in more statements (ledger_sql.insert_posting)
def test_withdraw_statement_count_is_bounded(alice, account, history, django_assert_max_num_queries):
    with django_assert_max_num_queries(WRITE_LIMITS["withdraw"]):
        alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "1.00"}, format="json")


@pytest.mark.postgres  # SQLite writes a posting in more statements (ledger_sql.insert_posting)
def test_transfer_statement_count_is_bounded(alice, account, other_account, history, django_assert_max_num_queries):
    with django_assert_max_num_queries(WRITE_LIMITS["transfer"]):
        alice.post("/transactions/transfer",
                   {"from_account_id": account.pk, "to_account_id": other_account.pk, "amount": "1.00"}, format="json")


@pytest.mark.postgres  # SQLite writes a posting in more statements (ledger_sql.insert_posting)
def test_a_keyed_transfer_runs_a_fixed_set_of_statements(alice, account, other_account, history,
                                                          django_assert_num_queries):
    """The token; the key's lookup; the savepoint the test's transaction makes of the
    unit of work; the lock with the ledger heads (one round trip); the posting with its
    entries and events; the key with its answer; the savepoint's release. Nothing else:
    no second write of the key, no savepoint of its own."""
    body = {"from_account_id": account.pk, "to_account_id": other_account.pk, "amount": "0.01"}
    with django_assert_num_queries(7):
        response = alice.post("/transactions/transfer", body, format="json", HTTP_IDEMPOTENCY_KEY="pinned")
    assert response.status_code == 201


def test_a_replayed_transfer_runs_only_the_token_and_the_key_lookup(alice, account, other_account,
                                                                    django_assert_num_queries):
    body = {"from_account_id": account.pk, "to_account_id": other_account.pk, "amount": "0.01"}
    alice.post("/transactions/transfer", body, format="json", HTTP_IDEMPOTENCY_KEY="again")
    with django_assert_num_queries(2):
        replay = alice.post("/transactions/transfer", body, format="json", HTTP_IDEMPOTENCY_KEY="again")
    assert replay["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    "path, limit",
    [("/accounts/{id}/balance", 2), ("/accounts/{id}/balance?at=2030-01-01", 3), ("/transactions/{id}", 3),
     ("/accounts/{id}", 3), ("/accounts/all", 3)],
)
def test_read_statement_count_is_bounded(alice, account, history, path, limit, django_assert_max_num_queries):
    with django_assert_max_num_queries(limit):
        assert alice.get(path.format(id=account.pk)).status_code == 200


def test_statement_counts_do_not_grow_with_history(alice, account, other_account, fund):
    def measure():
        return [
            count(lambda: alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "1.00"}, format="json")),
            count(lambda: alice.post("/transactions/transfer", {"from_account_id": account.pk,
                                                                "to_account_id": other_account.pk, "amount": "0.01"}, format="json")),
            count(lambda: alice.get(f"/transactions/{account.pk}")),
            count(lambda: alice.get(f"/accounts/{account.pk}/balance")),
        ]

    short = measure()
    for _ in range(200):
        fund(account, "1.00")
    assert measure() == short


@pytest.mark.postgres  # SQLite writes a posting in more statements (ledger_sql.insert_posting)
def test_a_hold_capture_runs_a_fixed_set_of_statements(alice, account, other_account, history,
                                                        django_assert_num_queries):
    """The token; the hold with its accounts; the accounts' lock with their ledger heads
    (one round trip); the hold's lock, which reads only its status and resolution; the
    posting with its entries and events; the hold marked captured; its events; the
    available balance for the answer."""
    hold = alice.post("/transactions/holds", {"account_id": account.pk, "amount": "1.00",
                                              "to_account_id": other_account.pk}, format="json").json()
    with django_assert_num_queries(8):
        response = alice.post(f"/transactions/holds/{hold['id']}/capture", {}, format="json")
    assert response.status_code == 201
