"""Benchmark the real app's map editor in headless Chromium; print medians.

For each size (default 10k and 100k accounts) the script generates a data set
with :func:`terrmap.demo.generate`, starts ``streamlit run app.py`` on it
(``TERRMAP_DATA_DIR``) and measures, as a manager would feel them:

* **first load**: ``page.goto`` until the map has painted its points (the map
  frame's first colour update), each in a fresh browser context on a warm
  server (the data set is loaded once per server, like the embedded demo).
  The cold figure (first visitor after the server started, data loading
  included) is printed alongside.
* **lasso round trip**: mouse up at the end of a freehand lasso drawn with the
  mouse until the page shows that selection's numbers and the map shows the
  selected accounts (the map frame's update token changed).
* **reassign round trip**: click on *Reassign* until the territory table and
  the map colours show the move.

With ``--case units`` (or ``all``) it also runs the map on *units*: the
approximate ZIP areas of the contiguous US (29,442 ZIP-sized units, built
once and cached in ``--units-cache``) under 100k accounts in 50 territories
built from them. There the lasso selects places (units), so the lasso round
trip is mouse up until the page shows the selected places and the map has
painted them, and a reassign moves units (``Plan.reassign_units``). Measured
in this process as well: the core unit move and the re-dissolve of the
territories a move touched (``terrmap.geo.drawing.plan_shapes``), medians
over ``--moves`` moves of border units.

It also checks that the map kept its view and its Leaflet object across all
of this (no reload), and records every request leaving localhost and any
page error. Exit status 1 when one of those checks fails.

Usage::

    python benchmarks/bench_map.py [--case accounts|units|all] [--sizes 10000 100000]
        [--territories 50] [--loads 5] [--lassos 7] [--chromium /usr/bin/chromium]
        [--unit-accounts 100000] [--moves 9] [--units-cache PATH]

Requires ``npm ci --prefix static`` and Debian's chromium.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from terrmap.demo import generate, write_demo, write_units  # noqa: E402
from terrmap.web.static_assets import check_assets  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
IFRAME = "iframe[title='streamlit_folium.st_folium']"
TOKEN_JS = "document.documentElement.getAttribute('data-terrmap-update')"
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.getAttribute("data-test-script-state") === "notRunning"
    && !document.querySelector('[data-testid="stStatusWidgetRunningIcon"]');
}"""
VIEW_JS = "() => { const m = window.terrmap.map; return [m.getZoom(), m.getCenter().lat, m.getCenter().lng]; }"


class Watch:
    """Collects non-local requests and page errors of the pages it watches."""

    def __init__(self) -> None:
        self.external: list[str] = []
        self.errors: list[str] = []

    def attach(self, page) -> None:
        page.on("request", self._request)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _request(self, request) -> None:
        parts = urlparse(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in (
            "127.0.0.1",
            "localhost",
        ):
            self.external.append(request.url)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(data_dir: Path, port: int, log) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    # A database of its own: the benchmark must not read or write the user's.
    env = {
        **os.environ,
        "TERRMAP_DATA_DIR": str(data_dir),
        "TERRMAP_DB": str(data_dir.parent / f"{data_dir.name}.sqlite"),
    }
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return process
        except OSError:
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGTERM)
    raise RuntimeError("streamlit did not start")


def _map_frame(page):
    handle = page.wait_for_selector(IFRAME, timeout=120_000)
    frame = handle.content_frame()
    frame.wait_for_function(TOKEN_JS, timeout=120_000, polling="raf")
    return frame


UNITS_READY_JS = "document.documentElement.getAttribute('data-terrmap-units') === 'ready'"


def measure_first_load(browser, url: str, watch: Watch, units: bool = False) -> float:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    watch.attach(page)
    t0 = time.perf_counter()
    page.goto(url)
    frame = _map_frame(page)
    if units:
        # The units are drawn too: the file fetched, parsed and painted.
        frame.wait_for_function(UNITS_READY_JS, timeout=120_000, polling="raf")
    elapsed = time.perf_counter() - t0
    context.close()
    return elapsed


