"""Webhook secrets: made, kept encrypted, and used to sign (Standard Webhooks).

A webhook secret is a credential the receiver shares, so the server must be able to
read it to sign with it: it cannot be hashed like an API token. It is stored encrypted
(Fernet, from the ``cryptography`` library) under a key derived from ``SECRET_KEY``: a
copy of the database alone yields no secret. ``SECRET_KEY_FALLBACKS`` still decrypt, so
``SECRET_KEY`` can be rotated the way Django rotates it. A secret is shown once, when made,
and never logged."""
from __future__ import annotations

import base64
import hashlib
import secrets as random
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

PREFIX = "whsec_"


def new_secret() -> str:
    """24 random bytes, base64, with the ``whsec_`` prefix the Standard Webhooks
    libraries accept as they are."""
    return PREFIX + base64.b64encode(random.token_bytes(24)).decode()


def _fernet_for(key: str) -> Fernet:
    digest = hashlib.sha256(b"banking.events.secrets:" + key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _fernet() -> MultiFernet:
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return MultiFernet([_fernet_for(key) for key in keys])


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise RuntimeError("a webhook secret cannot be decrypted: was SECRET_KEY changed without "
                           "keeping the old one in SECRET_KEY_FALLBACKS?") from None


def signatures(endpoint, *, msg_id: str, timestamp: datetime, body: bytes) -> str:
    """The ``webhook-signature`` header: the current secret's signature, and the previous
    secret's while it is still in its grace period after a rotation."""
    keys = [endpoint.secret_encrypted]
    if endpoint.previous_secret_encrypted and endpoint.previous_secret_expires_at \
            and endpoint.previous_secret_expires_at > timezone.now():
        keys.append(endpoint.previous_secret_encrypted)
    return " ".join(Webhook(decrypt(key)).sign(msg_id, timestamp, body) for key in keys)
