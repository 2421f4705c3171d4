"""The ledger's input limits, in one home: the services enforce them, the serializers
publish them in the API schema."""
from __future__ import annotations

from datetime import timedelta

NOTE_MAX_LENGTH = 255
HOLD_DEFAULT_EXPIRY = timedelta(days=7)
HOLD_MIN_EXPIRY = timedelta(seconds=1)
HOLD_MAX_EXPIRY = timedelta(days=30)
