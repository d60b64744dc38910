#!/usr/bin/env bash
# Run tests with every dependency at its floor (the lowest version pyproject.toml allows).
#   scripts/test_min_versions.sh                 # the floor suite (FLOOR_TESTS below)
#   scripts/test_min_versions.sh tests/test_plan.py -k undo
#
# 1. uv resolves pyproject.toml with --resolution lowest-direct; a floor that does not
#    resolve as written (e.g. streamlit>=1.52 when pandas>=3.0 needs streamlit 1.56) fails
#    here, naming the dependency: the declared floor would be a lie.
# 2. A throwaway venv gets exactly those versions plus the test tools; terrmap is installed
#    from this checkout without dependencies; pytest runs the given tests.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/uv ] || { echo "run scripts/setup.sh --test first (.venv/bin/uv is missing)" >&2; exit 2; }

# One test file per floored library at least: pandas/pyarrow/openpyxl (loaders, numbers,
# exports), numpy (plan), geopandas/shapely/pyogrio/h3 (units, shapes, boundaries), scipy
# (optimise), sqlalchemy/psycopg (store, on SQLite and a real PostgreSQL), argon2 (users),
# streamlit/folium/branca/altair (pages through AppTest).
FLOOR_TESTS=(
  tests/test_loaders.py tests/test_columns.py tests/test_numbers.py tests/test_csv_recovery.py
  tests/test_plan.py tests/test_units.py tests/test_shapes.py tests/test_boundaries.py
  tests/test_exports.py tests/test_optimise.py tests/test_scenarios.py tests/test_users.py
  tests/test_pages_apptest.py
)
[ $# -gt 0 ] || set -- "${FLOOR_TESTS[@]}"

work=$(mktemp -d -t terrmap-floor-XXXXXX)
trap 'rm -rf "$work"' EXIT
base=$(.venv/bin/python -c 'import sys; print(sys._base_executable)')
.venv/bin/uv pip compile -q --resolution lowest-direct --python "$base" pyproject.toml -o "$work/floors.txt"
.venv/bin/python - "$work/floors.txt" <<'PY'
import re
import sys
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

resolved = {}
for line in open(sys.argv[1]):
    match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
    if match:
        resolved[canonicalize_name(match[1])] = Version(match[2])
wrong = []
for text in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    requirement = Requirement(text)
    floors = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
    if not floors:
        wrong.append(f"{requirement.name}: no floor (>=) declared")
        continue
    got = resolved.get(canonicalize_name(requirement.name))
    if got != floors[0]:
        wrong.append(f"{requirement.name}: declared >={floors[0]}, the lowest that resolves is {got}")
if wrong:
    sys.exit("floors in pyproject.toml that do not resolve as written:\n  " + "\n  ".join(wrong))
print("floors resolve as declared:", ", ".join(f"{k}=={v}" for k, v in sorted(resolved.items())
      if k in {canonicalize_name(Requirement(t).name) for t in
               tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]}))
PY
.venv/bin/uv venv -q --python "$base" "$work/venv"
.venv/bin/uv pip install -q --python "$work/venv/bin/python" -r "$work/floors.txt" \
  "pytest>=8" "pytest-xdist>=3.6" "hypothesis>=6.100" "packaging>=24"
.venv/bin/uv pip install -q --python "$work/venv/bin/python" --no-deps .
exec "$work/venv/bin/python" -m pytest -q -p no:cacheprovider -n auto "$@"
