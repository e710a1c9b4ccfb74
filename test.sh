#!/usr/bin/env bash
# Run the whole test suite: the fast set and the slow set (pytest -m slow). Extra arguments go to
# pytest, e.g. ./test.sh -x tests/unit. Uses DATABASE_URL / REDIS_URL when set (as CI does).
set -euo pipefail
cd "$(dirname "$0")"
source bin/bootstrap
source .venv/bin/activate
python -m pytest -m "slow or not slow" "$@"
