"""The staff console: Django's admin, with the bank's dashboard at its index and "View
site" leading to the API docs."""
from __future__ import annotations

from django.contrib import admin

from banking.charts import time_chart_svg


class BankingAdminSite(admin.AdminSite):
    site_header = "Banking Backend console"
    site_title = "Banking Backend"
    index_title = "Dashboard"
    site_url = "/api/docs"  # "View site": the API's documentation (the API has no home page)
    index_template = "admin/dashboard_index.html"

    def index(self, request, extra_context=None):
        from transactions.summaries import dashboard_get, summaries_roll_up

        summaries_roll_up()  # cheap when the worker keeps them current; catches up when it does not
        board = dashboard_get()
        context = {
            "board": board,
            "volume_rows": [(kind, board.today.get(kind), board.month.get(kind)) for kind in board.kinds],
            "volume_chart": time_chart_svg(board.daily_volume, title="money moved per day (UTC)", bars=True),
            "balance_chart": time_chart_svg(board.daily_balances, title="customers' total balance at each day's end"),
            **(extra_context or {}),
        }
        return super().index(request, context)
