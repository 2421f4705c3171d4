from __future__ import annotations

import csv
import io

from rest_framework.renderers import BaseRenderer


class StatementCSVRenderer(BaseRenderer):
    """A statement as CSV, one row per movement, for spreadsheets. Error answers on a
    CSV request come out as a one-column ``error`` CSV."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    COLUMNS = ["date", "id", "type", "note", "debit", "credit", "balance"]

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        if not isinstance(data, dict) or "transactions" not in data:
            writer.writerow(["error"])
            writer.writerow([data.get("error", "") if isinstance(data, dict) else str(data)])
            return out.getvalue().encode()
        writer.writerow(["account", data["account_id"], "from", data["from"], "to", data["to"]])
        writer.writerow(self.COLUMNS)
        writer.writerow([data["from"], "", "OPENING BALANCE", "", "", "", data["opening_balance"]])
        for row in data["transactions"]:
            writer.writerow([row["created_at"], row["id"], row["transaction_type"], row["note"],
                             row["debit"] or "", row["credit"] or "", row["balance_after"]])
        writer.writerow([data["to"], "", "CLOSING BALANCE", "", data["total_debits"], data["total_credits"],
                         data["closing_balance"]])
        return out.getvalue().encode()
