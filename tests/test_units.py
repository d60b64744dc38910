"""Unit layers: uploaded polygons, H3 cells, approximate ZIP areas; lookup and adjacency."""

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely

from terrmap.geo.units import (
    approximate_zip_units,
    h3_units,
    read_units,
    territory_units,
    units_from_polygons,
)


def _grid(n: int, *, ids=None) -> gpd.GeoDataFrame:
    """An n x n grid of unit squares, ids ``r{row}c{col}`` (row 0 at the bottom)."""
    boxes = [shapely.box(c, r, c + 1, r + 1) for r in range(n) for c in range(n)]
    names = ids or [f"r{r}c{c}" for r in range(n) for c in range(n)]
    return gpd.GeoDataFrame({"code": names}, geometry=boxes, crs="EPSG:4326")


class TestUploadedPolygons:
    def test_ids_names_and_lookup(self):
        frame = _grid(2)
        frame["label"] = ["a", "b", None, "d"]
        layer = units_from_polygons(frame, "code", name_field="label")
        assert list(layer.unit_ids) == ["r0c0", "r0c1", "r1c0", "r1c1"]
        assert layer.units["name"].tolist() == ["a", "b", "r1c0", "d"]
        codes = layer.locate(
            np.array([0.5, 1.5, 0.5, 7.0, np.nan]), np.array([0.5, 0.5, 1.5, 0.5, 1.0])
        )
        assert codes.tolist() == [0, 1, 2, -1, -1]

    def test_unit_of_accounts_lists_white_space(self):
        layer = units_from_polygons(_grid(2), "code")
        accounts = pd.DataFrame({"lon": [0.5, 9.0], "lat": [1.5, 9.0]}, index=["x", "y"])
        units = layer.unit_of(accounts)
        assert units["x"] == "r1c0"
        assert units.isna().tolist() == [False, True]

    def test_numeric_ids_from_a_shapefile_lose_the_float_tail(self):
        frame = _grid(2)
        frame["fips"] = [6037.0, 6059.0, 6065.0, 6071.0]
        layer = units_from_polygons(frame, "fips")
        assert list(layer.unit_ids) == ["6037", "6059", "6065", "6071"]

    def test_missing_id_field_lists_the_fields(self):
        with pytest.raises(ValueError, match="'ZCTA'.*code"):
            units_from_polygons(_grid(2), "ZCTA")

    def test_duplicate_ids_are_named(self):
        with pytest.raises(ValueError, match=r"duplicates: \['x'\]"):
            units_from_polygons(_grid(2, ids=["x", "y", "x", "z"]), "code")

    def test_empty_id_is_named_by_feature(self):
        with pytest.raises(ValueError, match=r"feature\(s\) \[3\]"):
            units_from_polygons(_grid(2, ids=["x", "y", None, "z"]), "code")

    def test_points_are_refused(self):
        frame = gpd.GeoDataFrame({"code": ["p"]}, geometry=[shapely.Point(0, 0)], crs="EPSG:4326")
        with pytest.raises(ValueError, match=r"\['p'\] are not polygons"):
            units_from_polygons(frame, "code")

    def test_invalid_polygon_repaired_and_reported(self, caplog):
        bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
        frame = gpd.GeoDataFrame(
            {"code": ["bow", "ok"]}, geometry=[bowtie, shapely.box(5, 5, 6, 6)], crs="EPSG:4326"
        )
        layer = units_from_polygons(frame, "code")
        assert shapely.is_valid(layer.units.geometry).all()
        assert layer.units.geometry["bow"].area == pytest.approx(2.0)
        assert any("invalid" in w and "bow" in w for w in layer.warnings)
        assert "bow" in caplog.text
        # the repaired bowtie still holds points in both of its lobes
        assert layer.locate(np.array([0.5, 1.5]), np.array([1.0, 1.0])).tolist() == [0, 0]

    def test_overlaps_are_named(self):
        frame = gpd.GeoDataFrame(
            {"code": ["A", "B", "C"]},
            geometry=[
                shapely.box(0, 0, 1, 1),
                shapely.box(0.5, 0, 1.5, 1),
                shapely.box(3, 3, 4, 4),
            ],
            crs="EPSG:4326",
        )
        layer = units_from_polygons(frame, "code")
        assert any("overlap" in w and "A/B" in w for w in layer.warnings)
        # an account in both goes to the first
        assert layer.locate(np.array([0.75]), np.array([0.5])).tolist() == [0]

    def test_reprojected_to_wgs84(self):
        frame = _grid(2).to_crs("EPSG:3857")
        layer = units_from_polygons(frame, "code")
        assert layer.units.crs.to_epsg() == 4326
        assert layer.units.geometry["r1c1"].centroid.x == pytest.approx(1.5, abs=1e-6)

    def test_input_not_mutated(self):
        frame = _grid(2)
        before = frame.copy()
        units_from_polygons(frame, "code")
        pd.testing.assert_frame_equal(pd.DataFrame(frame), pd.DataFrame(before))

    @pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp"])
    def test_read_any_gis_file(self, tmp_path, suffix):
        path = tmp_path / f"zones{suffix}"
        _grid(2).to_file(path)
        layer = read_units(path, "code")
        assert sorted(layer.unit_ids) == ["r0c0", "r0c1", "r1c0", "r1c1"]
        assert layer.kind == "uploaded"

    def test_unreadable_file_says_so(self, tmp_path):
        path = tmp_path / "zones.geojson"
        path.write_text("not json at all")
        with pytest.raises(ValueError, match="cannot read unit layer"):
            read_units(path, "code")


