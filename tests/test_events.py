"""Events: every change announced in its own transaction, to the one user it concerns,
readable with GET /events (gap-free under concurrent writers)."""
from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from banking.errors import InsufficientFunds
from events.models import Event, EventType
from events.services import events_purge_expired
from tests.factories import AccountFactory, UserFactory
from transactions import services
from transactions.models import Hold, Transaction

# Committed, as a reader sees them: an event is listed once no transaction it could be
# overtaken by is still running, and a test's own open transaction would be one.
pytestmark = pytest.mark.django_db(transaction=True)


def events_of(client, **params) -> list[dict]:
    response = client.get("/events", params)
    assert response.status_code == 200, response.content
    return response.json()


def history_row(client, account_id: int, entry_id: int) -> dict:
    rows = client.get(f"/transactions/{account_id}", {"limit": 500}).json()
    return next(row for row in rows if row["id"] == entry_id)


def test_opening_an_account_is_announced_with_the_account_as_answered(alice, user):
    created = alice.post("/accounts", {"bank_name": "Bank", "branch": "North"}, format="json").json()
    (event,) = events_of(alice)
    assert event["type"] == "account.created"
    assert event["account_id"] == created["id"]
    assert event["data"] == created


def test_a_deposit_is_one_event_whose_data_is_the_history_row(alice, account):
    answer = alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "25.00"}, format="json").json()
    event = events_of(alice, type="transaction.created")[-1]
    assert event["account_id"] == account.pk
    assert event["data"] == history_row(alice, account.pk, answer["id"])
    assert event["data"]["amount"] == "25.00" and event["data"]["direction"] == "CREDIT"


def test_a_transfer_is_one_event_for_each_side_and_each_sees_only_their_own(alice, bob, account, other_account, fund):
    fund(account, "100.00")
    answer = alice.post("/transactions/transfer", {"from_account_id": account.pk, "to_account_id": other_account.pk,
                                                   "amount": "30.00"}, format="json").json()
    alice_event = events_of(alice, type="transaction.created")[-1]
    bob_events = events_of(bob, type="transaction.created")
    assert alice_event["data"]["id"] == answer["debit_transaction"]["id"]
    assert alice_event["data"]["direction"] == "DEBIT" and alice_event["data"]["balance_after"] == "70.00"
    assert [e["data"]["id"] for e in bob_events] == [answer["credit_transaction"]["id"]]
    assert bob_events[0]["data"]["direction"] == "CREDIT"
    assert {e["account_id"] for e in events_of(bob)} == {other_account.pk}


def test_a_refused_withdrawal_is_announced_with_status_failed(alice, account):
    assert alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "5.00"},
                      format="json").status_code == 400
    event = events_of(alice, type="transaction.created")[-1]
    assert event["data"]["status"] == "FAILED" and event["data"]["amount"] == "5.00"


def test_a_reversal_is_announced_to_both_parties(staff_client_api, alice, bob, account, other_account, fund):
    fund(account, "50.00")
    transfer = alice.post("/transactions/transfer", {"from_account_id": account.pk,
                                                     "to_account_id": other_account.pk, "amount": "20.00"},
                          format="json").json()
    reversal = staff_client_api.post(f"/transactions/{transfer['debit_transaction']['id']}/reverse", {},
                                     format="json").json()
    reversal_ids = {row["id"] for row in reversal["reversal_transactions"]}
    seen = {e["data"]["id"] for e in events_of(alice) + events_of(bob)
            if e["type"] == "transaction.created" and e["data"]["transaction_type"] == "REVERSAL"}
    assert seen == reversal_ids


def test_hold_events_follow_its_life_for_payer_and_payee(alice, bob, account, other_account, fund):
    fund(account, "100.00")
    hold = alice.post("/transactions/holds", {"account_id": account.pk, "amount": "40.00",
                                              "to_account_id": other_account.pk}, format="json").json()
    alice.post(f"/transactions/holds/{hold['id']}/capture", {"amount": "15.00"}, format="json")
    payer = [e for e in events_of(alice) if e["type"].startswith("hold.")]
    payee = [e for e in events_of(bob) if e["type"].startswith("hold.")]
    assert [e["type"] for e in payer] == ["hold.created", "hold.captured"]
    assert [e["type"] for e in payee] == ["hold.created", "hold.captured"]
    assert payer[0]["data"]["available_balance"] == "60.00"  # what the payer's API answer shows
    assert payer[1]["data"]["available_balance"] == "85.00" and payer[1]["data"]["status"] == "CAPTURED"
    assert payee[0]["data"]["available_balance"] is None  # the payee never sees the payer's balance
    assert payee[1]["data"]["captured_amount"] == "15.00"


