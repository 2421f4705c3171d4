#!/usr/bin/env bash
# Create .venv (if needed) and install the pinned requirements into it. Idempotent:
# skips pip when requirements.txt has not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
fi

# newman (the Postman collection runner) for the API test in the suite, from npm.
if [ "${SKIP_NODE:-0}" != "1" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ]; then
      echo "npm not found: installing Debian's nodejs and npm" >&2
      DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
    else
      echo "npm not found: install Node.js (for newman) or set SKIP_NODE=1" >&2
      exit 1
    fi
  fi
  node_stamp=node_modules/.package-lock.sha256
  node_want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -x node_modules/.bin/newman ] || [ "$(cat "$node_stamp" 2>/dev/null)" != "$node_want" ]; then
    npm ci --no-audit --no-fund --silent
    echo "$node_want" > "$node_stamp"
  fi
fi
