from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models.expressions import RawSQL
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.models import Account
from accounts.services import account_create
from banking.charts import time_chart_svg
from banking.errors import ApplicationError
from banking.money import MAX_AMOUNT, MoneyField, format_money
from transactions import services
from transactions.ledger_sql import head_balance_sql
from transactions.selectors import account_entries, balance_get, balance_recompute, balances_get

RECENT_ROWS = 20
CHART_ROWS = 200


class StaffMovementForm(forms.Form):
    KIND_CHOICES = [("deposit", "Deposit"), ("withdrawal", "Withdrawal")]
    kind = forms.ChoiceField(choices=KIND_CHOICES)
    amount = forms.DecimalField(min_value=Decimal("0.01"), max_value=MAX_AMOUNT, decimal_places=2, max_digits=12)
    note = forms.CharField(max_length=255, required=False)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "bank_name", "branch", "balance", "created_at")
    list_select_related = ("user",)
    list_filter = ("bank_name",)
    search_fields = ("user__username", "bank_name", "branch")
    readonly_fields = ("balance", "available", "created_at", "active_holds", "balance_chart", "recent_transactions")
    autocomplete_fields = ("user",)
    change_form_template = "admin/accounts/account/change_form.html"

    def get_queryset(self, request):
        # A customer's balance is the newest entry's running balance: one indexed
        # subquery, so a page of 100 accounts is one query, whatever their history length.
        head = head_balance_sql(f"{connection.ops.quote_name(Account._meta.db_table)}.id")
        # (Typed, so that SQLite's float comes back a Decimal like PostgreSQL's numeric.)
        return super().get_queryset(request).annotate(current_balance=RawSQL(head, [], output_field=MoneyField()))

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # Opened through the service, as the API opens accounts (with its account.created event).
        opened = account_create(user=obj.user, bank_name=obj.bank_name, branch=obj.branch)
        obj.pk, obj.created_at = opened.pk, opened.created_at

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields + ["user"] if obj else fields

    @admin.display(description="balance", ordering="current_balance")
    def balance(self, obj: Account) -> str:
        if obj.is_system:
            # No running balance on system accounts (nothing may queue on them): a sum.
            return format_money(balance_recompute(account_id=obj.pk))
        value = getattr(obj, "current_balance", None)
        if value is None and obj.pk:
            value = balance_get(account_id=obj.pk)
        return format_money(value or Decimal("0"))

    @admin.display(description=f"balance over the last {CHART_ROWS} movements")
    def balance_chart(self, obj: Account) -> str:
        """Drawn on the server over a time axis (one query; no script, no CDN)."""
        if not obj.pk:
            return "-"
        points = list(
            account_entries(account_id=obj.pk).order_by("-seq").values_list("created_at", "balance_after")[:CHART_ROWS]
        )[::-1]
        if len(points) < 2:
            return "not enough history yet"
        return time_chart_svg(points, title="balance over time (UTC)", steps=True)

    @admin.display(description=f"latest {RECENT_ROWS} transactions")
    def recent_transactions(self, obj: Account) -> str:
        if not obj.pk:
            return "-"
        rows = account_entries(account_id=obj.pk).order_by("-seq")[:RECENT_ROWS]
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (r.created_at.strftime("%Y-%m-%d %H:%M:%S"), r.transaction_type, r.direction, r.status,
                 format_money(r.amount), format_money(r.balance_after), r.note)
                for r in rows
            ),
        )
        return format_html(
            "<table><tr><th>time (UTC)</th><th>type</th><th>direction</th><th>status</th>"
            "<th>amount</th><th>balance after</th><th>note</th></tr>{}</table>",
            body,
        )

    @admin.display(description="available balance")
    def available(self, obj: Account) -> str:
        if not obj.pk or obj.is_system:
            return "-"
        return format_money(balances_get(account_ids=[obj.pk])[obj.pk].available_balance)

    @admin.display(description="active holds")
    def active_holds(self, obj: Account) -> str:
        """What reserves this account's funds now (PENDING, not expired)."""
        if not obj.pk:
            return "-"
        holds = list(obj.holds.active(timezone.now()).order_by("-id")[:RECENT_ROWS])
        if not holds:
            return "none"
        body = format_html_join(
            "",
            "<tr><td>hold {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((h.pk, format_money(h.amount), h.to_account_id or "-", h.created_at.strftime("%Y-%m-%d %H:%M:%S"),
              h.expires_at.strftime("%Y-%m-%d %H:%M:%S"), h.note) for h in holds),
        )
        return format_html(
            "<table><tr><th>hold</th><th>amount</th><th>payee account</th><th>created (UTC)</th>"
            "<th>expires (UTC)</th><th>note</th></tr>{}</table>",
            body,
        )

    def has_delete_permission(self, request, obj=None):
        return False  # an account with a ledger is never deleted

    def get_urls(self):
        return [
            path(
                "<int:account_id>/movement/",
                self.admin_site.admin_view(self.movement_view),
                name="accounts_account_movement",
            )
        ] + super().get_urls()

    def movement_view(self, request, account_id: int):
        """Staff deposit or withdrawal: through the same services as the API, so the
        account lock, the running balance and the audit trail (initiated_by = the staff
        member) hold exactly as for customers."""
        if not request.user.has_perm("transactions.add_transaction"):
            raise PermissionDenied
        account = get_object_or_404(Account, pk=account_id)
        form = StaffMovementForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            service = (
                services.deposit_create if form.cleaned_data["kind"] == "deposit" else services.withdrawal_create
            )
            try:
                entry = service(
                    account_id=account.pk,
                    amount=form.cleaned_data["amount"],
                    note=form.cleaned_data["note"],
                    initiated_by=request.user,
                    owner=None,
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, level=messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{entry.transaction_type} of {format_money(entry.amount)} posted; "
                    f"balance {format_money(entry.balance_after)}.",
                )
                return redirect(reverse("admin:accounts_account_change", args=[account.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Deposit or withdraw: account #{account.pk}",
            "account": account,
            "balance": format_money(balance_get(account_id=account.pk)),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/accounts/account/movement.html", context)

