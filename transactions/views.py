from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from types import SimpleNamespace

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from banking.api import keyset_page, path_id, query_int
from banking.errors import HoldNotFound, TransactionNotFound, ValidationFailed
from banking.openapi import CURSOR_SCHEMA, ID_SCHEMA, IDEMPOTENCY_KEY, errors, page_limit
from banking.permissions import staff_with
from banking.roles import POST_MOVEMENTS
from banking.serializers import IdField, represent, validated
from banking.throttling import WriteThrottle
from transactions import idempotency, selectors, services
from transactions.models import HoldStatus
from transactions.serializers import (
    HoldCaptureInputSerializer,
    HoldCreateInputSerializer,
    HoldOutputSerializer,
    HoldTransferCaptureSerializer,
    HoldWithdrawalCaptureSerializer,
    MovementInputSerializer,
    MovementOutputSerializer,
    ReversalInputSerializer,
    ReversalOutputSerializer,
    TransferInputSerializer,
    TransferOutputSerializer,
)


def _replayable(serializer) -> OpenApiResponse:
    return OpenApiResponse(
        serializer,
        description="Done. A replay of an earlier request with the same Idempotency-Key carries "
                    "`Idempotent-Replayed: true`.",
    )


class TransactionViewSet(viewsets.ViewSet):
    """Deposits, withdrawals and transfers on the caller's own accounts, and (staff only)
    reversals. The three money movements honour ``Idempotency-Key``. (An account's
    history, ``GET /transactions/{account_id}``, is read in ``accounts.views``.)"""

    throttle_classes = [WriteThrottle]

    def get_permissions(self):
        if self.action == "reverse":
            return [IsAuthenticated(), staff_with(POST_MOVEMENTS, "post reversals")()]
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

        def run(key: str):
            result = services.transfer_create(
                from_account_id=data["from_account_id"], to_account_id=data["to_account_id"],
                amount=data["amount"], note=data["note"] or "",
                initiated_by=request.user, owner=request.user, idempotency_key=key,
            )
            return status.HTTP_201_CREATED, represent(TransferOutputSerializer, result)

        return _respond(request, "transfer", data, run)

    def _movement(self, request: Request, operation: str, service) -> Response:
        """A deposit or a withdrawal on the caller's own account."""
        data = _valid(MovementInputSerializer, request)

        def run(key: str):
            entry = service(
                account_id=data["account_id"], amount=data["amount"], note=data["note"] or "",
                initiated_by=request.user, owner=request.user, idempotency_key=key,
            )
            return status.HTTP_201_CREATED, represent(MovementOutputSerializer, entry)

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
        body = represent(ReversalOutputSerializer, {"reversed_transaction_id": original_id, "reversal_transactions": rows})
        return Response(body, status=status.HTTP_201_CREATED)


HOLDS_DEFAULT_LIMIT = 50
HOLDS_MAX_LIMIT = 500
HOLD_CAPTURED = PolymorphicProxySerializer(
    component_name="HoldCaptured",
    serializers=[HoldWithdrawalCaptureSerializer, HoldTransferCaptureSerializer],
    resource_type_field_name=None,
)


