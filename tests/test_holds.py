"""Holds: reserve funds now, capture (in whole or part) or void later, or let them expire.
A hold moves no money; it lowers the available balance while it is active."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import AccountFactory, UserFactory
from transactions.models import Hold, Posting, Transaction
from transactions.selectors import balance_get

pytestmark = pytest.mark.django_db


def hold(client, account, amount="30.00", **extra):
    return client.post("/transactions/holds", {"account_id": account.pk, "amount": amount, **extra}, format="json")


def expire(hold_id: int) -> None:
    """Move a hold's expiry into the past, as time would."""
    past = timezone.now() - timedelta(seconds=1)
    Hold.objects.filter(pk=hold_id).update(created_at=past - timedelta(seconds=1), expires_at=past)


@pytest.fixture
def funded(account, fund):
    fund(account, "100.00")
    return account


# --- creating ------------------------------------------------------------------------

def test_a_hold_reserves_funds_and_moves_no_money(alice, funded):
    response = hold(alice, funded, "30.00", note="card auth")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "PENDING" and body["amount"] == "30.00" and body["captured_amount"] is None
    assert body["account_id"] == funded.pk and body["to_account_id"] is None and body["note"] == "card auth"
    assert body["available_balance"] == "70.00"
    assert alice.get(f"/accounts/{funded.pk}/balance").json() == {"balance": "100.00", "available_balance": "70.00"}
    assert Transaction.objects.filter(account=funded).count() == 1  # only the funding deposit


def test_a_hold_expires_in_seven_days_by_default(alice, funded):
    body = hold(alice, funded).json()
    lifetime = Hold.objects.get(pk=body["id"]).expires_at - Hold.objects.get(pk=body["id"]).created_at
    assert lifetime == timedelta(days=7)


def test_a_hold_takes_its_expiry_in_seconds(alice, funded):
    body = hold(alice, funded, expires_in=90).json()
    stored = Hold.objects.get(pk=body["id"])
    assert stored.expires_at - stored.created_at == timedelta(seconds=90)


@pytest.mark.parametrize("expires_in", [0, 2592001, -5, "60", 1.5, True])
def test_a_hold_expiry_outside_one_second_to_thirty_days_is_400(alice, funded, expires_in):
    response = hold(alice, funded, expires_in=expires_in)
    assert response.status_code == 400
    assert "Expires in" in response.json()["error"] or "expires_in" in response.json()["error"]
    assert not Hold.objects.exists()


def test_a_hold_over_the_available_balance_is_refused_and_recorded(alice, funded):
    assert hold(alice, funded, "80.00").status_code == 201
    response = hold(alice, funded, "30.00")
    assert response.status_code == 400
    assert response.json()["error"] == "Insufficient available balance: available 20.00, requested 30.00."
    refused = Transaction.objects.get(account=funded, status="FAILED")
    assert refused.transaction_type == "HOLD" and refused.amount == Decimal("30.00")
    assert Hold.objects.count() == 1


def test_a_hold_on_someone_elses_account_is_404(bob, funded):
    response = hold(bob, funded)
    assert response.status_code == 404 and response.json() == {"error": "Account not found."}


def test_a_hold_may_name_any_existing_account_as_payee(alice, funded, other_account):
    body = hold(alice, funded, to_account_id=other_account.pk).json()
    assert body["to_account_id"] == other_account.pk


def test_a_hold_payee_that_does_not_exist_is_404(alice, funded):
    response = hold(alice, funded, to_account_id=999999)
    assert response.status_code == 404 and response.json() == {"error": "Destination account not found."}


def test_a_hold_payee_cannot_be_the_held_account(alice, funded):
    response = hold(alice, funded, to_account_id=funded.pk)
    assert response.status_code == 400 and not Hold.objects.exists()


# --- the available balance -----------------------------------------------------------

