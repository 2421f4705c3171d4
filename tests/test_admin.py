from decimal import Decimal

import pytest

from tests.factories import AccountFactory, UserFactory
from transactions.models import Transaction
from transactions.selectors import balance_get

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    staff = UserFactory(username="teller", is_staff=True, is_superuser=True)
    client.force_login(staff)
    client.staff = staff
    return client


def test_account_list_shows_balances_in_a_bounded_number_of_queries(staff_client, fund, django_assert_max_num_queries):
    for _ in range(30):
        account = AccountFactory()
        fund(account, "12.34")
    with django_assert_max_num_queries(8):
        response = staff_client.get("/admin/accounts/account/")
    assert response.status_code == 200
    assert response.content.count(b"12.34") == 30


def test_account_search_and_bank_filter(staff_client):
    AccountFactory(user__username="zed", bank_name="North Bank")
    AccountFactory(user__username="amy", bank_name="South Bank")
    assert b"zed" in staff_client.get("/admin/accounts/account/?q=zed").content
    assert b"amy" not in staff_client.get("/admin/accounts/account/?q=zed").content
    filtered = staff_client.get("/admin/accounts/account/?bank_name=South+Bank").content
    assert b"amy" in filtered and b"zed" not in filtered


def test_ledger_is_read_only_in_the_admin(staff_client, account, fund):
    row = fund(account, "5.00")
    assert staff_client.get("/admin/transactions/transaction/").status_code == 200
    assert staff_client.get("/admin/transactions/transaction/add/").status_code == 403
    change = staff_client.post(f"/admin/transactions/transaction/{row.pk}/change/", {"amount": "999.00"})
    assert change.status_code == 403
    assert staff_client.post(f"/admin/transactions/transaction/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    row.refresh_from_db()
    assert row.amount == Decimal("5.00")
    assert Transaction.objects.filter(account=row.account).count() == 1


def test_ledger_list_runs_a_bounded_number_of_queries(staff_client, fund, django_assert_max_num_queries):
    for _ in range(20):
        account = AccountFactory()
        for _ in range(5):
            fund(account, "1.00")
    with django_assert_max_num_queries(8):
        assert staff_client.get("/admin/transactions/transaction/").status_code == 200


def test_staff_deposit_goes_through_the_service_and_records_the_staff_member(staff_client, account):
    response = staff_client.post(
        f"/admin/accounts/account/{account.pk}/movement/", {"kind": "deposit", "amount": "75.00", "reason": "cash"}
    )
    assert response.status_code == 302
    row = Transaction.objects.get(account=account)
    assert row.initiated_by == staff_client.staff
    assert row.transaction_type == "DEPOSIT" and row.balance_after == Decimal("75.00")


def test_staff_withdrawal_cannot_overdraw(staff_client, account, fund):
    fund(account, "10.00")
    response = staff_client.post(
        f"/admin/accounts/account/{account.pk}/movement/", {"kind": "withdrawal", "amount": "20.00", "reason": "payout"},
        follow=True
    )
    assert b"Insufficient balance" in response.content
    assert balance_get(account_id=account.pk) == Decimal("10.00")


def test_account_page_shows_balance_and_recent_rows(staff_client, account, fund):
    fund(account, "42.00")
    page = staff_client.get(f"/admin/accounts/account/{account.pk}/change/")
    assert page.status_code == 200
    assert b"42.00" in page.content and b"Deposit / withdraw" in page.content


def test_non_staff_cannot_open_the_admin(client, user):
    client.force_login(user)
    assert client.get("/admin/accounts/account/").status_code == 302


def test_account_page_draws_a_balance_chart_in_bounded_queries(staff_client, account, fund, django_assert_max_num_queries):
    for amount in ("10.00", "5.00", "7.50"):
        fund(account, amount)
    with django_assert_max_num_queries(20):
        page = staff_client.get(f"/admin/accounts/account/{account.pk}/change/")
    html = page.content.decode()
    assert "<svg" in html and "<polyline" in html and "22.50" in html
    assert "cdn." not in html


def test_ledger_page_of_100_rows_runs_a_bounded_number_of_queries(staff_client, account, fund,
                                                                  django_assert_max_num_queries):
    for _ in range(120):
        fund(account, "1.00")
    with django_assert_max_num_queries(8):
        response = staff_client.get("/admin/transactions/transaction/?status__exact=SUCCESS&transaction_type__exact=DEPOSIT")
    assert response.status_code == 200
    assert response.content.count(b'class="action-select"') == 100
