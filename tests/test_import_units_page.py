"""The Import page's unit layer: counties, H3 cells or an uploaded polygon layer, driven by ``AppTest``.

The user picks the building blocks of the territories on the Import page; the
plan made from the upload is then a territory definition on those units.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from streamlit.testing.v1 import AppTest

IMPORT_PAGE = "pages/import_data.py"

ACCOUNTS = b"""id,name,lat,lon,revenue,owner
A1,Acme,42.3601,-71.0942,1000,Ana
A2,Beta,42.3554,-71.0550,2000,Ben
A3,Gamma,42.7654,-71.4676,3000,Ana
A4,Far away,37.7897,-122.3942,4000,Ben
"""


def _geojson(frame: gpd.GeoDataFrame) -> bytes:
    return frame.to_json().encode()


TERRITORIES = _geojson(
    gpd.GeoDataFrame(
        {"territory": ["Boston", "North"]},
        geometry=[shapely.box(-71.2, 42.2, -70.9, 42.5), shapely.box(-72, 42.5, -71.2, 43)],
        crs="EPSG:4326",
    )
)


def _zones(codes: list[str]) -> bytes:
    """Two sales districts: Z1 around Boston, Z2 north of it (ids as given)."""
    return _geojson(
        gpd.GeoDataFrame(
            {"zone_code": codes, "label": ["Boston metro", "Merrimack valley"], "rank": [1, 2]},
            geometry=[shapely.box(-71.5, 42.0, -70.5, 42.6), shapely.box(-72, 42.6, -71, 43.2)],
            crs="EPSG:4326",
        )
    )


@pytest.fixture
def at(open_app_page) -> AppTest:
    at = open_app_page(IMPORT_PAGE)
    at.file_uploader(key="import_file_accounts").upload("crm.csv", ACCOUNTS)
    at.file_uploader(key="import_file_territories").upload("territories.geojson", TERRITORIES)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _choose(at: AppTest, kind: str) -> AppTest:
    at.selectbox(key="import_units").set_value(kind).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _use(at: AppTest):
    at.button(key="import_use").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at.session_state["workspace"]


def _shown(markdown: str) -> str:
    """Text as the user reads it (file text reaches markdown escaped)."""
    return markdown.replace("\\", "")


def _accounts_follow_their_units(workspace) -> None:
    """Every account is in the unit whose shape holds it, and in that unit's territory."""
    plan = workspace.initial_plan
    units = workspace.units.units.geometry
    for account, unit in plan.account_unit.dropna().items():
        row = workspace.accounts.loc[account]
        assert shapely.intersects_xy(units[unit], row["lon"], row["lat"]), account
        territory, of_unit = plan.assignment[account], plan.unit_assignment.get(unit, pd.NA)
        assert (pd.isna(territory) and pd.isna(of_unit)) or territory == of_unit, account


class TestUnitChoice:
    def test_without_a_choice_territories_are_accounts(self, at):
        assert at.selectbox(key="import_units").value == "none"
        workspace = _use(at)
        assert workspace.units is None and workspace.initial_plan.layout is None

    def test_counties(self, at):
        _choose(at, "county")
        assert any("units: US counties" in c.value for c in at.caption)
        workspace = _use(at)
        plan = workspace.initial_plan
        assert workspace.units.kind == "county"
        # Suffolk County (Boston) lies inside the Boston box
        assert plan.unit_assignment["25025"] == "Boston"
        assert plan.account_unit["A2"] == "25025" and plan.assignment["A2"] == "Boston"
        assert plan.account_unit["A1"] == "25017"  # Cambridge is in Middlesex
        # San Francisco is a county of the accounts' area, in no territory: white space
        assert plan.account_unit["A4"] == "06075" and plan.assignment.isna()["A4"]
        _accounts_follow_their_units(workspace)

    def test_h3_at_a_chosen_resolution(self, at):
        _choose(at, "h3")
        at.number_input(key="import_h3_resolution").set_value(6).run()
        assert not at.exception
        workspace = _use(at)
        assert workspace.units.kind == "h3"
        assert workspace.units.params == {"resolution": 6}
        assert workspace.initial_plan.definition().unit_params == {"resolution": 6}
        _accounts_follow_their_units(workspace)

    def test_a_resolution_too_fine_names_one_that_fits(self, at):
        workspace = at.session_state["workspace"]
        _choose(at, "h3")
        at.number_input(key="import_h3_resolution").set_value(15).run()
        errors = [_shown(e.value) for e in at.error]
        assert any("H3 resolution 15 needs about" in e and "use resolution" in e for e in errors)
        assert not any(b.key == "import_use" for b in at.button)
        assert at.session_state["workspace"] is workspace

    def test_approximate_zip_areas_say_so(self, at):
        _choose(at, "zip-approximate")
        assert any("(approximate shapes)" in c.value for c in at.caption)
        workspace = _use(at)
        assert workspace.units.approximate
        # downtown Boston: the ZIP area it falls in has its centroid nearby
        from terrmap.geo.zipgeo import zip_table

        centroid = zip_table().set_index("zip").loc[workspace.initial_plan.account_unit["A2"]]
        assert abs(centroid["lat"] - 42.3554) < 0.02 and abs(centroid["lon"] + 71.0550) < 0.02
        _accounts_follow_their_units(workspace)


