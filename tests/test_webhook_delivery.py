"""Webhook delivery proved with real processes: the worker (``manage.py
deliver_webhooks``), a receiver that verifies every signature with ``standardwebhooks``,
failures, a receiver that is down, a worker SIGKILLed mid-run, two workers at once, and
1,000 transfers from 16 clients through gunicorn."""
from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from events.models import Delivery, DeliveryAttempt, DeliveryStatus, Event, WebhookEndpoint
from events.services import endpoint_create
from tests.factories import AccountFactory, UserFactory
from tests.live_server import ROOT, DeliveryWorker, Gunicorn, free_port, request
from tests.webhook_receiver import Receiver, event_json
from transactions import services
from transactions.models import Hold
from users.services import token_issue

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def workers():
    started: list[DeliveryWorker] = []

    def start(**env) -> DeliveryWorker:
        worker = DeliveryWorker(env={k: str(v) for k, v in env.items()}).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def subscribe(receiver: Receiver, user, path: str = "/hook", **kwargs) -> WebhookEndpoint:
    made = endpoint_create(user=user, url=receiver.url + path, **kwargs)
    receiver.secrets[path] = made.secret
    return made.endpoint


def deposits(account, count: int) -> None:
    for _ in range(count):
        services.deposit_create(account_id=account.pk, amount=Decimal("1.00"), initiated_by=account.user,
                                owner=account.user)


