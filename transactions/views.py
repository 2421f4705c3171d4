from __future__ import annotations

from urllib.parse import urlencode

from collections.abc import Callable

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import account_get_for_user
from banking.api import path_id
from banking.dates import parse_instant
from banking.errors import AccountNotFound, InvalidAmount, TransactionNotFound, ValidationFailed
from banking.money import AMOUNT_PATTERN, format_money, parse_amount
from banking.openapi import CURSOR_SCHEMA, IDEMPOTENCY_KEY, INSTANT_SCHEMA, errors, page_limit
from banking.throttling import WriteThrottle
from transactions import idempotency, selectors, services
from transactions.models import Transaction
from transactions.serializers import (
    MovementInputSerializer,
    MovementOutputSerializer,
    ReversalInputSerializer,
    ReversalOutputSerializer,
    TransactionOutputSerializer,
    TransferInputSerializer,
    TransferOutputSerializer,
    movement_data,
    reversal_data,
    transaction_data,
)

HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 500
AMOUNT_QUERY_SCHEMA = {"type": "string", "pattern": AMOUNT_PATTERN, "maxLength": 40}


def _replayable(serializer) -> OpenApiResponse:
    return OpenApiResponse(
        serializer,
        description="Done. A replay of an earlier request with the same Idempotency-Key carries "
                    "`Idempotent-Replayed: true`.",
    )