class TestAdjacency:
    def test_rook_and_queen_on_a_grid(self):
        layer = units_from_polygons(_grid(3), "code")
        # 3x3 grid: 12 shared edges; queen adds the 8 diagonal corner contacts
        assert len(layer.adjacency().pairs) == 12
        assert len(layer.adjacency(queen=True).pairs) == 20
        rook = {tuple(p) for p in layer.adjacency().pairs.tolist()}
        assert (0, 1) in rook and (0, 3) in rook and (0, 4) not in rook

    def test_csr_is_symmetric(self):
        indptr, indices = units_from_polygons(_grid(2), "code").adjacency().csr()
        neighbours = [sorted(indices[indptr[i] : indptr[i + 1]].tolist()) for i in range(4)]
        assert neighbours == [[1, 2], [0, 3], [0, 3], [1, 2]]

    def test_remembered_pairs_are_used_and_checked(self):
        layer = units_from_polygons(_grid(2), "code")
        layer.remember_adjacency(np.array([[0, 1]]))
        assert layer.adjacency().pairs.tolist() == [[0, 1]]
        with pytest.raises(ValueError, match=r"outside 0\.\.3"):
            layer.remember_adjacency(np.array([[0, 4]]))

    def test_computed_once(self):
        layer = units_from_polygons(_grid(2), "code")
        assert layer.adjacency() is layer.adjacency()


class TestH3:
    def test_cells_hold_their_points_and_neighbours_are_true_neighbours(self):
        rng = np.random.default_rng(1)
        lon = rng.uniform(-71.2, -70.9, 300)
        lat = rng.uniform(42.2, 42.45, 300)
        layer = h3_units(lon, lat, 7)
        assert layer.kind == "h3" and layer.params == {"resolution": 7}
        codes = layer.locate(lon, lat)
        assert (codes >= 0).all()
        geoms = layer.units.geometry.to_numpy()[codes]
        assert shapely.intersects_xy(geoms, lon, lat).all()
        ids = layer.unit_ids
        for a, b in layer.adjacency().pairs.tolist():
            assert h3.are_neighbor_cells(ids[a], ids[b])
        # every neighbouring pair of cells in the layer is listed
        listed = {tuple(p) for p in layer.adjacency().pairs.tolist()}
        expected = {
            (i, j)
            for i in range(len(ids))
            for j in range(i + 1, len(ids))
            if h3.are_neighbor_cells(ids[i], ids[j])
        }
        assert listed == expected

    def test_a_disk_has_twelve_inner_edges_plus_the_ring(self):
        centre = h3.latlng_to_cell(40.0, -100.0, 6)
        cells = list(h3.grid_disk(centre, 1))
        points = np.array([h3.cell_to_latlng(c) for c in cells])
        # cover only the cells' centres: a tiny area around the centre cell
        area = shapely.Point(points[0, 1], points[0, 0]).buffer(1e-4)
        layer = h3_units(points[:, 1], points[:, 0], 6, area=area)
        assert sorted(layer.unit_ids) == sorted(cells)
        # 6 spokes from the centre + 6 edges around the ring
        assert len(layer.adjacency().pairs) == 12

    def test_lookup_is_h3s_own_cell(self):
        rng = np.random.default_rng(5)
        lon = rng.uniform(-71.2, -70.9, 500)
        lat = rng.uniform(42.2, 42.45, 500)
        layer = h3_units(lon, lat, 8)
        lon = np.append(lon, [np.nan, -71.0, 200.0])
        lat = np.append(lat, [42.3, np.nan, 95.0])
        found = layer.unit_ids.to_numpy()[layer.locate(lon, lat)[:500]]
        expected = [h3.latlng_to_cell(y, x, 8) for x, y in zip(lon[:500], lat[:500], strict=True)]
        assert found.tolist() == expected
        assert layer.locate(lon, lat)[500:].tolist() == [-1, -1, -1]

    def test_points_elsewhere_are_white_space(self):
        layer = h3_units(np.array([-100.0]), np.array([40.0]), 5)
        assert layer.locate(np.array([10.0, np.nan]), np.array([50.0, 1.0])).tolist() == [-1, -1]

    def test_default_cover_fills_the_accounts_area(self):
        lon = np.array([-100.0, -99.0])
        lat = np.array([40.0, 40.0])
        layer = h3_units(lon, lat, 6)
        # two far-apart accounts; the cover joins them into one piece
        assert layer.n_units > 2
        indptr, indices = layer.adjacency().csr()
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        graph = csr_matrix((np.ones(len(indices)), indices, indptr), shape=(layer.n_units,) * 2)
        assert connected_components(graph)[0] == 1

    def test_too_many_cells_names_a_resolution_that_fits(self):
        with pytest.raises(ValueError, match="resolution 12 needs .* use resolution \\d+"):
            h3_units(np.array([-100.0, -99.0]), np.array([40.0, 41.0]), 12)

    def test_bad_resolution(self):
        with pytest.raises(ValueError, match="16"):
            h3_units(np.array([0.0]), np.array([0.0]), 16)


