#!/usr/bin/env bash
# Installs what terrmap needs into ./.venv (the map's Leaflet files ship inside
# the package: no Node needed). Idempotent: a second run only checks.
#   scripts/setup.sh          app dependencies
#   scripts/setup.sh --test   plus test tools, Debian's Chromium and PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "terrmap setup: please install these packages with your system's package manager: $*" >&2
    return 1
  fi
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq && apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "terrmap setup: Python 3.11 or newer is needed as '$PYTHON' (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    apt_install python3-venv || { echo "terrmap setup: 'python3 -m venv' failed; install python3-venv" >&2; exit 1; }
    "$PYTHON" -m venv .venv
  fi
fi
# (An `if`, not `$([ ... ] && echo ...)`: under `set -e` a failing command
# substitution in an assignment ends the script.)
if [ $want_test = 1 ]; then stamp=".venv/.terrmap-installed-test"; else stamp=".venv/.terrmap-installed"; fi
# An install with the test extras has the app's dependencies too.
if [ $want_test = 0 ] && [ -f "$stamp-test" ] && [ ! pyproject.toml -nt "$stamp-test" ]; then
  stamp="$stamp-test"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  if [ $want_test = 1 ]; then .venv/bin/python -m pip install -q -e ".[test]"; else .venv/bin/python -m pip install -q -e .; fi
  touch "$stamp"
fi

if [ $want_test = 1 ] && [ ! -x /usr/bin/chromium ]; then
  # Browser tests drive Debian's Chromium; Playwright's own download is not used.
  apt_install chromium fonts-dejavu-core || {
    echo "terrmap setup: could not install Debian's chromium; browser tests need /usr/bin/chromium" >&2
    exit 1
  }
fi

if [ $want_test = 1 ] && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  # The store's tests run a real PostgreSQL server (tests/pgserver.py starts it).
  apt_install postgresql || {
    echo "terrmap setup: could not install Debian's postgresql; the store tests need it" >&2
    exit 1
  }
fi
