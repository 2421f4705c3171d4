from django.contrib import admin

from transactions.models import Transaction


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    """The ledger, read-only: rows are never edited or deleted, from here or anywhere.
    Staff post new movements from an account's page (Deposit / withdraw)."""

    list_display = (
        "id", "account", "seq", "transaction_type", "direction", "status",
        "amount", "balance_after", "created_at", "initiated_by", "note",
    )
    list_select_related = ("account", "account__user", "initiated_by")
    list_filter = ("transaction_type", "status", "direction", "created_at")
    search_fields = ("account__user__username", "note", "=account__id", "=transfer_ref")
    date_hierarchy = None
    show_full_result_count = False  # COUNT(*) over the whole ledger is not free
    list_per_page = 100

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
