#!/usr/bin/env bash
# Run tests against the floor of a dependency: a throwaway venv that holds the
# floor version and borrows every other package from ./.venv.
#   scripts/test_min_versions.sh pandas==3.0.0 tests/test_loaders.py tests/test_columns.py
#   scripts/test_min_versions.sh streamlit==1.52.0 tests/test_pages_apptest.py
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 PACKAGE==VERSION TEST..." >&2; exit 2; }
pin=$1; shift
venv=$(mktemp -d -t terrmap-floor-XXXXXX)
trap 'rm -rf "$venv"' EXIT
base=$(.venv/bin/python -c 'import sys; print(sys._base_executable)')
"$base" -m venv --without-pip "$venv"
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))' > "$site/_borrowed.pth"
.venv/bin/python -m pip --python "$venv/bin/python" install -q "$pin"  # what the floor needs besides is installed here too
"$venv/bin/python" -c "import importlib.metadata as m; print('testing with', '$pin'.split('==')[0], m.version('$pin'.split('==')[0]))"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
