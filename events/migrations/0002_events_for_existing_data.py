"""Events for what happened before there were events: every account opening, every entry
on a customer account and every hold, in the order they happened, so that GET /events
tells an existing ledger's whole story and ``verify_ledger`` finds each change announced.

Their ``bound`` is 0: they sort before every event written since, and are readable at once.
The data is built here, in the shape the API answers (this migration must not import the
serializers, which will change); a hold's ``available_balance`` at the time is not known
and is null. Entries are streamed in id order, in batches: a million-row ledger takes a
minute or so."""
from __future__ import annotations

import heapq
from decimal import Decimal

from django.db import migrations

BATCH = 5000


def _time(value) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _money(value) -> str | None:
    return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))


def forwards(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    Transaction = apps.get_model("transactions", "Transaction")
    Hold = apps.get_model("transactions", "Hold")
    Event = apps.get_model("events", "Event")
    alias = schema_editor.connection.alias
    if Event.objects.using(alias).exists():
        return  # events already being written: nothing from before them to fill in

    accounts = {a.pk: a for a in Account.objects.using(alias).filter(system_code__isnull=True)
                .select_related("user")}

    def opening(a) -> Event:
        return Event(user_id=a.user_id, account_id=a.pk, type="account.created", bound=0, created_at=a.created_at,
                     data={"id": a.pk, "bank_name": a.bank_name, "branch": a.branch, "user_id": a.user_id,
                           "username": a.user.username, "balance": "0.00", "created_at": _time(a.created_at)})

    def entry_events():
        rows = (Transaction.objects.using(alias).filter(seq__isnull=False).order_by("pk")
                .values_list("pk", "account_id", "created_at"))
        for pk, account_id, created_at in rows.iterator(chunk_size=BATCH):
            yield created_at, 1, pk, Event(user_id=accounts[account_id].user_id, account_id=account_id,
                                           type="transaction.created", bound=0, created_at=created_at,
                                           transaction_id=pk)

    def hold_events():
        ends = {"CAPTURED": "hold.captured", "VOIDED": "hold.voided", "EXPIRED": "hold.expired"}
        made = []
        for h in Hold.objects.using(alias).order_by("pk"):
            def data(status: str, captured) -> dict:
                return {"id": h.pk, "account_id": h.account_id, "to_account_id": h.to_account_id,
                        "amount": _money(h.amount), "captured_amount": _money(captured), "status": status,
                        "note": h.note, "created_at": _time(h.created_at), "expires_at": _time(h.expires_at),
                        "available_balance": None}
            parties = [h.account_id] + ([h.to_account_id] if h.to_account_id is not None else [])
            for account_id in parties:
                made.append((h.created_at, 2, h.pk, Event(
                    user_id=accounts[account_id].user_id, account_id=account_id, type="hold.created", bound=0,
                    created_at=h.created_at, data=data("PENDING", None))))
                if h.status in ends:
                    made.append((h.resolved_at, 3, h.pk, Event(
                        user_id=accounts[account_id].user_id, account_id=account_id, type=ends[h.status], bound=0,
                        created_at=h.resolved_at, data=data(h.status, h.captured_amount))))
        made.sort(key=lambda item: item[:3])
        return made

    batch, opened = [], set()

    def emit(event: Event) -> None:
        nonlocal batch
        batch.append(event)
        if len(batch) >= BATCH:
            Event.objects.using(alias).bulk_create(batch)
            batch = []

    # In time order; each account's opening comes before anything else of the account.
    for *_, event in heapq.merge(entry_events(), hold_events(), key=lambda item: item[:3]):
        if event.account_id not in opened:
            opened.add(event.account_id)
            emit(opening(accounts[event.account_id]))
        emit(event)
    for account in sorted(accounts.values(), key=lambda a: (a.created_at, a.pk)):
        if account.pk not in opened:
            emit(opening(account))
    Event.objects.using(alias).bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0001_initial"),
        ("accounts", "0003_system_accounts"),
        ("transactions", "0013_hold_expiry_sweep_index"),
    ]

    # Backwards: the events stay until their table goes (0001), as events do.
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
