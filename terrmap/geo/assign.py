"""Assign accounts to territories by point-in-polygon.

Every account gets the territory whose polygon holds it, or ``<NA>`` (white
space) when no polygon does. Overlapping territory polygons are never resolved
silently: the account goes to the first territory in the frame's order and is
listed in :attr:`AssignmentResult.ambiguous`, and the overlapping pairs are
listed in :attr:`AssignmentResult.overlaps`.

The work is vectorised over points: accounts are sorted by longitude once, and
for each territory a binary search plus a latitude mask picks the accounts in
its bounding box, which one ``shapely.contains_xy`` call on the prepared
polygon then tests. The loop runs over territories (hundreds), never over
accounts (up to millions).
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

__all__ = ["AssignmentResult", "assign_accounts", "assignment_result", "overlapping_territories"]

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
    codes, amb_points, amb_codes = _locate(lon, lat, geoms, pairs)

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


def _locate(
    lon: np.ndarray,
    lat: np.ndarray,
    geoms: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Territory code per point, plus (point, code) of every extra containment.

    Returns
    -------
    codes : numpy.ndarray
        Position of the territory in ``geoms`` per point, -1 for none.
    amb_points, amb_codes : numpy.ndarray
        For points inside more than one polygon, one entry per polygon after
        the first (the first is ``codes``).
    """
    n = len(lon)
    codes = np.full(n, -1, dtype=np.int64)
    # NaN sorts last and fails every comparison, so missing coordinates fall
    # out of every bounding box on their own.
    order = np.argsort(lon)
    xs, ys = lon[order], lat[order]
    bounds = shapely.bounds(geoms)
    overlapping_earlier = _earlier_partners(len(geoms), pairs)
    amb_points: list[np.ndarray] = []
    amb_codes: list[np.ndarray] = []

    for i, geom in enumerate(geoms):
        cand = _in_box(order, xs, ys, bounds[i])
        if not len(cand):
            continue
        current = codes[cand]
        partners = overlapping_earlier[i]
        # A point already claimed by a polygon whose interior cannot meet
        # this one's cannot be inside this one, so it is not tested again.
        test = current < 0
        if len(partners):
            test |= np.isin(current, partners)
        cand = cand[test]
        hit = cand[shapely.contains_xy(geom, lon[cand], lat[cand])]
        first = codes[hit] < 0
        codes[hit[first]] = i
        if not first.all():
            amb_points.append(hit[~first])
            amb_codes.append(np.full(int((~first).sum()), i, dtype=np.int64))

    _assign_boundary_points(codes, lon, lat, geoms, bounds)
    if amb_points:
        return codes, np.concatenate(amb_points), np.concatenate(amb_codes)
    empty = np.empty(0, dtype=np.int64)
    return codes, empty, empty


def _assign_boundary_points(
    codes: np.ndarray, lon: np.ndarray, lat: np.ndarray, geoms: np.ndarray, bounds: np.ndarray
) -> None:
    """Give points on a border (in no interior) to the first touching polygon."""
    left = np.flatnonzero((codes < 0) & np.isfinite(lon) & np.isfinite(lat))
    if not len(left):
        return
    order = left[np.argsort(lon[left])]
    xs, ys = lon[order], lat[order]
    for i, geom in enumerate(geoms):
        cand = _in_box(order, xs, ys, bounds[i])
        if not len(cand):
            continue
        cand = cand[codes[cand] < 0]
        hit = cand[shapely.intersects_xy(geom, lon[cand], lat[cand])]
        codes[hit] = i


def _in_box(order: np.ndarray, xs: np.ndarray, ys: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Positions (from ``order``) of the points inside a bounding box."""
    minx, miny, maxx, maxy = box
    if not np.isfinite(minx):  # empty geometry
        return order[:0]
    lo = np.searchsorted(xs, minx, side="left")
    hi = np.searchsorted(xs, maxx, side="right")
    y = ys[lo:hi]
    return order[lo:hi][(y >= miny) & (y <= maxy)]


def _earlier_partners(n: int, pairs: tuple[np.ndarray, np.ndarray]) -> list[np.ndarray]:
    """For each polygon, the earlier polygons whose interiors meet it."""
    a, b = pairs
    out = [np.empty(0, dtype=np.int64)] * n
    if len(a):
        order = np.argsort(b, kind="stable")
        a_sorted, b_sorted = a[order], b[order]
        starts = np.searchsorted(b_sorted, np.arange(n), side="left")
        ends = np.searchsorted(b_sorted, np.arange(n), side="right")
        out = [a_sorted[s:e].astype(np.int64) for s, e in zip(starts, ends, strict=True)]
    return out


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
