"""The Postman collection in postman/ (the README's whole flow, with assertions) runs
green with newman against the real server (gunicorn) on PostgreSQL."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.live_server import Gunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent
NEWMAN = ROOT / "node_modules" / ".bin" / "newman"


def test_postman_collection_passes_with_newman_against_the_real_server():
    assert NEWMAN.exists(), "newman missing: run bash scripts/install.sh (it runs npm ci)"
    assert shutil.which("node"), "node missing"
    server = Gunicorn(workers=2).start()
    try:
        result = subprocess.run(
            [str(NEWMAN), "run", "postman/banking.postman_collection.json",
             "-e", "postman/banking.postman_environment.json",
             "--env-var", f"baseUrl=http://127.0.0.1:{server.port}", "--color", "off", "--bail"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    executed, failed = map(int, re.search(r"assertions\s*│\s*(\d+)\s*│\s*(\d+)", result.stdout).groups())
    assert (executed, failed) == (46, 0), result.stdout[-4000:]
