"""Benchmark the map in a real Streamlit server driven by headless Chromium.

Measures, at each size (default 10k and 100k accounts):

* first load: ``page.goto`` until the map iframe has applied its first colour
  update (points painted), in a fresh browser context each time;
* lasso round trip: mouse up at the end of a freehand lasso until the map's
  colours are updated *and* the page shows the numbers of that selection
  (the reassigned accounts are recoloured, the counts table is rerendered).

It also records every request that leaves localhost (only map tiles may, and
the benchmark runs without tiles), any JavaScript dialog (an escaping bug would
``alert``), page errors, and whether the map kept its view across reruns.

By default the page under test is a small harness app (written to a temporary
folder next to a ``static`` symlink) that uses ``terrmap.mapview`` exactly as
the app should: selection applied before drawing, ``feature_group_to_add`` for
colours, ``returned_objects`` limited to selections. ``--app`` runs another
script instead; it must accept ``?n=`` and print the handled
``MapEvent.event_id`` somewhere on the page.

Usage::

    /work/venv/bin/python benchmarks/bench_map.py [--sizes 10000 100000]
        [--loads 5] [--lassos 7] [--port 8599] [--chromium /usr/bin/chromium]

Requires ``npm ci --prefix static`` and Debian's chromium.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
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

from terrmap.static_assets import check_assets  # noqa: E402

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IFRAME = "iframe[title='streamlit_folium.st_folium']"
TOKEN_JS = "document.documentElement.getAttribute('data-terrmap-update')"

APP_SOURCE = r"""
import numpy as np
import pandas as pd
import geopandas as gpd
import shapely
import streamlit as st
from streamlit_folium import st_folium

from terrmap import mapview as mv

st.set_page_config(page_title="terrmap map benchmark", layout="wide")
EVIL = "<img src=x onerror=alert(1)>"


@st.cache_resource
def make_data(n, n_terr=24, seed=7):
    rng = np.random.default_rng(seed)
    k = 90
    centres = rng.uniform([-122, 28], [-71, 47], (k, 2))
    weights = rng.pareto(1.2, k) + 1
    city = rng.choice(k, n, p=weights / weights.sum())
    spread = rng.uniform(0.15, 0.9, k)[city]
    lon = np.clip(centres[city, 0] + rng.normal(0, 1, n) * spread, -124.5, -67)
    lat = np.clip(centres[city, 1] + rng.normal(0, 1, n) * spread * 0.8, 25, 49)
    lon[:3], lat[:3] = lon[3], lat[3]  # four accounts at one spot, like a ZIP centroid
    ids = pd.Index([f"A{i:06d}" for i in range(n)], name="account_id")
    names = np.array([f"Account {i}" for i in range(n)], dtype=object)
    names[0] = EVIL
    accounts = pd.DataFrame({"name": names, "lon": lon, "lat": lat}, index=ids)
    box = shapely.box(-125, 24.5, -66.5, 49.5)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(centres[:n_terr]), extend_to=box)
    )
    cells = shapely.intersection(cells, box)
    order = [int(np.flatnonzero(shapely.contains_xy(cells, *c))[0]) for c in centres[:n_terr]]
    cells = cells[order]
    tnames = [f"Territory {i + 1:02d}" for i in range(n_terr)]
    tnames[0] = EVIL
    tnames[1] = "Zone `${alert(2)}` </script><script>alert(3)</script> & co"
    territories = gpd.GeoDataFrame(
        {"name": tnames}, geometry=cells, crs="EPSG:4326",
        index=pd.Index([f"T{i:02d}" for i in range(n_terr)], name="territory_id"),
    )
    codes = np.full(n, -1)
    for i, cell in enumerate(cells):
        codes[shapely.contains_xy(cell, lon, lat)] = i
    codes[rng.random(n) < 0.04] = -1
    assignment = pd.Series(territories.index.to_numpy()[np.maximum(codes, 0)], index=ids,
                           dtype="string")
    assignment[codes < 0] = pd.NA
    reps = pd.DataFrame({"name": [EVIL] + [f"Rep {i}" for i in range(1, n_terr)],
                         "home_lat": centres[:n_terr, 1], "home_lon": centres[:n_terr, 0]})
    return accounts, territories, assignment, reps, mv.territory_colors(territories)


