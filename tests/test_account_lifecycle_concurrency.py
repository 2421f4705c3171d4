"""Status changes race movements on a real PostgreSQL: the status is read under the
account lock, so a movement either committed before the change or is refused; each
change is announced by its event once it commits."""
from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import Account, AccountStatus, AccountStatusChange
from accounts.services import account_close, account_freeze
from banking.errors import StatusChangeRefused
from tests.concurrency import owner_client, run_concurrently
from tests.conftest import assert_ledger_consistent
from tests.factories import AccountFactory, UserFactory
from transactions.models import Posting, Transaction

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WITHDRAWALS = 12


def test_a_freeze_racing_withdrawals_lets_through_only_those_that_committed_before_it(fund):
    account = AccountFactory()
    fund(account, "1000.00")
    staff = UserFactory(is_staff=True, is_superuser=True)
    clients = [owner_client(account) for _ in range(WITHDRAWALS)]

    def task(i: int):
        if i == WITHDRAWALS:
            return account_freeze(account_id=account.pk, actor=staff, reason="race").status
        return clients[i].post("/transactions/withdraw", {"account_id": account.pk, "amount": "10.00"},
                               format="json").status_code

    results = run_concurrently(WITHDRAWALS + 1, task)
    assert results[-1] == AccountStatus.FROZEN
    assert set(results[:-1]) <= {201, 409}
    frozen_at = AccountStatusChange.objects.get(account=account).created_at
    made = Transaction.objects.filter(account=account, transaction_type="WITHDRAWAL")
    assert made.count() == results.count(201)
    assert all(entry.created_at < frozen_at for entry in made)
    assert assert_ledger_consistent(account) == Decimal("1000.00") - 10 * results.count(201)


def test_a_close_racing_deposits_leaves_either_a_closed_empty_account_or_an_open_funded_one():
    account = AccountFactory()
    client = owner_client(account)

    def task(i: int):
        if i == 0:
            try:
                return account_close(account_id=account.pk, actor=account.user, owner=account.user).status
            except StatusChangeRefused:  # a deposit got there first
                return "refused"
        return client.post("/transactions/deposit", {"account_id": account.pk, "amount": "1.00"},
                           format="json").status_code

    results = run_concurrently(9, task)
    deposited = Transaction.objects.filter(account=account).count()
    assert deposited == results.count(201)
    if results[0] == AccountStatus.CLOSED:
        closed_at = AccountStatusChange.objects.get(account=account).created_at
        assert assert_ledger_consistent(account) == 0 and deposited == 0
        assert not Transaction.objects.filter(account=account, created_at__gte=closed_at).exists()
    else:
        assert results[0] == "refused" and deposited >= 1
        assert Account.objects.get(pk=account.pk).status == AccountStatus.ACTIVE
    assert not Posting.objects.filter(status="FAILED").exists()


def test_each_status_change_is_an_event_for_the_owner_with_the_account_as_answered():
    account = AccountFactory()
    staff = UserFactory(is_staff=True, is_superuser=True)
    owner, admin = owner_client(account), owner_client(AccountFactory(user=staff))
    answered = [
        admin.post(f"/accounts/{account.pk}/freeze", {"reason": "check"}, format="json").json(),
        admin.post(f"/accounts/{account.pk}/unfreeze", {"reason": "ok"}, format="json").json(),
        owner.post(f"/accounts/{account.pk}/close", {}, format="json").json(),
    ]
    events = [e for e in owner.get("/events", {"account_id": account.pk}).json() if e["type"] != "account.created"]
    assert [e["type"] for e in events] == ["account.frozen", "account.unfrozen", "account.closed"]
    assert [e["data"] for e in events] == answered
    assert [e["data"]["status"] for e in events] == ["FROZEN", "ACTIVE", "CLOSED"]
    assert admin.get("/events", {"type": "account.frozen"}).json() == []  # the owner's events, not staff's
