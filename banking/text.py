"""Rules for text a person will read back (notes, names, usernames)."""
from __future__ import annotations

import unicodedata

# Refused: control characters (Cc) and invisible formatting characters (Cf), e.g. the
# bidi override U+202E that makes "Transfer from alice" display as something else. The
# zero-width (non-)joiners and the tag characters are allowed: emoji sequences (family
# emoji, subdivision flags) and several scripts need them.
_ALLOWED_FORMAT_CHARACTERS = frozenset({"\u200c", "\u200d", *map(chr, range(0xE0020, 0xE0080))})


def has_invisible_characters(text: str) -> bool:
    return any(
        unicodedata.category(char) in ("Cc", "Cf") and char not in _ALLOWED_FORMAT_CHARACTERS for char in text
    )
