"""History stays an index walk at any depth: 100,000 rows, a page near the bottom."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from events.models import Event
from transactions.bulk import deposits_append
from transactions.models import Transaction

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ROWS = 100_000


@pytest.fixture
def long_history(account, fund):
    fund(account, "1.00")
    deposits_append(account_id=account.pk, count=ROWS - 1, step="1 millisecond")
    return account


def test_a_deep_page_is_served_by_a_backward_index_scan(alice, long_history):
    account = long_history
    response = alice.get(f"/transactions/{account.pk}", {"cursor": 21, "limit": 10})
    assert [row["id"] for row in response.json()] == list(
        Transaction.objects.filter(account=account, seq__lt=21).order_by("-seq").values_list("pk", flat=True)[:10])
    query = str(Transaction.objects.filter(account_id=account.pk, seq__lt=21).order_by("-seq")[:11].query)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + query)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan Backward using ledger_account_seq_unique" in plan
    assert "Seq Scan" not in plan and "Sort" not in plan


def test_balance_and_balance_at_agree_with_the_bulk_history(alice, long_history):
    account = long_history
    assert alice.get(f"/accounts/{account.pk}/balance").json() == {"balance": f"{ROWS}.00", "available_balance": f"{ROWS}.00"}
    middle = Transaction.objects.get(account=account, seq=ROWS // 2)
    at = alice.get(f"/accounts/{account.pk}/balance", {"at": middle.created_at.isoformat()}).json()
    assert at["balance"] == f"{ROWS // 2}.00"


def test_an_events_page_after_a_deep_cursor_starts_at_the_cursor(alice, long_history):
    # deposits_append writes each entry's event with bound 0, as events written before
    # bounds existed have: the cursor must be found in the index, not by walking every
    # event that shares its bound.
    middle = Event.objects.filter(account_id=long_history.pk).order_by("id").values_list("id", flat=True)[ROWS // 2]
    with CaptureQueriesContext(connection) as queries:
        page = alice.get("/events", {"after": middle, "limit": 10}).json()
    assert [event["id"] for event in page] == list(
        Event.objects.filter(account_id=long_history.pk, id__gt=middle).order_by("id").values_list("id", flat=True)[:10])
    listing = next(q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"] and "LIMIT 11" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + listing)
        plan = cursor.fetchone()[0][0]["Plan"]
    scan = plan["Plans"][0]
    assert scan["Index Name"] == "event_user_stream_idx"
    assert scan.get("Rows Removed by Filter", 0) == 0 and scan["Actual Rows"] <= 11
