"""History stays an index walk at any depth: 100,000 rows, a page near the bottom."""
import pytest
from django.db import connection

from transactions.ledger_sql import LEDGER
from transactions.models import Transaction

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ROWS = 100_000


@pytest.fixture
def long_history(account, fund):
    first = fund(account, "1.00")
    with connection.cursor() as cursor:  # the services' row format, written in bulk
        cursor.execute(
            f"""INSERT INTO {LEDGER} (account_id, seq, transaction_type, direction, status, amount, balance_after,
                                      note, created_at, initiated_by_id, transfer_ref, reversal_of_id)
                SELECT %s, g, 'DEPOSIT', 'CREDIT', 'SUCCESS', 1.00, g * 1.00, '',
                       %s::timestamptz + g * interval '1 millisecond', %s, NULL, NULL
                FROM generate_series(2, %s) AS g""",
            [account.pk, first.created_at, account.user_id, ROWS],
        )
        cursor.execute(f"ANALYZE {LEDGER}")
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
    assert alice.get(f"/accounts/{account.pk}/balance").json() == {"balance": f"{ROWS}.00"}
    middle = Transaction.objects.get(account=account, seq=ROWS // 2)
    at = alice.get(f"/accounts/{account.pk}/balance", {"at": middle.created_at.isoformat()}).json()
    assert at["balance"] == f"{ROWS // 2}.00"
