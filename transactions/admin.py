from django.contrib import admin, messages

from banking.errors import ApplicationError
from transactions import services
from transactions.models import IdempotencyKey, Transaction


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    """The ledger, read-only: rows are never edited or deleted, from here or anywhere.
    Staff post new movements from an account's page (Deposit / withdraw)."""

    list_display = (
        "id", "posting", "account", "seq", "transaction_type", "direction", "status",
        "amount", "balance_after", "created_at", "initiated_by", "note",
    )
    list_select_related = ("account", "account__user", "initiated_by", "posting")
    list_filter = ("transaction_type", "status", "direction", "created_at")
    search_fields = ("account__user__username", "note", "=account__id", "=posting__id")
    # Newest first by primary key: an index scan, not a sort of the whole ledger.
    ordering = ("-id",)
    show_full_result_count = False  # COUNT(*) over the whole ledger is not free
    list_per_page = 100
    actions = ["reverse_selected"]
    raw_id_fields = ("reversal_of", "posting")

    @admin.action(description="Reverse selected transactions (post the opposite movement)", permissions=["reverse"])
    def reverse_selected(self, request, queryset):
        for row in queryset.order_by("pk"):
            try:
                reversals = services.reversal_create(transaction_id=row.pk, initiated_by=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"Transaction {row.pk}: {exc.message}", level=messages.ERROR)
            else:
                ids = ", ".join(str(r.pk) for r in reversals)
                self.message_user(request, f"Transaction {row.pk} reversed by {ids}.")

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
