"""The staff dashboard at the admin's index: the books, volume and refusals, the same
whether the ledger has been rolled up into daily summaries or not."""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.factories import UserFactory
from transactions import services
from transactions.models import DailySummary
from transactions.summaries import dashboard_get, summaries_roll_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def activity(alice, account, other_account, fund):
    fund(account, "100.00")
    fund(other_account, "40.00")
    alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "30.00"}, format="json")
    alice.post("/transactions/withdraw", {"account_id": account.pk, "amount": "999.00"}, format="json")  # refused
    alice.post("/transactions/transfer", {"from_account_id": account.pk, "to_account_id": other_account.pk,
                                          "amount": "20.00"}, format="json")
    services.hold_create(account_id=account.pk, amount=Decimal("5.00"), initiated_by=account.user, owner=account.user)


def _figures(board):
    return (board.customer_total, board.system_total, board.held_total, board.books_sum, board.refused_today,
            {k: (v.count, v.amount) for k, v in board.today.items()}, board.daily_balances[-1][1])


def test_the_books_volume_and_refusals_add_up(activity):
    board = dashboard_get()
    assert board.customer_total == Decimal("110.00") and board.system_total == Decimal("-110.00")
    assert board.books_sum == 0 and board.held_total == Decimal("5.00")
    assert board.refused_today == 1
    assert {k: (v.count, v.amount) for k, v in board.today.items()} == {
        "DEPOSIT": (2, Decimal("140.00")), "WITHDRAWAL": (1, Decimal("30.00")), "TRANSFER": (1, Decimal("20.00"))}
    assert board.daily_volume[-1][1] == Decimal("190.00")
    assert board.daily_balances[-1][1] == Decimal("110.00") and board.daily_balances[-2][1] == 0


def test_the_dashboard_is_the_same_before_and_after_the_roll_up(activity):
    before = _figures(dashboard_get())
    assert summaries_roll_up(settle=timedelta(0)) == 9  # 4 postings of 2 entries, 1 refusal of 1 (a hold writes none)
    assert DailySummary.objects.exists() and dashboard_get().pending_roll_up == 0
    assert _figures(dashboard_get()) == before


def test_the_roll_up_leaves_entries_younger_than_the_settling_time(activity):
    assert summaries_roll_up() == 0  # everything is seconds old
    assert dashboard_get().pending_roll_up == 9


def test_the_admin_index_shows_the_dashboard_and_view_site_leads_to_the_api_docs(client, activity):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get("/admin/").content.decode()
    assert re.search(r"Customers' balances</th><td class=\"num\">110.00<", page)
    assert "balances to zero" in page and page.count("<svg") >= 2
    assert 'href="/api/docs"' in page
