"""Assign accounts to territories by point-in-polygon.

Every account gets the territory whose polygon holds it, or ``<NA>`` (white
space) when no polygon does. Overlapping territory polygons are never resolved
silently: the account goes to the first territory in the frame's order and is
listed in :attr:`AssignmentResult.ambiguous`, and the overlapping pairs are
listed in :attr:`AssignmentResult.overlaps`.

The work is vectorised over points and polygons alike (:class:`PolygonIndex`):
a grid of the polygons' bounding boxes pairs each account with the few
polygons that may hold it, and one ``shapely.contains_xy`` call on the
prepared polygons tests every pair. No loop runs over accounts (up to
millions) or polygons (up to tens of thousands of units).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from pyproj import CRS as ProjCRS

from terrmap.core.schema import ACCOUNT_ID, CRS, TERRITORY_ID

__all__ = [
    "AssignmentResult",
    "Located",
    "PolygonIndex",
    "assign_accounts",
    "assignment_result",
    "overlapping_territories",
]

logger = logging.getLogger(__name__)

#: Equal-area projection used to report overlap areas in square kilometres.
_EQUAL_AREA_CRS = "EPSG:6933"

_OVERLAP_COLUMNS = ("territory_a", "territory_b", "overlap_km2")


# eq=False: comparing frames element-wise has no single truth value.
@dataclass(frozen=True, eq=False)
class AssignmentResult:
    """Outcome of :func:`assign_accounts`.

    Attributes
    ----------
    assignment : pandas.Series
        Territory id (``string`` dtype) indexed by account id, ``<NA>`` for
        accounts in no polygon.
    unassigned : pandas.Index
        Ids of the accounts in no polygon (white space), in input order.
    overlaps : pandas.DataFrame
        One row per pair of territories whose interiors overlap by more than
        the tolerance or that share at least one account. Columns
        ``territory_a``, ``territory_b`` (in territory order),
        ``overlap_km2`` and ``accounts_in_both``.
    ambiguous : pandas.DataFrame
        One row per account inside more than one polygon. Columns
        ``account_id`` and ``territories`` (tuple of territory ids in
        territory order; the first one is the territory it was assigned to).
    """

    assignment: pd.Series
    unassigned: pd.Index
    overlaps: pd.DataFrame
    ambiguous: pd.DataFrame


def assign_accounts(
    accounts: pd.DataFrame,
    territories: gpd.GeoDataFrame,
    *,
    min_overlap_km2: float = 0.01,
) -> AssignmentResult:
    """Assign each account to the territory polygon that contains it.

    Parameters
    ----------
    accounts : pandas.DataFrame
        Accounts indexed by unique account id, with ``lon`` and ``lat``
        columns in WGS84 degrees. Accounts with missing coordinates are
        unassigned.
    territories : geopandas.GeoDataFrame
        Territory polygons (Polygon or MultiPolygon, holes allowed) in
        EPSG:4326, indexed by unique territory id. The row order decides ties.
    min_overlap_km2 : float, default 0.01
        Overlaps with a smaller area and no account inside are treated as
        digitising slivers and left out of ``overlaps``.

    Returns
    -------
    AssignmentResult
        The assignment, the unassigned ids, the overlapping pairs and the
        accounts inside more than one polygon.

    Raises
    ------
    ValueError
        When the territories are not in EPSG:4326, ids are duplicated, a
        geometry is not polygonal, or the coordinate columns are missing.

    Notes
    -----
    An account strictly inside one polygon gets that territory. An account
    inside several (overlapping input) keeps the first by territory order and
    is listed in ``ambiguous``. An account exactly on a border and inside no
    polygon's interior goes to the first territory, by territory order, whose
    boundary it touches, so shared borders are resolved deterministically.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd, shapely
    >>> terr = gpd.GeoDataFrame(
    ...     geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
    ...     index=pd.Index(["W", "E"], name="territory_id"),
    ...     crs="EPSG:4326",
    ... )
    >>> acc = pd.DataFrame(
    ...     {"lon": [0.5, 1.0, 1.5, 5.0], "lat": [0.5, 0.5, 0.5, 0.5]},
    ...     index=pd.Index(["a", "b", "c", "d"], name="account_id"),
    ... )
    >>> result = assign_accounts(acc, terr)
    >>> result.assignment.tolist()
    ['W', 'W', 'E', <NA>]
    >>> list(result.unassigned)
    ['d']
    """
    lon, lat = _account_coordinates(accounts)
    ids, geoms = _territory_geometries(territories)

    pairs = _interior_pairs(geoms)
    located = PolygonIndex(geoms).locate(lon, lat, every=True)
    codes, amb_points, amb_codes = located.codes, located.extra_points, located.extra_codes

    assignment = _assignment_series(codes, ids, accounts.index)
    unassigned = accounts.index[codes < 0]
    ambiguous = _ambiguous_frame(accounts.index, ids, codes, amb_points, amb_codes)
    overlaps = _overlap_frame(geoms, ids, pairs, codes, amb_points, amb_codes, min_overlap_km2)
    return AssignmentResult(
        assignment=assignment, unassigned=unassigned, overlaps=overlaps, ambiguous=ambiguous
    )


def assignment_result(assignment: pd.Series) -> AssignmentResult:
    """Wrap an assignment found otherwise (from units) as an :class:`AssignmentResult`.

    Parameters
    ----------
    assignment : pandas.Series
        Territory id per account id, ``<NA>`` for white space.

    Returns
    -------
    AssignmentResult
        With the white space listed and no overlapping territories or
        ambiguous accounts (territories built from units cannot overlap).
    """
    empty = np.empty(0, dtype=np.int64)
    ids = np.empty(0, dtype=object)
    return AssignmentResult(
        assignment=assignment.astype("string").rename(TERRITORY_ID),
        unassigned=assignment.index[assignment.isna().to_numpy()],
        overlaps=_overlap_frame(
            np.empty(0, dtype=object), ids, (empty, empty), empty, empty, empty, 0.0
        ),
        ambiguous=_ambiguous_frame(assignment.index, ids, empty, empty, empty),
    )


def overlapping_territories(
    territories: gpd.GeoDataFrame, *, min_overlap_km2: float = 0.01
) -> pd.DataFrame:
    """List the pairs of territories whose polygons overlap.

    Parameters
    ----------
    territories : geopandas.GeoDataFrame
        Territory polygons in EPSG:4326, indexed by unique territory id.
    min_overlap_km2 : float, default 0.01
        Smaller overlaps are treated as digitising slivers and left out.

    Returns
    -------
    pandas.DataFrame
        Columns ``territory_a``, ``territory_b`` (``a`` before ``b`` in
        territory order) and ``overlap_km2``; touching borders are not
        overlaps.

    Raises
    ------
    ValueError
        When the territories are not in EPSG:4326, ids are duplicated or a
        geometry is not polygonal.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd, shapely
    >>> terr = gpd.GeoDataFrame(
    ...     geometry=[shapely.box(0, 0, 1, 1), shapely.box(0.5, 0, 2, 1), shapely.box(2, 0, 3, 1)],
    ...     index=pd.Index(["A", "B", "C"], name="territory_id"),
    ...     crs="EPSG:4326",
    ... )
    >>> overlapping_territories(terr)[["territory_a", "territory_b"]].values.tolist()
    [['A', 'B']]
    """
    ids, geoms = _territory_geometries(territories)
    pairs = _interior_pairs(geoms)
    areas = _overlap_areas_km2(geoms, pairs)
    keep = areas > min_overlap_km2
    return pd.DataFrame(
        {
            "territory_a": pd.array(ids[pairs[0][keep]], dtype="string"),
            "territory_b": pd.array(ids[pairs[1][keep]], dtype="string"),
            "overlap_km2": areas[keep],
        }
    )


def _account_coordinates(accounts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in ("lon", "lat") if c not in accounts.columns]
    if missing:
        raise ValueError(f"accounts lack coordinate column(s) {missing}")
    if not accounts.index.is_unique:
        dupes = accounts.index[accounts.index.duplicated()].unique()[:5].tolist()
        raise ValueError(f"account ids are not unique, e.g. {dupes}")
    lon = accounts["lon"].to_numpy(dtype=float, na_value=np.nan)
    lat = accounts["lat"].to_numpy(dtype=float, na_value=np.nan)
    return lon, lat


def _check_crs(territories: gpd.GeoDataFrame | gpd.GeoSeries) -> None:
    crs = territories.crs
    if crs is None:
        raise ValueError(f"territories have no CRS; expected {CRS}")
    # GeoJSON's OGC:CRS84 is EPSG:4326 with lon/lat axis order, which is what
    # geopandas stores anyway.
    if crs.to_epsg() != 4326 and not ProjCRS(crs).equals(ProjCRS("OGC:CRS84")):
        raise ValueError(f"territories must be in {CRS}, got {crs.to_string()!r}")


def _territory_geometries(
    territories: gpd.GeoDataFrame | gpd.GeoSeries,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate the territories; return (ids as object array, geometries)."""
    if not isinstance(territories, gpd.GeoDataFrame | gpd.GeoSeries):
        raise ValueError(f"territories must be a GeoDataFrame, got {type(territories).__name__}")
    _check_crs(territories)
    ids = territories.index.astype(str)
    if not ids.is_unique:
        dupes = ids[ids.duplicated()].unique()[:5].tolist()
        raise ValueError(f"territory ids are not unique, e.g. {dupes}")
    geoms = np.asarray(territories.geometry.values, dtype=object).copy()
    missing = shapely.is_missing(geoms)
    geoms[missing] = shapely.Polygon()
    types = shapely.get_type_id(geoms)
    polygonal = np.isin(types, (3, 6)) | shapely.is_empty(geoms)
    if not polygonal.all():
        bad = ids[~polygonal][0]
        kind = shapely.get_type_id(geoms[~polygonal][0])
        raise ValueError(
            f"territory {bad!r} has a non-polygonal geometry "
            f"({shapely.GeometryType(kind).name}); expected Polygon or MultiPolygon"
        )
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        logger.warning("repairing %d invalid territory polygon(s)", int(invalid.sum()))
        repaired = shapely.make_valid(geoms[invalid])
        geoms[invalid] = [_polygonal_part(g) for g in repaired]
    shapely.prepare(geoms)
    return np.asarray(ids, dtype=object), geoms


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep the polygons of a ``make_valid`` result (it may add lines)."""
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = shapely.get_parts(geom)
    polys = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
    return shapely.union_all(polys) if len(polys) else shapely.Polygon()


def _interior_pairs(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, of polygons whose interiors intersect."""
    if len(geoms) < 2:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    # Shared borders intersect too; only a shared interior (area) counts.
    inner = shapely.relate_pattern(geoms[a], geoms[b], "T********")
    order = np.lexsort((b[inner], a[inner]))
    return a[inner][order], b[inner][order]


