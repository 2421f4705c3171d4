"""Fuzzing with schemathesis: thousands of generated requests (valid and invalid) against
the real server (gunicorn) on PostgreSQL, authenticated as a staff user with a funded
account, with every check schemathesis has (tests/fuzz/schemathesis.toml): no 5xx;
every answer's status, content type, headers and body as documented; schema-valid
requests accepted and schema-violating ones refused; authentication enforced. The hooks
in tests/fuzz/hooks.py point generated money movements at the fuzzer's own accounts, so
that the write path is fuzzed with successes, not only with refusals."""
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from events.services import endpoint_create
from banking.roles import TELLER
from tests.factories import AccountFactory, staff_member
from tests.live_server import Gunicorn
from banking.money import MAX_AMOUNT
from transactions.bulk import deposits_append
from transactions.models import Transaction
from users.services import token_issue

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent
# More than a run can spend: a few hundred withdrawals and transfers of at most
# 1,000,000,000.00 each (the coverage phase favours the maximum).
FUZZ_FUNDS = Decimal("1000000000000.00")


@pytest.fixture(scope="module")
def fuzz_run(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        staff = staff_member(TELLER, username="fuzzer")  # may post reversals; freezing answers 403
        account = AccountFactory(user=staff)
        payee = AccountFactory()
        _fund(account, staff)
        webhook = endpoint_create(user=staff, url="http://127.0.0.1:9/fuzz").endpoint
        _, token = token_issue(user=staff)
        server = Gunicorn(workers=2, env={"WRITE_THROTTLE_RATE": "off", "REQUEST_LOG_LEVEL": "WARNING"}).start()
        try:
            result = subprocess.run(
                [str(Path(sys.executable).parent / "st"), "--config-file", "tests/fuzz/schemathesis.toml", "run",
                 f"http://127.0.0.1:{server.port}/api/schema", "-H", f"Authorization: Token {token}",
                 "--checks", "all", "--max-examples", os.environ.get("FUZZ_EXAMPLES", "40"),
                 "--seed", os.environ.get("FUZZ_SEED", "20261124"),
                 # Logging out would revoke the token the rest of the run uses.
                 "--exclude-path", "/auth/logout", "--exclude-path", "/auth/logout-all"],
                cwd=ROOT, capture_output=True, text=True, timeout=900,
                env={**os.environ, "PYTHONPATH": str(ROOT), "FUZZ_ACCOUNT_ID": str(account.pk),
                     "FUZZ_PAYEE_ACCOUNT_ID": str(payee.pk), "FUZZ_WEBHOOK_ID": str(webhook.pk)},
            )
        finally:
            server.stop()
        movements = {
            kind: Transaction.objects.filter(account=account, transaction_type=kind, status="SUCCESS").count()
            for kind in ("DEPOSIT", "WITHDRAWAL", "TRANSFER")
        }
    return result, movements


def _fund(account, staff) -> None:
    # Deposits are capped at 1,000,000,000.00 each; the balance column holds far more.
    deposits_append(account_id=account.pk, count=int(FUZZ_FUNDS / MAX_AMOUNT), amount=MAX_AMOUNT)


def test_fuzzed_requests_pass_every_check(fuzz_run):
    result, _ = fuzz_run
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout or " passed" in result.stdout, result.stdout[-3000:]


@pytest.mark.parametrize("kind", ["DEPOSIT", "WITHDRAWAL", "TRANSFER"])
def test_fuzzing_produced_successful_money_movements(fuzz_run, kind):
    _, movements = fuzz_run
    assert movements[kind] > (1000 if kind == "DEPOSIT" else 0), movements
