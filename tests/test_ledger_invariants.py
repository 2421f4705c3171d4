"""Ledger invariants under real concurrency on PostgreSQL: no money created, lost or
overdrawn; no deadlock; running balances, sequence, time and ``?at=`` all agree."""
import random
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection

from tests.concurrency import run_concurrently, token_client
from tests.conftest import assert_ledger_consistent
from tests.factories import AccountFactory
from transactions.models import Transaction
from transactions.selectors import balance_at, balance_get
from users.services import token_issue

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def deadlocks_so_far() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_mixed_withdrawals_and_transfers_succeed_exactly_as_far_as_the_balance_allows(fund):
    source, target = AccountFactory(), AccountFactory()
    fund(source, "100.00")
    _, key = token_issue(user=source.user)

    def act(i):
        client = token_client(key)
        if i % 2:
            return client.post("/transactions/withdraw", {"account_id": source.pk, "amount": "10.00"}, format="json").status_code
        return client.post("/transactions/transfer", {"from_account_id": source.pk, "to_account_id": target.pk,
                                                      "amount": "10.00"}, format="json").status_code

    statuses = run_concurrently(44, act)  # 22 withdrawals + 22 transfers of 10.00 against 100.00
    assert statuses.count(201) == 10 and statuses.count(400) == 34
    assert assert_ledger_consistent(source) == Decimal("0.00")
    transfers_done = sum(1 for i, status in enumerate(statuses) if i % 2 == 0 and status == 201)
    assert assert_ledger_consistent(target) == Decimal("10.00") * transfers_done


def test_random_transfers_among_many_accounts_conserve_money(fund):
    """16 workers x 200 random transfers among 6 accounts, in both directions."""
    accounts = [AccountFactory() for _ in range(6)]
    for account in accounts:
        fund(account, "1000.00")
    keys = {account.pk: token_issue(user=account.user)[1] for account in accounts}
    deadlocks_before = deadlocks_so_far()

    def worker(index):
        rng = random.Random(index)
        clients = {pk: token_client(key) for pk, key in keys.items()}
        outcomes = []
        for _ in range(200):
            src, dst = rng.sample(accounts, 2)
            response = clients[src.pk].post(
                "/transactions/transfer",
                {"from_account_id": src.pk, "to_account_id": dst.pk, "amount": f"{rng.randint(1, 30000) / 100:.2f}"},
                format="json",
            )
            outcomes.append((response.status_code, response.json().get("error", "")))
        return outcomes

    outcomes = [o for batch in run_concurrently(16, worker, timeout=300) for o in batch]
    assert len(outcomes) == 3200
    assert {status for status, _ in outcomes} <= {201, 400}
    assert all(error.startswith("Insufficient balance") for status, error in outcomes if status == 400)
    assert sum(1 for status, _ in outcomes if status == 201) > 1000
    balances = [assert_ledger_consistent(account) for account in accounts]
    assert sum(balances) == Decimal("6000.00")
    assert min(balances) >= 0
    assert deadlocks_so_far() == deadlocks_before
    call_command("verify_ledger")


def test_sequence_time_and_balance_at_agree_under_concurrency(fund):
    accounts = [AccountFactory() for _ in range(3)]
    for account in accounts:
        fund(account, "500.00")
    keys = {account.pk: token_issue(user=account.user)[1] for account in accounts}

    def worker(index):
        rng = random.Random(1000 + index)
        for _ in range(40):
            src, dst = rng.sample(accounts, 2)
            token_client(keys[src.pk]).post(
                "/transactions/transfer",
                {"from_account_id": src.pk, "to_account_id": dst.pk, "amount": f"{rng.randint(1, 5000) / 100:.2f}"},
                format="json",
            )

    run_concurrently(12, worker)
    for account in accounts:
        rows = list(Transaction.objects.filter(account=account).order_by("seq"))
        assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
        assert all(a.created_at <= b.created_at for a, b in zip(rows, rows[1:]))
        # The balance as of each row's instant is that row's running balance (for the
        # last row at that instant), and history order is the sequence order.
        for row, following in zip(rows, rows[1:] + [None]):
            if following is None or following.created_at > row.created_at:
                assert balance_at(account_id=account.pk, at=row.created_at) == row.balance_after
        history = token_client(keys[account.pk]).get(f"/transactions/{account.pk}", {"limit": 500}).json()
        assert [h["id"] for h in history] == [r.pk for r in reversed(rows)]
        assert balance_get(account_id=account.pk) == rows[-1].balance_after
