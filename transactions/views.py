from __future__ import annotations

from urllib.parse import urlencode

from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import account_get_for_user
from banking.errors import ValidationFailed
from banking.money import format_money
from transactions import selectors, services
from transactions.serializers import (
    MovementInputSerializer,
    TransferInputSerializer,
    movement_data,
    transaction_data,
)

HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 500


class TransactionViewSet(viewsets.ViewSet):
    """Deposits, withdrawals and transfers on the caller's own accounts, and history."""

    def deposit(self, request: Request) -> Response:
        data = _valid(MovementInputSerializer, request)
        entry = services.deposit_create(
            account_id=data["account_id"],
            amount=data["amount"],
            note=data["note"] or "",
            initiated_by=request.user,
            owner=request.user,
        )
        return Response(movement_data(entry), status=status.HTTP_201_CREATED)

    def withdraw(self, request: Request) -> Response:
        data = _valid(MovementInputSerializer, request)
        entry = services.withdrawal_create(
            account_id=data["account_id"],
            amount=data["amount"],
            note=data["note"] or "",
            initiated_by=request.user,
            owner=request.user,
        )
        return Response(movement_data(entry), status=status.HTTP_201_CREATED)

    def transfer(self, request: Request) -> Response:
        data = _valid(TransferInputSerializer, request)
        result = services.transfer_create(
            from_account_id=data["from_account_id"],
            to_account_id=data["to_account_id"],
            amount=data["amount"],
            note=data["note"] or "",
            initiated_by=request.user,
            owner=request.user,
        )
        return Response(
            {
                "debit_transaction": transaction_data(result.debit),
                "credit_transaction": transaction_data(result.credit),
                "from_account_balance": format_money(result.debit.balance_after),
                "to_account_balance": format_money(result.credit.balance_after),
                "transfer_amount": format_money(result.amount),
            },
            status=status.HTTP_201_CREATED,
        )

    def history(self, request: Request, account_id: str) -> Response:
        """Newest first, ``limit`` rows a page (default 50, at most 500); the next page's
        address is in the ``Link: <...>; rel="next"`` header (keyset paging on the
        ledger sequence, so deep pages cost what the first one does)."""
        account = account_get_for_user(user=request.user, account_id=int(account_id))
        limit = _int_param(request, "limit", default=HISTORY_DEFAULT_LIMIT, low=1, high=HISTORY_MAX_LIMIT)
        cursor = _int_param(request, "cursor", default=None, low=1, high=2**63 - 1)
        rows = selectors.history_page(account_id=account.pk, limit=limit + 1, before_seq=cursor)
        headers = {}
        if len(rows) > limit:
            rows = rows[:limit]
            query = request.query_params.copy()
            query["cursor"] = str(rows[-1].seq)
            query["limit"] = str(limit)
            next_url = request.build_absolute_uri(request.path) + "?" + urlencode(query)
            headers["Link"] = f'<{next_url}>; rel="next"'
        return Response([transaction_data(row) for row in rows], headers=headers)


def _valid(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _int_param(request: Request, name: str, *, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not (low <= int(raw) <= high):
        raise ValidationFailed(f"{name} must be a whole number from {low} to {high}.")
    return int(raw)
