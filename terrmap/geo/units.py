"""Building blocks of territories: unit layers, point-to-unit lookup, adjacency.

A territory is geography plus exceptions (:mod:`terrmap.core.definition`); the
geography is a set of *units* (counties, states, ZIP areas, H3 cells or any
polygon layer a user uploads, the uploaded territory polygons included). A
:class:`UnitLayer` holds them once per data set: unit ids (strings), names,
geometry in EPSG:4326, its kind and whether the shapes are approximate.

Everything after building the layer works on integer unit positions, as
GerryChain's ``Graph.from_geodataframe`` does: :meth:`UnitLayer.locate` gives
the unit position of each account (-1 for white space), and
:meth:`UnitLayer.adjacency` the neighbour pairs, found once from shared
boundaries (polygons) or by arithmetic on the grid (H3).

Examples
--------
>>> import geopandas as gpd, pandas as pd, shapely
>>> frame = gpd.GeoDataFrame(
...     {"code": ["W", "E"]},
...     geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
...     crs="EPSG:4326",
... )
>>> layer = units_from_polygons(frame, "code")
>>> layer.locate(pd.Series([0.5, 1.5, 9.0]), pd.Series([0.5, 0.5, 0.5])).tolist()
[0, 1, -1]
>>> layer.adjacency().pairs.tolist()
[[0, 1]]
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from h3ronpy.vector import coordinates_to_cells

from terrmap.core.definition import UNIT_KINDS, Definition, labelled
from terrmap.core.schema import CRS
from terrmap.geo.assign import PolygonIndex, assign_accounts, overlapping_territories
from terrmap.geo.shapes import build_cells, study_area, territory_shapes
from terrmap.geo.zipgeo import zip_table

__all__ = [
    "Adjacency",
    "UnitLayer",
    "approximate_zip_units",
    "boundary_units",
    "definition_from_polygons",
    "dissolved",
    "h3_units",
    "read_units",
    "territory_units",
    "units_from_polygons",
]

logger = logging.getLogger(__name__)

#: Polygon type ids in shapely (Polygon, MultiPolygon).
_POLYGONAL = (3, 6)

#: Equal-area projection for areas in square kilometres.
_EQUAL_AREA_CRS = "EPSG:6933"

#: Most H3 cells :func:`h3_units` builds unless told otherwise.
MAX_H3_CELLS = 200_000


@dataclass(frozen=True, eq=False)
class Adjacency:
    """Neighbouring units as index pairs ``(i, j)`` with ``i < j``.

    Attributes
    ----------
    n_units : int
        Number of units (nodes).
    pairs : numpy.ndarray
        ``(m, 2)`` integer positions of neighbouring units, each pair once.
    """

    n_units: int
    pairs: np.ndarray

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        """Symmetric adjacency in compressed rows: ``(indptr, indices)``."""
        a = np.concatenate([self.pairs[:, 0], self.pairs[:, 1]])
        b = np.concatenate([self.pairs[:, 1], self.pairs[:, 0]])
        order = np.lexsort((b, a))
        indptr = np.zeros(self.n_units + 1, dtype=np.int64)
        np.add.at(indptr, a + 1, 1)
        return np.cumsum(indptr), b[order].astype(np.int64)


@dataclass(frozen=True, eq=False)
class UnitLayer:
    """The building blocks of one data set.

    Attributes
    ----------
    kind : str
        One of :data:`terrmap.core.definition.UNIT_KINDS`.
    units : geopandas.GeoDataFrame
        Indexed by ``unit_id`` (string), columns ``name`` and ``geometry``
        (valid Polygon/MultiPolygon, EPSG:4326).
    approximate : bool
        Whether the shapes only approximate the real areas (ZIP areas grown
        from centroids); say so wherever they show.
    params : dict
        How the layer was built (e.g. ``{"resolution": 7}`` for H3), enough
        to build it again from a definition file.
    warnings : tuple of str
        What was repaired or found suspicious while building (invalid
        polygons repaired, overlapping units), naming the unit ids.
    """

    kind: str
    units: gpd.GeoDataFrame = field(repr=False)
    approximate: bool = False
    params: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in UNIT_KINDS:
            raise ValueError(f"unknown unit kind {self.kind!r}; expected one of {UNIT_KINDS}")

    @property
    def unit_ids(self) -> pd.Index:
        """Unit ids, in layer order (position = unit code)."""
        return self.units.index

    @property
    def n_units(self) -> int:
        """Number of units."""
        return len(self.units)

    def locate(self, lon: pd.Series | np.ndarray, lat: pd.Series | np.ndarray) -> np.ndarray:
        """Find the unit holding each point; -1 for points in no unit (white space).

        Parameters
        ----------
        lon, lat : array-like
            WGS84 degrees; NaN is in no unit.

        Returns
        -------
        numpy.ndarray
            ``int64`` positions in :attr:`unit_ids`. A point inside overlapping
            units gets the first by layer order.
        """
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        if self.kind == "h3":
            if "h3_numbers" not in self._cache:
                self._cache["h3_numbers"] = pd.Index(_h3_numbers(self.unit_ids))
            cells = _h3_cell_numbers(lon, lat, int(self.params["resolution"]))
            return self._cache["h3_numbers"].get_indexer(cells).astype(np.int64)
        return self.index().locate(lon, lat).codes

    def index(self) -> PolygonIndex:
        """Return the point lookup over the units (built on first use, then kept)."""
        if "index" not in self._cache:
            geoms = np.asarray(self.units.geometry.values, dtype=object).copy()
            self._cache["index"] = PolygonIndex(geoms)
        return self._cache["index"]

    def unit_of(self, accounts: pd.DataFrame) -> pd.Series:
        """Give the unit id of each account (``<NA>`` outside every unit)."""
        codes = self.locate(accounts["lon"], accounts["lat"])
        return pd.Series(
            labelled(self.unit_ids, codes),
            index=accounts.index,
            name="unit_id",
            dtype="string",
        )

    def remember_adjacency(self, pairs: np.ndarray, *, queen: bool = False) -> None:
        """Take neighbour pairs found earlier (e.g. stored with the layer) instead of finding them.

        Parameters
        ----------
        pairs : numpy.ndarray
            ``(m, 2)`` unit positions, as :meth:`adjacency` gives them.
        queen : bool, default False
            Which contiguity they are.

        Raises
        ------
        ValueError
            When a pair names a position outside the layer.
        """
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        if len(pairs) and (pairs.min() < 0 or pairs.max() >= self.n_units):
            raise ValueError(f"adjacency pairs name units outside 0..{self.n_units - 1}")
        self._cache["queen" if queen else "rook"] = Adjacency(self.n_units, pairs)

    def adjacency(self, *, queen: bool = False) -> Adjacency:
        """Neighbouring units, computed once per layer and kind of contiguity.

        Parameters
        ----------
        queen : bool, default False
            Rook (a shared boundary line) when False; queen (any shared
            point, corners included) when True. H3 cells share edges only, so
            both give the same pairs.
        """
        key = "queen" if queen else "rook"
        if key not in self._cache:
            if self.kind == "h3":
                pairs = _h3_pairs(self.unit_ids)
            else:
                pairs = _polygon_pairs(np.asarray(self.units.geometry.values), queen=queen)
            self._cache[key] = Adjacency(self.n_units, pairs)
        return self._cache[key]


def read_units(
    source: str | os.PathLike[str] | BinaryIO | bytes,
    id_field: str,
    *,
    name_field: str | None = None,
    kind: str = "uploaded",
) -> UnitLayer:
    """Read a unit layer from any GIS file pyogrio reads.

    Parameters
    ----------
    source : path, bytes or binary file
        GeoJSON, GeoPackage, Shapefile (or a zip holding one), FlatGeobuf,
        GeoParquet...
    id_field : str
        The field holding the unit id (e.g. ``ZCTA5CE20``).
    name_field : str, optional
        A field with a readable name; the id is the name otherwise.
    kind : str, default "uploaded"
        One of :data:`~terrmap.core.definition.UNIT_KINDS`.

    Returns
    -------
    UnitLayer

    Raises
    ------
    ValueError
        As :func:`units_from_polygons`, or when the file cannot be read.
    """
    try:
        if isinstance(source, str | os.PathLike) and Path(source).suffix.lower() == ".parquet":
            frame = gpd.read_parquet(source)
        else:
            frame = gpd.read_file(source, engine="pyogrio")
    except Exception as error:  # pyogrio raises its own error types per driver
        raise ValueError(f"cannot read unit layer: {error}") from error
    return units_from_polygons(frame, id_field, name_field=name_field, kind=kind)


def units_from_polygons(
    frame: gpd.GeoDataFrame,
    id_field: str | None,
    *,
    name_field: str | None = None,
    kind: str = "uploaded",
    approximate: bool = False,
    params: dict | None = None,
) -> UnitLayer:
    """Build a unit layer from polygons, checking what users' files get wrong.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        Polygons in any CRS (reprojected to EPSG:4326; a frame without a CRS
        is taken to be in EPSG:4326).
    id_field : str or None
        Column holding the unit ids; ``None`` uses the frame's index.
    name_field : str, optional
        Column with a readable name.
    kind : str, default "uploaded"
        One of :data:`~terrmap.core.definition.UNIT_KINDS`.
    approximate : bool, default False
        Whether the shapes are approximations.
    params : dict, optional
        Stored on the layer (how it was built).

    Returns
    -------
    UnitLayer
        Invalid polygons repaired with ``shapely.make_valid`` and overlapping
        units listed, both in :attr:`UnitLayer.warnings` (and logged).

    Raises
    ------
    ValueError
        When the id field is missing, has empty values or duplicates, or a
        geometry is missing or not polygonal, naming the unit ids.
    """
    if id_field is not None and id_field not in frame.columns:
        raise ValueError(
            f"unit id field {id_field!r} not in the layer; fields are {_fields(frame)}"
        )
    if name_field is not None and name_field not in frame.columns:
        raise ValueError(f"name field {name_field!r} not in the layer; fields are {_fields(frame)}")
    raw_ids = frame[id_field] if id_field is not None else frame.index.to_series()
    ids = _id_text(raw_ids)
    empty = ids.isna().to_numpy()
    if empty.any():
        rows = (np.flatnonzero(empty)[:5] + 1).tolist()
        raise ValueError(f"unit id field {id_field!r} is empty in feature(s) {rows}")
    duplicated = ids.duplicated(keep=False).to_numpy()
    if duplicated.any():
        dupes = sorted(set(ids[duplicated]))[:5]
        raise ValueError(f"unit id field {id_field!r} has duplicates: {dupes}")
    if frame.crs is None:
        frame = frame.set_crs(CRS)
    elif frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(CRS)
    geoms = np.asarray(frame.geometry.values, dtype=object).copy()
    id_values = ids.to_numpy(dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        raise ValueError(f"unit(s) {id_values[missing][:5].tolist()} have no geometry")
    types = shapely.get_type_id(geoms)
    if not np.isin(types, _POLYGONAL).all():
        bad = id_values[~np.isin(types, _POLYGONAL)][:5].tolist()
        raise ValueError(f"unit(s) {bad} are not polygons; a unit layer holds areas")
    warnings: list[str] = []
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms[invalid] = [_polygonal_part(g) for g in shapely.make_valid(geoms[invalid])]
        warnings.append(
            f"repaired {int(invalid.sum())} invalid polygon(s): {_listing(id_values[invalid])}"
        )
    names = (
        frame[name_field].astype(object).where(frame[name_field].notna(), None).to_numpy()
        if name_field is not None
        else id_values
    )
    names = np.where(pd.isna(names), id_values, names).astype(str)
    index = pd.Index(id_values, name="unit_id", dtype=object)
    units = gpd.GeoDataFrame(
        {"name": names}, geometry=gpd.GeoSeries(geoms, index=index, crs=CRS), index=index
    )
    overlaps = overlapping_territories(units[["geometry"]])
    if len(overlaps):
        pairs = [f"{a}/{b}" for a, b in overlaps[["territory_a", "territory_b"]].to_numpy()]
        warnings.append(
            f"{len(pairs)} pair(s) of units overlap (an account inside both goes to the first): "
            f"{_listing(np.asarray(pairs, dtype=object))}"
        )
    for message in warnings:
        logger.warning("unit layer: %s", message)
    return UnitLayer(
        kind=kind,
        units=units,
        approximate=approximate,
        params=dict(params or {}, **({"id_field": id_field} if id_field else {})),
        warnings=tuple(warnings),
    )


def territory_units(territories: gpd.GeoDataFrame) -> UnitLayer:
    """Use the uploaded territory polygons themselves as units (one per territory).

    Parameters
    ----------
    territories : geopandas.GeoDataFrame
        Territories indexed by territory id, with ``name`` where known.

    Returns
    -------
    UnitLayer
        Kind ``uploaded``, unit ids = territory ids, so the plan draws and
        exports the uploaded shapes exactly until a unit moves.
    """
    frame = territories[[c for c in ("name",) if c in territories.columns] + ["geometry"]]
    return units_from_polygons(
        frame,
        None,
        name_field="name" if "name" in frame.columns else None,
        params={"source": "territories"},
    )


def h3_units(
    lon: np.ndarray | pd.Series,
    lat: np.ndarray | pd.Series,
    resolution: int,
    *,
    area: shapely.Geometry | None = None,
    include: Sequence[str] = (),
    max_cells: int = MAX_H3_CELLS,
) -> UnitLayer:
    """H3 cells at ``resolution`` covering the accounts' area.

    Parameters
    ----------
    lon, lat : array-like
        Account positions (WGS84); NaN positions are skipped.
    resolution : int
        H3 resolution 0..15 (5: ~250 km², 6: ~36 km², 7: ~5 km², 9: ~0.1 km²).
    area : shapely.Geometry, optional
        Area to cover (EPSG:4326); defaults to the accounts' buffered hull
        (:func:`terrmap.geo.shapes.study_area`), so that territories of
        cells are contiguous and next month's accounts nearby find a cell.
        The cells holding an account are always included.
    include : sequence of str
        Cells to include whatever the area (e.g. the cells a saved
        definition names, so that it applies to next month's accounts).
    max_cells : int
        Refuse to build more cells than this (a fine resolution over a
        large area).

    Returns
    -------
    UnitLayer
        Kind ``h3``; unit ids are the cells' hexadecimal strings.

    Raises
    ------
    ValueError
        For a resolution outside 0..15, or when the cover would exceed
        ``max_cells`` (naming a resolution that fits).
    """
    if not 0 <= int(resolution) <= 15:
        raise ValueError(f"H3 resolution must be in 0..15, got {resolution}")
    resolution = int(resolution)
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    finite = np.isfinite(lon) & np.isfinite(lat)
    if area is None and finite.sum() >= 1:
        area = study_area(np.column_stack([lon[finite], lat[finite]]))
    cells = _h3_cells(lon, lat, resolution)
    if area is not None:
        km2 = float(gpd.GeoSeries([area], crs=CRS).to_crs(_EQUAL_AREA_CRS).area.iloc[0]) / 1e6
        expected = km2 / h3.average_hexagon_area(resolution, unit="km^2")
        if expected > max_cells:
            fits = next(
                r
                for r in range(resolution, -1, -1)
                if km2 / h3.average_hexagon_area(r, unit="km^2") <= max_cells
            )
            raise ValueError(
                f"H3 resolution {resolution} needs about {expected:,.0f} cells for this area "
                f"(limit {max_cells:,}); use resolution {fits} or coarser"
            )
        cells |= set(h3.geo_to_cells(area, resolution))
    bad = [c for c in include if not h3.is_valid_cell(c) or h3.get_resolution(c) != resolution]
    if bad:
        raise ValueError(f"not H3 cells of resolution {resolution}: {bad[:5]}")
    unique = sorted(cells | set(include))
    geoms = [shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(c)]) for c in unique]
    index = pd.Index(unique, name="unit_id", dtype=object)
    units = gpd.GeoDataFrame(
        {"name": unique}, geometry=gpd.GeoSeries(geoms, index=index, crs=CRS), index=index
    )
    return UnitLayer(kind="h3", units=units, params={"resolution": resolution})


def approximate_zip_units(
    area: shapely.Geometry,
    *,
    counties: gpd.GeoDataFrame | None = None,
    zips: pd.DataFrame | None = None,
) -> UnitLayer:
    """Approximate ZIP areas: Voronoi cells of ZIP centroids, clipped.

    Parameters
    ----------
    area : shapely.Geometry
        The study area (EPSG:4326), e.g. from
        :func:`terrmap.geo.shapes.study_area`; ZIP codes whose centroid lies
        in it become units.
    counties : geopandas.GeoDataFrame, optional
        County polygons (EPSG:4326); each ZIP's cell is clipped to the county
        holding its centroid, so ZIP areas never cross county lines. Without
        them, cells are clipped to ``area``.
    zips : pandas.DataFrame, optional
        ``zip``, ``lon``, ``lat`` (and ``city``, ``state``); defaults to
        :func:`terrmap.geo.zipgeo.zip_table`.

    Returns
    -------
    UnitLayer
        Kind ``zip-approximate``, flagged ``approximate``.

    Raises
    ------
    ValueError
        When no ZIP centroid lies in the area.
    """
    table = zip_table() if zips is None else zips
    inside = shapely.contains_xy(area, table["lon"].to_numpy(float), table["lat"].to_numpy(float))
    table = table[inside].drop_duplicates("zip").reset_index(drop=True)
    if table.empty:
        raise ValueError("no ZIP code centroid lies in the study area")
    # ZIP codes sharing a centroid cannot have cells of their own; the first
    # keeps the cell and an account in it is placed in that one.
    shared = table.duplicated(["lon", "lat"]).to_numpy()
    merged = table["zip"][shared].tolist()
    table = table[~shared].reset_index(drop=True)
    lon = table["lon"].to_numpy(float)
    lat = table["lat"].to_numpy(float)
    # One Voronoi builder for the whole package: each ZIP centroid is a site
    # that owns its own cell.
    sites = pd.Index(table["zip"].astype(str))
    cells = territory_shapes(
        build_cells(lon, lat, sites, area), pd.Series(sites, index=sites), sites
    ).geometry.to_numpy()
    if counties is not None:
        county_of = assign_accounts(table[["lon", "lat"]], counties[["geometry"]]).assignment
        clip = counties.geometry.reindex(county_of.fillna("").astype(str)).to_numpy()
        has_county = ~pd.isna(clip)
        clip = np.where(has_county, clip, area)
    else:
        clip = np.full(len(table), area, dtype=object)
    geoms = np.array([_polygonal_part(g) for g in shapely.intersection(cells, clip)], dtype=object)
    keep = ~shapely.is_empty(geoms)
    names = (
        (table["city"].astype(str) + ", " + table["state"].astype(str))
        if {"city", "state"} <= set(table.columns)
        else table["zip"].astype(str)
    )
    frame = gpd.GeoDataFrame(
        {"zip": table["zip"].astype(str)[keep].to_numpy(), "name": names[keep].to_numpy()},
        geometry=gpd.GeoSeries(geoms[keep], crs=CRS),
    )
    layer = units_from_polygons(
        frame,
        "zip",
        name_field="name",
        kind="zip-approximate",
        approximate=True,
        params={
            "clipped_to": "counties" if counties is not None else "study area",
            "area_wkt": shapely.to_wkt(area, rounding_precision=6),
        },
    )
    if merged:
        note = (
            f"{len(merged)} ZIP code(s) share their centroid with another and have no area "
            f"of their own: {_listing(np.asarray(merged, dtype=object))}"
        )
        logger.info("unit layer: %s", note)
        layer = replace(layer, warnings=(*layer.warnings, note))
    return layer


def boundary_units(kind: str, *, within: shapely.Geometry | None = None) -> UnitLayer:
    """US counties or states, offline, from the package's boundary data.

    Parameters
    ----------
    kind : {"county", "state"}
    within : shapely.Geometry, optional
        Keep only the units meeting this area (EPSG:4326): a region's
        counties build in a fraction of the time of the whole country's.

    Returns
    -------
    UnitLayer
        Unit ids are FIPS codes (5 digits for counties, 2 for states).

    Raises
    ------
    ValueError
        For another kind, or when this installation has no boundary data.
    """
    if kind not in ("county", "state"):
        raise ValueError(f"boundary units are 'county' or 'state', not {kind!r}")
    try:
        from terrmap.geo import boundaries
    except ImportError:
        raise ValueError(
            f"{kind} units need the offline US boundaries (terrmap.geo.boundaries), "
            "which this installation lacks"
        ) from None
    frame = boundaries.us_counties() if kind == "county" else boundaries.us_states()
    # The 1:10m source has no shape for a few tiny county equivalents; an
    # account there is found in the county around it.
    empty = frame.geometry.isna() | frame.geometry.is_empty
    if empty.any():
        logger.info("%s units without a shape left out: %s", kind, list(frame.index[empty]))
    frame = frame[~empty]
    if within is not None:
        frame = frame[shapely.intersects(np.asarray(frame.geometry.values), within)]
    return units_from_polygons(frame, None, name_field="name", kind=kind)


def definition_from_polygons(units: UnitLayer, territories: gpd.GeoDataFrame | None) -> Definition:
    """Place each unit in the territory polygon that holds it.

    Parameters
    ----------
    units : UnitLayer
        The building blocks.
    territories : geopandas.GeoDataFrame or None
        Territory polygons indexed by territory id (EPSG:4326); ``None``
        leaves every unit in white space.

    Returns
    -------
    Definition
        No exceptions or rules. A layer made of the territory polygons
        themselves (:func:`territory_units`) maps each unit to itself; any
        other unit goes to the territory covering the largest part of it
        (a unit outside every territory is in none).
    """
    if territories is None or territories.empty:
        unit_territory = pd.Series(dtype="string")
    elif units.params.get("source") == "territories":
        ids = units.unit_ids[units.unit_ids.isin(territories.index.astype(str))]
        unit_territory = pd.Series(list(ids), index=ids, dtype="string")
    else:
        unit_geoms = np.asarray(units.units.geometry.values, dtype=object)
        territory_geoms = np.asarray(territories.geometry.values, dtype=object)
        unit, territory = shapely.STRtree(territory_geoms).query(unit_geoms, predicate="intersects")
        shared = shapely.area(shapely.intersection(unit_geoms[unit], territory_geoms[territory]))
        order = np.lexsort((-shared, unit))
        unit, territory, shared = unit[order], territory[order], shared[order]
        first = np.r_[True, unit[1:] != unit[:-1]] & (shared > 0)
        unit_territory = pd.Series(
            territories.index.astype(str)[territory[first]],
            index=units.unit_ids[unit[first]],
            dtype="string",
        )
    names = territories[["name"]] if territories is not None and "name" in territories else None
    return Definition(
        unit_kind=units.kind,
        unit_territory=unit_territory,
        territories=names,
        unit_params=dict(units.params),
    )


def dissolved(
    units: UnitLayer, unit_territory: pd.Series, territory_ids: Sequence[str]
) -> gpd.GeoSeries:
    """Territory shapes as the union of their units.

    Parameters
    ----------
    units : UnitLayer
        The building blocks.
    unit_territory : pandas.Series
        Territory id per unit id (units left out or ``<NA>`` are in none).
    territory_ids : sequence of str
        The territories to draw, in the order wanted.

    Returns
    -------
    geopandas.GeoSeries
        Indexed by territory id; an empty polygon for a territory without
        units. A territory of one unit is that unit's geometry unchanged (an
        uploaded territory is drawn exactly as uploaded).
    """
    wanted = pd.Index([str(t) for t in territory_ids], name="territory_id")
    owner = unit_territory.astype(object).reindex(units.unit_ids).to_numpy()
    codes = wanted.get_indexer(pd.Series(owner).fillna("\0").astype(str))
    geoms = np.asarray(units.units.geometry.values, dtype=object)
    shapes = np.full(len(wanted), shapely.Polygon(), dtype=object)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(wanted) + 1))
    for i in range(len(wanted)):
        members = geoms[order[starts[i] : starts[i + 1]]]
        if len(members) == 1:
            shapes[i] = members[0]
        elif len(members) > 1:
            shapes[i] = _polygonal_part(shapely.union_all(members))
    return gpd.GeoSeries(shapes, index=wanted, crs=CRS)


# -- helpers -------------------------------------------------------------------


def _fields(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns if c != frame.geometry.name][:20]


def _id_text(values: pd.Series) -> pd.Series:
    """Ids as text; whole floats (``6037.0`` from a shapefile) lose the ``.0``."""
    text = values.astype(object).where(values.notna(), None)
    as_text = [
        None
        if v is None
        else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip()) or None
        for v in text
    ]
    return pd.Series(as_text, index=values.index, dtype=object)


def _listing(values: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    more = len(values) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep the polygons of a geometry (``make_valid`` and clipping may add lines)."""
    if shapely.get_type_id(geom) in _POLYGONAL:
        return geom
    parts = shapely.get_parts(geom)
    polys = parts[np.isin(shapely.get_type_id(parts), _POLYGONAL)]
    return shapely.union_all(polys) if len(polys) else shapely.Polygon()


