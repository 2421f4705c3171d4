"""The ledger audit: recompute everything from scratch and list every disagreement.
Used by ``manage.py verify_ledger`` and the tests. Full scans by design: this is the
slow, independent path that checks the fast one."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

from accounts.models import Account
from transactions.selectors import balance_get, balance_recompute

_LIMIT = 50  # findings listed per check; the count is always exact


@dataclass
class AuditReport:
    accounts: int = 0
    rows: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


_CHAIN_SQL = """
SELECT id, account_id, seq FROM (
    SELECT id, account_id, seq, balance_after,
           LAG(balance_after, 1, 0) OVER w AS previous_balance,
           LAG(seq, 1, 0) OVER w AS previous_seq,
           CASE WHEN status <> 'SUCCESS' THEN 0
                WHEN direction = 'CREDIT' THEN amount
                ELSE -amount END AS delta
    FROM transactions_transaction
    WINDOW w AS (PARTITION BY account_id ORDER BY seq)
) chained
WHERE ABS(balance_after - (previous_balance + delta)) > 0.001 OR seq <> previous_seq + 1
ORDER BY account_id, seq
"""

_TRANSFER_SQL = """
SELECT transfer_ref FROM transactions_transaction
WHERE transfer_ref IS NOT NULL
GROUP BY transfer_ref
HAVING NOT (
    COUNT(*) = 2
    AND SUM(CASE WHEN direction = 'DEBIT' THEN 1 ELSE 0 END) = 1
    AND MIN(amount) = MAX(amount)
    AND MIN(status) = 'SUCCESS' AND MAX(status) = 'SUCCESS'
    AND MIN(account_id) <> MAX(account_id)
)
"""

_REVERSAL_SQL = """
SELECT r.id FROM transactions_transaction r
JOIN transactions_transaction o ON o.id = r.reversal_of_id
WHERE r.amount <> o.amount OR r.account_id <> o.account_id OR r.direction = o.direction
   OR o.status <> 'SUCCESS' OR r.status <> 'SUCCESS'
"""


def audit_ledger() -> AuditReport:
    report = AuditReport()
    for account_id in Account.objects.order_by("pk").values_list("pk", flat=True).iterator():
        report.accounts += 1
        reported = balance_get(account_id=account_id)  # what the API answers
        recomputed = balance_recompute(account_id=account_id)  # full aggregation
        if reported != recomputed:
            report.problems.append(
                f"account {account_id}: API balance {reported} but its ledger rows sum to {recomputed}"
            )
        if reported < 0:
            report.problems.append(f"account {account_id}: negative balance {reported}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM transactions_transaction")
        report.rows = cursor.fetchone()[0]
        for sql, describe in (
            (_CHAIN_SQL, lambda r: f"row {r[0]} (account {r[1]}, seq {r[2]}): running balance or sequence breaks the chain"),
            (_TRANSFER_SQL, lambda r: f"transfer {r[0]}: legs do not pair up (one debit + one matching credit)"),
            (_REVERSAL_SQL, lambda r: f"reversal row {r[0]} does not mirror the row it reverses"),
        ):
            cursor.execute(sql)
            found = cursor.fetchall()
            report.problems += [describe(row) for row in found[:_LIMIT]]
            if len(found) > _LIMIT:
                report.problems.append(f"... and {len(found) - _LIMIT} more like the above")
    return report
