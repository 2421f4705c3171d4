#!/usr/bin/env bash
# Install the project and the benchmark's dependencies (py-spy among them), then profile
# the server under load (bench/profile.py; e.g. `bash bench/profile.sh --ops transfer_keyed`).
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_NODE=1 bash scripts/install.sh
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
exec .venv/bin/python bench/profile.py "$@"
