#!/usr/bin/env bash
# Installs everything, makes sure PostgreSQL and Redis answer, and runs the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services.sh
exec .venv/bin/python -m pytest "$@"
