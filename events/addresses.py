"""Where a webhook may be sent: the guard against server-side request forgery.

In production (``WEBHOOK_ALLOW_PRIVATE_URLS`` off, its production default) a webhook URL
must be ``https`` and its host must resolve only to public addresses: none loopback,
private, link-local, shared, multicast or reserved. That is checked when the endpoint is
registered, and again at every delivery, after resolving the name afresh; the delivery
then connects to the very address it checked (``events.delivery``), so a DNS answer that
changes in between (DNS rebinding) cannot steer it to an internal service."""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from banking.errors import UnsafeUrl

MAX_URL_LENGTH = 2000


def private_allowed() -> bool:
    return settings.WEBHOOK_ALLOW_PRIVATE_URLS


def validate(url: str) -> str:
    """The URL as it will be called, or ``UnsafeUrl`` saying what is wrong with it."""
    url = (url or "").strip()
    if not url:
        raise UnsafeUrl("Url is required.")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"Url must be at most {MAX_URL_LENGTH} characters.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("Url must be an absolute http(s) URL, e.g. https://example.com/webhooks.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("Url must not carry a user name or password; authenticate by the signature.")
    try:
        parts.port
    except ValueError:
        raise UnsafeUrl("Url has an invalid port.") from None
    if not private_allowed():
        if parts.scheme != "https":
            raise UnsafeUrl("Url must use https.")
        resolve(parts.hostname, parts.port or 443)
    return url


def resolve(host: str, port: int) -> list[str]:
    """The addresses to connect to for ``host``: all of them, each checked (one address
    that is not public refuses the whole name). With private URLs allowed, unchecked."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrl(f"Url host {host!r} does not resolve.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not private_allowed():
        for address in addresses:
            if not is_public(address):
                raise UnsafeUrl(f"Url host {host!r} resolves to a non-public address ({address}).")
    return addresses


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
