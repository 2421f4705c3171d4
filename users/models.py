from __future__ import annotations

import unicodedata

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


def username_key(username: str) -> str:
    """What makes two usernames the same: names a person could mistake for each other
    share a key. NFKC folds compatibility forms (full-width "ａlice" is "alice"),
    casefold folds letter case ("ALICE", "Straße"/"STRASSE"); NFKC again after casefold,
    as Unicode's identifier caseless matching does."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


class CaselessUserManager(UserManager):
    def get_by_natural_key(self, username: str) -> "User":
        # Login finds the user whatever case or width the name is typed in.
        return self.get(username_key=username_key(username))


class User(AbstractUser):
    """A customer (or a staff member). Usernames are unique by ``username_key``, so
    neither "Alice" nor a full-width "ａlice" can register beside "alice"; e-mail
    addresses are unique regardless of case."""

    email = models.EmailField("email address", blank=True)
    username_key = models.CharField(max_length=600, unique=True, editable=False)

    objects = CaselessUserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="users_user_username_ci_unique"),
            models.UniqueConstraint(
                Lower("email"), condition=~Q(email=""), name="users_user_email_ci_unique"
            ),
        ]

    def save(self, *args, **kwargs):
        # Every path that writes a user (API, admin, createsuperuser) stores the
        # NFKC form of the name and its key, so uniqueness holds for all of them.
        self.username = self.normalize_username(self.username)
        self.username_key = username_key(self.username)
        super().save(*args, **kwargs)

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class AuthToken(models.Model):
    """An API token. Only a SHA-256 digest of the key is stored: the key itself is
    shown once, at login, so a copy of the database yields no usable credential.
    A user may hold several (one per device); each expires."""

    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(
        max_length=8, editable=False, help_text="First characters of the key, to tell tokens apart."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="auth_tokens"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.key_prefix}… ({self.user})"
