"""The packaged boundaries against facts from outside the code.

Expectations come from the Census Bureau's FIPS code lists and from places
whose county everybody can look up, never from the data files themselves.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from terrmap.geo import boundaries as bd

#: 50 states and DC (FIPS codes skip 03, 07, 14, 43 and 52).
STATES_AND_DC = {
    "01", "02", "04", "05", "06", "08", "09", "10", "11", "12", "13", "15", "16", "17",
    "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31",
    "32", "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "44", "45", "46",
    "47", "48", "49", "50", "51", "53", "54", "55", "56",
}  # fmt: skip
#: Inhabited territories: American Samoa, Guam, Northern Mariana Is., Puerto Rico, USVI.
TERRITORIES = {"60", "66", "69", "72", "78"}

#: (lat, lon, county FIPS, county name, state) of well-known places.
PLACES = [
    (42.3601, -71.0589, "25025", "Suffolk", "Massachusetts"),  # Boston City Hall
    (42.6526, -73.7562, "36001", "Albany", "New York"),  # Albany
    (41.8781, -87.6298, "17031", "Cook", "Illinois"),  # Chicago Loop
    (34.0522, -118.2437, "06037", "Los Angeles", "California"),  # Los Angeles
    (29.7604, -95.3698, "48201", "Harris", "Texas"),  # Houston
    (38.8977, -77.0365, "11001", "District of Columbia", "District of Columbia"),
]


def county_at(counties, lat, lon):
    inside = shapely.contains_xy(counties.geometry.to_numpy(), lon, lat)
    return list(counties.index[inside])


class TestStates:
    def test_fifty_states_dc_and_territories_with_unique_fips(self):
        states = bd.us_states()
        assert states.index.name == "unit_id"
        assert states.index.is_unique
        assert set(states.index) == STATES_AND_DC | TERRITORIES

    def test_names_and_postal_codes(self):
        states = bd.us_states()
        assert states.loc["25", "name"] == "Massachusetts"
        assert states.loc["25", "abbr"] == "MA"
        assert states.loc["36", "abbr"] == "NY"
        assert states.loc["11", "abbr"] == "DC"
        assert states.loc["72", "abbr"] == "PR"
        assert states["abbr"].is_unique
        assert states["abbr"].str.fullmatch(r"[A-Z]{2}").all()

    def test_geometry_valid_in_wgs84(self):
        states = bd.us_states()
        assert states.crs.to_epsg() == 4326
        assert states.geometry.is_valid.all()
        assert set(states.geom_type) <= {"Polygon", "MultiPolygon"}
        # Texas is the largest state of the contiguous US.
        lower48 = states.drop(index=["02", "15", *TERRITORIES])
        assert lower48.to_crs("EPSG:5070").geometry.area.idxmax() == "48"

    def test_known_point_in_state(self):
        states = bd.us_states()
        inside = shapely.contains_xy(states.geometry.to_numpy(), -104.9903, 39.7392)  # Denver
        assert list(states.index[inside]) == ["08"]


class TestCounties:
    def test_about_3200_counties_with_unique_five_digit_fips(self):
        counties = bd.us_counties()
        assert counties.index.name == "unit_id"
        assert counties.index.is_unique
        assert counties.index.str.fullmatch(r"\d{5}").all()
        # 3,143 counties and equivalents in the 50 states and DC, plus 78 in Puerto Rico
        # and a few in the island areas (2017 vintage).
        in_states = counties[counties["state_fips"].isin(STATES_AND_DC)]
        assert 3_130 <= len(in_states) <= 3_150
        assert len(counties) >= 3_200

    def test_state_columns_agree_with_the_fips_prefix(self):
        counties = bd.us_counties()
        states = bd.us_states()
        assert (counties["state_fips"] == counties.index.str[:2]).all()
        assert (counties["state"] == counties["state_fips"].map(states["name"])).all()

    @pytest.mark.parametrize(("lat", "lon", "fips", "name", "state"), PLACES)
    def test_known_places(self, lat, lon, fips, name, state):
        counties = bd.us_counties()
        assert county_at(counties, lat, lon) == [fips]
        assert counties.loc[fips, "name"] == name
        assert counties.loc[fips, "state"] == state

    def test_geometry_valid(self):
        counties = bd.us_counties()
        assert counties.crs.to_epsg() == 4326
        assert counties.geometry.is_valid.all()
        # Falls Church city, VA (5 km²) is simplified away in the 1:10m source.
        assert list(counties.index[counties.geometry.is_empty]) == ["51610"]

    def test_counties_tile_their_state(self):
        counties = bd.us_counties()
        states = bd.us_states()
        ma = shapely.union_all(counties.geometry[counties["state_fips"] == "25"].to_numpy())
        iou = shapely.area(shapely.intersection(ma, states.loc["25", "geometry"])) / shapely.area(
            shapely.union(ma, states.loc["25", "geometry"])
        )
        assert iou > 0.999


class TestWorld:
    def test_countries_by_iso_numeric(self):
        countries = bd.world_countries()
        assert countries.index.is_unique
        assert countries.loc["840", "name"] == "United States of America"
        assert countries.loc["124", "name"] == "Canada"
        assert countries.loc["276", "name"] == "Germany"
        assert countries.geometry.is_valid.all()
        assert len(countries) > 200

    def test_known_point_in_country(self):
        countries = bd.world_countries()
        inside = shapely.contains_xy(countries.geometry.to_numpy(), 2.3522, 48.8566)  # Paris
        assert list(countries.index[inside]) == ["250"]

    def test_land_and_coastlines(self):
        land = bd.world_land()
        assert land.geometry.is_valid.all()
        geom = land.geometry.iloc[0]
        assert geom.contains(shapely.Point(-100.0, 40.0))  # Kansas
        assert not geom.contains(shapely.Point(-40.0, 30.0))  # mid-Atlantic
        assert not geom.contains(shapely.Point(51.0, 42.0))  # Caspian Sea
        coast = bd.coastlines()
        assert (coast.geom_type == "LineString").all()
        # Every coastline runs along the land's edge.
        sample = shapely.line_interpolate_point(
            coast.geometry.to_numpy()[::50], 0.5, normalized=True
        )
        assert (shapely.distance(shapely.boundary(geom), sample) < 1e-6).all()


class TestCopies:
    @pytest.mark.parametrize(
        "loader", [bd.us_states, bd.us_counties, bd.world_countries, bd.world_land]
    )
    def test_each_call_gets_its_own_frame(self, loader):
        first = loader()
        first["name"] = "changed"
        first.geometry.values[0] = None
        second = loader()
        assert (second["name"] != "changed").all()
        assert not second.geometry.isna().any()


class TestBasemapLines:
    def test_lines_stay_inside_the_box(self):
        box = (-74.5, 41.0, -71.0, 43.5)
        lines = bd.basemap_lines(box)
        assert len(lines) > 0
        x0, y0, x1, y1 = shapely.total_bounds(lines.geometry.to_numpy())
        assert x0 >= box[0] and y0 >= box[1] and x1 <= box[2] and y1 <= box[3]
        assert lines.crs.to_epsg() == 4326
        assert set(lines.geom_type) <= {"LineString", "MultiLineString"}

    def test_new_york_massachusetts_border_is_a_state_line(self):
        # The NY-MA border runs from the CT corner (42.05 N, 73.487 W) to the
        # VT corner (42.745 N, 73.265 W): about 73.375 W at 42.4 N.
        lines = bd.basemap_lines((-73.7, 42.2, -73.3, 42.6), level="state")
        assert set(lines["kind"]) == {"state"}
        border = shapely.union_all(lines.geometry.to_numpy())
        assert border.distance(shapely.Point(-73.375, 42.4)) < 0.02

    def test_levels_nest(self):
        box = (-80.0, 40.0, -70.0, 46.0)  # New York, New England and Ontario
        country = bd.basemap_lines(box, level="country")
        state = bd.basemap_lines(box, level="state")
        county = bd.basemap_lines(box, level="county")
        assert set(country["kind"]) == {"country", "coast"}
        assert set(state["kind"]) == {"country", "coast", "state"}
        assert set(county["kind"]) == {"country", "coast", "state", "county"}
        assert len(country) < len(state) < len(county)

    def test_county_lines_are_not_state_lines(self):
        # Shared borders are drawn once: no county line lies on a state line.
        lines = bd.basemap_lines((-74.5, 41.0, -71.0, 43.5))
        state = shapely.union_all(lines.geometry[lines["kind"] == "state"].to_numpy())
        county = lines.geometry[lines["kind"] == "county"].to_numpy()
        mids = shapely.line_interpolate_point(county, 0.5, normalized=True)
        assert (shapely.distance(mids, state) > 1e-6).all()

    def test_europe_has_country_lines_and_no_us_lines(self):
        lines = bd.basemap_lines((-5.0, 42.0, 15.0, 55.0))
        assert set(lines["kind"]) == {"country", "coast"}
        # France-Germany border near Strasbourg.
        border = shapely.union_all(lines.geometry[lines["kind"] == "country"].to_numpy())
        assert border.distance(shapely.Point(7.8, 48.6)) < 0.1

    def test_open_ocean_is_empty(self):
        lines = bd.basemap_lines((-45.0, 20.0, -35.0, 30.0))
        assert len(lines) == 0
        assert list(lines.columns) == ["kind", "geometry"]

    def test_simplification_drops_vertices_keeps_the_box(self):
        box = (-80.0, 40.0, -70.0, 46.0)
        full = bd.basemap_lines(box)
        coarse = bd.basemap_lines(box, tolerance=0.05)
        n_full = shapely.get_num_coordinates(full.geometry.to_numpy()).sum()
        n_coarse = shapely.get_num_coordinates(coarse.geometry.to_numpy()).sum()
        assert n_coarse < n_full / 2
        assert np.all(
            shapely.total_bounds(coarse.geometry.to_numpy()) >= np.array(box[:2] * 2)[[0, 1, 0, 1]]
        )

    @settings(max_examples=25, deadline=None)
    @given(
        x=st.floats(-130, -60),
        y=st.floats(20, 55),
        w=st.floats(0.01, 15),
        h=st.floats(0.01, 10),
    )
    def test_any_box_gets_exactly_the_lines_inside_it(self, x, y, w, h):
        box = (x, y, x + w, y + h)
        lines = bd.basemap_lines(box)
        geoms = lines.geometry.to_numpy()
        if len(lines):
            x0, y0, x1, y1 = shapely.total_bounds(geoms)
            assert x0 >= box[0] and y0 >= box[1] and x1 <= box[2] and y1 <= box[3]
        # As long as the whole map's lines cut to the box, kind by kind.
        everything = bd.basemap_lines((-180, -85, 180, 85))
        for kind in bd.LINE_KINDS:
            whole = everything.geometry[everything["kind"] == kind].to_numpy()
            expected = shapely.length(shapely.clip_by_rect(whole, *box)).sum()
            got = shapely.length(geoms[lines["kind"].to_numpy() == kind]).sum()
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"bounds": (1, 2, 3)}, "bounds"),
            ({"bounds": (5, 0, 1, 1)}, "bounds"),
            ({"bounds": (0, 0, float("nan"), 1)}, "bounds"),
            ({"bounds": "abcd"}, "bounds"),
            ({"bounds": (0, 0, 1, 1), "level": "zip"}, "level"),
            ({"bounds": (0, 0, 1, 1), "tolerance": -1}, "tolerance"),
        ],
    )
    def test_bad_input(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            bd.basemap_lines(**kwargs)
