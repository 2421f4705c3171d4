from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from transactions.audit import audit_ledger


class Command(BaseCommand):
    help = (
        "Audit the ledger from scratch: every account's balance as the API reports it must "
        "equal the full sum of its ledger rows and never be negative; every row's running "
        "balance and sequence must follow from the previous row; every transfer must be one "
        "debit plus one matching credit; every reversal must mirror its original. Exits 1 "
        "with a report on any mismatch."
    )

    def handle(self, *args, **options):
        report = audit_ledger()
        if report.ok:
            self.stdout.write(f"ledger OK: {report.accounts} accounts, {report.rows} rows")
            return
        self.stderr.write(f"LEDGER MISMATCH: {len(report.problems)} problem(s) "
                          f"in {report.accounts} accounts, {report.rows} rows")
        for problem in report.problems:
            self.stderr.write(f"  - {problem}")
        sys.exit(1)
