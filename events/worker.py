"""The delivery worker (``manage.py deliver_webhooks``): sends each pending delivery to
its endpoint, signed, and records what came of it; runs the apps' periodic jobs.

Several workers may run at once, on one machine or several. Each delivery is claimed by
one (``claim``: ``FOR UPDATE SKIP LOCKED``, then a lease, committed before anything is
sent); a worker that dies leaves its claims to run out and be taken by another, so a
delivery is sent at least once, and a duplicate carries the same ``webhook-id``. No
database transaction is open, and no lock held, while a receiver is being waited on."""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import F
from django.utils import timezone

from banking.db import run_in_transaction
from banking.serializers import represent
from events import registry, secrets
from events.delivery import Outcome, Sender
from events.models import Delivery, DeliveryAttempt, DeliveryStatus, Event, WebhookEndpoint
from events.selectors import events_render
from events.serializers import EventOutputSerializer

logger = logging.getLogger("events.worker")
JITTER = 0.2  # each wait is its schedule's +/- 20 %, so failed deliveries do not return in lockstep


@dataclass(frozen=True)
class Job:
    delivery_id: int
    endpoint: WebhookEndpoint
    event_id: int
    attempt: int  # 1 for the first
    body: bytes


def claim(limit: int) -> list[Job]:
    """Take up to ``limit`` due deliveries of enabled endpoints for this worker, for
    WEBHOOK_CLAIM_SECONDS, and build what each will send."""
    now = timezone.now()

    def take() -> list[Delivery]:
        due = (Delivery.objects.select_for_update(skip_locked=True, of=("self",))
               .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__enabled=True)
               .exclude(claimed_until__gt=now)
               .order_by("next_attempt_at")[:limit])
        taken = list(due)
        Delivery.objects.filter(pk__in=[d.pk for d in taken]).update(
            claimed_until=now + timedelta(seconds=settings.WEBHOOK_CLAIM_SECONDS))
        return taken

    taken = run_in_transaction(take)
    if not taken:
        return []
    endpoints = WebhookEndpoint.objects.in_bulk({d.endpoint_id for d in taken})
    events = {e.pk: e for e in events_render(list(Event.objects.filter(pk__in={d.event_id for d in taken})))}
    jobs = []
    for delivery in taken:
        event, endpoint = events.get(delivery.event_id), endpoints.get(delivery.endpoint_id)
        if event is None or endpoint is None:  # purged or deleted meanwhile
            Delivery.objects.filter(pk=delivery.pk).delete()
            continue
        body = json.dumps(represent(EventOutputSerializer, event), separators=(",", ":")).encode()
        jobs.append(Job(delivery.pk, endpoint, event.pk, delivery.attempts + 1, body))
    return jobs


def send(job: Job, sender: Sender) -> Outcome:
    msg_id = f"evt_{job.event_id}"
    now = timezone.now()
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": secrets.signatures(job.endpoint, msg_id=msg_id, timestamp=now, body=job.body),
    }
    return sender.post(job.endpoint.url, job.body, headers)


def record(results: list[tuple[Job, Outcome]]) -> None:
    """The attempts, and what each means for its delivery (delivered, retried later, or
    failed for good) and for its endpoint (five days of nothing but failures disable it).
    One transaction for a batch: with a durable database each commit waits on a disk
    flush, and one per attempt would bound the worker by the disk, not the receivers."""
    now = timezone.now()
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    delivered = [job for job, outcome in results if outcome.delivered]
    failed = [job for job, outcome in results if not outcome.delivered]
    answering = {job.endpoint.pk for job in delivered}
    # An endpoint that answered any attempt of the batch is not failing.
    failing = {job.endpoint.pk for job in failed} - answering

    def write() -> None:
        DeliveryAttempt.objects.bulk_create([
            DeliveryAttempt(delivery_id=job.delivery_id, endpoint_id=job.endpoint.pk, event_id=job.event_id,
                            attempted_at=now, status_code=outcome.status_code, error=outcome.error,
                            duration_ms=outcome.duration_ms)
            for job, outcome in results
        ])
        if delivered:
            # Still PENDING: unless its claim ran out and another worker delivered it too.
            Delivery.objects.filter(pk__in=[job.delivery_id for job in delivered],
                                    status=DeliveryStatus.PENDING).update(
                status=DeliveryStatus.DELIVERED, attempts=F("attempts") + 1, last_attempt_at=now,
                delivered_at=now, claimed_until=None)
            WebhookEndpoint.objects.filter(pk__in=answering, failing_since__isnull=False).update(failing_since=None)
        for job in failed:
            pending = Delivery.objects.filter(pk=job.delivery_id, status=DeliveryStatus.PENDING)
            if job.attempt > len(schedule):
                pending.update(status=DeliveryStatus.FAILED, attempts=job.attempt, last_attempt_at=now,
                               claimed_until=None)
            else:
                wait = schedule[job.attempt - 1] * random.uniform(1 - JITTER, 1 + JITTER)
                pending.update(attempts=job.attempt, last_attempt_at=now, claimed_until=None,
                               next_attempt_at=now + timedelta(seconds=wait))
        if failing:
            WebhookEndpoint.objects.filter(pk__in=failing, failing_since__isnull=True).update(failing_since=now)
            for endpoint_id in sorted(failing):
                _disable_if_failing_too_long(endpoint_id, now)

    run_in_transaction(write)


