"""A body sent with ``Transfer-Encoding: chunked`` (no Content-Length) is read like any
other, up to the body limit, through the real server."""
from __future__ import annotations

import http.client
import json
from decimal import Decimal

import pytest

from tests.factories import AccountFactory
from tests.live_server import Gunicorn
from transactions import services
from transactions.models import Transaction
from transactions.selectors import balance_get
from users.services import token_issue

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server():
    server = Gunicorn(workers=1, threads=2, env={"API_MAX_BODY_BYTES": "1024"}).start()
    yield server
    server.stop()


def _post_chunked(port: int, path: str, token: str, chunks: list[bytes]) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=iter(chunks), encode_chunked=True, headers={
            "Content-Type": "application/json", "Authorization": f"Token {token}", "Transfer-Encoding": "chunked",
        })
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_chunked_deposit_is_read_and_moves_the_money(server):
    account = AccountFactory()
    _, token = token_issue(user=account.user)
    body = json.dumps({"account_id": account.pk, "amount": "12.34", "note": "chunked"}).encode()
    status, answer = _post_chunked(server.port, "/transactions/deposit", token, [body[:10], body[10:25], body[25:]])
    assert status == 201, answer
    assert answer["new_balance"] == "12.34"
    assert balance_get(account_id=account.pk) == Decimal("12.34")


def test_chunked_body_over_the_limit_is_413_and_moves_nothing(server):
    account = AccountFactory()
    services.deposit_create(account_id=account.pk, amount=Decimal("5.00"), initiated_by=account.user, owner=account.user)
    _, token = token_issue(user=account.user)
    body = json.dumps({"account_id": account.pk, "amount": "1.00", "note": "x" * 2000}).encode()
    status, answer = _post_chunked(server.port, "/transactions/withdraw", token, [body[i:i + 500] for i in range(0, len(body), 500)])
    assert status == 413
    assert answer == {"error": "Request body too large: at most 1024 bytes."}
    assert Transaction.objects.filter(account=account).count() == 1
