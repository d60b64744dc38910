"""A manager's session on the map editor, in Chromium: select, reassign, undo.

Selections are made with the real tools (Leaflet.draw's rectangle, the
freehand lasso, a click) by moving the mouse over the map. The accounts the
page reports are compared with what :mod:`terrmap.geo.selection` finds inside the
exact shape the map drew, and the territory table after a reassign with what
:meth:`terrmap.core.plan.Plan.metrics` computes for the same move.
"""

from __future__ import annotations

import math
import os
import re
import time

import numpy as np
import pytest
from playwright.sync_api import expect

from terrmap.demo import demo_workspace, generate, write_demo
from terrmap.geo.selection import select_in_polygon
from terrmap.geo.workspace import build_workspace

from .conftest import read_dataframe, run_and_wait, serve_app, wait_for_app

pytestmark = pytest.mark.browser

IFRAME = 'iframe[title="streamlit_folium.st_folium"]'
TOKEN_JS = "document.documentElement.getAttribute('data-terrmap-update')"
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def demo():
    return demo_workspace()


# --------------------------------------------------------------------------- helpers


def open_map(page, url, select: str = "Accounts"):
    """Open the app; return the map's frame once its first update is drawn.

    On data built on units the map selects places by default; ``select``
    ("Places" or "Accounts") picks the mode (these tests select accounts).
    """
    page.goto(url)
    wait_for_app(page)
    page.wait_for_selector(IFRAME)
    frame = page.locator(IFRAME).first.element_handle().content_frame()
    frame.wait_for_function(TOKEN_JS)
    frame.wait_for_function("() => window.terrmap && window.terrmap.map")
    wait_for_app(page)
    choose_option(page, select)
    return frame


def choose_option(page, label: str) -> None:
    """Press a segmented-control option (Places/Accounts, Territory/Region) unless it is on.

    Does nothing when the page has no such option (data without units).
    """
    button = page.locator('[data-testid="stButtonGroup"] button').filter(
        has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")
    )
    if button.count() == 0 or button.get_attribute("aria-checked") == "true":
        return
    frame = page.locator(IFRAME).first.element_handle().content_frame()
    before = token(frame)
    run_and_wait(page, button.click)
    frame.wait_for_function(f"{TOKEN_JS} !== {before!r}")


def settle(page, frame) -> None:
    """Wait until script an ``<img onerror>`` could run has run, in page and map.

    A broken image's error event, then two animation frames: any injected image
    that failed earlier has fired its handler (and opened its dialog) by then.
    """
    for target in (page, frame):
        target.evaluate(
            """() => new Promise(done => {
                const probe = new Image();
                probe.onerror = () => requestAnimationFrame(() => requestAnimationFrame(done));
                probe.src = "/terrmap-settle-probe-" + Date.now() + ".png";
            })"""
        )


def token(frame) -> str:
    return frame.evaluate(TOKEN_JS)


def to_page_xy(page, frame, lat: float, lon: float) -> tuple[float, float]:
    box = page.locator(IFRAME).bounding_box()
    x, y = frame.evaluate(
        "([lat, lon]) => { const p = window.terrmap.map.latLngToContainerPoint([lat, lon]);"
        " return [p.x, p.y]; }",
        [lat, lon],
    )
    return box["x"] + x, box["y"] + y


def drawn_shape(frame) -> dict:
    """GeoJSON geometry of the selection shape the map shows."""
    return frame.evaluate(
        "() => window.terrmap.map.terrmap.selection.getLayers()[0].toGeoJSON().geometry"
    )


def selection_count(page) -> int:
    heading = page.get_by_role("heading", name=re.compile(r"Selection: [\d,]+ accounts?"))
    expect(heading).to_be_visible()
    return int(re.search(r"([\d,]+) accounts?", heading.inner_text()).group(1).replace(",", ""))


def draw_rectangle(page, frame, south, west, north, east) -> None:
    frame.click("a.leaflet-draw-draw-rectangle")
    x0, y0 = to_page_xy(page, frame, north, west)
    x1, y1 = to_page_xy(page, frame, south, east)

    def gesture():
        page.mouse.move(x0, y0)
        page.mouse.down()
        for k in range(1, 11):
            page.mouse.move(x0 + (x1 - x0) * k / 10, y0 + (y1 - y0) * k / 10)
        page.mouse.up()

    run_and_wait(page, gesture)


def draw_lasso(page, frame, lat, lon, radius_px=60) -> None:
    frame.click("a.leaflet-control-lasso")
    cx, cy = to_page_xy(page, frame, lat, lon)

    def gesture():
        page.mouse.move(cx + radius_px, cy)
        page.mouse.down()
        for k in range(1, 41):
            a = 2 * math.pi * k / 40
            # A wobbly, non-convex loop: a real hand, not a circle.
            r = radius_px * (1 + 0.25 * math.sin(3 * a))
            page.mouse.move(cx + r * math.cos(a), cy + 0.8 * r * math.sin(a))
        page.mouse.up()

    run_and_wait(page, gesture)


