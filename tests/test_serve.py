"""The README's serve command serves everything: ``bash scripts/serve.sh`` on the embedded
SQLite default (no DATABASE_URL) runs the API and the webhook worker; a deposit made
through the API reaches a receiver, signed; SIGTERM stops both."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.live_server import ROOT, free_port, request
from tests.webhook_receiver import Receiver

PASSWORD = "correct-horse-battery-42"


def test_serve_sh_runs_the_api_and_the_webhook_worker_on_sqlite(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ENV")}
    env.update(BANKING_VAR_DIR=str(tmp_path / "var"), PORT=str(port), WEB_CONCURRENCY="2", GUNICORN_THREADS="2",
               WEBHOOK_POLL_SECONDS="0.1")
    serve = subprocess.Popen(["bash", "scripts/serve.sh"], cwd=ROOT, env=env, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    receiver = Receiver().start()
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if request(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert serve.poll() is None, serve.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "serve.sh did not start"
            time.sleep(0.2)
        assert request(port, "POST", "/users", {"username": "carol", "password": PASSWORD})[0] == 201
        token = request(port, "POST", "/auth/login", {"username": "carol", "password": PASSWORD})[1]["token"]
        account = request(port, "POST", "/accounts", {"bank_name": "B", "branch": "1"}, token)[1]
        status, hook = request(port, "POST", "/webhooks", {"url": f"{receiver.url}/in",
                                                           "event_types": ["transaction.created"]}, token)
        assert status == 201, hook
        receiver.secrets["/in"] = hook["secret"]
        assert request(port, "POST", "/transactions/deposit", {"account_id": account["id"], "amount": "12.34"},
                       token)[0] == 201
        receiver.wait_for(1, timeout=30)
        (delivered,) = receiver.received
        assert delivered.event["type"] == "transaction.created"
        assert delivered.event["data"]["amount"] == "12.34"
    finally:
        receiver.stop()
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGTERM)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            pytest.fail("serve.sh did not stop on SIGTERM")
    leftovers = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True).stdout
    assert not leftovers.strip(), "a server process outlived serve.sh"
