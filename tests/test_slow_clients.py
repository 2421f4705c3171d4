"""Clients that stall or crawl mid-request must not take the server from anyone else, and
the server's own refusals answer JSON.

Against the real server as scripts/serve.sh runs it on 2 cores (its worker class, 3
workers x 4 threads, keep-alive 5 s), over raw sockets to 127.0.0.1. Every wait is
bounded. With gunicorn's stock gthread worker, 50 stalled connections hold all 12
threads and every test here fails.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from tests.factories import AccountFactory
from tests.live_server import Gunicorn, request
from transactions.selectors import balance_get
from users.services import token_issue

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS, THREADS = 3, 4  # scripts/serve.sh on 2 cores
STALLED = 50


@pytest.fixture(scope="module")
def _servers() -> Iterator[dict]:
    started: dict[tuple, Gunicorn] = {}
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
def serve(_servers, _postgres_required) -> Callable[..., Gunicorn]:
    """Returns a function that starts a server (once per module for the same settings)."""

    def start(env: dict | None = None, options: tuple[str, ...] = ()) -> Gunicorn:
        env = {"REQUEST_LOG_LEVEL": "WARNING", **(env or {})}
        key = (tuple(sorted(env.items())), options)
        if key not in _servers:
            _servers[key] = Gunicorn(workers=WORKERS, threads=THREADS, env=env, options=options).start()
        return _servers[key]

    return start


@dataclass
class Customer:
    account_id: int
    token: str


@pytest.fixture
def customer(fund) -> Customer:
    account = AccountFactory()
    fund(account, "100.00")
    return Customer(account.pk, token_issue(user=account.user)[1])


def head(method: str, path: str, token: str | None = None, **headers: str) -> bytes:
    """A request's header block; keyword arguments are more header fields (``_`` for ``-``)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost"]
    if token:
        lines.append(f"Authorization: Token {token}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def deposit_body(customer: Customer, amount: str) -> bytes:
    return json.dumps({"account_id": customer.account_id, "amount": amount}).encode()


def stalled_body(customer: Customer) -> bytes:
    """An authenticated deposit that announces 100 bytes of body and sends 12."""
    return head("POST", "/transactions/deposit", customer.token, Content_Type="application/json",
                Content_Length="100") + b'{"account_id'


def stalled_head(customer: Customer) -> bytes:
    """An authenticated balance read whose header block stops in the middle of a field."""
    return head("GET", f"/accounts/{customer.account_id}/balance", customer.token)[:-2] + b"X-Slow: "


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


@contextlib.contextmanager
def stalled_clients(port: int, data: bytes) -> Iterator[list[socket.socket]]:
    """STALLED connections that send ``data`` and then nothing, open for the block."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(STALLED):
            sockets.append(connect(port))
            sockets[-1].sendall(data)
        time.sleep(0.3)  # every worker has taken its share in
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def unanswered(sock: socket.socket) -> bool:
    """Still open, and nothing received (the server is still waiting for the request)."""
    return not select.select([sock], [], [], 0)[0]


class Responses:
    """Reads HTTP/1.1 answers off a socket one at a time (1xx included), each within a
    deadline. Every answer here has a Content-Length."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    def next(self, timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buffer:
            self._receive(deadline)
        raw_head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = raw_head.decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._receive(deadline)
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def closed(self, timeout: float) -> bool:
        """The server closed the connection within ``timeout`` and sent nothing more."""
        try:
            self._receive(time.monotonic() + timeout)
        except ConnectionError:
            return not self.buffer
        except TimeoutError:
            return False
        return False

    def _receive(self, deadline: float) -> None:
        self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = self.sock.recv(65536)  # socket.timeout (a TimeoutError) past the deadline
        if not chunk:
            raise ConnectionError(f"closed by the server; received {self.buffer[:300]!r}")
        self.buffer += chunk


@dataclass
class Latencies:
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]


def measure(port: int, customer: Customer, seconds: float = 3, clients: int = 2) -> Latencies:
    """Other clients: /healthz and a balance read, each on a new connection, for ``seconds``."""
    result = Latencies()
    stop = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < stop:
            for path, token in (("/healthz", None), (f"/accounts/{customer.account_id}/balance", customer.token)):
                started = time.perf_counter()
                try:
                    status, _ = request(port, "GET", path, token=token, timeout=2)
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    result.failures.append(f"{path}: {exc!r}")
                    continue
                if status != 200:
                    result.failures.append(f"{path}: {status}")
                result.seconds.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 10)
    return result


def assert_json_error(status: int, headers: dict[str, str], body: bytes, expected_status: int) -> str:
    assert status == expected_status, body
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    answer = json.loads(body)
    assert list(answer) == ["error"], answer
    return answer["error"]


@pytest.mark.parametrize("stall", [stalled_body, stalled_head], ids=["body", "head"])
def test_stalled_clients_do_not_slow_other_clients(serve, customer, stall):
    server = serve()
    baseline = measure(server.port, customer)
    with stalled_clients(server.port, stall(customer)) as stalled:
        attacked = measure(server.port, customer)
        assert all(unanswered(sock) for sock in stalled)  # still waiting: none was turned away
    assert not baseline.failures and not attacked.failures, attacked.failures[:5]
    assert attacked.percentile(0.95) < 0.1, (baseline.percentile(0.95), attacked.percentile(0.95))
    # As many answers as without the stalled connections (same clients, same time).
    assert len(attacked.seconds) > len(baseline.seconds) / 2, (len(baseline.seconds), len(attacked.seconds))