#: Most (cell, polygon) entries a :class:`PolygonIndex` grid holds (8 bytes each).
_MAX_GRID_ENTRIES = 5_000_000


class PolygonIndex:
    """Find the polygon holding each point: a grid of the polygons' bounding boxes.

    Built once per set of polygons (e.g. a unit layer, kept by the layer), it
    answers any number of point lookups. A lookup puts each point in its grid
    cell, pairs it with the polygons whose bounding box meets that cell, keeps
    the pairs whose box holds the point, and tests those with
    ``shapely.contains_xy`` on the prepared polygons (a point's next candidate
    only when the earlier ones missed it). The pairs are
    tested in the order of the grid cells, so that consecutive tests hit the
    same polygon. Figures: ``benchmarks/bench_units.py`` (a million accounts in
    30,000 ZIP areas; looping over the polygons instead took 49 s).

    Parameters
    ----------
    geoms : numpy.ndarray
        Valid Polygon/MultiPolygon (or empty) geometries; a polygon's position
        is its code. Prepared in place (``shapely.prepare``).
    cells_per_polygon : float, default 64
        Grid cells per polygon: finer grids give fewer candidate pairs per
        point, at the cost of memory (about 40 MB for 30,000 ZIP areas).

    Examples
    --------
    >>> import numpy as np, shapely
    >>> index = PolygonIndex(np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]))
    >>> index.locate(np.array([0.5, 1.0, 1.5, 5.0]), np.array([0.5, 0.5, 0.5, 0.5])).codes.tolist()
    [0, 0, 1, -1]
    """

    def __init__(self, geoms: np.ndarray, *, cells_per_polygon: float = 64.0) -> None:
        self.geoms = np.asarray(geoms, dtype=object)
        shapely.prepare(self.geoms)
        self.bounds = shapely.bounds(self.geoms)
        # One contiguous array per side: gathering from them is ~5x faster
        # than gathering rows of the (n, 4) array.
        self._columns = tuple(np.ascontiguousarray(self.bounds[:, i]) for i in range(4))
        present = np.flatnonzero(np.isfinite(self.bounds[:, 0]))
        if not len(present):
            self.origin, self.step, self.shape = (0.0, 0.0), (1.0, 1.0), (1, 1)
            self._starts, self._members = np.zeros(2, dtype=np.int64), present
            return
        box = self.bounds[present]
        minx, miny = box[:, 0].min(), box[:, 1].min()
        width = max(box[:, 2].max() - minx, 1e-9)
        height = max(box[:, 3].max() - miny, 1e-9)
        while True:
            side = np.sqrt(width * height / max(cells_per_polygon * len(present), 1.0))
            nx, ny = max(int(np.ceil(width / side)), 1), max(int(np.ceil(height / side)), 1)
            self.origin, self.step, self.shape = (minx, miny), (width / nx, height / ny), (nx, ny)
            x0, y0 = self._cell_xy(box[:, 0], box[:, 1])
            x1, y1 = self._cell_xy(box[:, 2], box[:, 3])
            cols, rows = x1 - x0 + 1, y1 - y0 + 1
            count = cols * rows
            # Polygons whose box spans much of the layer (an island county
            # across the antimeridian, a "rest of the country" district) sit
            # in every cell they span: coarsen rather than list them millions of times.
            if count.sum() <= _MAX_GRID_ENTRIES or cells_per_polygon <= 1:
                break
            cells_per_polygon /= 4
        within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        cells = (np.repeat(y0, count) + within // np.repeat(cols, count)) * nx + (
            np.repeat(x0, count) + within % np.repeat(cols, count)
        )
        # Stable: each cell lists its polygons in polygon order (ties go to the first).
        order = np.argsort(cells, kind="stable")
        self._members = np.repeat(present, count)[order]
        self._starts = np.concatenate([[0], np.cumsum(np.bincount(cells, minlength=nx * ny))])

    def _cell_xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (minx, miny), (dx, dy), (nx, ny) = self.origin, self.step, self.shape
        col = np.clip(((x - minx) / dx).astype(np.int64), 0, nx - 1)
        row = np.clip(((y - miny) / dy).astype(np.int64), 0, ny - 1)
        return col, row

    def candidates(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs ``(point, polygon)`` whose bounding box holds the point.

        Grouped by point (points in grid-cell order), polygons ascending
        within a point.
        """
        (minx, miny), (dx, dy), (nx, ny) = self.origin, self.step, self.shape
        inside = (
            (lon >= minx) & (lon <= minx + nx * dx) & (lat >= miny) & (lat <= miny + ny * dy)
        )  # NaN fails every comparison
        points = np.flatnonzero(inside)
        col, row = self._cell_xy(lon[points], lat[points])
        cells = row * nx + col
        order = np.argsort(cells, kind="stable")
        points, cells = points[order], cells[order]
        first = self._starts[cells]
        count = self._starts[cells + 1] - first
        point = np.repeat(points, count)
        offsets = np.repeat(first - np.cumsum(count) + count, count) + np.arange(count.sum())
        polygon = self._members[offsets]
        x, y = lon[point], lat[point]
        minx, miny, maxx, maxy = self._columns
        keep = x >= minx[polygon]
        keep &= x <= maxx[polygon]
        keep &= y >= miny[polygon]
        keep &= y <= maxy[polygon]
        return point[keep], polygon[keep]

    def locate(self, lon: np.ndarray, lat: np.ndarray, *, every: bool = False) -> Located:
        """Polygon code of each point (-1 in none); see :class:`Located`.

        Parameters
        ----------
        lon, lat : numpy.ndarray
            WGS84 degrees; NaN is in no polygon.
        every : bool, default False
            Also list every further polygon holding a point (overlapping
            polygons); otherwise a point's later polygons are not tested.
        """
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        codes = np.full(len(lon), -1, dtype=np.int64)
        point, polygon = self.candidates(lon, lat)
        if every:
            hit = shapely.contains_xy(self.geoms[polygon], lon[point], lat[point])
        else:
            hit = self._first_hits(point, polygon, lon, lat)
        extra_points, extra_codes = _record_hits(codes, point[hit], polygon[hit])
        # A point in no interior, on a border: the first polygon whose
        # boundary it touches takes it, so shared borders resolve one way.
        left = codes[point] < 0
        if left.any():
            point, polygon = point[left], polygon[left]
            touch = shapely.intersects_xy(self.geoms[polygon], lon[point], lat[point])
            _record_hits(codes, point[touch], polygon[touch])
        return Located(codes, extra_points, extra_codes)

    def _first_hits(
        self, point: np.ndarray, polygon: np.ndarray, lon: np.ndarray, lat: np.ndarray
    ) -> np.ndarray:
        """Mask of the pairs tested and found holding their point, first polygon per point only."""
        hit = np.zeros(len(point), dtype=bool)
        start = np.r_[True, point[1:] != point[:-1]] if len(point) else hit
        rank = np.arange(len(point)) - np.maximum.accumulate(
            np.where(start, np.arange(len(point)), 0)
        )
        found = np.zeros(len(lon), dtype=bool)
        for depth in range(int(rank.max(initial=-1)) + 1):
            # The k-th candidate is tested only for points the earlier ones missed.
            pairs = np.flatnonzero((rank == depth) & ~found[point])
            inside = shapely.contains_xy(
                self.geoms[polygon[pairs]], lon[point[pairs]], lat[point[pairs]]
            )
            hit[pairs[inside]] = True
            found[point[pairs[inside]]] = True
        return hit


@dataclass(frozen=True, eq=False)
class Located:
    """Outcome of :meth:`PolygonIndex.locate`.

    Attributes
    ----------
    codes : numpy.ndarray
        Position of the polygon holding each point, -1 for none. A point
        inside several polygons gets the first; a point on borders only, the
        first whose boundary it touches.
    extra_points, extra_codes : numpy.ndarray
        For points inside more than one polygon, one entry per polygon after
        the first (only with ``every=True``).
    """

    codes: np.ndarray
    extra_points: np.ndarray
    extra_codes: np.ndarray


def _record_hits(
    codes: np.ndarray, point: np.ndarray, polygon: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Give each point its first polygon; return the further (point, polygon) hits.

    ``point`` is grouped by point with polygons ascending within a point.
    """
    first = np.r_[True, point[1:] != point[:-1]] if len(point) else np.zeros(0, dtype=bool)
    codes[point[first]] = polygon[first]
    return point[~first], polygon[~first]


def _assignment_series(codes: np.ndarray, ids: np.ndarray, index: pd.Index) -> pd.Series:
    # Building the strings through an Arrow dictionary avoids creating a
    # million Python string objects.
    dictionary = pa.array(list(ids), type=pa.string())
    indices = pa.array(codes, mask=codes < 0, type=pa.int64())
    values = pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())
    array = pd.array(values, dtype=pd.StringDtype("pyarrow"))
    return pd.Series(array, index=index, name=TERRITORY_ID, copy=False)