def test_withdrawals_check_the_available_balance(alice, funded):
    hold(alice, funded, "70.00")
    response = alice.post("/transactions/withdraw", {"account_id": funded.pk, "amount": "40.00"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "Insufficient balance: available 30.00, requested 40.00."
    assert balance_get(account_id=funded.pk) == Decimal("100.00")


def test_transfers_check_the_available_balance(alice, funded, other_account):
    hold(alice, funded, "70.00")
    response = alice.post("/transactions/transfer", {"from_account_id": funded.pk, "to_account_id": other_account.pk,
                                                     "amount": "30.01"}, format="json")
    assert response.status_code == 400
    assert alice.post("/transactions/transfer", {"from_account_id": funded.pk, "to_account_id": other_account.pk,
                                                 "amount": "30.00"}, format="json").status_code == 201


def test_account_details_and_list_show_the_available_balance(alice, funded):
    hold(alice, funded, "25.00")
    assert alice.get(f"/accounts/{funded.pk}").json()["available_balance"] == "75.00"
    assert alice.get("/accounts").json()[0]["available_balance"] == "75.00"


def test_balance_at_an_instant_stays_the_posted_balance(alice, funded):
    hold(alice, funded, "25.00")
    body = alice.get(f"/accounts/{funded.pk}/balance", {"at": "2999-01-01"}).json()
    assert body["balance"] == "100.00" and "available_balance" not in body


def test_an_expired_hold_stops_reserving_by_itself(alice, funded):
    body = hold(alice, funded, "90.00").json()
    expire(body["id"])
    assert alice.get(f"/accounts/{funded.pk}/balance").json()["available_balance"] == "100.00"
    assert alice.get(f"/transactions/holds/{body['id']}").json()["status"] == "EXPIRED"
    assert alice.post("/transactions/withdraw", {"account_id": funded.pk, "amount": "100.00"},
                      format="json").status_code == 201


# --- capturing -----------------------------------------------------------------------

def test_capturing_a_hold_without_payee_is_a_withdrawal(alice, funded):
    held = hold(alice, funded, "30.00").json()
    response = alice.post(f"/transactions/holds/{held['id']}/capture", {}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["transaction_type"] == "WITHDRAWAL" and body["amount"] == "30.00" and body["new_balance"] == "70.00"
    assert body["hold"]["status"] == "CAPTURED" and body["hold"]["captured_amount"] == "30.00"
    assert body["hold"]["available_balance"] == "70.00"
    posting = Posting.objects.get(hold_id=held["id"])
    assert posting.kind == "WITHDRAWAL" and posting.entries.count() == 2


def test_a_partial_capture_releases_the_rest_at_once(alice, funded):
    held = hold(alice, funded, "60.00").json()
    body = alice.post(f"/transactions/holds/{held['id']}/capture", {"amount": "25.00"}, format="json").json()
    assert body["amount"] == "25.00" and body["hold"]["captured_amount"] == "25.00"
    assert alice.get(f"/accounts/{funded.pk}/balance").json() == {"balance": "75.00", "available_balance": "75.00"}


def test_capturing_more_than_the_hold_is_400(alice, funded):
    held = hold(alice, funded, "20.00").json()
    response = alice.post(f"/transactions/holds/{held['id']}/capture", {"amount": "20.01"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "Cannot capture 20.01: the hold is for 20.00."
    assert Hold.objects.get(pk=held["id"]).status == "PENDING"


def test_capturing_a_hold_with_a_payee_is_a_transfer_to_it(alice, funded, other_account):
    held = hold(alice, funded, "40.00", to_account_id=other_account.pk).json()
    body = alice.post(f"/transactions/holds/{held['id']}/capture", {"amount": "15.00"}, format="json").json()
    assert body["transfer_amount"] == "15.00"
    assert body["from_account_balance"] == "85.00" and body["to_account_balance"] is None  # bob's is his own
    assert balance_get(account_id=other_account.pk) == Decimal("15.00")
    assert body["debit_transaction"]["account_id"] == funded.pk
    assert body["credit_transaction"]["account_id"] == other_account.pk
    assert body["hold"]["status"] == "CAPTURED"


def test_a_hold_is_captured_once(alice, funded):
    held = hold(alice, funded, "20.00").json()
    alice.post(f"/transactions/holds/{held['id']}/capture", {"amount": "5.00"}, format="json")
    again = alice.post(f"/transactions/holds/{held['id']}/capture", {}, format="json")
    assert again.status_code == 409
    assert again.json()["error"] == "Hold is CAPTURED: only a PENDING hold can be captured or voided."
    assert balance_get(account_id=funded.pk) == Decimal("95.00")


def test_capturing_an_expired_hold_is_409(alice, funded):
    held = hold(alice, funded, "20.00").json()
    expire(held["id"])
    response = alice.post(f"/transactions/holds/{held['id']}/capture", {}, format="json")
    assert response.status_code == 409 and "EXPIRED" in response.json()["error"]
    assert balance_get(account_id=funded.pk) == Decimal("100.00")


def test_the_capture_appears_in_history_with_its_hold(alice, funded):
    held = hold(alice, funded, "20.00").json()
    alice.post(f"/transactions/holds/{held['id']}/capture", {}, format="json")
    newest = alice.get(f"/transactions/{funded.pk}").json()[0]
    assert newest["transaction_type"] == "WITHDRAWAL" and newest["hold_id"] == held["id"]
    assert alice.get(f"/transactions/{funded.pk}").json()[1]["hold_id"] is None


# --- voiding -------------------------------------------------------------------------

def test_voiding_a_hold_releases_it(alice, funded):
    held = hold(alice, funded, "50.00").json()
    response = alice.post(f"/transactions/holds/{held['id']}/void")
    assert response.status_code == 200
    assert response.json()["status"] == "VOIDED" and response.json()["available_balance"] == "100.00"
    assert alice.post(f"/transactions/holds/{held['id']}/capture", {}, format="json").status_code == 409


def test_voiding_a_voided_or_expired_hold_is_409(alice, funded):
    first, second = hold(alice, funded, "5.00").json(), hold(alice, funded, "5.00").json()
    alice.post(f"/transactions/holds/{first['id']}/void")
    expire(second["id"])
    assert alice.post(f"/transactions/holds/{first['id']}/void").json()["error"].startswith("Hold is VOIDED")
    assert alice.post(f"/transactions/holds/{second['id']}/void").status_code == 409


# --- who may act ---------------------------------------------------------------------

def test_the_payees_owner_may_capture(alice, bob, funded, other_account):
    held = hold(alice, funded, "40.00", to_account_id=other_account.pk).json()
    body = bob.post(f"/transactions/holds/{held['id']}/capture", {}, format="json").json()
    assert body["to_account_balance"] == "40.00"
    # The payer's balance is not the payee's to see.
    assert body["hold"]["available_balance"] is None and body["from_account_balance"] is None


def test_the_payees_owner_may_void(alice, bob, funded, other_account):
    held = hold(alice, funded, "40.00", to_account_id=other_account.pk).json()
    assert bob.post(f"/transactions/holds/{held['id']}/void").status_code == 200


def test_anyone_else_gets_404_for_a_hold(alice, bob, funded):
    held = hold(alice, funded, "40.00").json()
    for response in (bob.get(f"/transactions/holds/{held['id']}"),
                     bob.post(f"/transactions/holds/{held['id']}/capture", {}, format="json"),
                     bob.post(f"/transactions/holds/{held['id']}/void")):
        assert response.status_code == 404 and response.json() == {"error": "Hold not found."}
    assert Hold.objects.get(pk=held["id"]).status == "PENDING"


@pytest.mark.parametrize("action", ["GET", "capture", "void"])
def test_a_missing_hold_is_404_for_staff_too(staff_client_api, action):
    path = "/transactions/holds/424242" + ("" if action == "GET" else f"/{action}")
    response = staff_client_api.get(path) if action == "GET" else staff_client_api.post(path, {}, format="json")
    assert (response.status_code, response.json()) == (404, {"error": "Hold not found."})


def test_staff_may_capture_any_hold(staff_client_api, alice, funded):
    held = hold(alice, funded, "40.00").json()
    assert staff_client_api.post(f"/transactions/holds/{held['id']}/capture", {}, format="json").status_code == 201


@pytest.mark.parametrize("hold_id", ["abc", "0", "999999", "99999999999999999999"])
def test_every_bad_hold_id_is_the_same_404(alice, hold_id):
    response = alice.get(f"/transactions/holds/{hold_id}")
    assert response.status_code == 404 and response.json() == {"error": "Hold not found."}


# --- listing -------------------------------------------------------------------------

def test_the_hold_list_pages_newest_first_with_a_link(alice, funded):
    ids = [hold(alice, funded, "1.00").json()["id"] for _ in range(5)]
    first = alice.get("/transactions/holds", {"limit": 2})
    assert [h["id"] for h in first.json()] == ids[::-1][:2]
    next_url = first.headers["Link"].split(";")[0].strip("<>")
    second = alice.get(next_url)
    assert [h["id"] for h in second.json()] == ids[::-1][2:4]


def test_the_hold_list_filters_by_status_and_account(alice, funded, fund):
    other = AccountFactory(user=funded.user)
    fund(other, "10.00")
    pending = hold(alice, funded, "1.00").json()["id"]
    voided = hold(alice, funded, "1.00").json()["id"]
    alice.post(f"/transactions/holds/{voided}/void")
    expired = hold(alice, funded, "1.00").json()["id"]
    expire(expired)
    elsewhere = hold(alice, other, "1.00").json()["id"]
    assert [h["id"] for h in alice.get("/transactions/holds", {"status": "PENDING"}).json()] == [elsewhere, pending]
    assert [h["id"] for h in alice.get("/transactions/holds", {"status": "expired"}).json()] == [expired]
    assert [h["id"] for h in alice.get("/transactions/holds", {"account_id": other.pk}).json()] == [elsewhere]


def test_the_hold_list_shows_holds_payable_to_me_but_not_others(alice, bob, funded, other_account):
    payable = hold(alice, funded, "1.00", to_account_id=other_account.pk).json()["id"]
    hold(alice, funded, "1.00")
    assert [h["id"] for h in bob.get("/transactions/holds").json()] == [payable]


def test_the_hold_list_of_someone_elses_account_is_404(bob, funded):
    assert bob.get("/transactions/holds", {"account_id": funded.pk}).status_code == 404


def test_the_hold_list_refuses_an_unknown_status(alice):
    response = alice.get("/transactions/holds", {"status": "LOST"})
    assert response.status_code == 400 and "status must be one of" in response.json()["error"]


# --- idempotency ---------------------------------------------------------------------

def test_a_retried_hold_with_the_same_key_reserves_once(alice, funded):
    first = alice.post("/transactions/holds", {"account_id": funded.pk, "amount": "10.00"}, format="json",
                       HTTP_IDEMPOTENCY_KEY="h-1")
    again = alice.post("/transactions/holds", {"account_id": funded.pk, "amount": "10.00"}, format="json",
                       HTTP_IDEMPOTENCY_KEY="h-1")
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert Hold.objects.count() == 1


def test_a_retried_capture_with_the_same_key_captures_once(alice, funded):
    held = hold(alice, funded, "10.00").json()
    for _ in range(2):
        response = alice.post(f"/transactions/holds/{held['id']}/capture", {}, format="json",
                              HTTP_IDEMPOTENCY_KEY="c-1")
        assert response.status_code == 201
    assert balance_get(account_id=funded.pk) == Decimal("90.00")


def test_the_admin_lists_an_accounts_active_holds(client, funded, alice):
    active = hold(alice, funded, "12.34", note="pre-authorization").json()
    gone = hold(alice, funded, "5.00").json()
    alice.post(f"/transactions/holds/{gone['id']}/void")
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    page = client.get(f"/admin/accounts/account/{funded.pk}/change/").content.decode()
    assert "pre-authorization" in page and "12.34" in page and f"hold {active['id']}" in page.lower()
    assert f"hold {gone['id']}" not in page.lower()


@pytest.mark.postgres
def test_expired_holds_cost_the_available_balance_nothing(alice, funded):
    """10,000 holds that ran out unswept stay in the index of pending holds, but the
    available balance probes only the active range of it: the same few pages as with
    none, and the same answer."""
    from django.db import connection

    from transactions.bulk import expired_holds_append
    from transactions.ledger_sql import held_sql

    expired_holds_append(account_id=funded.pk, count=10_000)
    active = hold(alice, funded, "7.00").json()
    assert alice.get(f"/accounts/{funded.pk}/balance").json()["available_balance"] == "93.00"
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT {held_sql('%s')}",
                       [funded.pk, timezone.now()])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # An index of pending holds (by account, or the sweep's by expiry: with every hold on
    # one account the planner may take either), probed from the active range on.
    scan = next(line for line in plan.splitlines() if "hold_active_idx" in line or "hold_expiry_idx" in line)
    assert "Index" in scan and "rows=1 " in scan, plan  # the one active hold, not the 10,000 expired ones
    assert "Rows Removed" not in plan, plan  # none read and thrown away
    assert active["status"] == "PENDING"


@pytest.mark.parametrize("with_payee", [False, True], ids=["no payee", "payee"])
def test_a_hold_read_by_its_prepared_statement_is_the_orms_hold(alice, funded, other_account, with_payee):
    from transactions.ledger_sql import hold_with_accounts

    made = hold(alice, funded, "12.34", note="rent", **({"to_account_id": other_account.pk} if with_payee else {})).json()
    alice.post(f"/transactions/holds/{made['id']}/capture", {"amount": "10.00"}, format="json")
    expected = Hold.objects.select_related("account", "to_account").get(pk=made["id"])
    read = hold_with_accounts(made["id"])

    def values(instance):
        return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}

    assert values(read) == values(expected) and read.captured_amount == Decimal("10.00")
    assert values(read.account) == values(expected.account)
    assert (values(read.to_account) if with_payee else read.to_account) == (
        values(expected.to_account) if with_payee else None)
    assert hold_with_accounts(made["id"] + 1000) is None
