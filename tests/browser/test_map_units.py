"""The map editor on units, in Chromium: select places, hand them over, exclaves, regions.

The county demo is read back here from its own files (accounts CSV, the
definition JSON, the county polygons) and every expected figure is computed
with geopandas and pandas, not with terrmap's plan: which counties a rectangle
picks (representative point inside the drawn shape), which accounts they hold
(a spatial join), which of those stay (named exceptions) and the territory
figures after the move (a groupby).

The other unit layers (H3 cells, approximate ZIP areas, an uploaded polygon
layer) each get a server of their own on a generated data folder; the test
checks that the map draws every unit from the served file and, when
``TERRMAP_SHOTS`` names a folder, saves a screenshot there.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from playwright.sync_api import expect

from terrmap.demo import DATA_DIR, DEFINITION_FILE, generate, write_demo, write_units
from terrmap.geo.boundaries import us_counties
from terrmap.geo.shapes import study_area
from terrmap.geo.units import (
    approximate_zip_units,
    boundary_units,
    definition_from_polygons,
    h3_units,
    units_from_polygons,
)

from .conftest import run_and_wait, serve_app, wait_for_app
from .test_map_editor import (
    IFRAME,
    TOKEN_JS,
    choose_option,
    choose_target,
    confirm_if_asked,
    draw_rectangle,
    drawn_shape,
    open_map,
    territory_rows,
    token,
)

pytestmark = pytest.mark.browser

UNITS_READY = "document.documentElement.getAttribute('data-terrmap-units') === 'ready'"
PLACES = re.compile(r"Selection: ([\d,]+) places?, ([\d,]+) accounts?")


@pytest.fixture(scope="module")
def county_demo():
    """The demo's files, read as plain frames: accounts, definition, its counties."""
    accounts = pd.read_csv(DATA_DIR / "accounts.csv", index_col="account_id")
    definition = json.loads((DATA_DIR / DEFINITION_FILE).read_text(encoding="utf-8"))
    counties = us_counties()
    points = gpd.GeoDataFrame(
        accounts, geometry=gpd.points_from_xy(accounts["lon"], accounts["lat"]), crs="EPSG:4326"
    )
    county_of = gpd.sjoin(points, counties[["geometry"]], predicate="within")["unit_id"]
    county_of = county_of[~county_of.index.duplicated()]
    unit_territory = pd.Series(definition["unit_territory"])
    territory = county_of.map(unit_territory).reindex(accounts.index)
    exceptions = pd.Series(definition["exceptions"], dtype=object)
    territory.loc[exceptions.index] = exceptions
    names = {row["id"]: row["name"] for row in definition["territories"]}
    return {
        "accounts": accounts,
        "counties": counties,
        "county_of": county_of,
        "unit_territory": unit_territory,
        "territory": territory,
        "exceptions": exceptions,
        "names": names,
        "regions": pd.Series(definition["regions"]),
    }


def expected_figures(accounts: pd.DataFrame, territory: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "territory": territory,
            "revenue": accounts["revenue"],
            "net_profit": accounts["revenue"] - accounts["cost_to_serve"],
        }
    ).dropna(subset=["territory"])
    grouped = frame.groupby("territory")
    return pd.DataFrame(
        {
            "accounts": grouped.size(),
            "revenue": grouped["revenue"].sum(),
            "net_profit": grouped["net_profit"].sum(),
        }
    )


def assert_table_shows(page, expected: pd.DataFrame, names: dict, timeout_ms: int = 15_000):
    deadline = pd.Timestamp.now() + pd.Timedelta(milliseconds=timeout_ms)
    while True:
        rows = territory_rows(page)
        try:
            for tid, row in expected.iterrows():
                shown = rows[names[tid]]
                assert int(float(shown["Accounts"])) == row["accounts"], tid
                assert float(shown["Revenue"]) == pytest.approx(row["revenue"], abs=0.5), tid
                assert float(shown["Net profit"]) == pytest.approx(row["net_profit"], abs=0.5)
            return
        except (AssertionError, KeyError):
            if pd.Timestamp.now() > deadline:
                raise
            page.wait_for_timeout(200)


def places_heading(page) -> tuple[int, int]:
    heading = page.get_by_role("heading", name=PLACES)
    expect(heading).to_be_visible()
    places, accounts = PLACES.search(heading.inner_text()).groups()
    return int(places.replace(",", "")), int(accounts.replace(",", ""))


