from __future__ import annotations

import hashlib

from django.utils import timezone

from users.models import AuthToken


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def token_get_active(*, key: str) -> AuthToken | None:
    """The live token for ``key`` with its user, in one indexed query; None when the key
    is unknown, expired or its user is deactivated."""
    token = (
        AuthToken.objects.select_related("user")
        .filter(key_hash=token_hash(key), expires_at__gt=timezone.now(), user__is_active=True)
        .first()
    )
    return token
