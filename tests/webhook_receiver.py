"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1 that verifies every
delivery's signature with the ``standardwebhooks`` library, as a user's receiver would,
and answers as the test tells it to (fail some attempts, be slow, redirect, be down)."""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    path: str
    webhook_id: str
    event: dict
    at: float


@dataclass
class Receiver:
    """``secrets``: path -> the endpoint's secret. ``answer(received, attempt)`` returns
    the HTTP status to answer (default 200); ``attempt`` counts this webhook-id's arrivals
    at this path, from 1."""

    port: int = 0
    secrets: dict[str, str] = field(default_factory=dict)
    answer: Callable[[Received, int], int] = lambda received, attempt: 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)  # verified, answered 2xx
    arrivals: list[Received] = field(default_factory=list)  # every verified arrival
    forged: list[str] = field(default_factory=list)  # arrivals whose signature did not verify

    def __post_init__(self):
        self._lock = threading.Lock()
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver._handle(self.path, dict(self.headers), body)
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", f"{receiver.url}/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handle(self, path: str, headers: dict, body: bytes) -> int:
        secret = self.secrets.get(path)
        try:
            if secret is None:
                raise WebhookVerificationError(f"no secret for {path}")
            event = Webhook(secret).verify(body, headers)
        except WebhookVerificationError as exc:
            with self._lock:
                self.forged.append(f"{path}: {exc}")
            return 400
        lowered = {k.lower(): v for k, v in headers.items()}
        received = Received(path, lowered["webhook-id"], event, time.monotonic())
        with self._lock:
            self.arrivals.append(received)
            self._attempts[path, received.webhook_id] += 1
            attempt = self._attempts[path, received.webhook_id]
        status = self.answer(received, attempt)
        if 200 <= status < 300:
            with self._lock:
                self.received.append(received)
        return status

    def ids(self, path: str | None = None) -> list[str]:
        with self._lock:
            return [r.webhook_id for r in self.received if path is None or r.path == path]

    def wait_for(self, count: int, *, timeout: float, path: str | None = None) -> None:
        """Until ``count`` distinct webhook-ids were received (2xx), or fail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(set(self.ids(path))) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"{len(set(self.ids(path)))} of {count} events arrived in {timeout} s")


def event_json(received: Received) -> str:
    return json.dumps(received.event, sort_keys=True)
