"""Tests for terrmap.geo.shapes: territory polygons that follow the assignment."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from terrmap.geo.shapes import (
    CellIndex,
    build_cells,
    simplify_for_display,
    split_cells,
    study_area,
    territory_shapes,
    update_shapes,
)

SQUARE = shapely.box(0, 0, 2, 2)
# Sites are snapped to a ~1 cm grid, so borders may move by that much.
AREA_TOL = 1e-6


def _lattice(k: int) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """A k x k lattice of unit spacing: many cocircular sites."""
    lon, lat = np.meshgrid(np.arange(k, dtype=float), np.arange(k, dtype=float), indexing="ij")
    ids = pd.Index([f"p{i}" for i in range(k * k)], name="account_id")
    return lon.ravel(), lat.ravel(), ids


def _assert_drawn_right(cells: CellIndex, shapes: gpd.GeoDataFrame, assignment: pd.Series) -> None:
    """Every account is inside the shape of its cell's territory and no other."""
    lon = cells.cell_lon[cells.account_cell]
    lat = cells.cell_lat[cells.account_cell]
    owner = assignment.reindex(cells.account_ids).to_numpy()[cells.cell_account]
    drawn_in = owner[cells.account_cell]
    assert shapely.is_valid(shapes.geometry.values).all()
    for territory, geom in shapes.geometry.items():
        inside = shapely.contains_xy(geom, lon, lat)
        mine = np.asarray(pd.Series(drawn_in).eq(territory).fillna(False), dtype=bool)
        assert (inside == mine).all(), (territory, cells.account_ids[inside != mine].tolist())
    union = shapely.union_all(shapes.geometry.values)
    assert shapely.area(shapes.geometry.values).sum() == pytest.approx(union.area, abs=1e-9)


@pytest.fixture
def grid_cells(grid_accounts, grid_territories) -> CellIndex:
    return build_cells(
        grid_accounts["lon"].to_numpy(),
        grid_accounts["lat"].to_numpy(),
        grid_accounts.index,
        study_area(grid_territories),
    )


@pytest.fixture
def by_square(grid_accounts) -> pd.Series:
    """The conftest accounts assigned to the square they lie in."""
    return pd.Series(
        ["SW", "SW", "SE", "SE", "NW", "NW", "NE", "NE"], index=grid_accounts.index, dtype="string"
    )


class TestStudyArea:
    def test_union_of_territories(self, grid_territories):
        area = study_area(grid_territories)
        assert area.equals(SQUARE)

    def test_points_give_buffered_hull(self):
        points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        area = study_area(points, buffer_km=10)
        assert shapely.contains_xy(area, points[:, 0], points[:, 1]).all()
        # 10 km is about 0.09 degrees at the equator.
        assert area.bounds[0] == pytest.approx(-0.09, abs=0.005)
        assert area.area > 0.5

    def test_accounts_frame_accepted(self, grid_accounts):
        area = study_area(grid_accounts, buffer_km=0)
        assert area.bounds == pytest.approx((0.25, 0.5, 1.75, 1.5))

    def test_single_point_needs_a_buffer(self):
        assert study_area(np.array([[5.0, 5.0]])).area > 0
        with pytest.raises(ValueError, match="empty"):
            study_area(np.array([[5.0, 5.0]]), buffer_km=0)

    def test_mixed_geometries_rejected(self):
        mixed = gpd.GeoSeries([shapely.Point(0, 0), shapely.box(0, 0, 1, 1)], crs="EPSG:4326")
        with pytest.raises(ValueError, match="not a mix"):
            study_area(mixed)

    def test_crs84_accepted(self, grid_territories):
        crs84 = grid_territories.set_crs("OGC:CRS84", allow_override=True)
        assert study_area(crs84).equals(SQUARE)

    def test_wrong_crs_named(self, grid_territories):
        with pytest.raises(ValueError, match="EPSG:3857"):
            study_area(grid_territories.to_crs("EPSG:3857"))

    def test_negative_buffer(self, grid_territories):
        with pytest.raises(ValueError, match="-1"):
            study_area(grid_territories, buffer_km=-1)


