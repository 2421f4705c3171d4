#!/usr/bin/env python3
"""Where a request's time goes, under load: the CPU split and a profile.

    bash bench/profile.sh [--op transfer_keyed] [--duration 10] [--concurrency 16]

Starts its own PostgreSQL (durable, with ``pg_stat_statements``) and gunicorn (production
settings, request log on, as bench/run.py), drives one operation from bench/load.py, and
meanwhile samples every gunicorn worker with py-spy (``--gil``: only the thread holding
the GIL, so the samples are the server's Python CPU). Prints, per operation:

- CPU per operation of the load generator, the app server and PostgreSQL (/proc and
  getrusage around the run), so that the share each side takes of the machine shows;
- the server's CPU by layer: HTTP server, Django (middleware, URLs, signals), DRF
  (parsing, auth, negotiation, throttles, serializers), JSON, the service and view code,
  the SQL client (Django's database layer and psycopg2), logging; each sample goes to
  the innermost frame that belongs to one of them;
- PostgreSQL's statements per operation (``pg_stat_statements``: calls, with BEGIN and
  COMMIT) and their execution time.

Writes bench/results/profile.json.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))

from cpu import ProcessTree, cluster_tree  # noqa: E402
from pg_throwaway import free_port, psql, throwaway_postgres  # noqa: E402
from run import DEFAULT_WORKERS, PY, RESULTS, WORKER_CLASSES, drive, load_fixtures, log, setup_django, start_gunicorn  # noqa: E402

# Layers, tried in this order on each frame from the innermost out; a sample counts for
# the first layer one of its frames belongs to (the standard library's frames count for
# whoever called them, except json and logging).
LAYERS = [
    ("JSON", re.compile(r"(^|/)json/|orjson")),
    ("logging", re.compile(r"(^|/)logging/")),
    ("SQL client (Django db, psycopg2)", re.compile(r"(^|/)django/db/|psycopg2|banking/postgresql/")),
    ("DRF", re.compile(r"(^|/)rest_framework/")),
    ("Django (handlers, middleware, URLs, signals)", re.compile(r"(^|/)(django|whitenoise)/")),
    ("HTTP server (gunicorn)", re.compile(r"(^|/)gunicorn/|banking/gunicorn_worker\.py|banking/wsgi\.py")),
    ("service, selectors, views", re.compile(r"(^|/)(transactions|accounts|users|events|banking)/")),
]
OTHER = "other (interpreter, standard library)"
_FRAME = re.compile(r"\(([^()]*):\d+\)$")


def layer_of(stack: list[str]) -> str:
    for frame in reversed(stack):  # innermost last in py-spy's raw format
        match = _FRAME.search(frame)
        path = match.group(1) if match else frame
        for name, pattern in LAYERS:
            if pattern.search(path):
                return name
    return OTHER


def _samples(raw_files: list[Path]):
    """(stack, samples) from py-spy's raw output: frames outermost first."""
    for path in raw_files:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, samples = line.rpartition(" ")
            if stack and samples.isdigit():
                yield stack.split(";"), int(samples)


def layers(raw_files: list[Path]) -> dict[str, int]:
    counts: collections.Counter = collections.Counter()
    for stack, samples in _samples(raw_files):
        counts[layer_of(stack)] += samples
    return dict(counts)


