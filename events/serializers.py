"""Request bodies and answer shapes of /events and /webhooks (declared once: they make
the bodies and the OpenAPI schema alike)."""
from __future__ import annotations

from django.core.validators import RegexValidator
from rest_framework import serializers

from banking.serializers import InputSerializer, StrictBooleanField, TextField
from events.addresses import MAX_URL_LENGTH, URL_MESSAGE, URL_PATTERN
from events.models import EventType
from events.services import DESCRIPTION_MAX_LENGTH, SUBSCRIBABLE


class EventOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Pass as `after` to read the events that follow this one.")
    type = serializers.ChoiceField(choices=EventType.choices)
    created_at = serializers.DateTimeField()
    account_id = serializers.IntegerField(allow_null=True, help_text="The account it is about (null for webhook.test).")
    data = serializers.JSONField(
        source="payload_data",
        help_text="The resource exactly as the API answers it: a history row for transaction.created, a hold for "
                  "hold.*, the account (with its status) for account.*.",
    )


def _event_types_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE), max_length=len(SUBSCRIBABLE),
        help_text="The event types to send (default: all of them).", **kwargs,
    )


def _url_field(**kwargs) -> TextField:
    # Its pattern is the one the service checks (events.addresses), published as it is.
    return TextField(max_length=MAX_URL_LENGTH, trim_whitespace=False,
                     validators=[RegexValidator(URL_PATTERN, message=URL_MESSAGE)],
                     help_text="Where to POST events. In production: https, and an address on the public "
                               "internet.", **kwargs)


def _description_field() -> TextField:
    return TextField(max_length=DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True, default="")


class WebhookCreateInputSerializer(InputSerializer):
    url = _url_field()
    event_types = _event_types_field(required=False, default=list)
    description = _description_field()


class WebhookUpdateInputSerializer(InputSerializer):
    url = _url_field(required=False)
    event_types = _event_types_field(required=False)
    description = TextField(max_length=DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True)
    enabled = StrictBooleanField(required=False, help_text="false pauses deliveries; true resumes (and clears "
                                                           "disabled_reason).")


class WebhookOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    event_types = serializers.ListField(child=serializers.CharField(), source="event_type_list",
                                        help_text="Empty: every type.")
    enabled = serializers.BooleanField()
    disabled_reason = serializers.CharField(allow_blank=True, help_text="Why the server disabled it, if it did.")
    created_at = serializers.DateTimeField()


class WebhookSecretOutputSerializer(WebhookOutputSerializer):
    secret = serializers.CharField(help_text="The signing secret (Standard Webhooks `whsec_...`). Shown only now: "
                                             "keep it.")


class DeliveryAttemptOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event_id = serializers.IntegerField()
    attempted_at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True, help_text="The receiver's HTTP status; null if none.")
    error = serializers.CharField(allow_blank=True, help_text="What went wrong, if it did.")
    duration_ms = serializers.IntegerField()
