"""The ledger audit: recompute everything from scratch and list every disagreement.
Used by ``manage.py verify_ledger`` and the tests. Full scans by design: this is the
slow, independent path that checks the fast one. Table names come from the models."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from banking.money import CENT

from transactions.ledger_sql import ACCOUNTS, LEDGER, POSTINGS, head_balance_sql
from transactions.models import Direction, Status

_LIMIT = 50  # findings listed per check; the count is always exact

HEAD = head_balance_sql("a.id")
SIGNED = f"CASE WHEN e.direction = '{Direction.CREDIT}' THEN e.amount ELSE -e.amount END"
SUCCESS = f"'{Status.SUCCESS}'"
# Exact on PostgreSQL (numeric); SQLite sums decimals as floating point.
EPSILON = "0.001"
FAILED = f"'{Status.FAILED}'"


@dataclass
class AuditReport:
    accounts: int = 0
    rows: int = 0
    postings: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# (query, description of one finding). Each query returns the rows that break the rule.
CHECKS: list[tuple[str, str]] = [
    # What the API answers (the newest entry's running balance) against the full sum.
    (f"""
     SELECT a.id, COALESCE({HEAD}, 0) AS reported, COALESCE(SUM({SIGNED}), 0) AS summed
       FROM {ACCOUNTS} a LEFT JOIN {LEDGER} e ON e.account_id = a.id AND e.status = {SUCCESS}
      WHERE a.system_code IS NULL
      GROUP BY a.id
     HAVING ABS(COALESCE({HEAD}, 0) - COALESCE(SUM({SIGNED}), 0)) > {EPSILON}
         OR COALESCE({HEAD}, 0) < 0
      ORDER BY a.id""",
     "account {0}: the API answers a balance of {1} but its entries sum to {2} (or it is negative)"),
    # Each customer entry follows from the one before it: sequence and running balance.
    (f"""
     SELECT id, account_id, seq FROM (
         SELECT id, account_id, seq, balance_after,
                LAG(balance_after, 1, 0) OVER w AS previous_balance, LAG(seq, 1, 0) OVER w AS previous_seq,
                CASE WHEN status <> {SUCCESS} THEN 0 WHEN direction = '{Direction.CREDIT}' THEN amount
                     ELSE -amount END AS delta
           FROM {LEDGER} WHERE seq IS NOT NULL
         WINDOW w AS (PARTITION BY account_id ORDER BY seq)
     ) chained
     WHERE ABS(balance_after - (previous_balance + delta)) > {EPSILON} OR seq <> previous_seq + 1
     ORDER BY account_id, seq""",
     "entry {0} (account {1}, seq {2}): its running balance or sequence number breaks the chain"),
    # Double entry: a successful posting's entries sum to zero, and there are two or more.
    (f"""
     SELECT p.id, COUNT(e.id), COALESCE(SUM({SIGNED}), 0)
       FROM {POSTINGS} p LEFT JOIN {LEDGER} e ON e.posting_id = p.id
      WHERE p.status = {SUCCESS}
      GROUP BY p.id
     HAVING COUNT(e.id) < 2 OR ABS(COALESCE(SUM({SIGNED}), 0)) > {EPSILON}
      ORDER BY p.id""",
     "posting {0} is unbalanced: {1} entries summing to {2}"),
    # A refused attempt records exactly one entry (and moves nothing).
    (f"""
     SELECT p.id, COUNT(e.id) FROM {POSTINGS} p LEFT JOIN {LEDGER} e ON e.posting_id = p.id
      WHERE p.status = {FAILED} GROUP BY p.id HAVING COUNT(e.id) <> 1 ORDER BY p.id""",
     "refused posting {0} has {1} entries instead of one"),
    # Entries say what their posting is.
    (f"""
     SELECT e.id, e.posting_id FROM {LEDGER} e JOIN {POSTINGS} p ON p.id = e.posting_id
      WHERE e.transaction_type <> p.kind OR e.status <> p.status ORDER BY e.id""",
     "entry {0} does not match the kind or status of its posting {1}"),
    # Running balances are kept on customer accounts, and only there.
    (f"""
     SELECT e.id, e.account_id FROM {LEDGER} e JOIN {ACCOUNTS} a ON a.id = e.account_id
      WHERE (a.system_code IS NULL) <> (e.seq IS NOT NULL) ORDER BY e.id""",
     "entry {0} on account {1}: a sequence number and running balance belong on customer accounts only"),
    # A reversal entry mirrors the entry it reverses, within a posting that reverses its posting.
    (f"""
     SELECT r.id FROM {LEDGER} r
       JOIN {LEDGER} o ON o.id = r.reversal_of_id
       JOIN {POSTINGS} rp ON rp.id = r.posting_id
      WHERE r.amount <> o.amount OR r.account_id <> o.account_id OR r.direction = o.direction
         OR o.status <> {SUCCESS} OR r.status <> {SUCCESS}
         OR COALESCE(rp.reversal_of_id, 0) <> o.posting_id
      ORDER BY r.id""",
     "reversal entry {0} does not mirror the entry it reverses"),
]

# All accounts together, customers' and system ones: every cent came from somewhere.
BOOKS_SQL = f"SELECT COALESCE(SUM({SIGNED}), 0) FROM {LEDGER} e WHERE e.status = {SUCCESS}"


def audit_ledger() -> AuditReport:
    report = AuditReport()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {ACCOUNTS}")
        report.accounts = cursor.fetchone()[0]
        cursor.execute(f"SELECT COUNT(*) FROM {LEDGER}")
        report.rows = cursor.fetchone()[0]
        cursor.execute(f"SELECT COUNT(*) FROM {POSTINGS}")
        report.postings = cursor.fetchone()[0]
        for sql, describe in CHECKS:
            cursor.execute(sql)
            found = cursor.fetchall()
            report.problems += [describe.format(*row) for row in found[:_LIMIT]]
            if len(found) > _LIMIT:
                report.problems.append(f"... and {len(found) - _LIMIT} more like the above")
        cursor.execute(BOOKS_SQL)
        total = Decimal(str(cursor.fetchone()[0])).quantize(CENT)
        if total != 0:
            report.problems.append(f"the books do not balance: all accounts together sum to {total}, not 0")
    return report
