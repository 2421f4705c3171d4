from __future__ import annotations

from django.contrib.auth import authenticate
from rest_framework import status, viewsets
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from banking.errors import InvalidCredentials, ValidationFailed
from users import services
from users.serializers import LoginInputSerializer, UserCreateInputSerializer, UserOutputSerializer


class UserViewSet(viewsets.ViewSet):
    """``POST /users``: registration, open to anyone."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def create(self, request: Request) -> Response:
        data = UserCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_create(**data.validated_data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


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

    def login(self, request: Request) -> Response:
        data = LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data.get("username") or ""
        password = data.validated_data.get("password") or ""
        if not username or not password:
            raise ValidationFailed("Username and password are required.")
        user = authenticate(request._request, username=username, password=password)
        if user is None:
            raise InvalidCredentials()
        _, key = services.token_issue(user=user)
        return Response(
            {"token": key, "user_id": user.pk, "username": user.username, "message": "Login successful"}
        )

    def logout(self, request: Request) -> Response:
        services.token_revoke(token=request.auth)
        return Response({"message": "Successfully logged out"})

    def logout_all(self, request: Request) -> Response:
        revoked = services.tokens_revoke_all(user=request.user)
        return Response({"message": "Successfully logged out of all sessions", "revoked": revoked})