def expected_selection(ws, geometry: dict):
    ctx = ws.context
    return select_in_polygon(ctx.lon, ctx.lat, ctx.account_ids, geometry)


def choose_target(page, label: str) -> None:
    box = page.get_by_test_id("stSelectbox").filter(has_text="Hand them to")
    box.click()
    run_and_wait(page, lambda: page.get_by_role("option", name=label, exact=True).click())


def territory_rows(page) -> dict[str, dict[str, str]]:
    """The territory table's rows keyed by territory name (the table shows names).

    Region roll-up rows (named ``Region total: ...``) are left out.
    """
    rows = read_dataframe(page.get_by_test_id("stDataFrame").last)
    return {row["Territory"]: row for row in rows if not row["Territory"].startswith(REGION_ROW)}


#: Start of a region roll-up row's name (pages/_tables.py).
REGION_ROW = "Region total: "


def confirm_if_asked(page) -> None:
    """Tick the far-move confirmation when the page asks for one."""
    box = page.get_by_test_id("stCheckbox").filter(has_text="Yes, hand them over")
    if box.count():
        run_and_wait(page, lambda: box.locator("label").click())


def assert_table_matches(page, metrics, timeout_s: float = 15.0) -> None:
    """The territory table shows ``metrics`` (polls: the grid repaints after the run)."""
    deadline = time.monotonic() + timeout_s
    ids = dict(zip(metrics["name"], metrics.index, strict=True))
    while True:
        rows = {ids.get(name, name): row for name, row in territory_rows(page).items()}
        try:
            assert set(rows) == set(metrics.index)
            for tid, row in rows.items():
                assert int(float(row["Accounts"])) == metrics.loc[tid, "accounts"], tid
                assert float(row["Revenue"]) == pytest.approx(
                    metrics.loc[tid, "revenue"], abs=0.5
                ), tid
                assert float(row["Net profit"]) == pytest.approx(
                    metrics.loc[tid, "net_profit"], abs=0.5
                ), tid
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            page.wait_for_timeout(200)


def click_account(page, frame, lat: float, lon: float, zoom: int) -> None:
    """Centre the map on a point and click it (again from scratch when repeated)."""
    frame.evaluate(
        "([lat, lon, zoom]) => window.terrmap.map.setView([lat, lon], zoom, {animate: false})",
        [lat, lon, zoom],
    )
    x, y = to_page_xy(page, frame, lat, lon)
    page.mouse.click(x, y)


def lone_account(ws) -> int:
    """Position of an account alone at its spot and 5 km or more from every home base."""
    ctx = ws.context
    xy = np.column_stack([ctx.lon, ctx.lat])
    _, first, counts = np.unique(xy, axis=0, return_index=True, return_counts=True)
    alone = np.sort(first[counts == 1])
    home = np.column_stack([ctx.home_lon, ctx.home_lat])
    km = np.hypot(*(xy[alone, None, :] - home[None, :, :]).transpose(2, 0, 1)) * 111
    return int(alone[(km.min(axis=1) > 5)][0])


def home_of(ws, territory_id):
    i = ws.context.territory_ids.get_loc(territory_id)
    return float(ws.context.home_lat[i]), float(ws.context.home_lon[i])


# --------------------------------------------------------------------------- tests


