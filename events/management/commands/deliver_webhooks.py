from __future__ import annotations

import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from events.worker import Worker


class Command(BaseCommand):
    help = (
        "Run the webhook delivery worker until stopped (SIGTERM or Ctrl-C): sends each pending "
        "delivery, signed, retries failures on their schedule, and runs the periodic jobs (the "
        "expiry of holds). Run one or more beside the web server (scripts/serve.sh starts one)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--threads", type=int, default=settings.WEBHOOK_WORKER_THREADS,
                            help="deliveries sent at once (default WEBHOOK_WORKER_THREADS)")

    def handle(self, *args, threads: int, **options):
        worker = Worker(threads=threads, poll_seconds=settings.WEBHOOK_POLL_SECONDS)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: worker.stop.set())
        self.stdout.write(f"delivering webhooks with {threads} threads (stop with SIGTERM or Ctrl-C)")
        worker.run()
