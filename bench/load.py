#!/usr/bin/env python3
"""Drive the API at a fixed concurrency and report throughput and latency.

Runs as its own process (so the load generator does not share an interpreter with
anything it measures), with aiohttp over keep-alive connections:

    python bench/load.py --base-url http://127.0.0.1:8000 --fixtures f.json \
        --op transfer --concurrency 16 --duration 10

``--fixtures`` is a JSON list of {"account_id": int, "token": str}. Operations: transfer
(between random fixture accounts, 0.01), transfer_keyed (the same with a fresh
``Idempotency-Key``, as careful clients send), deposit (1.00), withdraw (0.01), hold (a hold
of 0.01 then its capture: two requests, one operation), balance, balance_at (``--at``),
history (first page, 10 rows), events (a page of 10 after event ``--after``). ``--requests N`` sends exactly N requests
instead of running for a duration. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid

import aiohttp


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def build_request(op: str, rng: random.Random, fixtures: list[dict], args) -> tuple[str, str, dict | None, str]:
    me = rng.choice(fixtures)
    account = me["account_id"]
    if op in ("transfer", "transfer_keyed"):
        if args.transfer_to:
            target = args.transfer_to
        else:
            target = rng.choice([f for f in fixtures if f["account_id"] != account])["account_id"]
        body = {"from_account_id": account, "to_account_id": target, "amount": "0.01", "note": "bench"}
        return "POST", "/transactions/transfer", body, me["token"]
    if op == "hold":
        return "POST", "/transactions/holds", {"account_id": account, "amount": "0.01"}, me["token"]
    if op == "deposit":
        return "POST", "/transactions/deposit", {"account_id": account, "amount": "1.00"}, me["token"]
    if op == "withdraw":
        return "POST", "/transactions/withdraw", {"account_id": account, "amount": "0.01"}, me["token"]
    if op == "balance":
        return "GET", f"/accounts/{account}/balance", None, me["token"]
    if op == "balance_at":
        return "GET", f"/accounts/{account}/balance?at={args.at}", None, me["token"]
    if op == "events":
        # A consumer's poll: the next page after an event it has (the middle one, ``--after``).
        return "GET", f"/events?limit=10" + (f"&after={args.after}" if args.after else ""), None, me["token"]
    if op == "history":
        # Page size pinned to 10 so that every history length returns the same number of
        # rows: the comparison measures the cost of depth, not of a bigger answer.
        return "GET", f"/transactions/{account}?limit=10", None, me["token"]
    raise SystemExit(f"unknown op {op}")


async def run(args) -> dict:
    fixtures = json.load(open(args.fixtures))
    latencies: list[float] = []
    errors = 0
    error_samples: list[str] = []
    sent = 0
    connector = aiohttp.TCPConnector(limit=args.concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    deadline = time.perf_counter() + args.duration

    async with aiohttp.ClientSession(args.base_url, connector=connector, timeout=timeout) as session:
        async def worker(index: int) -> None:
            nonlocal errors, sent
            rng = random.Random(index * 7919 + args.seed)
            while True:
                if args.requests:
                    if sent >= args.requests:
                        return
                    sent += 1
                elif time.perf_counter() >= deadline:
                    return
                method, path, body, token = build_request(args.op, rng, fixtures, args)
                headers = {"Authorization": f"Token {token}"}
                if args.op == "transfer_keyed":
                    # Never from the seeded generator: a key sent in an earlier run would be a replay.
                    headers["Idempotency-Key"] = uuid.uuid4().hex
                started = time.perf_counter()
                try:
                    async with session.request(method, path, json=body, headers=headers) as response:
                        answer = await response.read()
                        ok = 200 <= response.status < 300
                    if ok and args.op == "hold":  # the capture of the hold just made
                        hold_id = json.loads(answer)["id"]
                        async with session.post(f"/transactions/holds/{hold_id}/capture", json={},
                                                headers=headers) as response:
                            answer = await response.read()
                            ok = 200 <= response.status < 300
                    if not ok and len(error_samples) < 5:
                        error_samples.append(f"{response.status} {answer[:200].decode(errors='replace')}")
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    ok = False
                    if len(error_samples) < 5:
                        error_samples.append(repr(exc))
                elapsed = time.perf_counter() - started
                if ok:
                    latencies.append(elapsed)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
        wall = time.perf_counter() - started

    latencies.sort()
    return {
        "op": args.op,
        "concurrency": args.concurrency,
        "requests": len(latencies) + errors,
        "ok": len(latencies),
        "errors": errors,
        "error_samples": error_samples,
        "seconds": round(wall, 3),
        "ops_per_s": round(len(latencies) / wall, 1) if wall else 0.0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--fixtures", required=True)
    parser.add_argument("--op", required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=0)
    parser.add_argument("--transfer-to", type=int, default=0)
    parser.add_argument("--at", default="")
    parser.add_argument("--after", type=int, default=0, help="events: the event id to read after")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    json.dump(asyncio.run(run(args)), sys.stdout)
    print()


if __name__ == "__main__":
    main()