class TestMapEditor:
    def test_map_draws_every_territory_offline(self, app_url, page, demo):
        frame = open_map(page, app_url)
        legend = frame.locator(".leaflet-control").filter(has_text="Territories")
        for name in demo.context.territory_names:
            expect(legend).to_contain_text(name)
        n_points = frame.evaluate("() => window.terrmap.map.terrmap.points._n")
        assert n_points == demo.context.n_accounts
        # No tile layer: the offline map is outlines, labels and points.
        assert frame.evaluate("() => document.querySelectorAll('.leaflet-tile').length") == 0
        assert frame.locator(".terrmap-label").count() == demo.context.n_territories

    def test_rectangle_reassign_matches_core_then_undo_redo(self, app_url, page, demo):
        frame = open_map(page, app_url)
        ctx = demo.context
        source, target = ctx.territory_ids[0], ctx.territory_ids[1]
        lat, lon = home_of(demo, source)
        # Zoom in first: the view must survive the reassign.
        frame.evaluate(
            "([lat, lon]) => window.terrmap.map.setView([lat, lon], 9, {animate: false})",
            [lat, lon],
        )
        draw_rectangle(page, frame, lat - 0.15, lon - 0.2, lat + 0.15, lon + 0.2)
        picked = expected_selection(demo, drawn_shape(frame))
        assert len(picked) > 0
        assert selection_count(page) == len(picked)

        view = frame.evaluate(
            "() => { const m = window.terrmap.map; window.__sameMap = m;"
            " return [m.getZoom(), m.getCenter().lat, m.getCenter().lng]; }"
        )
        before = token(frame)
        choose_target(page, ctx.territory_names[1])
        confirm_if_asked(page)
        run_and_wait(page, lambda: page.get_by_role("button", name="Reassign").click())
        frame.wait_for_function(f"{TOKEN_JS} !== {before!r}")

        plan = demo.initial_plan.reassign(picked, target)
        assert_table_matches(page, plan.metrics())
        expect(page.get_by_text(re.compile(r"Last move: [\d,]+ accounts"))).to_be_visible()
        # Same Leaflet map object, same view: the map was not reloaded.
        after = frame.evaluate(
            "() => { const m = window.terrmap.map;"
            " return [m === window.__sameMap, m.getZoom(), m.getCenter().lat, m.getCenter().lng]; }"
        )
        assert after[0] is True
        assert after[1:] == pytest.approx(view)
        # The moved accounts now carry the target's colour code in the map.
        positions = ctx.positions(picked)
        codes = frame.evaluate(
            "(ps) => ps.map(i => window.terrmap.map.terrmap.points._codes[i])",
            positions[:50].tolist(),
        )
        assert set(codes) == {ctx.territory_code(target) + 1}

        sidebar = page.get_by_test_id("stSidebar")
        run_and_wait(page, lambda: sidebar.get_by_role("button", name="Undo").click())
        assert_table_matches(page, demo.initial_plan.metrics())
        run_and_wait(page, lambda: sidebar.get_by_role("button", name="Redo").click())
        assert_table_matches(page, plan.metrics())

    def test_freehand_lasso_selects_what_the_core_finds(self, app_url, page, demo):
        frame = open_map(page, app_url)
        ctx = demo.context
        lat, lon = home_of(demo, ctx.territory_ids[3])
        frame.evaluate(
            "([lat, lon]) => window.terrmap.map.setView([lat, lon], 8, {animate: false})",
            [lat, lon],
        )
        draw_lasso(page, frame, lat, lon)
        shape = drawn_shape(frame)
        assert shape["type"] == "Polygon" and len(shape["coordinates"][0]) > 20
        picked = expected_selection(demo, shape)
        assert len(picked) > 0
        assert selection_count(page) == len(picked)
        # Hand the lassoed accounts to white space: the table's unassigned row is not
        # shown, so check the territories that lost them.
        choose_target(page, "(unassigned)")
        run_and_wait(page, lambda: page.get_by_role("button", name="Reassign").click())
        assert_table_matches(page, demo.initial_plan.reassign(picked, None).metrics())

    def test_click_selects_one_account(self, app_url, page, demo):
        frame = open_map(page, app_url)
        ctx = demo.context
        i = lone_account(demo)
        lat, lon = float(ctx.lat[i]), float(ctx.lon[i])
        run_and_wait(page, lambda: click_account(page, frame, lat, lon, 13))
        assert selection_count(page) == 1
        name = str(demo.accounts["name"].iloc[i])
        callout = frame.locator(".terrmap-callout")
        expect(callout).to_contain_text(name)


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    """The app on a small data set whose names are script injections."""
    data = generate(300, 4, seed=11)
    i = lone_account(build_workspace(data.accounts, data.territories, data.reps))
    accounts = data.accounts.copy()
    accounts.iloc[i, accounts.columns.get_loc("name")] = HOSTILE
    territories = data.territories.copy()
    territories.iloc[0, territories.columns.get_loc("name")] = "</script><script>alert(2)</script>"
    reps = data.reps.copy()
    reps.iloc[0, reps.columns.get_loc("name")] = HOSTILE
    folder = tmp_path_factory.mktemp("hostile")
    write_demo(type(data)(accounts=accounts, territories=territories, reps=reps), folder)
    env = {**os.environ, "TERRMAP_DATA_DIR": str(folder)}
    ws = build_workspace(accounts, territories, reps)
    with serve_app(env) as url:
        yield url, ws, i


class TestHostileNames:
    def test_names_are_shown_as_text_and_run_nothing(self, hostile_app, page):
        url, ws, i = hostile_app
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        frame = open_map(page, url)
        ctx = ws.context
        lat, lon = float(ctx.lat[i]), float(ctx.lon[i])
        run_and_wait(page, lambda: click_account(page, frame, lat, lon, 14))
        callout = frame.locator(".terrmap-callout")
        expect(callout).to_contain_text(HOSTILE)
        legend = frame.locator(".leaflet-control").filter(has_text="Territories")
        expect(legend).to_contain_text("</script><script>alert(2)</script>")
        assert (
            frame.evaluate("() => document.querySelectorAll('.leaflet-container img').length") == 0
        )
        settle(page, frame)
        assert dialogs == []
