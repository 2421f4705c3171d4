"""The ledger audit: recompute everything from scratch and list every disagreement
(the books, and the events that announce every change).
Used by ``manage.py verify_ledger`` and the tests. Full scans by design: this is the
slow, independent path that checks the fast one. Table and column names come from the
models."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import AccountStatus, AccountStatusChange
from banking.db import model_columns
from banking.money import CENT, format_money

from events.models import EventType
from events.sql import EV, EVENTS, json_int_sql
from transactions.ledger_sql import ACCOUNTS, HOLDS, LEDGER, POSTINGS, A, E, H, P, head_balance_sql, held_sql
from transactions.models import Direction, HoldStatus, Status

STATUS_CHANGES = AccountStatusChange._meta.db_table
SC = model_columns(AccountStatusChange)
_LIMIT = 50  # findings listed per check; the count is always exact

HEAD = head_balance_sql(f"a.{A.id}")
SIGNED = f"CASE WHEN e.{E.direction} = '{Direction.CREDIT}' THEN e.{E.amount} ELSE -e.{E.amount} END"
SUCCESS = f"'{Status.SUCCESS}'"
FAILED = f"'{Status.FAILED}'"
# Exact on PostgreSQL (numeric); SQLite sums decimals as floating point.
EPSILON = "0.001"


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
# Table and column names come from the models (ledger_sql's E, P and A).
CHECKS: list[tuple[str, str]] = [
    # What the API answers (the newest entry's running balance) against the full sum.
    (f"""
     SELECT a.{A.id}, COALESCE({HEAD}, 0) AS reported, COALESCE(SUM({SIGNED}), 0) AS summed
       FROM {ACCOUNTS} a LEFT JOIN {LEDGER} e ON e.{E.account} = a.{A.id} AND e.{E.status} = {SUCCESS}
      WHERE a.{A.system_code} IS NULL
      GROUP BY a.{A.id}
     HAVING ABS(COALESCE({HEAD}, 0) - COALESCE(SUM({SIGNED}), 0)) > {EPSILON}
         OR COALESCE({HEAD}, 0) < 0
      ORDER BY a.{A.id}""",
     "account {0}: the API answers a balance of {1:money} but its entries sum to {2:money} (or it is negative)"),
    # Each customer entry follows from the one before it: sequence and running balance.
    (f"""
     SELECT id, account, seq FROM (
         SELECT {E.id} AS id, {E.account} AS account, {E.seq} AS seq, {E.balance_after} AS balance_after,
                LAG({E.balance_after}, 1, 0) OVER w AS previous_balance, LAG({E.seq}, 1, 0) OVER w AS previous_seq,
                CASE WHEN {E.status} <> {SUCCESS} THEN 0 WHEN {E.direction} = '{Direction.CREDIT}' THEN {E.amount}
                     ELSE -{E.amount} END AS delta
           FROM {LEDGER} WHERE {E.seq} IS NOT NULL
         WINDOW w AS (PARTITION BY {E.account} ORDER BY {E.seq})
     ) chained
     WHERE ABS(balance_after - (previous_balance + delta)) > {EPSILON} OR seq <> previous_seq + 1
     ORDER BY account, seq""",
     "entry {0} (account {1}, seq {2}): its running balance or sequence number breaks the chain"),
    # Double entry: a successful posting's entries sum to zero, and there are two or more.
    (f"""
     SELECT p.{P.id}, COUNT(e.{E.id}), COALESCE(SUM({SIGNED}), 0)
       FROM {POSTINGS} p LEFT JOIN {LEDGER} e ON e.{E.posting} = p.{P.id}
      WHERE p.{P.status} = {SUCCESS}
      GROUP BY p.{P.id}
     HAVING COUNT(e.{E.id}) < 2 OR ABS(COALESCE(SUM({SIGNED}), 0)) > {EPSILON}
      ORDER BY p.{P.id}""",
     "posting {0} is unbalanced: {1} entries summing to {2:money}"),
    # A refused attempt records exactly one entry (and moves nothing).
    (f"""
     SELECT p.{P.id}, COUNT(e.{E.id}) FROM {POSTINGS} p LEFT JOIN {LEDGER} e ON e.{E.posting} = p.{P.id}
      WHERE p.{P.status} = {FAILED} GROUP BY p.{P.id} HAVING COUNT(e.{E.id}) <> 1 ORDER BY p.{P.id}""",
     "refused posting {0} has {1} entries instead of one"),
    # Entries say what their posting is.
    (f"""
     SELECT e.{E.id}, e.{E.posting} FROM {LEDGER} e JOIN {POSTINGS} p ON p.{P.id} = e.{E.posting}
      WHERE e.{E.transaction_type} <> p.{P.kind} OR e.{E.status} <> p.{P.status} ORDER BY e.{E.id}""",
     "entry {0} does not match the kind or status of its posting {1}"),
    # Every entry is on an account that exists (no foreign key holds this: migration 0009).
    (f"""
     SELECT e.{E.id}, e.{E.account} FROM {LEDGER} e LEFT JOIN {ACCOUNTS} a ON a.{A.id} = e.{E.account}
      WHERE a.{A.id} IS NULL ORDER BY e.{E.id}""",
     "entry {0} is on account {1}, which does not exist"),
    # Running balances are kept on customer accounts, and only there.
    (f"""
     SELECT e.{E.id}, e.{E.account} FROM {LEDGER} e JOIN {ACCOUNTS} a ON a.{A.id} = e.{E.account}
      WHERE (a.{A.system_code} IS NULL) <> (e.{E.seq} IS NOT NULL) ORDER BY e.{E.id}""",
     "entry {0} on account {1}: a sequence number and running balance belong on customer accounts only"),
    # A reversal entry mirrors the entry it reverses, within a posting that reverses its posting.
    (f"""
     SELECT r.{E.id} FROM {LEDGER} r
       JOIN {LEDGER} o ON o.{E.id} = r.{E.reversal_of}
       JOIN {POSTINGS} rp ON rp.{P.id} = r.{E.posting}
      WHERE r.{E.amount} <> o.{E.amount} OR r.{E.account} <> o.{E.account} OR r.{E.direction} = o.{E.direction}
         OR o.{E.status} <> {SUCCESS} OR r.{E.status} <> {SUCCESS}
         OR COALESCE(rp.{P.reversal_of}, 0) <> o.{E.posting}
      ORDER BY r.{E.id}""",
     "reversal entry {0} does not mirror the entry it reverses"),
    # Holds: a captured hold has exactly one capture posting, any other none; never more
    # captured than held.
    (f"""
     SELECT h.{H.id}, h.{H.status}, COUNT(p.{P.id}) FROM {HOLDS} h LEFT JOIN {POSTINGS} p ON p.{P.hold} = h.{H.id}
      GROUP BY h.{H.id}, h.{H.status}, h.{H.amount}, h.{H.captured_amount}
     HAVING (h.{H.status} = '{HoldStatus.CAPTURED}') <> (COUNT(p.{P.id}) = 1) OR COUNT(p.{P.id}) > 1
         OR COALESCE(h.{H.captured_amount}, 0) > h.{H.amount}
      ORDER BY h.{H.id}""",
     "hold {0} ({1}) has {2} capture postings, or more captured than held"),
    # A capture takes the captured amount from the held account, and gives it to the
    # payee if the hold names one.
    (f"""
     SELECT h.{H.id} FROM {HOLDS} h JOIN {POSTINGS} p ON p.{P.hold} = h.{H.id}
      WHERE NOT EXISTS (SELECT 1 FROM {LEDGER} e WHERE e.{E.posting} = p.{P.id} AND e.{E.account} = h.{H.account}
                          AND e.{E.direction} = '{Direction.DEBIT}' AND e.{E.amount} = h.{H.captured_amount})
         OR (h.{H.to_account} IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM {LEDGER} e WHERE e.{E.posting} = p.{P.id} AND e.{E.account} = h.{H.to_account}
                   AND e.{E.direction} = '{Direction.CREDIT}' AND e.{E.amount} = h.{H.captured_amount}))
      ORDER BY h.{H.id}""",
     "the capture of hold {0} does not move the captured amount from the held account (to its payee)"),
    # The lifecycle: an account's status is where its status changes, in order, lead.
    (f"""
     SELECT id, status, expected FROM (
         SELECT a.{A.id} AS id, a.{A.status} AS status, COALESCE(
                (SELECT c.{SC.to_status} FROM {STATUS_CHANGES} c WHERE c.{SC.account} = a.{A.id}
                  ORDER BY c.{SC.id} DESC LIMIT 1), '{AccountStatus.ACTIVE}') AS expected
           FROM {ACCOUNTS} a) s
      WHERE status <> expected ORDER BY id""",
     "account {0} is {1} but its status changes leave it {2}"),
    # A closed account holds nothing and nothing was posted to it after it closed.
    (f"""
     SELECT a.{A.id}, COALESCE({HEAD}, 0) FROM {ACCOUNTS} a
       JOIN {STATUS_CHANGES} c ON c.{SC.account} = a.{A.id} AND c.{SC.to_status} = '{AccountStatus.CLOSED}'
      WHERE a.{A.status} = '{AccountStatus.CLOSED}'
        AND (COALESCE({HEAD}, 0) <> 0 OR EXISTS (
             SELECT 1 FROM {LEDGER} e WHERE e.{E.account} = a.{A.id} AND e.{E.created_at} > c.{SC.created_at}))
      ORDER BY a.{A.id}""",
     "closed account {0} holds {1:money} or has entries posted after it closed"),
]

# Events: no change without its event, no event without its change. Each takes one
# parameter: the start of the retention period (EVENT_RETENTION_DAYS; older events may
# have been purged, so older changes are not asked for theirs).
_HOLD_ID = json_int_sql(f"ev.{EV.data}", "id")
_PARTIES = f"(CASE WHEN h.{H.to_account} IS NULL THEN 1 ELSE 2 END)"


def _count(event_type: str) -> str:
    return f"SUM(CASE WHEN ev.{EV.type} = '{event_type}' THEN 1 ELSE 0 END)"


def _expected(status: str) -> str:
    return f"(CASE WHEN h.{H.status} = '{status}' THEN {_PARTIES} ELSE 0 END)"


EVENT_CHECKS: list[tuple[str, str]] = [
    (f"""
     SELECT e.{E.id}, COUNT(ev.{EV.id}) FROM {LEDGER} e
       LEFT JOIN {EVENTS} ev ON ev.{EV.transaction_id} = e.{E.id} AND ev.{EV.type} = '{EventType.TRANSACTION_CREATED}'
      WHERE e.{E.seq} IS NOT NULL AND e.{E.created_at} >= %s
      GROUP BY e.{E.id} HAVING COUNT(ev.{EV.id}) <> 1 ORDER BY e.{E.id}""",
     "entry {0} has {1} transaction.created events instead of one"),
    (f"""
     SELECT ev.{EV.id}, ev.{EV.transaction_id} FROM {EVENTS} ev
       LEFT JOIN {LEDGER} e ON e.{E.id} = ev.{EV.transaction_id}
       LEFT JOIN {ACCOUNTS} a ON a.{A.id} = e.{E.account}
      WHERE ev.{EV.type} = '{EventType.TRANSACTION_CREATED}' AND ev.{EV.created_at} >= %s
        AND (e.{E.id} IS NULL OR e.{E.seq} IS NULL OR ev.{EV.account_id} <> e.{E.account}
             OR ev.{EV.user} <> a.{A.user})
      ORDER BY ev.{EV.id}""",
     "event {0} announces entry {1}, which is not an entry of that user's account"),
    (f"""
     SELECT a.{A.id}, COUNT(ev.{EV.id}) FROM {ACCOUNTS} a
       LEFT JOIN {EVENTS} ev ON ev.{EV.account_id} = a.{A.id} AND ev.{EV.type} = '{EventType.ACCOUNT_CREATED}'
                            AND ev.{EV.user} = a.{A.user}
      WHERE a.{A.system_code} IS NULL AND a.{A.created_at} >= %s
      GROUP BY a.{A.id} HAVING COUNT(ev.{EV.id}) <> 1 ORDER BY a.{A.id}""",
     "account {0} has {1} account.created events instead of one"),
    (f"""
     SELECT h.{H.id}, h.{H.status} FROM {HOLDS} h LEFT JOIN (
         SELECT {_HOLD_ID} AS hold_id, {_count(EventType.HOLD_CREATED)} AS created,
                {_count(EventType.HOLD_CAPTURED)} AS captured, {_count(EventType.HOLD_VOIDED)} AS voided,
                {_count(EventType.HOLD_EXPIRED)} AS expired
           FROM {EVENTS} ev WHERE ev.{EV.type} LIKE 'hold.%%' GROUP BY {_HOLD_ID}
     ) ev ON ev.hold_id = h.{H.id}
      WHERE h.{H.created_at} >= %s
        AND (COALESCE(ev.created, 0) <> {_PARTIES}
             OR COALESCE(ev.captured, 0) <> {_expected(HoldStatus.CAPTURED)}
             OR COALESCE(ev.voided, 0) <> {_expected(HoldStatus.VOIDED)}
             OR COALESCE(ev.expired, 0) <> {_expected(HoldStatus.EXPIRED)})
      ORDER BY h.{H.id}""",
     "hold {0} ({1}): its events do not tell its story (one hold.created per party, then one event of how it "
     "ended)"),
    (f"""
     SELECT ev.{EV.id}, ev.{EV.type} FROM {EVENTS} ev LEFT JOIN {HOLDS} h ON h.{H.id} = {_HOLD_ID}
      WHERE ev.{EV.type} LIKE 'hold.%%' AND ev.{EV.created_at} >= %s
        AND (h.{H.id} IS NULL OR ev.{EV.account_id} NOT IN (h.{H.account}, COALESCE(h.{H.to_account}, 0)))
      ORDER BY ev.{EV.id}""",
     "event {0} ({1}) is about a hold that does not exist, or not about its account"),
]

# The posted balance of each customer account covers what its active holds reserve now
# (a query of its own: it takes the instant as a parameter).
HOLDS_COVERED_SQL = f"""
     SELECT a.{A.id}, COALESCE({HEAD}, 0), held FROM (
         SELECT a.{A.id}, {held_sql(f"a.{A.id}")} AS held FROM {ACCOUNTS} a WHERE a.{A.system_code} IS NULL) a
      WHERE held > COALESCE({HEAD}, 0) ORDER BY a.{A.id}"""

# All accounts together, customers' and system ones: every cent came from somewhere.
BOOKS_SQL = f"SELECT COALESCE(SUM({SIGNED}), 0) FROM {LEDGER} e WHERE e.{E.status} = {SUCCESS}"


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
            report.problems += _findings(cursor, sql, describe)
        report.problems += _findings(
            cursor, HOLDS_COVERED_SQL, "account {0}: its balance {1:money} does not cover its active holds ({2:money})",
            [timezone.now()],
        )
        since = timezone.now() - timedelta(days=settings.EVENT_RETENTION_DAYS)
        for sql, describe in EVENT_CHECKS:
            report.problems += _findings(cursor, sql, describe, [since])
        cursor.execute(BOOKS_SQL)
        total = Decimal(str(cursor.fetchone()[0])).quantize(CENT)
        if total != 0:
            report.problems.append(f"the books do not balance: all accounts together sum to {total}, not 0")
    return report


class _Value:
    """A value of a finding; ``{n:money}`` prints it as money ("15.00") whatever type the
    database returned it as (SQLite answers sums as int or float)."""

    def __init__(self, value):
        self.value = value

    def __format__(self, spec: str) -> str:
        if spec == "money":
            return format_money(Decimal(str(self.value)).quantize(CENT))
        return format(self.value, spec)


def _findings(cursor, sql: str, describe: str, params: list | None = None) -> list[str]:
    """One line per row the check's query returns (at most _LIMIT, then a count)."""
    cursor.execute(sql, params)
    found = cursor.fetchall()
    lines = [describe.format(*map(_Value, row)) for row in found[:_LIMIT]]
    if len(found) > _LIMIT:
        lines.append(f"... and {len(found) - _LIMIT} more like the above")
    return lines