def _disable_if_failing_too_long(endpoint_id: int, now) -> None:
    limit = timedelta(hours=settings.WEBHOOK_DISABLE_AFTER_HOURS)
    since = (WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True)
             .values_list("failing_since", flat=True).first())
    if since is None or now - since < limit:
        return
    reason = (f"Disabled on {now:%Y-%m-%d %H:%M} UTC: every delivery attempt failed for "
              f"{settings.WEBHOOK_DISABLE_AFTER_HOURS // 24} days (since {since:%Y-%m-%d %H:%M} UTC). "
              "Fix the receiver, then PATCH enabled=true; catch up with GET /events.")
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(enabled=False, disabled_reason=reason[:255])
    Delivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, claimed_until=None)
    logger.warning("webhook endpoint %s disabled: failing since %s", endpoint_id, since.isoformat())


class Worker:
    """Keeps up to ``threads`` deliveries in flight; claims more as they finish."""

    def __init__(self, *, threads: int, poll_seconds: float):
        self.threads = threads
        self.poll_seconds = poll_seconds
        self.sender = Sender(timeout=settings.WEBHOOK_TIMEOUT_SECONDS, connections=threads)
        self.stop = threading.Event()
        self._last_run: dict[str, float] = {}

    def run(self) -> None:
        """Claims due deliveries while there is room, hands them to the threads to send,
        and records the answers that came back, a batch per turn, until stopped; then
        records what is still on its way (a send is bounded by WEBHOOK_TIMEOUT_SECONDS)."""
        in_flight: set[Future] = set()
        with ThreadPoolExecutor(self.threads, thread_name_prefix="webhook") as pool:
            while not self.stop.is_set():
                self._periodic_jobs()
                in_flight = self._record_done(in_flight)
                room = 2 * self.threads - len(in_flight)
                jobs = claim(room) if room > 0 else []
                in_flight |= {pool.submit(self._send, job) for job in jobs}
                close_old_connections()
                if in_flight:
                    wait(in_flight, timeout=self.poll_seconds, return_when=FIRST_COMPLETED)
                else:
                    self.stop.wait(self.poll_seconds)
            wait(in_flight, timeout=settings.WEBHOOK_TIMEOUT_SECONDS + 5)
            self._record_done(in_flight)
        self.sender.close()
        connection.close()

    def _send(self, job: Job) -> tuple[Job, Outcome]:
        try:
            return job, send(job, self.sender)
        except Exception as exc:  # a bug of ours, not the receiver's: recorded as a failed attempt
            logger.exception("delivery %s failed inside the worker", job.delivery_id)
            return job, Outcome(None, f"internal error: {type(exc).__name__}", 0)

    def _record_done(self, in_flight: set[Future]) -> set[Future]:
        done = {future for future in in_flight if future.done()}
        if done:
            results = [future.result() for future in done]
            try:
                record(results)
            except Exception:
                # Their claims run out and the deliveries are attempted again; carry on.
                logger.exception("recording %s delivery attempts failed", len(results))
            for job, outcome in results:
                logger.info("delivery %s (event %s, webhook %s, attempt %s): %s%s in %s ms", job.delivery_id,
                            job.event_id, job.endpoint.pk, job.attempt, outcome.status_code or "-",
                            f" {outcome.error}" if outcome.error else "", outcome.duration_ms)
        return in_flight - done

    def _periodic_jobs(self) -> None:
        now = time.monotonic()
        for name, (job, every) in registry.periodic().items():
            if now - self._last_run.get(name, -1e9) < every():
                continue
            self._last_run[name] = now
            try:
                result = job()
                if result:
                    logger.info("%s: %s", name, result)
            except Exception:
                logger.exception("periodic job %s failed", name)
