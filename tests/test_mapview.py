"""Pure-python tests of the folium output of terrmap.web.mapview (no browser)."""

from __future__ import annotations

import base64
import html
import json
import re

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import streamlit_folium as sf  # only its pure string helpers are used
from hypothesis import given
from hypothesis import strategies as st

from terrmap.geo import palette
from terrmap.web import mapview as mv
from terrmap.web import static_assets
from terrmap.web.static_assets import (
    ASSET_FILES,
    ASSET_VERSIONS,
    ASSETS_DIR,
    DEFAULT_ASSET_BASE,
    POINTS_BASE,
    MissingAssetsError,
    asset_urls,
    check_assets,
    missing_assets,
    publish_points,
)

EVIL = "<img src=x onerror=alert(1)>"
NASTY = "Zone `${alert(2)}` </script><script>alert(3)</script> & co"


@pytest.fixture
def points() -> pd.DataFrame:
    """Eight accounts on the 2x2 grid (lon 0..2, lat 0..2), two share a spot.

    ::

        lat 2 +-------+-------+
              | e   f | g     |
        lat 1 +-------+-------+
              | a  b  | c     |      x (lon 3, lat 0.5, outside)
        lat 0 +-------+-------+
            lon 0   lon 1   lon 2

    ``d`` sits on ``c`` exactly; ``h`` is ``x``, outside every territory.
    """
    return pd.DataFrame(
        {
            "name": ["a", "b", "c", "d", "e", "f", "g", EVIL],
            "lon": [0.25, 0.75, 1.5, 1.5, 0.25, 0.75, 1.25, 3.0],
            "lat": [0.5, 0.5, 0.5, 0.5, 1.5, 1.5, 1.5, 0.5],
        },
        index=pd.Index([f"ACC-{c}" for c in "abcdefgh"], name="account_id"),
    )


