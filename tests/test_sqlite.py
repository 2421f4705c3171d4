"""The embedded SQLite default must stay correct under concurrent writers too: writers
are serialized by BEGIN IMMEDIATE (select_for_update is a no-op there)."""
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_sqlite_default_never_overdraws_or_loses_money_under_threads(tmp_path):
    env = {**os.environ, "BANKING_VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "tests.sqlite_race_worker"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (tmp_path / "db.sqlite3").exists()
    outcomes = summary["outcomes"]
    assert len(outcomes) == 720
    assert {status for _, status in outcomes} <= {201, 400}, outcomes
    withdrawals = sum(1 for kind, status in outcomes if kind == "withdraw" and status == 201)
    balances = [Decimal(b) for b in summary["balances"]]
    assert min(balances) >= 0
    assert sum(balances) == Decimal("400.00") - Decimal("7.00") * withdrawals
    assert summary["audit_ok"], summary["problems"]
