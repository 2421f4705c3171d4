"""Rules for text a person will read back (notes, names, usernames)."""
from __future__ import annotations

import unicodedata

from banking.errors import ValidationFailed

# Refused: control characters (Cc) and invisible formatting characters (Cf), e.g. the
# bidi override U+202E that makes "Transfer from alice" display as something else. The
# zero-width (non-)joiners and the tag characters are allowed: emoji sequences (family
# emoji, subdivision flags) and several scripts need them.
_ALLOWED_FORMAT_CHARACTERS = frozenset({"\u200c", "\u200d", *map(chr, range(0xE0020, 0xE0080))})


def has_invisible_characters(text: str) -> bool:
    return any(
        unicodedata.category(char) in ("Cc", "Cf") and char not in _ALLOWED_FORMAT_CHARACTERS for char in text
    )


def clean_text(text: str | None, *, name: str, max_length: int) -> str:
    """Free text a person typed (a note, a reason), by the same rules for every caller
    (API, admin, services): stripped, at most ``max_length`` characters, no control or
    invisible formatting characters. ``name`` starts the error message ("Note")."""
    text = (text or "").strip()
    if len(text) > max_length:
        raise ValidationFailed(f"{name} must be at most {max_length} characters.")
    if has_invisible_characters(text):
        raise ValidationFailed(f"{name} must not contain control or invisible formatting characters.")
    return text
