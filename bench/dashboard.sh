#!/usr/bin/env bash
# The staff console at a long ledger (dashboard and account page, served by gunicorn) on
# its own throwaway PostgreSQL. Arguments go to bench/dashboard.py (e.g. --rows 100000).
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_NODE=1 bash scripts/install.sh
exec .venv/bin/python bench/dashboard.py "$@"
