from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html

from banking.replicas import ReplicaChangelist
from banking.errors import ApplicationError, InvalidAmount
from banking.money import parse_amount
from transactions import services
from transactions.models import IdempotencyKey, Transaction


NOTE_SHOWN = 40


class ReversalReasonForm(forms.Form):
    reason = forms.CharField(max_length=255, help_text="Kept as each reversal's note, with your name.")


def _as_amount(term: str) -> Decimal | None:
    try:
        return parse_amount(term.strip())
    except InvalidAmount:
        return None


@admin.register(Transaction)
class TransactionAdmin(ReplicaChangelist, admin.ModelAdmin):
    """The ledger, read-only: rows are never edited or deleted, from here or anywhere.
    Staff post new movements from an account's page (Deposit / withdraw)."""

    # Fits 1400 px: short columns, the note cut to one line (the whole of it on hover).
    list_display = (
        "id", "posting_id", "account", "transaction_type", "direction", "status",
        "amount", "balance_after", "created_at", "initiated_by", "short_note",
    )
    list_select_related = ("account", "account__user", "initiated_by", "posting")
    list_filter = ("transaction_type", "status", "direction", "created_at")
    search_fields = ("account__user__username", "note", "=account__id", "=posting__id")
    search_help_text = "A username, words of a note, an account or posting id, or an amount (12.50)."
    # Newest first by primary key: an index scan, not a sort of the whole ledger.
    ordering = ("-id",)
    show_full_result_count = False  # COUNT(*) over the whole ledger is not free
    list_per_page = 100
    actions = ["reverse_selected"]
    raw_id_fields = ("reversal_of", "posting")

    @admin.action(description="Reverse selected transactions (post the opposite movement)", permissions=["reverse"])
    def reverse_selected(self, request, queryset):
        """First a page that asks for the reason (kept as each reversal's note), then the
        reversals, each through the service."""
        form = ReversalReasonForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Reverse the selected transactions",
                "rows": queryset.select_related("account").order_by("pk"),
                "form": form,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            }
            return TemplateResponse(request, "admin/transactions/transaction/reverse_selected.html", context)
        for row in queryset.order_by("pk"):
            try:
                reversals = services.reversal_create(transaction_id=row.pk, note=form.cleaned_data["reason"],
                                                     initiated_by=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"Transaction {row.pk}: {exc.message}", level=messages.ERROR)
            else:
                ids = ", ".join(str(r.pk) for r in reversals)
                self.message_user(request, f"Transaction {row.pk} reversed by {ids}.")

    @admin.display(description="posting", ordering="posting_id")
    def posting_id(self, row: Transaction) -> int:
        return row.posting_id

    @admin.display(description="note")
    def short_note(self, row: Transaction) -> str:
        if len(row.note) <= NOTE_SHOWN:
            return row.note
        return format_html('<span title="{}">{}…</span>', row.note, row.note[:NOTE_SHOWN])

    def get_search_results(self, request, queryset, search_term):
        """Also by amount: a search that reads as one finds the entries of exactly it."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        amount = _as_amount(search_term)
        if amount is not None:
            results |= queryset.filter(amount=amount)
        return results, may_have_duplicates

    def has_reverse_permission(self, request) -> bool:
        return request.user.has_perm("transactions.add_transaction")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ("key", "user", "response_status", "created_at")
    list_select_related = ("user",)
    search_fields = ("key", "user__username")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