@pytest.fixture
def territories(grid_territories: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The shared 2x2 grid, two of its names hostile."""
    out = grid_territories.copy()
    out["name"] = [EVIL, NASTY, "North-West", "North-East"]
    return out


def _map_script(m: folium.Map) -> str:
    m.get_root().render()
    return sf._get_map_string(m)


def _call_argument(script: str, call: str):
    start = script.index(call) + len(call)
    obj, _ = json.JSONDecoder().raw_decode(script[start:])
    return obj


def _update_payload(layer: folium.FeatureGroup) -> dict:
    m = folium.Map(tiles=None)
    return _call_argument(sf._get_feature_group_string(layer, m), "terrmap.update(")


def _urls(rendered_html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', rendered_html)


class TestAssets:
    def test_default_urls_are_served_by_the_app(self):
        urls = asset_urls()
        assert set(urls) == set(ASSET_FILES)
        assert all(u.startswith(DEFAULT_ASSET_BASE + "/") for u in urls.values())
        assert DEFAULT_ASSET_BASE.startswith("/component/")

    def test_base_url_path_is_honoured(self):
        assert asset_urls("/terrmap/assets/")["leaflet_js"] == "/terrmap/assets/leaflet/leaflet.js"

    @pytest.mark.parametrize("base", ["https://cdn.example.com", "app/static", ""])
    def test_remote_or_relative_base_rejected(self, base):
        with pytest.raises(ValueError, match="asset_base"):
            asset_urls(base)

    def test_missing_assets_say_the_installation_is_incomplete(self, tmp_path):
        assert missing_assets(tmp_path) == list(ASSET_FILES.values())
        with pytest.raises(MissingAssetsError, match="installation is incomplete"):
            check_assets(tmp_path)

    def test_vendored_assets_are_complete(self):
        assert missing_assets() == []
        check_assets()

    @pytest.mark.parametrize(
        ("rel", "banner"),
        [
            ("leaflet/leaflet.js", "Leaflet 1.9.4"),
            ("leaflet-draw/leaflet.draw.js", "Leaflet.draw 1.0.4"),
        ],
    )
    def test_vendored_versions_are_the_pinned_ones(self, rel, banner):
        assert banner in (ASSETS_DIR / rel).read_text(encoding="utf-8")[:600]

    def test_readme_records_every_version_and_licence(self):
        readme = (ASSETS_DIR / "README.md").read_text(encoding="utf-8")
        for package, version in ASSET_VERSIONS.items():
            assert re.search(rf"\| `{package}/` \| {package} \| {re.escape(version)} \|", readme)
        for folder in ("leaflet", "leaflet-lasso"):
            assert (ASSETS_DIR / folder / "LICENSE").is_file()

    def test_stylesheet_images_are_vendored(self):
        for css in ("leaflet/leaflet.css", "leaflet-draw/leaflet.draw.css"):
            path = ASSETS_DIR / css
            images = set(
                re.findall(r"url\(['\"]?(images/[^)'\"]+)", path.read_text(encoding="utf-8"))
            )
            assert images, css
            assert all((path.parent / image).is_file() for image in images), images

    def test_serve_registers_both_folders_under_the_urls_used(self, tmp_path, monkeypatch):
        monkeypatch.setenv(static_assets.CACHE_DIR_ENV, str(tmp_path))
        declared = {}

        class Component:
            def __init__(self, name):
                self.name = name

        def declare_component(name, path):
            declared[name] = path
            # Streamlit names a component after the module that declares it.
            return Component(f"terrmap.web.static_assets.{name}")

        static_assets.serve(declare_component)
        assert declared == {"assets": str(ASSETS_DIR), "points": str(tmp_path / "points")}
        assert (tmp_path / "points").is_dir()
        assert DEFAULT_ASSET_BASE == "/component/terrmap.web.static_assets.assets"
        assert POINTS_BASE == "/component/terrmap.web.static_assets.points"

    def test_serve_refuses_a_component_name_the_urls_do_not_use(self, tmp_path, monkeypatch):
        monkeypatch.setenv(static_assets.CACHE_DIR_ENV, str(tmp_path))

        class Component:
            name = "elsewhere.assets"

        with pytest.raises(RuntimeError, match="elsewhere.assets"):
            static_assets.serve(lambda name, path: Component())

    def test_rendered_map_loads_nothing_remote(self, points, territories):
        m = mv.build_base_map(points["lon"], points["lat"])
        mv.build_update_layer(np.zeros(len(points), int), territories).add_to(m)
        page = m.get_root().render()
        urls = _urls(page)
        assert urls, "expected script and stylesheet links"
        assert all(u.startswith(DEFAULT_ASSET_BASE + "/") for u in urls), urls
        assert "http://" not in page and "https://" not in page

    def test_st_folium_links_are_local(self, points):
        """st_folium collects default_js/css of every element itself."""
        m = mv.build_base_map(points["lon"], points["lat"])
        m.get_root().render()
        links = [
            url
            for element in [m, *m._children.values()]
            for _, url in [
                *getattr(element, "default_js", []),
                *getattr(element, "default_css", []),
            ]
        ]
        assert {u.rsplit("/", 1)[-1] for u in links} >= {
            "leaflet.js",
            "leaflet.css",
            "leaflet.draw.js",
            "leaflet.draw.css",
            "leaflet-lasso.umd.min.js",
        }
        assert all(u.startswith(DEFAULT_ASSET_BASE + "/") for u in links)

    def test_tiles_are_optional(self, points):
        bare = mv.build_base_map(points["lon"], points["lat"]).get_root().render()
        tiled = (
            mv.build_base_map(points["lon"], points["lat"], tiles="OpenStreetMap")
            .get_root()
            .render()
        )
        assert "tile.openstreetmap.org" not in bare
        assert "tile.openstreetmap.org" in tiled


class TestBaseMap:
    def test_same_data_gives_the_same_component_key(self, points):
        """st_folium remounts the map whenever this hash changes."""
        keys = {
            sf.generate_js_hash(_map_script(mv.build_base_map(points["lon"], points["lat"])), "k")
            for _ in range(2)
        }
        assert len(keys) == 1

    def test_different_points_give_a_different_key(self, points):
        a = _map_script(mv.build_base_map(points["lon"], points["lat"]))
        b = _map_script(mv.build_base_map(points["lon"] + 0.01, points["lat"]))
        assert sf.generate_js_hash(a, "k") != sf.generate_js_hash(b, "k")

    def test_library_survives_st_folium_renaming(self, points):
        script = _map_script(mv.build_base_map(points["lon"], points["lat"]))
        assert mv._library_js() in script
        assert "terrmap.init(map_div, " in script
        assert "drawnItems" not in mv._library_js()

    def test_positions_round_trip_as_float32(self, points):
        script = _map_script(mv.build_base_map(points["lon"], points["lat"]))
        config = _call_argument(script, "terrmap.init(map_div, ")
        coords = np.frombuffer(base64.b64decode(config["points"]), dtype="<f4")
        assert config["n"] == len(points)
        np.testing.assert_array_equal(coords[:8], points["lon"].to_numpy(np.float32))
        np.testing.assert_array_equal(coords[8:], points["lat"].to_numpy(np.float32))

    def test_home_base_names_escaped(self, points, grid_reps):
        reps = grid_reps.assign(name=[EVIL, "Bob", None, NASTY])
        script = _map_script(mv.build_base_map(points["lon"], points["lat"], home_bases=reps))
        homes = _call_argument(script, "terrmap.init(map_div, ")["homes"]
        assert [h["html"] for h in homes] == [
            html.escape(EVIL),
            "Bob",
            "R3",
            html.escape(NASTY),
        ]
        assert "<img" not in script and "</script" not in script

    def test_inputs_not_mutated(self, points, grid_reps):
        before_points, before_reps = points.copy(), grid_reps.copy()
        mv.build_base_map(points["lon"], points["lat"], home_bases=grid_reps)
        pd.testing.assert_frame_equal(points, before_points)
        pd.testing.assert_frame_equal(grid_reps, before_reps)

    @pytest.mark.parametrize(
        ("lon", "lat", "match"),
        [
            ([0.0, 1.0], [0.0], "differ in length"),
            ([0.0, np.nan], [0.0, 1.0], "position 1"),
            ([0.0, 200.0], [0.0, 1.0], "lon=200.0"),
            ([[0.0]], [[0.0]], "1-D"),
        ],
    )
    def test_bad_coordinates_rejected(self, lon, lat, match):
        with pytest.raises(ValueError, match=match):
            mv.build_base_map(lon, lat)

    def test_bad_bounds_rejected(self, points):
        with pytest.raises(ValueError, match="bounds"):
            mv.build_base_map(points["lon"], points["lat"], bounds=(2, 2, 0, 0))

    def test_home_bases_need_coordinates(self, points):
        with pytest.raises(ValueError, match="home_lat"):
            mv.build_base_map(points["lon"], points["lat"], home_bases=pd.DataFrame({"x": [1]}))


class TestUpdateLayer:
    def test_hostile_names_are_inert(self, territories):
        layer = mv.build_update_layer(np.array([0, 1, -1]), territories)
        script = sf._get_feature_group_string(layer, folium.Map(tiles=None))
        # Backticks and ${ are inert inside JSON's double-quoted strings.
        assert "<img" not in script and "</script" not in script
        payload = _call_argument(script, "terrmap.update(")
        assert [e["html"] for e in payload["legend"]][:2] == [html.escape(EVIL), html.escape(NASTY)]
        assert payload["labels"][0]["html"] == html.escape(EVIL)

    def test_callouts_escaped(self, territories):
        payload = _update_payload(mv.build_update_layer([0, 0], territories, callouts={1: EVIL}))
        assert payload["callouts"] == [{"i": 1, "html": html.escape(EVIL)}]

    @pytest.mark.parametrize("position", [2, -1])
    def test_callout_outside_points_rejected(self, territories, position):
        with pytest.raises(ValueError, match=f"callout position {position}"):
            mv.build_update_layer([0, 0], territories, callouts={position: "x"})

    def test_codes_shifted_into_bytes(self, territories):
        payload = _update_payload(mv.build_update_layer([0, 3, -1, 2], territories))
        assert payload["code_bytes"] == 1
        assert list(base64.b64decode(payload["codes"])) == [1, 4, 0, 3]

    def test_many_territories_use_two_bytes(self):
        many = pd.DataFrame({"name": [f"T{i}" for i in range(300)]})
        payload = _update_payload(mv.build_update_layer([299, -1], many))
        assert payload["code_bytes"] == 2
        assert np.frombuffer(base64.b64decode(payload["codes"]), "<u2").tolist() == [300, 0]

    def test_selection_bitmask(self, territories):
        mask = np.array([True, False, False, True, False, False, False, False, True])
        payload = _update_payload(
            mv.build_update_layer(np.zeros(9, int), territories, selected=mask)
        )
        bits = np.unpackbits(
            np.frombuffer(base64.b64decode(payload["selected"]), np.uint8), bitorder="little"
        )
        assert bits[:9].astype(bool).tolist() == mask.tolist()

    def test_same_inputs_same_script(self, territories):
        """streamlit-folium re-evaluates the layer only when its script changes."""

        def script(codes):
            return sf._get_feature_group_string(
                mv.build_update_layer(codes, territories), folium.Map(tiles=None)
            )

        assert script([0, 1]) == script([0, 1])
        assert script([0, 1]) != script([1, 1])

    def test_labels_inside_their_territory(self, territories):
        payload = _update_payload(mv.build_update_layer([0], territories))
        inside = [
            geom.contains(shapely.Point(lb["lng"], lb["lat"]))
            for geom, lb in zip(territories.geometry, payload["labels"], strict=True)
        ]
        assert all(inside)

    def test_projected_territories_drawn_in_degrees(self, territories):
        projected = territories.to_crs(3857)
        payload = _update_payload(mv.build_update_layer([0], projected))
        x0, y0, x1, y1 = shapely.geometry.shape(payload["shapes"]["features"][3]["geometry"]).bounds
        assert (x0, y0, x1, y1) == pytest.approx((1, 1, 2, 2), abs=1e-4)

    def test_missing_geometry_listed_not_drawn(self, territories):
        holed = territories.copy()
        holed.loc["SE", "geometry"] = None
        payload = _update_payload(mv.build_update_layer([0], holed))
        assert len(payload["legend"]) == 4
        assert len(payload["shapes"]["features"]) == 3
        assert len(payload["labels"]) == 3

    def test_territories_not_mutated(self, territories):
        before = territories.copy()
        mv.build_update_layer([0, 1], territories, simplify_tolerance=0.1)
        pd.testing.assert_frame_equal(territories, before)

    @pytest.mark.parametrize(
        ("codes", "kwargs", "match"),
        [
            ([0, 4], {}, "code 4 out of range"),
            ([-2], {}, "code -2 out of range"),
            ([0.5], {}, "integer"),
            ([0], {"colors": ["#ffffff"]}, "1 colors for 4"),
            ([0], {"colors": ["red"] * 4}, "'red'"),
            ([0, 1], {"selected": [True]}, "selected has 1"),
            ([0], {"simplify_tolerance": -1.0}, "simplify_tolerance"),
        ],
    )
    def test_bad_input_rejected(self, territories, codes, kwargs, match):
        with pytest.raises(ValueError, match=match):
            mv.build_update_layer(codes, territories, **kwargs)


class TestAssignmentCodes:
    def test_codes_follow_territory_order(self):
        assignment = pd.Series(
            ["NE", pd.NA, "SW", "GONE"], index=["a", "b", "c", "d"], dtype="string"
        )
        codes = mv.assignment_codes(assignment, ["d", "c", "b", "a", "new"], ["SW", "NE"])
        assert codes.tolist() == [-1, 0, -1, 1, -1]

    @given(st.lists(st.sampled_from(["T1", "T2", "T3", "gone", None]), max_size=30), st.booleans())
    def test_matches_a_naive_lookup(self, labels, reverse):
        ids = [f"a{i}" for i in range(len(labels))]
        assignment = pd.Series(labels, index=ids, dtype="string")
        order = ["T2", "T1", "T3"]
        wanted = ids[::-1] if reverse else ids
        expected = [
            order.index(x) if x in order else -1
            for x in assignment.reindex(wanted).to_numpy(dtype=object, na_value=None)
        ]
        assert mv.assignment_codes(assignment, wanted, order).tolist() == expected

    def test_duplicate_territories_rejected(self):
        with pytest.raises(ValueError, match="'T1'"):
            mv.assignment_codes(pd.Series(["T1"], index=["a"]), ["a"], ["T1", "T1"])

    def test_duplicate_accounts_rejected(self):
        with pytest.raises(ValueError, match="'a'"):
            mv.assignment_codes(pd.Series(["T1", "T1"], index=["a", "a"]), ["a"], ["T1"])


class TestColors:
    def test_palette_distinct_and_not_grey(self):
        assert len(set(palette.PALETTE)) == len(palette.PALETTE) >= 12
        assert palette.UNASSIGNED_COLOR not in palette.PALETTE

    def test_touching_territories_differ(self, territories):
        # All four squares meet at (1, 1), so all four must differ.
        assert len(set(palette.territory_colors(territories))) == 4

    def test_without_geometry_colours_cycle(self):
        frame = pd.DataFrame({"name": range(len(palette.PALETTE) + 1)})
        colours = palette.territory_colors(frame)
        assert colours[0] == colours[-1] == palette.PALETTE[0]

    @given(st.integers(1, 6), st.integers(1, 6))
    def test_grid_neighbours_never_share_a_colour(self, rows, cols):
        cells = [shapely.box(c, r, c + 1, r + 1) for r in range(rows) for c in range(cols)]
        frame = gpd.GeoDataFrame(geometry=cells)
        colours = palette.territory_colors(frame)
        left, right = shapely.STRtree(cells).query(cells, predicate="intersects")
        assert all(colours[a] != colours[b] for a, b in zip(left, right, strict=True) if a != b)


class TestEvents:
    def test_nothing_yet(self):
        assert mv.parse_map_event(None) is None
        assert (
            mv.parse_map_event({"last_active_drawing": None, "last_object_clicked": None}) is None
        )

    def test_foreign_drawing_ignored(self):
        drawing = {
            "type": "Feature",
            "properties": {},
            "geometry": shapely.box(0, 0, 1, 1).__geo_interface__,
        }
        assert mv.parse_map_event({"last_active_drawing": drawing}) is None

    def test_rectangle_selects_inside(self, points):
        drawing = {
            "type": "Feature",
            "properties": {"terrmap_event": "e1", "terrmap_tool": "rectangle"},
            "geometry": shapely.box(0, 0, 1, 1).__geo_interface__,
        }
        event = mv.parse_map_event({"last_active_drawing": drawing, "last_object_clicked": None})
        assert (event.kind, event.event_id, event.tool) == ("shape", "e1", "rectangle")
        picked = mv.select_accounts(event, points["lon"], points["lat"], points.index)
        assert list(picked) == ["ACC-a", "ACC-b"]

    def test_crossed_lasso_keeps_both_loops(self):
        bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
        drawing = {"type": "Feature", "properties": {"terrmap_event": "e2"}, "geometry": bowtie}
        event = mv.parse_map_event({"last_active_drawing": drawing})
        assert event.geometry.is_valid
        assert event.geometry.area == pytest.approx(2.0)
        # One point in each loop, one below the crossing.
        lon, lat = [0.3, 1.7, 1.0], [1.0, 1.0, 0.3]
        assert list(mv.select_accounts(event, lon, lat, ["left", "right", "below"])) == [
            "left",
            "right",
        ]

    def test_click_after_drawing_wins(self, points):
        """A click leaves the old drawing in place; a new drawing clears the click."""
        value = {
            "last_active_drawing": {
                "type": "Feature",
                "properties": {"terrmap_event": "old"},
                "geometry": shapely.box(0, 0, 1, 1).__geo_interface__,
            },
            "last_object_clicked": {
                "lat": float(np.float32(0.5)),
                "lng": float(np.float32(1.5)),
                "terrmap_event": "new",
                "terrmap_index": 2,
            },
        }
        event = mv.parse_map_event(value)
        assert (event.kind, event.event_id, event.index) == ("point", "new", 2)
        picked = mv.select_accounts(event, points["lon"], points["lat"], points.index)
        assert list(picked) == ["ACC-c", "ACC-d"]

    def test_stale_click_selects_nothing(self, points):
        click = {"lat": 40.0, "lng": -100.0, "terrmap_event": "x"}
        event = mv.parse_map_event({"last_object_clicked": click})
        assert list(mv.select_accounts(event, points["lon"], points["lat"], points.index)) == []

    def test_plain_map_click_ignored(self):
        """Clicks st_folium reports for other layers carry no terrmap id."""
        assert mv.parse_map_event({"last_object_clicked": {"lat": 1.0, "lng": 1.0}}) is None

    @given(st.floats(-10, 10), st.floats(-10, 10), st.floats(0.01, 5), st.floats(0.01, 5))
    def test_box_selection_matches_bounds_filter(self, x, y, w, h):
        rng = np.random.default_rng(0)
        lon, lat = rng.uniform(-12, 12, 200), rng.uniform(-12, 12, 200)
        drawing = {
            "type": "Feature",
            "properties": {"terrmap_event": "e"},
            "geometry": shapely.box(x, y, x + w, y + h).__geo_interface__,
        }
        event = mv.parse_map_event({"last_active_drawing": drawing})
        picked = mv.select_accounts(event, lon, lat, pd.RangeIndex(200))
        inside = (lon > x) & (lon < x + w) & (lat > y) & (lat < y + h)
        assert list(picked) == list(np.flatnonzero(inside))


class TestPublishedPoints:
    def test_file_holds_the_positions_and_is_reused(self, tmp_path):
        lon, lat = np.array([-71.5, -72.25, -70.0]), np.array([42.0, 41.5, 43.125])
        url = publish_points(lon, lat, tmp_path)
        name = url.rsplit("/", 1)[1]
        assert url == f"{POINTS_BASE}/{name}"
        data = np.frombuffer((tmp_path / name).read_bytes(), dtype="<f4")
        assert data.tolist() == [*lon.astype("f4").tolist(), *lat.astype("f4").tolist()]
        assert publish_points(lon, lat, tmp_path) == url
        assert publish_points(lon[::-1], lat[::-1], tmp_path) != url
        assert [p.suffix for p in tmp_path.iterdir()] == [".bin", ".bin"]

    def test_default_folder_is_the_cache_named_by_the_environment(self, tmp_path, monkeypatch):
        monkeypatch.setenv(static_assets.CACHE_DIR_ENV, str(tmp_path))
        url = publish_points(np.array([1.0]), np.array([2.0]))
        assert (tmp_path / "points" / url.rsplit("/", 1)[1]).is_file()

    def test_mismatched_lengths_are_refused(self, tmp_path):
        with pytest.raises(ValueError, match="one length"):
            publish_points(np.zeros(3), np.zeros(2), tmp_path)

    def test_map_with_points_url_carries_no_positions(self):
        lon, lat = np.linspace(-75, -70, 5000), np.linspace(40, 44, 5000)
        inline = mv.build_base_map(lon, lat).get_root().render()
        linked = (
            mv.build_base_map(lon, lat, points_url="/app/static/cache/p.bin").get_root().render()
        )
        assert '"points_url":"/app/static/cache/p.bin"' in linked
        assert len(linked) < len(inline) - 30_000


class TestShapesMemo:
    def test_sessions_on_threads_get_their_own_shapes_and_the_memo_stays_bounded(self, territories):
        from concurrent.futures import ThreadPoolExecutor

        frames = []
        for offset in range(3 * mv._SHAPES_MEMO_SIZE):
            frame = territories.copy()
            frame["geometry"] = territories.geometry.translate(xoff=offset)
            frames.append(frame)
        codes = np.zeros(8, dtype=int)

        def west_edge(offset: int) -> float:
            payload = _update_payload(mv.build_update_layer(codes, frames[offset]))
            xs = [
                x
                for feature in payload["shapes"]["features"]
                for ring in feature["geometry"]["coordinates"]
                for x, _ in ring
            ]
            return min(xs)

        jobs = [offset for _ in range(4) for offset in range(len(frames))]
        with ThreadPoolExecutor(max_workers=8) as pool:
            edges = list(pool.map(west_edge, jobs))
        assert edges == [float(offset) for offset in jobs]
        assert len(mv._SHAPES_MEMO) <= mv._SHAPES_MEMO_SIZE
