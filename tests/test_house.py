"""The house: each sub-package of terrmap imports only from the layers below it.

Imports are read from the source (module level and inside functions alike),
so a cycle hidden by a function-level import is caught too.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "terrmap"

#: Lowest first; a layer may import from itself and from the layers before it.
LAYERS = ("core", "geo", "playbook", "store", "io", "demo", "web", "cli")


def _layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "terrmap" or len(parts) == 1:
        return "root"
    return parts[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "terrmap"}


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_lives_in_a_layer():
    stray = [_module_name(p) for p in MODULES if _layer(_module_name(p)) not in (*LAYERS, "root")]
    assert stray == []
    top_level = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top_level == ["__init__.py", "cli.py"]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_imports_point_down(path):
    own = _layer(_module_name(path))
    if own == "root":
        return
    allowed = set(LAYERS[: LAYERS.index(own) + 1]) | {"root"}
    wrong = sorted(
        name for name in _imports(path) if _layer(name) in LAYERS and _layer(name) not in allowed
    )
    assert wrong == [], f"{_module_name(path)} ({own}) imports from a higher layer"


def test_no_import_cycle_between_modules():
    names = {_module_name(p): p for p in MODULES}
    graph = {
        name: {imp for imp in _imports(path) if imp in names and imp != name}
        for name, path in names.items()
    }
    # Package __init__ files that re-export children are not edges back up.
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for nxt in graph[node]:
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                cycle.extend(stack[stack.index(nxt) :] + [nxt])
                return True
            if state.get(nxt) is None and visit(nxt, [*stack, nxt]):
                return True
        state[node] = 2
        return False

    for name in graph:
        if state.get(name) is None and visit(name, [name]):
            break
    assert cycle == []


def test_only_web_knows_leaflet_and_streamlit():
    for path in MODULES:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        mods = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods.add(node.module.split(".")[0])
        if _layer(_module_name(path)) != "web":
            assert not mods & {"folium", "branca", "streamlit_folium", "streamlit"}, path


def test_page_helpers_import_each_other_without_a_cycle():
    pages = Path(__file__).resolve().parents[1] / "pages"
    graph: dict[str, set[str]] = {}
    for path in pages.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "pages":
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pages."):
                found.add(node.module.split(".", 1)[1])
        graph[path.stem] = found - {path.stem}
    seen: dict[str, int] = {}

    def cyclic(node: str) -> bool:
        seen[node] = 1
        for nxt in graph.get(node, ()):
            if seen.get(nxt) == 1 or (seen.get(nxt) is None and cyclic(nxt)):
                return True
        seen[node] = 2
        return False

    assert not any(cyclic(n) for n in graph if seen.get(n) is None)
