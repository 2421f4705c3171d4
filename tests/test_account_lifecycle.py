"""Accounts have a lifecycle: ACTIVE, FROZEN (staff: debits refused, credits accepted),
CLOSED (by the owner, or staff: nothing moves, history stays). Checked by the API, with
the roles that may and may not change it."""
from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import Account, AccountStatus, AccountStatusChange
from banking.roles import AUDITOR, TELLER
from tests.factories import AccountFactory, UserFactory, staff_member
from transactions.models import Hold, Transaction
from transactions.selectors import balance_get

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(client_for):
    return client_for(UserFactory(username="boss", is_staff=True, is_superuser=True))


@pytest.fixture
def funded(account, fund):
    fund(account, "100.00")
    return account


def freeze(client, account, reason="suspicious activity"):
    return client.post(f"/accounts/{account.pk}/freeze", {"reason": reason}, format="json")


def unfreeze(client, account, reason="cleared"):
    return client.post(f"/accounts/{account.pk}/unfreeze", {"reason": reason}, format="json")


def close(client, account, **body):
    return client.post(f"/accounts/{account.pk}/close", body, format="json")


def withdraw(client, account, amount="10.00"):
    return client.post("/transactions/withdraw", {"account_id": account.pk, "amount": amount}, format="json")


def deposit(client, account, amount="10.00"):
    return client.post("/transactions/deposit", {"account_id": account.pk, "amount": amount}, format="json")


def transfer(client, source, destination, amount="10.00"):
    return client.post("/transactions/transfer", {"from_account_id": source.pk, "to_account_id": destination.pk,
                                                  "amount": amount}, format="json")


def hold(client, account, amount="10.00", **extra):
    return client.post("/transactions/holds", {"account_id": account.pk, "amount": amount, **extra}, format="json")


def test_a_new_account_is_active_in_its_details_and_the_list(alice, account):
    assert alice.get(f"/accounts/{account.pk}").json()["status"] == "ACTIVE"
    assert [a["status"] for a in alice.get("/accounts").json()] == ["ACTIVE"]


# --- frozen ------------------------------------------------------------------------

def test_staff_freeze_answers_the_account_with_its_status(superuser, funded):
    response = freeze(superuser, funded)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == funded.pk and body["status"] == "FROZEN" and body["balance"] == "100.00"
    change = AccountStatusChange.objects.get(account=funded)
    assert (change.from_status, change.to_status, change.reason, change.changed_by.username) == (
        "ACTIVE", "FROZEN", "suspicious activity", "boss")


def test_a_frozen_account_refuses_withdrawals_and_changes_nothing(superuser, alice, funded):
    freeze(superuser, funded)
    response = withdraw(alice, funded)
    assert response.status_code == 409
    assert response.json() == {"error": f"Account {funded.pk} is frozen: it accepts deposits and incoming transfers only."}
    assert balance_get(account_id=funded.pk) == Decimal("100.00")
    assert Transaction.objects.filter(account=funded).count() == 1  # the funding deposit only


def test_a_frozen_account_refuses_outgoing_transfers_and_new_holds(superuser, alice, funded, other_account):
    freeze(superuser, funded)
    assert transfer(alice, funded, other_account).status_code == 409
    assert hold(alice, funded).status_code == 409
    assert not Hold.objects.exists() and balance_get(account_id=other_account.pk) == 0


def test_a_frozen_account_still_takes_deposits_and_incoming_transfers(superuser, alice, bob, funded, other_account,
                                                                       fund):
    fund(other_account, "50.00")
    freeze(superuser, funded)
    assert deposit(alice, funded, "5.00").status_code == 201
    assert transfer(bob, other_account, funded, "7.00").status_code == 201
    assert balance_get(account_id=funded.pk) == Decimal("112.00")


def test_a_hold_placed_before_the_freeze_cannot_be_captured_but_can_be_voided(superuser, alice, funded):
    held = hold(alice, funded, "30.00").json()
    freeze(superuser, funded)
    assert alice.post(f"/transactions/holds/{held['id']}/capture", {}, format="json").status_code == 409
    assert alice.post(f"/transactions/holds/{held['id']}/void", {}, format="json").status_code == 200
    assert alice.get(f"/accounts/{funded.pk}/balance").json()["available_balance"] == "100.00"


def test_staff_may_still_reverse_on_a_frozen_account(superuser, alice, funded):
    entry = Transaction.objects.get(account=funded)
    freeze(superuser, funded)
    assert superuser.post(f"/transactions/{entry.pk}/reverse", {"note": "fraud"}, format="json").status_code == 201
    assert balance_get(account_id=funded.pk) == 0


def test_unfreezing_restores_debits(superuser, alice, funded):
    freeze(superuser, funded)
    response = unfreeze(superuser, funded)
    assert response.status_code == 200 and response.json()["status"] == "ACTIVE"
    assert withdraw(alice, funded).status_code == 201
    assert balance_get(account_id=funded.pk) == Decimal("90.00")


def test_freezing_a_frozen_account_is_409(superuser, funded):
    freeze(superuser, funded)
    response = freeze(superuser, funded)
    assert response.status_code == 409
    assert response.json() == {"error": f"Account {funded.pk} is already FROZEN."}
    assert AccountStatusChange.objects.count() == 1


def test_unfreezing_an_active_account_is_409(superuser, funded):
    assert unfreeze(superuser, funded).status_code == 409


def test_staff_must_give_a_reason(superuser, funded):
    response = superuser.post(f"/accounts/{funded.pk}/freeze", {}, format="json")
    assert response.status_code == 400 and response.json()["error"] == "Reason is required."
    response = freeze(superuser, funded, reason="   ")
    assert response.status_code == 400
    assert Account.objects.get(pk=funded.pk).status == AccountStatus.ACTIVE


@pytest.mark.parametrize("reason", [7, None, ["x"], "x" * 256, "bad\u202ereason"])
def test_a_bad_reason_is_400_and_changes_nothing(superuser, funded, reason):
    response = superuser.post(f"/accounts/{funded.pk}/freeze", {"reason": reason}, format="json")
    assert response.status_code == 400 and "error" in response.json()
    assert Account.objects.get(pk=funded.pk).status == AccountStatus.ACTIVE


def test_a_customer_cannot_freeze_even_their_own_account(alice, funded):
    response = freeze(alice, funded)
    assert response.status_code == 403
    assert response.json() == {"error": "Only staff allowed to freeze accounts may do this."}
    assert Account.objects.get(pk=funded.pk).status == AccountStatus.ACTIVE


def test_an_auditor_cannot_freeze(client_for, funded):
    auditor = client_for(staff_member(AUDITOR))
    assert freeze(auditor, funded).status_code == 403
    assert Account.objects.get(pk=funded.pk).status == AccountStatus.ACTIVE


def test_freezing_an_unknown_or_system_account_is_404(superuser):
    for account_id in ("999999", "0", "abc"):
        response = superuser.post(f"/accounts/{account_id}/freeze", {"reason": "x"}, format="json")
        assert response.status_code == 404 and response.json() == {"error": "Account not found."}


# --- roles on the API --------------------------------------------------------------

def test_an_auditor_cannot_post_a_reversal(client_for, funded):
    entry = Transaction.objects.get(account=funded)
    response = client_for(staff_member(AUDITOR)).post(f"/transactions/{entry.pk}/reverse", {}, format="json")
    assert response.status_code == 403
    assert response.json() == {"error": "Only staff allowed to post reversals may do this."}
    assert balance_get(account_id=funded.pk) == Decimal("100.00")


def test_an_auditor_cannot_capture_or_void_a_customers_hold(client_for, alice, funded):
    held = hold(alice, funded, "30.00").json()
    auditor = client_for(staff_member(AUDITOR))
    for action in ("capture", "void"):
        response = auditor.post(f"/transactions/holds/{held['id']}/{action}", {}, format="json")
        assert response.status_code == 403
    assert Hold.objects.get(pk=held["id"]).status == "PENDING"


def test_an_auditor_can_read_a_customers_hold(client_for, alice, funded):
    held = hold(alice, funded, "30.00").json()
    assert client_for(staff_member(AUDITOR)).get(f"/transactions/holds/{held['id']}").status_code == 200


