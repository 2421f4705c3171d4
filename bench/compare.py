#!/usr/bin/env python3
"""A change against the commit before it, measured in one run on one cluster.

    bash bench/compare.sh [BASE] [--rounds 3] [--duration 8] [--ops transfer,deposit,withdraw]

BASE (default ``HEAD~1``) is any git revision; the other side is this working tree as it
is (uncommitted edits included). Both sides get their own database in one throwaway
PostgreSQL cluster (durable, as in bench/run.py), migrated and loaded by their own code
(100 users with one funded account each), and
their own gunicorn with identical settings (or, with --base-workers/--base-threads, the
base with other worker counts: `bash bench/compare.sh HEAD --base-workers 4` measures a
worker count against another on the same code). Only one side is driven at a time, by this
tree's load generator, and the rounds alternate which side goes first, so that a drift
of the machine (other load, caches, the cluster's growing tables) falls on both sides.
Prints each side's median ops/s per operation and their ratio, with every round's
figures, and the CPU time each operation cost the app server and PostgreSQL (read from
/proc around each measurement: steadier than throughput on a busy machine, and it says
which side of the wire a change costs); writes bench/results/compare.json.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))

from cpu import ProcessTree, cluster_tree  # noqa: E402
from pg_throwaway import free_port, throwaway_postgres  # noqa: E402
from run import DEFAULT_WORKERS, PY, RESULTS, WORKER_CLASSES, drive, log, pgbench, start_gunicorn  # noqa: E402

# Run inside a tree (cwd), with that tree's code: migrate its database and load 100 users
# with one funded account and a token each. Written against what both sides of a compare
# share (the models' save(), deposit_create, token_issue) rather than either bench's own
# loader, which may rely on what the other side lacks.
LOADER = """
import json, sys
from decimal import Decimal
sys.path.insert(0, "bench")
import run
run.setup_django(sys.argv[1], sys.argv[2])
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
call_command("migrate", verbosity=0)
from accounts.models import Account
from transactions import services
from users.models import User
from users.services import token_issue
password = make_password("bench")  # hashed once
fixtures = []
for i in range(int(sys.argv[3])):
    user = User(username=f"bench{i}", password=password)
    user.save()
    account = Account.objects.create(user=user, bank_name="Bench Bank", branch=f"B{i % 7}")
    services.deposit_create(account_id=account.pk, amount=Decimal("1000000.00"), note="bench funding",
                            initiated_by=user, owner=user)
    fixtures.append({"account_id": account.pk, "token": token_issue(user=user)[1]})
