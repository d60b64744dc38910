#!/usr/bin/env bash
# Install (first time) and start the terrmap app on the embedded demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/terrmap app --server.headless true "$@"