def test_a_voided_hold_is_announced(alice, account, fund):
    fund(account, "10.00")
    hold = alice.post("/transactions/holds", {"account_id": account.pk, "amount": "4.00"}, format="json").json()
    alice.post(f"/transactions/holds/{hold['id']}/void", {}, format="json")
    event = events_of(alice, type="hold.voided")[-1]
    assert event["data"]["id"] == hold["id"] and event["data"]["status"] == "VOIDED"
    assert event["data"]["available_balance"] == "10.00"


def test_the_sweep_expires_holds_past_their_time_and_announces_each(alice, account, fund):
    fund(account, "10.00")
    hold = alice.post("/transactions/holds", {"account_id": account.pk, "amount": "4.00"}, format="json").json()
    Hold.objects.filter(pk=hold["id"]).update(expires_at=timezone.now() - timedelta(seconds=1),
                                              created_at=timezone.now() - timedelta(seconds=2))
    assert services.holds_expire_due() == 1
    assert services.holds_expire_due() == 0  # once
    assert Hold.objects.get(pk=hold["id"]).status == "EXPIRED"
    (event,) = events_of(alice, type="hold.expired")
    assert event["data"]["status"] == "EXPIRED" and event["data"]["available_balance"] == "10.00"


def test_a_change_that_rolls_back_leaves_no_event(user, account, fund):
    fund(account, "10.00")
    before = Event.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.deposit_create(account_id=account.pk, amount=Decimal("5.00"), initiated_by=user, owner=user)
        assert Event.objects.count() == before + 1  # written with the entry...
        raise RuntimeError("the transaction aborts after the ledger write")
    assert Event.objects.count() == before  # ...and gone with it
    assert Transaction.objects.filter(account=account).count() == 1


def test_every_entry_on_a_customer_account_has_exactly_one_event(user, account, other_account, fund):
    fund(account, "100.00")
    with pytest.raises(InsufficientFunds):
        services.withdrawal_create(account_id=account.pk, amount=Decimal("500.00"), initiated_by=user, owner=user)
    services.transfer_create(from_account_id=account.pk, to_account_id=other_account.pk, amount=Decimal("1.00"),
                             initiated_by=user, owner=user)
    entries = set(Transaction.objects.filter(seq__isnull=False).values_list("pk", flat=True))
    announced = list(Event.objects.filter(type=EventType.TRANSACTION_CREATED).values_list("transaction_id", flat=True))
    assert sorted(announced) == sorted(entries)


def test_events_page_with_after_and_link(alice, account, fund):
    for _ in range(5):
        fund(account, "1.00")
    everything = events_of(alice)
    first = alice.get("/events", {"limit": 2})
    assert [e["id"] for e in first.json()] == [e["id"] for e in everything[:2]]
    assert 'rel="next"' in first["Link"] and f"after={everything[1]['id']}" in first["Link"]
    rest = events_of(alice, after=everything[1]["id"], limit=500)
    assert [e["id"] for e in rest] == [e["id"] for e in everything[2:]]
    assert events_of(alice, after=everything[-1]["id"]) == []


def test_events_filter_by_type_and_account(alice, user, account, fund):
    second = AccountFactory(user=user)
    fund(account, "1.00")
    fund(second, "2.00")
    only_second = events_of(alice, account_id=second.pk)
    assert {e["account_id"] for e in only_second} == {second.pk}
    assert [e["type"] for e in only_second] == ["account.created", "transaction.created"]
    assert {e["type"] for e in events_of(alice, type="account.created")} == {"account.created"}


