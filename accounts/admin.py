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
from django.utils.http import urlencode

from banking.replicas import ReplicaChangelist
from accounts.models import Account, AccountStatus
from accounts.selectors import account_staff_actions
from accounts.services import (
    REASON_MAX_LENGTH, account_close, account_create, account_freeze, account_unfreeze,
)
from banking.charts import time_chart_svg
from banking.errors import ApplicationError
from banking.money import MAX_AMOUNT, MoneyField, format_money
from banking.roles import CLOSE_ACCOUNTS, FREEZE_ACCOUNTS, POST_MOVEMENTS
from events.selectors import account_events_recent
from transactions import services
from transactions.ledger_sql import head_balance_sql
from transactions.models import Direction, Kind, Status, Transaction
from transactions.selectors import (
    account_entries, account_ledger_page, balance_get, balance_recompute, balances_get, postings_reversed,
)

RECENT_ROWS = 20
CHART_ROWS = 200
LEDGER_PAGE_ROWS = 50
SEQ_MAX = 2**63 - 1  # a bigint: larger cursors are malformed, not a database error


class StaffMovementForm(forms.Form):
    KIND_CHOICES = [("deposit", "Deposit"), ("withdrawal", "Withdrawal")]
    kind = forms.ChoiceField(choices=KIND_CHOICES)
    amount = forms.DecimalField(min_value=Decimal("0.01"), max_value=MAX_AMOUNT, decimal_places=2, max_digits=12)
    reason = forms.CharField(max_length=255, help_text="Kept as the movement's note, with your name.")


class StaffReasonForm(forms.Form):
    reason = forms.CharField(max_length=REASON_MAX_LENGTH, help_text="Kept with the action, with your name.")