n = int(st.query_params.get("n", 10000))
accounts, territories, assignment0, reps, colors = make_data(n)
ss = st.session_state
if ss.get("n") != n:
    ss.n, ss.assignment, ss.selected, ss.last_event = n, assignment0, np.zeros(n, bool), None

# st_folium's on_change callback stored the map's latest value before this run:
# apply the selection first, so one run draws the result.
event = mv.parse_map_event(ss.get("map"))
if event is not None and event.event_id != ss.last_event:
    ss.last_event = event.event_id
    picked = mv.select_accounts(event, accounts["lon"], accounts["lat"], accounts.index)
    ss.selected = accounts.index.isin(picked)
    a = ss.assignment.copy()
    a.loc[picked] = "T03"
    ss.assignment = a

codes = mv.assignment_codes(ss.assignment, accounts.index, territories.index)
counts = np.bincount(codes + 1, minlength=len(territories) + 1)
chosen = np.flatnonzero(ss.selected)
callouts = dict(zip(chosen.tolist(), accounts["name"].to_numpy()[chosen])) if len(chosen) <= 5 else None
left, right = st.columns([3, 1])
# The map first: Streamlit loads element code lazily, in page order.
layer = mv.build_update_layer(
    codes, territories, colors=colors, selected=ss.selected, callouts=callouts
)
with left:
    st_folium(
        mv.build_base_map(accounts["lon"], accounts["lat"], home_bases=reps),
        key="map",
        feature_group_to_add=layer,
        returned_objects=list(mv.RETURNED_OBJECTS),
        height=620,
        use_container_width=True,
    )
with right:
    st.metric("Selected accounts", int(ss.selected.sum()))
    st.write(f"handled event {ss.last_event} token {layer.token}.")
    st.dataframe(pd.DataFrame({"territory": ["(unassigned)", *territories["name"]],
                               "accounts": counts}), hide_index=True, height=300)
