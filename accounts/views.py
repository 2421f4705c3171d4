from __future__ import annotations

from dataclasses import astuple

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors, services
from accounts.models import Account
from accounts.renderers import StatementCSVRenderer
from accounts.serializers import (
    AccountCreatedOutputSerializer,
    AccountCreateInputSerializer,
    AccountDetailOutputSerializer,
    AccountListItemSerializer,
    AccountOutputSerializer,
    AccountStaffStatusInputSerializer,
    AccountStatusInputSerializer,
    BalanceOutputSerializer,
    StatementSerializer,
)
from banking.api import keyset_page, path_id, query_int
from banking.dates import parse_instant
from banking.errors import AccountNotFound, InvalidAmount, ValidationFailed
from banking.money import AMOUNT_PATTERN, ZERO, parse_amount
from banking.openapi import CURSOR_SCHEMA, INSTANT_SCHEMA, errors, page_limit
from banking.permissions import staff_with
from banking.replicas import lag_tolerant
from banking.roles import FREEZE_ACCOUNTS
from banking.serializers import IdField, represent, validated
from banking.throttling import WriteThrottle
from transactions.models import Kind, Status
from transactions.selectors import (
    HistoryFilter,
    balance_at,
    balances_get,
    history_page,
    owned_balance_get,
    statement_get,
)
from transactions.serializers import HistoryRowSerializer

HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 500
AMOUNT_QUERY_SCHEMA = {"type": "string", "pattern": AMOUNT_PATTERN, "maxLength": 40}


