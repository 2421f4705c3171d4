#!/usr/bin/env python3
"""The benchmark: one command, its own PostgreSQL and gunicorn, one report.

    bash bench/run.sh [--duration 10] [--concurrency 16] [--workers <cores + 1>]

1. starts a throwaway PostgreSQL 15 (default durability: fsync on) and migrates it;
2. loads 100 users with one funded account each, and a token each;
3. starts gunicorn with production settings (DEBUG off);
4. drives the API from a separate process (bench/load.py: HTTP/1.1 keep-alive on uvloop) for each operation:
   transfers with and without an Idempotency-Key, deposits, withdrawals, holds (create
   and capture), balance reads and history pages over 100 accounts, and transfers under
   contention (4 accounts); prints ops/s, p50/p95/p99, errors, and the CPU each
   operation cost the load generator, the app server and PostgreSQL;
5. runs pgbench's TPC-B-like transaction on the same cluster (prepared and simple
   protocol, same client count) and prints transfers/s as a ratio of it;
6. webhook delivery: a backlog of events delivered by one worker to a local receiver that
   verifies each signature (bench/webhooks.py), in events/s;
7. history-length series: accounts with 10, 10,000 and 1,000,000 ledger rows (bulk-loaded
   in SQL in the services' row format, then checked with verify_ledger), measuring p50
   latency of every balance/history/write operation on each and its ratio to 10 rows
   (three rounds over all lengths in alternating order; the median of the rounds);
8. prints which of the performance targets (README) the run met;
9. writes bench/results/latest.json and bench/results/latest.png.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import re
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from cpu import ProcessTree, cluster_tree  # noqa: E402
from pg_throwaway import ensure_bindir, free_port, throwaway_postgres  # noqa: E402
from webhooks import delivery_rate  # noqa: E402
from webhooks import report as webhooks_report  # noqa: E402

PY = sys.executable
RESULTS = ROOT / "bench" / "results"
OPS = ["transfer_keyed", "transfer", "deposit", "withdraw", "hold", "balance", "history"]
# Workers as scripts/serve.sh starts them: one per core and one more.
DEFAULT_WORKERS = len(os.sched_getaffinity(0)) + 1  # nproc + 1
# "buffering" is what scripts/serve.sh runs: gthread, except that a thread only gets a
# request once it has arrived whole (banking/gunicorn_worker.py).
WORKER_CLASSES = {"buffering": "banking.gunicorn_worker.BufferingThreadWorker", "gthread": "gthread", "sync": "sync"}
HISTORY_OPS = ["balance", "balance_at", "history", "events", "events_by_type", "deposit", "withdraw", "transfer", "hold"]
# The issue's targets (README, "Benchmarks"), checked and printed at the end of a run.
TARGET_SHARE_OF_PGBENCH = 0.20  # keyed transfers/s against pgbench -M prepared
TARGET_P99_MS = 50
TARGET_BALANCE_READS = 2000
TARGET_CONTENDED = 0.60
TARGET_HISTORY_RATIO = 1.3
PROBE_ROUNDS = 3  # the history-length probes: rounds over every length (run.py, main)
EXPIRED_HOLDS = 10_000  # on each history of at least that many rows (as many as its rows below)


def log(message: str) -> None:
    print(message, flush=True)


def setup_django(database_url: str, secret: str) -> None:
    os.environ.update({
        "DATABASE_URL": database_url, "DJANGO_ENV": "production", "SECRET_KEY": secret,
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "DJANGO_SETTINGS_MODULE": "banking.settings",
        # This process bulk-loads a million rows: no statement timeout here (the server's
        # environment drops this, so it keeps the production default).
        "DATABASE_STATEMENT_TIMEOUT_MS": "0",
    })
    import django

    django.setup()


def load_fixtures(count: int, balance: str, prefix: str) -> list[dict]:
    from decimal import Decimal

    from django.contrib.auth.hashers import make_password

    from accounts.services import account_create
    from transactions import services
    from users.models import User, username_key
    from users.services import token_issue

    password = make_password(secrets.token_hex(8))  # hashed once: PBKDF2 x 100 would take a while
    # bulk_create skips User.save(), which derives username_key: set it here.
    users = User.objects.bulk_create(
        [User(username=f"{prefix}{i}", username_key=username_key(f"{prefix}{i}"), password=password)
         for i in range(count)]
    )
    # Opened as the API opens them (with their account.created events).
    accounts = [account_create(user=u, bank_name="Bench Bank", branch=f"B{i % 7}") for i, u in enumerate(users)]
    fixtures = []
    for user, account in zip(users, accounts, strict=True):
        services.deposit_create(account_id=account.pk, amount=Decimal(balance), note="bench funding",
                                initiated_by=user, owner=user)
        fixtures.append({"account_id": account.pk, "token": token_issue(user=user)[1]})
    return fixtures


def bulk_history(rows: int) -> dict:
    """An account with ``rows`` ledger entries, written straight in SQL in exactly the
    format the services write (``transactions.bulk``), so that a million load in seconds."""
    from django.db import connection

    from events.sql import EV, EVENTS
    from transactions.bulk import deposits_append, expired_holds_append
    from transactions.ledger_sql import HOLDS, LEDGER, POSTINGS, E

    fixture = load_fixtures(1, "1.00", prefix=f"hist{rows}_")[0]
    # load_fixtures posted one real deposit (seq 1, 1.00). Continue its ledger from seq 2.
    deposits_append(account_id=fixture["account_id"], count=rows - 1)
    # And holds that ran out unswept (still PENDING, so in the index of pending holds):
    # 10 on the shortest history, 10,000 on the others. The balance read answers the
    # available balance, so it shows what they cost.
    fixture["expired_holds"] = min(rows, EXPIRED_HOLDS)
    expired_holds_append(account_id=fixture["account_id"], count=fixture["expired_holds"])
    # Settle the tables before measuring, as a live database is: otherwise autovacuum
    # works through the fresh million rows on the same two cores during the probes.
    with connection.cursor() as cursor:
        for table in (LEDGER, POSTINGS, HOLDS, EVENTS):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute("CHECKPOINT")  # the load's dirty pages written now, not during the probes
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {E.created_at} FROM {LEDGER} WHERE {E.account} = %s AND {E.seq} = %s",
            [fixture["account_id"], max(1, rows // 2)],
        )
        fixture["middle"] = cursor.fetchone()[0].isoformat().replace("+00:00", "Z")
        cursor.execute(f"SELECT {EV.id} FROM {EVENTS} WHERE {EV.account_id} = %s ORDER BY {EV.id} OFFSET %s LIMIT 1",
                       [fixture["account_id"], max(0, rows // 2 - 1)])
        fixture["middle_event"] = cursor.fetchone()[0]
    fixture["rows"] = rows
    return fixture


def explain_hot_queries(account_id: int, middle: str) -> dict[str, list[str]]:
    """Plans of the per-request ledger queries on the longest history: each must be an
    index probe (no Seq Scan, no Sort over the account's rows)."""
    from django.db import connection

    from django.utils import timezone

    from transactions.ledger_sql import held_sql, locked_heads_sql
    from transactions.selectors import account_entries

    def sql(queryset) -> tuple[str, list]:
        query, params = queryset.query.sql_with_params()
        return query, list(params)

    entries = account_entries(account_id=account_id)
    # The queries themselves (not copies): the writers' read under the account lock
    # (ledger_sql.accounts_lock), and the reads' from the selectors.
    now = timezone.now()
    queries = {
        "ledger head and holds under the lock (every debit)": (
            locked_heads_sql(1, held_sql("a.id"), False), [now, account_id]),
        "ledger head (balance)": sql(entries.order_by("-seq").values("seq", "balance_after")[:1]),
        "balance at instant": sql(entries.filter(created_at__lte=middle).order_by("-created_at", "-seq")
                                  .values("balance_after")[:1]),
        "history page": sql(entries.order_by("-seq")[:51]),
        "active holds (available balance, every debit)": (f"SELECT {held_sql('%s')}", [account_id, now]),
    }
    plans = {}
    with connection.cursor() as cursor:
        for name, (query, params) in queries.items():
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + query, params)
            lines = [row[0].strip() for row in cursor.fetchall()]
            plans[name] = [line for line in lines if "Scan" in line or "Execution Time" in line]
    return plans


