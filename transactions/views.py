from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from banking.api import path_id
from banking.errors import TransactionNotFound
from banking.openapi import IDEMPOTENCY_KEY, errors
from banking.serializers import represent
from banking.throttling import WriteThrottle
from transactions import idempotency, services
from transactions.serializers import (
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
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
