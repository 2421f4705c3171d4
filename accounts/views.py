from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors, services
from accounts.serializers import (
    AccountCreatedOutputSerializer,
    BalanceOutputSerializer,
    StatementSerializer,
    statement_data,
    AccountCreateInputSerializer,
    AccountDetailOutputSerializer,
    AccountListItemSerializer,
)
from accounts.renderers import StatementCSVRenderer
from banking.api import path_id
from banking.dates import parse_instant
from banking.errors import AccountNotFound, ValidationFailed
from banking.money import ZERO, format_money
from banking.openapi import INSTANT_SCHEMA, errors
from banking.throttling import WriteThrottle
from transactions.selectors import balance_at, balance_get, owned_balance_get, statement_get


class AccountViewSet(viewsets.ViewSet):
    """The caller's own accounts. Another user's account answers 404."""

    throttle_classes = [WriteThrottle]

    @extend_schema(
        operation_id="accounts_create", summary="Open an account", tags=["accounts"],
        request=AccountCreateInputSerializer,
        responses={201: AccountCreatedOutputSerializer, **errors(400, 401, 413, 415, 429)},
    )
    def create(self, request: Request) -> Response:
        data = AccountCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = services.account_create(user=request.user, **data.validated_data)
        account.balance = format_money(ZERO)
        return Response(AccountCreatedOutputSerializer(account).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="accounts_list", summary="The caller's accounts", tags=["accounts"],
        responses={200: AccountListItemSerializer(many=True), **errors(401)},
    )
    def list(self, request: Request) -> Response:
        accounts = selectors.account_list_for_user(user=request.user)
        return Response(AccountListItemSerializer(accounts, many=True).data)

    @extend_schema(
        operation_id="accounts_all", summary="The caller's accounts (contract path)", tags=["accounts"],
        responses={200: AccountListItemSerializer(many=True), **errors(401)},
    )
    def list_all(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(
        operation_id="accounts_retrieve", summary="Account details", tags=["accounts"],
        responses={200: AccountDetailOutputSerializer, **errors(401, 404)},
    )
    def retrieve(self, request: Request, account_id: str) -> Response:
        account = selectors.account_get_for_user(user=request.user, account_id=path_id(account_id, not_found=AccountNotFound))
        account.balance = format_money(balance_get(account_id=account.pk))
        return Response(AccountDetailOutputSerializer(account).data)

    @extend_schema(
        operation_id="accounts_balance", summary="Balance, now or as of an instant", tags=["accounts"],
        parameters=[OpenApiParameter(
            "at", INSTANT_SCHEMA, description="ISO 8601 datetime (UTC if no offset) or date (end of that day): "
                                              "answer the balance as of then.", required=False,
        )],
        responses={200: BalanceOutputSerializer, **errors(400, 401, 404)},
    )
    def balance(self, request: Request, account_id: str) -> Response:
        """``?at=<ISO 8601>``: the balance as of that instant instead of now."""
        at_param = request.query_params.get("at")
        if at_param is None:
            # The hot read: ownership and balance in one statement.
            balance = owned_balance_get(user=request.user, account_id=path_id(account_id, not_found=AccountNotFound))
            return Response({"balance": format_money(balance)})
        account = selectors.account_get_for_user(user=request.user, account_id=path_id(account_id, not_found=AccountNotFound))
        at = parse_instant(at_param, name="at")
        return Response(
            {"balance": format_money(balance_at(account_id=account.pk, at=at)), "at": at.isoformat()}
        )


class AccountStatementViewSet(viewsets.ViewSet):
    """``GET /accounts/{id}/statement``: JSON, or CSV with ``?format=csv`` or
    ``Accept: text/csv`` (served as a download)."""

    renderer_classes = [JSONRenderer, StatementCSVRenderer]

    def perform_content_negotiation(self, request: Request, force: bool = False):
        if request.method != "GET":  # OPTIONS (and 405s) describe the endpoint: JSON
            return JSONRenderer(), JSONRenderer.media_type
        # DRF answers an unknown ?format= with a bare 404; say what is wrong instead.
        requested = request.query_params.get("format")
        if requested is not None and requested not in ("json", "csv"):
            raise ValidationFailed("format must be json or csv.")
        return super().perform_content_negotiation(request, force)

    def handle_exception(self, exc: Exception) -> Response:
        # Errors are always the JSON {"error"} body, also when CSV was asked for: a
        # client must not have to parse an error out of a spreadsheet.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    @extend_schema(
        operation_id="accounts_statement", summary="Statement for a period (JSON or CSV)", tags=["accounts"],
        parameters=[
            OpenApiParameter("from", INSTANT_SCHEMA, description="Start (ISO 8601; a bare date means its start). "
                                                                 "Default: the first day of the current month, UTC."),
            OpenApiParameter("to", INSTANT_SCHEMA, description="End (ISO 8601; a bare date means its end). Default: now."),
            OpenApiParameter("format", str, enum=["json", "csv"], description="csv for a spreadsheet download."),
        ],
        responses={
            (200, "application/json"): StatementSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The statement as CSV."),
            **errors(400, 401, 404, media_type="application/json"),
        },
    )
    def retrieve(self, request: Request, account_id: str) -> Response:
        account = selectors.account_get_for_user(user=request.user, account_id=path_id(account_id, not_found=AccountNotFound))
        now = timezone.now()
        period_to = parse_instant(request.query_params["to"], name="to") if "to" in request.query_params else now
        period_from = (
            parse_instant(request.query_params["from"], name="from", date_means="start")
            if "from" in request.query_params
            else period_to.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        )
        if period_from > period_to:
            raise ValidationFailed("from must not be after to.")
        statement = statement_get(account_id=account.pk, period_from=period_from, period_to=period_to)
        response = Response(statement_data(statement))
        if request.accepted_renderer.format == "csv":
            name = f"statement-{account.pk}-{period_from:%Y%m%d}-{period_to:%Y%m%d}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
