"""Reads from a real streaming replica with read-your-writes: a primary and a hot standby
made with ``pg_basebackup -R``, and gunicorn with DATABASE_REPLICA_URLS. Which server
answered a read is counted in the replica's own statement log."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from http.cookiejar import CookieJar
from urllib.parse import urlencode

import pytest

from scripts.pg_throwaway import psql, server_log, start, stop, throwaway_postgres, throwaway_replica
from tests.live_server import ROOT, Gunicorn, request

pytestmark = pytest.mark.postgres
LEDGER_TABLE = '"transactions_transaction"'
STAFF = {"username": "console", "password": "console-S3cret-pass"}


@pytest.fixture(scope="module")
def cluster():
    """The primary's URL, the replica's, and a server reading from the replica (lag limit 2 s)."""
    with throwaway_postgres() as primary:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "banking.settings.test", "DATABASE_URL": primary}
        env.pop("DATABASE_POOLER", None)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
        subprocess.run([sys.executable, "manage.py", "ensure_superuser"], cwd=ROOT, check=True, timeout=60,
                       stdout=subprocess.DEVNULL, env={**env, "DJANGO_SUPERUSER_USERNAME": STAFF["username"],
                                                       "DJANGO_SUPERUSER_PASSWORD": STAFF["password"]})
        with throwaway_replica(primary, options=["-c log_statement=all"]) as replica:
            server = Gunicorn(workers=2, threads=4, database=primary, env={
                "DATABASE_REPLICA_URLS": replica, "REPLICA_MAX_LAG_SECONDS": "2", "DATABASE_POOLER": "",
                "REQUEST_LOG_LEVEL": "WARNING"}).start()
            try:
                yield primary, replica, server.port
            finally:
                server.stop()


@pytest.fixture
def replay_paused(cluster):
    _, replica, _ = cluster
    psql(replica, "SELECT pg_wal_replay_pause()")
    yield
    psql(replica, "SELECT pg_wal_replay_resume()")


_users = iter(range(1, 10_000))


def customer(port: int) -> tuple[str, int]:
    """A new user with an account: its token and the account's id."""
    name = f"reader{next(_users)}"
    credentials = {"username": name, "password": "replica-S3cret-pass"}
    assert request(port, "POST", "/users", {**credentials, "email": f"{name}@example.com"})[0] == 201
    token = request(port, "POST", "/auth/login", credentials)[1]["token"]
    status, account = request(port, "POST", "/accounts", {"bank_name": "Replica Bank", "branch": "Main"}, token)
    assert status == 201
    return token, account["id"]


def deposit(port: int, token: str, account_id: int, amount: str = "10.00") -> int:
    status, body = request(port, "POST", "/transactions/deposit", {"account_id": account_id, "amount": amount}, token)
    assert status == 201
    return body["id"]


def replica_reads(replica: str, table: str = LEDGER_TABLE) -> int:
    """Statements on ``table`` the replica has run (log_statement=all)."""
    return sum(table in line for line in server_log(replica).splitlines() if "statement:" in line)


