"""Start the real server (gunicorn) against the test database, for tests that need a real
process: crash safety, multi-process behaviour, slow clients."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
WORKER_CLASS = "banking.gunicorn_worker.BufferingThreadWorker"  # as scripts/serve.sh runs it


def database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(self, port: int | None = None, workers: int = 2, env: dict | None = None, *,
                 threads: int = 1, database: str | None = None, options: Sequence[str] = ()):
        self.port = port or free_port()
        self.workers = workers
        self.threads = threads
        self.database = database  # default: the test database
        self.extra_env = env or {}
        self.options = list(options)  # more gunicorn command-line options; they win over the defaults
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "Gunicorn":
        env = {**os.environ, "DATABASE_URL": self.database or database_url(),
               "DJANGO_SETTINGS_MODULE": "banking.settings.test", **self.extra_env}
        command = [sys.executable, "-m", "gunicorn", "banking.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
                   "--workers", str(self.workers), "--worker-class", WORKER_CLASS, "--threads", str(self.threads),
                   "--keep-alive", "5", "--log-level", "warning", "--no-control-socket", *self.options]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if request(self.port, "GET", "/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            time.sleep(0.1)
        self.kill()  # not left running (and holding database connections) for the next test
        raise RuntimeError("gunicorn did not become ready")

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: no graceful anything."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def request(port: int, method: str, path: str, body: dict | None = None, token: str | None = None,
            timeout: float = 10, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            headers["Authorization"] = f"Token {token}"
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


class DeliveryWorker:
    """The real webhook delivery worker (``manage.py deliver_webhooks``) against the test
    database, with a retry schedule of seconds instead of hours."""

    def __init__(self, env: dict | None = None, threads: int = 4):
        self.extra_env = env or {}
        self.threads = threads
        self.process: subprocess.Popen | None = None

    def start(self) -> "DeliveryWorker":
        env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "banking.settings.test",
               "WEBHOOK_RETRY_SCHEDULE": "1,1,1,2,2,2,3,3,3", "WEBHOOK_CLAIM_SECONDS": "4",
               "WEBHOOK_TIMEOUT_SECONDS": "2", "WEBHOOK_POLL_SECONDS": "0.05", "WEBHOOK_ALLOW_PRIVATE_URLS": "1",
               "LOG_LEVEL": "WARNING", **self.extra_env}
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "deliver_webhooks", "--threads", str(self.threads)],
            cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
        )
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
