from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from events.services import events_purge_expired
from transactions.idempotency import purge_expired_keys
from users.services import tokens_delete_expired


class Command(BaseCommand):
    help = (
        "Delete idempotency keys older than IDEMPOTENCY_KEY_TTL_HOURS (at least 24), expired API "
        "tokens, and events older than EVENT_RETENTION_DAYS (at least 30) with their webhook "
        "deliveries. Run it periodically, e.g. hourly from cron."
    )

    def handle(self, *args, **options):
        keys = purge_expired_keys()
        tokens = tokens_delete_expired()
        events = events_purge_expired()
        self.stdout.write(
            f"deleted {keys} idempotency key(s) older than {settings.IDEMPOTENCY_KEY_TTL_HOURS} h, "
            f"{tokens} expired token(s) and {events} event(s) older than {settings.EVENT_RETENTION_DAYS} days"
        )
