"""Tests for terrmap.geo.selection: lasso, rectangle, circle and click selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from terrmap.geo.selection import PointIndex, drawing_geometry, select_in_polygon, select_nearest


@pytest.fixture
def xy(grid_accounts) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """The conftest accounts as arrays::

    lat 1.5   e  f | g  h
    lat 0.5   a  b | c  d
              lon 0.25, 0.75, 1.25, 1.75
    """
    return (
        grid_accounts["lon"].to_numpy(),
        grid_accounts["lat"].to_numpy(),
        grid_accounts.index,
    )


def _feature(geometry: dict, **properties: object) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


class TestPolygon:
    def test_shapely_box(self, xy):
        assert select_in_polygon(*xy, shapely.box(0, 0, 1, 2)).tolist() == [
            "ACC-a",
            "ACC-b",
            "ACC-e",
            "ACC-f",
        ]

    def test_leaflet_rectangle_feature(self, xy):
        ring = [[0.5, 0.0], [2.0, 0.0], [2.0, 1.0], [0.5, 1.0], [0.5, 0.0]]
        feature = _feature({"type": "Polygon", "coordinates": [ring]})
        assert select_in_polygon(*xy, feature).tolist() == ["ACC-b", "ACC-c", "ACC-d"]

    def test_bare_geometry_dict(self, xy):
        geometry = {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]]]}
        assert select_in_polygon(*xy, geometry).tolist() == ["ACC-g", "ACC-h"]

    def test_multipolygon_and_hole(self, xy):
        outer = shapely.Polygon(
            [(0, 0), (1, 0), (1, 1), (0, 1)],
            holes=[[(0.5, 0.25), (1, 0.25), (1, 0.75), (0.5, 0.75)]],
        )
        multi = shapely.MultiPolygon([outer, shapely.box(1.5, 1, 2, 2)])
        assert select_in_polygon(*xy, multi).tolist() == ["ACC-a", "ACC-h"]

    def test_point_on_line_not_selected(self, xy):
        assert select_in_polygon(*xy, shapely.box(0.25, 0, 0.5, 1)).empty

    def test_result_keeps_input_order_and_name(self, xy):
        lon, lat, ids = xy
        picked = select_in_polygon(lon[::-1], lat[::-1], ids[::-1], shapely.box(0, 0, 1, 1))
        assert picked.tolist() == ["ACC-b", "ACC-a"]
        assert picked.name == "account_id"

    def test_missing_coordinates_never_selected(self):
        lon, lat = np.array([0.5, np.nan]), np.array([0.5, 0.5])
        assert select_in_polygon(
            lon, lat, pd.Index(["a", "b"]), shapely.box(0, 0, 1, 1)
        ).tolist() == ["a"]

    def test_inputs_not_mutated(self, xy):
        lon, lat, ids = xy
        lon0, lat0, ids0 = lon.copy(), lat.copy(), ids.copy()
        feature = _feature({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]})
        snapshot = repr(feature)
        select_in_polygon(lon, lat, ids, feature)
        np.testing.assert_array_equal(lon, lon0)
        np.testing.assert_array_equal(lat, lat0)
        assert ids.equals(ids0)
        assert repr(feature) == snapshot

    def test_length_mismatch(self, xy):
        lon, lat, ids = xy
        with pytest.raises(ValueError, match="differ in length: 8, 7, 8"):
            select_in_polygon(lon, lat[:-1], ids, shapely.box(0, 0, 1, 1))


class TestInvalidLasso:
    r"""A freehand lasso that crosses itself (a bow tie)::

    (0,2) +       + (2,2)
          |\     /|
          | \   / |
          |  \ /  |
          |   X   |      lasso (0,0) (2,2) (2,0) (0,2): the left and
          |  / \  |      right lobes are inside, the gaps above and
          | /   \ |      below the crossing are not
          |/     \|
    (0,0) +       + (2,0)
    """

    BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}

    def test_bowtie_repaired_not_crashing(self):
        lon, lat = np.array([0.2, 1.8, 1.0, 1.0]), np.array([1.0, 1.0, 0.2, 1.8])
        ids = pd.Index(["left", "right", "bottom", "top"])
        assert select_in_polygon(lon, lat, ids, self.BOWTIE).tolist() == ["left", "right"]
        assert drawing_geometry(self.BOWTIE).is_valid

    def test_loop_drawn_twice_keeps_everything_enclosed(self):
        spiral = shapely.Polygon(
            [(0, 0), (4, 0), (4, 4), (0, 4), (0, 1), (3, 1), (3, 3), (1, 3), (1, -1)]
        )
        lon, lat = np.array([2.0, 0.5]), np.array([2.0, 3.5])
        assert select_in_polygon(lon, lat, pd.Index(["twice", "once"]), spiral).tolist() == [
            "twice",
            "once",
        ]

    def test_line_is_not_an_area(self, xy):
        with pytest.raises(ValueError, match="LineString"):
            select_in_polygon(*xy, {"type": "LineString", "coordinates": [[0, 0], [1, 1]]})

    def test_shapely_point_is_not_an_area(self, xy):
        with pytest.raises(ValueError, match="Point"):
            select_in_polygon(*xy, shapely.Point(0, 0))

    def test_unknown_drawing_type(self, xy):
        with pytest.raises(ValueError, match="str"):
            select_in_polygon(*xy, "POLYGON ((0 0, 1 0, 1 1, 0 0))")

    def test_empty_polygon_selects_nothing(self, xy):
        assert select_in_polygon(*xy, shapely.Polygon()).empty


class TestCircle:
    def test_leaflet_circle_uses_radius_in_metres(self):
        # 0.01 degree of latitude is 1.11 km.
        lat = np.array([0.0, 0.009, 0.011, 0.0])
        lon = np.array([0.0, 0.0, 0.0, 0.0105])
        ids = pd.Index(["centre", "near", "far", "east"])
        circle = _feature({"type": "Point", "coordinates": [0.0, 0.0]}, radius=1100.0)
        assert select_in_polygon(lon, lat, ids, circle).tolist() == ["centre", "near"]

    def test_radius_is_on_the_ground_at_high_latitude(self):
        # At 60N a degree of longitude is half as long as at the equator.
        lon, lat = np.array([10.019, 10.021]), np.array([60.0, 60.0])
        circle = _feature({"type": "Point", "coordinates": [10.0, 60.0]}, radius=1112.0)
        assert select_in_polygon(lon, lat, pd.Index(["in", "out"]), circle).tolist() == ["in"]

    def test_point_without_radius_rejected(self, xy):
        with pytest.raises(ValueError, match="radius"):
            select_in_polygon(*xy, _feature({"type": "Point", "coordinates": [0, 0]}))
        with pytest.raises(ValueError, match="radius"):
            select_in_polygon(*xy, {"type": "Point", "coordinates": [0, 0]})

    def test_collection_of_drawings_is_a_union(self, xy):
        collection = {
            "type": "FeatureCollection",
            "features": [
                _feature({"type": "Point", "coordinates": [0.25, 0.5]}, radius=1000.0),
                _feature({"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]}),
            ],
        }
        assert select_in_polygon(*xy, collection).tolist() == ["ACC-a", "ACC-h"]

    def test_empty_collection(self, xy):
        assert select_in_polygon(*xy, {"type": "FeatureCollection", "features": []}).empty


class TestNearest:
    def test_click_next_to_an_account(self, xy):
        assert select_nearest(*xy, 0.26, 0.5, max_km=5).tolist() == ["ACC-a"]

    def test_nothing_within_reach(self, xy):
        assert select_nearest(*xy, 10.0, 10.0, max_km=5).empty

    def test_colocated_accounts_all_returned(self):
        lon, lat = np.array([1.0, 2.0, 1.0]), np.array([1.0, 1.0, 1.0])
        assert select_nearest(lon, lat, pd.Index(["a", "b", "c"]), 1.001, 1.0).tolist() == [
            "a",
            "c",
        ]

    def test_bad_click(self, xy):
        with pytest.raises(ValueError, match="nan"):
            select_nearest(*xy, float("nan"), 0.0)
        with pytest.raises(ValueError, match="-1"):
            select_nearest(*xy, 0.0, 0.0, max_km=-1)


class TestPointIndex:
    def test_same_answers_as_functions(self, xy):
        index = PointIndex.build(*xy)
        box = shapely.box(0.5, 0, 2, 1)
        circle = _feature({"type": "Point", "coordinates": [0.25, 1.5]}, radius=30_000.0)
        for drawing in (box, circle):
            assert index.select_in_polygon(drawing).equals(select_in_polygon(*xy, drawing))
        assert index.select_nearest(1.3, 1.4, 50).tolist() == ["ACC-g"]

    def test_copies_and_freezes_inputs(self, xy):
        lon, lat, ids = xy
        lon = lon.copy()
        index = PointIndex.build(lon, lat, ids)
        lon[0] = 99.0
        assert index.lon[0] == 0.25
        with pytest.raises(ValueError, match="read-only"):
            index.lat[0] = 1.0

    def test_missing_coordinates(self):
        index = PointIndex.build(
            np.array([np.nan, 0.5, 0.7]), np.array([0.5, np.nan, 0.5]), pd.Index(list("abc"))
        )
        assert index.select_in_polygon(shapely.box(0, 0, 1, 1)).tolist() == ["c"]


coordinate = st.floats(min_value=0, max_value=10, allow_nan=False)


class TestProperties:
    @given(
        points=st.lists(st.tuples(coordinate, coordinate), max_size=30),
        ring=st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=8),
    )
    def test_matches_naive_within(self, points, ring):
        """Any ring, self-intersecting or not, against shapely's own check."""
        lon = np.array([p[0] for p in points], dtype=float)
        lat = np.array([p[1] for p in points], dtype=float)
        ids = pd.Index([f"p{i}" for i in range(len(points))])
        polygon = shapely.Polygon(ring)
        area = drawing_geometry(polygon)
        expected = [i for i, p in zip(ids, points, strict=True) if shapely.Point(p).within(area)]
        assert select_in_polygon(lon, lat, ids, polygon).tolist() == expected
        assert PointIndex.build(lon, lat, ids).select_in_polygon(polygon).tolist() == expected

    @given(
        points=st.lists(st.tuples(coordinate, coordinate), max_size=30),
        centre=st.tuples(coordinate, coordinate),
        radius_km=st.floats(min_value=0, max_value=800),
    )
    def test_circle_matches_naive_haversine(self, points, centre, radius_km):
        lon = np.array([p[0] for p in points], dtype=float)
        lat = np.array([p[1] for p in points], dtype=float)
        ids = pd.Index([f"p{i}" for i in range(len(points))])
        circle = _feature({"type": "Point", "coordinates": list(centre)}, radius=radius_km * 1000)
        dist = np.array([_km(centre, p) for p in points])
        # Two formulas may round differently right on the circle: skip those.
        clear = np.abs(dist - radius_km) > 1e-6
        expected = ids[clear & (dist <= radius_km)]
        for got in (
            select_in_polygon(lon, lat, ids, circle),
            PointIndex.build(lon, lat, ids).select_in_polygon(circle),
        ):
            assert got.intersection(ids[clear], sort=False).equals(expected)


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance by the Vincenty formula (not haversine)."""
    lon1, lat1, lon2, lat2 = map(np.radians, (*a, *b))
    dlon = lon2 - lon1
    y = np.hypot(
        np.cos(lat2) * np.sin(dlon),
        np.cos(lat1) * np.sin(lat2) - np.sin(lat1) * np.cos(lat2) * np.cos(dlon),
    )
    x = np.sin(lat1) * np.sin(lat2) + np.cos(lat1) * np.cos(lat2) * np.cos(dlon)
    return float(6371.0088 * np.arctan2(y, x))
