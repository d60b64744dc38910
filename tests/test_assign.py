"""Tests for terrmap.geo.assign: point-in-polygon assignment."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from terrmap.geo.assign import (
    AssignmentResult,
    PolygonIndex,
    assign_accounts,
    overlapping_territories,
)


def _accounts(points: dict[str, tuple[float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {"lon": [p[0] for p in points.values()], "lat": [p[1] for p in points.values()]},
        index=pd.Index(list(points), name="account_id"),
    )


def _territories(shapes: dict[str, shapely.Geometry], crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        geometry=list(shapes.values()),
        index=pd.Index(list(shapes), name="territory_id"),
        crs=crs,
    )


class TestGrid:
    def test_each_account_goes_to_its_square(self, grid_accounts, grid_territories):
        result = assign_accounts(grid_accounts, grid_territories)
        assert isinstance(result, AssignmentResult)
        expected = ["SW", "SW", "SE", "SE", "NW", "NW", "NE", "NE"]
        assert result.assignment.tolist() == expected
        assert result.assignment.index.equals(grid_accounts.index)
        assert result.assignment.name == "territory_id"
        assert isinstance(result.assignment.dtype, pd.StringDtype)
        assert result.assignment.dtype.na_value is pd.NA
        assert len(result.unassigned) == 0
        assert result.overlaps.empty
        assert result.ambiguous.empty

    def test_touching_squares_are_not_overlaps(self, grid_territories):
        assert overlapping_territories(grid_territories).empty

    def test_inputs_not_mutated(self, grid_accounts, grid_territories):
        accounts, territories = grid_accounts.copy(), grid_territories.copy()
        assign_accounts(grid_accounts, grid_territories)
        pd.testing.assert_frame_equal(grid_accounts, accounts)
        pd.testing.assert_index_equal(grid_territories.index, territories.index)
        assert grid_territories.geometry.geom_equals_exact(territories.geometry, 0).all()
        assert grid_territories.crs == territories.crs


class TestBorders:
    """Points on shared borders of the 2x2 grid (see conftest)::

    2 +------+------+
      |      |      |
    1 +------c------+     c = (1, 1), the common corner
      |      v      |     v = (1, 0.5), on the SW/SE border
    0 +------h------+     h = (1, 0), on the outer edge
      0      1      2
    """

    POINTS = {"v": (1.0, 0.5), "c": (1.0, 1.0), "h": (1.0, 0.0)}

    def test_border_points_go_to_first_territory(self, grid_territories):
        result = assign_accounts(_accounts(self.POINTS), grid_territories)
        assert result.assignment.to_dict() == {"v": "SW", "c": "SW", "h": "SW"}
        assert result.ambiguous.empty

    def test_border_rule_follows_territory_order(self, grid_territories):
        reordered = grid_territories.iloc[::-1]
        result = assign_accounts(_accounts(self.POINTS), reordered)
        assert result.assignment.to_dict() == {"v": "SE", "c": "NE", "h": "SE"}

    def test_same_input_same_answer(self, grid_territories):
        accounts = _accounts(self.POINTS)
        first = assign_accounts(accounts, grid_territories).assignment
        second = assign_accounts(accounts, grid_territories).assignment
        pd.testing.assert_series_equal(first, second)


class TestWhiteSpace:
    def test_points_outside_everything_are_unassigned(self, grid_territories):
        accounts = _accounts({"in": (0.5, 0.5), "far": (5.0, 5.0), "west": (-0.1, 0.5)})
        result = assign_accounts(accounts, grid_territories)
        assert result.assignment["in"] == "SW"
        assert result.assignment[["far", "west"]].isna().all()
        assert list(result.unassigned) == ["far", "west"]

    def test_missing_coordinates_are_unassigned(self, grid_territories):
        accounts = _accounts({"a": (0.5, 0.5), "b": (np.nan, 0.5), "c": (0.5, np.nan)})
        result = assign_accounts(accounts, grid_territories)
        assert list(result.unassigned) == ["b", "c"]

    def test_no_accounts(self, grid_territories):
        result = assign_accounts(_accounts({}), grid_territories)
        assert len(result.assignment) == 0
        assert len(result.unassigned) == 0

    def test_empty_and_missing_geometries_hold_nothing(self):
        territories = _territories(
            {"empty": shapely.Polygon(), "none": None, "box": shapely.box(0, 0, 1, 1)}
        )
        result = assign_accounts(_accounts({"a": (0.5, 0.5)}), territories)
        assert result.assignment.tolist() == ["box"]


class TestHolesAndMultiPolygons:
    """A ring territory with a lake, an island territory in the lake, and a
    two-part territory::

        3 +-----------+
          |  RING     |     +---+ +---+
          |  +-----+  |     | M | | M |   MULTI: two squares at x 4-5 and 6-7
          |  |LAKE |  |     +---+ +---+
          |  +-----+  |
        0 +-----------+
    """

    def test_point_in_hole_is_not_in_ring(self):
        ring = shapely.Polygon(
            [(0, 0), (3, 0), (3, 3), (0, 3)], holes=[[(1, 1), (2, 1), (2, 2), (1, 2)]]
        )
        territories = _territories({"RING": ring})
        accounts = _accounts({"lake": (1.5, 1.5), "land": (0.5, 0.5)})
        result = assign_accounts(accounts, territories)
        assert pd.isna(result.assignment["lake"])
        assert result.assignment["land"] == "RING"

    def test_island_in_hole_gets_its_own_territory(self):
        ring = shapely.Polygon(
            [(0, 0), (3, 0), (3, 3), (0, 3)], holes=[[(1, 1), (2, 1), (2, 2), (1, 2)]]
        )
        territories = _territories({"RING": ring, "LAKE": shapely.box(1, 1, 2, 2)})
        result = assign_accounts(_accounts({"lake": (1.5, 1.5)}), territories)
        assert result.assignment["lake"] == "LAKE"
        assert result.overlaps.empty

    def test_multipolygon_parts_both_count(self):
        multi = shapely.MultiPolygon([shapely.box(4, 1, 5, 2), shapely.box(6, 1, 7, 2)])
        territories = _territories({"MULTI": multi})
        accounts = _accounts({"left": (4.5, 1.5), "right": (6.5, 1.5), "gap": (5.5, 1.5)})
        result = assign_accounts(accounts, territories)
        assert result.assignment[["left", "right"]].tolist() == ["MULTI", "MULTI"]
        assert pd.isna(result.assignment["gap"])


class TestOverlaps:
    """Two overlapping boxes and a third touching one::

    1 +-----+--+-----+-----+
      |  A  |AB|  B  |  C  |     A = [0, 2], B = [1, 3], C = [3, 4]
    0 +-----+--+-----+-----+
      0     1  2     3     4
    """

    @pytest.fixture
    def territories(self) -> gpd.GeoDataFrame:
        return _territories(
            {
                "A": shapely.box(0, 0, 2, 1),
                "B": shapely.box(1, 0, 3, 1),
                "C": shapely.box(3, 0, 4, 1),
            }
        )

    def test_overlap_reported_with_area_and_accounts(self, territories):
        accounts = _accounts({"both1": (1.5, 0.5), "both2": (1.2, 0.2), "onlyB": (2.5, 0.5)})
        result = assign_accounts(accounts, territories)
        assert result.overlaps[["territory_a", "territory_b"]].values.tolist() == [["A", "B"]]
        row = result.overlaps.iloc[0]
        # One square degree at the equator is about 111.2 km squared.
        assert row["overlap_km2"] == pytest.approx(111.2**2, rel=0.01)
        assert row["accounts_in_both"] == 2

    def test_account_in_two_polygons_goes_to_first_and_is_listed(self, territories):
        accounts = _accounts({"both": (1.5, 0.5), "onlyB": (2.5, 0.5)})
        result = assign_accounts(accounts, territories)
        assert result.assignment.to_dict() == {"both": "A", "onlyB": "B"}
        assert result.ambiguous["account_id"].tolist() == ["both"]
        assert result.ambiguous["territories"].tolist() == [("A", "B")]

    def test_three_way_overlap(self):
        territories = _territories(
            {
                "X": shapely.box(0, 0, 2, 2),
                "Y": shapely.box(1, 0, 3, 2),
                "Z": shapely.box(0, 1, 3, 3),
            }
        )
        result = assign_accounts(_accounts({"p": (1.5, 1.5)}), territories)
        assert result.assignment["p"] == "X"
        assert result.ambiguous["territories"].tolist() == [("X", "Y", "Z")]
        pairs = result.overlaps.set_index(["territory_a", "territory_b"])["accounts_in_both"]
        assert pairs.to_dict() == {("X", "Y"): 1, ("X", "Z"): 1, ("Y", "Z"): 1}

    def test_public_function_matches(self, territories):
        frame = overlapping_territories(territories)
        assert frame[["territory_a", "territory_b"]].values.tolist() == [["A", "B"]]
        assert list(frame.columns) == ["territory_a", "territory_b", "overlap_km2"]

    def test_sliver_below_tolerance_is_ignored_unless_it_holds_an_account(self):
        sliver = _territories({"A": shapely.box(0, 0, 1, 1), "B": shapely.box(1 - 1e-7, 0, 2, 1)})
        assert overlapping_territories(sliver).empty
        inside = _accounts({"s": (1 - 5e-8, 0.5)})
        result = assign_accounts(inside, sliver)
        assert result.overlaps["accounts_in_both"].tolist() == [1]

    def test_contained_polygon_is_an_overlap(self):
        nested = _territories({"BIG": shapely.box(0, 0, 3, 3), "SMALL": shapely.box(1, 1, 2, 2)})
        assert overlapping_territories(nested)[["territory_a", "territory_b"]].values.tolist() == [
            ["BIG", "SMALL"]
        ]


class TestValidation:
    def test_wrong_crs_named(self, grid_accounts, grid_territories):
        with pytest.raises(ValueError, match="EPSG:3857"):
            assign_accounts(grid_accounts, grid_territories.to_crs("EPSG:3857"))

    def test_missing_crs(self, grid_accounts, grid_territories):
        with pytest.raises(ValueError, match="no CRS"):
            assign_accounts(grid_accounts, grid_territories.set_crs(None, allow_override=True))

    def test_crs84_accepted(self, grid_accounts, grid_territories):
        crs84 = grid_territories.set_crs("OGC:CRS84", allow_override=True)
        assert assign_accounts(grid_accounts, crs84).assignment.notna().all()

    def test_duplicate_territory_ids(self, grid_accounts, grid_territories):
        dup = grid_territories.rename(index={"SE": "SW"})
        with pytest.raises(ValueError, match="territory ids are not unique.*SW"):
            assign_accounts(grid_accounts, dup)

    def test_duplicate_account_ids(self, grid_accounts, grid_territories):
        dup = grid_accounts.rename(index={"ACC-b": "ACC-a"})
        with pytest.raises(ValueError, match="account ids are not unique.*ACC-a"):
            assign_accounts(dup, grid_territories)

    def test_missing_coordinate_column(self, grid_accounts, grid_territories):
        with pytest.raises(ValueError, match="lat"):
            assign_accounts(grid_accounts.drop(columns="lat"), grid_territories)

    def test_non_polygon_geometry_named(self, grid_accounts):
        territories = _territories(
            {"OK": shapely.box(0, 0, 1, 1), "LINE": shapely.LineString([(0, 0), (1, 1)])}
        )
        with pytest.raises(ValueError, match="'LINE'.*LINESTRING"):
            assign_accounts(grid_accounts, territories)

    def test_invalid_polygon_is_repaired(self):
        bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
        result = assign_accounts(
            _accounts({"left": (0.2, 1.0), "right": (1.8, 1.0)}), _territories({"BOW": bowtie})
        )
        assert result.assignment.tolist() == ["BOW", "BOW"]


coordinate = st.floats(min_value=-0.5, max_value=4.5, allow_nan=False)


class TestProperties:
    @given(
        points=st.lists(st.tuples(coordinate, coordinate), max_size=40),
        cuts=st.lists(st.integers(1, 3), min_size=0, max_size=3, unique=True),
    )
    def test_matches_naive_shapely(self, points, cuts):
        """Vertical strips of [0, 4] x [0, 4] cut at integer x; points anywhere near."""
        edges = [0, *sorted(cuts), 4]
        strips = {
            f"S{i}": shapely.box(a, 0, b, 4)
            for i, (a, b) in enumerate(zip(edges, edges[1:], strict=False))
        }
        territories = _territories(strips)
        accounts = _accounts({f"p{i}": p for i, p in enumerate(points)})
        result = assign_accounts(accounts, territories)

        for account_id, (x, y) in zip(accounts.index, points, strict=True):
            point = shapely.Point(x, y)
            interiors = [t for t, g in strips.items() if point.within(g)]
            touching = [t for t, g in strips.items() if point.intersects(g)]
            got = result.assignment[account_id]
            if interiors:
                assert got == interiors[0]
            elif touching:
                assert got == touching[0]
            else:
                assert pd.isna(got)
                assert account_id in result.unassigned
        assert result.unassigned.equals(result.assignment.index[result.assignment.isna()])
        assert result.ambiguous.empty


def _naive_locate(geoms, lon, lat):
    """Reference: first polygon whose interior holds the point, else the first it touches."""
    codes, extra = [], []
    for i, (x, y) in enumerate(zip(lon, lat, strict=True)):
        inside = [j for j, g in enumerate(geoms) if shapely.contains_xy(g, x, y)]
        touching = [j for j, g in enumerate(geoms) if shapely.intersects_xy(g, x, y)]
        codes.append(inside[0] if inside else (touching[0] if touching else -1))
        extra += [(i, j) for j in inside[1:]]
    return codes, sorted(extra)


_polygon = st.builds(
    lambda x, y, w, h, tri: (
        shapely.Polygon([(x, y), (x + w, y), (x, y + h)])
        if tri
        else shapely.box(x, y, x + w, y + h)
    ),
    st.integers(0, 8),
    st.integers(0, 8),
    st.integers(1, 5),
    st.integers(1, 5),
    st.booleans(),
)
# Half-integer steps put many points exactly on polygon edges and corners.
_coordinate = st.one_of(st.integers(-2, 26).map(lambda v: v / 2), st.just(float("nan")))


class TestPolygonIndex:
    @given(
        geoms=st.lists(st.one_of(_polygon, st.just(shapely.Polygon())), min_size=1, max_size=12),
        points=st.lists(st.tuples(_coordinate, _coordinate), min_size=1, max_size=40),
        cells=st.sampled_from([0.25, 1.0, 4.0, 16.0]),
    )
    def test_equals_a_naive_scan(self, geoms, points, cells):
        geoms = np.array(geoms, dtype=object)
        lon = np.array([p[0] for p in points])
        lat = np.array([p[1] for p in points])
        codes, extra = _naive_locate(geoms, lon, lat)
        index = PolygonIndex(geoms.copy(), cells_per_polygon=cells)
        assert index.locate(lon, lat).codes.tolist() == codes
        every = index.locate(lon, lat, every=True)
        assert every.codes.tolist() == codes
        found = zip(every.extra_points.tolist(), every.extra_codes.tolist(), strict=True)
        assert sorted(found) == extra

    def test_polygons_spanning_the_layer_coarsen_the_grid(self, monkeypatch):
        monkeypatch.setattr("terrmap.geo.assign._MAX_GRID_ENTRIES", 20_000)
        tiny = [shapely.box(x, y, x + 0.5, y + 0.5) for x in range(40) for y in range(10)]
        # an island group across the whole layer, drawn first: it wins its ties
        span = shapely.MultiPolygon([shapely.box(0, 0, 0.2, 0.2), shapely.box(39.8, 9.8, 40, 10)])
        geoms = np.array([span, *tiny], dtype=object)
        index = PolygonIndex(geoms.copy())
        assert len(index._members) <= 20_000
        rng = np.random.default_rng(2)
        lon, lat = rng.uniform(-1, 41, 300), rng.uniform(-1, 11, 300)
        lon[:2], lat[:2] = [0.1, 39.9], [0.1, 9.9]
        assert index.locate(lon, lat).codes.tolist() == _naive_locate(geoms, lon, lat)[0]
        assert index.locate(lon, lat).codes[:2].tolist() == [0, 0]

    def test_no_polygons_and_no_points(self):
        index = PolygonIndex(np.array([shapely.Polygon()], dtype=object))
        assert index.locate(np.array([1.0]), np.array([1.0])).codes.tolist() == [-1]
        empty = PolygonIndex(np.array([shapely.box(0, 0, 1, 1)], dtype=object))
        assert empty.locate(np.empty(0), np.empty(0)).codes.tolist() == []
