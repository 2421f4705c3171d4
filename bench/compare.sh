#!/usr/bin/env bash
# Install the project and the benchmark's dependencies, then compare this tree with an
# earlier commit in one run (bench/compare.py; e.g. `bash bench/compare.sh HEAD~1`).
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_NODE=1 bash scripts/install.sh
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
exec .venv/bin/python bench/compare.py "$@"
