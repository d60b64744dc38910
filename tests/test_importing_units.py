"""Unit layers chosen at import: any GIS format, the id field chosen, problems named."""

from __future__ import annotations

import io
import zipfile

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from terrmap.io.importing import UnitChoice, build_unit_layer, prepare_import, unit_layer_fields

ACCOUNTS = b"""id,name,lat,lon,revenue,owner
A1,Acme,42.3601,-71.0942,1000,Ana
A2,Beta,42.7654,-71.4676,3000,Ben
A3,Far away,37.7897,-122.3942,4000,Ben
"""


def _zones() -> gpd.GeoDataFrame:
    """Two districts: FIPS-like numeric ids, as a Census shapefile carries them."""
    return gpd.GeoDataFrame(
        {"GEOID": [25025, 33011], "NAME": ["Boston metro", "Merrimack valley"]},
        geometry=[shapely.box(-71.5, 42.0, -70.5, 42.6), shapely.box(-72, 42.6, -71, 43.2)],
        crs="EPSG:4326",
    )


def _file(fmt: str, tmp_path) -> tuple[bytes, str]:
    """The zones written as an upload of format ``fmt`` (bytes and file name)."""
    frame = _zones()
    if fmt == "shapefile":
        folder = tmp_path / "shp"
        folder.mkdir()
        frame.to_file(folder / "zones.shp")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for part in folder.iterdir():
                archive.write(part, part.name)
        return buffer.getvalue(), "zones.zip"
    if fmt == "parquet":
        path = tmp_path / "zones.parquet"
        frame.to_parquet(path)
    else:
        path = tmp_path / f"zones.{fmt}"
        frame.to_crs("EPSG:3857").to_file(path)  # another CRS: reprojected on reading
    return path.read_bytes(), path.name


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shapefile", "parquet"])
def test_any_gis_format_with_the_id_field_chosen(fmt, tmp_path):
    data, name = _file(fmt, tmp_path)
    assert {"GEOID", "NAME"} <= set(unit_layer_fields(data, name))
    choice = UnitChoice("uploaded", source=data, filename=name, id_field="GEOID", name_field="NAME")
    result = prepare_import(ACCOUNTS, filenames={"accounts": "crm.csv"}, units=choice)
    assert result.problems == ()
    units = result.workspace.units
    assert list(units.unit_ids) == ["25025", "33011"]
    assert units.units["name"].tolist() == ["Boston metro", "Merrimack valley"]
    plan = result.workspace.initial_plan
    assert plan.account_unit[["A1", "A2"]].tolist() == ["25025", "33011"]
    assert plan.account_unit.isna()["A3"]  # in no unit: white space, kept


class TestProblems:
    def test_a_missing_id_field_lists_the_fields(self, tmp_path):
        data, name = _file("geojson", tmp_path)
        choice = UnitChoice("uploaded", source=data, filename=name, id_field="ZCTA5CE20")
        result = prepare_import(ACCOUNTS, filenames={"accounts": "crm.csv"}, units=choice)
        assert result.workspace is None
        (problem,) = result.problems
        assert problem.startswith("Unit layer:") and "'ZCTA5CE20'" in problem
        assert "GEOID" in problem and "NAME" in problem

    def test_territory_polygons_as_units_need_territories(self):
        result = prepare_import(
            ACCOUNTS, filenames={"accounts": "crm.csv"}, units=UnitChoice("territories")
        )
        # one territory per owner is drawn: those polygons are the units
        assert result.problems == ()
        assert result.workspace.units.n_units == 2
        with pytest.raises(ValueError, match="no territory polygons"):
            build_unit_layer(UnitChoice("territories"), result.workspace.accounts, None)

    def test_unknown_choice(self):
        with pytest.raises(ValueError, match="'zcta'"):
            UnitChoice("zcta")

    def test_no_coordinates(self):
        accounts = pd.DataFrame({"lon": [float("nan")], "lat": [float("nan")]}, index=["A"])
        with pytest.raises(ValueError, match="no account has coordinates"):
            build_unit_layer(UnitChoice("county"), accounts, None)