def focus(frame, lat: float, lon: float, zoom: float) -> None:
    frame.evaluate(
        "([lat, lon, zoom]) => window.terrmap.map.setView([lat, lon], zoom, {animate: false})",
        [lat, lon, zoom],
    )


def click_at(page, frame, lat: float, lon: float) -> None:
    box = page.locator(IFRAME).bounding_box()
    x, y = frame.evaluate(
        "([lat, lon]) => { const p = window.terrmap.map.latLngToContainerPoint([lat, lon]);"
        " return [p.x, p.y]; }",
        [lat, lon],
    )
    page.mouse.click(box["x"] + x, box["y"] + y)


class TestCountyDemo:
    def test_rectangle_over_counties_hands_them_over(self, app_url, page, county_demo):
        d = county_demo
        frame = open_map(page, app_url, select="Places")
        frame.wait_for_function(UNITS_READY)
        focus(frame, 41.6, -72.7, 8)
        draw_rectangle(page, frame, 41.25, -73.3, 41.95, -72.1)
        shape = shapely.geometry.shape(drawn_shape(frame))
        counties = d["counties"][d["counties"].index.isin(d["unit_territory"].index)]
        picked = counties.index[counties.representative_point().within(shape).to_numpy()]
        held = d["county_of"][d["county_of"].isin(picked)].index
        movable = held.difference(d["exceptions"].index)
        assert len(picked) >= 2 and len(movable) > 0
        assert places_heading(page) == (len(picked), len(movable))
        # the map shows the picked counties as selected
        shown = frame.evaluate(
            "() => { const u = window.terrmap.map.terrmap.units; return u.lastPaint.selected; }"
        )
        assert shown == len(picked)

        target = "T01"
        before = token(frame)
        choose_target(page, d["names"][target])
        confirm_if_asked(page)
        run_and_wait(page, lambda: page.get_by_role("button", name="Reassign").click())
        frame.wait_for_function(f"{TOKEN_JS} !== {before!r}")
        after = d["territory"].copy()
        after.loc[movable] = target
        assert_table_shows(page, expected_figures(d["accounts"], after), d["names"])
        expect(
            page.get_by_text(re.compile(r"Last move: \d+ places with [\d,]+ accounts"))
        ).to_be_visible()
        # the target's colour code now covers its counties and the picked ones
        code = list(d["names"]).index(target) + 1
        owned = int((d["unit_territory"] == target).sum())
        codes = frame.evaluate("() => Array.from(window.terrmap.map.terrmap.units._codes)")
        assert codes.count(code) == owned + len(picked)

    def test_split_is_refused_then_flagged(self, app_url, page, county_demo):
        d = county_demo
        frame = open_map(page, app_url, select="Places")
        frame.wait_for_function(UNITS_READY)
        # The county of Hartford Metro (T08) farthest from Burlington Area (T01): handed
        # to T01, it cannot touch it.
        owner = d["unit_territory"]
        counties = d["counties"].loc[owner.index]
        home = counties.loc[owner[owner == "T01"].index].union_all().centroid
        others = counties.loc[owner[owner == "T08"].index].representative_point()
        county = others.index[np.argmax(np.hypot(others.x - home.x, others.y - home.y))]
        point = others[county]
        toggle = page.get_by_text("Refuse moves that split a territory", exact=True)
        run_and_wait(page, toggle.click)
        # (the toggle is below the map: back up, or the map is scrolled off)
        page.get_by_role("heading", name="Map editor").scroll_into_view_if_needed()
        focus(frame, point.y, point.x, 9)
        run_and_wait(page, lambda: click_at(page, frame, point.y, point.x))
        assert places_heading(page)[0] == 1
        choose_target(page, d["names"]["T01"])
        confirm_if_asked(page)
        run_and_wait(page, lambda: page.get_by_role("button", name="Reassign").click())
        error = page.get_by_test_id("stAlertContentError")
        expect(error).to_contain_text("Move refused")
        expect(error).to_contain_text(d["names"]["T01"])
        assert frame.locator(".terrmap-flag").filter(has_text=d["names"]["T01"]).count() == 0
        # allowed again, the move leaves Burlington Area in two pieces, flagged on the map
        run_and_wait(page, toggle.click)
        before = token(frame)
        # (the far-move confirmation is still ticked: the refused move kept the selection)
        run_and_wait(page, lambda: page.get_by_role("button", name="Reassign").click())
        frame.wait_for_function(f"{TOKEN_JS} !== {before!r}")
        flag = frame.locator(".terrmap-flag").filter(has_text=f"exclave of {d['names']['T01']}")
        expect(flag).to_have_count(1)
        # (the table's Pieces column is off to the right, out of the grid's rendered cells)
        expect(page.get_by_text(re.compile(r"In more than one piece"))).to_contain_text(
            f"{d['names']['T01']} (2 pieces)"
        )

    def test_colour_by_region(self, app_url, page, county_demo):
        d = county_demo
        frame = open_map(page, app_url, select="Places")
        frame.wait_for_function(UNITS_READY)
        choose_option(page, "Region")
        legend = frame.locator(".terrmap-legend")
        expect(legend).to_contain_text("Regions")
        for region in d["regions"].unique():
            expect(legend).to_contain_text(region)
        colors = frame.evaluate("() => window.terrmap.map.terrmap.units._colors")
        ids = list(d["names"])
        by_region: dict[str, set] = {}
        for tid, color in zip(ids, colors, strict=True):
            by_region.setdefault(d["regions"][tid], set()).add(color)
        assert all(len(c) == 1 for c in by_region.values())
        assert len({next(iter(c)) for c in by_region.values()}) == len(by_region)


