#!/usr/bin/env bash
# The scale-out benchmark (bench/scale.py): one app server on the primary against two
# through PgBouncer with a streaming replica, in one run. Arguments go to bench/scale.py.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_NODE=1 bash scripts/install.sh
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
exec .venv/bin/python bench/scale.py "$@"
