"""Webhook endpoints through the API: registration, its limits and its address checks,
secrets shown once, fan-out of events to the endpoints that take them."""
from __future__ import annotations

import pytest

from events import secrets
from events.models import Delivery, EventType, WebhookEndpoint

pytestmark = pytest.mark.django_db

HOOK = "http://127.0.0.1:9/hooks"


def register(client, url=HOOK, **body):
    return client.post("/webhooks", {"url": url, **body}, format="json")


def test_registration_answers_the_endpoint_and_its_secret_once(alice):
    response = register(alice, description="payouts", event_types=["transaction.created"])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["url"] == HOOK and body["event_types"] == ["transaction.created"] and body["enabled"] is True
    assert body["secret"].startswith("whsec_")
    listed = alice.get("/webhooks").json()
    assert [e["id"] for e in listed] == [body["id"]] and "secret" not in listed[0]
    assert "secret" not in alice.get(f"/webhooks/{body['id']}").json()


def test_the_secret_is_stored_encrypted(alice):
    body = register(alice).json()
    stored = WebhookEndpoint.objects.get(pk=body["id"]).secret_encrypted
    assert body["secret"] not in stored
    assert secrets.decrypt(stored) == body["secret"]


def test_secrets_still_decrypt_after_secret_key_rotation_with_the_old_key_as_fallback(alice, settings):
    body = register(alice).json()
    stored = WebhookEndpoint.objects.get(pk=body["id"]).secret_encrypted
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-key-after-rotation", [old_key]
    assert secrets.decrypt(stored) == body["secret"]
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(RuntimeError, match="SECRET_KEY_FALLBACKS"):
        secrets.decrypt(stored)


def test_at_most_ten_endpoints_per_user(alice, bob):
    for n in range(10):
        assert register(alice, url=f"{HOOK}/{n}").status_code == 201
    response = register(alice)
    assert response.status_code == 409
    assert response.json()["error"] == "At most 10 webhook endpoints per user."
    assert register(bob).status_code == 201  # per user


@pytest.mark.parametrize("body, message", [
    ({"url": "ftp://example.com/x"}, "Url must be an absolute http(s) URL"),
    ({"url": "https://user:pw@example.com/x"}, "Url must be an absolute http(s) URL without a user name"),
    ({"url": " https://example.com/x"}, "Url must be an absolute http(s) URL"),
    ({"url": "https://example.com:70000/x"}, "Url must be an absolute http(s) URL"),
    ({"url": "http://[::1]/x"}, "Url must be an absolute http(s) URL"),  # a name, or IPv4
    ({"url": ""}, "Url may not be blank."),
    ({"url": HOOK, "event_types": ["nope"]}, 'event_types.0: "nope" is not a valid choice.'),
    ({"url": HOOK, "event_types": "transaction.created"}, "event_types: Expected a list of items"),
    ({"url": HOOK, "event_types": ["webhook.test"]}, 'event_types.0: "webhook.test" is not a valid choice.'),
])
def test_bad_registrations_are_400_and_create_nothing(alice, body, message):
    response = alice.post("/webhooks", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"].startswith(message), response.json()
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("url, message", [
    ("http://93.184.216.34/hook", "Url must use https."),
    ("https://127.0.0.1/hook", "resolves to a non-public address (127.0.0.1)"),
    ("https://localhost/hook", "resolves to a non-public address"),
    ("https://10.1.2.3/hook", "resolves to a non-public address (10.1.2.3)"),
    ("https://169.254.169.254/latest/meta-data", "resolves to a non-public address (169.254.169.254)"),
    ("https://100.64.0.1/hook", "resolves to a non-public address"),
    ("https://0.0.0.0/hook", "resolves to a non-public address"),
    ("https://no-such-host.invalid/hook", "does not resolve"),
])
def test_in_production_only_public_https_urls_are_taken(settings, alice, url, message):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response = register(alice, url=url)
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]


@pytest.mark.parametrize("address, public", [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True), ("::1", False), ("fe80::1", False),
    ("::ffff:127.0.0.1", False), ("fc00::1", False), ("224.0.0.1", False), ("192.168.1.1", False),
])
def test_what_a_name_may_resolve_to(address, public):
    from events.addresses import is_public

    assert is_public(address) is public


