"""The map editor's offline background, in Chromium: state and county lines, no tiles.

Every request leaving the machine fails the test (see ``conftest.page``), so
a map that draws its lines here draws them offline.
"""

from __future__ import annotations

import base64
import urllib.request

import pytest

from terrmap.web.static_assets import POINTS_BASE

from .conftest import ARTIFACTS, run_and_wait
from .test_map_editor import IFRAME, draw_rectangle, open_map, selection_count

pytestmark = pytest.mark.browser

TILE_HOST = "tile.openstreetmap.org"
# A 1x1 transparent PNG.
BLANK_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
READY_JS = "document.documentElement.getAttribute('data-terrmap-basemap')"
PATHS_JS = "() => document.querySelectorAll('.leaflet-terrmapBasemap-pane path').length"


def wait_basemap(frame) -> str:
    frame.wait_for_function(READY_JS)
    return frame.evaluate(READY_JS)


def pane_facts(frame) -> dict:
    return frame.evaluate(
        """() => {
          const map = window.terrmap.map;
          const pane = map.getPane('terrmapBasemap');
          const st = map.terrmapBasemap;
          return {
            zBase: Number(pane.style.zIndex),
            zOverlay: Number(getComputedStyle(map.getPane('overlayPane')).zIndex),
            zPoints: Number(map.getPane('terrmapPoints').style.zIndex),
            pointer: getComputedStyle(pane).pointerEvents,
            parts: st.parts,
            url: st.url,
            countyShown: st.county !== null && map.hasLayer(st.county),
            zoom: map.getZoom(),
            tiles: document.querySelectorAll('.leaflet-tile').length,
          };
        }"""
    )


def test_map_editor_draws_state_lines_offline(page, app_url):
    frame = open_map(page, app_url)
    assert wait_basemap(frame) == "ready"
    facts = pane_facts(frame)
    # The demo's region holds several states: their borders and coasts are drawn.
    assert facts["parts"].get("state", 0) > 0
    assert frame.evaluate(PATHS_JS) > 0
    assert facts["tiles"] == 0
    # Under the territories and the points, and transparent to the mouse.
    assert facts["zBase"] < facts["zOverlay"] < facts["zPoints"]
    assert facts["pointer"] == "none"
    # The file came from the app itself.
    assert facts["url"].startswith(f"{POINTS_BASE}/basemap-")
    with urllib.request.urlopen(f"{app_url}{facts['url']}", timeout=10) as response:
        assert response.status == 200
        assert b'"kind":"state"' in response.read()
    # Zoomed out, no county mesh; zoomed in, county lines appear.
    assert facts["zoom"] < 7 and not facts["countyShown"]
    paths_out = frame.evaluate(PATHS_JS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "basemap_states.png"))
    frame.evaluate("() => window.terrmap.map.setZoom(8, { animate: false })")
    frame.wait_for_function(
        "() => { const st = window.terrmap.map.terrmapBasemap;"
        " return st.county && window.terrmap.map.hasLayer(st.county); }"
    )
    assert frame.evaluate(PATHS_JS) > paths_out
    page.screenshot(path=str(ARTIFACTS / "basemap_counties.png"))


def test_lines_do_not_get_in_the_way_of_a_selection(page, app_url):
    frame = open_map(page, app_url)
    assert wait_basemap(frame) == "ready"
    # The element under points of the drawn lines (inside the map, off its
    # controls) is never a line.
    under = frame.evaluate(
        """() => {
          const box = window.terrmap.map.getContainer().getBoundingClientRect();
          const hits = { inside: 0, basemap: 0 };
          for (const path of document.querySelectorAll('.leaflet-terrmapBasemap-pane path')) {
            const m = path.getScreenCTM();
            const total = path.getTotalLength();
            for (let k = 0; k <= 200; k++) {
              const p = path.getPointAtLength((total * k) / 200);
              const x = m.a * p.x + m.c * p.y + m.e, y = m.b * p.x + m.d * p.y + m.f;
              if (x < box.left + 60 || x > box.right - 10 || y < box.top + 10 || y > box.bottom - 10) {
                continue;
              }
              const el = document.elementFromPoint(x, y);
              if (!el || el.closest('.leaflet-control')) { continue; }
              hits.inside += 1;
              if (el.closest('.leaflet-terrmapBasemap-pane')) { hits.basemap += 1; }
            }
          }
          return { inside: hits.inside > 20, basemap: hits.basemap };
        }"""
    )
    assert under == {"inside": True, "basemap": 0}
    lat, lon = frame.evaluate(
        "() => { const c = window.terrmap.map.getCenter(); return [c.lat, c.lng]; }"
    )
    draw_rectangle(page, frame, lat - 0.6, lon - 0.8, lat + 0.6, lon + 0.8)
    assert selection_count(page) > 0


def test_street_map_toggle_names_its_source_and_drops_the_lines(page, app_url):
    # Tiles are answered here with a blank image: nothing leaves the machine.
    page.route(
        f"https://{TILE_HOST}/**",
        lambda route: route.fulfill(status=200, content_type="image/png", body=BLANK_PNG),
    )
    frame = open_map(page, app_url)
    assert wait_basemap(frame) == "ready"
    toggle = page.get_by_text("Street map (OpenStreetMap tiles, from the internet)")
    run_and_wait(page, toggle.click)
    page.wait_for_selector(IFRAME)
    frame = page.locator(IFRAME).first.element_handle().content_frame()
    frame.wait_for_function("() => document.querySelectorAll('.leaflet-tile').length > 0")
    assert "OpenStreetMap" in frame.inner_text(".leaflet-control-attribution")
    assert frame.evaluate("() => window.terrmap.map.terrmapBasemap === undefined")
    assert {url.split("/")[2] for url in page.external_requests} == {TILE_HOST}
    # Answered locally above, so not a request that left the machine.
    page.external_requests.clear()
