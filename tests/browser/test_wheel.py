"""The built wheel, installed into a fresh venv, serves the map offline and runs the CLI.

The wheel is built without build isolation from a copy of the source tree
(without ``static/``, ``.venv`` or build leftovers), installed into a new venv
that borrows only the third-party dependencies of the test environment (a
``.pth`` line: the install then resolves them offline, and nothing of the
checkout's ``terrmap`` is visible), and started with ``terrmap app`` from an
empty folder. Takes about half a minute.

Manual equivalent (downloads the dependencies)::

    python -m build --wheel && python -m venv /tmp/v && /tmp/v/bin/pip install dist/*.whl
    cd /tmp && /tmp/v/bin/terrmap demo out && /tmp/v/bin/terrmap app
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

import pytest

from terrmap.web.static_assets import ASSET_FILES, DEFAULT_ASSET_BASE, POINTS_BASE

from .conftest import ROOT, serve_app, wait_for_app

IFRAME = 'iframe[title="streamlit_folium.st_folium"]'
TOKEN_JS = "document.documentElement.getAttribute('data-terrmap-update')"
FIRST_VISIT_MS = 120_000
NOT_SHIPPED = (".git", ".venv", "build", "dist", "*.egg-info", "static", "test-artifacts")


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, command))}\n{done.stdout}\n{done.stderr}"
    return done


def _files(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """Build the wheel, install it into a fresh venv; return the paths involved."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(*NOT_SHIPPED, "__pycache__", ".*_cache")
    )
    _run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp / "dist"],
        cwd=source,
    )
    [wheel] = (tmp / "dist").glob("terrmap-*.whl")
    venv = tmp / "venv"
    _run([sys._base_executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        ).stdout.strip()
    )
    # Dependencies from the test environment (its own .pth files, the editable
    # terrmap's among them, are not read from a folder added this way).
    (site / "_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-index", wheel])
    _run([sys.executable, "-m", "pip", "--python", python, "check"])
    return {"tmp": tmp, "venv": venv, "python": python, "package": site / "terrmap"}


def test_the_wheel_carries_the_app_the_data_and_the_map_files(installed):
    files = _files(installed["package"])
    assert {"_app/app.py", "_app/pages/map_editor.py", "_app/pages/_state.py"} <= files
    assert {"_data/accounts.csv", "_data/reps.csv", "_data/territories.geojson"} <= files
    assert {"web/js/terrmap_glue.js", "web/js/terrmap_points.js"} <= files
    assert {f"web/assets/{rel}" for rel in ASSET_FILES.values()} <= files
    assert not any("node_modules" in f for f in files)


def test_the_installed_terrmap_is_the_wheels(installed):
    where = _run(
        [installed["python"], "-c", "import terrmap; print(terrmap.__file__)"],
        cwd=installed["tmp"],
    ).stdout.strip()
    assert Path(where) == installed["package"] / "__init__.py"


def test_terrmap_demo_writes_a_data_set(installed):
    out = installed["tmp"] / "demo-out"
    done = _run(
        [
            installed["venv"] / "bin" / "terrmap",
            "demo",
            out,
            "--accounts",
            "300",
            "--territories",
            "4",
        ],
        cwd=installed["tmp"],
    )
    assert {p.name for p in out.iterdir()} == {"accounts.csv", "reps.csv", "territories.geojson"}
    assert str(out / "accounts.csv") in done.stdout
    assert len((out / "accounts.csv").read_text().splitlines()) == 301


def test_terrmap_app_serves_the_map_offline(installed, page):
    tmp = installed["tmp"]
    workdir = tmp / "run"  # no .streamlit/, no repository
    workdir.mkdir()
    cache = tmp / "cache"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
        "TERRMAP_CACHE_DIR": str(cache),
        "TERRMAP_DB": str(tmp / "scenarios.sqlite"),
    }
    before = _files(installed["package"])
    with serve_app(
        env, launcher=[str(installed["venv"] / "bin" / "terrmap"), "app"], cwd=workdir
    ) as url:
        page.goto(url)
        # A first visit to a new server loads the data: slow on a busy machine.
        wait_for_app(page, timeout=FIRST_VISIT_MS)
        frame = page.wait_for_selector(IFRAME, timeout=FIRST_VISIT_MS).content_frame()
        frame.wait_for_function(TOKEN_JS, timeout=FIRST_VISIT_MS)
        assert frame.evaluate("() => !!(window.L && L.Draw && L.Control.Lasso)")
        assert frame.locator(".leaflet-container canvas").count() >= 1
        # The embedded demo data came from the package: 3,000 accounts.
        assert "3,000 accounts" in page.locator('[data-testid="stSidebar"]').inner_text()

        for rel in ASSET_FILES.values():
            with urllib.request.urlopen(f"{url}{DEFAULT_ASSET_BASE}/{rel}", timeout=10) as reply:
                assert reply.read() == (installed["package"] / "web" / "assets" / rel).read_bytes()
        [points] = (cache / "points").glob("points-*.bin")
        with urllib.request.urlopen(f"{url}{POINTS_BASE}/{points.name}", timeout=10) as reply:
            assert reply.read() == points.read_bytes()
    # Nothing was written into the installed package (it may be read-only).
    assert _files(installed["package"]) == before