class TestApproximateZip:
    AREA = shapely.box(-71.15, 42.30, -71.0, 42.40)

    def test_cells_tile_the_area_and_hold_their_centroid(self):
        layer = approximate_zip_units(self.AREA)
        assert layer.approximate and layer.kind == "zip-approximate"
        assert "02139" in layer.unit_ids  # Cambridge, MA
        geoms = layer.units.geometry
        assert shapely.area(geoms.to_numpy()).sum() == pytest.approx(self.AREA.area, rel=1e-6)
        assert shapely.union_all(geoms.to_numpy()).symmetric_difference(self.AREA).area < 1e-9
        from terrmap.geo.zipgeo import zip_table

        table = zip_table().set_index("zip").loc[list(layer.unit_ids)]
        assert shapely.contains_xy(geoms.to_numpy(), table["lon"], table["lat"]).all()

    def test_clipped_to_the_county_of_their_centroid(self):
        west = shapely.box(-71.15, 42.30, -71.08, 42.40)
        east = shapely.box(-71.08, 42.30, -71.0, 42.40)
        counties = gpd.GeoDataFrame(
            {"name": ["West", "East"]}, geometry=[west, east], index=["W", "E"], crs="EPSG:4326"
        )
        layer = approximate_zip_units(self.AREA, counties=counties)
        for geom in layer.units.geometry:
            inside_west = geom.difference(west).area < 1e-12
            inside_east = geom.difference(east).area < 1e-12
            assert inside_west or inside_east

    def test_no_zip_in_the_area(self):
        with pytest.raises(ValueError, match="no ZIP"):
            approximate_zip_units(shapely.box(-30, 0, -29, 1))


def test_territory_polygons_as_units(grid_territories):
    layer = territory_units(grid_territories)
    assert list(layer.unit_ids) == ["SW", "SE", "NW", "NE"]
    assert layer.units["name"].tolist() == ["South-West", "South-East", "North-West", "North-East"]
    assert layer.units.geometry.geom_equals(grid_territories.geometry).all()


@pytest.fixture(scope="module")
def new_england():
    return shapely.box(-73.8, 41.0, -69.8, 43.0)


class TestBoundaries:
    """US counties and states shipped with terrmap, checked against well-known geography."""

    def test_counties_hold_their_cities(self, new_england):
        from terrmap.geo.units import boundary_units

        counties = boundary_units("county", within=new_england)
        assert counties.kind == "county"
        # Boston City Hall, Harvard Yard, Providence
        codes = counties.locate(
            np.array([-71.0589, -71.1167, -71.4128]), np.array([42.3601, 42.3744, 41.8240])
        )
        assert counties.unit_ids[codes].tolist() == ["25025", "25017", "44007"]

    def test_county_neighbours(self, new_england):
        from terrmap.geo.units import boundary_units

        counties = boundary_units("county", within=new_england)
        ids = counties.unit_ids
        pairs = {frozenset((ids[a], ids[b])) for a, b in counties.adjacency().pairs.tolist()}
        assert frozenset(("25025", "25017")) in pairs  # Suffolk - Middlesex
        assert frozenset(("25025", "25021")) in pairs  # Suffolk - Norfolk
        assert frozenset(("25025", "25027")) not in pairs  # Suffolk - Worcester

    def test_state_neighbours(self):
        from terrmap.geo.units import boundary_units

        states = boundary_units("state")
        ids = states.unit_ids
        pairs = states.adjacency().pairs.tolist()
        massachusetts = {
            ids[b] if ids[a] == "25" else ids[a] for a, b in pairs if "25" in (ids[a], ids[b])
        }
        assert massachusetts == {"09", "33", "36", "44", "50"}  # CT, NH, NY, RI, VT; not ME

    def test_zip_areas_clipped_to_counties(self):
        from terrmap.geo.units import boundary_units

        area = shapely.box(-71.2, 42.25, -70.95, 42.45)
        counties = boundary_units("county", within=area).units
        layer = approximate_zip_units(area, counties=counties)
        assert layer.params["clipped_to"] == "counties"
        for geom in layer.units.geometry:
            spill = min(geom.difference(c).area for c in counties.geometry)
            assert spill < 1e-9