class TransactionViewSet(viewsets.ViewSet):
    """Deposits, withdrawals and transfers on the caller's own accounts, history, and
    (staff only) reversals. The three money movements honour ``Idempotency-Key``."""

    throttle_classes = [WriteThrottle]

    def get_permissions(self):
        if self.action == "reverse":
            return [IsAuthenticated(), IsAdminUser()]
        return super().get_permissions()

    @extend_schema(
        operation_id="transactions_deposit", summary="Deposit into your account", tags=["transactions"],
        request=MovementInputSerializer, parameters=[IDEMPOTENCY_KEY],
        responses={201: _replayable(MovementOutputSerializer), **errors(400, 401, 404, 409, 413, 415, 429)},
    )
    def deposit(self, request: Request) -> Response:
        return self._movement(request, "deposit", services.deposit_create)

    @extend_schema(
        operation_id="transactions_withdraw", summary="Withdraw from your account", tags=["transactions"],
        request=MovementInputSerializer, parameters=[IDEMPOTENCY_KEY],
        responses={201: _replayable(MovementOutputSerializer), **errors(400, 401, 404, 409, 413, 415, 429)},
    )
    def withdraw(self, request: Request) -> Response:
        return self._movement(request, "withdraw", services.withdrawal_create)

    @extend_schema(
        operation_id="transactions_transfer", summary="Transfer to any account", tags=["transactions"],
        request=TransferInputSerializer, parameters=[IDEMPOTENCY_KEY],
        responses={201: _replayable(TransferOutputSerializer), **errors(400, 401, 404, 409, 413, 415, 429)},
    )
    def transfer(self, request: Request) -> Response:
        data = _valid(TransferInputSerializer, request)

        def run():
            result = services.transfer_create(
                from_account_id=data["from_account_id"], to_account_id=data["to_account_id"],
                amount=data["amount"], note=data["note"] or "",
                initiated_by=request.user, owner=request.user,
            )
            return status.HTTP_201_CREATED, {
                "debit_transaction": transaction_data(result.debit),
                "credit_transaction": transaction_data(result.credit),
                "from_account_balance": format_money(result.debit.balance_after),
                "to_account_balance": format_money(result.credit.balance_after),
                "transfer_amount": format_money(result.amount),
            }

        return _respond(request, "transfer", data, run)

    def _movement(self, request: Request, operation: str, service) -> Response:
        """A deposit or a withdrawal on the caller's own account."""
        data = _valid(MovementInputSerializer, request)

        def run():
            entry = service(
                account_id=data["account_id"], amount=data["amount"], note=data["note"] or "",
                initiated_by=request.user, owner=request.user,
            )
            return status.HTTP_201_CREATED, movement_data(entry)

        return _respond(request, operation, data, run)

    @extend_schema(
        operation_id="transactions_reverse", summary="Reverse a transaction (staff only)", tags=["transactions"],
        request=ReversalInputSerializer,
        responses={201: ReversalOutputSerializer, **errors(400, 401, 403, 404, 409, 413, 415, 429)},
    )
    def reverse(self, request: Request, transaction_id: str) -> Response:
        """Staff only: post the opposite movement of transaction ``transaction_id``."""
        original_id = path_id(transaction_id, not_found=TransactionNotFound)
        data = _valid(ReversalInputSerializer, request)
        rows = services.reversal_create(transaction_id=original_id, note=data["note"] or "", initiated_by=request.user)
        return Response(reversal_data(original_id, rows), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="transactions_history", summary="Account history, newest first", tags=["transactions"],
        parameters=[
            page_limit(HISTORY_MAX_LIMIT, HISTORY_DEFAULT_LIMIT),
            OpenApiParameter("cursor", CURSOR_SCHEMA, description="Opaque position from the `Link: rel=\"next\"` header."),
            OpenApiParameter("type", str, enum=[t.value for t in Transaction.Type], description="Only this type."),
            OpenApiParameter("status", str, enum=[s.value for s in Transaction.Status], description="Only this status."),
            OpenApiParameter("from", INSTANT_SCHEMA, description="Created at or after (ISO 8601; a bare date means its start)."),
            OpenApiParameter("to", INSTANT_SCHEMA, description="Created at or before (ISO 8601; a bare date means its end)."),
            OpenApiParameter("min_amount", AMOUNT_QUERY_SCHEMA, description="Amount at least this (decimal string)."),
            OpenApiParameter("max_amount", AMOUNT_QUERY_SCHEMA, description="Amount at most this (decimal string)."),
        ],
        responses={
            200: OpenApiResponse(
                TransactionOutputSerializer(many=True),
                description='A page of rows; when there are more, a `Link: <url>; rel="next"` header.',
            ),
            **errors(400, 401, 404),
        },
    )
    def history(self, request: Request, account_id: str) -> Response:
        """Newest first, ``limit`` rows a page (default 50, at most 500); the next page's
        address is in the ``Link: <...>; rel="next"`` header (keyset paging on the
        ledger sequence, so deep pages cost what the first one does)."""
        account = account_get_for_user(user=request.user, account_id=path_id(account_id, not_found=AccountNotFound))
        limit = _int_param(request, "limit", default=HISTORY_DEFAULT_LIMIT, low=1, high=HISTORY_MAX_LIMIT)
        cursor = _int_param(request, "cursor", default=None, low=1, high=2**63 - 1)
        rows = selectors.history_page(
            account_id=account.pk, limit=limit + 1, before_seq=cursor, filters=_history_filter(request)
        )
        headers = {}
        if len(rows) > limit:
            rows = rows[:limit]
            query = request.query_params.copy()
            query["cursor"] = str(rows[-1].seq)
            query["limit"] = str(limit)
            next_url = request.build_absolute_uri(request.path) + "?" + urlencode(query)
            headers["Link"] = f'<{next_url}>; rel="next"'
        return Response([transaction_data(row) for row in rows], headers=headers)


def _respond(request: Request, operation: str, data: dict, run: Callable[[], tuple[int, dict]]) -> Response:
    """Run a money movement, through the idempotency store when the client sent a key."""
    key = request.headers.get(idempotency.HEADER)
    if key is None:
        code, body = run()
        return Response(body, status=code)
    code, body, replayed = idempotency.run_idempotent(
        user=request.user, key=key, operation=operation, payload=data, run=run
    )
    headers = {idempotency.REPLAY_HEADER: "true"} if replayed else {}
    return Response(body, status=code, headers=headers)


def _history_filter(request: Request) -> selectors.HistoryFilter:
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

    return selectors.HistoryFilter(
        transaction_type=choice("type", Transaction.Type),
        status=choice("status", Transaction.Status),
        created_from=parse_instant(params["from"], name="from", date_means="start") if "from" in params else None,
        created_to=parse_instant(params["to"], name="to") if "to" in params else None,
        min_amount=amount("min_amount"),
        max_amount=amount("max_amount"),
    )


def _valid(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _int_param(request: Request, name: str, *, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not (low <= int(raw) <= high):
        raise ValidationFailed(f"{name} must be a whole number from {low} to {high}.")
    return int(raw)
