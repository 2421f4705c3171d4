from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from banking.errors import ValidationFailed
from users.models import AuthToken, User, username_key
from users.selectors import token_hash


def user_create(
    *, username: str, password: str, email: str = "", first_name: str = "", last_name: str = ""
) -> User:
    """Register a customer. Passwords go through Django's validators; a username that
    looks like an existing one (same ``username_key``: letter case, full-width forms)
    or a duplicate e-mail (in any letter case) is refused, also when two requests race."""
    email = User.objects.normalize_email(email or "")
    if User.objects.filter(username_key=username_key(username)).exists():
        raise ValidationFailed("Username already exists.")
    if email and User.objects.filter(email__iexact=email).exists():
        raise ValidationFailed("Email already exists.")

    user = User(username=username, email=email, first_name=first_name, last_name=last_name)
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            "Password is not strong enough: " + " ".join(exc.messages),
            details={"password": exc.messages},
        ) from None
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # The checks above lost a race with a concurrent registration.
        raise ValidationFailed("Username or email already exists.") from None
    return user


def token_issue(*, user: User) -> tuple[AuthToken, str]:
    """Create a new token for ``user`` and return it with its plain key (shown once)."""
    key = secrets.token_hex(20)
    token = AuthToken.objects.create(
        user=user,
        key_hash=token_hash(key),
        key_prefix=key[:8],
        expires_at=timezone.now() + timedelta(hours=settings.AUTH_TOKEN_TTL_HOURS),
    )
    return token, key


def token_revoke(*, token: AuthToken) -> None:
    AuthToken.objects.filter(pk=token.pk).delete()


def tokens_revoke_all(*, user: User) -> int:
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted


def tokens_delete_expired() -> int:
    deleted, _ = AuthToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