class TestBuildCells:
    def test_colocated_accounts_share_a_cell(self):
        cells = build_cells(
            np.array([0.0, 1.0, 0.0, np.nan]),
            np.array([0.0, 0.0, 0.0, 1.0]),
            pd.Index(["a", "b", "c", "d"]),
            SQUARE,
        )
        assert cells.n_cells == 2
        assert cells.account_cell[0] == cells.account_cell[2]
        assert cells.account_cell[3] == -1
        assert cells.account_ids[cells.cell_account].tolist() == ["a", "b"]

    def test_arrays_are_read_only(self, grid_cells):
        with pytest.raises(ValueError, match="read-only"):
            grid_cells.account_cell[0] = 3
        with pytest.raises(AttributeError):
            grid_cells.area = SQUARE  # type: ignore[misc]

    def test_inputs_not_mutated(self, grid_accounts):
        lon = grid_accounts["lon"].to_numpy().copy()
        before = lon.copy()
        build_cells(lon, grid_accounts["lat"].to_numpy(), grid_accounts.index)
        np.testing.assert_array_equal(lon, before)

    def test_length_mismatch(self):
        with pytest.raises(ValueError, match="differ in length: 2, 1, 2"):
            build_cells(np.zeros(2), np.zeros(1), pd.Index(["a", "b"]))

    def test_duplicate_ids(self):
        with pytest.raises(ValueError, match="not unique.*'a'"):
            build_cells(np.arange(2.0), np.zeros(2), pd.Index(["a", "a"]))

    def test_area_must_be_polygonal(self):
        with pytest.raises(ValueError, match="LineString"):
            build_cells(
                np.arange(2.0),
                np.zeros(2),
                pd.Index(["a", "b"]),
                shapely.LineString([(0, 0), (1, 1)]),
            )

    def test_no_accounts_with_explicit_area(self):
        cells = build_cells(np.empty(0), np.empty(0), pd.Index([]), SQUARE)
        shapes = territory_shapes(cells, pd.Series([], dtype="string"), ["A"])
        assert shapes.geometry["A"].is_empty


