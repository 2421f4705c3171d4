#!/usr/bin/env bash
# Install everything and run the whole test suite against a real PostgreSQL.
# With DATABASE_URL unset, a throwaway PostgreSQL 15 is started for the run (and
# installed with apt-get first if its binaries are missing); with it set, that server
# is used. Extra arguments go to pytest, e.g.  scripts/test.sh -k transfer -x
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
if [ -n "${DATABASE_URL:-}" ]; then
  exec .venv/bin/python -m pytest "$@"
fi
exec .venv/bin/python scripts/pg_throwaway.py -- .venv/bin/python -m pytest "$@"
