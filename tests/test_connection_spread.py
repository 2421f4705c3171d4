"""Connections that arrive together are spread over the server's workers.

A keep-alive connection stays with the worker that accepted it, and one worker is one
process, one core: when all of a client pool's connections land on one of three
workers, they are served at half the rate (banking.gunicorn_worker, "Accepting").
Against the real server, as scripts/serve.sh runs it on 2 cores (3 workers x 4 threads).
"""
from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.live_server import Gunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS, THREADS = 3, 4
CLIENTS = 16  # the bench's client pool
ROUNDS = 20


@pytest.fixture(scope="module")
def server(django_db_blocker) -> Iterator[Gunicorn]:
    with django_db_blocker.unblock():
        started = Gunicorn(workers=WORKERS, threads=THREADS, env={"REQUEST_LOG_LEVEL": "WARNING"}).start()
    try:
        _wait_until_every_worker_serves(started)
        yield started
    finally:
        started.stop()


def _wait_until_every_worker_serves(server: Gunicorn, timeout: float = 60) -> None:
    """gunicorn answers once its first worker has loaded the app; the others may still be
    loading it. Open connections one at a time until each worker has held one."""
    served: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(served) < WORKERS:
        assert time.monotonic() < deadline, f"only {len(served)} of {WORKERS} workers served"
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            _healthz_on(sock)
            served |= set(_connections_by_worker(server))
        time.sleep(0.05)


def _worker_pids(master: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            if int(fields[1]) == master:
                pids.append(int(name))
    return pids


def _connections_per_worker(server: Gunicorn) -> list[int]:
    """How many established connections to the server's port each worker holds, most first."""
    return sorted(_connections_by_worker(server).values(), reverse=True)


def _connections_by_worker(server: Gunicorn) -> Counter:
    """Established connections to the server's port by worker pid (from /proc/net/tcp and
    each worker's open files)."""
    established = set()
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == server.port and fields[3] == "01":  # TCP_ESTABLISHED
                established.add(fields[9])
    held = Counter()
    for pid in _worker_pids(server.process.pid):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in established:
                held[pid] += 1
    return held


def _healthz_on(sock: socket.socket) -> None:
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200")


def test_connections_opened_together_are_spread_over_the_workers(server):
    spreads = []
    for _ in range(ROUNDS):
        clients = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(CLIENTS)]
        try:
            for sock in clients:
                _healthz_on(sock)
            spreads.append(_connections_per_worker(server))
        finally:
            for sock in clients:
                sock.close()
    assert all(sum(spread) == CLIENTS for spread in spreads), spreads
    # A worker takes as many as it has threads, then leaves the next ones to the others.
    assert all(len(spread) == WORKERS and spread[0] <= 2 * THREADS for spread in spreads), spreads