print(json.dumps(fixtures))
"""


def export_tree(revision: str, target: Path) -> str:
    """The tree of ``revision`` unpacked into ``target``; returns its short commit id."""
    commit = subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return commit


def database_url(cluster_url: str, name: str) -> str:
    return cluster_url.rsplit("/", 1)[0] + "/" + name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", nargs="?", default="HEAD~1", help="git revision to compare against")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--ops", default="transfer,deposit,withdraw")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="gunicorn workers")
    parser.add_argument("--worker-class", default="buffering", choices=list(WORKER_CLASSES))
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (not sync)")
    parser.add_argument("--base-workers", type=int, help="the base side's gunicorn workers (default: --workers)")
    parser.add_argument("--base-threads", type=int, help="the base side's threads per worker (default: --threads)")
    args = parser.parse_args()
    base_args = argparse.Namespace(**{**vars(args), "workers": args.base_workers or args.workers,
                                      "threads": args.base_threads or args.threads})
    ops = args.ops.split(",")
    RESULTS.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(40)

    with tempfile.TemporaryDirectory() as tmp, throwaway_postgres(durable=True) as cluster:
        base_root = Path(tmp) / "base"
        base_root.mkdir()
        base_commit = export_tree(args.base, base_root)
        sides = {f"base {base_commit}": base_root, "this tree": ROOT}
        log(f"PostgreSQL: {cluster}\ncomparing {' against '.join(reversed(list(sides)))}; gunicorn workers x threads: "
            f"base {base_args.workers} x {base_args.threads}, this tree {args.workers} x {args.threads}")
        database = cluster_tree(cluster)
        servers, urls, fixture_files, server_trees = [], {}, {}, {}
        try:
            for index, (name, root) in enumerate(sides.items()):
                url = database_url(cluster, f"side{index}")
                subprocess.run([PY, "-c", f"import psycopg2; c = psycopg2.connect({cluster!r}); c.autocommit = True; "
                                f"c.cursor().execute('CREATE DATABASE side{index}')"], check=True)
                fixtures = subprocess.run([PY, "-c", LOADER, url, secret, str(args.accounts)], cwd=root,
                                          check=True, capture_output=True, text=True).stdout
                fixture_files[name] = Path(tmp) / f"fixtures{index}.json"
                fixture_files[name].write_text(fixtures.strip().splitlines()[-1])
                env = {**os.environ, "DATABASE_URL": url, "DJANGO_ENV": "production", "SECRET_KEY": secret,
                       "ALLOWED_HOSTS": "127.0.0.1,localhost", "CONN_MAX_AGE": "600",
                       "WRITE_THROTTLE_RATE": "off", "SECURE_SSL_REDIRECT": "0"}
                port = free_port()
                servers.append(start_gunicorn(port, env, base_args if index == 0 else args, root=root,
                                              log_path=RESULTS / f"compare-server{index}.log"))
                server_trees[name] = ProcessTree(servers[-1].pid)
                urls[name] = f"http://127.0.0.1:{port}"
                drive(urls[name], fixture_files[name], "balance", concurrency=args.concurrency, duration=2)

            samples: dict[str, dict[str, list[float]]] = {op: {name: [] for name in sides} for op in ops}
            # CPU milliseconds per operation: app server, database.
            cpu_ms: dict[str, dict[str, list[tuple[float, float]]]] = {op: {name: [] for name in sides} for op in ops}
            errors = 0
            log(f"\n== {args.rounds} rounds, {args.concurrency} clients, {args.duration:.0f} s per measurement")
            for round_index in range(args.rounds):
                order = list(sides) if round_index % 2 == 0 else list(reversed(list(sides)))
                for op in ops:
                    for name in order:
                        app_before, db_before = server_trees[name].cpu_seconds(), database.cpu_seconds()
                        r = drive(urls[name], fixture_files[name], op, concurrency=args.concurrency,
                                  duration=args.duration)
                        app_ms = 1000 * (server_trees[name].cpu_seconds() - app_before) / max(1, r["ok"])
                        db_ms = 1000 * (database.cpu_seconds() - db_before) / max(1, r["ok"])
                        samples[op][name].append(r["ops_per_s"])
                        cpu_ms[op][name].append((app_ms, db_ms))
                        errors += r["errors"]
                        log(f"round {round_index + 1}  {op:<10} {name:<16} {r['ops_per_s']:>7.0f} ops/s  "
                            f"p99 {r['p99_ms']:>3.0f} ms  CPU/op: app {app_ms:.2f} ms, db {db_ms:.2f} ms  "
                            f"errors {r['errors']}")
            prepared = pgbench(cluster, clients=args.concurrency, duration=args.duration, protocol="prepared")
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=20)

    base_name, head_name = list(sides)
    result = {"base": base_commit, "rounds": args.rounds, "duration_s": args.duration,
              "pgbench_prepared_tps": prepared, "ops": {}}
    log(f"\n== medians ({base_name} -> this tree); pgbench prepared {prepared:.0f} tps on the same cluster")
    log(f"{'':<10} {'ops/s':>23}  {'app CPU ms/op':>21}  {'db CPU ms/op':>21}")
    for op in ops:
        base_median = statistics.median(samples[op][base_name])
        head_median = statistics.median(samples[op][head_name])
        app = {name: statistics.median(a for a, _ in cpu_ms[op][name]) for name in sides}
        db = {name: statistics.median(d for _, d in cpu_ms[op][name]) for name in sides}
        result["ops"][op] = {"base": samples[op][base_name], "head": samples[op][head_name],
                             "ratio": round(head_median / base_median, 3),
                             "cpu_ms_per_op": {"app": {"base": round(app[base_name], 3), "head": round(app[head_name], 3)},
                                               "db": {"base": round(db[base_name], 3), "head": round(db[head_name], 3)}}}
        log(f"{op:<10} {base_median:>7.0f} -> {head_median:>7.0f} {head_median / base_median:>5.2f}x  "
            f"{app[base_name]:>6.2f} -> {app[head_name]:>5.2f} {app[head_name] / app[base_name]:>5.2f}x  "
            f"{db[base_name]:>6.2f} -> {db[head_name]:>5.2f} {db[head_name] / db[base_name]:>5.2f}x")
        # Each round's two sides ran back to back: their ratio is one pair's verdict.
        pairs = {
            "ops/s": [h / b for b, h in zip(samples[op][base_name], samples[op][head_name])],
            "app CPU": [h[0] / b[0] for b, h in zip(cpu_ms[op][base_name], cpu_ms[op][head_name])],
            "db CPU": [h[1] / b[1] for b, h in zip(cpu_ms[op][base_name], cpu_ms[op][head_name])],
        }
        result["ops"][op]["pair_ratios"] = {k: [round(x, 3) for x in v] for k, v in pairs.items()}
        log(f"{'':<10} pairs: " + "; ".join(
            f"{k} {statistics.median(v):.2f}x ({min(v):.2f}-{max(v):.2f})" for k, v in pairs.items()))
    (RESULTS / "compare.json").write_text(json.dumps(result, indent=2))
    log(f"wrote {RESULTS / 'compare.json'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