class TestTerritoryShapes:
    """The conftest accounts sit on a lattice whose Voronoi cells are the
    half-squares, so with each account in its own square the shapes are the
    squares exactly::

        +------+------+
        | e  f | g  h |
        +------+------+
        | a  b | c  d |
        +------+------+
    """

    def test_squares_reproduced(self, grid_cells, by_square, grid_territories):
        shapes = territory_shapes(grid_cells, by_square)
        assert shapes.index.tolist() == ["NE", "NW", "SE", "SW"]
        assert shapes.index.name == "territory_id"
        assert shapes.crs == "EPSG:4326"
        for territory, square in grid_territories.geometry.items():
            assert shapes.geometry[territory].symmetric_difference(square).area < AREA_TOL

    def test_moved_account_takes_its_cell_along(self, grid_cells, by_square):
        moved = by_square.copy()
        moved["ACC-b"] = "SE"
        shapes = territory_shapes(grid_cells, moved)
        assert shapes.geometry["SE"].symmetric_difference(shapely.box(0.5, 0, 2, 1)).area < AREA_TOL
        assert shapes.geometry["SW"].symmetric_difference(shapely.box(0, 0, 0.5, 1)).area < AREA_TOL
        _assert_drawn_right(grid_cells, shapes, moved)

    def test_requested_order_and_empty_territory(self, grid_cells, by_square):
        shapes = territory_shapes(grid_cells, by_square, ["SW", "EMPTY", "NE"])
        assert shapes.index.tolist() == ["SW", "EMPTY", "NE"]
        assert shapes.geometry["EMPTY"].is_empty
        assert shapes.geometry["EMPTY"].geom_type == "Polygon"

    def test_unassigned_cell_is_a_gap(self, grid_cells, by_square):
        partial = by_square.copy()
        partial["ACC-a"] = pd.NA
        shapes = territory_shapes(grid_cells, partial)
        assert not shapely.contains_xy(shapely.union_all(shapes.geometry.values), 0.25, 0.5)
        assert shapes.geometry["SW"].symmetric_difference(shapely.box(0.5, 0, 1, 1)).area < AREA_TOL

    def test_missing_accounts_count_as_unassigned(self, grid_cells, by_square):
        shapes = territory_shapes(grid_cells, by_square.drop("ACC-a"))
        assert shapes.geometry["SW"].area == pytest.approx(0.5)

    def test_inputs_not_mutated(self, grid_cells, by_square):
        before = by_square.copy()
        territory_shapes(grid_cells, by_square)
        pd.testing.assert_series_equal(by_square, before)

    def test_hole_around_an_enclave(self):
        lon, lat, ids = _lattice(3)
        assignment = pd.Series("RING", index=ids)
        assignment["p4"] = "ISLAND"  # the centre
        cells = build_cells(lon, lat, ids, shapely.box(-0.5, -0.5, 2.5, 2.5))
        shapes = territory_shapes(cells, assignment)
        ring = shapes.geometry["RING"]
        assert ring.geom_type == "Polygon" and len(ring.interiors) == 1
        assert not ring.contains(shapely.Point(1, 1))
        _assert_drawn_right(cells, shapes, assignment)

    def test_hole_closed_by_two_pinched_faces(self):
        """The pattern that defeats an even-odd ``build_area``: A's hole is
        enclosed by two parts of B that touch at corners (lon right, lat up)::

            lat 3  A B B A
            lat 2  B A A B
            lat 1  B B B B
            lat 0  A B A A
        """
        lon, lat, ids = _lattice(4)
        assignment = pd.Series(list("ABBAABABBBABABBA"), index=ids)
        cells = build_cells(lon, lat, ids, shapely.box(-0.5, -0.5, 3.5, 3.5))
        _assert_drawn_right(cells, territory_shapes(cells, assignment), assignment)

    def test_multipolygon_territory(self):
        lon, lat, ids = _lattice(3)
        assignment = pd.Series(np.where(lon == 1, "MID", "SIDES"), index=ids)
        cells = build_cells(lon, lat, ids, shapely.box(-0.5, -0.5, 2.5, 2.5))
        shapes = territory_shapes(cells, assignment)
        assert shapes.geometry["SIDES"].geom_type == "MultiPolygon"
        assert len(shapes.geometry["SIDES"].geoms) == 2
        _assert_drawn_right(cells, shapes, assignment)

    def test_clipped_to_study_area(self, grid_cells, by_square):
        shapes = territory_shapes(grid_cells, by_square)
        assert (
            shapely.union_all(shapes.geometry.values).symmetric_difference(SQUARE).area < AREA_TOL
        )


class TestSplitCells:
    """Two accounts at one spot, in different territories::

    x (a: WEST, b: EAST)      y (c: EAST)
    """

    @pytest.fixture
    def cells(self) -> CellIndex:
        return build_cells(
            np.array([0.0, 0.0, 1.0]),
            np.array([0.0, 0.0, 0.0]),
            pd.Index(["a", "b", "c"]),
            shapely.box(-1, -1, 2, 1),
        )

    def test_cell_goes_to_first_account_and_others_are_listed(self, cells):
        assignment = pd.Series(["WEST", "EAST", "EAST"], index=cells.account_ids)
        split = split_cells(cells, assignment)
        assert split.values.tolist() == [["b", "EAST", "WEST"]]
        shapes = territory_shapes(cells, assignment)
        assert shapes.geometry["WEST"].contains(shapely.Point(0, 0))

    def test_unassigned_first_account_leaves_others_undrawn(self, cells):
        assignment = pd.Series([pd.NA, "EAST", "EAST"], index=cells.account_ids, dtype="string")
        split = split_cells(cells, assignment)
        assert split["account_id"].tolist() == ["b"]
        assert pd.isna(split["cell_territory"].iloc[0])

    def test_nothing_split(self, cells):
        split = split_cells(cells, pd.Series(["E", "E", "W"], index=cells.account_ids))
        assert split.empty
        assert list(split.columns) == ["account_id", "territory_id", "cell_territory"]