class StaffStatusForm(StaffReasonForm):
    action = forms.ChoiceField(choices=[])
    field_order = ["action", "reason"]

    def __init__(self, *args, actions: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = actions


class LedgerFilterForm(forms.Form):
    """The filters above an account's ledger (query parameters of its page)."""

    kind = forms.ChoiceField(choices=[("", "every kind"), *Kind.choices], required=False)
    direction = forms.ChoiceField(choices=[("", "both directions"), *Direction.choices], required=False)
    status = forms.ChoiceField(choices=[("", "any status"), *Status.choices], required=False)
    before = forms.IntegerField(min_value=1, max_value=SEQ_MAX, required=False, widget=forms.HiddenInput)
    after = forms.IntegerField(min_value=0, max_value=SEQ_MAX, required=False, widget=forms.HiddenInput)


# The status changes staff may make from the console: (action, label, permission,
# from which statuses, service).
_STATUS_ACTIONS = {
    "freeze": ("Freeze (debits refused, credits taken)", FREEZE_ACCOUNTS, {AccountStatus.ACTIVE}, account_freeze),
    "unfreeze": ("Unfreeze", FREEZE_ACCOUNTS, {AccountStatus.FROZEN}, account_unfreeze),
    "close": ("Close for good (zero balance, no active holds)", CLOSE_ACCOUNTS,
              {AccountStatus.ACTIVE, AccountStatus.FROZEN},
              lambda *, account_id, actor, reason: account_close(account_id=account_id, actor=actor, owner=None,
                                                                 reason=reason)),
}


def status_actions_for(user, account: Account) -> list[tuple[str, str]]:
    """The status changes ``user`` may make to ``account`` now."""
    if account.is_system:
        return []
    return [(name, label) for name, (label, permission, allowed_from, _) in _STATUS_ACTIONS.items()
            if account.status in allowed_from and user.has_perm(permission)]


def may_post(user) -> bool:
    return user.has_perm(POST_MOVEMENTS)


@admin.register(Account)
class AccountAdmin(ReplicaChangelist, admin.ModelAdmin):
    """An account's page is its console: balances, chart, ledger (paged, filtered), holds,
    events and deliveries, staff actions, and the forms staff act through (each through
    the services, with a reason, recorded with the staff member and in its History)."""

    list_display = ("id", "user", "bank_name", "branch", "status", "balance", "created_at")
    list_select_related = ("user",)
    list_filter = ("status", "bank_name")
    search_fields = ("user__username", "bank_name", "branch", "=id")
    readonly_fields = ("status", "balance", "available", "created_at", "active_holds", "balance_chart")
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

    def change_view(self, request, object_id, form_url="", extra_context=None):
        account = self.get_object(request, object_id)
        if account is not None and not account.is_system:
            extra_context = {**(extra_context or {}), **self._console_context(request, account)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _console_context(self, request, account: Account) -> dict:
        """What the account's page shows below its fields."""
        filters = LedgerFilterForm(request.GET)
        wanted = filters.cleaned_data if filters.is_valid() else {}
        page = account_ledger_page(
            account_id=account.pk, limit=LEDGER_PAGE_ROWS, before_seq=wanted.get("before"),
            after_seq=wanted.get("after"), kind=wanted.get("kind", ""), direction=wanted.get("direction", ""),
            status=wanted.get("status", ""),
        )
        reversed_postings = postings_reversed([row.posting_id for row in page.rows])
        can_post = may_post(request.user)
        for row in page.rows:
            row.reversible = (can_post and row.status == Status.SUCCESS and row.transaction_type != Kind.REVERSAL
                              and row.posting_id not in reversed_postings)
            row.reversed = row.posting_id in reversed_postings
        kept = {name: value for name, value in request.GET.items() if name in ("kind", "direction", "status") and value}
        return {
            "ledger": page,
            "ledger_filters": filters,
            "ledger_older": urlencode({**kept, "before": page.rows[-1].seq}) if page.has_older else "",
            "ledger_newer": urlencode({**kept, "after": page.rows[0].seq}) if page.has_newer and page.rows else "",
            "staff_actions": account_staff_actions(account=account, limit=RECENT_ROWS),
            "account_events": account_events_recent(user_id=account.user_id, account_id=account.pk,
                                                    limit=RECENT_ROWS),
            "can_post": can_post,
            "status_actions": status_actions_for(request.user, account),
        }

    def get_urls(self):
        def route(pattern: str, view, name: str):
            return path(pattern, self.admin_site.admin_view(view), name=f"accounts_account_{name}")

        return [
            route("<int:account_id>/movement/", self.movement_view, "movement"),
            route("<int:account_id>/status/", self.status_view, "status"),
            route("<int:account_id>/reverse/<int:transaction_id>/", self.reverse_view, "reverse"),
        ] + super().get_urls()

    def movement_view(self, request, account_id: int):
        """Staff deposit or withdrawal, with a reason: through the same services as the
        API, so the account lock, the running balance and the audit trail (initiated_by =
        the staff member, note = the reason) hold exactly as for customers."""
        if not may_post(request.user):
            raise PermissionDenied
        account = get_object_or_404(Account, pk=account_id, system_code__isnull=True)
        form = StaffMovementForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            service = (
                services.deposit_create if form.cleaned_data["kind"] == "deposit" else services.withdrawal_create
            )
            try:
                entry = service(account_id=account.pk, amount=form.cleaned_data["amount"],
                                note=form.cleaned_data["reason"], initiated_by=request.user, owner=None)
            except ApplicationError as exc:
                self.message_user(request, exc.message, level=messages.ERROR)
            else:
                done = (f"{entry.transaction_type} of {format_money(entry.amount)} posted (posting "
                        f"{entry.posting_id}); balance {format_money(entry.balance_after)}.")
                return self._acted(request, account, done, form.cleaned_data["reason"])
        return self._action_page(request, account, form, title=f"Deposit or withdraw: account #{account.pk}",
                                 submit="Post")

    def status_view(self, request, account_id: int):
        """Freeze, unfreeze or close, with a reason (the services check the status and,
        for a close, the balance and holds, under the account's lock)."""
        account = get_object_or_404(Account, pk=account_id, system_code__isnull=True)
        actions = status_actions_for(request.user, account)
        if not actions:
            if account.status == AccountStatus.CLOSED and request.user.has_perm(FREEZE_ACCOUNTS):
                self.message_user(request, f"Account {account.pk} is closed: a closed account stays closed.",
                                  level=messages.ERROR)
                return redirect(reverse("admin:accounts_account_change", args=[account.pk]))
            raise PermissionDenied
        form = StaffStatusForm(request.POST or None, actions=actions)
        if request.method == "POST" and form.is_valid():
            name, reason = form.cleaned_data["action"], form.cleaned_data["reason"]
            try:
                changed = _STATUS_ACTIONS[name][3](account_id=account.pk, actor=request.user, reason=reason)
            except ApplicationError as exc:
                self.message_user(request, exc.message, level=messages.ERROR)
            else:
                return self._acted(request, changed, f"Account {changed.pk} is now {changed.status}.", reason)
        return self._action_page(request, account, form, title=f"Change the status of account #{account.pk}",
                                 submit="Change status")

    def reverse_view(self, request, account_id: int, transaction_id: int):
        """Reverse the posting an entry of this account belongs to, with a reason."""
        if not may_post(request.user):
            raise PermissionDenied
        account = get_object_or_404(Account, pk=account_id, system_code__isnull=True)
        entry = get_object_or_404(Transaction, pk=transaction_id, account_id=account.pk)
        form = StaffReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                reversals = services.reversal_create(transaction_id=entry.pk, note=form.cleaned_data["reason"],
                                                     initiated_by=request.user)
            except ApplicationError as exc:
                self.message_user(request, exc.message, level=messages.ERROR)
            else:
                done = (f"Posting {entry.posting_id} ({entry.transaction_type} of {format_money(entry.amount)}) "
                        f"reversed by posting {reversals[0].posting_id}.")
                return self._acted(request, account, done, form.cleaned_data["reason"])
        return self._action_page(
            request, account, form, submit="Reverse",
            title=f"Reverse {entry.transaction_type.lower()} {entry.pk} of account #{account.pk}",
            entry=entry,
        )

    def _acted(self, request, account: Account, done: str, reason: str):
        """After a staff action: say so, write it in the account's History (Django's
        LogEntry, beside the ledger's and the status changes' own record), back to the page."""
        self.message_user(request, done)
        self.log_change(request, account, f"{done} Reason: {reason}")
        return redirect(reverse("admin:accounts_account_change", args=[account.pk]))

    def _action_page(self, request, account: Account, form, *, title: str, submit: str, entry=None):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "account": account,
            "balance": format_money(balance_get(account_id=account.pk)),
            "form": form,
            "submit": submit,
            "entry": entry,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/accounts/account/staff_action.html", context)