def start_gunicorn(port: int, env: dict, args, *, root: Path = ROOT, log_path: Path | None = None) -> subprocess.Popen:
    """gunicorn serving the tree at ``root`` (this checkout, or another commit's for
    bench/compare.py), with the worker class serve.sh runs; returns once /healthz answers."""
    command = [PY, "-m", "gunicorn", "banking.wsgi:application", "--bind", f"127.0.0.1:{port}",
               "--workers", str(args.workers), "--worker-class", WORKER_CLASSES[args.worker_class],
               "--log-level", "warning", "--no-control-socket"]
    if args.worker_class != "sync":
        command += ["--threads", str(args.threads), "--keep-alive", "5"]
    # The server's request log (one JSON line per request, as in production) goes to a file.
    log_file = open(log_path or RESULTS / "server.log", "w")
    process = subprocess.Popen(command, cwd=root, env=env, start_new_session=True, stdout=log_file, stderr=log_file)
    import http.client

    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start")


def drive(base_url: str, fixtures_file: Path, op: str, *, concurrency: int, duration: float = 0,
          requests: int = 0, extra: list[str] | None = None) -> dict:
    command = [PY, str(ROOT / "bench" / "load.py"), "--base-url", base_url, "--fixtures", str(fixtures_file),
               "--op", op, "--concurrency", str(concurrency)]
    command += ["--requests", str(requests)] if requests else ["--duration", str(duration)]
    output = subprocess.run(command + (extra or []), capture_output=True, text=True, check=True).stdout
    return json.loads(output)