class TestUpdateShapes:
    def test_equals_full_redraw_and_leaves_input_alone(self, grid_cells, by_square):
        shapes = territory_shapes(grid_cells, by_square)
        snapshot = shapes.copy()
        moved = by_square.copy()
        moved[["ACC-b", "ACC-f"]] = "SE"
        updated = update_shapes(grid_cells, shapes, moved, ["SW", "SE", "NW"])
        expected = territory_shapes(grid_cells, moved, shapes.index)
        assert updated.index.equals(expected.index)
        assert updated.geometry.geom_equals_exact(expected.geometry, 0).all()
        assert shapes.geometry.geom_equals_exact(snapshot.geometry, 0).all()
        assert updated is not shapes

    def test_new_territory_appended(self, grid_cells, by_square):
        shapes = territory_shapes(grid_cells, by_square)
        moved = by_square.copy()
        moved["ACC-h"] = "NEW"
        updated = update_shapes(grid_cells, shapes, moved, ["NE", "NEW"])
        assert updated.index.tolist() == [*shapes.index, "NEW"]
        assert updated.geometry["NEW"].contains(shapely.Point(1.75, 1.5))
        _assert_drawn_right(grid_cells, updated, moved)


class TestSimplifyForDisplay:
    """Two territories sharing a wiggly border::

    +-----/\\/\\-----+
    |  A  \\/\\/  B  |
    +-----/\\/\\-----+
    """

    @pytest.fixture
    def shapes(self) -> gpd.GeoDataFrame:
        wiggle = [(1 + 0.0001 * (i % 2), i / 10) for i in range(11)]
        left = shapely.Polygon([(0, 0), *wiggle, (0, 1)])
        right = shapely.Polygon([(2, 0), (2, 1), *wiggle[::-1]])
        return gpd.GeoDataFrame(
            geometry=[left, right], index=pd.Index(["A", "B"], name="territory_id"), crs="EPSG:4326"
        )

    def test_fewer_vertices_no_gaps(self, shapes):
        simple = simplify_for_display(shapes, 0.01)
        before = shapely.get_num_coordinates(shapes.geometry.values).sum()
        after = shapely.get_num_coordinates(simple.geometry.values).sum()
        assert after < before
        union = shapely.union_all(simple.geometry.values)
        assert shapely.area(simple.geometry.values).sum() == pytest.approx(union.area, abs=1e-12)
        assert union.area == pytest.approx(2.0, abs=1e-3)

    def test_input_untouched_and_index_kept(self, shapes):
        snapshot = shapes.copy()
        simple = simplify_for_display(shapes, 0.01)
        assert simple.index.equals(shapes.index)
        assert shapes.geometry.geom_equals_exact(snapshot.geometry, 0).all()

    def test_negative_tolerance(self, shapes):
        with pytest.raises(ValueError, match="-0.1"):
            simplify_for_display(shapes, -0.1)


# Coordinates on a 0.01 grid: lots of duplicates and cocircular sites.
grid_coordinate = st.integers(0, 100).map(lambda i: i / 100)
territory = st.sampled_from(["A", "B", "C", None])
distinct_points = st.lists(
    st.tuples(grid_coordinate, grid_coordinate), min_size=3, max_size=30, unique=True
)


