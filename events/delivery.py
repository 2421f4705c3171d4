"""One HTTP POST of a webhook, with nothing the receiver can turn against the server:
the address it connects to is the one it just resolved and checked (no DNS rebinding
between the check and the connection), redirects are not followed, the whole exchange
has a deadline, and only a little of the answer is read."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

from banking.errors import UnsafeUrl
from events import addresses

ANSWER_BYTES_READ = 64 * 1024  # of a receiver's answer body; a longer one closes the connection
USER_AGENT = "BankingBackend-Webhooks/1.0"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None  # None: no HTTP answer (refused URL, connection error, timeout)
    error: str
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300 and not self.error


class Sender:
    """POSTs over kept-alive connections, one pool per (scheme, address, port, host).
    Thread-safe: the delivery worker's threads share one."""

    def __init__(self, *, timeout: float, connections: int):
        self.timeout = timeout
        self.connections = connections  # kept per receiver: as many as threads may use at once
        self._pools: dict[tuple, urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        started = time.monotonic()

        def outcome(status: int | None, error: str = "") -> Outcome:
            return Outcome(status, error[:255], int((time.monotonic() - started) * 1000))

        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            if parts.scheme != "https" and not addresses.private_allowed():
                raise UnsafeUrl("Url must use https.")
            address = addresses.resolve(host, port)[0]
        except UnsafeUrl as exc:
            return outcome(None, exc.message)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = port == (443 if parts.scheme == "https" else 80)
        headers = {**headers, "Host": host if default_port else f"{host}:{port}", "User-Agent": USER_AGENT}
        pool = self._pool(parts.scheme, address, port, host)
        try:
            response = pool.urlopen(
                "POST", path, body=body, headers=headers, redirect=False, retries=False,
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout), preload_content=False,
                assert_same_host=False,
            )
            try:
                answer = response.read(ANSWER_BYTES_READ + 1, decode_content=False)
            finally:
                if len(answer) > ANSWER_BYTES_READ:
                    response.close()  # do not read an endless answer to reuse the connection
                else:
                    response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            return outcome(None, _describe(exc))
        if time.monotonic() - started > self.timeout:
            return outcome(response.status, f"answered after more than {self.timeout:g} s")
        if 300 <= response.status < 400:
            return outcome(response.status, "redirects are not followed")
        return outcome(response.status, "" if 200 <= response.status < 300 else f"HTTP {response.status}")

    def _pool(self, scheme: str, address: str, port: int, host: str) -> urllib3.HTTPConnectionPool:
        key = (scheme, address, port, host)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                if scheme == "https":
                    # Connect to the checked address; verify the certificate for the host name.
                    pool = urllib3.HTTPSConnectionPool(address, port, maxsize=self.connections, block=False,
                                                       server_hostname=host, assert_hostname=host,
                                                       cert_reqs="CERT_REQUIRED")
                else:
                    pool = urllib3.HTTPConnectionPool(address, port, maxsize=self.connections, block=False)
                self._pools[key] = pool
            return pool

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()


def _describe(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason or exc)
    # urllib3 puts the pool's repr in its messages; the kind of failure is what matters.
    if isinstance(exc, urllib3.exceptions.TimeoutError) or "timed out" in text.lower():
        return "timed out"
    if isinstance(reason, urllib3.exceptions.NewConnectionError) or "refused" in text.lower():
        return "connection refused or unreachable"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return "TLS error: " + text[:200]
    return type(exc).__name__ + ": " + text[:200]
