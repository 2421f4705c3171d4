import json
import logging

import pytest

pytestmark = pytest.mark.django_db


def request_lines(caplog):
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "banking.requests"]


def test_each_request_logs_one_json_line_with_user_and_timing(alice, user, account, caplog):
    caplog.set_level(logging.INFO, logger="banking.requests")
    response = alice.get(f"/accounts/{account.pk}/balance", HTTP_X_REQUEST_ID="support-ticket-42")
    (line,) = request_lines(caplog)
    assert line["method"] == "GET" and line["path"] == f"/accounts/{account.pk}/balance"
    assert line["status"] == 200 and line["user_id"] == user.pk
    assert line["request_id"] == "support-ticket-42" == response["X-Request-ID"]
    assert line["duration_ms"] >= 0


def test_a_request_id_is_generated_when_missing_or_unsafe(api, caplog):
    caplog.set_level(logging.INFO, logger="banking.requests")
    first = api.get("/healthz")
    second = api.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert len(first["X-Request-ID"]) == 32
    assert second["X-Request-ID"] != "bad id\nwith newline" and len(second["X-Request-ID"]) == 32
    assert [line["user_id"] for line in request_lines(caplog)] == [None, None]


def test_a_path_with_quotes_newlines_and_non_ascii_is_still_one_json_line(api, caplog):
    caplog.set_level(logging.INFO, logger="banking.requests")
    path = '/no"such\\path\n%E2%82%AC'
    api.get(path.replace("\n", "%0A"))
    (record,) = [r for r in caplog.records if r.name == "banking.requests"]
    assert "\n" not in record.getMessage()
    line = json.loads(record.getMessage())
    assert line["path"] == '/no"such\\path\n€' and line["status"] == 404
