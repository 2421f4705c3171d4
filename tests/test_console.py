"""An account's page in the staff console: its ledger (newest first, paged, filtered), its
events and deliveries, its staff actions, and the forms staff act through: each through
the services, with a reason, recorded with the staff member and in the account's
History; each hidden from and refused to the roles that may not."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission

from accounts.models import AccountStatus, AccountStatusChange
from banking.roles import AUDITOR, TELLER
from events.models import Delivery, EventType
from events.services import endpoint_create
from tests.factories import AccountFactory, UserFactory, staff_member
from transactions.models import Kind, Posting, Transaction
from transactions.selectors import balance_get

pytestmark = pytest.mark.django_db


def _logged_in(client, user):
    client.force_login(user)
    client.staff = user
    return client


@pytest.fixture
def superuser_client(client):
    return _logged_in(client, UserFactory(username="manager", is_staff=True, is_superuser=True))


@pytest.fixture
def teller_client(client):
    return _logged_in(client, staff_member(TELLER, username="tina"))


@pytest.fixture
def auditor_client(client):
    return _logged_in(client, staff_member(AUDITOR, username="audrey"))


def page_of(account) -> str:
    return f"/admin/accounts/account/{account.pk}/change/"


def ledger_seqs(html: str) -> list[int]:
    ledger = html.split('id="ledger"', 1)[1].split("</table>", 1)[0]
    return [int(n) for n in re.findall(r'<tr><td class="num">(\d+)</td>', ledger)]


def test_staff_deposit_needs_a_reason_and_moves_nothing_without_one(teller_client, account):
    response = teller_client.post(f"/admin/accounts/account/{account.pk}/movement/",
                                  {"kind": "deposit", "amount": "75.00", "reason": ""})
    assert response.status_code == 200 and b"This field is required" in response.content
    assert balance_get(account_id=account.pk) == Decimal("0.00")


def test_staff_deposit_keeps_the_reason_and_writes_the_accounts_history(teller_client, account):
    teller_client.post(f"/admin/accounts/account/{account.pk}/movement/",
                       {"kind": "deposit", "amount": "75.00", "reason": "cash at the counter"})
    entry = Transaction.objects.get(account=account)
    assert (entry.note, entry.initiated_by) == ("cash at the counter", teller_client.staff)
    logged = LogEntry.objects.get(object_id=str(account.pk))
    assert logged.user == teller_client.staff and "cash at the counter" in logged.get_change_message()
    history = teller_client.get(f"/admin/accounts/account/{account.pk}/history/").content.decode()
    assert "cash at the counter" in history and "tina" in history


def test_ledger_on_the_account_page_is_newest_first_in_pages_of_50(superuser_client, account, fund):
    for _ in range(60):
        fund(account, "1.00")
    first = superuser_client.get(page_of(account)).content.decode()
    assert ledger_seqs(first) == list(range(60, 10, -1))
    older = re.search(r'id="ledger-older" href="\?([^"]+)"', first).group(1).replace("&amp;", "&")
    second = superuser_client.get(f"{page_of(account)}?{older}").content.decode()
    assert ledger_seqs(second) == list(range(10, 0, -1))
    assert 'id="ledger-older"' not in second
    newer = re.search(r'id="ledger-newer" href="\?([^"]+)"', second).group(1).replace("&amp;", "&")
    assert ledger_seqs(superuser_client.get(f"{page_of(account)}?{newer}").content.decode()) == list(range(60, 10, -1))


def test_ledger_on_the_account_page_filters_by_kind(superuser_client, account, fund, alice):
    fund(account, "10.00")
    alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "3.00"}, format="json")
    fund(account, "1.00")
    html = superuser_client.get(f"{page_of(account)}?kind=WITHDRAWAL").content.decode()
    assert ledger_seqs(html) == [2]


def test_ledger_page_ignores_a_malformed_cursor(superuser_client, account, fund):
    fund(account, "1.00")
    for query in ("before=abc&kind=NOPE", f"after={10**30}", "before=-1"):
        response = superuser_client.get(f"{page_of(account)}?{query}")
        assert response.status_code == 200 and ledger_seqs(response.content.decode()) == [1]


def test_account_page_runs_the_same_number_of_queries_at_any_history_length(
    superuser_client, account, fund, django_assert_max_num_queries,
):
    fund(account, "1.00")
    with django_assert_max_num_queries(25) as short:
        superuser_client.get(page_of(account))
    for _ in range(80):
        fund(account, "1.00")
    with django_assert_max_num_queries(len(short.captured_queries)):
        superuser_client.get(page_of(account))


def test_freeze_from_the_console_records_who_and_why(superuser_client, account):
    response = superuser_client.post(f"/admin/accounts/account/{account.pk}/status/",
                                     {"action": "freeze", "reason": "card reported stolen"})
    assert response.status_code == 302
    account.refresh_from_db()
    change = AccountStatusChange.objects.get(account=account)
    assert account.status == AccountStatus.FROZEN
    assert (change.changed_by, change.reason) == (superuser_client.staff, "card reported stolen")
    staff_actions = superuser_client.get(page_of(account)).content.decode().split('id="staff-actions"')[1]
    assert "ACTIVE → FROZEN" in staff_actions and "card reported stolen" in staff_actions
    assert "manager" in staff_actions


def test_freeze_without_a_reason_changes_nothing(superuser_client, account):
    response = superuser_client.post(f"/admin/accounts/account/{account.pk}/status/", {"action": "freeze"})
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE and not AccountStatusChange.objects.exists()


def test_console_offers_unfreeze_only_for_a_frozen_account(superuser_client, account):
    form = superuser_client.get(f"/admin/accounts/account/{account.pk}/status/").content.decode()
    assert 'value="freeze"' in form and 'value="unfreeze"' not in form
    superuser_client.post(f"/admin/accounts/account/{account.pk}/status/", {"action": "freeze", "reason": "check"})
    form = superuser_client.get(f"/admin/accounts/account/{account.pk}/status/").content.decode()
    assert 'value="unfreeze"' in form and 'value="freeze"' not in form


def test_console_close_is_refused_while_money_remains(superuser_client, account, fund):
    fund(account, "5.00")
    response = superuser_client.post(f"/admin/accounts/account/{account.pk}/status/",
                                     {"action": "close", "reason": "customer asked"}, follow=True)
    assert b"has a balance of 5.00" in response.content
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE


def test_console_closes_an_empty_account(superuser_client, account):
    superuser_client.post(f"/admin/accounts/account/{account.pk}/status/",
                          {"action": "close", "reason": "customer asked"})
    account.refresh_from_db()
    assert account.status == AccountStatus.CLOSED
    assert 'id="action-status"' not in superuser_client.get(page_of(account)).content.decode()


def test_reversal_from_the_account_page_posts_the_opposite_with_the_reason(teller_client, account, fund):
    fund(account, "30.00")
    entry = Transaction.objects.get(account=account)
    response = teller_client.post(f"/admin/accounts/account/{account.pk}/reverse/{entry.pk}/",
                                  {"reason": "deposited twice"})
    assert response.status_code == 302
    reversal = Posting.objects.get(reversal_of_id=entry.posting_id)
    assert (reversal.kind, reversal.note, reversal.initiated_by) == (Kind.REVERSAL, "deposited twice",
                                                                     teller_client.staff)
    assert balance_get(account_id=account.pk) == Decimal("0.00")
    html = teller_client.get(page_of(account)).content.decode()
    assert f'/reverse/{entry.pk}/"' not in html and ">reversed<" in html


def test_reversal_of_another_accounts_entry_is_not_found(teller_client, account, other_account, fund):
    fund(other_account, "30.00")
    entry = Transaction.objects.get(account=other_account)
    response = teller_client.post(f"/admin/accounts/account/{account.pk}/reverse/{entry.pk}/", {"reason": "x"})
    assert response.status_code == 404
    assert not Posting.objects.filter(reversal_of_id=entry.posting_id).exists()


def test_auditor_sees_the_account_page_without_any_action(auditor_client, account, fund):
    fund(account, "30.00")
    html = auditor_client.get(page_of(account)).content.decode()
    assert "30.00" in html and 'id="ledger"' in html
    assert "Deposit / withdraw" not in html and "Freeze" not in html and "Reverse…" not in html


@pytest.mark.parametrize("action", ["movement/", "status/", "reverse/{entry}/"])
def test_auditor_cannot_act_from_the_console(auditor_client, account, fund, action):
    fund(account, "30.00")
    entry = Transaction.objects.get(account=account)
    url = f"/admin/accounts/account/{account.pk}/{action.format(entry=entry.pk)}"
    assert auditor_client.get(url).status_code == 403
    data = {"kind": "withdrawal", "amount": "30.00", "action": "freeze", "reason": "try"}
    assert auditor_client.post(url, data).status_code == 403
    account.refresh_from_db()
    assert balance_get(account_id=account.pk) == Decimal("30.00") and account.status == AccountStatus.ACTIVE
    assert Posting.objects.count() == 1


def test_auditor_gets_no_reverse_action_in_the_ledger_list(auditor_client, account, fund):
    fund(account, "30.00")
    html = auditor_client.get("/admin/transactions/transaction/").content.decode()
    assert "reverse_selected" not in html and "30.00" in html


def test_teller_posts_but_may_not_freeze(teller_client, account):
    html = teller_client.get(page_of(account)).content.decode()
    assert "Deposit / withdraw" in html and 'id="action-status"' not in html
    assert teller_client.post(f"/admin/accounts/account/{account.pk}/status/",
                              {"action": "freeze", "reason": "try"}).status_code == 403


def test_staff_with_the_freeze_permission_alone_may_freeze(client, account):
    staff = UserFactory(username="compliance", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_account"),
                               Permission.objects.get(codename="freeze_account"))
    client.force_login(staff)
    html = client.get(page_of(account)).content.decode()
    assert 'id="action-status"' in html and "Deposit / withdraw" not in html
    form = client.get(f"/admin/accounts/account/{account.pk}/status/").content.decode()
    assert 'value="freeze"' in form and 'value="close"' not in form


def test_account_page_lists_its_events_and_their_deliveries(superuser_client, user, account, fund):
    endpoint_create(user=user, url="http://127.0.0.1:9/hooks", description="books")
    fund(account, "12.00")
    delivery = Delivery.objects.get(event__type=EventType.TRANSACTION_CREATED)
    events = superuser_client.get(page_of(account)).content.decode().split('id="account-events"')[1]
    assert "transaction.created" in events and "account.created" in events
    assert f"/admin/events/delivery/{delivery.pk}/change/" in events and "http://127.0.0.1:9/hooks" in events


def test_account_list_shows_and_filters_by_status(superuser_client, user):
    open_one, frozen = AccountFactory(user=user), AccountFactory(user=user, branch="North")
    superuser_client.post(f"/admin/accounts/account/{frozen.pk}/status/", {"action": "freeze", "reason": "check"})
    listed = superuser_client.get("/admin/accounts/account/?status__exact=FROZEN").content.decode()
    assert "North" in listed and f"/admin/accounts/account/{open_one.pk}/change/" not in listed


def test_ledger_list_cuts_long_notes_and_keeps_the_whole_on_hover(superuser_client, account, alice):
    note = "rent for the flat on the third floor, december, with the parking space"
    alice.post("/transactions/deposit", {"account_id": account.pk, "amount": "9.00", "note": note}, format="json")
    html = superuser_client.get("/admin/transactions/transaction/").content.decode()
    assert f'title="{note}"' in html and f">{note}<" not in html


def test_ledger_list_searches_by_amount(superuser_client, account, fund):
    fund(account, "12.34")
    fund(account, "50.00")
    html = superuser_client.get("/admin/transactions/transaction/?q=12.34").content.decode()
    # Both legs of the one deposit of 12.34 (the account's and the external funds'), nothing else.
    assert html.count('class="action-select"') == 2 and ">12.34<" in html and ">50.00<" not in html
