from __future__ import annotations

import re

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from banking.api import keyset_page, path_id, query_int
from banking.errors import ValidationFailed, WebhookNotFound
from banking.openapi import CURSOR_SCHEMA, ID_SCHEMA, ecma, errors, page_limit
from banking.replicas import lag_tolerant
from banking.serializers import IdField, represent, validated
from banking.throttling import WriteThrottle
from events import selectors, services
from events.models import EventType, WebhookEndpoint
from events.serializers import (
    DeliveryAttemptOutputSerializer,
    EventOutputSerializer,
    WebhookCreateInputSerializer,
    WebhookOutputSerializer,
    WebhookSecretOutputSerializer,
    WebhookUpdateInputSerializer,
)

EVENTS_DEFAULT_LIMIT = 100
EVENTS_MAX_LIMIT = 500
ATTEMPTS_DEFAULT_LIMIT = 50
ATTEMPTS_MAX_LIMIT = 500


_ONE_TYPE = "(?:" + "|".join(re.escape(t) for t in EventType.values) + ")"
TYPES_PATTERN = rf"\A{_ONE_TYPE}(?:,{_ONE_TYPE})*\Z"  # what ?type= takes (also published as is)


class EventViewSet(viewsets.ViewSet):
    """``GET /events``: the caller's events, to catch up on (or instead of) webhooks."""

    @extend_schema(
        operation_id="events_list", summary="Your events, oldest first", tags=["events"],
        parameters=[
            OpenApiParameter("after", CURSOR_SCHEMA, description="The id of the last event you have: the answer "
                                                                 "starts after it. Without it, from the first."),
            OpenApiParameter("type", {"type": "string", "pattern": ecma(TYPES_PATTERN)},
                             description="Only these types (comma-separated), e.g. `transaction.created,hold.captured`."),
            OpenApiParameter("account_id", ID_SCHEMA, description="Only events about this account of yours."),
            page_limit(EVENTS_MAX_LIMIT, EVENTS_DEFAULT_LIMIT),
        ],
        responses={
            200: OpenApiResponse(EventOutputSerializer(many=True), description=(
                'A page of events; when more are ready now, a `Link: <url>; rel="next"` header. Poll with '
                "`after` set to the last id you got: you see every event once, and each account's in the "
                "order they happened.")),
            **errors(400, 401),
        },
    )
    @lag_tolerant
    def list(self, request: Request) -> Response:
        limit = query_int(request, "limit", default=EVENTS_DEFAULT_LIMIT, low=1, high=EVENTS_MAX_LIMIT)
        after = query_int(request, "after", default=None, low=1, high=IdField.MAX)
        account_id = query_int(request, "account_id", default=None, low=1, high=IdField.MAX)
        events = selectors.events_page(user=request.user, limit=limit + 1, after=after, types=_types(request),
                                       account_id=account_id)
        events, headers = keyset_page(request, events, limit=limit, cursor=lambda event: event.pk, param="after")
        return Response([represent(EventOutputSerializer, event) for event in events], headers=headers)


def _types(request: Request) -> list[str] | None:
    raw = request.query_params.get("type")
    if raw is None:
        return None
    if not re.match(TYPES_PATTERN, raw):
        raise ValidationFailed(f"type must be one or more of (comma-separated): {', '.join(EventType.values)}.")
    return raw.split(",")


