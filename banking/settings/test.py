"""Test settings: fast password hashing, a fixed key."""
from __future__ import annotations

import os

from .base import *  # noqa: F401,F403

SECRET_KEY = "test-only-not-secret"  # noqa: S105 - never used outside the test suite
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests that exercise the per-user write limit set it themselves; the concurrency tests
# post thousands of writes per user on purpose.
WRITE_THROTTLE_RATE = os.environ.get("WRITE_THROTTLE_RATE", "off")
