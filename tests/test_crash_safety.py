"""Kill the real server with SIGKILL in the middle of a transfer load, restart it, and
check that every acknowledged transfer is in the ledger whole, no half transfer exists,
money is conserved, and every change has its event and every event its change."""
import http.client
import random
import threading
import time
from decimal import Decimal

import pytest
from django.core.management import call_command

from events.models import Event
from tests.factories import AccountFactory
from tests.live_server import Gunicorn, request
from transactions.models import Hold, Posting, Transaction
from transactions.selectors import balance_get
from users.services import token_issue

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_sigkill_mid_load_loses_no_acknowledged_transfer_and_leaves_no_half_transfer(fund):
    accounts = [AccountFactory() for _ in range(5)]
    for account in accounts:
        fund(account, "1000.00")
    keys = {a.pk: token_issue(user=a.user)[1] for a in accounts}
    server = Gunicorn(workers=2).start()
    acknowledged: list[dict] = []
    unexpected: list[tuple[int, dict]] = []
    unknown_outcomes = 0
    stop = threading.Event()
    lock = threading.Lock()

    def client(index):
        nonlocal unknown_outcomes
        rng = random.Random(index)
        while not stop.is_set():
            src, dst = rng.sample(accounts, 2)
            body = {"from_account_id": src.pk, "to_account_id": dst.pk, "amount": f"{rng.randint(1, 2000) / 100:.2f}"}
            try:
                status, answer = request(server.port, "POST", "/transactions/transfer", body, keys[src.pk], timeout=5)
            except (OSError, http.client.HTTPException):
                # Refused, reset, or an answer cut off mid-body by the kill: outcome unknown.
                with lock:
                    unknown_outcomes += 1
                time.sleep(0.02)
                continue
            if status == 201:
                with lock:
                    acknowledged.append(answer)
            elif status != 400:
                with lock:
                    unexpected.append((status, answer))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)
        before_kill = len(acknowledged)
        server.kill()
        time.sleep(0.5)
        server.start()
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(timeout=30)
    finally:
        stop.set()
        server.stop()

    assert not unexpected, unexpected[:5]
    assert all(not t.is_alive() for t in threads)
    assert before_kill > 20, "the load did not get going before the kill"
    assert len(acknowledged) > before_kill, "the restarted server did not serve transfers"
    assert unknown_outcomes > 0, "the kill did not interrupt any request"
    for answer in acknowledged:
        debit = Transaction.objects.get(pk=answer["debit_transaction"]["id"])
        credit = Transaction.objects.get(pk=answer["credit_transaction"]["id"])
        assert debit.posting_id == credit.posting_id
        assert debit.amount == credit.amount == Decimal(answer["transfer_amount"])
    call_command("verify_ledger")  # no half transfer, running balances intact, each entry its event
    assert sum(balance_get(account_id=a.pk) for a in accounts) == Decimal("5000.00")
    entries = set(Transaction.objects.filter(seq__isnull=False).values_list("pk", flat=True))
    announced = list(Event.objects.filter(type="transaction.created").values_list("transaction_id", flat=True))
    assert sorted(announced) == sorted(entries)


def test_sigkill_mid_hold_load_captures_each_hold_at_most_once(fund):
    """Clients place holds payable to each other and capture or void them, each request
    with an Idempotency-Key that they retry after an unknown outcome (as careful clients
    do) while the server is killed and restarted: every hold ends captured at most once,
    every acknowledged capture is in the ledger exactly once, and money is conserved."""
    accounts = [AccountFactory() for _ in range(5)]
    for account in accounts:
        fund(account, "1000.00")
    keys = {a.pk: token_issue(user=a.user)[1] for a in accounts}
    server = Gunicorn(workers=2).start()
    captures: list[dict] = []
    unexpected: list[tuple[int, dict]] = []
    retried = 0
    stop = threading.Event()
    lock = threading.Lock()

    def until_answered(method: str, path: str, body: dict | None, token: str, key: str) -> tuple[int, dict]:
        nonlocal retried
        for _ in range(200):
            try:
                status, answer = request(server.port, method, path, body, token, timeout=5,
                                         headers={"Idempotency-Key": key})
                if status != 503:
                    return status, answer
                # A lock of a killed worker's transaction not yet released: nothing was
                # changed, retry (the answer says so).
            except (OSError, http.client.HTTPException):
                with lock:
                    retried += 1
            time.sleep(0.05)  # the server is down or busy: retry the same key
        raise AssertionError(f"no answer for {method} {path}")

    def client(index):
        rng = random.Random(index)
        n = 0
        while not stop.is_set():
            n += 1
            payer, payee = rng.sample(accounts, 2)
            token = keys[payer.pk]
            amount = f"{rng.randint(100, 3000) / 100:.2f}"
            status, hold = until_answered("POST", "/transactions/holds", {"account_id": payer.pk, "amount": amount,
                                          "to_account_id": payee.pk}, token, f"h-{index}-{n}")
            if status != 201:
                if status != 400:
                    unexpected.append((status, hold))
                continue
            if rng.random() < 0.75:
                status, answer = until_answered("POST", f"/transactions/holds/{hold['id']}/capture",
                                                {"amount": amount}, token, f"c-{index}-{n}")
                if status == 201:
                    with lock:
                        captures.append(answer)
                    continue
            else:
                status, answer = until_answered("POST", f"/transactions/holds/{hold['id']}/void", None, token,
                                                f"v-{index}-{n}")
                if status == 200:
                    continue
            unexpected.append((status, answer))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)
        before_kill = len(captures)
        server.kill()
        time.sleep(0.5)
        server.start()
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    finally:
        stop.set()
        server.stop()

    assert not unexpected, unexpected[:5]
    assert all(not t.is_alive() for t in threads)
    assert before_kill > 5, "the load did not get going before the kill"
    assert len(captures) > before_kill, "the restarted server did not serve captures"
    assert retried > 0, "the kill did not interrupt any request"
    for answer in captures:
        hold = Hold.objects.get(pk=answer["hold"]["id"])
        assert hold.status == "CAPTURED" and hold.captured_amount == Decimal(answer["transfer_amount"])
        assert Posting.objects.filter(hold=hold).count() == 1
    assert Posting.objects.filter(hold__isnull=False).count() == Hold.objects.filter(status="CAPTURED").count()
    call_command("verify_ledger")  # each capture once, balances cover the active holds, events tell it all
    assert sum(balance_get(account_id=a.pk) for a in accounts) == Decimal("5000.00")
    captured_events = Event.objects.filter(type="hold.captured").count()
    assert captured_events == 2 * Hold.objects.filter(status="CAPTURED").count()  # payer and payee
