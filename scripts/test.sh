#!/usr/bin/env bash
# Install everything and run the whole test suite against a real PostgreSQL.
# With DATABASE_URL unset, a throwaway PostgreSQL 15 is started for the run (and
# installed with apt-get first if its binaries are missing); with it set, that server
# is used. Extra arguments go to pytest, e.g.  scripts/test.sh -k transfer -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export REQUIRE_POSTGRES=1  # PostgreSQL-only tests must run here, not skip
if [ -n "${DATABASE_URL:-}" ]; then
  exec .venv/bin/python -m pytest "$@"
fi
exec .venv/bin/python scripts/pg_throwaway.py -- .venv/bin/python -m pytest "$@"
