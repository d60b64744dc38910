"""The Streamlit pages driven headless by ``AppTest``: no browser, no map.

``AppTest`` runs ``app.py`` in this process and cannot render the folium map.
Tests that involve the map page use the :func:`fake_st_folium` fixture: it
replaces ``streamlit_folium.st_folium`` with :class:`FakeStFolium`, which
records each call and returns whatever the test put in ``fake.value`` (build
it with :func:`drawn_value` or :func:`clicked_value`), exactly as the real
component returns the user's last selection::

    def test_rectangle_selects(app, fake_st_folium):
        fake_st_folium.value = drawn_value(shapely.box(-74.1, 40.6, -73.8, 40.9))
        app.run()
        ...
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from streamlit.testing.v1 import AppTest

from pages._tables import REGION_ROW
from terrmap.core.balance import balance
from terrmap.web.mapview import RETURNED_OBJECTS, parse_map_event

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
PAGES_DIR = "pages"  # the folder app.py's st.Page entries point into
TERRITORIES_PAGE = f"{PAGES_DIR}/territories.py"
MAP_PAGE = f"{PAGES_DIR}/map_editor.py"
TIMEOUT_S = 30
# The app's default balance settings (pages/_state.py).
DEFAULT_MEASURE = "revenue"
DEFAULT_TOLERANCE = 10


# --------------------------------------------------------------------------- map stand-in


class FakeStFolium:
    """Stands in for ``streamlit_folium.st_folium`` under ``AppTest``.

    Attributes
    ----------
    value : dict or None
        What the next calls return. ``None`` returns what the real component
        returns before any interaction: every requested key set to ``None``.
    calls : list of dict
        The arguments of every call (``fig``, ``key`` and the keyword
        arguments), oldest first.
    """

    def __init__(self) -> None:
        self.value: dict[str, Any] | None = None
        self.calls: list[dict[str, Any]] = []

    def __call__(self, fig: Any, key: str | None = None, **kwargs: Any) -> dict[str, Any]:
        self.calls.append({"fig": fig, "key": key, **kwargs})
        if self.value is not None:
            return self.value
        keys = kwargs.get("returned_objects") or ("last_active_drawing", "last_object_clicked")
        return dict.fromkeys(keys)


def drawn_value(polygon, *, tool: str = "rectangle", event_id: str = "test-draw-1") -> dict:
    """``st_folium``'s return value after the user drew ``polygon`` (lon/lat)."""
    return {
        "last_active_drawing": {
            "type": "Feature",
            "properties": {"terrmap_event": event_id, "terrmap_tool": tool},
            "geometry": shapely.geometry.mapping(polygon),
        },
        "last_object_clicked": None,
    }


def clicked_value(lon: float, lat: float, index: int, *, event_id: str = "test-click-1") -> dict:
    """``st_folium``'s return value after the user clicked the point at ``index``."""
    return {
        "last_active_drawing": None,
        "last_object_clicked": {
            "lat": lat,
            "lng": lon,
            "terrmap_event": event_id,
            "terrmap_index": index,
        },
    }


def _holders(function) -> list:
    # Modules of ours that imported the function by name hold their own reference.
    return [
        module
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in (PAGES_DIR, "terrmap")
        and getattr(module, "st_folium", None) is function
    ]


@pytest.fixture
def fake_st_folium(monkeypatch):
    """Replace ``st_folium`` for the test; yield the :class:`FakeStFolium`."""
    import streamlit_folium

    real = streamlit_folium.st_folium
    fake = FakeStFolium()
    monkeypatch.setattr(streamlit_folium, "st_folium", fake)
    for module in _holders(real):
        monkeypatch.setattr(module, "st_folium", fake)
    yield fake
    # A module first imported during the test picked up the fake; give it the real one.
    for module in _holders(fake):
        module.st_folium = real


# --------------------------------------------------------------------------- app fixtures


@pytest.fixture
def app() -> AppTest:
    """The app after its first run (demo data loaded, default page)."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def territories(app) -> AppTest:
    """The app showing the Territories page."""
    app.switch_page(TERRITORIES_PAGE).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def _table(at: AppTest):
    """The territory table, its rows (shown by territory name) keyed by territory id."""
    table = at.dataframe[0].value
    ctx = _history(at).current.context
    ids = dict(zip(ctx.territory_names, ctx.territory_ids, strict=True))
    return table.set_axis([ids[name] for name in table.index])


def _history(at: AppTest):
    return at.session_state["history"]


def _move(at: AppTest, n: int = 3):
    """Reassign ``n`` accounts of the smallest territory to the largest one."""
    plan = _history(at).current
    accounts = plan.metrics()["accounts"]
    source, target = accounts.idxmin(), accounts.idxmax()
    moved = plan.members(source)[:n]
    return plan.reassign(moved, target, note="test"), source, target


# --------------------------------------------------------------------------- tests


class TestFakeStFolium:
    def test_drawn_value_is_what_mapview_parses(self):
        box = shapely.box(-74.0, 40.0, -73.0, 41.0)
        event = parse_map_event(drawn_value(box, tool="lasso", event_id="e-7"))
        assert (event.kind, event.tool, event.event_id) == ("shape", "lasso", "e-7")
        assert event.geometry.equals(box)

    def test_clicked_value_is_what_mapview_parses(self):
        event = parse_map_event(clicked_value(-73.5, 40.5, 12, event_id="c-1"))
        assert (event.kind, event.index, event.event_id) == ("point", 12, "c-1")
        assert (event.geometry.x, event.geometry.y) == (-73.5, 40.5)

    def test_replaces_st_folium_and_records_calls(self, fake_st_folium):
        from streamlit_folium import st_folium

        fake_st_folium.value = {"last_active_drawing": None}
        assert st_folium("fig", key="k", height=5) == {"last_active_drawing": None}
        assert fake_st_folium.calls == [{"fig": "fig", "key": "k", "height": 5}]

    def test_default_answers_the_requested_keys_with_none(self, fake_st_folium):
        value = fake_st_folium("fig", returned_objects=["last_object_clicked"])
        assert value == {"last_object_clicked": None}


class TestStartup:
    def test_demo_data_loads_without_user_action(self, app):
        workspace = app.session_state["workspace"]
        assert workspace.name.startswith("Demo data")
        caption = next(c.value for c in app.sidebar.caption if "accounts" in c.value)
        assert f"{workspace.context.n_accounts:,} accounts" in caption
        assert f"{workspace.context.n_territories} territories" in caption

    def test_nothing_to_undo_or_redo(self, app):
        assert app.button(key="undo").disabled
        assert app.button(key="redo").disabled


class TestTerritoriesPage:
    def test_one_row_per_territory_with_the_core_figures(self, territories):
        metrics = _history(territories).current.metrics()
        shown = territories.dataframe[0].value
        assert shown.index.name == "Territory"
        assert shown.index.tolist() == metrics["name"].tolist()
        reps = territories.session_state["workspace"].reps["name"]
        assert shown["Rep"].tolist() == reps.reindex(metrics["rep_id"]).tolist()
        # What a manager looks for first, before the detail.
        assert shown.columns[:2].tolist() == ["Rep", "Δ mean %"]
        table = _table(territories)
        assert table["Accounts"].tolist() == metrics["accounts"].tolist()
        assert table["Revenue"].tolist() == pytest.approx(metrics["revenue"].tolist())
        assert table["Net profit"].tolist() == pytest.approx(metrics["net_profit"].tolist())

    def test_balance_summary_matches_the_core(self, territories):
        metrics = _history(territories).current.metrics()
        stats = balance(metrics[DEFAULT_MEASURE].astype(float), DEFAULT_TOLERANCE)
        shown = {m.label: m.value for m in territories.metric}
        assert shown["Territories outside the band"] == f"{len(stats.outside)} of {len(metrics)}"
        assert shown["Max / mean"] == f"{stats.max_over_mean:.2f}"
        assert shown["Gini"] == f"{stats.gini:.2f}"

    def test_changing_the_measure_changes_the_summary(self, territories):
        territories.selectbox(key="balance_measure").set_value("accounts").run()
        assert not territories.exception
        metrics = _history(territories).current.metrics()
        stats = balance(metrics["accounts"].astype(float), DEFAULT_TOLERANCE)
        shown = {m.label: m.value for m in territories.metric}
        assert shown["Max / mean"] == f"{stats.max_over_mean:.2f}"


class TestUndoRedo:
    def test_pushed_plan_shows_and_can_be_undone_and_redone(self, territories):
        before = _table(territories)
        new_plan, source, target = _move(territories, n=3)
        territories.session_state["history"] = _history(territories).push(new_plan)
        territories.run()
        assert not territories.exception

        after = _table(territories)
        assert after.loc[source, "Accounts"] == before.loc[source, "Accounts"] - 3
        assert after.loc[target, "Accounts"] == before.loc[target, "Accounts"] + 3
        assert after["Accounts"].sum() == before["Accounts"].sum()
        assert after.loc[target, "Δ accounts (last move)"] == 3
        assert any("1 move in this plan" in c.value for c in territories.sidebar.caption)
        assert not territories.button(key="undo").disabled
        assert territories.button(key="redo").disabled

        territories.button(key="undo").click().run()
        assert not territories.exception
        undone = _table(territories)
        assert undone["Accounts"].tolist() == before["Accounts"].tolist()
        assert "Δ accounts (last move)" not in undone.columns
        assert territories.button(key="undo").disabled
        assert not territories.button(key="redo").disabled

        territories.button(key="redo").click().run()
        assert not territories.exception
        assert _table(territories)["Accounts"].tolist() == after["Accounts"].tolist()
        assert _history(territories).current is new_plan


class TestMapPage:
    def test_map_reports_selections_only(self, fake_st_folium):
        # Panning and zooming must not rerun the app: only selections come back.
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
        at.switch_page(MAP_PAGE).run()
        assert not at.exception, [e.value for e in at.exception]
        assert fake_st_folium.calls, "the map page did not call st_folium"
        call = fake_st_folium.calls[-1]
        assert call["key"]
        assert set(call["returned_objects"]) == set(RETURNED_OBJECTS)


class TestMapSelection:
    """The map page's logic with the map's return value patched in."""

    @pytest.fixture
    def map_page(self, fake_st_folium):
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
        # The demo is built on counties, where the map selects places by default.
        at.session_state["map_select_mode"] = "accounts"
        at.switch_page(MAP_PAGE).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    @staticmethod
    def _box_around_home(plan, territory_index: int, half: float = 0.3):
        ctx = plan.context
        lat, lon = ctx.home_lat[territory_index], ctx.home_lon[territory_index]
        return shapely.box(lon - half, lat - half, lon + half, lat + half)

    def test_drawn_rectangle_selects_what_the_core_finds_and_reassigns(
        self, map_page, fake_st_folium
    ):
        from terrmap.geo.selection import select_in_polygon

        plan = _history(map_page).current
        ctx = plan.context
        box = self._box_around_home(plan, 0)
        expected = select_in_polygon(ctx.lon, ctx.lat, ctx.account_ids, box)
        assert len(expected) > 0
        fake_st_folium.value = drawn_value(box)
        map_page.session_state["terrmap_map"] = fake_st_folium.value
        map_page.run()
        assert not map_page.exception, [e.value for e in map_page.exception]
        headings = [h.value for h in map_page.subheader]
        assert f"Selection: {len(expected):,} accounts" in headings

        target = ctx.territory_ids[1]
        map_page.text_input(key="user_name").input("Dana Manager").run()
        map_page.selectbox(key="map_target").set_value(target).run()
        for box in map_page.checkbox:
            if box.key == "map_confirm_far":  # the target is far: confirm it
                box.check().run()
        map_page.button[[b.label for b in map_page.button].index("Reassign")].click().run()
        assert not map_page.exception, [e.value for e in map_page.exception]
        new_plan = _history(map_page).current
        assert new_plan.parent is plan
        assert new_plan.move.author == "Dana Manager"
        assert set(new_plan.changelog()["author"]) == {"Dana Manager"}
        assert set(new_plan.move.account_ids) == set(expected) - set(plan.members(target))
        assert (new_plan.territory_of(expected) == target).all()
        # The selection is cleared and the table shows the new figures.
        assert "Selection" in [h.value for h in map_page.subheader]
        table = map_page.dataframe[-1].value
        table = table[~table.index.str.startswith(REGION_ROW)]
        assert table["Accounts"].tolist() == new_plan.metrics()["accounts"].tolist()

    def test_a_stale_selection_is_not_applied_twice(self, map_page, fake_st_folium):
        plan = _history(map_page).current
        fake_st_folium.value = drawn_value(self._box_around_home(plan, 0), event_id="same")
        map_page.session_state["terrmap_map"] = fake_st_folium.value
        map_page.run()
        map_page.button[[b.label for b in map_page.button].index("Clear selection")].click().run()
        # st_folium keeps returning the last drawing on unrelated reruns.
        map_page.run()
        assert "Selection" in [h.value for h in map_page.subheader]

    def test_click_selects_the_account_and_labels_it(self, map_page, fake_st_folium):
        plan = _history(map_page).current
        ctx = plan.context
        xy = np.column_stack([ctx.lon, ctx.lat])
        _, first, counts = np.unique(xy, axis=0, return_index=True, return_counts=True)
        i = int(first[counts == 1][0])
        fake_st_folium.value = clicked_value(float(ctx.lon[i]), float(ctx.lat[i]), i)
        map_page.session_state["terrmap_map"] = fake_st_folium.value
        map_page.run()
        assert "Selection: 1 account" in [h.value for h in map_page.subheader]
        layer = fake_st_folium.calls[-1]["feature_group_to_add"]
        payload = json.loads(next(iter(layer._children.values())).payload)
        name = _state_accounts(map_page)["name"].iloc[i]
        assert [c["i"] for c in payload["callouts"]] == [i]
        assert payload["callouts"][0]["html"].startswith(html.escape(name))
        assert "net profit" in payload["callouts"][0]["html"]

    def _select_box(self, map_page, fake_st_folium, territory_index: int, event_id: str = "box"):
        plan = _history(map_page).current
        ctx = plan.context
        box = self._box_around_home(plan, territory_index)
        fake_st_folium.value = drawn_value(box, event_id=event_id)
        map_page.session_state["terrmap_map"] = fake_st_folium.value
        map_page.run()
        assert not map_page.exception, [e.value for e in map_page.exception]
        from terrmap.geo.selection import select_in_polygon

        return ctx.positions(select_in_polygon(ctx.lon, ctx.lat, ctx.account_ids, box))

    def test_hand_them_to_starts_at_the_suggested_territory(self, map_page, fake_st_folium):
        from terrmap.geo.handoff import suggest_target

        plan = _history(map_page).current
        last = plan.context.n_territories - 1
        picked = self._select_box(map_page, fake_st_folium, last)
        suggestion = suggest_target(plan, picked)
        assert map_page.selectbox(key="map_target").value == suggestion.territory_id
        assert any(suggestion.reason in c.value for c in map_page.caption)

    def test_a_far_target_asks_for_confirmation(self, map_page, fake_st_folium):
        from terrmap.core.travel import haversine_km

        plan = _history(map_page).current
        ctx = plan.context
        picked = self._select_box(map_page, fake_st_folium, 0)
        far = ctx.territory_ids[
            int(
                np.nanargmax(
                    haversine_km(ctx.home_lon[0], ctx.home_lat[0], ctx.home_lon, ctx.home_lat)
                )
            )
        ]
        map_page.selectbox(key="map_target").set_value(far).run()
        reassign = map_page.button[[b.label for b in map_page.button].index("Reassign")]
        assert reassign.disabled
        assert any("km from" in w.value for w in map_page.warning)
        map_page.checkbox(key="map_confirm_far").check().run()
        reassign = map_page.button[[b.label for b in map_page.button].index("Reassign")]
        assert not reassign.disabled
        reassign.click().run()
        moved = _history(map_page).current
        assert (moved.codes[picked] == ctx.territory_code(far)).all()
        # After an undo, a new selection starts unconfirmed.
        map_page.button(key="undo").click().run()
        self._select_box(map_page, fake_st_folium, 0, event_id="again")
        map_page.selectbox(key="map_target").set_value(far).run()
        assert map_page.button[[b.label for b in map_page.button].index("Reassign")].disabled


class TestPlaceSelection:
    """Selecting places (units) on the county demo, with the map's return value patched in."""

    @pytest.fixture
    def map_page(self, fake_st_folium):
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
        at.switch_page(MAP_PAGE).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    @staticmethod
    def _expected(map_page, box):
        """Counties whose representative point is in ``box`` and their movable accounts (geopandas)."""
        import geopandas as gpd

        ws = map_page.session_state["workspace"]
        plan = _history(map_page).current
        counties = ws.units.units
        inside = counties.representative_point().within(box)
        chosen = counties[inside.to_numpy()]
        points = gpd.GeoDataFrame(
            geometry=gpd.points_from_xy(ws.accounts["lon"], ws.accounts["lat"]),
            index=ws.accounts.index,
            crs="EPSG:4326",
        )
        held = gpd.sjoin(points, chosen[["geometry"]], predicate="within").index.unique()
        movable = held.difference(plan.exceptions.index)
        return list(chosen.index), movable

    def _draw(self, map_page, fake_st_folium, box, event_id):
        fake_st_folium.value = drawn_value(box, event_id=event_id)
        map_page.session_state["terrmap_map"] = fake_st_folium.value
        map_page.run()
        assert not map_page.exception, [e.value for e in map_page.exception]

    def test_rectangle_selects_counties_and_moves_them(self, map_page, fake_st_folium):
        plan = _history(map_page).current
        box = shapely.box(-73.3, 41.2, -72.0, 42.0)  # central Connecticut
        units, movable = self._expected(map_page, box)
        assert len(units) > 1 and len(movable) > 0
        self._draw(map_page, fake_st_folium, box, "places-1")
        headings = [h.value for h in map_page.subheader]
        assert f"Selection: {len(units)} places, {len(movable):,} accounts" in headings, headings
        # the map highlights the places and rings the exceptions
        layer = fake_st_folium.calls[-1]["feature_group_to_add"]
        payload = json.loads(next(iter(layer._children.values())).payload)
        assert payload["select_units"] is True and payload["unit_selected"] is not None
        # rings on exactly the named exceptions of data/definition.json
        import base64

        definition = json.loads((ROOT / "data" / "definition.json").read_text(encoding="utf-8"))
        ids = _state_accounts(map_page).index
        bits = np.unpackbits(
            np.frombuffer(base64.b64decode(payload["rings"]), np.uint8), bitorder="little"
        )[: len(ids)]
        assert sorted(ids[bits.astype(bool)]) == sorted(definition["exceptions"])
        target = plan.context.territory_ids[0]
        map_page.selectbox(key="map_target").set_value(target).run()
        for box_ in map_page.checkbox:
            if box_.key == "map_confirm_far":
                box_.check().run()
        map_page.button[[b.label for b in map_page.button].index("Reassign")].click().run()
        assert not map_page.exception, [e.value for e in map_page.exception]
        moved = _history(map_page).current
        assert moved.parent is plan
        assert sorted(moved.move.unit_ids) == sorted(units)
        assert (moved.territory_of(movable) == target).all()
        # exceptions in those counties stayed with their territory
        stayed = plan.exceptions.index
        assert moved.territory_of(stayed).tolist() == plan.territory_of(stayed).tolist()

    def test_refused_split_says_why_and_changes_nothing(self, map_page, fake_st_folium):
        plan = _history(map_page).current
        map_page.toggle(key="map_keep_contiguous").set_value(True).run()
        # Hand a county in the middle of a territory to a far one: its old territory
        # stays whole only if the county was at its edge, the new one gets an exclave.
        ws = map_page.session_state["workspace"]
        counties = ws.units.units
        unit_territory = plan.unit_assignment
        target = plan.context.territory_ids[0]
        far = unit_territory[unit_territory != target].index
        far_points = counties.loc[far].representative_point()
        degrees = np.hypot(
            far_points.x - plan.context.home_lon[0], far_points.y - plan.context.home_lat[0]
        )
        county = degrees.idxmax()
        point = far_points[county]
        self._draw(map_page, fake_st_folium, point.buffer(0.01), "split-1")
        assert any("1 place" in h.value for h in map_page.subheader)
        map_page.selectbox(key="map_target").set_value(target).run()
        for box_ in map_page.checkbox:
            if box_.key == "map_confirm_far":
                box_.check().run()
        map_page.button[[b.label for b in map_page.button].index("Reassign")].click().run()
        assert _history(map_page).current is plan
        errors = [e.value for e in map_page.error]
        name = plan.context.territory_names[0]
        assert any("Move refused" in e and name in e for e in errors), errors
        # allowed, the move gives the target an exclave: two pieces in the table
        map_page.toggle(key="map_keep_contiguous").set_value(False).run()
        map_page.button[[b.label for b in map_page.button].index("Reassign")].click().run()
        assert _history(map_page).current.parent is plan
        table = map_page.dataframe[-1].value
        assert table.loc[name, "Pieces"] == 2

    def test_region_colours_and_moving_a_territory(self, map_page, fake_st_folium):
        plan = _history(map_page).current
        regions = plan.layout.regions
        map_page.session_state["map_colour_by"] = "region"
        map_page.run()
        layer = fake_st_folium.calls[-1]["feature_group_to_add"]
        payload = json.loads(next(iter(layer._children.values())).payload)
        assert payload["legend_title"] == "Regions"
        assert [row["html"] for row in payload["legend"]] == list(dict.fromkeys(regions))
        by_region = {}
        for tid, color in zip(plan.context.territory_ids, payload["colors"], strict=True):
            by_region.setdefault(regions[tid], set()).add(color)
        assert all(len(c) == 1 for c in by_region.values())
        assert len(set.union(*by_region.values())) == len(by_region)
        # move the first territory to the other region
        first = plan.context.territory_ids[0]
        other = next(r for r in dict.fromkeys(regions) if r != regions[first])
        map_page.selectbox(key="map_region_territory").set_value(first).run()
        map_page.selectbox(key="map_region_target").set_value(other).run()
        map_page.button[[b.label for b in map_page.button].index("Move to region")].click().run()
        moved = _history(map_page).current
        assert moved.layout.regions[first] == other
        table = map_page.dataframe[-1].value
        rolled = table[table.index.str.startswith(REGION_ROW)]
        metrics = moved.metrics()
        expected = metrics.groupby(moved.layout.regions.reindex(metrics.index).to_numpy())[
            "accounts"
        ].sum()
        for region, accounts in expected.items():
            assert rolled.loc[f"{REGION_ROW}{region}", "Accounts"] == accounts


def _state_accounts(at: AppTest):
    return at.session_state["workspace"].accounts
