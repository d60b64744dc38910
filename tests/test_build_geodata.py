"""scripts/build_geodata.py on a tiny TopoJSON file shaped like us-atlas's (no network)."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_geodata", ROOT / "scripts/build_geodata.py")
build_geodata = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_geodata)

#: Two unit squares side by side, as arcs: (0,0)-(1,1) and (1,0)-(2,1)::
#:
#:     +----+----+
#:     | 25 | 36 |
#:     +----+----+
TOPOLOGY = {
    "type": "Topology",
    "arcs": [
        [[1, 0], [0, 0], [0, 1], [1, 1]],
        [[1, 1], [1, 0]],
        [[1, 0], [2, 0], [2, 1], [1, 1]],
    ],
    "objects": {
        "states": {
            "type": "GeometryCollection",
            "geometries": [
                {"type": "Polygon", "arcs": [[0, 1]], "id": "25", "properties": {"name": "Massachusetts"}},
                {"type": "Polygon", "arcs": [[2, ~1]], "id": "36", "properties": {"name": "New York"}},
            ],
        },
        "counties": {
            "type": "GeometryCollection",
            "geometries": [
                {"type": "Polygon", "arcs": [[0, 1]], "id": "25025", "properties": {"name": "Suffolk"}},
                {"type": "Polygon", "arcs": [[2, ~1]], "id": "36001", "properties": {"name": "Albany"}},
            ],
        },
        "nation": {"type": "GeometryCollection", "geometries": []},
    },
}  # fmt: skip


def write_atlas(tmp_path: Path, topology: dict) -> Path:
    (tmp_path / build_geodata.US_FILE).write_text(json.dumps(topology), encoding="utf-8")
    return tmp_path


def test_states_and_counties_from_topojson(tmp_path):
    states, counties = build_geodata.us_frames(write_atlas(tmp_path, TOPOLOGY))
    assert list(states.index) == ["25", "36"]
    assert states.loc["25", "abbr"] == "MA" and states.loc["36", "abbr"] == "NY"
    assert list(counties.index) == ["25025", "36001"]
    assert counties.loc["36001", ["name", "state_fips", "state"]].tolist() == [
        "Albany",
        "36",
        "New York",
    ]
    assert shapely.equals(states.loc["25", "geometry"], shapely.box(0, 0, 1, 1))
    assert states.crs.to_epsg() == 4326


def test_fips_table_covers_the_states_and_territories():
    # 50 states + DC + 5 territories, each with a distinct 2-letter code.
    table = build_geodata.STATE_ABBR
    assert len(table) == 56
    assert len(set(table.values())) == 56
    assert table["06"] == "CA" and table["48"] == "TX" and table["78"] == "VI"


@pytest.mark.parametrize(
    ("layer", "index", "new_id", "match"),
    [
        ("states", 0, "99", "without a USPS code"),
        ("counties", 0, "2502", "not a 5-digit FIPS"),
        ("counties", 1, "25025", "duplicate id"),
        ("counties", 1, "37001", "missing from the states layer"),
    ],
)
def test_bad_ids_are_named(tmp_path, layer, index, new_id, match):
    topology = copy.deepcopy(TOPOLOGY)
    topology["objects"][layer]["geometries"][index]["id"] = new_id
    with pytest.raises(ValueError, match=match) as error:
        build_geodata.us_frames(write_atlas(tmp_path, topology))
    assert new_id[:2] in str(error.value)


def test_basemap_lines_draw_the_shared_border_once(tmp_path):
    states, counties = build_geodata.us_frames(write_atlas(tmp_path, TOPOLOGY))
    far = shapely.box(50, 50, 51, 51)  # a "world" that does not touch the US
    countries = gpd.GeoDataFrame({"name": ["Far"]}, geometry=[far], crs=4326)
    land = gpd.GeoDataFrame({"name": ["land"]}, geometry=[far], crs=4326)
    lines = build_geodata.basemap_lines(states, counties, countries, land)
    state = shapely.union_all(lines.geometry[lines["kind"] == "state"].to_numpy())
    # The outline of the two squares plus their shared edge, each once: length 6 + 1.
    assert state.length == pytest.approx(7.0)
    # Counties coincide with states here: no county line is left.
    assert (lines["kind"] == "county").sum() == 0
    coast = lines.geometry[lines["kind"] == "coast"]
    assert shapely.union_all(coast.to_numpy()).length == pytest.approx(4.0)