class TestProperties:
    @given(
        points=st.lists(st.tuples(grid_coordinate, grid_coordinate), min_size=1, max_size=40),
        data=st.data(),
    )
    def test_shapes_hold_their_own_accounts_only(self, points, data):
        lon, lat = np.array(points).T
        ids = pd.Index([f"p{i}" for i in range(len(points))])
        labels = data.draw(st.lists(territory, min_size=len(points), max_size=len(points)))
        assignment = pd.Series(labels, index=ids, dtype="string")
        cells = build_cells(lon, lat, ids, shapely.box(-0.1, -0.1, 1.1, 1.1))
        shapes = territory_shapes(cells, assignment, ["A", "B", "C"])
        _assert_drawn_right(cells, shapes, assignment)
        # Accounts alone at their spot are drawn in their own territory.
        assert set(split_cells(cells, assignment)["account_id"]) <= set(
            ids[pd.Index(list(points)).duplicated(keep=False)]
        )

    @given(points=distinct_points, data=st.data())
    def test_update_equals_full_redraw(self, points, data):
        lon, lat = np.array(points).T
        ids = pd.Index([f"p{i}" for i in range(len(points))])
        n = len(points)
        first = data.draw(st.lists(territory, min_size=n, max_size=n))
        assignment = pd.Series(first, index=ids, dtype="string")
        cells = build_cells(lon, lat, ids, shapely.box(-0.1, -0.1, 1.1, 1.1))
        shapes = territory_shapes(cells, assignment, ["A", "B", "C"])
        for _ in range(data.draw(st.integers(1, 3))):
            moved = data.draw(st.lists(st.sampled_from(list(ids)), min_size=1, unique=True))
            target = data.draw(territory)
            changed = set(assignment[moved].dropna()) | ({target} - {None})
            assignment = assignment.copy()
            assignment[moved] = target
            shapes = update_shapes(cells, shapes, assignment, sorted(changed))
        expected = territory_shapes(cells, assignment, ["A", "B", "C"])
        assert shapes.index.equals(expected.index)
        assert shapes.geometry.geom_equals_exact(expected.geometry, 0).all()


class TestUnionOfCells:
    """Territories drawn as the union of their cells equal their outlines (issue 11, 9)."""

    @given(points=distinct_points, data=st.data())
    def test_same_shapes_as_the_outlines(self, points, data):
        from terrmap.geo.shapes import _cell_owners, _outlines, _unions

        lon, lat = np.array(points).T
        ids = pd.Index([f"p{i}" for i in range(len(points))])
        labels = data.draw(st.lists(territory, min_size=len(points), max_size=len(points)))
        area = data.draw(
            st.sampled_from([shapely.box(-0.1, -0.1, 1.1, 1.1), shapely.box(0.2, 0.2, 0.8, 0.9)])
        )
        cells = build_cells(lon, lat, ids, area)
        owner, _ = _cell_owners(cells, pd.Series(labels, index=ids, dtype="string"), "ABC")
        wanted = np.arange(3)
        drawn = zip(_unions(cells, owner, wanted), _outlines(cells, owner, wanted), strict=True)
        for union, outline in drawn:
            union = shapely.Polygon() if union is None else shapely.normalize(union)
            outline = shapely.Polygon() if outline is None else shapely.normalize(outline)
            assert shapely.equals_exact(union, outline, 0) or (union.is_empty and outline.is_empty)

    def test_scattered_owners_are_drawn_as_unions(self, monkeypatch):
        from terrmap.geo import shapes

        rng = np.random.default_rng(3)
        lon, lat = rng.uniform(0, 1, (2, 400))
        ids = pd.Index([f"p{i}" for i in range(400)])
        scattered = pd.Series(rng.choice(list("ABCD"), 400), index=ids)
        banded = pd.Series(np.where(lon < 0.5, "A", "B"), index=ids)
        cells = build_cells(lon, lat, ids)
        used = []
        for name in ("_unions", "_outlines"):
            real = getattr(shapes, name)
            monkeypatch.setattr(
                shapes, name, lambda *args, real=real, name=name: used.append(name) or real(*args)
            )
        scattered_shapes = territory_shapes(cells, scattered)
        banded_shapes = territory_shapes(cells, banded)
        assert used == ["_unions", "_outlines"]
        _assert_drawn_right(cells, scattered_shapes, scattered)
        _assert_drawn_right(cells, banded_shapes, banded)
