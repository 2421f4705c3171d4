#!/usr/bin/env python3
"""Webhook delivery throughput: how many events per second one delivery worker
(``manage.py deliver_webhooks``, default threads) sends to a local receiver that verifies
every signature with ``standardwebhooks``, as a user's would.

    bash bench/webhooks.sh [--events 5000]

Standalone it starts its own throwaway PostgreSQL (durable); ``bench/run.py`` calls
``delivery_rate`` on its own cluster. A backlog of deposits (each one
``transaction.created`` event with one delivery, written by the services as the API
writes them) is made first, with the worker stopped; then the worker starts and the time
from its first delivery to its last gives the rate. Every event must arrive exactly
once, verified, and every delivery must be recorded as delivered.
"""
from __future__ import annotations

import argparse
import os
import resource
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))

from pg_throwaway import throwaway_postgres  # noqa: E402
from tests.webhook_receiver import Receiver  # noqa: E402  (the tests' receiver: verifies every signature)

PY = sys.executable


def delivery_rate(count: int, env: dict, timeout: float = 300) -> dict:
    """Make ``count`` events for one endpoint, start a worker with ``env`` (the caller's
    Django settings are set up), and time their delivery."""
    from decimal import Decimal

    from django.test import override_settings

    from accounts.services import account_create
    from events.models import Delivery, DeliveryStatus
    from events.services import endpoint_create
    from transactions import services
    from users.models import User

    user = User.objects.create_user(username=f"hooks{secrets.token_hex(4)}", password=secrets.token_hex(16))
    account = account_create(user=user, bank_name="Bench Bank", branch="Hooks")
    receiver = Receiver().start()
    with override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=True):  # a local receiver: plain http on loopback
        made = endpoint_create(user=user, url=receiver.url + "/hooks", event_types=["transaction.created"],
                               description="bench")
    receiver.secrets["/hooks"] = made.secret
    for _ in range(count):
        services.deposit_create(account_id=account.pk, amount=Decimal("1.00"), initiated_by=user, owner=user)
    pending = Delivery.objects.filter(endpoint_id=made.endpoint.pk, status=DeliveryStatus.PENDING).count()
    worker_env = {**env, "WEBHOOK_ALLOW_PRIVATE_URLS": "1", "LOG_LEVEL": "WARNING"}
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    worker = subprocess.Popen([PY, "manage.py", "deliver_webhooks"], cwd=ROOT, env=worker_env,
                              stdout=subprocess.DEVNULL)
    try:
        while len(set(receiver.ids())) < count:
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"only {len(set(receiver.ids()))} of {count} events arrived in {timeout} s")
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited with {worker.returncode}")
            time.sleep(0.05)
        # Wait for the worker to record the last answers, then stop it.
        while Delivery.objects.filter(endpoint_id=made.endpoint.pk, status=DeliveryStatus.DELIVERED).count() < count:
            if time.monotonic() - started > timeout:
                raise RuntimeError("deliveries were received but not recorded as delivered")
            time.sleep(0.05)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        receiver.stop()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu_s = (children.ru_utime - children_before.ru_utime) + (children.ru_stime - children_before.ru_stime)
    first_seen: dict[str, float] = {}
    for received in receiver.received:
        first_seen.setdefault(received.webhook_id, received.at)
    times = sorted(first_seen.values())
    span = times[-1] - times[0]
    return {
        "events": count, "pending_before": pending, "received": len(first_seen),
        "arrivals": len(receiver.arrivals) + len(receiver.forged), "forged": len(receiver.forged),
        "events_per_s": round((count - 1) / span, 1) if span > 0 else None,
        "first_after_start_s": round(times[0] - started, 2),
        "worker_cpu_ms_per_event": round(1000 * worker_cpu_s / count, 2),
        "threads": int(env.get("WEBHOOK_WORKER_THREADS", "8")),
    }


def report(result: dict) -> str:
    return (f"{result['events']} events, one worker ({result['threads']} threads): "
            f"{result['events_per_s']:.0f} events/s delivered and verified "
            f"(worker CPU {result['worker_cpu_ms_per_event']} ms per event; {result['arrivals']} arrivals, "
            f"{result['forged']} forged; first {result['first_after_start_s']} s after the worker started)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    from run import setup_django

    with throwaway_postgres(durable=True) as database_url:
        setup_django(database_url, secrets.token_urlsafe(40))
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_STATEMENT_TIMEOUT_MS"}
        result = delivery_rate(args.events, env)
    print(report(result), flush=True)
    return 0 if result["received"] == args.events and not result["forged"] else 1


if __name__ == "__main__":
    sys.exit(main())
