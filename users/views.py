from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from banking import throttling
from banking.errors import InvalidCredentials
from banking.openapi import errors
from banking.serializers import represent, validated
from users import services
from users.serializers import (
    LoginInputSerializer,
    LoginOutputSerializer,
    LogoutAllOutputSerializer,
    MessageSerializer,
    UserCreateInputSerializer,
    UserOutputSerializer,
)


class UserViewSet(viewsets.ViewSet):
    """``POST /users``: registration, open to anyone."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="users_create", summary="Register", tags=["auth"],
        request=UserCreateInputSerializer, responses={201: UserOutputSerializer, **errors(400, 413, 415)},
    )
    def create(self, request: Request) -> Response:
        data = validated(UserCreateInputSerializer, request.data)
        user = services.user_create(**data)
        return Response(represent(UserOutputSerializer, user), status=status.HTTP_201_CREATED)


class AuthViewSet(viewsets.ViewSet):
    """``POST /auth/login`` issues a token; ``/auth/logout`` revokes the one presented;
    ``/auth/logout-all`` revokes every token of the caller (all devices)."""

    def _is_login_route(self) -> bool:
        # DRF asks for authenticators before it sets self.action, hence the action map.
        return getattr(self, "action_map", {}).get("post") == "login"

    def get_permissions(self):
        return [AllowAny()] if self._is_login_route() else [IsAuthenticated()]

    def get_authenticators(self):
        # Login must work even when the client still sends a stale token.
        return [] if self._is_login_route() else super().get_authenticators()

    @extend_schema(
        operation_id="auth_login", summary="Log in: get a token", tags=["auth"], auth=[],
        request=LoginInputSerializer, responses={200: LoginOutputSerializer, **errors(400, 401, 413, 415, 429)},
    )
    def login(self, request: Request) -> Response:
        data = validated(LoginInputSerializer, request.data)
        username, password = data["username"], data["password"]
        address = request.META.get("REMOTE_ADDR", "")
        throttling.login_check(username=username, address=address)
        user = authenticate(request._request, username=username, password=password)
        if user is None:
            throttling.login_failed(username=username, address=address)
            raise InvalidCredentials()
        throttling.login_succeeded(username=username)
        _, key = services.token_issue(user=user)
        body = {"token": key, "user_id": user.pk, "username": user.username, "message": "Login successful"}
        return Response(represent(LoginOutputSerializer, body))

    @extend_schema(
        operation_id="auth_logout", summary="Revoke the token presented", tags=["auth"],
        request=None, responses={200: MessageSerializer, **errors(401)},
    )
    def logout(self, request: Request) -> Response:
        services.token_revoke(token=request.auth)
        return Response(represent(MessageSerializer, {"message": "Successfully logged out"}))

    @extend_schema(
        operation_id="auth_logout_all", summary="Revoke every token of the caller", tags=["auth"],
        request=None, responses={200: LogoutAllOutputSerializer, **errors(401)},
    )
    def logout_all(self, request: Request) -> Response:
        revoked = services.tokens_revoke_all(user=request.user)
        body = {"message": "Successfully logged out of all sessions", "revoked": revoked}
        return Response(represent(LogoutAllOutputSerializer, body))