def _polygon_pairs(geoms: np.ndarray, *, queen: bool) -> np.ndarray:
    if len(geoms) < 2:
        return np.empty((0, 2), dtype=np.int64)
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if not queen:
        # Rook: the boundaries share a line (DE-9IM boundary/boundary of
        # dimension 1), or the interiors overlap (overlapping uploads).
        line = shapely.relate_pattern(geoms[a], geoms[b], "****1****")
        inner = shapely.relate_pattern(geoms[a], geoms[b], "T********")
        a, b = a[line | inner], b[line | inner]
    order = np.lexsort((b, a))
    return np.column_stack([a[order], b[order]]).astype(np.int64)


def _h3_cell_numbers(lon: np.ndarray, lat: np.ndarray, resolution: int) -> np.ndarray:
    """H3 cell (as its 64-bit number) of each point, 0 (no cell) where a coordinate is missing.

    One vectorised call (h3ronpy): a Python loop over ``h3.latlng_to_cell``
    takes ~5 s per million points.
    """
    numbers = np.zeros(len(lon), dtype=np.uint64)
    finite = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90)
    if finite.any():
        cells = coordinates_to_cells(lat[finite], lon[finite], resolution)
        numbers[finite] = np.asarray(cells, dtype=np.uint64)
    return numbers


def _h3_numbers(cells: Sequence[str]) -> np.ndarray:
    return np.array([h3.str_to_int(c) for c in cells], dtype=np.uint64)


def _h3_cells(lon: np.ndarray, lat: np.ndarray, resolution: int) -> set[str]:
    """Return the distinct cells holding the points."""
    numbers = np.unique(_h3_cell_numbers(lon, lat, resolution))
    return {h3.int_to_str(int(n)) for n in numbers[numbers > 0].tolist()}


def _h3_pairs(unit_ids: Sequence[str]) -> np.ndarray:
    position = {cell: i for i, cell in enumerate(unit_ids)}
    pairs = [
        (i, position[other])
        for cell, i in position.items()
        for other in h3.grid_disk(cell, 1)
        if position.get(other, -1) > i
    ]
    if not pairs:
        return np.empty((0, 2), dtype=np.int64)
    array = np.asarray(pairs, dtype=np.int64)
    return array[np.lexsort((array[:, 1], array[:, 0]))]