def _lasso(page, frame, box, cx, cy, rx, ry) -> None:
    frame.click("a.leaflet-control-lasso")
    page.mouse.move(cx + rx, cy)
    page.mouse.down()
    for k in range(1, 49):
        a = 2 * math.pi * k / 48
        page.mouse.move(cx + rx * math.cos(a), cy + ry * math.sin(a) * (1 + 0.2 * (k % 2)))


def _wait_round_trip(page, frame, token_before: str, text_js: str, text_before: str) -> None:
    page.wait_for_function(
        f"() => ({text_js}) !== {text_before!r} && ({IDLE_JS})()", timeout=60_000, polling="raf"
    )
    frame.wait_for_function(f"{TOKEN_JS} !== {token_before!r}", timeout=60_000, polling="raf")


SELECTION_JS = (
    "Array.from(document.querySelectorAll('h3')).map(h => h.textContent)"
    ".find(t => t.startsWith('Selection')) || ''"
)
ENABLED_JS = """() => { const b = Array.from(document.querySelectorAll('button'))
  .find(b => b.textContent.trim() === 'Reassign'); return !!b && !b.disabled; }"""
PLACES_JS = "(window.terrmap.map.terrmap.units.lastPaint || {}).selected"
LAST_MOVE_JS = (
    "Array.from(document.querySelectorAll('[data-testid=\"stCaptionContainer\"]'))"
    ".map(e => e.textContent).find(t => t.startsWith('Last move')) || ''"
)


def measure_session(browser, url: str, count: int, watch: Watch, units: bool = False) -> dict:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    watch.attach(page)
    page.goto(url)
    frame = _map_frame(page)
    if units:
        frame.wait_for_function(UNITS_READY_JS, timeout=120_000, polling="raf")
    page.wait_for_function(IDLE_JS, timeout=60_000)
    # Zoom in once so that "view kept" is a real test, not the initial fit.
    frame.evaluate(
        "() => { const m = window.terrmap.map; window.__first = m;"
        " m.setZoom(m.getZoom() + 1, {animate: false}); }"
    )
    time.sleep(0.5)
    view0 = frame.evaluate(VIEW_JS)
    box = page.locator(IFRAME).bounding_box()
    lassos, reassigns, sizes = [], [], []
    for rep in range(count):
        cx = box["x"] + box["width"] * (0.35 + 0.1 * (rep % 4))
        cy = box["y"] + box["height"] * (0.4 + 0.05 * (rep % 3))
        token, text = frame.evaluate(TOKEN_JS), page.evaluate(SELECTION_JS)
        _lasso(page, frame, box, cx, cy, 45 + 4 * rep, 35)
        t0 = time.perf_counter()
        page.mouse.up()
        _wait_round_trip(page, frame, token, SELECTION_JS, text)
        lassos.append(time.perf_counter() - t0)
        selected = page.evaluate(SELECTION_JS)
        if units:
            # "Selection: 12 places, 340 accounts": the places, also painted on the map.
            sizes.append(frame.evaluate(PLACES_JS))
        else:
            sizes.append(int("".join(c for c in selected.split(":")[-1] if c.isdigit()) or 0))
        button = page.get_by_role("button", name="Reassign")
        if button.count() == 0:
            continue
        confirm = page.get_by_test_id("stCheckbox").filter(has_text="Yes, hand them over")
        if confirm.count():
            # A far target asks for a confirmation first (not timed: a second click).
            confirm.locator("label").click()
            page.wait_for_function(ENABLED_JS, timeout=60_000)
            page.wait_for_function(IDLE_JS, timeout=60_000)
        token, text = frame.evaluate(TOKEN_JS), page.evaluate(LAST_MOVE_JS)
        t0 = time.perf_counter()
        button.click()
        _wait_round_trip(page, frame, token, LAST_MOVE_JS, text)
        reassigns.append(time.perf_counter() - t0)
        time.sleep(0.3)
    view1 = frame.evaluate(VIEW_JS)
    same_map = frame.evaluate("() => window.terrmap.map === window.__first")
    context.close()
    return {
        "lassos": lassos,
        "reassigns": reassigns,
        "sizes": sizes,
        "view_kept": same_map and view0 == view1,
    }