class TestUploadedLayer:
    def test_the_id_field_is_chosen_and_outside_accounts_are_listed(self, at):
        _choose(at, "uploaded")
        assert not any(b.key == "import_use" for b in at.button)  # nothing to use yet
        at.file_uploader(key="import_file_units").upload("zones.geojson", _zones(["Z1", "Z2"]))
        at.run()
        assert {"zone_code", "label", "rank"} <= set(at.selectbox(key="import_unit_id").options)
        at.selectbox(key="import_unit_id").set_value("zone_code").run()
        at.selectbox(key="import_unit_name").set_value("label").run()
        assert not at.exception
        listing = next(e for e in at.expander if e.label.startswith("Accounts in no unit (1)"))
        outside = listing.dataframe[0].value
        assert outside.index.tolist() == ["A4"]
        workspace = _use(at)
        plan = workspace.initial_plan
        assert workspace.units.kind == "uploaded"
        assert workspace.units.units["name"].to_dict() == {
            "Z1": "Boston metro",
            "Z2": "Merrimack valley",
        }
        assert plan.unit_assignment.to_dict() == {"Z1": "Boston", "Z2": "North"}
        assert plan.assignment.dropna().to_dict() == {"A1": "Boston", "A2": "Boston", "A3": "North"}
        _accounts_follow_their_units(workspace)

    def test_duplicate_ids_are_named_and_nothing_changes(self, at):
        workspace = at.session_state["workspace"]
        _choose(at, "uploaded")
        at.file_uploader(key="import_file_units").upload("zones.geojson", _zones(["Z1", "Z1"]))
        at.run()
        at.selectbox(key="import_unit_id").set_value("zone_code").run()
        errors = [_shown(e.value) for e in at.error]
        assert any("zone_code" in e and "duplicates" in e and "Z1" in e for e in errors), errors
        assert not any(b.key == "import_use" for b in at.button)
        assert at.session_state["workspace"] is workspace

    def test_overlapping_units_are_named(self, at):
        _choose(at, "uploaded")
        overlapping = gpd.GeoDataFrame(
            {"zone_code": ["Z1", "Z2"]},
            geometry=[shapely.box(-71.5, 42.0, -70.5, 42.6), shapely.box(-71.2, 42.3, -71, 43.2)],
            crs="EPSG:4326",
        )
        at.file_uploader(key="import_file_units").upload("zones.geojson", _geojson(overlapping))
        at.run()
        at.selectbox(key="import_unit_id").set_value("zone_code").run()
        warnings = _shown(" ".join(w.value for w in at.warning))
        assert "overlap" in warnings and "Z1/Z2" in warnings

    def test_an_invalid_polygon_is_repaired_named_and_kept(self, at):
        _choose(at, "uploaded")
        bowtie = shapely.Polygon([(-71.5, 42.0), (-70.5, 42.6), (-70.5, 42.0), (-71.5, 42.6)])
        layer = gpd.GeoDataFrame(
            {"zone_code": ["Z1", "Z2"]},
            geometry=[bowtie, shapely.box(-72, 42.6, -71, 43.2)],
            crs="EPSG:4326",
        )
        at.file_uploader(key="import_file_units").upload("zones.geojson", _geojson(layer))
        at.run()
        at.selectbox(key="import_unit_id").set_value("zone_code").run()
        warnings = _shown(" ".join(w.value for w in at.warning))
        assert "repaired 1 invalid polygon" in warnings and "Z1" in warnings
        workspace = _use(at)
        assert list(workspace.units.unit_ids) == ["Z1", "Z2"]
        assert workspace.units.units.geometry.is_valid.all()
        _accounts_follow_their_units(workspace)

    def test_an_unreadable_layer_is_named(self, at):
        _choose(at, "uploaded")
        at.file_uploader(key="import_file_units").upload("zones.geojson", b"not a layer")
        at.run()
        assert any("zones.geojson" in _shown(e.value) for e in at.error)
        assert not any(b.key == "import_use" for b in at.button)


def test_unit_ids_are_text_even_when_numeric(open_app_page):
    at = open_app_page(IMPORT_PAGE)
    at.file_uploader(key="import_file_accounts").upload("crm.csv", ACCOUNTS)
    at.file_uploader(key="import_file_territories").upload("territories.geojson", TERRITORIES)
    at.run()
    _choose(at, "uploaded")
    at.file_uploader(key="import_file_units").upload("zones.geojson", _zones(["Z1", "Z2"]))
    at.run()
    at.selectbox(key="import_unit_id").set_value("rank").run()
    workspace = _use(at)
    assert list(workspace.units.unit_ids) == ["1", "2"]
    assert np.array_equal(workspace.initial_plan.layout.account_units, [0, 0, 1, -1])