def test_in_production_a_public_https_address_is_taken(settings, alice):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    assert register(alice, url="https://93.184.216.34/hook").status_code == 201


def test_update_changes_what_is_given_and_enabling_clears_the_reason(alice):
    body = register(alice).json()
    WebhookEndpoint.objects.filter(pk=body["id"]).update(enabled=False, disabled_reason="failing")
    response = alice.patch(f"/webhooks/{body['id']}", {"enabled": True, "event_types": ["hold.created"],
                                                       "description": "holds"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() | {"created_at": None} == {
        "id": body["id"], "url": HOOK, "description": "holds", "event_types": ["hold.created"], "enabled": True,
        "disabled_reason": "", "created_at": None,
    }


@pytest.mark.parametrize("body", [{"enabled": "yes"}, {"enabled": 1}, {"url": "gopher://x"}])
def test_bad_updates_are_400(alice, body):
    hook = register(alice).json()
    assert alice.patch(f"/webhooks/{hook['id']}", body, format="json").status_code == 400


def test_someone_elses_endpoint_is_not_found(alice, bob):
    hook = register(alice).json()
    for method, path in [("get", ""), ("patch", ""), ("delete", ""), ("post", "/rotate-secret"), ("post", "/test"),
                         ("get", "/deliveries")]:
        response = getattr(bob, method)(f"/webhooks/{hook['id']}{path}", {}, format="json")
        assert response.status_code == 404, (method, path)
        assert response.json() == {"error": "Webhook endpoint not found."}
    assert bob.get("/webhooks/abc").status_code == 404


def test_delete_removes_the_endpoint_and_its_deliveries(alice, account, fund):
    hook = register(alice).json()
    fund(account, "1.00")
    assert Delivery.objects.filter(endpoint_id=hook["id"]).exists()
    assert alice.delete(f"/webhooks/{hook['id']}").status_code == 204
    assert not WebhookEndpoint.objects.exists() and not Delivery.objects.exists()


def test_rotation_shows_a_new_secret_and_keeps_the_old_one_signing_for_a_while(alice):
    hook = register(alice).json()
    rotated = alice.post(f"/webhooks/{hook['id']}/rotate-secret", {}, format="json")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != hook["secret"]
    endpoint = WebhookEndpoint.objects.get(pk=hook["id"])
    from datetime import datetime, timezone

    header = secrets.signatures(endpoint, msg_id="evt_1", timestamp=datetime.now(timezone.utc), body=b"{}")
    assert len(header.split(" ")) == 2  # new and old, while receivers switch over


def test_a_test_event_goes_to_that_endpoint_only(alice):
    first, second = register(alice).json(), register(alice, url=f"{HOOK}/2").json()
    response = alice.post(f"/webhooks/{first['id']}/test", {}, format="json")
    assert response.status_code == 202
    assert response.json()["type"] == "webhook.test"
    assert list(Delivery.objects.values_list("endpoint_id", flat=True)) == [first["id"]]
    assert second["id"] not in Delivery.objects.values_list("endpoint_id", flat=True)


def test_events_fan_out_to_the_endpoints_that_take_their_type(alice, account, fund):
    every = register(alice).json()
    holds_only = register(alice, url=f"{HOOK}/h", event_types=["hold.created", "hold.voided"]).json()
    fund(account, "5.00")
    alice.post("/transactions/holds", {"account_id": account.pk, "amount": "1.00"}, format="json")
    def types(hook):
        return sorted(Delivery.objects.filter(endpoint_id=hook["id"]).values_list("event__type", flat=True))
    assert types(every) == sorted([EventType.TRANSACTION_CREATED, EventType.HOLD_CREATED])
    assert types(holds_only) == [EventType.HOLD_CREATED]


def test_a_disabled_endpoint_gets_no_new_deliveries(alice, account, fund):
    hook = register(alice).json()
    alice.patch(f"/webhooks/{hook['id']}", {"enabled": False}, format="json")
    fund(account, "5.00")
    assert not Delivery.objects.exists()


def test_deliveries_list_the_attempts(alice):
    hook = register(alice).json()
    response = alice.get(f"/webhooks/{hook['id']}/deliveries")
    assert response.status_code == 200 and response.json() == []


def test_webhooks_need_a_token(api):
    assert api.get("/webhooks").status_code == 401
    assert api.post("/webhooks", {"url": HOOK}, format="json").status_code == 401
