#!/usr/bin/env bash
# Install and serve everything: the API (gunicorn, on http://127.0.0.1:8000; HOST/PORT to
# change) and the webhook delivery worker, both from the Procfile, run by honcho (if either
# stops, both stop). Extra arguments go to gunicorn.
# Uses DATABASE_URL when set, otherwise the embedded SQLite file var/db.sqlite3.
# If DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD (and optionally
# DJANGO_SUPERUSER_EMAIL) are set, that admin user is created when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_NODE=1 bash scripts/install.sh  # newman is only needed by the tests
PY=.venv/bin/python
$PY manage.py migrate --noinput
$PY manage.py collectstatic --noinput -v0
if [ -n "${DJANGO_SUPERUSER_USERNAME:-}" ] && [ -n "${DJANGO_SUPERUSER_PASSWORD:-}" ]; then
  $PY manage.py ensure_superuser
fi
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
# Threaded workers keep client connections alive (sync workers close each one). Workers
# (WEB_CONCURRENCY): one per core and one more, for the time a worker waits on the
# database; with PostgreSQL on the same 2 cores that beat 2 per core by 2-16% on every
# endpoint (README, Benchmarks), as more processes only contend for the cores. The
# worker class is gunicorn's gthread, except that a thread only gets a request once it
# has arrived whole: clients that stall mid-request cost no thread
# (banking/gunicorn_worker.py; REQUEST_READ_TIMEOUT bounds how long a request may take to
# arrive, --keep-alive how long a connection may stay silent).
# No access log: the application writes one JSON line per request (README, "Health and logs").
export HOST PORT
export WORKERS=${WEB_CONCURRENCY:-$(( $(nproc) + 1 ))}
export THREADS=${GUNICORN_THREADS:-4}
export GUNICORN_ARGS="${*:-}"
echo "Serving on http://$HOST:$PORT (workers: $WORKERS x $THREADS threads) and delivering webhooks"
# honcho gives each process a PORT of its own; the web process gets the first: ours.
exec .venv/bin/honcho --no-colour -f Procfile -d . start -p "$PORT"