class HoldViewSet(viewsets.ViewSet):
    """Holds: reserve funds now (``POST /transactions/holds``), then capture them (move
    them: a withdrawal, or a transfer to the hold's payee) or void them; a hold left alone
    stops reserving at ``expires_at``. The held account's owner, the payee's owner and
    staff may see, capture and void a hold; anyone else gets 404."""

    throttle_classes = [WriteThrottle]

    @extend_schema(
        operation_id="holds_create", summary="Reserve funds on your account", tags=["holds"],
        request=HoldCreateInputSerializer, parameters=[IDEMPOTENCY_KEY],
        responses={201: _replayable(HoldOutputSerializer), **errors(400, 401, 404, 409, 413, 415, 429)},
    )
    def create(self, request: Request) -> Response:
        data = _valid(HoldCreateInputSerializer, request)

        def run(key: str):
            result = services.hold_create(
                account_id=data["account_id"], amount=data["amount"], note=data["note"] or "",
                to_account_id=data["to_account_id"], expires_in=timedelta(seconds=data["expires_in"]),
                initiated_by=request.user, owner=request.user, idempotency_key=key,
            )
            (hold,) = selectors.holds_present([result.hold], viewer=request.user, available=result.available_balance)
            return status.HTTP_201_CREATED, represent(HoldOutputSerializer, hold)

        return _respond(request, "hold", data, run)

    @extend_schema(
        operation_id="holds_list", summary="Holds on or payable to your accounts, newest first", tags=["holds"],
        parameters=[
            page_limit(HOLDS_MAX_LIMIT, HOLDS_DEFAULT_LIMIT),
            OpenApiParameter("cursor", CURSOR_SCHEMA, description="Opaque position from the `Link: rel=\"next\"` header."),
            OpenApiParameter("account_id", ID_SCHEMA, description="Only holds on, or payable to, this account of yours."),
            OpenApiParameter("status", str, enum=HoldStatus.values, description="Only holds in this status now."),
        ],
        responses={
            200: OpenApiResponse(HoldOutputSerializer(many=True),
                                 description='A page of holds; when there are more, a `Link: <url>; rel="next"` header.'),
            **errors(400, 401, 404),
        },
    )
    def list(self, request: Request) -> Response:
        limit = query_int(request, "limit", default=HOLDS_DEFAULT_LIMIT, low=1, high=HOLDS_MAX_LIMIT)
        cursor = query_int(request, "cursor", default=None, low=1, high=IdField.MAX)
        account_id = query_int(request, "account_id", default=None, low=1, high=IdField.MAX)
        hold_status = request.query_params.get("status")
        if hold_status is not None:
            hold_status = hold_status.upper()
            if hold_status not in HoldStatus.values:
                raise ValidationFailed(f"status must be one of: {', '.join(HoldStatus.values)}.")
        holds = selectors.holds_page(viewer=request.user, limit=limit + 1, account_id=account_id,
                                     status=hold_status, before_id=cursor)
        holds, headers = keyset_page(request, holds, limit=limit, cursor=lambda hold: hold.pk)
        holds = selectors.holds_present(holds, viewer=request.user)
        return Response([represent(HoldOutputSerializer, hold) for hold in holds], headers=headers)

    @extend_schema(
        operation_id="holds_retrieve", summary="A hold", tags=["holds"],
        responses={200: HoldOutputSerializer, **errors(401, 404)},
    )
    def retrieve(self, request: Request, hold_id: str) -> Response:
        hold = selectors.hold_get_for_actor(hold_id=path_id(hold_id, not_found=HoldNotFound), actor=request.user)
        (hold,) = selectors.holds_present([hold], viewer=request.user)
        return Response(represent(HoldOutputSerializer, hold))

    @extend_schema(
        operation_id="holds_capture", summary="Capture a hold: move all or part of it", tags=["holds"],
        request=HoldCaptureInputSerializer, parameters=[IDEMPOTENCY_KEY],
        responses={201: _replayable(HOLD_CAPTURED), **errors(400, 401, 403, 404, 409, 413, 415, 429)},
    )
    def capture(self, request: Request, hold_id: str) -> Response:
        """A withdrawal (no payee) or a transfer to the payee, with the hold; an amount
        below the hold's releases the rest at once. 409 if the hold is not PENDING."""
        hold_pk = path_id(hold_id, not_found=HoldNotFound)
        data = _valid(HoldCaptureInputSerializer, request)

        def run(key: str):
            result = services.hold_capture(hold_id=hold_pk, amount=data.get("amount"), note=data["note"] or "",
                                           actor=request.user, idempotency_key=key)
            hold = result.hold
            (shown,) = selectors.holds_present([hold], viewer=request.user)
            if hold.to_account_id is None:
                entry = result.posting.entry(hold.account_id)
                entry.hold = shown
                return status.HTTP_201_CREATED, represent(HoldWithdrawalCaptureSerializer, entry)
            debit, credit = result.posting.entry(hold.account_id), result.posting.entry(hold.to_account_id)
            # Each side's balance only to its owner (the payee captures without learning
            # the payer's balance, and the payer without learning the payee's).
            body = SimpleNamespace(
                debit=debit, credit=credit, amount=debit.amount, hold=shown,
                from_balance=debit.balance_after if selectors.balance_visible_to(hold.account, request.user) else None,
                to_balance=credit.balance_after if selectors.balance_visible_to(hold.to_account, request.user) else None,
            )
            return status.HTTP_201_CREATED, represent(HoldTransferCaptureSerializer, body)

        return _respond(request, "hold-capture", {"hold_id": hold_pk, **data}, run)

    @extend_schema(
        operation_id="holds_void", summary="Void a hold: release what it reserves", tags=["holds"],
        request=None, parameters=[IDEMPOTENCY_KEY],
        responses={200: _replayable(HoldOutputSerializer), **errors(400, 401, 403, 404, 409, 429)},
    )
    def void(self, request: Request, hold_id: str) -> Response:
        hold_pk = path_id(hold_id, not_found=HoldNotFound)

        def run(key: str):
            hold = services.hold_void(hold_id=hold_pk, actor=request.user)
            (hold,) = selectors.holds_present([hold], viewer=request.user)
            return status.HTTP_200_OK, represent(HoldOutputSerializer, hold)

        return _respond(request, "hold-void", {"hold_id": hold_pk}, run)


def _respond(request: Request, operation: str, data: dict, run: Callable[[str], tuple[int, dict]]) -> Response:
    """Run a money movement (``run(idempotency_key)``), through the idempotency store when
    the client sent a key."""
    key = request.headers.get(idempotency.HEADER)
    if key is None:
        code, body = run("")
        return Response(body, status=code)
    code, body, replayed = idempotency.run_idempotent(
        user=request.user, key=key, operation=operation, payload=data, run=run
    )
    headers = {idempotency.REPLAY_HEADER: "true"} if replayed else {}
    return Response(body, status=code, headers=headers)


def _valid(serializer_class, request: Request) -> dict:
    return validated(serializer_class, request.data)
