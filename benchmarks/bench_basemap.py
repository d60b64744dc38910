"""Benchmark the offline base map: build the file, serve it, draw it; print medians.

For the embedded demo (New England and New York) and a whole-US data set
(``terrmap.demo.generate(region="conus")``) it measures:

* **load**: the first read of the packaged boundary lines in this process
  (once; later builds reuse it).
* **build**: :func:`terrmap.web.basemap.basemap_geojson` for the data set's
  padded extent (what the app does once per data set).
* **publish**: :func:`terrmap.web.basemap.publish_basemap` into an empty folder
  (build, hash and write).
* **serve + draw** (with ``--browser``): headless Chromium opens a page with
  Leaflet and ``terrmap_basemap.js`` from a local HTTP server and times
  ``TerrmapBasemap.add`` until the lines are drawn (fetch, parse, SVG), at the
  data set's view and again zoomed in to county level.

Usage::

    python benchmarks/bench_basemap.py [--runs 7] [--browser] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_spatial import median_ms  # noqa: E402 (this folder, the one home of the timer)

from terrmap.demo import demo_workspace, generate  # noqa: E402
from terrmap.geo import boundaries  # noqa: E402
from terrmap.web.basemap import basemap_bounds, basemap_geojson, publish_basemap  # noqa: E402
from terrmap.web.static_assets import ASSET_FILES, ASSETS_DIR  # noqa: E402

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/{css}"><script src="/{js}"></script>
<script src="/basemap.js"></script>
<style>html,body,#map{{margin:0;width:1000px;height:650px}}</style></head>
<body><div id="map"></div><script>
window.map = L.map("map", {{ zoomSnap: 0.25 }}).fitBounds([[{y0}, {x0}], [{y1}, {x1}]]);
</script></body></html>"""

DRAW_JS = """async ([url, zoom]) => {
  document.documentElement.removeAttribute("data-terrmap-basemap");
  if (zoom !== null) { map.setZoom(zoom, { animate: false }); }
  const t0 = performance.now();
  TerrmapBasemap.add(map, url);
  while (!document.documentElement.getAttribute("data-terrmap-basemap")) {
    await new Promise((r) => setTimeout(r, 1));
  }
  await new Promise((r) => requestAnimationFrame(() => r()));
  const ms = performance.now() - t0;
  const paths = document.querySelectorAll(".leaflet-terrmapBasemap-pane path").length;
  return [ms, paths, document.documentElement.getAttribute("data-terrmap-basemap")];
}"""


def datasets() -> dict[str, tuple]:
    demo = demo_workspace().context
    us = generate(100_000, 50, region="conus").accounts
    return {
        "demo (3k, northeast)": (demo.lon, demo.lat),
        "whole US (100k, conus)": (us["lon"].to_numpy(), us["lat"].to_numpy()),
    }


def browser_figures(files: dict[str, tuple], runs: int, chromium: str) -> dict[str, tuple]:
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="terrmap-bench-basemap-"))
    shutil.copy(REPO / "terrmap" / "web" / "js" / "terrmap_basemap.js", root / "basemap.js")
    static = ASSETS_DIR
    for key in ("leaflet_js", "leaflet_css"):
        target = root / ASSET_FILES[key]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(static / ASSET_FILES[key], target)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    out = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            for label, (bounds, text) in files.items():
                name = f"b{len(out)}.json"
                (root / name).write_text(text, encoding="utf-8")
                x0, y0, x1, y1 = bounds
                html = PAGE.format(
                    css=ASSET_FILES["leaflet_css"],
                    js=ASSET_FILES["leaflet_js"],
                    x0=x0,
                    y0=y0,
                    x1=x1,
                    y1=y1,
                )
                (root / f"p{len(out)}.html").write_text(html, encoding="utf-8")
                page = browser.new_page(viewport={"width": 1000, "height": 650})
                row = {}
                for view, zoom in (("view", None), ("county zoom", 8)):
                    samples = []
                    for i in range(runs):
                        # A fresh page and URL each time: nothing cached.
                        page.goto(f"{base}/p{len(out)}.html?{view}{i}")
                        samples.append(page.evaluate(DRAW_JS, [f"/{name}?{zoom}-{i}", zoom]))
                    assert all(s[2] == "ready" for s in samples), samples
                    row[view] = (statistics.median(s[0] for s in samples), samples[0][1])
                out[label] = row
                page.close()
            browser.close()
    finally:
        server.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--browser", action="store_true")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    boundaries.basemap_lines((0.0, 0.0, 1.0, 1.0))
    print(f"load packaged lines (first call): {(time.perf_counter() - t0) * 1000:.0f} ms")

    files = {}
    for label, (lon, lat) in datasets().items():
        bounds = basemap_bounds(lon, lat)
        text = basemap_geojson(bounds)
        build = median_ms(lambda b=bounds: basemap_geojson(b), args.runs)

        def publish(lon=lon, lat=lat):
            with tempfile.TemporaryDirectory() as tmp:
                publish_basemap(lon, lat, tmp)

        pub = median_ms(publish, args.runs)
        print(
            f"{label}: bounds {bounds}, file {len(text) / 1e6:.2f} MB; "
            f"build median {build:.0f} ms, publish median {pub:.0f} ms ({args.runs} runs)"
        )
        files[label] = (bounds, text)

    if args.browser:
        for label, row in browser_figures(files, args.runs, args.chromium).items():
            parts = ", ".join(
                f"{view} {ms:.0f} ms ({paths} paths)" for view, (ms, paths) in row.items()
            )
            print(f"{label}: serve + draw median: {parts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
