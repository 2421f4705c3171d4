import json

from django.contrib import admin, messages
from django.utils.html import format_html

from banking.replicas import ReplicaChangelist
from events import services
from events.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from events.selectors import events_render


class ReadOnly:
    """Records of what happened: shown, never edited here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReplicaChangelist, ReadOnly, admin.ModelAdmin):
    list_display = ("id", "type", "user", "account_id", "created_at")
    list_select_related = ("user",)
    list_filter = ("type", "created_at")
    search_fields = ("user__username", "=account_id", "=id")
    ordering = ("-id",)  # newest first, by primary key: an index scan
    show_full_result_count = False
    list_per_page = 100
    fields = ("id", "type", "user", "account_id", "created_at", "payload")
    readonly_fields = fields

    @admin.display(description="data (as the API and the webhooks send it)")
    def payload(self, event: Event) -> str:
        (event,) = events_render([event])
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>",
                           json.dumps(event.payload_data, indent=2, sort_keys=True))


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Endpoints, without their secrets (kept encrypted; shown to their owner once)."""

    list_display = ("id", "user", "url", "event_types", "enabled", "disabled_reason", "failing_since", "created_at")
    list_select_related = ("user",)
    list_filter = ("enabled",)
    search_fields = ("user__username", "url")
    fields = ("user", "url", "description", "event_types", "enabled", "disabled_reason", "failing_since",
              "created_at", "deliveries_link")
    readonly_fields = fields  # enabled changes through the actions (which also clear the reason)
    actions = ["enable", "disable"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="deliveries")
    def deliveries_link(self, endpoint: WebhookEndpoint) -> str:
        return format_html('<a href="../../delivery/?endpoint__id__exact={}">deliveries of this endpoint</a>',
                           endpoint.pk)

    @admin.action(description="Enable selected endpoints (clears why they were disabled)", permissions=["change"])
    def enable(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_update(endpoint=endpoint, enabled=True)
        self.message_user(request, f"{queryset.count()} endpoint(s) enabled.")

    @admin.action(description="Disable selected endpoints", permissions=["change"])
    def disable(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_update(endpoint=endpoint, enabled=False)
        self.message_user(request, f"{queryset.count()} endpoint(s) disabled.")


class AttemptInline(ReadOnly, admin.TabularInline):
    model = DeliveryAttempt
    fk_name = "delivery"
    fields = ("attempted_at", "status_code", "error", "duration_ms")
    readonly_fields = fields
    ordering = ("-id",)
    extra = 0


@admin.register(Delivery)
class DeliveryAdmin(ReplicaChangelist, ReadOnly, admin.ModelAdmin):
    list_display = ("id", "event", "endpoint", "status", "attempts", "next_attempt_at", "last_attempt_at",
                    "delivered_at")
    list_select_related = ("event", "endpoint")
    list_filter = ("status", "endpoint")
    search_fields = ("=event__id", "=endpoint__id", "endpoint__url")
    ordering = ("-id",)
    show_full_result_count = False
    list_per_page = 100
    fields = ("event", "endpoint", "status", "attempts", "next_attempt_at", "claimed_until", "last_attempt_at",
              "delivered_at", "created_at")
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["retry"]

    @admin.action(description="Retry selected deliveries now", permissions=["retry"])
    def retry(self, request, queryset):
        count = 0
        for delivery in queryset:
            services.delivery_retry(delivery=delivery)
            count += 1
        self.message_user(request, f"{count} delivery(ies) will be attempted again now.", level=messages.SUCCESS)

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("events.change_delivery")