class AccountViewSet(viewsets.ViewSet):
    """The caller's own accounts. Another user's account answers 404."""

    throttle_classes = [WriteThrottle]

    @extend_schema(
        operation_id="accounts_create", summary="Open an account", tags=["accounts"],
        request=AccountCreateInputSerializer,
        responses={201: AccountCreatedOutputSerializer, **errors(400, 401, 413, 415, 429)},
    )
    def create(self, request: Request) -> Response:
        data = validated(AccountCreateInputSerializer, request.data)
        account = services.account_create(user=request.user, **data)
        return Response(represent(AccountCreatedOutputSerializer, account), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="accounts_list", summary="The caller's accounts", tags=["accounts"],
        responses={200: AccountListItemSerializer(many=True), **errors(401)},
    )
    def list(self, request: Request) -> Response:
        accounts = list(selectors.account_list_for_user(user=request.user))
        balances = balances_get(account_ids=[account.pk for account in accounts])
        for account in accounts:
            account.available_balance = balances[account.pk].available_balance
        return Response([represent(AccountListItemSerializer, account) for account in accounts])

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
        account = _own_account(request, account_id)
        account.balance, account.available_balance = astuple(balances_get(account_ids=[account.pk])[account.pk])
        return Response(represent(AccountDetailOutputSerializer, account))

    @extend_schema(
        operation_id="accounts_balance", summary="Balance, now or as of an instant", tags=["accounts"],
        parameters=[OpenApiParameter(
            "at", INSTANT_SCHEMA, description="ISO 8601 datetime (UTC if no offset) or date (end of that day): "
                                              "answer the balance as of then.", required=False,
        )],
        responses={200: BalanceOutputSerializer, **errors(400, 401, 404)},
    )
    def balance(self, request: Request, account_id: str) -> Response:
        """The posted balance and the available balance (less what active holds reserve);
        ``?at=<ISO 8601>``: the posted balance as of that instant instead."""
        at_param = request.query_params.get("at")
        if at_param is None:
            # The hot read: ownership and balance in one statement.
            balances = owned_balance_get(user=request.user, account_id=path_id(account_id, not_found=AccountNotFound))
            return Response(represent(BalanceOutputSerializer, balances))
        return self._balance_at(request, account_id, at_param)

    @lag_tolerant
    def _balance_at(self, request: Request, account_id: str, at_param: str) -> Response:
        account = _own_account(request, account_id)
        at = parse_instant(at_param, name="at")
        return Response(represent(BalanceOutputSerializer, {"balance": balance_at(account_id=account.pk, at=at), "at": at}))

    @extend_schema(
        operation_id="accounts_close", summary="Close your account", tags=["accounts"],
        request=AccountStatusInputSerializer,
        responses={200: AccountOutputSerializer, **errors(400, 401, 404, 409, 413, 415, 429)},
    )
    def close(self, request: Request, account_id: str) -> Response:
        """For good: the balance must be zero and no active hold on it or payable to it
        (409 otherwise). A closed account refuses every movement; its history, balance and
        statements stay readable. A frozen account can only be closed by staff."""
        data = validated(AccountStatusInputSerializer, request.data)
        account = services.account_close(account_id=path_id(account_id, not_found=AccountNotFound),
                                         actor=request.user, owner=request.user, reason=data.get("reason", ""))
        return Response(represent(AccountOutputSerializer, account))

    @extend_schema(
        operation_id="accounts_freeze", summary="Freeze an account (staff only)", tags=["accounts"],
        request=AccountStaffStatusInputSerializer,
        responses={200: AccountOutputSerializer, **errors(400, 401, 403, 404, 409, 413, 415, 429)},
    )
    def freeze(self, request: Request, account_id: str) -> Response:
        """Staff holding ``accounts.freeze_account``: any customer's account stops taking
        debits (withdrawals, outgoing transfers, holds and their captures) and still
        takes credits. A debit that locked the account first committed before the freeze;
        every later one answers 409."""
        return self._staff_status_change(request, account_id, services.account_freeze)

    @extend_schema(
        operation_id="accounts_unfreeze", summary="Unfreeze an account (staff only)", tags=["accounts"],
        request=AccountStaffStatusInputSerializer,
        responses={200: AccountOutputSerializer, **errors(400, 401, 403, 404, 409, 413, 415, 429)},
    )
    def unfreeze(self, request: Request, account_id: str) -> Response:
        """Staff holding ``accounts.freeze_account``: a frozen account is active again."""
        return self._staff_status_change(request, account_id, services.account_unfreeze)

    def get_permissions(self):
        if self.action in ("freeze", "unfreeze"):
            return [IsAuthenticated(), staff_with(FREEZE_ACCOUNTS, "freeze accounts")()]
        return super().get_permissions()

    def _staff_status_change(self, request: Request, account_id: str, service) -> Response:
        data = validated(AccountStaffStatusInputSerializer, request.data)
        account = service(account_id=path_id(account_id, not_found=AccountNotFound), actor=request.user,
                          reason=data["reason"])
        return Response(represent(AccountOutputSerializer, account))


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
    @lag_tolerant
    def retrieve(self, request: Request, account_id: str) -> Response:
        account = _own_account(request, account_id)
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
        response = Response(represent(StatementSerializer, statement))
        if request.accepted_renderer.format == "csv":
            name = f"statement-{account.pk}-{period_from:%Y%m%d}-{period_to:%Y%m%d}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class AccountHistoryViewSet(viewsets.ViewSet):
    """``GET /transactions/{account_id}``: an account's history (the contract's path)."""

    @extend_schema(
        operation_id="transactions_history", summary="Account history, newest first", tags=["transactions"],
        parameters=[
            page_limit(HISTORY_MAX_LIMIT, HISTORY_DEFAULT_LIMIT),
            OpenApiParameter("cursor", CURSOR_SCHEMA, description="Opaque position from the `Link: rel=\"next\"` header."),
            OpenApiParameter("type", str, enum=Kind.values, description="Only this type."),
            OpenApiParameter("status", str, enum=Status.values, description="Only this status."),
            OpenApiParameter("from", INSTANT_SCHEMA, description="Created at or after (ISO 8601; a bare date means its start)."),
            OpenApiParameter("to", INSTANT_SCHEMA, description="Created at or before (ISO 8601; a bare date means its end)."),
            OpenApiParameter("min_amount", AMOUNT_QUERY_SCHEMA, description="Amount at least this (decimal string)."),
            OpenApiParameter("max_amount", AMOUNT_QUERY_SCHEMA, description="Amount at most this (decimal string)."),
        ],
        responses={
            200: OpenApiResponse(
                HistoryRowSerializer(many=True),
                description='A page of rows; when there are more, a `Link: <url>; rel="next"` header.',
            ),
            **errors(400, 401, 404),
        },
    )
    @lag_tolerant
    def history(self, request: Request, account_id: str) -> Response:
        """Newest first, ``limit`` rows a page (default 50, at most 500); the next page's
        address is in the ``Link: <...>; rel="next"`` header (keyset paging on the
        ledger sequence, so deep pages cost what the first one does)."""
        account = _own_account(request, account_id)
        limit = query_int(request, "limit", default=HISTORY_DEFAULT_LIMIT, low=1, high=HISTORY_MAX_LIMIT)
        cursor = query_int(request, "cursor", default=None, low=1, high=IdField.MAX)
        rows = history_page(
            account_id=account.pk, limit=limit + 1, before_seq=cursor, filters=_history_filter(request)
        )
        rows, headers = keyset_page(request, rows, limit=limit, cursor=lambda row: row.seq)
        return Response([represent(HistoryRowSerializer, row) for row in rows], headers=headers)


def _own_account(request: Request, account_id: str) -> Account:
    return selectors.account_get_for_user(user=request.user, account_id=path_id(account_id, not_found=AccountNotFound))


def _history_filter(request: Request) -> HistoryFilter:
    params = request.query_params

    def choice(name: str, choices) -> str | None:
        value = params.get(name)
        if value is None:
            return None
        if value.upper() not in choices.values:
            raise ValidationFailed(f"{name} must be one of: {', '.join(choices.values)}.")
        return value.upper()

    def amount(name: str):
        if name not in params:
            return None
        try:
            return parse_amount(params[name])
        except InvalidAmount as exc:
            raise ValidationFailed(f"{name}: {exc.message}") from None

    return HistoryFilter(
        transaction_type=choice("type", Kind),
        status=choice("status", Status),
        created_from=parse_instant(params["from"], name="from", date_means="start") if "from" in params else None,
        created_to=parse_instant(params["to"], name="to") if "to" in params else None,
        min_amount=amount("min_amount"),
        max_amount=amount("max_amount"),
    )
