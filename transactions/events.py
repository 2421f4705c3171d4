"""What the ledger announces (``events``): a ``transaction.created`` event for each
entry on a customer account (written with the posting: ``ledger_sql.insert_posting``),
and an event for each change of a hold's state, for each party to it. All are written
inside the change's transaction, under its accounts' locks."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from django.db.models import F

from banking.serializers import represent
from events import registry
from events.models import EventType
from events.services import NewEvent, events_record
from transactions.models import Hold, Transaction
from transactions.serializers import HistoryRowSerializer, HoldOutputSerializer


def entries_render(entry_ids: list[int]) -> dict[int, dict]:
    """The entries as an account's history answers them (the data of their events)."""
    rows = Transaction.objects.filter(pk__in=entry_ids).annotate(hold_id=F("posting__hold_id"))
    return {row.pk: represent(HistoryRowSerializer, row) for row in rows}


def register() -> None:
    from django.conf import settings

    from transactions.services import holds_expire_due
    from transactions.summaries import summaries_roll_up

    registry.register(EventType.TRANSACTION_CREATED, entries_render)
    # Expired holds are written down, and announced, by the worker's sweep.
    registry.register_periodic("expire holds", lambda: holds_expire_due() or None,
                               every=lambda: settings.HOLD_SWEEP_SECONDS)
    # The staff dashboard's daily summaries (transactions.summaries).
    registry.register_periodic("roll up daily summaries", lambda: summaries_roll_up() or None, every=lambda: 60)


def hold_events_record(hold: Hold, event_type: str, *, owners: Mapping[int, int], available: Decimal,
                       at: datetime) -> None:
    """``event_type`` for the held account's owner, with its available balance after the
    change, and for the payee account's owner (if any), without it: the hold as the API
    answers each of them. ``owners``: account id -> user id (the locked accounts)."""
    hold.current_status = hold.status_at(at)
    parties = [(hold.account_id, available)]
    if hold.to_account_id is not None:
        parties.append((hold.to_account_id, None))
    events = []
    for account_id, balance in parties:
        hold.available_balance = balance
        events.append(NewEvent(user_id=owners[account_id], account_id=account_id, type=event_type, created_at=at,
                               data=represent(HoldOutputSerializer, hold)))
    events_record(events)
