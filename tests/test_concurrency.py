"""Real races against real PostgreSQL: rows must commit, so these tests run with
transaction=True (TransactionTestCase semantics) and real threads."""
import random
from decimal import Decimal

import pytest

from tests.concurrency import run_concurrently, token_client
from tests.conftest import assert_ledger_consistent
from tests.factories import AccountFactory, UserFactory
from transactions.models import Transaction
from transactions.selectors import balance_get
from users.services import token_issue

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_withdrawals_never_overdraw(fund):
    account = AccountFactory()
    fund(account, "100.00")
    _, key = token_issue(user=account.user)

    def withdraw(_):
        return token_client(key).post(
            "/transactions/withdraw", {"account_id": account.pk, "amount": "60.00"}, format="json"
        ).status_code

    statuses = run_concurrently(20, withdraw)
    assert sorted(statuses) == [201] + [400] * 19
    assert assert_ledger_consistent(account) == Decimal("40.00")
    assert Transaction.objects.filter(account=account, status="FAILED").count() == 19


def test_concurrent_transfers_out_of_one_account_never_overdraw(fund):
    source, target = AccountFactory(), AccountFactory()
    fund(source, "100.00")
    _, key = token_issue(user=source.user)

    def transfer(_):
        return token_client(key).post(
            "/transactions/transfer",
            {"from_account_id": source.pk, "to_account_id": target.pk, "amount": "7.00"},
            format="json",
        ).status_code

    statuses = run_concurrently(24, transfer)
    assert statuses.count(201) == 14  # 14 * 7.00 = 98.00 <= 100.00 < 15 * 7.00
    assert statuses.count(400) == 10
    assert assert_ledger_consistent(source) == Decimal("2.00")
    assert assert_ledger_consistent(target) == Decimal("98.00")


def test_opposite_transfers_never_deadlock_and_conserve_money(fund):
    alice, bob = UserFactory(), UserFactory()
    a, b = AccountFactory(user=alice), AccountFactory(user=bob)
    fund(a, "500.00")
    fund(b, "500.00")
    keys = {a.pk: token_issue(user=alice)[1], b.pk: token_issue(user=bob)[1]}

    def shuttle(index):
        rng = random.Random(index)
        statuses = []
        for _ in range(25):
            src, dst = (a, b) if rng.random() < 0.5 else (b, a)
            statuses.append(token_client(keys[src.pk]).post(
                "/transactions/transfer",
                {"from_account_id": src.pk, "to_account_id": dst.pk, "amount": f"{rng.randint(1, 5000) / 100:.2f}"},
                format="json",
            ).status_code)
        return statuses

    statuses = [s for batch in run_concurrently(16, shuttle) for s in batch]
    assert set(statuses) <= {201, 400}, statuses
    assert statuses.count(201) > 0
    total = assert_ledger_consistent(a) + assert_ledger_consistent(b)
    assert total == Decimal("1000.00")
    assert balance_get(account_id=a.pk) >= 0 and balance_get(account_id=b.pk) >= 0
    # Sequence numbers are gap-free per account: no two writers built on one head.
    for account in (a, b):
        seqs = list(Transaction.objects.filter(account=account).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))
