"""The wheel is the product: what it lists, declares and starts.

The end-to-end check (build the wheel, install it into a fresh venv, serve the
map, run ``terrmap demo``) is ``tests/browser/test_wheel.py``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from terrmap import cli, demo

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCAL = {"terrmap", "pages", "app"}


def _requirements(group: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, group)}


DEPENDENCIES = _requirements(PYPROJECT["project"]["dependencies"])


def _imported_modules(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file, nested ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _app_sources() -> list[Path]:
    return [
        ROOT / "app.py",
        *sorted((ROOT / "pages").glob("*.py")),
        *(ROOT / "terrmap").rglob("*.py"),
    ]


class TestPackageList:
    def test_every_package_on_disk_is_in_the_wheel(self):
        on_disk = {
            ".".join(init.parent.relative_to(ROOT).parts)
            for init in (ROOT / "terrmap").rglob("__init__.py")
        }
        listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
        mapped = set(PYPROJECT["tool"]["setuptools"]["package-dir"])
        assert on_disk | mapped == listed

    def test_the_app_and_the_demo_data_are_mapped_into_the_package(self):
        assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {
            "terrmap._app": ".",
            "terrmap._app.pages": "pages",
            "terrmap._data": "data",
        }
        data_globs = PYPROJECT["tool"]["setuptools"]["package-data"]["terrmap._data"]
        shipped = {p.name for glob in data_globs for p in (ROOT / "data").glob(glob)}
        assert shipped == {p.name for p in (ROOT / "data").iterdir()}

    def test_map_scripts_and_assets_are_package_data(self):
        globs = PYPROJECT["tool"]["setuptools"]["package-data"]["terrmap.web"]
        web = ROOT / "terrmap" / "web"
        shipped = {p for glob in globs for p in web.glob(glob)}
        wanted = {p for p in (web / "js").iterdir()} | {
            p for p in (web / "assets").rglob("*") if p.is_file()
        }
        assert wanted and wanted <= shipped, sorted(map(str, wanted - shipped))

    def test_a_checkout_reads_the_demo_data_from_data(self):
        assert demo.DATA_DIR == ROOT / "data"


class TestDependencies:
    def test_every_third_party_import_is_declared(self):
        distributions = importlib.metadata.packages_distributions()
        undeclared = {}
        for path in _app_sources():
            for module in _imported_modules(path) - LOCAL - set(sys.stdlib_module_names):
                dists = {canonicalize_name(d) for d in distributions.get(module, [])}
                assert dists, f"{path.relative_to(ROOT)} imports {module!r}, which is not installed"
                if not dists & set(DEPENDENCIES):
                    undeclared.setdefault(module, []).append(str(path.relative_to(ROOT)))
        assert not undeclared, f"imported but not in [project] dependencies: {undeclared}"

    def test_the_import_scan_sees_nested_imports(self, tmp_path):
        source = tmp_path / "m.py"
        source.write_text("import os\n\ndef f():\n    from altair import Chart\n    import a.b\n")
        assert _imported_modules(source) == {"os", "altair", "a"}

    def test_streamlit_folium_is_pinned_to_the_minor_version_the_glue_mirrors(self):
        glue = (ROOT / "terrmap" / "web" / "js" / "terrmap_glue.js").read_text(encoding="utf-8")
        major, minor = map(int, re.search(r"streamlit-folium (\d+)\.(\d+)", glue).groups())
        specifier = DEPENDENCIES["streamlit-folium"].specifier
        assert specifier.contains(f"{major}.{minor}.0")
        assert not specifier.contains(f"{major}.{minor + 1}.0")
        assert not specifier.contains(f"{major}.{minor - 1}.0")

    def test_installed_versions_satisfy_the_declared_ones(self):
        for name, requirement in DEPENDENCIES.items():
            installed = importlib.metadata.version(name)
            assert requirement.specifier.contains(installed, prereleases=True), (
                f"{name} {installed} is outside {requirement.specifier}"
            )


class TestAppCommand:
    def test_options_equal_the_checkouts_streamlit_config(self):
        config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
        flat = {
            f"{section}.{key}": value
            for section, values in config.items()
            for key, value in values.items()
        }
        as_options = {
            f"--{key}={str(value).lower() if isinstance(value, bool) else value}"
            for key, value in flat.items()
        }
        assert as_options == set(cli.APP_OPTIONS)

    def test_runs_streamlit_on_the_app_with_the_options_then_the_users(self, monkeypatch):
        calls = []

        class Exec(Exception):
            pass

        def execv(path, argv):
            calls.append((path, argv))
            raise Exec

        monkeypatch.setattr(cli.os, "execv", execv)
        with pytest.raises(Exec):
            cli.main(["app", "--server.port", "8600", "--server.headless=true"])
        [(path, argv)] = calls
        assert path == sys.executable
        assert argv[:5] == [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
        assert argv[5:] == [*cli.APP_OPTIONS, "--server.port", "8600", "--server.headless=true"]

    def test_other_commands_still_refuse_unknown_arguments(self, tmp_path):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["demo", str(tmp_path), "--nonsense"])
        assert exit_info.value.code == 2

    def test_an_installation_without_the_app_is_reported(self, tmp_path, monkeypatch, capsys):
        monkeypatch.setattr(cli, "__file__", str(tmp_path / "terrmap" / "cli.py"))
        assert cli.main(["app"]) == cli.EXIT_INTERNAL
        assert "installation is incomplete" in capsys.readouterr().err
