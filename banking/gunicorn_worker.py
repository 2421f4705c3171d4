"""A gunicorn worker that gives a request to a worker thread only once it has arrived whole.

gunicorn's gthread worker hands each connection to one of its threads, which reads the
request with blocking ``recv()``. A client that sends part of a request (headers and 12
of 100 announced body bytes, or half a header block) and then stops holds that thread
until it gives up: 4 workers x 4 threads = 16 such clients, and nobody else is answered.

:class:`BufferingThreadWorker` reads whatever a connection has sent without waiting,
keeps it in memory, and parks the connection on the worker's poller (where it costs no
thread) until the request is complete: the header block, then the body its
``Content-Length`` or chunked framing announces. Only then is the request handed to
gunicorn's own parser and the application, which then never wait for the client. A
request must arrive within ``REQUEST_READ_TIMEOUT`` seconds of its first byte, with no
pause longer than the keep-alive timeout; otherwise the client gets a JSON 408.

It also answers gunicorn's own errors (400, 414, 431, 501...) in the API's JSON format,
and closes connections without ever blocking the worker's event loop.

TLS connections are served exactly as gthread does (their bytes cannot be peeked at
before the handshake, which needs a thread): terminate TLS in front of this server.
"""
from __future__ import annotations

import json
import math
import os
import re
import selectors
import socket
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.http.errors import InvalidHeader, LimitRequestHeaders, LimitRequestLine, ParseException
from gunicorn.http.message import DEFAULT_MAX_HEADERFIELD_SIZE, MAX_HEADERS, MAX_REQUEST_LINE, Request
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import _DEFER, TConn, ThreadWorker

#: Default of ``REQUEST_READ_TIMEOUT``: a request's bytes must all arrive within this many
#: seconds of its first one. A JSON body is at most ``API_MAX_BODY_BYTES`` (64 KiB), which
#: even a slow mobile link sends in a few seconds.
DEFAULT_REQUEST_READ_TIMEOUT = 10.0

#: After its final answer, a connection is half-closed and what the client still sends is
#: read and discarded for up to this long (or this many bytes) before it is closed, as
#: gunicorn's ``util.close_graceful()`` does: closing a socket with unread bytes makes the
#: kernel send a reset, which can destroy the answer before the client has read it.
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 64 * 1024

#: After accepting as many connections as it has threads within this many seconds, a
#: worker leaves the next ones to the others for the rest of it (``set_accept_enabled``).
ACCEPT_BURST_WINDOW = 0.005

_RECV_SIZE = 64 * 1024
_HEX = re.compile(rb"[0-9A-Fa-f]+")


def request_read_timeout() -> float:
    """``REQUEST_READ_TIMEOUT`` from the environment, in seconds (fractions allowed)."""
    raw = os.environ.get("REQUEST_READ_TIMEOUT", "")
    if not raw:
        return DEFAULT_REQUEST_READ_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise ValueError(f"REQUEST_READ_TIMEOUT must be a positive number of seconds, not {raw!r}")
    return value