# --------------------------------------------------------------------------- other layers


def _grid_layer(area: shapely.Geometry):
    """An uploaded polygon layer: half-degree sales districts over the area."""
    x0, y0, x1, y1 = area.bounds
    boxes = [
        shapely.box(x, y, x + 0.5, y + 0.5)
        for y in np.arange(np.floor(y0), y1, 0.5)
        for x in np.arange(np.floor(x0), x1, 0.5)
    ]
    frame = gpd.GeoDataFrame(
        {
            "district": [f"D{i:03d}" for i in range(len(boxes))],
            "label": [f"District {i}" for i in range(len(boxes))],
        },
        geometry=boxes,
        crs="EPSG:4326",
    )
    return units_from_polygons(frame, "district", name_field="label")


def _layer(kind: str, accounts: pd.DataFrame):
    area = study_area(np.column_stack([accounts["lon"], accounts["lat"]]))
    if kind == "h3":
        return h3_units(accounts["lon"], accounts["lat"], 5)
    if kind == "zip":
        counties = boundary_units("county", within=area).units
        return approximate_zip_units(area, counties=counties)
    return _grid_layer(area)


@pytest.fixture(scope="module", params=["h3", "zip", "uploaded"])
def layer_app(request, tmp_path_factory):
    data = generate(1200, 5, seed=8)
    units = _layer(request.param, data.accounts)
    folder = tmp_path_factory.mktemp(f"units-{request.param}")
    write_demo(data, folder)
    write_units(folder, units, definition_from_polygons(units, data.territories))
    with serve_app({**os.environ, "TERRMAP_DATA_DIR": str(folder)}) as url:
        yield request.param, url, units


def test_every_unit_layer_is_drawn(layer_app, page):
    kind, url, units = layer_app
    frame = open_map(page, url, select="Places")
    frame.wait_for_function(UNITS_READY)
    assert frame.evaluate("() => window.terrmap.map.terrmap.units.count()") == units.n_units
    wait_for_app(page)
    if kind == "zip":
        expect(page.get_by_text(re.compile(r"approximate ZIP areas"))).to_be_visible()
    # a click on a place selects it
    x0, y0, x1, y1 = units.units.total_bounds
    focus(frame, (y0 + y1) / 2, (x0 + x1) / 2, 8)
    inner = units.units.representative_point()
    near = np.hypot(inner.x - (x0 + x1) / 2, inner.y - (y0 + y1) / 2)
    target = inner.iloc[int(np.argmin(near.to_numpy()))]
    run_and_wait(page, lambda: click_at(page, frame, target.y, target.x))
    assert places_heading(page)[0] == 1
    shots = os.environ.get("TERRMAP_SHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(500)
        page.screenshot(path=str(Path(shots) / f"map-editor-{kind}.png"))
