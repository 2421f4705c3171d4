#!/usr/bin/env bash
# Install everything and run the whole test suite against a real PostgreSQL.
# With DATABASE_URL unset, a throwaway PostgreSQL 15 and a PgBouncer are started for the
# run (installed with apt-get first if missing), and the ledger's tests run a second time
# through PgBouncer; with it set, that server is used, once. Extra arguments go to pytest
# (and skip the second pass), e.g.  scripts/test.sh -k transfer -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# Debian's headless Chromium and its driver, for the console's browser tests
# (tests/test_console_browser.py, Selenium from requirements.txt).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    echo "chromium or chromedriver not found: installing Debian's chromium and chromium-driver" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "chromium not found: install Debian's chromium and chromium-driver (as root)" >&2
    exit 1
  fi
fi
export REQUIRE_POSTGRES=1  # PostgreSQL-only tests must run here, not skip
if [ -z "${DATABASE_URL:-}" ]; then
  # A throwaway PostgreSQL with PgBouncer in front (PgBouncer installed with apt-get
  # first if missing), and this script again inside it.
  exec .venv/bin/python scripts/pg_throwaway.py --pgbouncer -- bash scripts/test.sh "$@"
fi
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ -n "${PGBOUNCER_URL:-}" ] && [ $# -eq 0 ]; then
  # The ledger, idempotency and concurrency tests again, every connection through
  # PgBouncer in transaction pooling mode, with fewer server connections than clients:
  # nothing may rest on session state. (--reuse-db: PgBouncer keeps server connections
  # to the test database open, so it is left for the throwaway cluster to take away.)
  echo "== again through PgBouncer (transaction pooling) at $PGBOUNCER_URL" >&2
  DATABASE_URL=$PGBOUNCER_URL DATABASE_POOLER=pgbouncer .venv/bin/python -m pytest --reuse-db -p no:cacheprovider \
    tests/test_pooling.py tests/test_prepared_statements.py tests/test_concurrency.py tests/test_idempotency.py tests/test_transactions.py \
    tests/test_double_entry.py tests/test_holds_concurrency.py tests/test_account_lifecycle_concurrency.py \
    tests/test_crash_safety.py tests/test_scale_out.py tests/test_webhook_delivery.py || status=$?
fi
exit $status
