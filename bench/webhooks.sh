#!/usr/bin/env bash
# Webhook delivery throughput on its own throwaway PostgreSQL (bench/run.sh measures it too).
# Arguments go to bench/webhooks.py (e.g. --events 2000).
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_NODE=1 bash scripts/install.sh
exec .venv/bin/python bench/webhooks.py "$@"
