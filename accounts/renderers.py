from __future__ import annotations

import csv
import io

from rest_framework.renderers import BaseRenderer


class StatementCSVRenderer(BaseRenderer):
    """A statement as CSV, for spreadsheets: the header row first, then an OPENING BALANCE
    row, one row per movement, and a CLOSING BALANCE row. The opening and closing rows
    carry only their date (the period's start and end) and the balance: their debit and
    credit cells are empty, so summing the debit or credit column gives the period's
    totals and nothing is counted twice.
    Errors never come here: the statement view answers them as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    COLUMNS = ["date", "id", "type", "note", "debit", "credit", "balance"]

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.COLUMNS)
        writer.writerow([data["from"], "", "OPENING BALANCE", "", "", "", data["opening_balance"]])
        for row in data["transactions"]:
            writer.writerow([row["created_at"], row["id"], row["transaction_type"], _cell(row["note"]),
                             row["debit"] or "", row["credit"] or "", row["balance_after"]])
        writer.writerow([data["to"], "", "CLOSING BALANCE", "", "", "", data["closing_balance"]])
        return out.getvalue().encode()


def _cell(text: str) -> str:
    """Free text as a spreadsheet shows it, never as a formula: a cell starting with one
    of = + - @ (or a tab or carriage return) is prefixed with an apostrophe (OWASP's advice
    against CSV injection)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
