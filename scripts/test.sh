#!/usr/bin/env bash
# Install (first time) everything the tests need, lint, and run all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/ruff format --check terrmap tests benchmarks app.py pages
exec .venv/bin/python -m pytest "$@"
