"""The README's commands: the scripts they run must work, not only the tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_app_setup_succeeds_on_an_installed_tree():
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.fail("needs the ./.venv that scripts/test.sh creates (run the tests through it)")
    # scripts/run.sh = this setup, then `streamlit run`: a setup that exits
    # early (as a `set -e` slip once made it, silently) leaves the app unstarted.
    done = subprocess.run(
        ["bash", "scripts/setup.sh"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("script", ["setup.sh", "run.sh", "test.sh", "test_min_versions.sh"])
def test_scripts_parse(script):
    done = subprocess.run(["bash", "-n", f"scripts/{script}"], cwd=ROOT, capture_output=True)
    assert done.returncode == 0, done.stderr


def test_setup_installs_no_node():
    # The map's Leaflet files ship inside the package (terrmap/web/assets).
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "npm" not in setup and "nodejs" not in setup
    assert not (ROOT / "static" / "package.json").exists()