def hottest(raw_files: list[Path], top: int = 12) -> list[tuple[str, float]]:
    """The functions whose own code (innermost frame) took most samples, with their share."""
    counts: collections.Counter = collections.Counter()
    for stack, samples in _samples(raw_files):
        counts[stack[-1]] += samples
    total = sum(counts.values()) or 1
    return [(frame, 100 * n / total) for frame, n in counts.most_common(top)]


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def statements(database_url: str) -> list[dict]:
    out = psql(database_url, "SELECT calls, round(total_exec_time::numeric, 1), left(regexp_replace(query, "
                             "'\\s+', ' ', 'g'), 90) FROM pg_stat_statements "
                             "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                             "ORDER BY calls DESC LIMIT 25")
    rows = []
    for line in out.splitlines():
        calls, ms, query = line.split("|", 2)
        rows.append({"calls": int(calls), "exec_ms": float(ms), "query": query})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", default="transfer_keyed,transfer,balance")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--worker-class", default="buffering", choices=list(WORKER_CLASSES))
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--keep", help="a directory to copy py-spy's raw stacks to")
    args = parser.parse_args()
    spy = shutil.which("py-spy", path=str(Path(PY).parent)) or shutil.which("py-spy")
    RESULTS.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(40)
    report: dict = {"ops": {}}
    options = ["-c shared_preload_libraries=pg_stat_statements", "-c pg_stat_statements.track=all"]
    with throwaway_postgres(durable=True, options=options) as database_url, tempfile.TemporaryDirectory() as tmp:
        setup_django(database_url, secret)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        psql(database_url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        fixtures_file = Path(tmp) / "fixtures.json"
        fixtures_file.write_text(json.dumps(load_fixtures(args.accounts, "1000000.00", prefix="prof")))
        port = free_port()
        env = {**os.environ, "CONN_MAX_AGE": "600", "WRITE_THROTTLE_RATE": "off", "SECURE_SSL_REDIRECT": "0"}
        del env["DATABASE_STATEMENT_TIMEOUT_MS"]
        server = start_gunicorn(port, env, args, log_path=Path(tmp) / "server.log")
        base_url = f"http://127.0.0.1:{port}"
        app, database = ProcessTree(server.pid), cluster_tree(database_url)
        try:
            for op in args.ops.split(","):
                drive(base_url, fixtures_file, op, concurrency=args.concurrency, duration=3)  # warm-up
                psql(database_url, "SELECT pg_stat_statements_reset()")
                raw = [Path(tmp) / f"{op}-{pid}.txt" for pid in worker_pids(server.pid)]
                spies = [subprocess.Popen([spy, "record", "--pid", path.stem.rsplit("-", 1)[1], "--gil", "--nonblocking",
                                           "--rate", str(args.rate), "--duration", str(int(args.duration)),
                                           "--format", "raw", "--output", str(path)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for path in raw]
                time.sleep(0.5)  # py-spy attached
                before = (resource.getrusage(resource.RUSAGE_CHILDREN), app.cpu_seconds(), database.cpu_seconds())
                r = drive(base_url, fixtures_file, op, concurrency=args.concurrency, duration=args.duration)
                after = (resource.getrusage(resource.RUSAGE_CHILDREN), app.cpu_seconds(), database.cpu_seconds())
                for s in spies:
                    s.wait(timeout=60)
                done = r["ok"] or 1
                # RUSAGE_CHILDREN also has the py-spy processes, reaped just now: take the
                # load generator's share from before their wait only.
                load_cpu = (after[0].ru_utime + after[0].ru_stime - before[0].ru_utime - before[0].ru_stime)
                split = {
                    "load generator": 1000 * load_cpu / done,
                    "app server": 1000 * (after[1] - before[1]) / done,
                    "PostgreSQL": 1000 * (after[2] - before[2]) / done,
                }
                by_layer = layers(raw)
                total = sum(by_layer.values()) or 1
                stmts = statements(database_url)
                per_op = sum(s["calls"] for s in stmts) / done
                report["ops"][op] = {"ops_per_s": r["ops_per_s"], "p99_ms": r["p99_ms"], "errors": r["errors"],
                                     "cpu_ms_per_op": {k: round(v, 3) for k, v in split.items()},
                                     "server_layers_pct": {k: round(100 * v / total, 1) for k, v in
                                                           sorted(by_layer.items(), key=lambda kv: -kv[1])},
                                     "statements_per_op": round(per_op, 2),
                                     "statements": [{**s, "per_op": round(s["calls"] / done, 2)} for s in stmts[:12]]}
                log(f"\n== {op}: {r['ops_per_s']:.0f} ops/s, p99 {r['p99_ms']:.0f} ms, {r['errors']} errors, "
                    f"{args.concurrency} clients")
                log("CPU per operation: " + ", ".join(f"{k} {v:.2f} ms" for k, v in split.items()))
                log("app server's Python CPU by layer (py-spy --gil):")
                for name, pct in report["ops"][op]["server_layers_pct"].items():
                    log(f"  {pct:5.1f}%  {split['app server'] * pct / 100:5.2f} ms  {name}")
                hot = hottest(raw)
                report["ops"][op]["hottest_functions_pct"] = [[f, round(p, 1)] for f, p in hot]
                log("hottest functions (own time):")
                for frame, pct in hot:
                    log(f"  {pct:5.1f}%  {frame}")
                if args.keep:
                    Path(args.keep).mkdir(parents=True, exist_ok=True)
                    for path in raw:
                        shutil.copy(path, args.keep)
                log(f"PostgreSQL statements per operation: {per_op:.2f}")
                for s in stmts[:8]:
                    log(f"  {s['calls'] / done:5.2f}  {s['exec_ms'] / s['calls']:.3f} ms  {s['query']}")
        finally:
            server.terminate()
            server.wait(timeout=30)
    (RESULTS / "profile.json").write_text(json.dumps(report, indent=2) + "\n")
    log(f"\nwrote {RESULTS / 'profile.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
