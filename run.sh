#!/usr/bin/env bash
# Set up ecomsite and run it on the bundled demo data: SQLite and an embedded Celery broker unless
# DATABASE_URL / REDIS_URL say otherwise. Ctrl-C stops the web server and the worker.
set -euo pipefail
cd "$(dirname "$0")"
source bin/bootstrap
source .venv/bin/activate
export PYTHONUNBUFFERED=1
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
mkdir -p var/log

echo "==> Preparing the database"
python manage.py migrate --noinput -v0
python manage.py collectstatic --noinput -v0

echo "==> Starting a Celery worker (log: var/log/worker.log)"
celery -A ecomsite worker --pool=solo --loglevel=INFO --without-gossip --without-mingle \
  >var/log/worker.log 2>&1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true; wait $WORKER 2>/dev/null || true' EXIT INT TERM

python manage.py setup_demo --url "http://$HOST:$PORT/" >var/log/setup.txt
cat var/log/setup.txt | grep -v '^    ' || true
echo "==> Queuing the pipeline: clean → features → predict → segment → train recommenders"
echo "    (skipped when nothing is new). The worker runs it in about 3 minutes on the demo data; watch"
echo "    it on http://$HOST:$PORT/pipeline/ — segments and recommendations appear when it is done."
python manage.py run_pipeline || echo "    (not started: see the message above)"
grep '^    ' var/log/setup.txt || true

echo "==> Serving on http://$HOST:$PORT/ (Ctrl-C to stop)"
python manage.py runserver "$HOST:$PORT" --noreload --nostatic --skip-checks
