#!/usr/bin/env python3
"""Scale-out benchmark: one app server on the primary against two app servers through
PgBouncer with one streaming replica, in the same run, on the same cluster.

    bash bench/scale.sh [--duration 10] [--concurrency 16] [--workers 4]

1. starts a throwaway PostgreSQL 15 (fsync on), migrates it, loads 100 funded accounts;
2. makes a hot-standby replica of it (``pg_basebackup -R``) and starts PgBouncer (transaction
   pooling) in front of the primary;
3. single node: one gunicorn (``--workers`` workers) straight to the primary, no replica;
4. scaled: two gunicorns (half the workers each, so the same CPU for the app), both
   through PgBouncer, with DATABASE_REPLICA_URLS naming the replica; the load is split
   evenly over them (two load processes);
5. for each: history reads (replica-routed), balance reads (primary), transfers; ops/s,
   p50/p99 and errors, and how many statements the replica ran;
6. writes bench/results/scale.json.

Everything runs on this one machine, so the scaled set-up has no more CPU than the single
node: what it measures is the cost of the pooler and the router and that nothing fails,
not the capacity more machines would add (the README's Scaling section says what would).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))

from pg_throwaway import free_port, psql, throwaway_pgbouncer, throwaway_postgres, throwaway_replica  # noqa: E402
from run import PY, RESULTS, load_fixtures, log, setup_django, start_gunicorn  # noqa: E402

OPS = ["history", "balance", "transfer"]


def replica_statements(replica: str) -> int:
    """Transactions the replica has committed (every read there is one; so are the router's probes)."""
    return int(psql(replica, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))


def drive_split(ports: list[int], fixtures_file: Path, op: str, *, concurrency: int, duration: float) -> dict:
    """The load split evenly over the servers, one load process each, run at once."""
    share = concurrency // len(ports)
    processes = [subprocess.Popen(
        [PY, str(ROOT / "bench" / "load.py"), "--base-url", f"http://127.0.0.1:{port}", "--fixtures",
         str(fixtures_file), "--op", op, "--concurrency", str(share), "--duration", str(duration), "--seed", str(n)],
        stdout=subprocess.PIPE, text=True) for n, port in enumerate(ports, start=1)]
    parts = [json.loads(process.communicate()[0]) for process in processes]
    return {
        "op": op, "ops_per_s": round(sum(p["ops_per_s"] for p in parts), 1),
        # Percentiles of the whole are not those of the parts: the worse part's, as a bound.
        "p50_ms": max(p["p50_ms"] for p in parts), "p99_ms": max(p["p99_ms"] for p in parts),
        "errors": sum(p["errors"] for p in parts), "error_samples": sum((p["error_samples"] for p in parts), []),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers in all (split over two when scaled)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--pool-size", type=int, default=16, help="PgBouncer's server connections")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(40)
    result: dict = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "config": vars(args), "single": {}, "scaled": {},
    }
    with ExitStack() as stack:
        primary = stack.enter_context(throwaway_postgres(durable=True))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        setup_django(primary, secret)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        fixtures_file = tmp / "fixtures.json"
        fixtures_file.write_text(json.dumps(load_fixtures(args.accounts, "1000000.00", prefix="scale")))
        replica = stack.enter_context(throwaway_replica(primary))
        pooler = stack.enter_context(throwaway_pgbouncer(primary, pool_size=args.pool_size))
        log(f"primary {primary}, replica {replica}, PgBouncer {pooler}")

        base_env = {**os.environ, "CONN_MAX_AGE": "600", "WRITE_THROTTLE_RATE": "off", "SECURE_SSL_REDIRECT": "0"}
        del base_env["DATABASE_STATEMENT_TIMEOUT_MS"]
        layouts = {
            "single": ([{**base_env, "DATABASE_URL": primary}], args.workers),
            "scaled": ([{**base_env, "DATABASE_URL": pooler, "DATABASE_POOLER": "pgbouncer",
                         "DATABASE_REPLICA_URLS": replica}] * 2, args.workers // 2),
        }
        for name, (envs, workers) in layouts.items():
            options = SimpleNamespace(workers=workers, threads=args.threads, worker_class="buffering")
            ports = [free_port() for _ in envs]
            servers = [start_gunicorn(port, env, options, log_path=RESULTS / f"scale-{name}-{n}.log")
                       for n, (port, env) in enumerate(zip(ports, envs, strict=True))]
            try:
                drive_split(ports, fixtures_file, "balance", concurrency=args.concurrency, duration=2)  # warm-up
                for op in OPS:
                    before = replica_statements(replica)
                    r = drive_split(ports, fixtures_file, op, concurrency=args.concurrency, duration=args.duration)
                    r["replica_transactions"] = replica_statements(replica) - before
                    result[name][op] = r
                    for sample in r["error_samples"]:
                        log(f"   error sample ({name} {op}): {sample}")
            finally:
                for server in servers:
                    server.terminate()
                    server.wait(timeout=20)

    log(f"\n== Scale-out, {args.concurrency} clients, {args.duration:.0f} s each, on {result['machine']}")
    log(f"single: 1 gunicorn x {args.workers} workers x {args.threads} threads, straight to the primary")
    log(f"scaled: 2 gunicorns x {args.workers // 2} workers x {args.threads} threads, PgBouncer "
        f"({args.pool_size} server connections), 1 streaming replica")
    log(f"{'operation':<10}{'single ops/s':>14}{'p99 ms':>9}{'scaled ops/s':>14}{'p99 ms':>9}{'ratio':>8}"
        f"{'errors':>8}{'replica xacts':>15}")
    for op in OPS:
        single, scaled = result["single"][op], result["scaled"][op]
        ratio = scaled["ops_per_s"] / single["ops_per_s"]
        result.setdefault("ratios", {})[op] = round(ratio, 3)
        log(f"{op:<10}{single['ops_per_s']:>14.0f}{single['p99_ms']:>9.1f}{scaled['ops_per_s']:>14.0f}"
            f"{scaled['p99_ms']:>9.1f}{ratio:>7.2f}x{single['errors'] + scaled['errors']:>8}"
            f"{scaled['replica_transactions']:>15}")
    (RESULTS / "scale.json").write_text(json.dumps(result, indent=2))
    log(f"\nwrote {RESULTS / 'scale.json'}")
    return 1 if any(result[n][op]["errors"] for n in ("single", "scaled") for op in OPS) else 0


if __name__ == "__main__":
    sys.exit(main())