class WebhookViewSet(viewsets.ViewSet):
    """The caller's webhook endpoints (at most 10)."""

    throttle_classes = [WriteThrottle]

    def _endpoint(self, request: Request, webhook_id: str) -> WebhookEndpoint:
        return services.endpoint_get_for_user(user=request.user,
                                              endpoint_id=path_id(webhook_id, not_found=WebhookNotFound))

    @extend_schema(
        operation_id="webhooks_create", summary="Register a webhook endpoint", tags=["webhooks"],
        request=WebhookCreateInputSerializer,
        responses={201: WebhookSecretOutputSerializer, **errors(400, 401, 409, 413, 415, 429)},
    )
    def create(self, request: Request) -> Response:
        data = validated(WebhookCreateInputSerializer, request.data)
        made = services.endpoint_create(user=request.user, url=data["url"], event_types=data["event_types"],
                                        description=data["description"])
        return Response(_with_secret(made), status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="webhooks_list", summary="Your webhook endpoints", tags=["webhooks"],
                   responses={200: WebhookOutputSerializer(many=True), **errors(401)})
    def list(self, request: Request) -> Response:
        return Response([represent(WebhookOutputSerializer, e) for e in selectors.endpoints_for_user(user=request.user)])

    @extend_schema(operation_id="webhooks_retrieve", summary="A webhook endpoint", tags=["webhooks"],
                   responses={200: WebhookOutputSerializer, **errors(401, 404)})
    def retrieve(self, request: Request, webhook_id: str) -> Response:
        return Response(represent(WebhookOutputSerializer, self._endpoint(request, webhook_id)))

    @extend_schema(operation_id="webhooks_update", summary="Change a webhook endpoint", tags=["webhooks"],
                   request=WebhookUpdateInputSerializer,
                   responses={200: WebhookOutputSerializer, **errors(400, 401, 404, 413, 415, 429)})
    def partial_update(self, request: Request, webhook_id: str) -> Response:
        endpoint = self._endpoint(request, webhook_id)
        data = validated(WebhookUpdateInputSerializer, request.data)
        endpoint = services.endpoint_update(endpoint=endpoint, **data)
        return Response(represent(WebhookOutputSerializer, endpoint))

    @extend_schema(operation_id="webhooks_delete", summary="Delete a webhook endpoint", tags=["webhooks"],
                   responses={204: None, **errors(401, 404, 429)})
    def destroy(self, request: Request, webhook_id: str) -> Response:
        services.endpoint_delete(endpoint=self._endpoint(request, webhook_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="webhooks_rotate_secret", summary="Rotate a webhook endpoint's secret", tags=["webhooks"],
        request=None, description="A new secret signs from now on; the old one also signs (a second signature in "
                                  "`webhook-signature`) for 24 hours, while you switch over.",
        responses={200: WebhookSecretOutputSerializer, **errors(401, 404, 429)},
    )
    def rotate_secret(self, request: Request, webhook_id: str) -> Response:
        return Response(_with_secret(services.endpoint_rotate_secret(endpoint=self._endpoint(request, webhook_id))))

    @extend_schema(
        operation_id="webhooks_test", summary="Send a test event", tags=["webhooks"], request=None,
        description="Sends a `webhook.test` event to this endpoint (whatever its event types); see its "
                    "deliveries for the outcome.",
        responses={202: EventOutputSerializer, **errors(401, 404, 429)},
    )
    def test(self, request: Request, webhook_id: str) -> Response:
        event = services.endpoint_test(endpoint=self._endpoint(request, webhook_id))
        event.payload_data = event.data
        return Response(represent(EventOutputSerializer, event), status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="webhooks_deliveries", summary="A webhook endpoint's delivery attempts, newest first",
        tags=["webhooks"],
        parameters=[page_limit(ATTEMPTS_MAX_LIMIT, ATTEMPTS_DEFAULT_LIMIT),
                    OpenApiParameter("cursor", CURSOR_SCHEMA, description='From the `Link: rel="next"` header.')],
        responses={200: OpenApiResponse(DeliveryAttemptOutputSerializer(many=True),
                                        description='A page of attempts; when there are more, a `Link: rel="next"` '
                                                    "header."),
                   **errors(400, 401, 404)},
    )
    def deliveries(self, request: Request, webhook_id: str) -> Response:
        endpoint = self._endpoint(request, webhook_id)
        limit = query_int(request, "limit", default=ATTEMPTS_DEFAULT_LIMIT, low=1, high=ATTEMPTS_MAX_LIMIT)
        cursor = query_int(request, "cursor", default=None, low=1, high=IdField.MAX)
        attempts = selectors.attempts_page(endpoint=endpoint, limit=limit + 1, before_id=cursor)
        attempts, headers = keyset_page(request, attempts, limit=limit, cursor=lambda attempt: attempt.pk)
        return Response([represent(DeliveryAttemptOutputSerializer, a) for a in attempts], headers=headers)


def _with_secret(made: services.EndpointWithSecret) -> dict:
    made.endpoint.secret = made.secret
    return represent(WebhookSecretOutputSerializer, made.endpoint)
