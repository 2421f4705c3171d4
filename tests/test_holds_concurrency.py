"""Holds under real concurrency on PostgreSQL: threads, each with its own connection,
racing through the API; rows must commit (transaction=True)."""
from __future__ import annotations

import random
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.utils import timezone

from tests.concurrency import owner_client, run_concurrently
from tests.conftest import assert_ledger_consistent
from tests.factories import AccountFactory
from transactions.ledger_sql import head_balance_sql, held_sql
from transactions.models import Hold, Posting

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def funded(fund):
    account = AccountFactory()
    fund(account, "100.00")
    return account


def place_hold(account, amount: str, **extra) -> dict:
    response = owner_client(account).post(
        "/transactions/holds", {"account_id": account.pk, "amount": amount, **extra}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_twenty_concurrent_holds_of_60_on_100_leave_exactly_one_pending(funded):
    def attempt(_):
        return owner_client(funded).post(
            "/transactions/holds", {"account_id": funded.pk, "amount": "60.00"}, format="json").status_code

    statuses = run_concurrently(20, attempt)
    assert sorted(statuses) == [201] + [400] * 19
    assert Hold.objects.filter(account=funded, status="PENDING").count() == 1
    available = owner_client(funded).get(f"/accounts/{funded.pk}/balance").json()["available_balance"]
    assert available == "40.00"


def test_the_posted_balance_covers_the_active_holds_at_every_instant(funded, fund):
    """Holds, captures, voids, withdrawals and transfers race on one account while a
    watcher reads balance and active holds in one statement (one snapshot) again and
    again: the balance never falls below what the active holds reserve."""
    fund(funded, "900.00")
    payee = AccountFactory()
    stop = threading.Event()
    samples: list[tuple[Decimal, Decimal]] = []

    def watch() -> None:
        try:
            with connection.cursor() as cursor:
                while not stop.is_set():
                    cursor.execute(f"SELECT {head_balance_sql('%s')}, {held_sql('%s')}",
                                   [funded.pk, funded.pk, timezone.now()])
                    balance, held = cursor.fetchone()
                    samples.append((balance, held))
        finally:
            connections.close_all()

    def churn(index: int) -> None:
        rng = random.Random(index)
        client = owner_client(funded)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            amount = f"{rng.randint(1, 120)}.00"
            choice = rng.random()
            if choice < 0.4:
                response = client.post("/transactions/holds", {"account_id": funded.pk, "amount": amount,
                                                               "to_account_id": payee.pk}, format="json")
                if response.status_code == 201 and rng.random() < 0.7:
                    action = "capture" if rng.random() < 0.5 else "void"
                    client.post(f"/transactions/holds/{response.json()['id']}/{action}", {}, format="json")
            elif choice < 0.7:
                client.post("/transactions/withdraw", {"account_id": funded.pk, "amount": amount}, format="json")
            else:
                client.post("/transactions/transfer", {"from_account_id": funded.pk, "to_account_id": payee.pk,
                                                       "amount": amount}, format="json")

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run_concurrently(6, churn)
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert len(samples) > 50
    assert all(balance >= held for balance, held in samples), [s for s in samples if s[0] < s[1]][:5]
    assert Hold.objects.filter(status="CAPTURED").count() == Posting.objects.filter(hold__isnull=False).count()
    assert_ledger_consistent(funded)


@pytest.mark.parametrize("round_", range(5))
def test_a_capture_racing_a_void_has_exactly_one_winner(funded, round_):
    held = place_hold(funded, "30.00")

    def act(index: int) -> int:
        path = f"/transactions/holds/{held['id']}/{'capture' if index == 0 else 'void'}"
        return owner_client(funded).post(path, {}, format="json").status_code

    capture, void = run_concurrently(2, act)
    assert sorted([capture, void]) in ([201, 409], [200, 409])
    final = Hold.objects.get(pk=held["id"])
    assert final.status == ("CAPTURED" if capture == 201 else "VOIDED")
    assert Posting.objects.filter(hold=final).count() == (1 if capture == 201 else 0)
    assert assert_ledger_consistent(funded) == (Decimal("70.00") if capture == 201 else Decimal("100.00"))


def test_ten_concurrent_captures_make_one_posting(funded):
    held = place_hold(funded, "30.00")

    def capture(_):
        return owner_client(funded).post(f"/transactions/holds/{held['id']}/capture", {},
                                             format="json").status_code

    statuses = run_concurrently(10, capture)
    assert sorted(statuses) == [201] + [409] * 9
    assert Posting.objects.filter(hold_id=held["id"]).count() == 1
    assert assert_ledger_consistent(funded) == Decimal("70.00")


@pytest.mark.parametrize("offset", [-0.02, 0.0, 0.02])
def test_a_capture_racing_the_expiry_instant_lands_before_it_or_is_409(funded, offset):
    """All of the balance is held for one second. At the expiry instant a capture races
    a withdrawal of everything, which only the release could allow: never both."""
    held = place_hold(funded, "100.00", expires_in=1)
    expires_at = Hold.objects.get(pk=held["id"]).expires_at

    def act(index: int) -> int:
        time.sleep(max(0.0, (expires_at - timezone.now()).total_seconds() + offset))
        client = owner_client(funded)
        if index == 0:
            return client.post(f"/transactions/holds/{held['id']}/capture", {}, format="json").status_code
        return client.post("/transactions/withdraw", {"account_id": funded.pk, "amount": "100.00"},
                           format="json").status_code

    capture, withdrawal = run_concurrently(2, act)
    assert not (capture == 201 and withdrawal == 201)
    assert capture in (201, 409) and withdrawal in (201, 400)
    if capture == 201:
        assert Posting.objects.get(hold_id=held["id"]).created_at < expires_at
    else:
        assert not Posting.objects.filter(hold_id=held["id"]).exists()
    assert assert_ledger_consistent(funded) >= 0


def test_holds_with_a_payee_racing_transfers_from_the_payee_never_deadlock(fund):
    """A hold locks its payee's account too, in ascending id order like every movement:
    a hold from the higher account to the lower racing transfers the other way queues
    instead of deadlocking (no 503 for a lock timeout, no deadlock retries)."""
    low, high = AccountFactory(), AccountFactory()
    fund(low, "1000.00")
    fund(high, "1000.00")

    def act(index: int) -> list[int]:
        statuses = []
        for _ in range(15):
            if index % 2:
                response = owner_client(high).post("/transactions/holds", {
                    "account_id": high.pk, "amount": "1.00", "to_account_id": low.pk}, format="json")
            else:
                response = owner_client(low).post("/transactions/transfer", {
                    "from_account_id": low.pk, "to_account_id": high.pk, "amount": "1.00"}, format="json")
            statuses.append(response.status_code)
        return statuses

    started = time.monotonic()
    statuses = [status for batch in run_concurrently(8, act) for status in batch]
    assert statuses == [201] * 120
    assert time.monotonic() - started < 30
    assert Hold.objects.count() == 60
