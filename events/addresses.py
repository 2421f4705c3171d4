"""Where a webhook may be sent: the guard against server-side request forgery.

In production (``WEBHOOK_ALLOW_PRIVATE_URLS`` off, its production default) a webhook URL
must be ``https`` and its host must resolve only to public addresses: none loopback,
private, link-local, shared, multicast or reserved. That is checked when the endpoint is
registered, and again at every delivery, after resolving the name afresh; the delivery
then connects to the very address it checked (``events.delivery``), so a DNS answer that
changes in between (DNS rebinding) cannot steer it to an internal service."""
from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from django.conf import settings

from banking.errors import UnsafeUrl

MAX_URL_LENGTH = 2000
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
# What a webhook URL must look like (published in the API schema as it is): http(s), a host
# (an ASCII name, punycode for others, or an IPv4 address; a name may resolve to IPv6), an
# optional port, no user name or password, printable ASCII only. Whether it may be called is decided
# after resolving it (``resolve``).
URL_PATTERN = r"\Ahttps?://[A-Za-z0-9._~%!$&'()*+,;=-]+(?::" + _PORT + r")?(?:[/?#][!-~]*)?\Z"
URL_MESSAGE = ("Url must be an absolute http(s) URL without a user name or password, "
               "e.g. https://example.com/webhooks.")


def private_allowed() -> bool:
    return settings.WEBHOOK_ALLOW_PRIVATE_URLS


def validate(url: str) -> str:
    """The URL as it will be called, or ``UnsafeUrl`` saying what is wrong with it."""
    url = url or ""
    if not url:
        raise UnsafeUrl("Url is required.")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"Url must be at most {MAX_URL_LENGTH} characters.")
    if not re.match(URL_PATTERN, url):
        raise UnsafeUrl(URL_MESSAGE)
    parts = urlsplit(url)
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