def pgbench(database_url: str, *, clients: int, duration: float, protocol: str) -> float:
    bindir = ensure_bindir()
    match = re.match(r"postgres://(\w+)@([\d.]+):(\d+)/", database_url)
    user, host, port = match.groups()
    base = ["-h", host, "-p", port, "-U", user]
    subprocess.run([str(bindir / "createdb"), *base, "pgbench"], check=False, capture_output=True)
    subprocess.run([str(bindir / "pgbench"), *base, "-i", "-q", "-s", "10", "pgbench"], check=True, capture_output=True)
    output = subprocess.run(
        [str(bindir / "pgbench"), *base, "-c", str(clients), "-j", "2", "-T", str(int(duration)),
         "-M", protocol, "pgbench"], check=True, capture_output=True, text=True,
    ).stdout
    return float(re.search(r"tps = ([\d.]+)", output).group(1))


def _children_cpu() -> float:
    """CPU seconds of this process's reaped children: the load generator runs as one."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def targets(result: dict) -> dict[str, tuple[bool, str]]:
    """Each target of the performance issue, whether this run met it, and the figure."""
    rate = {r["op"]: r for r in result["throughput"]}
    share = result["pgbench"]["keyed_transfers_vs_prepared"]
    p99 = rate["transfer_keyed"]["p99_ms"]
    slowest_write = min(rate[op]["ops_per_s"] for op in ("deposit", "withdraw"))
    history = result["history_ratios"]
    worst = max(history, key=history.get)
    return {
        "keyed transfers >= 20% of pgbench prepared": (share >= TARGET_SHARE_OF_PGBENCH, f"{100 * share:.1f}%"),
        "keyed transfers p99 < 50 ms": (p99 < TARGET_P99_MS, f"{p99:.0f} ms"),
        "unkeyed transfers faster than keyed": (rate["transfer"]["ops_per_s"] >= rate["transfer_keyed"]["ops_per_s"],
                                                f"{rate['transfer']['ops_per_s']:.0f} vs {rate['transfer_keyed']['ops_per_s']:.0f}/s"),
        "deposits and withdrawals at least as fast as transfers": (
            slowest_write >= rate["transfer"]["ops_per_s"], f"{slowest_write:.0f} vs {rate['transfer']['ops_per_s']:.0f}/s"),
        "balance reads >= 2,000/s": (rate["balance"]["ops_per_s"] >= TARGET_BALANCE_READS,
                                     f"{rate['balance']['ops_per_s']:.0f}/s"),
        "contended >= 60% of uncontended": (result["pgbench"]["contended_vs_uncontended"] >= TARGET_CONTENDED,
                                            f"{100 * result['pgbench']['contended_vs_uncontended']:.0f}%"),
        "zero errors": (not any(r["errors"] for r in result["throughput"]),
                        f"{sum(r['errors'] for r in result['throughput'])}"),
        "1M rows within 1.3x of 10 rows, every endpoint": (history[worst] <= TARGET_HISTORY_RATIO,
                                                           f"worst {worst} {history[worst]:.2f}x"),
    }


def write_chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    labels = [r["op"].replace(" (", "\n(") for r in result["throughput"]] + ["pgbench\nprepared", "pgbench\nsimple"]
    values = [r["ops_per_s"] for r in result["throughput"]] + [result["pgbench"]["prepared_tps"], result["pgbench"]["simple_tps"]]
    colors = ["tab:blue"] * len(result["throughput"]) + ["tab:gray", "tab:gray"]
    left.bar(labels, values, color=colors)
    left.set_ylabel("operations per second")
    left.set_title(f"Throughput at {result['config']['concurrency']} clients (gunicorn + PostgreSQL 15)")
    left.tick_params(axis="x", labelsize=8)
    for x, v in enumerate(values):
        left.text(x, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    lengths = [s["rows"] for s in result["history"]]
    for op in HISTORY_OPS:
        right.plot(lengths, [s["p50_ms"][op] for s in result["history"]], marker="o", label=op)
    right.set_xscale("log")
    right.set_xlabel("ledger rows in the account (log scale)")
    right.set_ylabel("p50 latency (ms)")
    right.set_ylim(bottom=0)
    right.set_title("Latency against history length")
    right.legend(fontsize=8)
    fig.suptitle(f"Banking Backend benchmark, {result['date']} ({result['machine']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per throughput run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="gunicorn workers")
    parser.add_argument("--worker-class", default="buffering", choices=list(WORKER_CLASSES))
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (not sync)")
    parser.add_argument("--history", default="10,10000,1000000", help="history lengths to measure")
    parser.add_argument("--webhook-events", type=int, default=3000, help="events in the delivery run")
    parser.add_argument("--probe-requests", type=int, default=300, help="requests per latency probe")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(40)

    with throwaway_postgres(durable=True) as database_url, tempfile.TemporaryDirectory() as tmp:
        log(f"PostgreSQL: {database_url}")
        setup_django(database_url, secret)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        fixtures = load_fixtures(args.accounts, "1000000.00", prefix="bench")
        fixtures_file = Path(tmp) / "fixtures.json"
        fixtures_file.write_text(json.dumps(fixtures))
        contention_file = Path(tmp) / "contention.json"
        contention_file.write_text(json.dumps(fixtures[:4]))

        port = free_port()
        # The per-user write limit (default 100/second) is off unless BENCH_WRITE_THROTTLE_RATE
        # is given: this measures the ledger, and the contended run posts ~150 writes/s per user.
        throttle = os.environ.get("BENCH_WRITE_THROTTLE_RATE", "off")
        env = {**os.environ, "CONN_MAX_AGE": "600", "WRITE_THROTTLE_RATE": throttle, "SECURE_SSL_REDIRECT": "0"}
        del env["DATABASE_STATEMENT_TIMEOUT_MS"]
        server = start_gunicorn(port, env, args)
        base_url = f"http://127.0.0.1:{port}"
        result: dict = {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
            "config": {"concurrency": args.concurrency, "duration_s": args.duration, "accounts": args.accounts,
                       "gunicorn": f"{args.workers} {args.worker_class} workers"
                                   + (f" x {args.threads} threads" if args.worker_class != "sync" else "")},
            "throughput": [],
        }
        try:
            drive(base_url, fixtures_file, "balance", concurrency=args.concurrency, duration=2)  # warm-up
            log(f"\n== Throughput, {args.concurrency} clients, {args.duration:.0f} s each ({result['config']['gunicorn']})")
            log(f"{'operation':<22}{'ops/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
                f"   CPU ms/op: load gen, server, PostgreSQL")
            runs = [(op, fixtures_file, op) for op in OPS] + [("transfer (4 accounts)", contention_file, "transfer")]
            app, database = ProcessTree(server.pid), cluster_tree(database_url)
            for label, file, op in runs:
                before = (_children_cpu(), app.cpu_seconds(), database.cpu_seconds())
                r = drive(base_url, file, op, concurrency=args.concurrency, duration=args.duration)
                after = (_children_cpu(), app.cpu_seconds(), database.cpu_seconds())
                r["op"] = label
                r["cpu_ms_per_op"] = dict(zip(["load_generator", "server", "postgresql"],
                                              [round(1000 * (a - b) / max(1, r["ok"]), 2) for a, b in zip(after, before)]))
                result["throughput"].append(r)
                cpu = r["cpu_ms_per_op"]
                log(f"{label:<22}{r['ops_per_s']:>9.0f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['errors']:>8}"
                    f"   {cpu['load_generator']:.2f}, {cpu['server']:.2f}, {cpu['postgresql']:.2f}")
                for sample in r["error_samples"]:
                    log(f"   error sample: {sample}")

            prepared = pgbench(database_url, clients=args.concurrency, duration=args.duration, protocol="prepared")
            simple = pgbench(database_url, clients=args.concurrency, duration=args.duration, protocol="simple")
            rate = {r["op"]: r["ops_per_s"] for r in result["throughput"]}
            transfers, keyed, contended = rate["transfer"], rate["transfer_keyed"], rate["transfer (4 accounts)"]
            result["pgbench"] = {"prepared_tps": prepared, "simple_tps": simple,
                                 "keyed_transfers_vs_prepared": round(keyed / prepared, 3),
                                 "transfers_vs_prepared": round(transfers / prepared, 3),
                                 "transfers_vs_simple": round(transfers / simple, 3),
                                 "contended_vs_uncontended": round(contended / transfers, 3)}
            log(f"\n== pgbench TPC-B-like, same cluster, {args.concurrency} clients")
            log(f"prepared: {prepared:.0f} tps   simple: {simple:.0f} tps")
            log(f"our transfers/s with an Idempotency-Key = {keyed:.0f} = {100 * keyed / prepared:.1f}% of pgbench prepared; "
                f"without = {transfers:.0f} = {100 * transfers / prepared:.1f}% ({100 * transfers / simple:.1f}% of simple)")
            log(f"transfers under contention (4 accounts) = {100 * contended / transfers:.0f}% of 100-account rate")

            log("\n== Webhook delivery: a backlog of events, one worker, a local receiver verifying signatures")
            result["webhooks"] = delivery_rate(args.webhook_events, env)
            log(webhooks_report(result["webhooks"]))

            log("\n== History length: p50 latency (ms), one client, "
                f"{args.probe_requests} requests per operation")
            result["history"] = []
            sink = fixtures[-1]["account_id"]
            files = {}
            for rows in [int(x) for x in args.history.split(",")]:
                started = time.perf_counter()
                fixture = bulk_history(rows)
                result["history"].append({"rows": rows, "expired_holds": fixture["expired_holds"],
                                          "load_s": round(time.perf_counter() - started, 1), "p50_ms": {}})
                files[rows] = (Path(tmp) / f"history{rows}.json", fixture)
                files[rows][0].write_text(json.dumps([fixture]))
            # Every length is probed in each round, in alternating order, and each p50 is the
            # median of its rounds': the machine's drift over the minutes the probes take then
            # falls on all lengths alike, not on whichever ran last.
            p50s: dict[tuple[int, str], list[float]] = collections.defaultdict(list)
            for round_index in range(PROBE_ROUNDS):
                order = list(files) if round_index % 2 == 0 else list(reversed(list(files)))
                for op in HISTORY_OPS:
                    for rows in order:
                        file, fx = files[rows]
                        extra = ["--transfer-to", str(sink), "--at", fx["middle"], "--after", str(fx["middle_event"])]
                        if round_index == 0:
                            drive(base_url, file, op, concurrency=1, requests=30, extra=extra)  # warm-up
                        r = drive(base_url, file, op, concurrency=1,
                                  requests=max(1, args.probe_requests // PROBE_ROUNDS), extra=extra)
                        p50s[rows, op].append(r["p50_ms"])
            for series in result["history"]:
                series["p50_ms"] = {op: round(statistics.median(p50s[series["rows"], op]), 3) for op in HISTORY_OPS}
            rows, (_, fixture) = list(files.items())[-1]  # the longest history
            result["explain"] = explain_hot_queries(fixture["account_id"], fixture["middle"])
            log(f"\n== EXPLAIN ANALYZE at {rows:,} rows")
            for name, lines in result["explain"].items():
                log(f"{name}: " + " | ".join(lines))
            started = time.perf_counter()
            verify = subprocess.run([PY, "manage.py", "verify_ledger"], cwd=ROOT, env=env, capture_output=True, text=True)
            result["verify_ledger"] = (verify.stdout + verify.stderr).strip()
            result["verify_ledger_s"] = round(time.perf_counter() - started, 1)
            base = result["history"][0]
            log(f"{'ledger rows':<12}" + "".join(f"{s['rows']:>12,}" for s in result["history"]) + "   ratio longest/shortest")
            log(f"{'exp. holds':<12}" + "".join(f"{s['expired_holds']:>12,}" for s in result["history"])
                + "   (balance answers the available balance too)")
            for op in HISTORY_OPS:
                cells = "".join(f"{s['p50_ms'][op]:>12.2f}" for s in result["history"])
                ratio = result["history"][-1]["p50_ms"][op] / base["p50_ms"][op]
                log(f"{op:<12}{cells}   {ratio:.2f}x")
            result["history_ratios"] = {
                op: round(result["history"][-1]["p50_ms"][op] / base["p50_ms"][op], 3) for op in HISTORY_OPS
            }
            log(f"verify_ledger ({result['verify_ledger_s']} s): {result['verify_ledger']}")
            result["targets"] = targets(result)
            log("\n== Targets (README, \"Benchmarks\")")
            for name, (met, shown) in result["targets"].items():
                log(f"{'met    ' if met else 'NOT MET'}  {name}: {shown}")
        finally:
            server.terminate()
            server.wait(timeout=20)

    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2))
    write_chart(result, RESULTS / "latest.png")
    log(f"\nwrote {RESULTS / 'latest.json'} and {RESULTS / 'latest.png'}")
    errors = sum(r["errors"] for r in result["throughput"])
    return 1 if errors or result["webhooks"]["forged"] or "MISMATCH" in result["verify_ledger"] else 0


if __name__ == "__main__":
    sys.exit(main())