def eventually(condition, timeout: float = 15, message: str = "the condition never held") -> None:
    """Polls *condition* until it is true: the worker records an answer some moments after the
    receiver has it, so a test waits for the database, not for the receiver."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def test_each_event_is_delivered_signed_with_the_data_get_events_answers(receiver, workers):
    account = AccountFactory()
    subscribe(receiver, account.user)
    deposits(account, 5)
    workers()
    receiver.wait_for(5, timeout=20)
    assert receiver.forged == []
    events = {f"evt_{e.pk}": e for e in Event.objects.filter(user=account.user, type="transaction.created")}
    assert sorted(receiver.ids()) == sorted(events)
    client_token = token_issue(user=account.user)[1]
    listed = {f"evt_{e['id']}": e for e in _all_events(client_token)}
    for received in receiver.received:
        assert received.event == listed[received.webhook_id]  # the body is the event as GET /events answers it
    assert Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 5


def _all_events(token: str, port: int | None = None) -> list[dict]:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    out, after = [], None
    while True:
        page = client.get("/events", {"limit": 500, **({"after": after} if after else {})}).json()
        if not page:
            return out
        out += page
        after = page[-1]["id"]


def test_failed_attempts_are_retried_until_delivered(receiver, workers):
    account = AccountFactory()
    endpoint = subscribe(receiver, account.user)
    receiver.answer = lambda received, attempt: 500 if received.event["id"] % 2 and attempt <= 2 else 200
    deposits(account, 6)
    workers()
    receiver.wait_for(6, timeout=30)
    # The receiver has answered; the worker records its answer a moment later.
    eventually(lambda: Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.DELIVERED).count() == 6,
               message="the worker never recorded the six deliveries")
    for event in Event.objects.filter(user=account.user, type="transaction.created"):
        codes = list(DeliveryAttempt.objects.filter(event_id=event.pk).order_by("id").values_list("status_code",
                                                                                                  flat=True))
        assert codes == ([500, 500, 200] if event.pk % 2 else [200]), (event.pk, codes)
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).failing_since is None  # a success clears it


def test_a_receiver_that_was_down_gets_everything_once_it_is_back(workers):
    account = AccountFactory()
    receiver = Receiver().start()
    port = receiver.port
    subscribe(receiver, account.user)
    receiver.stop()  # down: connections refused
    deposits(account, 8)
    workers()
    time.sleep(4)
    refused = DeliveryAttempt.objects.filter(status_code__isnull=True).count()
    assert refused >= 8 and not Delivery.objects.filter(status=DeliveryStatus.DELIVERED).exists()
    back = Receiver(port=port, secrets=receiver.secrets).start()
    try:
        back.wait_for(8, timeout=30)
        eventually(lambda: Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 8,
                   message="the worker never recorded the eight deliveries")
        assert Delivery.objects.count() == 8 and len(set(back.ids())) == 8
    finally:
        back.stop()


def test_a_worker_killed_mid_run_leaves_nothing_undelivered(receiver, workers):
    account = AccountFactory()
    subscribe(receiver, account.user)
    receiver.delay = 0.2  # slow enough that the kill catches deliveries in flight
    deposits(account, 60)
    first = workers()
    eventually(lambda: len(receiver.arrivals) >= 10, timeout=20, message="nothing arrived")
    first.kill()
    assert len(set(receiver.ids())) < 60, "the kill came too late to test anything"
    workers()
    receiver.wait_for(60, timeout=60)
    counts = Counter(receiver.ids())
    expected = {f"evt_{pk}" for pk in Event.objects.filter(user=account.user, type="transaction.created")
                .values_list("pk", flat=True)}
    assert set(counts) == expected  # every one delivered, at least once
    for webhook_id in [w for w, n in counts.items() if n > 1]:  # a duplicate is the same message
        bodies = {event_json(r) for r in receiver.received if r.webhook_id == webhook_id}
        assert len(bodies) == 1


def test_two_workers_never_send_the_same_attempt(receiver, workers):
    account = AccountFactory()
    subscribe(receiver, account.user)
    deposits(account, 200)
    workers()
    workers()
    receiver.wait_for(200, timeout=60)
    time.sleep(0.5)
    counts = Counter(r.webhook_id for r in receiver.arrivals)
    assert len(counts) == 200 and max(counts.values()) == 1
    assert DeliveryAttempt.objects.count() == 200


def test_a_thousand_transfers_from_sixteen_clients_make_two_thousand_deliveries(receiver, workers):
    users = [UserFactory() for _ in range(8)]
    accounts = [AccountFactory(user=user) for user in users]
    for account in accounts:
        services.deposit_create(account_id=account.pk, amount=Decimal("10000.00"), initiated_by=account.user,
                                owner=account.user)
    for index, user in enumerate(users):  # after the funding: only the transfers' events
        subscribe(receiver, user, path=f"/hook/{index}")
    tokens = [token_issue(user=user)[1] for user in users]
    server = Gunicorn(workers=2, threads=4).start()
    workers()
    statuses = Counter()
    try:
        def client(n: int) -> None:
            rng = random.Random(n)
            for _ in range(1000 // 16 + (1 if n < 1000 % 16 else 0)):
                source = rng.randrange(len(accounts))
                target = (source + rng.randrange(1, len(accounts))) % len(accounts)
                status, _ = request(server.port, "POST", "/transactions/transfer", {
                    "from_account_id": accounts[source].pk, "to_account_id": accounts[target].pk, "amount": "0.01",
                }, token=tokens[source])
                statuses[status] += 1

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(client, range(16)))
        assert statuses == {201: 1000}
        receiver.wait_for(2000, timeout=120)
    finally:
        server.stop()
    assert receiver.forged == []
    assert len(receiver.ids()) == len(set(receiver.ids())) == 2000
    for user, token in zip(users, tokens, strict=True):
        listed = [e["id"] for e in _all_events(token) if e["type"] == "transaction.created"]
        assert len(listed) == len(set(listed))
        assert sorted(listed) == sorted(Event.objects.filter(user=user, type="transaction.created")
                                        .values_list("pk", flat=True))


def test_redirects_are_not_followed(receiver, workers):
    account = AccountFactory()
    subscribe(receiver, account.user)
    receiver.answer = lambda received, attempt: 302
    deposits(account, 1)
    workers()
    eventually(DeliveryAttempt.objects.exists, message="no attempt was recorded")
    attempt = DeliveryAttempt.objects.first()
    assert attempt.status_code == 302 and attempt.error == "redirects are not followed"
    assert {r.path for r in receiver.arrivals} == {"/hook"}  # nothing went to the Location
    assert Delivery.objects.get().status == DeliveryStatus.PENDING  # retried later


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt(receiver, workers):
    account = AccountFactory()
    subscribe(receiver, account.user)
    receiver.delay = 3  # the worker's WEBHOOK_TIMEOUT_SECONDS is 2
    deposits(account, 1)
    workers()
    eventually(DeliveryAttempt.objects.exists, message="no attempt was recorded")
    attempt = DeliveryAttempt.objects.first()
    assert attempt.status_code is None and attempt.error == "timed out"
    assert 2000 <= attempt.duration_ms < 3000


def test_in_production_a_delivery_to_a_private_address_is_refused_before_connecting(receiver, workers):
    """Registered while private addresses were allowed (or under a name that resolved to a
    public address then): the worker resolves and checks again before it connects."""
    account = AccountFactory()
    made = endpoint_create(user=account.user, url=f"https://127.0.0.1:{receiver.port}/hook")
    receiver.secrets["/hook"] = made.secret
    deposits(account, 1)
    workers(WEBHOOK_ALLOW_PRIVATE_URLS=0)
    eventually(DeliveryAttempt.objects.exists, message="no attempt was recorded")
    attempt = DeliveryAttempt.objects.first()
    assert attempt.status_code is None
    assert attempt.error == "Url host '127.0.0.1' resolves to a non-public address (127.0.0.1)."
    assert receiver.arrivals == [] and receiver.forged == []  # nothing reached the receiver


def test_an_endpoint_failing_for_five_days_is_disabled_and_says_so(receiver, workers):
    account = AccountFactory()
    endpoint = subscribe(receiver, account.user)
    receiver.answer = lambda received, attempt: 503
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=5, minutes=1))
    deposits(account, 2)
    workers()
    eventually(lambda: not WebhookEndpoint.objects.get(pk=endpoint.pk).enabled, message="never disabled")
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "every delivery attempt failed for 5 days" in endpoint.disabled_reason
    assert not Delivery.objects.filter(status=DeliveryStatus.PENDING).exists()


def test_a_test_event_sent_from_the_api_arrives(receiver, workers):
    from rest_framework.test import APIClient

    account = AccountFactory()
    endpoint = subscribe(receiver, account.user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=account.user)[1]}")
    assert client.post(f"/webhooks/{endpoint.pk}/test", {}, format="json").status_code == 202
    workers()
    receiver.wait_for(1, timeout=15)
    assert receiver.received[0].event["type"] == "webhook.test"
    attempts = client.get(f"/webhooks/{endpoint.pk}/deliveries").json()
    assert [a["status_code"] for a in attempts] == [200]


def test_expired_holds_are_swept_and_announced_within_the_sweep_interval(receiver, workers):
    account = AccountFactory()
    services.deposit_create(account_id=account.pk, amount=Decimal("10.00"), initiated_by=account.user,
                            owner=account.user)
    subscribe(receiver, account.user, event_types=["hold.expired"])
    result = services.hold_create(account_id=account.pk, amount=Decimal("3.00"), expires_in=timedelta(seconds=1),
                                  initiated_by=account.user, owner=account.user)
    workers(HOLD_SWEEP_SECONDS=1)
    receiver.wait_for(1, timeout=15)
    assert receiver.received[0].event["type"] == "hold.expired"
    assert receiver.received[0].event["data"]["id"] == result.hold.pk
    assert Hold.objects.get(pk=result.hold.pk).status == "EXPIRED"


def _readme_receiver_source() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Webhooks\n"):readme.index("\n## Security\n")]
    return re.search(r"^```python\n(.*?)^```$", section, re.S | re.M).group(1)


def test_the_readme_receiver_verifies_and_prints_each_delivery(workers, tmp_path):
    port = free_port()
    script = tmp_path / "receiver.py"
    script.write_text(_readme_receiver_source().replace("9000", str(port)))  # as printed, on a free port
    account = AccountFactory()
    made = endpoint_create(user=account.user, url=f"http://127.0.0.1:{port}/hooks")
    process = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "WEBHOOK_SECRET": made.secret},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: _listening(port), timeout=10, message=f"nothing listens on port {port}")
        forged = urllib.request.Request(f"http://127.0.0.1:{port}/hooks", data=b"{}", method="POST", headers={
            "webhook-id": "evt_1", "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1,Zm9yZ2Vk"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=5)
        assert refused.value.code == 400
        deposits(account, 1)
        workers()
        eventually(Delivery.objects.filter(status=DeliveryStatus.DELIVERED).exists, timeout=20,
                   message="the README's receiver never acknowledged the delivery")
        assert DeliveryAttempt.objects.get().status_code == 204
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    event = Event.objects.get(user=account.user, type="transaction.created")
    (listed,) = [e for e in _all_events(token_issue(user=account.user)[1]) if e["id"] == event.pk]
    assert out.splitlines() == [f"transaction.created {listed['data']}"]  # as the receiver prints a dict


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
