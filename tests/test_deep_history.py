"""History stays an index walk at any depth: 100,000 rows, a page near the bottom."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from events.models import Event
from tests.factories import AccountFactory
from transactions.bulk import deposits_append, expired_holds_append
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


@pytest.fixture
def second_account(user, long_history):
    """A second account of the same owner, after the first's 100,000 entries: opened,
    then 2,000 holds (each a hold.created event; all listed now, in that order)."""
    second = AccountFactory(user=user)
    expired_holds_append(account_id=second.pk, count=2_000)
    # Written in this test's open transaction, so not listed yet: bound 0, as events
    # written before bounds existed have, lists them now, after the first account's.
    Event.objects.filter(account_id=second.pk).update(bound=0)
    return second


def _listing_scans(queries) -> list[dict]:
    """The scans of the events listing among ``queries``, run again under EXPLAIN ANALYZE."""
    listing = next(q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"] and "LIMIT 11" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + listing)
        plan = cursor.fetchone()[0][0]["Plan"]
    scans, nodes = [], [plan]
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if "Scan" in node["Node Type"] and node.get("Relation Name") == Event._meta.db_table:
            scans.append(node)
    return scans


def _first_events(**where) -> list[int]:
    return list(Event.objects.filter(**where).order_by("bound", "id").values_list("id", flat=True)[:10])


def test_a_page_of_two_types_reads_at_most_a_page_of_each(alice, second_account):
    with CaptureQueriesContext(connection) as queries:
        page = alice.get("/events", {"type": "hold.created,account.frozen", "limit": 10}).json()
    assert [event["id"] for event in page] == _first_events(type="hold.created")
    scans = _listing_scans(queries)
    assert {scan["Index Name"] for scan in scans} == {"event_user_type_stream_idx"}
    assert sum(scan["Actual Rows"] for scan in scans) <= 2 * 11


def test_a_page_of_one_account_reads_at_most_a_page_of_each_type(alice, second_account):
    with CaptureQueriesContext(connection) as queries:
        page = alice.get("/events", {"account_id": second_account.pk, "limit": 10}).json()
    assert [event["id"] for event in page] == _first_events(account_id=second_account.pk)
    assert page[0]["type"] == "account.created" and page[1]["type"] == "hold.created"
    scans = _listing_scans(queries)
    assert {scan["Index Name"] for scan in scans} == {"event_account_type_stream_idx"}
    assert sum(scan["Actual Rows"] for scan in scans) <= 2 * 11
