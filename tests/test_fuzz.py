"""Fuzzing with schemathesis: thousands of generated requests (valid and invalid) against
the real server (gunicorn) on PostgreSQL, authenticated as a staff user with an account.
No answer may be a 5xx, and every answer must match the OpenAPI schema: its status code
documented, its content type, headers and body as documented."""
import os
from decimal import Decimal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import AccountFactory, UserFactory
from tests.live_server import Gunicorn
from transactions import services
from users.services import token_issue

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance"


def test_fuzzed_requests_never_get_a_5xx_and_every_answer_matches_the_schema():
    staff = UserFactory(username="fuzzer", is_staff=True)
    account = AccountFactory(user=staff)
    services.deposit_create(account_id=account.pk, amount=Decimal("1000.00"), initiated_by=staff, owner=staff)
    _, token = token_issue(user=staff)
    server = Gunicorn(workers=2, env={"WRITE_THROTTLE_RATE": "off", "REQUEST_LOG_LEVEL": "WARNING"}).start()
    try:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "st"), "run", f"http://127.0.0.1:{server.port}/api/schema",
             "-H", f"Authorization: Token {token}", "--checks", CHECKS,
             "--max-examples", os.environ.get("FUZZ_EXAMPLES", "40"), "--seed", os.environ.get("FUZZ_SEED", "20261124"),
             # Logging out would revoke the token the rest of the run uses.
             "--exclude-path", "/auth/logout", "--exclude-path", "/auth/logout-all"],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout or " passed" in result.stdout, result.stdout[-3000:]
