"""The per-request SQL runs as prepared statements on PostgreSQL (parsed and planned once
per connection), and never behind PgBouncer, where a session's statements would reach
other clients' server connections. (The test command runs this file both ways.)"""
from __future__ import annotations

import os

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from banking.db import prepared
from transactions.selectors import balance_get

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
POOLED = os.environ.get("DATABASE_POOLER") == "pgbouncer"
direct = pytest.mark.skipif(POOLED, reason="prepared statements are off behind PgBouncer")


def _prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def _deposit(client, account, amount="1.00", **headers):
    return client.post("/transactions/deposit", {"account_id": account.pk, "amount": amount}, format="json", **headers)


def _statements(call) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = call()
    assert response.status_code < 300, response.content
    # The test's own transaction turns each unit of work into a savepoint: not the request's.
    return [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]


@direct
def test_a_repeated_request_runs_only_prepared_statements(alice, account):
    _deposit(alice, account, HTTP_IDEMPOTENCY_KEY="first")
    again = _statements(lambda: _deposit(alice, account, HTTP_IDEMPOTENCY_KEY="second"))
    # The token lookup; the key's lookup; the lock and the ledger heads (one round trip);
    # the posting with its entries and events; the key with its answer.
    assert len(again) == 5
    assert all(sql.startswith("EXECUTE b_") for sql in again[:2] + again[3:])
    assert again[2].count("EXECUTE b_") == 2


@direct
def test_statements_are_prepared_once_per_connection(alice, account):
    _deposit(alice, account)
    names = _prepared_names()
    assert len(names) >= 3
    _deposit(alice, account)
    assert _prepared_names() == names


@direct
@pytest.mark.django_db(transaction=True)  # a connection closed inside the test's transaction could not go on
def test_a_new_connection_prepares_again(alice, account):
    _deposit(alice, account)
    connection.close()  # e.g. CONN_MAX_AGE passed, or the database restarted
    assert _deposit(alice, account).status_code == 201
    assert _prepared_names()
    assert balance_get(account_id=account.pk) == 2


@direct
def test_a_prepared_statement_outlives_a_rolled_back_request(alice, account, bob):
    _deposit(alice, account)
    # Bob's deposit into Alice's account: locked, then refused (404), rolled back.
    assert _deposit(bob, account).status_code == 404
    assert _deposit(alice, account).status_code == 201
    assert balance_get(account_id=account.pk) == 2


@pytest.mark.skipif(not POOLED, reason="runs in the test command's pass through PgBouncer")
def test_behind_pgbouncer_nothing_is_prepared(alice, account):
    statements = _statements(lambda: _deposit(alice, account))
    assert not any("EXECUTE" in sql or "PREPARE" in sql for sql in statements)
    assert prepared("SELECT 1") == "SELECT 1"
