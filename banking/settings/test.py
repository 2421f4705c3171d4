"""Test settings: fast password hashing, a fixed key."""
from __future__ import annotations

from .base import *  # noqa: F401,F403

SECRET_KEY = "test-only-not-secret"  # noqa: S105 - never used outside the test suite
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