def _fmt(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def zip_units(cache: Path):
    """Approximate ZIP areas of the contiguous US, built once and cached as GeoParquet."""
    import geopandas as gpd

    from terrmap.demo import study_area
    from terrmap.geo.units import approximate_zip_units, boundary_units, units_from_polygons

    if cache.is_file():
        frame = gpd.read_parquet(cache)
        return units_from_polygons(
            frame, None, name_field="name", kind="zip-approximate", approximate=True
        )
    area = study_area("conus")
    counties = boundary_units("county", within=area).units
    units = approximate_zip_units(area, counties=counties)
    units.units.to_parquet(cache)
    return units


def core_unit_moves(folder: Path, moves: int) -> dict:
    """Time unit moves and the re-dissolve of the touched territories, in this process."""
    import numpy as np

    from terrmap.demo import folder_workspace
    from terrmap.geo.drawing import map_data, plan_shapes

    t0 = time.perf_counter()
    ws = folder_workspace(folder)
    build = time.perf_counter() - t0
    data = map_data(ws)
    t0 = time.perf_counter()
    plan_shapes(ws.initial_plan, data)
    first_dissolve = time.perf_counter() - t0
    plan = ws.initial_plan
    pairs = plan.layout.pairs
    rng = np.random.default_rng(3)
    border = pairs[
        (plan.unit_codes[pairs[:, 0]] != plan.unit_codes[pairs[:, 1]])
        & (plan.unit_codes[pairs[:, 0]] >= 0)
        & (plan.unit_codes[pairs[:, 1]] >= 0)
    ]
    reassigns, dissolves = [], []
    for a, b in border[rng.choice(len(border), size=moves, replace=False)]:
        # A border unit and up to five neighbours of its territory, handed over.
        neighbours = np.concatenate([pairs[pairs[:, 0] == a, 1], pairs[pairs[:, 1] == a, 0]])
        same = neighbours[plan.unit_codes[neighbours] == plan.unit_codes[a]][:5]
        units = plan.layout.unit_ids[np.unique([a, *same])]
        target = plan.context.territory_ids[plan.unit_codes[b]]
        t0 = time.perf_counter()
        moved = plan.reassign_units(units, target)
        reassigns.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        plan_shapes(moved, data)
        dissolves.append(time.perf_counter() - t0)
        plan = moved
    return {
        "build": build,
        "first_dissolve": first_dissolve,
        "reassigns": reassigns,
        "dissolves": dissolves,
        "n_units": ws.units.n_units,
        "n_accounts": ws.context.n_accounts,
        "n_territories": ws.context.n_territories,
    }


def bench_units(args, browser, watch: Watch, tmp: Path) -> bool:
    """The map on ZIP-sized units: first load, place lasso, unit reassign, re-dissolve."""
    from terrmap.geo.units import definition_from_polygons

    t0 = time.perf_counter()
    units = zip_units(Path(args.units_cache))
    made = time.perf_counter() - t0
    data = generate(args.unit_accounts, args.territories, seed=7, region="conus")
    folder = tmp / "units"
    write_demo(data, folder)
    write_units(folder, units, definition_from_polygons(units, data.territories))
    core = core_unit_moves(folder, args.moves)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    with open(tmp / "server-units.log", "w") as log:
        server = _start_server(folder, port, log)
        try:
            cold = measure_first_load(browser, url, watch, units=True)
            loads = [measure_first_load(browser, url, watch, units=True) for _ in range(args.loads)]
            session = measure_session(browser, url, args.lassos, watch, units=True)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
    print(
        f"units: {core['n_units']:,} approximate ZIP areas (layer ready in {made:.1f} s), "
        f"{core['n_accounts']:,} accounts, {core['n_territories']} territories:\n"
        f"  first load        median {statistics.median(loads):.2f} s "
        f"(runs {_fmt(loads)}; cold server {cold:.2f} s)\n"
        f"  place lasso round trip median {statistics.median(session['lassos']):.2f} s "
        f"(runs {_fmt(session['lassos'])}; places selected: "
        f"{', '.join(map(str, session['sizes']))})\n"
        f"  reassign round trip median "
        f"{statistics.median(session['reassigns']) if session['reassigns'] else math.nan:.2f} s "
        f"(runs {_fmt(session['reassigns'])})\n"
        f"  core unit move (Plan.reassign_units) median "
        f"{statistics.median(core['reassigns']) * 1000:.1f} ms; re-dissolve of the touched "
        f"territories median {statistics.median(core['dissolves']) * 1000:.0f} ms "
        f"(runs {_fmt(core['dissolves'])} s; first full dissolve {core['first_dissolve']:.1f} s, "
        f"workspace build {core['build']:.1f} s)\n"
        f"  map view and Leaflet object kept through all reruns: {session['view_kept']}",
        flush=True,
    )
    return session["view_kept"] and bool(session["reassigns"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--territories", type=int, default=50)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--lassos", type=int, default=7)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--case", choices=["accounts", "units", "all"], default="all")
    parser.add_argument("--unit-accounts", type=int, default=100_000)
    parser.add_argument("--moves", type=int, default=9)
    parser.add_argument(
        "--units-cache",
        default=str(Path(tempfile.gettempdir()) / "terrmap_bench_zip_conus.parquet"),
        help="GeoParquet of the approximate ZIP areas (built when missing)",
    )
    args = parser.parse_args(argv)

    check_assets()
    from playwright.sync_api import sync_playwright

    watch = Watch()
    ok = True
    with sync_playwright() as p, tempfile.TemporaryDirectory(prefix="terrmap_bench_") as tmp:
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        if args.case in ("units", "all"):
            ok = bench_units(args, browser, watch, Path(tmp)) and ok
        for n in args.sizes if args.case in ("accounts", "all") else []:
            folder = Path(tmp) / f"n{n}"
            write_demo(generate(n, args.territories, seed=7, region="us_east"), folder)
            port = _free_port()
            url = f"http://127.0.0.1:{port}/"
            with open(Path(tmp) / f"server{n}.log", "w") as log:
                server = _start_server(folder, port, log)
                try:
                    cold = measure_first_load(browser, url, watch)
                    loads = [measure_first_load(browser, url, watch) for _ in range(args.loads)]
                    session = measure_session(browser, url, args.lassos, watch)
                finally:
                    os.killpg(server.pid, signal.SIGTERM)
                    server.wait(timeout=20)
            ok = ok and session["view_kept"] and bool(session["reassigns"])
            print(
                f"n={n:>7} accounts, {args.territories} territories:\n"
                f"  first load        median {statistics.median(loads):.2f} s "
                f"(runs {_fmt(loads)}; cold server {cold:.2f} s)\n"
                f"  lasso round trip  median {statistics.median(session['lassos']):.2f} s "
                f"(runs {_fmt(session['lassos'])}; accounts selected: "
                f"{', '.join(map(str, session['sizes']))})\n"
                f"  reassign round trip median "
                f"{statistics.median(session['reassigns']) if session['reassigns'] else math.nan:.2f} s "
                f"(runs {_fmt(session['reassigns'])})\n"
                f"  map view and Leaflet object kept through all reruns: {session['view_kept']}",
                flush=True,
            )
        browser.close()
    print(f"requests leaving localhost: {sorted(set(watch.external)) or 'none'}")
    print(f"page errors: {watch.errors or 'none'}")
    return 0 if ok and not watch.external and not watch.errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
