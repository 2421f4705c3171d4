from __future__ import annotations

from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors, services
from accounts.serializers import (
    AccountCreatedOutputSerializer,
    AccountCreateInputSerializer,
    AccountDetailOutputSerializer,
    AccountListItemSerializer,
)
from banking.dates import parse_instant
from banking.money import ZERO, format_money
from transactions.selectors import balance_at, balance_get, owned_balance_get


class AccountViewSet(viewsets.ViewSet):
    """The caller's own accounts. Another user's account answers 404."""

    def create(self, request: Request) -> Response:
        data = AccountCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = services.account_create(user=request.user, **data.validated_data)
        account.balance = format_money(ZERO)
        return Response(AccountCreatedOutputSerializer(account).data, status=status.HTTP_201_CREATED)

    def list(self, request: Request) -> Response:
        accounts = selectors.account_list_for_user(user=request.user)
        return Response(AccountListItemSerializer(accounts, many=True).data)

    def retrieve(self, request: Request, account_id: str) -> Response:
        account = selectors.account_get_for_user(user=request.user, account_id=int(account_id))
        account.balance = format_money(balance_get(account_id=account.pk))
        return Response(AccountDetailOutputSerializer(account).data)

    def balance(self, request: Request, account_id: str) -> Response:
        """``?at=<ISO 8601>``: the balance as of that instant instead of now."""
        at_param = request.query_params.get("at")
        if at_param is None:
            # The hot read: ownership and balance in one statement.
            balance = owned_balance_get(user=request.user, account_id=int(account_id))
            return Response({"balance": format_money(balance)})
        account = selectors.account_get_for_user(user=request.user, account_id=int(account_id))
        at = parse_instant(at_param, name="at")
        return Response(
            {"balance": format_money(balance_at(account_id=account.pk, at=at)), "at": at.isoformat()}
        )
