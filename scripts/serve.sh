#!/usr/bin/env bash
# Install and serve the API with gunicorn on http://127.0.0.1:8000 (HOST/PORT to change).
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
# Threaded workers keep client connections alive (sync workers close each one); the
# benchmark measured 2 x cores workers (WEB_CONCURRENCY) x 4 threads as the best on 2
# cores (README). The worker class is gunicorn's gthread, except that a thread only gets
# a request once it has arrived whole: clients that stall mid-request cost no thread
# (banking/gunicorn_worker.py; REQUEST_READ_TIMEOUT bounds how long a request may take to
# arrive, --keep-alive how long a connection may stay silent).
# No access log: the application writes one JSON line per request (README, "Health and logs").
WORKERS=${WEB_CONCURRENCY:-$(( $(nproc) * 2 ))}
THREADS=${GUNICORN_THREADS:-4}
echo "Serving on http://$HOST:$PORT (workers: $WORKERS x $THREADS threads)"
exec .venv/bin/gunicorn banking.wsgi:application \
  --bind "$HOST:$PORT" --workers "$WORKERS" \
  --worker-class banking.gunicorn_worker.BufferingThreadWorker --threads "$THREADS" \
  --keep-alive 5 --graceful-timeout 10 "$@"
