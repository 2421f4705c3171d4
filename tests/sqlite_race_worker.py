"""Run by tests/test_sqlite.py in a subprocess: a real SQLite file database (the embedded
default), migrated, then hammered by threads through the API. Prints a JSON summary."""
from __future__ import annotations

import json
import os
import random
import sys
import threading

os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "banking.settings.test")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import django  # noqa: E402

django.setup()

from decimal import Decimal  # noqa: E402

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from accounts.services import account_create  # noqa: E402
from transactions import services  # noqa: E402
from transactions.audit import audit_ledger  # noqa: E402
from transactions.selectors import balance_get  # noqa: E402
from users.models import User  # noqa: E402
from users.services import token_issue  # noqa: E402


def main() -> None:
    call_command("migrate", verbosity=0)
    assert connection.vendor == "sqlite"
    owners = [User.objects.create_user(username=f"u{i}", password="x-long-password") for i in range(4)]
    accounts = [account_create(user=u, bank_name="B", branch="C") for u in owners]
    for account in accounts:
        services.deposit_create(account_id=account.pk, amount=Decimal("100.00"), initiated_by=account.user,
                                owner=account.user)
    keys = {a.pk: token_issue(user=a.user)[1] for a in accounts}
    outcomes: list[tuple[str, int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    def worker(index: int) -> None:
        rng = random.Random(index)
        barrier.wait()
        try:
            for _ in range(60):
                src, dst = rng.sample(accounts, 2)
                client = APIClient()
                client.credentials(HTTP_AUTHORIZATION=f"Token {keys[src.pk]}")
                kind = "withdraw" if rng.random() < 0.3 else "transfer"
                if kind == "withdraw":
                    response = client.post("/transactions/withdraw",
                                           {"account_id": src.pk, "amount": "7.00"}, format="json")
                else:
                    response = client.post("/transactions/transfer",
                                           {"from_account_id": src.pk, "to_account_id": dst.pk,
                                            "amount": f"{rng.randint(1, 4000) / 100:.2f}"}, format="json")
                with lock:
                    outcomes.append((kind, response.status_code))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = audit_ledger()
    print(json.dumps({
        "outcomes": outcomes,
        "balances": [str(balance_get(account_id=a.pk)) for a in accounts],
        "audit_ok": report.ok,
        "problems": report.problems,
    }))


if __name__ == "__main__":
    main()
