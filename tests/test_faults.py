"""Availability under faults: a row lock held elsewhere never stalls the service, and a
database restart costs no failed request. Real PostgreSQL, real gunicorn."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from decimal import Decimal

import psycopg2
import pytest

from scripts.pg_throwaway import restart, throwaway_postgres
from tests.factories import AccountFactory
from tests.live_server import ROOT, Gunicorn, database_url, request
from transactions import services
from transactions.models import Transaction
from transactions.selectors import balance_get
from users.services import token_issue

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class RowLock:
    """Another session holding ``SELECT ... FOR UPDATE`` on one account row, as a stuck
    batch job or an operator's open psql transaction would."""

    def __init__(self, account_id: int, *, at_most: float = 20):
        self.conn = psycopg2.connect(database_url())
        self.conn.cursor().execute("SELECT id FROM accounts_account WHERE id = %s FOR UPDATE", [account_id])
        # Released after ``at_most`` seconds whatever happens, so that a request that
        # waits for the lock (the failure this guards against) fails the test, not hangs it.
        self._timer = threading.Timer(at_most, self.release)
        self._timer.start()
        self._released = threading.Lock()

    def release(self) -> None:
        self._timer.cancel()
        with self._released:
            if not self.conn.closed:
                self.conn.rollback()
                self.conn.close()


def _funded_account(amount: str = "100.00"):
    account = AccountFactory()
    services.deposit_create(account_id=account.pk, amount=Decimal(amount), initiated_by=account.user, owner=account.user)
    return account


def test_write_to_a_locked_account_fails_fast_with_a_retryable_503(alice, account, fund):
    fund(account, "100.00")
    lock = RowLock(account.pk, at_most=5)
    try:
        started = time.monotonic()
        response = alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "10.00"}, format="json")
        elapsed = time.monotonic() - started
    finally:
        lock.release()
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json()["error"].startswith("The account is busy with another operation. Nothing was changed")
    assert 0.9 < elapsed < 2.5
    assert balance_get(account_id=account.pk) == Decimal("100.00")
    assert Transaction.objects.filter(account=account).count() == 1


def test_retry_with_the_same_idempotency_key_after_a_lock_timeout_moves_money_once(alice, account, fund):
    fund(account, "100.00")
    body = {"account_id": account.pk, "amount": "10.00"}
    lock = RowLock(account.pk, at_most=5)
    try:
        first = alice.post("/transactions/withdraw", body, format="json", HTTP_IDEMPOTENCY_KEY="k-lock-1")
    finally:
        lock.release()
    second = alice.post("/transactions/withdraw", body, format="json", HTTP_IDEMPOTENCY_KEY="k-lock-1")
    third = alice.post("/transactions/withdraw", body, format="json", HTTP_IDEMPOTENCY_KEY="k-lock-1")
    assert (first.status_code, second.status_code, third.status_code) == (503, 201, 201)
    assert third["Idempotent-Replayed"] == "true"
    assert balance_get(account_id=account.pk) == Decimal("90.00")


def _timed(port: int, method: str, path: str, token: str | None = None, body: dict | None = None):
    started = time.monotonic()
    status, _ = request(port, method, path, body=body, token=token, timeout=15)
    return status, time.monotonic() - started


def test_a_held_row_lock_does_not_stall_other_accounts_or_health_checks():
    locked, other = _funded_account(), _funded_account()
    _, locked_token = token_issue(user=locked.user)
    _, other_token = token_issue(user=other.user)
    server = Gunicorn(workers=4, threads=4).start()
    lock = RowLock(locked.pk)
    stop = time.monotonic() + 8
    blocked: list[tuple[int, float]] = []
    others: list[tuple[int, float]] = []

    def hammer_locked_account():  # clients that keep retrying the locked account
        while time.monotonic() < stop:
            blocked.append(_timed(server.port, "POST", "/transactions/deposit", locked_token,
                                  {"account_id": locked.pk, "amount": "1.00"}))

    def use_other_account():
        while time.monotonic() < stop:
            others.append(_timed(server.port, "GET", f"/accounts/{other.pk}/balance", other_token))
            others.append(_timed(server.port, "GET", "/healthz"))
            time.sleep(0.02)

    threads = [threading.Thread(target=hammer_locked_account) for _ in range(4)]
    threads += [threading.Thread(target=use_other_account) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        lock.release()
        server.stop()
    assert blocked and {status for status, _ in blocked} == {503}
    assert max(seconds for _, seconds in blocked) < 2.5
    assert {status for status, _ in others} == {200}
    latencies = sorted(seconds for _, seconds in others)
    assert latencies[int(len(latencies) * 0.95)] < 0.25, latencies[-20:]
    assert Transaction.objects.filter(account=locked).count() == 1


def test_first_request_after_a_database_restart_succeeds():
    """Kept connections die with the server; each worker must reconnect on its own."""
    with throwaway_postgres() as url:
        env = {"DATABASE_URL": url}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True,
                       env={**_base_env(), **env}, timeout=300)
        server = Gunicorn(workers=2, threads=2, env={**env, "CONN_MAX_AGE": "600"}, database=url).start()
        try:
            body = {"username": "restart", "password": "restart-S3cret-pass"}
            assert request(server.port, "POST", "/users", body)[0] == 201
            status, login = request(server.port, "POST", "/auth/login", body)
            token = login["token"]
            for _ in range(20):  # warm a kept connection in every worker thread
                assert request(server.port, "GET", "/accounts", token=token)[0] == 200
            restart(url)
            statuses = [request(server.port, "GET", "/accounts", token=token)[0] for _ in range(20)]
            statuses += [request(server.port, "GET", "/healthz")[0] for _ in range(10)]
        finally:
            server.stop()
    assert statuses == [200] * 30


def _base_env() -> dict:
    import os

    return {**os.environ, "DJANGO_SETTINGS_MODULE": "banking.settings.test"}
