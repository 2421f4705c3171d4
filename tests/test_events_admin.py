"""The admin's events, webhook endpoints and deliveries: listed, read, never edited; a
delivery can be retried; an endpoint's secret never shows."""
from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from events.models import Delivery, DeliveryAttempt, DeliveryStatus, Event, EventType, WebhookEndpoint
from events.services import endpoint_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HOOK = "http://127.0.0.1:9/hooks"


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(username="operator", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def endpoint(user):
    return endpoint_create(user=user, url=HOOK, description="payouts")


def test_event_list_shows_each_users_events_newest_first(staff_client, account, fund):
    fund(account, "7.00")
    page = staff_client.get("/admin/events/event/").content.decode()
    ids = [int(i) for i in re.findall(r'/admin/events/event/(\d+)/change/', page)]
    assert ids == sorted(Event.objects.filter(user=account.user).values_list("id", flat=True), reverse=True)
    assert "transaction.created" in page and "account.created" in page


@pytest.mark.django_db(transaction=True)  # GET /events shows only events whose transaction committed
def test_event_page_shows_the_data_as_the_api_answers_it(staff_client, alice, account, fund):
    fund(account, "7.00")
    event = Event.objects.get(type=EventType.TRANSACTION_CREATED)
    page = staff_client.get(f"/admin/events/event/{event.pk}/change/").content.decode()
    shown = json.loads(re.search(r"<pre[^>]*>(.*?)</pre>", page, re.S).group(1).replace("&quot;", '"'))
    (api,) = [e for e in alice.get("/events", {"type": "transaction.created"}).json() if e["id"] == event.pk]
    assert shown == api["data"]


def test_events_cannot_be_added_changed_or_deleted_in_the_admin(staff_client, account):
    event = Event.objects.get(type=EventType.ACCOUNT_CREATED)
    assert staff_client.get("/admin/events/event/add/").status_code == 403
    assert staff_client.post(f"/admin/events/event/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Event.objects.filter(pk=event.pk).exists()


def test_endpoint_list_and_page_never_show_the_secret(staff_client, endpoint):
    listed = staff_client.get("/admin/events/webhookendpoint/").content.decode()
    page = staff_client.get(f"/admin/events/webhookendpoint/{endpoint.endpoint.pk}/change/").content.decode()
    assert HOOK in listed and "payouts" in page
    for shown in (listed, page):
        assert endpoint.secret not in shown and endpoint.endpoint.secret_encrypted not in shown


def test_disable_action_disables_the_endpoint_and_enable_clears_the_reason(staff_client, endpoint):
    pk = endpoint.endpoint.pk
    WebhookEndpoint.objects.filter(pk=pk).update(disabled_reason="failing for days")
    staff_client.post("/admin/events/webhookendpoint/", {"action": "disable", "_selected_action": [pk]})
    assert WebhookEndpoint.objects.get(pk=pk).enabled is False
    staff_client.post("/admin/events/webhookendpoint/", {"action": "enable", "_selected_action": [pk]})
    enabled = WebhookEndpoint.objects.get(pk=pk)
    assert enabled.enabled is True and enabled.disabled_reason == ""


def test_retry_action_makes_a_failed_delivery_due_now(staff_client, endpoint, account, fund):
    fund(account, "7.00")
    delivery = Delivery.objects.get(endpoint_id=endpoint.endpoint.pk, event__type=EventType.TRANSACTION_CREATED)
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED, attempts=10)
    before = timezone.now()
    response = staff_client.post("/admin/events/delivery/", {"action": "retry", "_selected_action": [delivery.pk]},
                                 follow=True)
    assert "will be attempted again now" in response.content.decode()
    retried = Delivery.objects.get(pk=delivery.pk)
    assert retried.status == DeliveryStatus.PENDING and retried.next_attempt_at >= before
    assert retried.attempts == 10  # its history stays; it gets one more attempt


def test_delivery_page_lists_its_attempts(staff_client, endpoint, account, fund):
    fund(account, "7.00")
    delivery = Delivery.objects.get(endpoint_id=endpoint.endpoint.pk, event__type=EventType.TRANSACTION_CREATED)
    DeliveryAttempt.objects.create(delivery=delivery, endpoint_id=delivery.endpoint_id, event_id=delivery.event_id,
                                   attempted_at=timezone.now(), status_code=503, error="", duration_ms=12)
    page = staff_client.get(f"/admin/events/delivery/{delivery.pk}/change/").content.decode()
    assert "503" in page and "12" in page


def test_staff_without_change_permission_cannot_retry(client, endpoint, account, fund):
    fund(account, "7.00")
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    client.force_login(viewer)
    delivery = Delivery.objects.get(endpoint_id=endpoint.endpoint.pk, event__type=EventType.TRANSACTION_CREATED)
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    assert client.get("/admin/events/delivery/").status_code == 200
    client.post("/admin/events/delivery/", {"action": "retry", "_selected_action": [delivery.pk]})
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.FAILED