def test_filtered_events_are_the_matching_events_in_order_and_page_by_after(alice, user, account, fund):
    second = AccountFactory(user=user)
    fund(account, "10.00")
    hold = alice.post("/transactions/holds", {"account_id": account.pk, "amount": "4.00"}, format="json").json()
    fund(second, "2.00")
    alice.post(f"/transactions/holds/{hold['id']}/void", {}, format="json")
    fund(account, "1.00")
    everything = events_of(alice, limit=500)
    for params, wanted in [
        ({"type": "transaction.created,hold.voided"}, lambda e: e["type"] in {"transaction.created", "hold.voided"}),
        ({"account_id": account.pk}, lambda e: e["account_id"] == account.pk),
        ({"account_id": account.pk, "type": "hold.created,transaction.created"},
         lambda e: e["account_id"] == account.pk and e["type"] in {"hold.created", "transaction.created"}),
    ]:
        expected = [e["id"] for e in everything if wanted(e)]
        assert [e["id"] for e in events_of(alice, limit=500, **params)] == expected
        paged, after = [], None
        while page := events_of(alice, limit=2, **params, **({"after": after} if after else {})):
            paged += [e["id"] for e in page]
            after = page[-1]["id"]
        assert paged == expected


def test_events_of_someone_elses_account_are_not_listed(alice, other_account, fund):
    fund(other_account, "5.00")
    assert events_of(alice, account_id=other_account.pk) == []
    assert events_of(alice, account_id=other_account.pk, type="transaction.created") == []


@pytest.mark.parametrize("params, message", [
    ({"type": "nope"}, "type must be one or more of"),
    ({"after": "0"}, "after must be a whole number"),
    ({"limit": "501"}, "limit must be a whole number"),
])
def test_bad_event_queries_are_400(alice, params, message):
    response = alice.get("/events", params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


def test_after_someone_elses_event_is_400(alice, bob, other_account):
    theirs = events_of(bob)[-1]["id"]
    response = alice.get("/events", {"after": theirs})
    assert response.status_code == 400
    assert "you have no event" in response.json()["error"]


def test_events_need_a_token(api):
    assert api.get("/events").status_code == 401


def test_purge_keeps_events_for_the_retention_period(settings, user, account, fund):
    settings.EVENT_RETENTION_DAYS = 30
    fund(account, "1.00")
    old = Event.objects.filter(user=user).order_by("id").first()
    Event.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    assert events_purge_expired() == 1
    assert not Event.objects.filter(pk=old.pk).exists()
    assert Event.objects.filter(user=user).count() == 1  # the deposit's, 0 days old


@pytest.mark.postgres
def test_a_poller_racing_writers_sees_every_event_once_and_each_account_in_commit_order():
    """8 writers transfer among 8 accounts of one user while a poller reads /events with
    after=<last id> as fast as it can: ids are taken before commit, so later ids often
    commit first; the poller must still see every event exactly once, and each account's
    entries in their ledger order (seq)."""
    from rest_framework.test import APIClient

    from users.services import token_issue

    owner = UserFactory()
    accounts = [AccountFactory(user=owner) for _ in range(8)]
    for account in accounts:
        services.deposit_create(account_id=account.pk, amount=Decimal("1000.00"), initiated_by=owner, owner=owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=owner)[1]}")
    done, seen, errors = threading.Event(), [], []

    def write(index: int) -> None:
        try:
            for n in range(60):
                source, target = accounts[(index + n) % 8], accounts[(index + n + 1 + index % 3) % 8]
                services.transfer_create(from_account_id=source.pk, to_account_id=target.pk,
                                         amount=Decimal("0.01"), initiated_by=owner, owner=owner)
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    def poll() -> None:
        after = None
        try:
            while True:
                finished = done.is_set()
                page = client.get("/events", {"limit": 500, **({"after": after} if after else {})}).json()
                seen.extend(page)
                if page:
                    after = page[-1]["id"]
                elif finished:
                    return
        finally:
            connection.close()

    poller = threading.Thread(target=poll)
    poller.start()
    writers = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    poller.join()
    assert not errors, errors
    ids = [e["id"] for e in seen]
    assert len(ids) == len(set(ids)), "an event was listed twice"
    assert sorted(ids) == sorted(Event.objects.filter(user=owner).values_list("id", flat=True)), "an event was missed"
    seqs = dict(Transaction.objects.filter(account__user=owner).values_list("pk", "seq"))
    for account in accounts:
        order = [seqs[e["data"]["id"]] for e in seen
                 if e["type"] == "transaction.created" and e["account_id"] == account.pk]
        assert order == sorted(order), f"account {account.pk}'s events out of commit order"
