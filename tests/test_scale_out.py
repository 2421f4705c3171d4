"""Two app servers at once, as on two machines, both through one PgBouncer in transaction
pooling mode with fewer server connections than clients: the ledger's race rules hold
across processes, because nothing a request relies on lives in one of them."""
from __future__ import annotations

import os
import random
import threading
from decimal import Decimal

import pytest
from django.core.management import call_command

from scripts.pg_throwaway import throwaway_pgbouncer
from tests.concurrency import run_concurrently
from tests.factories import AccountFactory, UserFactory
from tests.live_server import Gunicorn, database_url, request
from transactions.models import Transaction
from transactions.selectors import balance_get
from users.services import token_issue

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def servers():
    """Two gunicorn servers (two workers of four threads each) through PgBouncer (four
    server connections); the ports, for requests to alternate between them."""
    with _pooled_database_url() as url:
        env = {"DATABASE_POOLER": "pgbouncer", "REQUEST_LOG_LEVEL": "WARNING"}
        pair = [Gunicorn(workers=2, threads=4, env=env, database=url) for _ in range(2)]
        try:
            for server in pair:
                server.start()
            yield [server.port for server in pair]
        finally:
            for server in pair:
                server.stop()


def _pooled_database_url():
    if os.environ.get("DATABASE_POOLER") == "pgbouncer":  # this run already goes through PgBouncer
        from contextlib import nullcontext

        return nullcontext(database_url())
    return throwaway_pgbouncer(database_url(), pool_size=4)


def _funded(amount: str, user=None):
    """A new account (of ``user``, or of a new user) holding ``amount``; its owner's token."""
    from transactions import services

    user = user or UserFactory()
    account = AccountFactory(user=user)
    if Decimal(amount):
        services.deposit_create(account_id=account.pk, amount=Decimal(amount), note="funding",
                                initiated_by=user, owner=user)
    return account, token_issue(user=user)[1]


def test_withdrawals_on_two_servers_never_double_spend(servers):
    account, token = _funded("100.00")
    statuses = run_concurrently(24, lambda i: request(
        servers[i % 2], "POST", "/transactions/withdraw", {"account_id": account.pk, "amount": "30.00"}, token)[0])
    assert sorted(statuses) == [201] * 3 + [400] * 21  # 400: insufficient funds (the contract)
    assert balance_get(account_id=account.pk) == Decimal("10.00")
    call_command("verify_ledger")


def test_two_way_transfers_on_two_servers_conserve_money(servers):
    first, token = _funded("500.00")
    second, _ = _funded("500.00", user=first.user)  # both the caller's: it may send either way
    statuses: list[int] = []
    lock = threading.Lock()

    def send(i: int) -> None:
        rng = random.Random(i)
        for n in range(15):
            source, target = (first, second) if (i + n) % 2 else (second, first)
            amount = f"{rng.randint(1, 9000) / 100:.2f}"
            status, _ = request(servers[(i + n) % 2], "POST", "/transactions/transfer",
                                {"from_account_id": source.pk, "to_account_id": target.pk, "amount": amount}, token)
            with lock:
                statuses.append(status)

    run_concurrently(12, send)
    assert set(statuses) <= {201, 400}  # a 400: not enough funds at that moment; never a 5xx
    assert statuses.count(201) > len(statuses) // 2
    assert balance_get(account_id=first.pk) + balance_get(account_id=second.pk) == Decimal("1000.00")
    assert balance_get(account_id=first.pk) >= 0 and balance_get(account_id=second.pk) >= 0
    call_command("verify_ledger")


def test_one_idempotency_key_sent_to_both_servers_moves_money_once(servers):
    account, token = _funded("0")
    headers = {"Idempotency-Key": "scale-out-retry-1"}
    answers = run_concurrently(16, lambda i: request(
        servers[i % 2], "POST", "/transactions/deposit", {"account_id": account.pk, "amount": "25.00"}, token,
        headers=headers))
    assert {status for status, _ in answers} == {201}
    assert len({body["id"] for _, body in answers}) == 1  # every answer names the one deposit
    assert Transaction.objects.filter(account=account).count() == 1
    assert balance_get(account_id=account.pk) == Decimal("25.00")
