from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class User(AbstractUser):
    """A customer (or a staff member). Usernames and e-mail addresses are unique
    regardless of case, so "Alice" cannot register beside "alice"."""

    email = models.EmailField("email address", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="users_user_username_ci_unique"),
            models.UniqueConstraint(
                Lower("email"), condition=~Q(email=""), name="users_user_email_ci_unique"
            ),
        ]

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


class RateCounter(models.Model):
    """A fixed-window rate-limit counter (see banking/throttling.py): one row per subject
    (a user's writes, a username's or an address's failed logins), updated by one atomic
    UPSERT. On PostgreSQL the table is UNLOGGED: counters need no crash durability, and
    skipping the WAL keeps them off the commit path."""

    counter_key = models.CharField(max_length=80, primary_key=True)
    window_start = models.BigIntegerField()
    hits = models.IntegerField()
