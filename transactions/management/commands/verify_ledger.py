from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from transactions.audit import audit_ledger


class Command(BaseCommand):
    help = (
        "Audit the ledger from scratch: every customer account's balance as the API reports it "
        "must equal the full sum of its entries and never be negative; every entry's running "
        "balance and sequence must follow from the one before; every successful posting's "
        "entries must sum to zero (two or more of them) and a refused one must have one; "
        "entries must match their posting; running balances only on customer accounts; every "
        "reversal must mirror its original; all accounts, customers' and system ones, must "
        "sum to zero; and within the event retention period every entry, account opening and "
        "hold change must have its events, and every event its change. Exits 1 with a report "
        "on any mismatch."
    )

    def handle(self, *args, **options):
        report = audit_ledger()
        if report.ok:
            self.stdout.write(
                f"ledger OK: {report.accounts} accounts, {report.postings} postings, {report.rows} entries; "
                f"the books balance"
            )
            return
        self.stderr.write(f"LEDGER MISMATCH: {len(report.problems)} problem(s) "
                          f"in {report.accounts} accounts, {report.postings} postings, {report.rows} entries")
        for problem in report.problems:
            self.stderr.write(f"  - {problem}")
        sys.exit(1)