def test_a_request_that_does_not_arrive_within_the_read_timeout_gets_a_json_408(serve, customer):
    server = serve(env={"REQUEST_READ_TIMEOUT": "1.5"})
    expected = "Request timed out: the request did not arrive in full within 1.5 seconds."

    # A body that stops: the connection waits on the poller until its deadline.
    with connect(server.port) as sock:
        started = time.monotonic()
        sock.sendall(stalled_body(customer))
        answers = Responses(sock)
        assert assert_json_error(*answers.next(timeout=6), 408) == expected
        assert 1.4 < time.monotonic() - started < 4.5  # the worker checks deadlines every second
        assert answers.closed(timeout=3)

    # A header block that trickles in, a byte every 0.2 s: never idle, still bounded.
    with connect(server.port) as sock:
        started = time.monotonic()
        sock.sendall(stalled_head(customer))
        while time.monotonic() - started < 6 and unanswered(sock):
            try:
                sock.sendall(b"a")
            except OSError:  # closed by the server
                break
            select.select([sock], [], [], 0.2)
        assert assert_json_error(*Responses(sock).next(timeout=2), 408) == expected
        assert 1.4 < time.monotonic() - started < 4.5
    assert balance_get(account_id=customer.account_id) == Decimal("100.00")


def test_an_idle_partial_request_gets_a_408_and_an_idle_kept_alive_connection_is_closed_silently(serve, customer):
    server = serve(options=("--keep-alive", "1"))

    with connect(server.port) as sock:
        sock.sendall(stalled_body(customer))
        started = time.monotonic()
        assert assert_json_error(*Responses(sock).next(timeout=5), 408) == (
            "Request timed out: nothing was received for 1 second before the request was complete.")
        assert 0.9 < time.monotonic() - started < 4

    with connect(server.port) as sock:
        answers = Responses(sock)
        sock.sendall(head("GET", "/healthz"))
        status, headers, _ = answers.next()
        assert (status, headers["connection"]) == (200, "keep-alive")
        assert answers.closed(timeout=4)


def test_slow_but_complete_deposits_succeed_while_others_stall(serve, customer):
    server = serve()
    body = deposit_body(customer, "25.00")
    third = len(body) // 3

    def slow_deposit() -> tuple[int, bytes]:
        with connect(server.port) as sock:
            sock.sendall(head("POST", "/transactions/deposit", customer.token, Content_Type="application/json",
                              Content_Length=str(len(body))))
            for piece in (body[:third], body[third:2 * third], body[2 * third:]):
                time.sleep(0.2)
                sock.sendall(piece)
            status, _, answer = Responses(sock).next()
            return status, answer

    # More at once than the server has threads: each holds none while it crawls.
    with stalled_clients(server.port, stalled_body(customer)), ThreadPoolExecutor(20) as pool:
        answers = [future.result() for future in [pool.submit(slow_deposit) for _ in range(20)]]
    assert [status for status, _ in answers] == [201] * 20, answers
    assert balance_get(account_id=customer.account_id) == Decimal("600.00")


@pytest.mark.parametrize("raw, expected_status, expected_error", [
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414, "URI Too Long: "),
    (b"GET /" + b"a" * 9000, 414, "URI Too Long: "),  # no end of line yet, already too long
    (head("GET", "/healthz", X_Big="a" * 10000), 431, "Request Header Fields Too Large: "),
    # A header block that never ends: refused once it is larger than gunicorn allows.
    (b"GET /healthz HTTP/1.1\r\n" + (b"X-Pad: " + b"a" * 8000 + b"\r\n") * 110, 431,
     "Request Header Fields Too Large: "),
    (head("GET", "/healthz", Transfer_Encoding="foo"), 501, "Not Implemented: "),
    (b"GET /healthz HTTP/1.1\nHost: localhost\n\n", 400, "Bad Request: "),
], ids=["long-request-line", "long-unterminated-request-line", "large-header", "endless-header-block",
        "unknown-transfer-coding", "bare-LF"])
def test_requests_gunicorn_refuses_are_answered_in_json(serve, raw, expected_status, expected_error):
    server = serve()
    with connect(server.port) as sock:
        sock.sendall(raw)
        assert assert_json_error(*Responses(sock).next(), expected_status).startswith(expected_error)


def test_keep_alive_pipelining_and_expect_continue_work_while_others_stall(serve, customer):
    server = serve()
    body = deposit_body(customer, "5.00")
    deposit = head("POST", "/transactions/deposit", customer.token, Content_Type="application/json",
                   Content_Length=str(len(body)))
    balance = head("GET", f"/accounts/{customer.account_id}/balance", customer.token)

    def session() -> None:
        with connect(server.port) as sock:
            answers = Responses(sock)
            for _ in range(3):
                sock.sendall(head("GET", "/healthz"))
                status, headers, _ = answers.next()
                assert (status, headers["connection"]) == (200, "keep-alive")

            # Two requests in one write: answered in order.
            sock.sendall(balance + deposit + body)
            assert [answers.next()[0] for _ in range(2)] == [200, 201]

            # The header block first, the body once the server says to go on; one "100 Continue".
            sock.sendall(deposit.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"))
            assert answers.next()[0] == 100
            sock.sendall(body)
            assert answers.next()[0] == 201

            sock.sendall(balance)
            assert answers.next()[0] == 200

    with stalled_clients(server.port, stalled_head(customer)), ThreadPoolExecutor(6) as pool:
        for future in [pool.submit(session) for _ in range(6)]:
            future.result()
    assert balance_get(account_id=customer.account_id) == Decimal("160.00")
