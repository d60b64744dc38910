"""The map's offline background file and its online tile option."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
import streamlit_folium as sf
import xyzservices.providers as xyz

from terrmap.web import basemap as bm
from terrmap.web import mapview as mv
from terrmap.web.static_assets import POINTS_BASE, publish_file

# Boston and Albany: a New England data set.
LON = np.array([-71.0589, -73.7562])
LAT = np.array([42.3601, 42.6526])


class TestBounds:
    def test_small_extent_gets_the_minimum_pad(self):
        x0, y0, x1, y1 = bm.basemap_bounds(LON, LAT)
        # 2.7 degrees wide: half of it is less than the 3 degree minimum.
        assert (x0, x1) == pytest.approx((-73.7562 - 3, -71.0589 + 3), abs=0.011)
        assert (y0, y1) == pytest.approx((42.3601 - 3, 42.6526 + 3), abs=0.011)
        assert x0 <= -76.7562 and x1 >= -68.0589

    def test_large_extent_grows_by_a_quarter(self):
        x0, _, x1, _ = bm.basemap_bounds([-120.0, -80.0], [35.0, 40.0])
        assert (x0, x1) == (-130.0, -70.0)
        assert all(type(v) is float for v in bm.basemap_bounds([-120.0, -80.0], [35.0, 40.0]))

    def test_clamped_to_the_world(self):
        assert bm.basemap_bounds([-179.0, 179.0], [-80.0, 80.0]) == (-180.0, -85.0, 180.0, 85.0)

    def test_no_points_means_the_contiguous_us(self):
        x0, y0, x1, y1 = bm.basemap_bounds([], [])
        assert x0 < -125 and x1 > -67 and y0 < 25 and y1 > 49

    @pytest.mark.parametrize(
        ("lon", "lat"), [([0.0, 1.0], [0.0]), ([np.nan], [0.0]), ([[0.0]], [[0.0]])]
    )
    def test_bad_positions(self, lon, lat):
        with pytest.raises(ValueError, match="lon and lat"):
            bm.basemap_bounds(lon, lat)


class TestGeojson:
    def test_one_feature_per_kind_inside_the_box(self):
        box = (-76.0, 40.0, -69.0, 45.0)
        doc = json.loads(bm.basemap_geojson(box))
        assert doc["bbox"] == list(box)
        kinds = [f["properties"]["kind"] for f in doc["features"]]
        # Coarsest first; the box is all US, whose outline the states draw.
        assert kinds == ["state", "county"]
        for feature in doc["features"]:
            geom = shapely.geometry.shape(feature["geometry"])
            assert geom.geom_type == "MultiLineString"
            x0, y0, x1, y1 = geom.bounds
            assert x0 >= box[0] and y0 >= box[1] and x1 <= box[2] and y1 <= box[3]

    def test_state_line_where_new_york_meets_vermont(self):
        doc = json.loads(bm.basemap_geojson((-76.0, 40.0, -69.0, 45.0)))
        state = next(f for f in doc["features"] if f["properties"]["kind"] == "state")
        # The NY-VT border follows Lake Champlain, about 73.34 W at 44.5 N.
        line = shapely.geometry.shape(state["geometry"])
        assert line.distance(shapely.Point(-73.34, 44.5)) < 0.1

    def test_identical_between_calls(self):
        box = (-76.0, 40.0, -69.0, 45.0)
        assert bm.basemap_geojson(box) == bm.basemap_geojson(box)

    def test_world_kinds_outside_the_us(self):
        doc = json.loads(bm.basemap_geojson((-5.0, 42.0, 15.0, 55.0)))
        assert [f["properties"]["kind"] for f in doc["features"]] == ["country", "coast"]

    def test_ocean_gives_an_empty_collection(self):
        doc = json.loads(bm.basemap_geojson((-45.0, 20.0, -35.0, 30.0)))
        assert doc["features"] == []


class TestPublish:
    def test_written_once_and_reused(self, tmp_path):
        url = bm.publish_basemap(LON, LAT, tmp_path)
        assert url.startswith(f"{POINTS_BASE}/basemap-") and url.endswith(".json")
        path = tmp_path / url.rsplit("/", 1)[1]
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert {f["properties"]["kind"] for f in doc["features"]} >= {"state", "county"}
        inode = path.stat().st_ino  # a rewrite renames a new file into place
        assert bm.publish_basemap(LON, LAT, tmp_path) == url
        assert path.stat().st_ino == inode

    def test_other_extent_other_file(self, tmp_path):
        here = bm.publish_basemap(LON, LAT, tmp_path)
        there = bm.publish_basemap([-122.4, -118.2], [37.8, 34.1], tmp_path)
        assert here != there
        assert len(list(tmp_path.iterdir())) == 2

    @pytest.mark.parametrize("name", ["", "../x.json", "a/b.json", ".hidden"])
    def test_publish_file_refuses_paths(self, tmp_path, name):
        with pytest.raises(ValueError, match="plain file name"):
            publish_file(b"x", name, tmp_path)


def _map_script(m) -> str:
    m.get_root().render()
    return sf._get_map_string(m)


class TestMap:
    URL = "/app/static/cache/basemap-0123456789abcdef.json"

    def test_base_map_loads_the_published_file(self):
        script = _map_script(mv.build_base_map(LON, LAT, basemap_url=self.URL))
        assert f'TerrmapBasemap.add(map_div, "{self.URL}");' in script
        assert "window.TerrmapBasemap = " in script

    def test_without_a_url_nothing_is_fetched(self):
        script = _map_script(mv.build_base_map(LON, LAT))
        assert "TerrmapBasemap.add(map_div, null);" in script

    @pytest.mark.parametrize(
        "url", ["https://example.org/b.json", "//example.org/b.json", "cache/b.json"]
    )
    def test_background_from_elsewhere_is_refused(self, url):
        with pytest.raises(ValueError, match="basemap_url"):
            mv.build_base_map(LON, LAT, basemap_url=url)

    def test_same_url_same_component_key(self):
        """st_folium remounts the map whenever this hash changes: not on a rerun."""
        keys = {
            sf.generate_js_hash(_map_script(mv.build_base_map(LON, LAT, basemap_url=self.URL)), "k")
            for _ in range(2)
        }
        assert len(keys) == 1


class TestOnlineTiles:
    def test_provider_needs_no_key(self):
        # The provider catalogue folium uses says which services need a key
        # (CARTO's basemaps do since 2025: the reason for the switch).
        assert not bm.ONLINE_TILES.requires_token()
        assert xyz.CartoDB.Positron.requires_token()

    def test_label_and_attribution_name_the_source(self):
        assert "OpenStreetMap" in bm.TILES_LABEL
        assert "internet" in bm.TILES_LABEL
        assert "tile.openstreetmap.org" in bm.TILES_HELP
        assert "OpenStreetMap" in bm.TILES_ATTRIBUTION

    def test_map_with_tiles_carries_url_and_attribution(self):
        html = (
            mv.build_base_map(
                LON, LAT, tiles=bm.ONLINE_TILES.build_url(), tiles_attr=bm.TILES_ATTRIBUTION
            )
            .get_root()
            .render()
        )
        assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in html
        assert "openstreetmap.org/copyright" in html
