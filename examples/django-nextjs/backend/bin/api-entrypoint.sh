#!/usr/bin/env bash
# Start the API: migrate, seed the demo data (idempotent), then serve.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
source bin/python.sh

# Under tandem serve the database comes from a snapshot made by the seed
# commands in x-tandem.seed (TANDEM_SEEDED=1); elsewhere, seed it here.
if [ "${TANDEM_SEEDED:-}" != "1" ]; then
  "$PY" manage.py migrate --noinput
  "$PY" manage.py seed_demo_data
fi

# Requests are logged by app.middleware.request_log (one line each, with
# host=...), so gunicorn's own access log stays off.
exec "$PY" -m gunicorn app.wsgi:application \
  --bind "${API_BIND:-0.0.0.0:8000}" \
  --workers "${WEB_CONCURRENCY:-2}" \
  --timeout 30 \
  --graceful-timeout 5 \
  --error-logfile -