"""


def _start_server(app: Path, port: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.enableStaticServing",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=app.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()) from None
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not start within 60 s")


class Watch:
    """Collects non-local requests, dialogs and page errors of a page."""

    def __init__(self, page=None):
        self.external: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        if page is None:
            return
        page.on("request", self._request)
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _request(self, request):
        if urlparse(request.url).hostname not in ("127.0.0.1", "localhost"):
            self.external.append(request.url)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def _map_frame(page):
    page.wait_for_selector(IFRAME, timeout=120_000)
    for _ in range(200):
        frames = [f for f in page.frames if "streamlit_folium" in f.url]
        if frames:
            return frames[0]
        time.sleep(0.05)
    raise RuntimeError("map iframe not found")


def _merge(into: Watch, other: Watch) -> None:
    into.external += other.external
    into.dialogs += other.dialogs
    into.errors += other.errors


def measure_first_load(browser, url: str, watch_all: Watch) -> float:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    t0 = time.perf_counter()
    page.goto(url)
    frame = _map_frame(page)
    frame.wait_for_function(TOKEN_JS, timeout=120_000, polling="raf")
    elapsed = time.perf_counter() - t0
    time.sleep(0.3)
    _merge(watch_all, watch)
    context.close()
    return elapsed


def measure_lassos(browser, url: str, count: int, watch: Watch, shot: Path | None) -> dict:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    w = Watch(page)
    page.goto(url)
    frame = _map_frame(page)
    frame.wait_for_function(TOKEN_JS, timeout=120_000)
    time.sleep(1.0)
    # Zoom in once so that "view kept" is a real test, not the initial fit.
    frame.evaluate("window.map.setZoom(window.map.getZoom() + 1, {animate: false})")
    time.sleep(0.5)
    view0 = frame.evaluate(
        "[window.map.getZoom(), window.map.getCenter().lat, window.map.getCenter().lng]"
    )
    box = page.locator(IFRAME).bounding_box()
    cx, cy = box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5
    times = []
    for rep in range(count):
        frame.click("a.leaflet-control-lasso")
        dx = (rep % 4 - 1.5) * 40
        rx, ry = 50 + 5 * rep, 40
        page.mouse.move(cx + dx + rx, cy)
        page.mouse.down()
        for k in range(1, 49):
            a = 2 * math.pi * k / 48
            page.mouse.move(cx + dx + rx * math.cos(a), cy + ry * math.sin(a) * (1 + 0.3 * (k % 2)))
        t0 = time.perf_counter()
        page.mouse.up()
        event_id = frame.evaluate("window.terrmap.lastEventId")
        token = _wait_for_numbers(page, event_id)
        frame.wait_for_function(f"{TOKEN_JS} === {token!r}", timeout=30_000, polling="raf")
        times.append(time.perf_counter() - t0)
        time.sleep(0.4)
    view1 = frame.evaluate(
        "[window.map.getZoom(), window.map.getCenter().lat, window.map.getCenter().lng]"
    )
    same_map = frame.evaluate("window.map === window.terrmap.map && !!window.map.terrmap")
    escaped = _click_hostile_account(page, frame, box)
    if shot is not None:
        page.screenshot(path=str(shot))
    _merge(watch, w)
    context.close()
    return {
        "times": times,
        "view_kept": view0 == view1 and same_map,
        "views": (view0, view1),
        "escaped": escaped,
    }


def _wait_for_numbers(page, event_id: str) -> str:
    """Wait until the page shows the run that handled ``event_id``; its layer token."""
    handle = page.wait_for_function(
        f"""() => {{
            const m = document.body.innerText.match(/handled event {event_id} token (\\w+)\\./);
            return m && m[1];
        }}""",
        timeout=30_000,
        polling="raf",
    )
    return handle.json_value()


def _click_hostile_account(page, frame, box) -> bool:
    """Click account 0 (named like an XSS probe); its callout must be plain text."""
    frame.evaluate(
        "() => { const p = window.terrmap.map.terrmap.points;"
        " window.map.setView([p.latAt(0), p.lonAt(0)], 9, {animate: false}); }"
    )
    time.sleep(0.4)
    x, y = frame.evaluate(
        "() => { const p = window.terrmap.map.terrmap.points;"
        " const c = window.map.latLngToContainerPoint([p.latAt(0), p.lonAt(0)]);"
        " return [c.x, c.y]; }"
    )
    page.mouse.click(box["x"] + x, box["y"] + y)
    token = _wait_for_numbers(page, frame.evaluate("window.terrmap.lastEventId"))
    frame.wait_for_function(f"{TOKEN_JS} === {token!r}", timeout=30_000)
    texts = frame.evaluate(
        "Array.from(document.querySelectorAll('.terrmap-callout')).map(e => e.textContent)"
    )
    injected = frame.evaluate("document.querySelectorAll('.leaflet-container img').length")
    return any("<img src=x onerror=alert(1)>" in t for t in texts) and injected == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--lassos", type=int, default=7)
    parser.add_argument("--port", type=int, default=8599)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--app", type=Path, help="Streamlit script to drive instead of the harness")
    parser.add_argument("--screenshots", type=Path, help="folder for a screenshot per size")
    args = parser.parse_args(argv)

    check_assets(REPO / "static")
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="terrmap_bench_"))
    if args.app is None:
        app = workdir / "bench_map_app.py"
        app.write_text(APP_SOURCE, encoding="utf-8")
        os.symlink(REPO / "static", workdir / "static")
    else:
        app = args.app.resolve()
    server = _start_server(app, args.port)
    watch = Watch()
    results = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            for n in args.sizes:
                url = f"http://127.0.0.1:{args.port}/?n={n}"
                warm = measure_first_load(browser, url, watch)  # fills the data cache
                loads = [measure_first_load(browser, url, watch) for _ in range(args.loads)]
                shot = args.screenshots / f"bench_{n}.png" if args.screenshots else None
                if shot is not None:
                    shot.parent.mkdir(parents=True, exist_ok=True)
                lasso = measure_lassos(browser, url, args.lassos, watch, shot)
                results[n] = (warm, loads, lasso)
                print(
                    f"n={n:>7}: first load median {statistics.median(loads):.2f} s "
                    f"(runs {', '.join(f'{t:.2f}' for t in loads)}; cold {warm:.2f} s) | "
                    f"lasso round trip median {statistics.median(lasso['times']):.3f} s "
                    f"(runs {', '.join(f'{t:.3f}' for t in lasso['times'])}) | "
                    f"view kept: {lasso['view_kept']} | hostile name shown as text: "
                    f"{lasso['escaped']}",
                    flush=True,
                )
            browser.close()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"requests leaving localhost: {sorted(set(watch.external)) or 'none'}")
    print(f"javascript dialogs (escaping failures): {watch.dialogs or 'none'}")
    print(f"page errors: {watch.errors or 'none'}")
    ok = (
        not watch.external
        and not watch.dialogs
        and all(r[2]["view_kept"] for r in results.values())
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