def json_error_response(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 answer ``{"error": message}`` that closes the connection."""
    body = json.dumps({"error": message}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for ``gunicorn.util.write_error``: the same answer, as the API's JSON."""
    if reason == "Bad Request" and status_int != 400:
        # gunicorn changes the status of some refusals (501 for an unknown transfer
        # coding, 500 for a configuration problem) but not their reason.
        reason = HTTPStatus(status_int).phrase
    util.write_nonblock(sock, json_error_response(status_int, reason, f"{reason}: {mesg}" if mesg else reason))


# gunicorn answers the requests it refuses itself (malformed request line or header, URI
# or headers too large, unsupported transfer coding, and a 500 when the application fails
# before answering) from Worker.handle_error(), which writes an HTML page through
# gunicorn.util.write_error(). It has no setting or hook for that page, and looks the
# function up on the module at each call, so replacing the module attribute is the one
# way to make these answers JSON like every other answer of the API. This module is
# imported by the gunicorn master when it loads the worker class, before it forks the
# workers, so every worker has the replacement.
util.write_error = write_json_error


@dataclass(frozen=True)
class Limits:
    """The sizes a request may have: gunicorn's header limits and the API's body limit."""

    request_line: int
    header_block: int
    body: int

    @classmethod
    def from_config(cls, cfg: Any, body: int) -> Limits:
        """gunicorn's limits normalised exactly as its parser does (``gunicorn.http.message``)."""
        line = cfg.limit_request_line
        if line < 0 or line >= MAX_REQUEST_LINE:
            line = MAX_REQUEST_LINE
        elif line == 0:
            line = 1024 * 1024  # "unlimited": gunicorn's fast parser uses this bound too
        fields = cfg.limit_request_fields
        if fields <= 0 or fields > MAX_HEADERS:
            fields = MAX_HEADERS
        field_size = cfg.limit_request_field_size
        if field_size <= 0:
            field_size = DEFAULT_MAX_HEADERFIELD_SIZE
        return cls(request_line=line, header_block=fields * (field_size + 2) + 4, body=body)

    @property
    def buffered(self) -> int:
        """Most bytes kept for one request: a full header block, and a chunked body whose
        framing may be three times its data (a body of known length needs only ``body``)."""
        return self.request_line + 2 + self.header_block + 4 * self.body


#: What :func:`inspect_request` found.
INCOMPLETE = "incomplete"  # wait for more bytes
COMPLETE = "complete"  # gunicorn can parse it, and refuse it if it must, without reading more
BODY_OVER_LIMIT = "body over limit"  # handed over at once: the API refuses it without reading it
REFUSED = "refused"  # a header block gunicorn would refuse, but only after reading more


@dataclass(frozen=True)
class Inspection:
    state: str
    #: The client sent "Expect: 100-continue" (HTTP/1.1) and waits for "100 Continue"
    #: before it sends the body.
    expect_continue: bool = False
    #: For REFUSED: what gunicorn's parser would raise.
    error: ParseException | None = None


def inspect_request(data: bytes, limits: Limits) -> Inspection:
    """Whether ``data``, the bytes received so far on a connection, hold a whole request.

    "Complete" must never be said of a request that gunicorn would then read more bytes
    for: that read would block a worker thread. So the framing is read the way gunicorn
    reads it, and anything gunicorn refuses as soon as it parses the head counts as
    complete (gunicorn then answers it).
    """
    start = 2 if data.startswith(b"\r\n") else 0  # one empty line may precede a request
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        return _unterminated_head(data, start, limits)
    request_line, *lines = data[start:end].split(b"\r\n")
    fields: dict[bytes, list[bytes]] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if colon:
            fields.setdefault(name.lower(), []).append(value.strip(b" \t"))
    expect_continue = (request_line.endswith(b" HTTP/1.1")
                       and any(v.lower() == b"100-continue" for v in fields.get(b"expect", ())))
    body = data[end + 4:]
    length, codings = fields.get(b"content-length"), fields.get(b"transfer-encoding")
    if codings is not None and length is None:
        last = [c.strip(b" \t").lower() for value in codings for c in value.split(b",")][-1]
        if last == b"chunked":
            return _chunked_body(body, limits, expect_continue)
    elif length is not None and codings is None and len(length) == 1 and length[0].isdigit():
        if int(length[0]) > limits.body:
            return Inspection(BODY_OVER_LIMIT)
        if len(body) < int(length[0]):
            return Inspection(INCOMPLETE, expect_continue)
    # No body, or framing gunicorn refuses as soon as it parses the head (a length and a
    # transfer coding together, two lengths, a length that is not a number, a transfer
    # coding that does not end with chunked).
    return Inspection(COMPLETE)


def _unterminated_head(data: bytes, start: int, limits: Limits) -> Inspection:
    if data.count(b"\n") != data.count(b"\r\n"):
        # Every line of a head ends with CRLF (RFC 9112 section 2.2): one that ends with a
        # bare LF never ends the way the head is looked for.
        return Inspection(REFUSED, error=InvalidHeader("bare LF as line terminator"))
    if data.find(b"\r\n", start) < 0 and len(data) - start > limits.request_line + 2:
        return Inspection(REFUSED, error=LimitRequestLine(len(data) - start, limits.request_line))
    if len(data) - start > limits.request_line + 2 + limits.header_block:
        return Inspection(REFUSED, error=LimitRequestHeaders("max buffer headers"))
    return Inspection(INCOMPLETE)


def _chunked_body(body: bytes, limits: Limits, expect_continue: bool) -> Inspection:
    """Walk the chunks received so far (RFC 9112 section 7.1) as gunicorn's ChunkedReader
    would, counting their data: complete at the last chunk and its trailer section."""
    position = received = 0
    while True:
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            return Inspection(INCOMPLETE, expect_continue)  # (an endless line meets Limits.buffered)
        digits = body[position:line_end].split(b";", 1)[0].rstrip(b" \t")
        if not _HEX.fullmatch(digits):
            return Inspection(COMPLETE)  # gunicorn refuses an invalid chunk size
        size, data_start = int(digits, 16), line_end + 2
        if size == 0:
            trailers = body[data_start:]
            if trailers.startswith(b"\r\n") or b"\r\n\r\n" in trailers:
                return Inspection(COMPLETE)
            return Inspection(INCOMPLETE, expect_continue)
        received += min(size, len(body) - data_start)
        if received > limits.body:
            # More than the API reads (it reads one byte past its limit, then answers
            # 413), and all of it in memory.
            return Inspection(BODY_OVER_LIMIT)
        position = data_start + size
        if len(body) < position + 2:
            return Inspection(INCOMPLETE, expect_continue)
        if body[position:position + 2] != b"\r\n":
            return Inspection(COMPLETE)  # gunicorn refuses a chunk without its CRLF
        position += 2


@dataclass
class PendingRequest:
    """What a connection has sent of its next request, kept until the request is whole."""

    data: bytearray = field(default_factory=bytearray)
    #: When its first byte arrived (time.monotonic()); None while nothing is buffered.
    started: float | None = None
    #: "100 Continue" already sent for this request.
    continue_sent: bool = False
    #: Handed over before its body arrived (BODY_OVER_LIMIT).
    body_unread: bool = False
    #: Bytes discarded while lingering after the final answer.
    drained: int = 0

    def add(self, chunk: bytes) -> None:
        if chunk and not self.data:
            self.started = time.monotonic()
        self.data += chunk


def _pending(conn: TConn) -> PendingRequest:
    # gthread creates its TConn objects itself (in accept()), so the state is attached
    # to them here rather than by a TConn subclass.
    pending = getattr(conn, "pending_request", None)
    if pending is None:
        pending = conn.pending_request = PendingRequest()
    return pending


def _send_now(sock: socket.socket, data: bytes) -> None:
    """Send a short answer on a non-blocking socket: it fits in an idle socket's send
    buffer; if it does not (a client that stopped reading), it is lost with the connection."""
    try:
        sock.send(data)
    except OSError:
        pass


def _seconds(value: float) -> str:
    return f"{value:g} second" + ("" if value == 1 else "s")


class BufferingThreadWorker(ThreadWorker):
    """gthread, except that a worker thread only ever gets a request that is complete in
    memory (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_timeout = request_read_timeout()
        self.limits: Limits | None = None  # set once the application, and so Django, is loaded
        # The earliest timeout among pending_conns (the deque is no longer sorted by it).
        self.next_pending_expiry = math.inf
        self.lingering: deque[TConn] = deque()
        self.in_flight = 0  # connections handed to the thread pool and not finished yet
        self.recent_accepts: deque[float] = deque()  # when, within ACCEPT_BURST_WINDOW

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        super().check_config(cfg, log)
        request_read_timeout()  # a bad value stops the server at start, not each worker

    def load_wsgi(self) -> None:
        super().load_wsgi()
        from django.conf import settings

        self.limits = Limits.from_config(self.cfg, body=settings.API_MAX_BODY_BYTES)

    # -- worker threads -------------------------------------------------------------------

    def handle(self, conn: TConn) -> object:
        """Runs in a worker thread, but never waits for the client: True to keep the
        connection alive, False to close it, ``_DEFER`` to park it until it is readable."""
        if self.cfg.is_ssl or negotiation.prior_knowledge_allowed(self.cfg, conn.client):
            return super().handle(conn)
        pending = _pending(conn)
        # Non-blocking, not MSG_DONTWAIT: on a socket with a timeout, Python waits for
        # readability before each recv() whatever its flags.
        conn.sock.setblocking(False)
        if conn.initialized:
            # Bytes gunicorn's parser read past the previous request (a pipelined request).
            pending.add(conn.parser.unreader.take_buffered())
        try:
            at_eof = self._receive(conn.sock, pending)
        except OSError:  # reset by the client
            return False
        if not pending.data:
            return False if at_eof else _DEFER
        inspection = inspect_request(bytes(pending.data), self.limits)
        if inspection.state == INCOMPLETE:
            return self._incomplete(conn, pending, inspection, at_eof)
        if inspection.state == REFUSED:
            self.handle_error(None, conn.sock, conn.client, inspection.error)
            return False
        pending.body_unread = inspection.state == BODY_OVER_LIMIT
        conn.init()
        conn.parser.unreader.unread(bytes(pending.data))
        pending.data.clear()
        pending.started = None
        return super().handle(conn)

    def _receive(self, sock: socket.socket, pending: PendingRequest) -> bool:
        """Add what has arrived to ``pending`` without waiting; True at end of stream."""
        while len(pending.data) < self.limits.buffered:
            try:
                chunk = sock.recv(_RECV_SIZE)
            except BlockingIOError:
                return False
            if not chunk:
                return True
            pending.add(chunk)
        return False

    def _incomplete(self, conn: TConn, pending: PendingRequest, inspection: Inspection, at_eof: bool) -> object:
        if at_eof:
            return False  # the client stopped sending: the request can never be complete
        if len(pending.data) >= self.limits.buffered:
            # Only a chunked body gets here: its framing outweighs its data so much that
            # it is still incomplete at four times the body limit.
            self.log.warning("Request body too large from ip=%s", conn.client[0])
            _send_now(conn.sock, json_error_response(
                413, HTTPStatus(413).phrase, f"Request body too large: at most {self.limits.body} bytes."))
            return False
        if time.monotonic() >= pending.started + self.read_timeout:
            self._answer_timeout(conn, pending)
            return False
        if inspection.expect_continue and not pending.continue_sent:
            _send_now(conn.sock, b"HTTP/1.1 100 Continue\r\n\r\n")
            pending.continue_sent = True
        return _DEFER

    def handle_request(self, req: Request, conn: TConn) -> bool:
        pending = getattr(conn, "pending_request", None)
        if pending is not None:
            if pending.continue_sent:
                # gunicorn would send its own "100 Continue" before calling the application.
                req._expected_100_continue = False
            if pending.body_unread:
                # Its body was not waited for: the connection cannot be reused (gunicorn
                # would otherwise read the rest of the body before the next request), and
                # an application that does read it (the admin, which keeps Django's own
                # body limit) gets it within the read timeout or a socket timeout error.
                req.force_close()
                conn.sock.settimeout(self.read_timeout)
            pending.continue_sent = pending.body_unread = False
        return super().handle_request(req, conn)

    # -- main thread ------------------------------------------------------------------------

    # Accepting. gthread accepts every connection it can (up to worker_connections), and
    # the workers race for each one: 16 clients connecting at once all landed on one of
    # three workers in 3 of 24 runs, which then served them at half the rate (one
    # process, one core: 745 against 1,450-1,630 balance reads/s when they were spread).
    # So a worker stops accepting while all its threads are busy, and for a moment after
    # it has accepted a thread's worth of connections (``ACCEPT_BURST_WINDOW``), so that
    # the other workers get the rest of a burst. A connection waits in the listen backlog
    # meanwhile, as it would have waited in the thread pool's queue. (Counting parked
    # connections as busy would let slow clients stop a worker accepting: not done.)

    def set_accept_enabled(self, enabled: bool) -> None:
        now = time.monotonic()
        while self.recent_accepts and self.recent_accepts[0] <= now - ACCEPT_BURST_WINDOW:
            self.recent_accepts.popleft()
        busy = self.in_flight >= self.cfg.threads or len(self.recent_accepts) >= self.cfg.threads
        super().set_accept_enabled(enabled and not busy)

    def accept(self, listener: socket.socket) -> None:
        accepted = self.nr_conns
        super().accept(listener)
        if self.nr_conns > accepted:
            self.recent_accepts.append(time.monotonic())
            self._update_accepting()

    def enqueue_req(self, conn: TConn) -> None:
        self.in_flight += 1
        super().enqueue_req(conn)
        self._update_accepting()

    def _update_accepting(self) -> None:
        self.set_accept_enabled(self.alive and self.nr_conns < self.worker_connections)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        if self.recent_accepts and not self._accepting:  # wake when the burst window has passed
            timeout = min(timeout, max(0.0, self.recent_accepts[0] + ACCEPT_BURST_WINDOW - time.monotonic()))
        super().wait_for_and_dispatch_events(timeout)

    def finish_request(self, conn: TConn, fs: Future) -> None:
        """Runs in the worker's main thread (its event loop) after ``handle()``."""
        self.in_flight -= 1
        try:
            self._finish_request(conn, fs)
        finally:
            self._update_accepting()

    def _finish_request(self, conn: TConn, fs: Future) -> None:
        if not self.cfg.is_ssl and (fs.cancelled() or (fs.exception() is None and not fs.result())):
            # gthread closes with util.close_graceful() here, which waits up to 2 s for the
            # client to close its side: in this thread, that stops the whole worker. Five
            # clients that keep their connection open after a "Connection: close" answer
            # stopped it for 10 s (measured).
            self._linger(conn)
            return
        super().finish_request(conn, fs)
        if self.pending_conns and self.pending_conns[-1] is conn:  # parked just now
            pending = getattr(conn, "pending_request", None)
            if pending is not None:
                conn.timeout = self._pending_timeout(pending)
            self.next_pending_expiry = min(self.next_pending_expiry, conn.timeout)

    def _pending_timeout(self, pending: PendingRequest) -> float:
        # With keep-alive off (0), an idle limit of 0 would close a new connection before
        # its first bytes arrive: the whole read timeout applies then.
        timeout = time.monotonic() + (self.cfg.keepalive or self.read_timeout)
        if pending.started is not None:
            timeout = min(timeout, pending.started + self.read_timeout)
        return timeout

    def murder_pending(self) -> None:
        """Close parked connections past their timeout: a partial request gets a 408, an
        idle connection that sent nothing is closed silently, as gthread does."""
        now = time.monotonic()
        self._end_lingering(now)
        if now < self.next_pending_expiry:
            return
        waiting: deque[TConn] = deque()
        self.next_pending_expiry = math.inf
        for conn in self.pending_conns:
            if conn.timeout > now:
                waiting.append(conn)
                self.next_pending_expiry = min(self.next_pending_expiry, conn.timeout)
                continue
            try:
                self.poller.unregister(conn.sock)
            except (OSError, KeyError, ValueError):
                pass  # already unregistered
            pending = getattr(conn, "pending_request", None)
            if pending is not None and pending.data:
                self._answer_timeout(conn, pending)
                self._linger(conn)
            else:
                self.nr_conns -= 1
                conn.close()
        self.pending_conns = waiting

    def _answer_timeout(self, conn: TConn, pending: PendingRequest) -> None:
        if time.monotonic() >= pending.started + self.read_timeout:
            why = f"the request did not arrive in full within {_seconds(self.read_timeout)}"
        else:
            why = f"nothing was received for {_seconds(self.cfg.keepalive)} before the request was complete"
        self.log.info("Request timed out from ip=%s: %s", conn.client[0], why)
        _send_now(conn.sock, json_error_response(408, HTTPStatus(408).phrase, f"Request timed out: {why}."))

    # -- closing without waiting --------------------------------------------------------

    def _linger(self, conn: TConn) -> None:
        """Close after the final answer, the way util.close_graceful() does (half-close,
        discard what the client still sends, then close), but on the poller."""
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:  # already closed (gunicorn does when an answer fails halfway)
            self._close(conn)
            return
        if self._drain(conn):
            self._close(conn)
            return
        conn.timeout = time.monotonic() + LINGER_SECONDS
        self.lingering.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_lingering_readable, conn))

    def _drain(self, conn: TConn) -> bool:
        """Discard what has arrived; True once the connection can be closed."""
        pending = _pending(conn)
        while pending.drained < LINGER_MAX_BYTES:
            try:
                chunk = conn.sock.recv(_RECV_SIZE)
            except BlockingIOError:
                return False
            except OSError:
                return True
            if not chunk:
                return True
            pending.drained += len(chunk)
        return True

    def _on_lingering_readable(self, conn: TConn, _sock: socket.socket) -> None:
        if self._drain(conn):
            self.poller.unregister(conn.sock)
            self.lingering.remove(conn)
            self._close(conn)

    def _end_lingering(self, now: float) -> None:
        # Sorted by timeout: every entry lingers the same time from when it was added.
        while self.lingering and self.lingering[0].timeout <= now:
            conn = self.lingering.popleft()
            self.poller.unregister(conn.sock)
            self._close(conn)

    def _close(self, conn: TConn) -> None:
        self.nr_conns -= 1
        conn.close()
