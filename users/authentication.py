from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from users.selectors import token_get_active


class BearerTokenAuthentication(BaseAuthentication):
    """``Authorization: Token <key>`` (the contract's scheme) or ``Authorization: Bearer
    <key>`` (what Postman's "Bearer Token" auth and most HTTP clients send), checked
    against the stored digest of the key.

    One indexed query per request and no write: nothing is updated on use.
    """

    keyword = "Token"
    keywords = (b"token", b"bearer")

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid token header. Use 'Authorization: Token <your_token>' (or 'Bearer <your_token>')."
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid or expired token.") from None
        token = token_get_active(key=key) if len(key) <= 128 else None
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword
