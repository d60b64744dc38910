"""Units on the map: picking places, exclaves, outlines for the browser, regions."""

import html
import json
import re
from collections import deque

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from terrmap.core.context import Context
from terrmap.core.definition import Definition, Rule
from terrmap.core.layout import exclave_units, territory_pieces, unit_pieces
from terrmap.core.plan import Plan
from terrmap.geo.palette import NO_REGION_COLOR, PALETTE, region_colors
from terrmap.geo.unitmap import (
    exclave_flags,
    movable_accounts,
    unit_at,
    unit_rings,
    units_in_shape,
)
from terrmap.geo.units import units_from_polygons
from terrmap.store.scenarios import _moves_blob, _read_moves
from terrmap.web.editor import selected_units, units_table
from terrmap.web.mapview import MapEvent, build_update_layer
from terrmap.web.unitlayer import UNITS_MAGIC, units_file_bytes

#: Five units: the four squares of the grid fixture and an empty one (U-X)
#: east of NE. Accounts a..h sit two per square (see conftest).
#:
#:     +------+------+------+
#:     | U-NW | U-NE | U-X  |
#:     +------+------+------+
#:     | U-SW | U-SE |
#:     +------+------+
BOXES = {
    "U-SW": (0, 0, 1, 1),
    "U-SE": (1, 0, 2, 1),
    "U-NW": (0, 1, 1, 2),
    "U-NE": (1, 1, 2, 2),
    "U-X": (2, 1, 3, 2),
}
ACCOUNT_UNITS = np.array([0, 0, 1, 1, 2, 2, 3, 3])


@pytest.fixture
def layer():
    frame = gpd.GeoDataFrame(
        {"code": list(BOXES), "label": ["SW county", "SE county", "NW", "NE", "X"]},
        geometry=[shapely.box(*b) for b in BOXES.values()],
        crs="EPSG:4326",
    )
    return units_from_polygons(frame, "code", name_field="label")


def _plan(grid_accounts, grid_territories, grid_reps, layer, **definition) -> Plan:
    context = Context.build(grid_accounts, grid_territories, grid_reps)
    unit_territory = definition.pop(
        "unit_territory", {"U-SW": "SW", "U-SE": "SE", "U-NW": "NW", "U-NE": "NE"}
    )
    return Plan.from_definition(
        context,
        Definition(unit_kind="uploaded", unit_territory=pd.Series(unit_territory), **definition),
        layer.unit_ids,
        ACCOUNT_UNITS,
        accounts=grid_accounts,
        pairs=layer.adjacency().pairs,
    )


@pytest.fixture
def plan(grid_accounts, grid_territories, grid_reps, layer):
    return _plan(
        grid_accounts,
        grid_territories,
        grid_reps,
        layer,
        exceptions=pd.Series({"ACC-b": "NE"}),
        rules=(Rule("SE", "revenue", ">=", 100_000),),
        regions=pd.Series({"SW": "South", "SE": "South", "NW": "North", "NE": "North"}),
    )


# --------------------------------------------------------------------------- pieces


def _bfs_pieces(codes: np.ndarray, pairs: np.ndarray) -> list[set[int]]:
    """Connected pieces of each territory, by breadth-first search (the naive way)."""
    neighbours = {i: set() for i in range(len(codes))}
    for a, b in pairs.tolist():
        if codes[a] == codes[b] and codes[a] >= 0:
            neighbours[a].add(b)
            neighbours[b].add(a)
    seen, pieces = set(), []
    for start in range(len(codes)):
        if codes[start] < 0 or start in seen:
            continue
        piece, queue = {start}, deque([start])
        while queue:
            for nxt in neighbours[queue.popleft()] - piece:
                piece.add(nxt)
                queue.append(nxt)
        seen |= piece
        pieces.append(piece)
    return pieces


def _grid_pairs(width: int, height: int) -> np.ndarray:
    pairs = []
    for y in range(height):
        for x in range(width):
            i = y * width + x
            if x + 1 < width:
                pairs.append((i, i + 1))
            if y + 1 < height:
                pairs.append((i, i + width))
    return np.array(pairs, dtype=np.int64)


class TestPieces:
    def test_a_territory_cut_in_two_has_one_exclave(self):
        # 0 0 1 0 0 0 along a line: territory 0 is in two pieces, the right one bigger.
        codes = np.array([0, 0, 1, 0, 0, 0])
        pairs = np.array([[i, i + 1] for i in range(5)])
        assert territory_pieces(codes, pairs, 2).tolist() == [2, 1]
        labels = exclave_units(codes, pairs)
        assert (labels >= 0).tolist() == [True, True, False, False, False, False]
        assert len(set(unit_pieces(codes, pairs)[[0, 1]])) == 1

    def test_white_space_is_in_no_piece(self):
        codes = np.array([-1, 0, -1])
        pairs = np.array([[0, 1], [1, 2]])
        assert unit_pieces(codes, pairs).tolist()[::2] == [-1, -1]
        assert exclave_units(codes, pairs).tolist() == [-1, -1, -1]

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.integers(-1, 2), min_size=12, max_size=12))
    def test_main_piece_is_one_largest_piece_per_territory(self, codes):
        codes = np.array(codes)
        pairs = _grid_pairs(4, 3)
        pieces = _bfs_pieces(codes, pairs)
        labels = exclave_units(codes, pairs)
        for territory in range(3):
            mine = [p for p in pieces if codes[next(iter(p))] == territory]
            if not mine:
                continue
            main = {u for p in mine for u in p if labels[u] < 0}
            # the units left out of exclaves are exactly one of the largest pieces
            assert main in [p for p in mine if len(p) == max(map(len, mine))]
            assert territory_pieces(codes, pairs, 3)[territory] == len(mine)
            # every exclave label names exactly one naive piece
            for piece in mine:
                if piece != main:
                    assert len({int(labels[u]) for u in piece}) == 1


# --------------------------------------------------------------------------- picking


class TestPicking:
    def test_a_shape_picks_the_units_whose_middle_it_holds(self, layer):
        # Covers all of U-SW and a sliver of U-SE: only U-SW is picked.
        picked = units_in_shape(layer, shapely.box(-0.5, -0.5, 1.2, 1.0))
        assert layer.unit_ids[picked].tolist() == ["U-SW"]

    def test_a_lasso_over_the_north_picks_three(self, layer):
        lasso = shapely.Polygon([(-0.2, 1.1), (3.2, 1.1), (3.2, 1.9), (-0.2, 1.9)])
        assert layer.unit_ids[units_in_shape(layer, lasso)].tolist() == ["U-NW", "U-NE", "U-X"]

    def test_a_point_is_no_shape(self, layer):
        with pytest.raises(ValueError, match="polygon"):
            units_in_shape(layer, shapely.Point(0.5, 0.5))

    def test_click_picks_the_unit_under_it(self, layer):
        assert layer.unit_ids[unit_at(layer, 2.5, 1.5)] == "U-X"
        assert unit_at(layer, 5.0, 5.0) == -1

    def test_map_events(self, layer):
        shape = MapEvent("shape", "e1", "rectangle", shapely.box(0.1, 0.1, 1.9, 0.9))
        assert layer.unit_ids[selected_units(shape, layer)].tolist() == ["U-SW", "U-SE"]
        click = MapEvent("point", "e2", "click", shapely.Point(0.5, 1.5), -1)
        assert layer.unit_ids[selected_units(click, layer)].tolist() == ["U-NW"]
        nowhere = MapEvent("point", "e3", "click", shapely.Point(9, 9), -1)
        assert selected_units(nowhere, layer).tolist() == []

    def test_exceptions_and_rule_accounts_do_not_move_with_their_place(self, plan, layer):
        # U-SW holds a (claimed by the revenue rule) and b (an exception): neither moves.
        sw, se = layer.unit_ids.get_indexer(["U-SW", "U-SE"])
        assert movable_accounts(plan, np.array([sw])).tolist() == []
        ids = plan.context.account_ids
        assert ids[movable_accounts(plan, np.array([sw, se]))].tolist() == ["ACC-c", "ACC-d"]
        # ... and that is what a unit move carries
        moved = plan.reassign_units(["U-SW", "U-SE"], "NW")
        assert sorted(moved.move.account_ids) == ["ACC-c", "ACC-d"]

    def test_units_table(self, plan, layer):
        table = units_table(plan, layer, [0, 4])
        assert table.index.tolist() == ["X (U-X)", "SW county (U-SW)"]  # by territory
        assert table["Territory"].tolist() == ["(unassigned)", "South-West"]
        assert table["Accounts"].tolist() == [0, 2]


# --------------------------------------------------------------------------- exclaves


class TestExclaveFlags:
    def test_none_when_every_territory_is_whole(self, plan, layer):
        assert exclave_flags(plan, layer).empty

    def test_flag_sits_in_the_exclave(self, grid_accounts, grid_territories, grid_reps, layer):
        # SW holds U-SW and U-X, which touch neither each other nor any SW unit.
        split = _plan(
            grid_accounts,
            grid_territories,
            grid_reps,
            layer,
            unit_territory={"U-SW": "SW", "U-X": "SW", "U-SE": "SE", "U-NW": "NW", "U-NE": "NE"},
        )
        flags = exclave_flags(split, layer)
        assert flags["territory_id"].tolist() == ["SW"]
        assert flags["units"].tolist() == [1]
        # one of the two pieces is flagged, inside its unit
        flagged = shapely.Point(flags["lon"].iloc[0], flags["lat"].iloc[0])
        assert shapely.box(*BOXES["U-SW"]).contains(flagged) or shapely.box(*BOXES["U-X"]).contains(
            flagged
        )

    def test_a_move_that_splits_is_flagged(self, plan, layer):
        # Handing U-NE to SW leaves SW in two pieces (U-SW, and U-NE touching it at a corner).
        moved = plan.reassign_units(["U-NE"], "SW")
        flags = exclave_flags(moved, layer)
        assert flags["territory_id"].tolist() == ["SW"]
        assert moved.contiguity().loc["SW", "pieces"] == 2


# --------------------------------------------------------------------------- outlines


def _parse_units_file(data: bytes):
    """Read the unit file as js/terrmap_units.js does."""
    assert data[:4] == UNITS_MAGIC
    n, nr, nc = np.frombuffer(data, "<u4", 3, 4)
    at = 16
    unit_start = np.frombuffer(data, "<i4", n + 1, at)
    at += 4 * (n + 1)
    ring_start = np.frombuffer(data, "<i4", nr + 1, at)
    at += 4 * (nr + 1)
    coords = np.frombuffer(data, "<f4", 2 * nc, at).reshape(-1, 2)
    assert at + 8 * nc == len(data)
    return unit_start, ring_start, coords


class TestOutlines:
    def test_file_holds_every_unit_ring(self, layer):
        unit_start, ring_start, coords = _parse_units_file(units_file_bytes(layer, 0.0))
        assert len(unit_start) == layer.n_units + 1
        for u, box in enumerate(BOXES.values()):
            rings = range(unit_start[u], unit_start[u + 1])
            assert len(rings) == 1
            ring = coords[ring_start[rings[0]] : ring_start[rings[0] + 1]]
            assert shapely.Polygon(ring).equals(shapely.box(*box))

    def test_holes_and_parts_are_kept(self):
        donut = shapely.box(0, 0, 4, 4).difference(shapely.box(1, 1, 2, 2))
        islands = shapely.MultiPolygon([shapely.box(5, 0, 6, 1), shapely.box(7, 0, 8, 1)])
        frame = gpd.GeoDataFrame({"id": ["D", "I"]}, geometry=[donut, islands], crs="EPSG:4326")
        rings = unit_rings(units_from_polygons(frame, "id"))
        assert np.diff(rings.unit_start).tolist() == [2, 2]

    def test_simplified_outlines_stay_close(self):
        wiggly = shapely.Point(0, 0).buffer(1.0, quad_segs=64)
        frame = gpd.GeoDataFrame({"id": ["C"]}, geometry=[wiggly], crs="EPSG:4326")
        layer = units_from_polygons(frame, "id")
        fine = unit_rings(layer)
        coarse = unit_rings(layer, 0.01)
        assert len(coarse.coords) < len(fine.coords)
        drawn = shapely.Polygon(coarse.coords)
        assert shapely.hausdorff_distance(drawn, wiggly) <= 0.0101

    def test_negative_tolerance(self, layer):
        with pytest.raises(ValueError, match="tolerance"):
            unit_rings(layer, -1.0)


# --------------------------------------------------------------------------- regions


class TestRegionColours:
    def test_no_region_gets_its_own_colour_last(self):
        colors, legend = region_colors(pd.Series({"A": "West"}), ["B", "A"])
        assert colors == [NO_REGION_COLOR, PALETTE[0]]
        assert list(legend.items()) == [("West", PALETTE[0]), (None, NO_REGION_COLOR)]
        assert NO_REGION_COLOR not in PALETTE

    def test_more_regions_than_colours_cycle(self):
        regions = pd.Series({f"T{i}": f"R{i}" for i in range(len(PALETTE) + 2)})
        colors, legend = region_colors(regions, list(regions.index))
        assert colors[len(PALETTE)] == PALETTE[0]
        assert len(legend) == len(PALETTE) + 2


class TestMoveToRegion:
    def test_new_plan_parent_untouched(self, plan):
        before = plan.layout.regions.copy()
        moved = plan.move_to_region("NE", "South")
        pd.testing.assert_series_equal(plan.layout.regions, before)
        assert moved.layout.regions["NE"] == "South"
        assert moved.parent is plan and moved.move.region == ("NE", "South")
        assert len(moved.move) == 0
        pd.testing.assert_frame_equal(moved.metrics(), plan.metrics())
        np.testing.assert_array_equal(moved.codes, plan.codes)

    def test_new_region_and_no_region(self, plan):
        assert plan.move_to_region("NE", "  Central ").layout.regions["NE"] == "Central"
        assert "NE" not in plan.move_to_region("NE", None).layout.regions.index

    def test_same_region_is_no_move(self, plan):
        assert plan.move_to_region("NE", "North") is plan

    def test_bad_input(self, plan):
        with pytest.raises(ValueError, match="blank"):
            plan.move_to_region("NE", "  ")
        with pytest.raises(KeyError):
            plan.move_to_region("XX", "North")

    def test_definition_and_replay_follow(self, plan):
        moved = plan.move_to_region("SW", "North")
        assert moved.definition().regions["SW"] == "North"
        replayed = plan.replay(moved.move)
        pd.testing.assert_series_equal(replayed.layout.regions, moved.layout.regions)

    def test_stored_moves_keep_the_region(self, plan):
        moved = plan.move_to_region("SW", "North").reassign_units(["U-NE"], "NW")
        restored = _read_moves(_moves_blob(moved.moves))
        assert restored[0].region == ("SW", "North")
        assert restored[1].region is None and restored[1].unit_ids == ("U-NE",)


# --------------------------------------------------------------------------- update layer


def _payload(fg) -> dict:
    script = next(iter(fg._children.values()))
    text = script.payload
    return json.loads(text)


class TestUpdateLayer:
    TERR = pd.DataFrame({"name": ["North", "South"]}, index=["T1", "T2"])

    def test_units_rings_flags_legend(self):
        fg = build_update_layer(
            [0, 1, -1],
            self.TERR,
            unit_codes=np.array([1, -1, 0, 1]),
            selected_units=[False, True, False, False],
            select_units=True,
            rings=[True, False, False],
            flags=[{"lat": 1.0, "lng": 2.0, "text": "⚠ exclave of <b>North</b>"}],
            legend=[("East & <i>co</i>", "#123456")],
            legend_title="Regions",
        )
        p = _payload(fg)
        assert np.frombuffer(__import__("base64").b64decode(p["units"]), "u1").tolist() == [
            2,
            0,
            1,
            2,
        ]
        assert p["select_units"] is True
        assert p["flags"][0]["html"] == html.escape("⚠ exclave of <b>North</b>")
        assert p["legend"] == [{"html": "East &amp; &lt;i&gt;co&lt;/i&gt;", "color": "#123456"}]
        assert p["legend_title"] == "Regions"
        assert p["rings"] is not None and p["unit_selected"] is not None

    def test_unit_code_out_of_range(self):
        with pytest.raises(ValueError, match="unit code out of range"):
            build_update_layer([0], self.TERR, unit_codes=np.array([2]))

    def test_selected_units_must_match(self):
        with pytest.raises(ValueError, match="selected_units"):
            build_update_layer([0], self.TERR, unit_codes=np.array([0, 1]), selected_units=[True])
        with pytest.raises(ValueError, match="needs unit_codes"):
            build_update_layer([0], self.TERR, selected_units=[True])

    def test_bad_legend_colour(self):
        with pytest.raises(ValueError, match="legend"):
            build_update_layer([0], self.TERR, legend=[("x", "red")])

    def test_no_markup_leaks(self):
        fg = build_update_layer(
            [0], self.TERR, flags=[{"lat": 0, "lng": 0, "text": "</script><script>"}]
        )
        assert not re.search(r"</script", next(iter(fg._children.values())).payload, re.I)


# --------------------------------------------------------------------------- redrawing


class TestRedrawAfterUnitMoves:
    """Shapes redrawn move by move equal the units dissolved from scratch (county demo)."""

    @pytest.fixture(scope="class")
    def county(self):
        from terrmap.demo import demo_workspace
        from terrmap.geo.drawing import map_data

        ws = demo_workspace()
        return ws, map_data(ws)

    def test_incremental_equals_full_dissolve(self, county):
        from terrmap.geo.drawing import plan_shapes
        from terrmap.geo.units import dissolved

        ws, data = county
        rng = np.random.default_rng(5)
        plan = ws.initial_plan
        plan_shapes(plan, data)
        ids = list(plan.context.territory_ids)
        for _ in range(12):
            units = rng.choice(plan.layout.unit_ids, size=int(rng.integers(1, 4)), replace=False)
            target = rng.choice([*ids, None])
            plan = plan.reassign_units(units, target)
            drawn = plan_shapes(plan, data)  # from the parent's shapes
            full = dissolved(ws.units, plan.unit_assignment, ids)
            for territory in ids:
                a, b = drawn.geometry[territory], full[territory]
                if shapely.is_empty(b):
                    assert shapely.is_empty(a) or shapely.area(a) < 1e-12, territory
                    continue
                overlap = shapely.area(shapely.intersection(a, b)) / shapely.area(
                    shapely.union(a, b)
                )
                assert overlap == pytest.approx(1.0, abs=1e-9), territory
                assert shapely.get_type_id(a) in (3, 6)
