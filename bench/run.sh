#!/usr/bin/env bash
# Install the project and the benchmark's own dependencies, then run the benchmark.
# Arguments go to bench/run.py (e.g. --duration 5 --workers 5).
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_NODE=1 bash scripts/install.sh
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
exec .venv/bin/python bench/run.py "$@"