def _ambiguous_frame(
    index: pd.Index,
    ids: np.ndarray,
    codes: np.ndarray,
    amb_points: np.ndarray,
    amb_codes: np.ndarray,
) -> pd.DataFrame:
    if not len(amb_points):
        return pd.DataFrame(
            {ACCOUNT_ID: pd.Series(dtype=index.dtype), "territories": pd.Series(dtype=object)}
        )
    points = np.concatenate([np.unique(amb_points), amb_points])
    terr = np.concatenate([codes[np.unique(amb_points)], amb_codes])
    order = np.lexsort((terr, points))
    points, terr = points[order], terr[order]
    first = np.flatnonzero(np.r_[True, points[1:] != points[:-1]])
    groups = np.split(ids[terr], first[1:])
    return pd.DataFrame(
        {
            ACCOUNT_ID: index[points[first]],
            "territories": pd.Series([tuple(g) for g in groups], dtype=object),
        }
    )


def _overlap_areas_km2(geoms: np.ndarray, pairs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    a, b = pairs
    if not len(a):
        return np.empty(0, dtype=float)
    shared = shapely.intersection(geoms[a], geoms[b])
    return gpd.GeoSeries(shared, crs=CRS).to_crs(_EQUAL_AREA_CRS).area.to_numpy() / 1e6


def _overlap_frame(
    geoms: np.ndarray,
    ids: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray],
    codes: np.ndarray,
    amb_points: np.ndarray,
    amb_codes: np.ndarray,
    min_overlap_km2: float,
) -> pd.DataFrame:
    a, b = pairs
    areas = _overlap_areas_km2(geoms, pairs)
    # Count every pair of polygons holding the same account: the assigned
    # territory with each extra one, and the extra ones among themselves.
    both = np.zeros(len(a), dtype=np.int64)
    if len(amb_points) and len(a):
        members = pd.DataFrame(
            {
                "point": np.concatenate([amb_points, np.unique(amb_points)]),
                "code": np.concatenate([amb_codes, codes[np.unique(amb_points)]]),
            }
        )
        joined = members.merge(members, on="point")
        joined = joined[joined["code_x"] < joined["code_y"]]
        counts = joined.groupby(["code_x", "code_y"]).size()
        key = pd.MultiIndex.from_arrays([a, b])
        both = counts.reindex(key, fill_value=0).to_numpy()
    keep = (areas > min_overlap_km2) | (both > 0)
    return pd.DataFrame(
        {
            "territory_a": pd.array(ids[a[keep]], dtype="string"),
            "territory_b": pd.array(ids[b[keep]], dtype="string"),
            "overlap_km2": areas[keep],
            "accounts_in_both": both[keep],
        }
    )
