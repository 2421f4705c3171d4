#!/usr/bin/env python3
"""The staff console's cost at a long ledger: the dashboard (``GET /admin/``) and an
account's page, served by gunicorn with production settings, at a ledger of
``--rows`` entries (default 1,000,000) spread over the last 90 days.

    bash bench/dashboard.sh [--rows 1000000] [--requests 30]

It starts its own throwaway PostgreSQL (durable), bulk-loads the ledger in the format the
services write (``transactions.bulk.deposits_append``: half the rows are customers'
deposit entries, half their external-funds legs), lets the worker's roll-up
(``summaries_roll_up``) catch up as the running worker would, then logs a superuser in
and times each page ``--requests`` times one after the other, printing the median, p90
and max. The dashboard's target (issue 14) is under 300 ms at 1,000,000 rows.
"""
from __future__ import annotations

import argparse
import http.client
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))

from pg_throwaway import throwaway_postgres  # noqa: E402

DAYS = 90


def load_ledger(rows: int, accounts_count: int) -> int:
    """``rows`` ledger entries over the last ``DAYS`` days, on ``accounts_count`` accounts;
    the id of the first."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.utils import timezone

    from accounts.services import account_create
    from transactions.bulk import deposits_append
    from events.sql import EVENTS
    from transactions.ledger_sql import LEDGER, POSTINGS
    from users.models import User, username_key

    password = make_password(secrets.token_hex(8))
    users = User.objects.bulk_create(
        [User(username=f"board{i}", username_key=username_key(f"board{i}"), password=password)
         for i in range(accounts_count)]
    )
    accounts = [account_create(user=user, bank_name="Bench Bank", branch=f"B{i % 5}") for i, user in enumerate(users)]
    deposits = rows // 2 // accounts_count  # each deposit: the customer's entry and the external-funds leg
    start = timezone.now() - timedelta(days=DAYS)
    step_seconds = DAYS * 86400 / (deposits + 1)
    for account in accounts:
        deposits_append(account_id=account.pk, count=deposits, step=f"{step_seconds:.6f} seconds", start=start)
    with connection.cursor() as cursor:
        for table in (LEDGER, POSTINGS, EVENTS):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute(f"SELECT count(*) FROM {LEDGER}")
        print(f"ledger: {cursor.fetchone()[0]:,} entries over {DAYS} days on {accounts_count} account(s)", flush=True)
    return accounts[0].pk


def roll_up() -> float:
    from transactions.summaries import summaries_roll_up

    started = time.monotonic()
    while summaries_roll_up():
        pass
    return time.monotonic() - started


def session_cookie() -> str:
    """A logged-in superuser's session, as the login form would make it."""
    from django.conf import settings
    from django.test import Client

    from users.models import User

    admin = User.objects.create_superuser(username="boardadmin", password=secrets.token_hex(16))
    client = Client()
    client.force_login(admin)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def time_page(port: int, path: str, cookie: str, requests: int) -> dict:
    timings = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(requests + 2):
        started = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise SystemExit(f"GET {path}: {response.status} {body[:300]!r}")
        timings.append(elapsed)
    timings = sorted(timings[2:])  # the first two warm the worker's caches and connection
    return {"median_ms": statistics.median(timings), "p90_ms": timings[int(0.9 * (len(timings) - 1))],
            "max_ms": timings[-1], "bytes": len(body)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--accounts", type=int, default=20, help="accounts sharing the rows (1: one long account)")
    args = parser.parse_args()
    from run import setup_django, start_gunicorn

    with throwaway_postgres(durable=True) as database_url:
        setup_django(database_url, secrets.token_urlsafe(40))
        os.environ["SECURE_SSL_REDIRECT"] = "0"  # plain http on loopback
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        started = time.monotonic()
        account_id = load_ledger(args.rows, args.accounts)
        print(f"loaded in {time.monotonic() - started:.0f} s", flush=True)
        print(f"roll-up of the whole ledger: {roll_up():.1f} s (the worker does this a minute's worth at a time)",
              flush=True)
        cookie = session_cookie()
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_STATEMENT_TIMEOUT_MS"}
        port = free_port()
        server_args = argparse.Namespace(workers=2, worker_class="buffering", threads=4)  # as serve.sh
        with tempfile.TemporaryDirectory() as tmp:
            server = start_gunicorn(port, env, server_args, log_path=Path(tmp) / "server.log")
            try:
                results = {
                    "dashboard (GET /admin/)": time_page(port, "/admin/", cookie, args.requests),
                    "account page": time_page(port, f"/admin/accounts/account/{account_id}/change/", cookie,
                                              args.requests),
                    "account page, filtered (withdrawals)": time_page(
                        port, f"/admin/accounts/account/{account_id}/change/?kind=WITHDRAWAL", cookie,
                        args.requests),
                    "ledger list": time_page(port, "/admin/transactions/transaction/", cookie, args.requests),
                }
            finally:
                server.terminate()
                server.wait(timeout=30)
    print(f"{'page':<40}{'median ms':>10}{'p90 ms':>10}{'max ms':>10}", flush=True)
    for name, result in results.items():
        print(f"{name:<40}{result['median_ms']:>10.1f}{result['p90_ms']:>10.1f}{result['max_ms']:>10.1f}",
              flush=True)
    dashboard = results["dashboard (GET /admin/)"]["median_ms"]
    print(f"dashboard at {args.rows:,} rows: {dashboard:.0f} ms median "
          f"({'under' if dashboard < 300 else 'OVER'} the 300 ms target)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