def test_a_teller_can_post_a_reversal(client_for, funded):
    entry = Transaction.objects.get(account=funded)
    teller = client_for(staff_member(TELLER))
    assert teller.post(f"/transactions/{entry.pk}/reverse", {}, format="json").status_code == 201


def test_a_teller_cannot_freeze(client_for, funded):
    assert freeze(client_for(staff_member(TELLER)), funded).status_code == 403


# --- closed ------------------------------------------------------------------------

def test_the_owner_closes_an_empty_account(alice, account):
    response = close(alice, account, reason="moving banks")
    assert response.status_code == 200
    assert response.json()["status"] == "CLOSED" and response.json()["balance"] == "0.00"
    change = AccountStatusChange.objects.get(account=account)
    assert (change.to_status, change.reason, change.changed_by_id) == ("CLOSED", "moving banks", account.user_id)


def test_closing_needs_no_body(alice, account):
    assert alice.post(f"/accounts/{account.pk}/close").status_code == 200


def test_a_closed_account_refuses_every_movement(alice, bob, account, other_account, fund):
    fund(other_account, "50.00")
    close(alice, account)
    for response in (deposit(alice, account), withdraw(alice, account), hold(alice, account),
                     transfer(bob, other_account, account)):
        assert response.status_code == 409
        assert response.json() == {"error": f"Account {account.pk} is closed: it accepts no movements."}
    assert not Transaction.objects.filter(account=account).exists()
    assert balance_get(account_id=other_account.pk) == Decimal("50.00")


def test_a_closed_account_still_shows_its_history(alice, funded):
    withdraw(alice, funded, "100.00")
    close(alice, funded)
    assert alice.get(f"/accounts/{funded.pk}").json()["status"] == "CLOSED"
    assert len(alice.get(f"/transactions/{funded.pk}").json()) == 2
    assert alice.get(f"/accounts/{funded.pk}/statement").status_code == 200


def test_an_account_with_money_cannot_be_closed(alice, funded):
    response = close(alice, funded)
    assert response.status_code == 409
    assert response.json()["error"].startswith(f"Account {funded.pk} has a balance of 100.00")
    assert Account.objects.get(pk=funded.pk).status == AccountStatus.ACTIVE


def test_an_account_with_an_active_hold_cannot_be_closed(alice, funded):
    hold(alice, funded, "100.00")
    withdraw_all = alice.post("/transactions/withdraw", {"account_id": funded.pk, "amount": "100.00"}, format="json")
    assert withdraw_all.status_code == 400  # held
    assert close(alice, funded).status_code == 409


def test_an_account_that_an_active_hold_pays_cannot_be_closed(alice, bob, funded, other_account):
    hold(alice, funded, "10.00", to_account_id=other_account.pk)
    response = close(bob, other_account)
    assert response.status_code == 409 and "active holds" in response.json()["error"]


def test_a_closed_account_cannot_be_the_payee_of_a_new_hold(alice, bob, funded, other_account):
    close(bob, other_account)
    assert hold(alice, funded, "10.00", to_account_id=other_account.pk).status_code == 409


def test_someone_elses_account_cannot_be_closed(bob, account):
    response = close(bob, account)
    assert response.status_code == 404 and response.json() == {"error": "Account not found."}
    assert Account.objects.get(pk=account.pk).status == AccountStatus.ACTIVE


def test_a_closed_account_stays_closed(superuser, alice, account):
    close(alice, account)
    assert close(alice, account).status_code == 409
    assert freeze(superuser, account).status_code == 409
    assert unfreeze(superuser, account).status_code == 409


def test_the_owner_cannot_close_a_frozen_account(superuser, alice, account):
    freeze(superuser, account)
    response = close(alice, account)
    assert response.status_code == 409
    assert response.json() == {"error": f"Account {account.pk} is frozen: only staff can close it."}


def test_a_bad_close_body_is_400(alice, account):
    assert alice.post(f"/accounts/{account.pk}/close", [1], format="json").status_code == 400
    assert alice.post(f"/accounts/{account.pk}/close", {"reason": 5}, format="json").status_code == 400
    assert Account.objects.get(pk=account.pk).status == AccountStatus.ACTIVE


def test_an_unknown_account_is_404_for_close(alice):
    assert close(alice, Account(pk=987654)).status_code == 404