def caught_up(primary: str, replica: str, timeout: float = 20) -> None:
    target = psql(primary, "SELECT pg_current_wal_insert_lsn()")
    deadline = time.monotonic() + timeout
    while psql(replica, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") != "t":
        assert time.monotonic() < deadline, "the replica did not catch up"
        time.sleep(0.05)


def test_a_deposit_shows_in_the_next_history_read_even_with_replay_paused(cluster, replay_paused):
    _, replica, port = cluster
    token, account_id = customer(port)
    entry_id = deposit(port, token, account_id)
    assert psql(replica, f"SELECT count(*) FROM {LEDGER_TABLE} WHERE id = {entry_id}") == "0"  # not replayed
    status, history = request(port, "GET", f"/transactions/{account_id}", token=token)
    assert status == 200 and entry_id in [row["id"] for row in history]


def test_the_statement_balance_at_and_events_after_a_write_show_it_with_replay_paused(cluster, replay_paused):
    _, _, port = cluster
    token, account_id = customer(port)
    entry_id = deposit(port, token, account_id, "12.34")
    statement = request(port, "GET", f"/accounts/{account_id}/statement", token=token)[1]
    assert entry_id in [row["id"] for row in statement["transactions"]]
    at = request(port, "GET", f"/accounts/{account_id}/balance?at=2999-01-01", token=token)[1]
    assert at["balance"] == "12.34"
    events = request(port, "GET", "/events?type=transaction.created", token=token)[1]
    assert [event["data"]["id"] for event in events] == [entry_id]


def test_reads_go_to_the_replica_once_it_has_replayed_the_users_writes(cluster):
    primary, replica, port = cluster
    token, account_id = customer(port)
    entry_id = deposit(port, token, account_id)
    caught_up(primary, replica)
    before = replica_reads(replica)
    for _ in range(20):
        status, history = request(port, "GET", f"/transactions/{account_id}", token=token)
        assert status == 200 and entry_id in [row["id"] for row in history]
    assert replica_reads(replica) - before >= 20


def test_events_read_from_the_replica_are_complete_and_in_order(cluster):
    primary, replica, port = cluster
    token, account_id = customer(port)
    entries = [deposit(port, token, account_id, f"{n}.00") for n in range(1, 4)]
    caught_up(primary, replica)
    before = replica_reads(replica, '"events_event"')
    events = request(port, "GET", "/events?type=transaction.created", token=token)[1]
    assert [event["data"]["id"] for event in events] == entries
    after_first = request(port, "GET", f"/events?type=transaction.created&after={events[0]['id']}", token=token)[1]
    assert [event["data"]["id"] for event in after_first] == entries[1:]
    assert replica_reads(replica, '"events_event"') - before >= 2


def test_the_consoles_lists_read_from_the_replica(cluster):
    primary, replica, port = cluster
    base = f"http://127.0.0.1:{port}"
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    form = browser.open(f"{base}/admin/login/").read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    browser.open(urllib.request.Request(f"{base}/admin/login/", headers={"Referer": f"{base}/admin/login/"},
                                        data=urlencode({**STAFF, "csrfmiddlewaretoken": csrf, "next": "/admin/"}).encode()))
    caught_up(primary, replica)  # the login's session, among others
    before = {table: replica_reads(replica, table) for table in (LEDGER_TABLE, '"accounts_account"')}
    for path in ("/admin/transactions/transaction/", "/admin/accounts/account/"):
        page = browser.open(f"{base}{path}")
        assert page.status == 200 and "/admin/login/" not in page.url
    assert all(replica_reads(replica, table) > count for table, count in before.items())


def test_a_replica_lagging_past_the_limit_is_skipped(cluster, replay_paused):
    primary, replica, port = cluster
    token, account_id = customer(port)
    time.sleep(0.5)  # let the replay pause take hold before the writes below
    writer, writer_account = customer(port)  # someone else's writes, not replayed: the replica lags
    deposit(port, writer, writer_account)
    time.sleep(2.5)  # past REPLICA_MAX_LAG_SECONDS
    before = replica_reads(replica)
    statuses = [request(port, "GET", f"/transactions/{account_id}", token=token)[0] for _ in range(10)]
    assert statuses == [200] * 10
    assert replica_reads(replica) == before  # every one read from the primary


def test_stopping_the_replica_under_load_fails_no_request(cluster):
    primary, replica, port = cluster
    clients = [customer(port) for _ in range(6)]
    caught_up(primary, replica)
    statuses: list[int] = []
    lock = threading.Lock()
    running = True

    def load(token: str, account_id: int) -> None:
        n = 0
        while running:
            n += 1
            path = (f"/transactions/{account_id}", f"/accounts/{account_id}/statement", "/events")[n % 3]
            if n % 5 == 0:
                status, _ = request(port, "POST", "/transactions/deposit", {"account_id": account_id, "amount": "1.00"},
                                    token)
            else:
                status, _ = request(port, "GET", path, token=token)
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=load, args=client) for client in clients]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        served_by_replica = replica_reads(replica)
        stop(replica)  # at once, mid-query for some
        time.sleep(2.5)
    finally:
        running = False
        for thread in threads:
            thread.join(timeout=30)
        start(replica)
    assert served_by_replica > 0  # the load did read from the replica before it went
    assert len(statuses) > 100
    assert set(statuses) <= {200, 201}, sorted(set(statuses))
