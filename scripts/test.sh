#!/usr/bin/env bash
# Install (first time) everything the tests need, lint, and run all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/ruff format --check terrmap tests benchmarks app.py pages
# One worker per core (pytest-xdist); files stay whole on a worker so their
# module-scoped servers start once. Pass -n0 to run in one process.
if [ $# -gt 0 ]; then exec .venv/bin/python -m pytest -n auto --dist loadfile "$@"; fi
.venv/bin/python -m pytest -n auto --dist loadfile
# The same code at the dependency floors pyproject.toml declares (a test file per library).
exec scripts/test_min_versions.sh
