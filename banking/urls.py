"""Routes. Every API path answers with and without a trailing slash, as the contract
writes them (``POST /transactions/deposit``) and as some clients send them."""
from __future__ import annotations

from django.contrib import admin
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from accounts.views import AccountHistoryViewSet, AccountStatementViewSet, AccountViewSet
from banking.health import healthz
from events.views import EventViewSet, WebhookViewSet
from transactions.views import HoldViewSet, TransactionViewSet
from users.views import AuthViewSet, UserViewSet

# Any path segment: the view answers "Account not found." for one that is no id, exactly
# as for an id that does not exist (one 404 shape, not a routing miss for "/accounts/abc").
ID = r"(?P<account_id>[^/]+)"
HOLD = r"(?P<hold_id>[^/]+)"
WEBHOOK = r"(?P<webhook_id>[^/]+)"


def api(route: str, view, name: str):
    return re_path(rf"^{route}/?$", view, name=name)


urlpatterns = [
    path("admin/", admin.site.urls),
    api("api/schema", SpectacularAPIView.as_view(), "schema"),
    api("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), "swagger-ui"),
    api("api/redoc", SpectacularRedocView.as_view(url_name="schema"), "redoc"),
    api("healthz", healthz, "healthz"),
    api("users", UserViewSet.as_view({"post": "create"}), "user-create"),
    api("auth/login", AuthViewSet.as_view({"post": "login"}), "auth-login"),
    api("auth/logout", AuthViewSet.as_view({"post": "logout"}), "auth-logout"),
    api("auth/logout-all", AuthViewSet.as_view({"post": "logout_all"}), "auth-logout-all"),
    api("accounts", AccountViewSet.as_view({"post": "create", "get": "list"}), "account-list"),
    api("accounts/all", AccountViewSet.as_view({"get": "list_all"}), "account-all"),
    api(f"accounts/{ID}", AccountViewSet.as_view({"get": "retrieve"}), "account-detail"),
    api(f"accounts/{ID}/balance", AccountViewSet.as_view({"get": "balance"}), "account-balance"),
    api(f"accounts/{ID}/close", AccountViewSet.as_view({"post": "close"}), "account-close"),
    api(f"accounts/{ID}/freeze", AccountViewSet.as_view({"post": "freeze"}), "account-freeze"),
    api(f"accounts/{ID}/unfreeze", AccountViewSet.as_view({"post": "unfreeze"}), "account-unfreeze"),
    api(f"accounts/{ID}/statement", AccountStatementViewSet.as_view({"get": "retrieve"}), "account-statement"),
    api("transactions/deposit", TransactionViewSet.as_view({"post": "deposit"}), "transaction-deposit"),
    api("transactions/withdraw", TransactionViewSet.as_view({"post": "withdraw"}), "transaction-withdraw"),
    api("transactions/transfer", TransactionViewSet.as_view({"post": "transfer"}), "transaction-transfer"),
    # Before the history route, whose {account_id} would take "holds".
    api("transactions/holds", HoldViewSet.as_view({"post": "create", "get": "list"}), "hold-list"),
    api(f"transactions/holds/{HOLD}", HoldViewSet.as_view({"get": "retrieve"}), "hold-detail"),
    api(f"transactions/holds/{HOLD}/capture", HoldViewSet.as_view({"post": "capture"}), "hold-capture"),
    api(f"transactions/holds/{HOLD}/void", HoldViewSet.as_view({"post": "void"}), "hold-void"),
    api("events", EventViewSet.as_view({"get": "list"}), "event-list"),
    api("webhooks", WebhookViewSet.as_view({"post": "create", "get": "list"}), "webhook-list"),
    api(f"webhooks/{WEBHOOK}", WebhookViewSet.as_view({"get": "retrieve", "patch": "partial_update",
                                                       "delete": "destroy"}), "webhook-detail"),
    api(f"webhooks/{WEBHOOK}/rotate-secret", WebhookViewSet.as_view({"post": "rotate_secret"}),
        "webhook-rotate-secret"),
    api(f"webhooks/{WEBHOOK}/test", WebhookViewSet.as_view({"post": "test"}), "webhook-test"),
    api(f"webhooks/{WEBHOOK}/deliveries", WebhookViewSet.as_view({"get": "deliveries"}), "webhook-deliveries"),
    api(f"transactions/{ID}", AccountHistoryViewSet.as_view({"get": "history"}), "transaction-history"),
    api(
        r"transactions/(?P<transaction_id>[^/]+)/reverse",
        TransactionViewSet.as_view({"post": "reverse"}),
        "transaction-reverse",
    ),
]

handler400 = "banking.api.json_bad_request"
handler403 = "banking.api.json_permission_denied"
handler404 = "banking.api.json_not_found"
handler500 = "banking.api.json_server_error"
