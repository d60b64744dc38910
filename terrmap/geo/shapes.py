"""Territory polygons that follow the assignment.

A territory's drawn shape is the union of the Voronoi cells of its accounts,
clipped to the study area, so that after any reassignment the map never shows
an account inside another territory's polygon.

The cells depend only on where the accounts are, not on who owns them, so the
diagram is built once per account set (:func:`build_cells`). It is stored as
*ridges*: the Voronoi edges, each with the two cells it separates and its two
end vertices (shared by index, so neighbouring edges meet exactly). A
territory's border is the set of ridges with the territory on exactly one
side; polygonizing that linework gives faces, and the faces holding one of the
territory's sites are its polygons (holes and separate parts included). That
costs time in proportion to the territory's *border*, not to its number of
cells, which is what makes :func:`update_shapes` cheap.

Co-located accounts (identical coordinates, to about 1 cm) share one cell. A
cell belongs to the territory of its *first* account in the cell index's
account order; when co-located accounts are in different territories, the
others are drawn inside a polygon that is not theirs, and :func:`split_cells`
lists them so the caller can flag them. The rule depends on one account only,
so moving an account changes at most its old and its new territory's shapes.
Accounts outside the study area are outside every (clipped) shape.

The Voronoi diagram is computed in degrees with longitude scaled by the cosine
of the mid latitude, which keeps the cells roughly isotropic on the ground.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS as ProjCRS
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from terrmap.core.schema import ACCOUNT_ID, CRS, TERRITORY_ID

__all__ = [
    "CellIndex",
    "build_cells",
    "simplify_for_display",
    "split_cells",
    "study_area",
    "territory_shapes",
    "update_shapes",
]

logger = logging.getLogger(__name__)

_POLYGONAL = (3, 6)  # shapely type ids of Polygon and MultiPolygon
_PROJ_CRS = ProjCRS(CRS)
_CRS84 = ProjCRS("OGC:CRS84")  # GeoJSON's name for lon/lat WGS84
_POINTS_BUFFER_KM = 10.0
#: Sites are snapped to a grid this fine (degrees, about 1 cm): closer
#: accounts are co-located. Nearly coincident sites make ill-conditioned
#: Delaunay triangles whose circumcentres cannot be trusted.
_SNAP_DEG = 1e-7
#: Voronoi vertices closer than this (degrees) are one vertex: far above the
#: rounding noise of circumcentres, far below the snapping grid.
_MERGE_DEG = 1e-10


@dataclass(frozen=True, eq=False)
class CellIndex:
    """Voronoi cells of a set of account locations (immutable).

    Build it with :func:`build_cells`; the arrays are read-only.

    Attributes
    ----------
    account_ids : pandas.Index
        Account ids, in the order given to :func:`build_cells`.
    account_cell : numpy.ndarray
        Cell id per account (``-1`` for accounts without coordinates).
    cell_account : numpy.ndarray
        Position in ``account_ids`` of each cell's first account, whose
        territory owns the cell.
    cell_lon, cell_lat : numpy.ndarray
        Location of each cell's site (its accounts' location, snapped).
    vertices : numpy.ndarray
        ``(v, 2)`` Voronoi vertices, lon/lat.
    ridge_cells : numpy.ndarray
        ``(m, 2)`` cell ids on either side of each ridge (``-1`` outside).
    ridge_vertices : numpy.ndarray
        ``(m, 2)`` vertex ids of each ridge's end points.
    area : shapely.Geometry
        Study area the shapes are clipped to (EPSG:4326).
    lon_scale : float
        Factor applied to longitudes before computing the diagram.
    """

    account_ids: pd.Index
    account_cell: np.ndarray
    cell_account: np.ndarray
    cell_lon: np.ndarray
    cell_lat: np.ndarray
    vertices: np.ndarray
    ridge_cells: np.ndarray
    ridge_vertices: np.ndarray
    area: shapely.Geometry
    lon_scale: float

    @property
    def n_cells(self) -> int:
        """Number of distinct account locations."""
        return len(self.cell_account)

    def __repr__(self) -> str:
        return (
            f"CellIndex({len(self.account_ids)} accounts, {self.n_cells} cells, "
            f"{len(self.ridge_cells)} ridges)"
        )


def study_area(
    source: gpd.GeoDataFrame | gpd.GeoSeries | pd.DataFrame | np.ndarray,
    *,
    buffer_km: float | None = None,
) -> shapely.Geometry:
    """Area that territory shapes are clipped to.

    Parameters
    ----------
    source : GeoDataFrame, GeoSeries, DataFrame or numpy.ndarray
        Either territory polygons (their union is the area), or points: point
        geometries, a frame with ``lon``/``lat`` columns (the accounts frame),
        or an ``(n, 2)`` array of lon/lat. Points give their convex hull.
    buffer_km : float, optional
        Grow the area by this distance, measured on the ground (a local
        azimuthal equidistant projection). Defaults to 0 for polygons and
        10 km for points, so that accounts on the hull are not on the edge.

    Returns
    -------
    shapely.Geometry
        Polygon or MultiPolygon in EPSG:4326.

    Raises
    ------
    ValueError
        When the source is empty, mixes polygons and points, is not in
        EPSG:4326, or the result is empty (e.g. one point and no buffer).

    Examples
    --------
    >>> import numpy as np
    >>> area = study_area(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), buffer_km=0)
    >>> area.area
    0.5
    """
    if buffer_km is not None and buffer_km < 0:
        raise ValueError(f"buffer_km must be >= 0, got {buffer_km}")
    geoms = _source_geometries(source)
    types = shapely.get_type_id(geoms)
    if np.isin(types, _POLYGONAL).all():
        area = shapely.union_all(geoms)
        km = 0.0 if buffer_km is None else buffer_km
    elif (types == 0).all():
        area = shapely.convex_hull(
            shapely.multipoints(np.unique(shapely.get_coordinates(geoms), axis=0))
        )
        km = _POINTS_BUFFER_KM if buffer_km is None else buffer_km
    else:
        raise ValueError("study_area needs either polygons or points, not a mix")
    if km > 0:
        area = _buffer_km(area, km)
    area = _polygonal(area)
    if area.is_empty:
        raise ValueError("study area is empty; give more points or a positive buffer_km")
    return area


def build_cells(
    lon: np.ndarray,
    lat: np.ndarray,
    account_ids: pd.Index,
    area: shapely.Geometry | None = None,
) -> CellIndex:
    """Compute the Voronoi cells of the account locations.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Account coordinates in WGS84 degrees; NaN for unknown locations
        (those accounts get no cell).
    account_ids : pandas.Index
        Unique account ids, aligned with ``lon``/``lat``.
    area : shapely.Geometry, optional
        Study area (Polygon or MultiPolygon, EPSG:4326) the shapes are clipped
        to; see :func:`study_area`. Defaults to the buffered convex hull of the
        accounts.

    Returns
    -------
    CellIndex
        The cells. Accounts with identical coordinates share one cell.

    Raises
    ------
    ValueError
        When lengths differ, ids are not unique, or the area is not polygonal.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> cells = build_cells(
    ...     np.array([0.0, 1.0, 1.0, 0.0]),
    ...     np.array([0.0, 0.0, 1.0, 0.0]),
    ...     pd.Index(["a", "b", "c", "d"]),
    ... )
    >>> cells.n_cells, cells.account_cell.tolist()
    (3, [0, 1, 2, 0])
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    account_ids = pd.Index(account_ids)
    if not len(lon) == len(lat) == len(account_ids):
        raise ValueError(
            f"lon, lat and account_ids differ in length: {len(lon)}, {len(lat)}, {len(account_ids)}"
        )
    if not account_ids.is_unique:
        dupes = account_ids[account_ids.duplicated()].unique()[:5].tolist()
        raise ValueError(f"account ids are not unique, e.g. {dupes}")
    finite = np.isfinite(lon) & np.isfinite(lat)
    if area is None:
        if not finite.any():
            raise ValueError("no account has coordinates; pass an explicit study area")
        area = study_area(np.c_[lon[finite], lat[finite]])
    area = _polygonal(area, strict=True)

    scale = _lon_scale(lon[finite], lat[finite], area)
    grid_x = np.round(lon * scale / _SNAP_DEG)
    grid_y = np.round(lat / _SNAP_DEG)
    account_cell, cell_account = _dedupe(grid_x, grid_y, finite)
    site_x = grid_x[cell_account] * _SNAP_DEG
    site_y = grid_y[cell_account] * _SNAP_DEG
    vertices, ridge_cells, ridge_vertices = _voronoi_ridges(site_x, site_y, area, scale)
    logger.debug(
        "built %d cells for %d accounts (%d ridges)", len(cell_account), len(lon), len(ridge_cells)
    )

    shapely.prepare(area)
    arrays = (account_cell, cell_account, vertices, ridge_cells, ridge_vertices)
    for array in arrays:
        array.flags.writeable = False
    cell_lon, cell_lat = site_x / scale, site_y
    cell_lon.flags.writeable = False
    cell_lat.flags.writeable = False
    return CellIndex(
        account_ids=account_ids,
        account_cell=account_cell,
        cell_account=cell_account,
        cell_lon=cell_lon,
        cell_lat=cell_lat,
        vertices=vertices,
        ridge_cells=ridge_cells,
        ridge_vertices=ridge_vertices,
        area=area,
        lon_scale=scale,
    )


def territory_shapes(
    cells: CellIndex,
    assignment: pd.Series,
    territory_ids: Iterable[str] | None = None,
) -> gpd.GeoDataFrame:
    """Draw every territory as the union of its accounts' cells.

    Parameters
    ----------
    cells : CellIndex
        From :func:`build_cells`.
    assignment : pandas.Series
        Territory id per account id, ``<NA>`` for unassigned. Accounts of the
        cell index missing from it count as unassigned.
    territory_ids : iterable of str, optional
        Territories to draw, in this order. Defaults to the assigned ids,
        sorted. Accounts of other territories are treated as unassigned.

    Returns
    -------
    geopandas.GeoDataFrame
        Index ``territory_id``, one ``geometry`` column (Polygon or
        MultiPolygon, empty for a territory without cells), EPSG:4326.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> ids = pd.Index(["a", "b"])
    >>> cells = build_cells(np.array([0.0, 2.0]), np.array([0.0, 0.0]), ids)
    >>> shapes = territory_shapes(cells, pd.Series(["W", "E"], index=ids))
    >>> shapes.index.tolist()
    ['E', 'W']
    >>> bool(shapes.geometry["W"].contains(shapely.Point(0, 0)))
    True
    """
    owner, ids = _cell_owners(cells, assignment, territory_ids)
    geoms = _shapes_for(cells, owner, np.arange(len(ids)))
    return _shape_frame(ids, geoms)


def update_shapes(
    cells: CellIndex,
    shapes: gpd.GeoDataFrame,
    assignment: pd.Series,
    changed_territories: Iterable[str],
) -> gpd.GeoDataFrame:
    """Redraw only the territories whose accounts changed.

    Parameters
    ----------
    cells : CellIndex
        The cells ``shapes`` was drawn from.
    shapes : geopandas.GeoDataFrame
        Current shapes, from :func:`territory_shapes` or this function. Not
        modified.
    assignment : pandas.Series
        The new assignment.
    changed_territories : iterable of str
        Every territory that lost or gained an account: both the old and the
        new territory of each moved account. Ids not yet in ``shapes`` are
        appended.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame, equal to ``territory_shapes(cells, assignment,
        shapes.index)`` (plus any appended territories).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> ids = pd.Index(["a", "b", "c"])
    >>> cells = build_cells(np.array([0.0, 1.0, 2.0]), np.zeros(3), ids)
    >>> before = territory_shapes(cells, pd.Series(["W", "W", "E"], index=ids))
    >>> after = update_shapes(cells, before, pd.Series(["W", "E", "E"], index=ids), ["W", "E"])
    >>> bool(after.geometry["E"].contains(shapely.Point(1, 0)))
    True
    """
    changed = pd.Index([str(t) for t in changed_territories]).unique()
    known = shapes.index.astype(str)
    order = known.append(changed.difference(known, sort=False))
    owner, ids = _cell_owners(cells, assignment, order)
    todo = order.get_indexer(changed)
    geoms = np.asarray(shapes.geometry.values, dtype=object).copy()
    geoms = np.concatenate([geoms, np.full(len(order) - len(known), None, dtype=object)])
    geoms[todo] = _shapes_for(cells, owner, todo)
    return _shape_frame(ids, geoms)


def split_cells(cells: CellIndex, assignment: pd.Series) -> pd.DataFrame:
    """List accounts drawn inside a territory that is not theirs.

    This happens only when accounts with identical coordinates are in
    different territories (or some unassigned): their shared cell goes to the
    territory of the first of them.

    Parameters
    ----------
    cells : CellIndex
        From :func:`build_cells`.
    assignment : pandas.Series
        Territory id per account id, ``<NA>`` for unassigned.

    Returns
    -------
    pandas.DataFrame
        Columns ``account_id``, ``territory_id`` (the account's own) and
        ``cell_territory`` (the territory the cell is drawn in); ``<NA>``
        means unassigned.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> ids = pd.Index(["a", "b"])
    >>> cells = build_cells(np.zeros(2), np.zeros(2), ids, shapely.box(-1, -1, 1, 1))
    >>> split_cells(cells, pd.Series(["X", "Y"], index=ids)).values.tolist()
    [['b', 'Y', 'X']]
    """
    codes, uniques = pd.factorize(_aligned(cells, assignment), use_na_sentinel=True)
    has_cell = cells.account_cell >= 0
    drawn = np.full(len(codes), -1, dtype=np.intp)
    drawn[has_cell] = codes[cells.cell_account[cells.account_cell[has_cell]]]
    differ = has_cell & (codes != drawn)
    labels = pd.array(np.asarray(uniques, dtype=object), dtype="string")

    def _label(c: np.ndarray) -> pd.api.extensions.ExtensionArray:
        return labels.take(c, allow_fill=True)

    return pd.DataFrame(
        {
            ACCOUNT_ID: cells.account_ids[differ],
            TERRITORY_ID: _label(codes[differ]),
            "cell_territory": _label(drawn[differ]),
        }
    )


def simplify_for_display(shapes: gpd.GeoDataFrame, tolerance: float = 0.001) -> gpd.GeoDataFrame:
    """Simplify territory shapes for drawing, keeping shared borders shared.

    Uses coverage simplification, so neighbouring territories stay gap- and
    overlap-free. Simplification can move a border past an account lying
    within ``tolerance`` of it; keep the tolerance below the spacing of
    accounts at the zoom level shown.

    Parameters
    ----------
    shapes : geopandas.GeoDataFrame
        From :func:`territory_shapes` or :func:`update_shapes`.
    tolerance : float, default 0.001
        Simplification distance in degrees (0.001 is about 100 m).

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame with the same index.

    Examples
    --------
    >>> import geopandas as gpd
    >>> wiggly = shapely.Polygon([(0, 0), (1, 0.0001), (2, 0), (2, 2), (0, 2)])
    >>> frame = gpd.GeoDataFrame(geometry=[wiggly], crs="EPSG:4326")
    >>> len(simplify_for_display(frame, 0.01).geometry[0].exterior.coords)
    5
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    geoms = np.asarray(shapes.geometry.values, dtype=object)
    simplified = shapely.coverage_simplify(geoms, tolerance) if len(geoms) else geoms
    out = shapes.copy()
    out["geometry"] = gpd.GeoSeries(simplified, index=shapes.index, crs=shapes.crs)
    return out


def _source_geometries(source: object) -> np.ndarray:
    if isinstance(source, gpd.GeoDataFrame | gpd.GeoSeries):
        crs = source.crs
        if crs is not None and crs.to_epsg() != 4326 and not crs.equals(_CRS84):
            raise ValueError(f"study_area needs {CRS}, got {source.crs.to_string()!r}")
        geoms = np.asarray(source.geometry.values, dtype=object)
        geoms = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]
    elif isinstance(source, pd.DataFrame):
        if not {"lon", "lat"} <= set(source.columns):
            raise ValueError("study_area needs a frame with 'lon' and 'lat' columns")
        xy = source[["lon", "lat"]].to_numpy(dtype=float, na_value=np.nan)
        geoms = shapely.points(xy[np.isfinite(xy).all(axis=1)])
    else:
        xy = np.asarray(source, dtype=float)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ValueError(f"study_area needs an (n, 2) lon/lat array, got shape {xy.shape}")
        geoms = shapely.points(xy[np.isfinite(xy).all(axis=1)])
    if not len(geoms):
        raise ValueError("study_area got no geometry")
    return geoms


def _buffer_km(geom: shapely.Geometry, km: float) -> shapely.Geometry:
    centre = geom.centroid
    local = f"+proj=aeqd +lat_0={centre.y} +lon_0={centre.x} +datum=WGS84 +units=m"
    series = gpd.GeoSeries([geom], crs=CRS).to_crs(local)
    return series.buffer(km * 1000.0).to_crs(CRS).iloc[0]


def _polygonal(geom: object, *, strict: bool = False) -> shapely.Geometry:
    """Polygonal part of a geometry (an empty Polygon when there is none)."""
    if isinstance(geom, gpd.GeoDataFrame | gpd.GeoSeries):
        geom = shapely.union_all(np.asarray(geom.geometry.values, dtype=object))
    if not isinstance(geom, shapely.Geometry):
        raise ValueError(f"study area must be a shapely geometry, got {type(geom).__name__}")
    if shapely.get_type_id(geom) in _POLYGONAL:
        return geom if geom.is_valid else _polygonal(shapely.make_valid(geom))
    if strict and not geom.is_empty:
        raise ValueError(f"study area must be a Polygon or MultiPolygon, got {geom.geom_type}")
    parts = shapely.get_parts(geom)
    polys = parts[np.isin(shapely.get_type_id(parts), _POLYGONAL)]
    return shapely.union_all(polys) if len(polys) else shapely.Polygon()


def _lon_scale(lon: np.ndarray, lat: np.ndarray, area: shapely.Geometry) -> float:
    lats = lat
    if not area.is_empty:
        lats = np.r_[lat, area.bounds[1], area.bounds[3]]
    if not len(lats):
        return 1.0
    mid = 0.5 * (np.nanmin(lats) + np.nanmax(lats))
    # Cells near the poles would be stretched without bound; 0.1 keeps them sane.
    return float(max(np.cos(np.radians(mid)), 0.1))


def _dedupe(x: np.ndarray, y: np.ndarray, finite: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell id per account and first account per cell (cells sorted by x, y)."""
    account_cell = np.full(len(x), -1, dtype=np.int64)
    rows = np.flatnonzero(finite)
    # Complex numbers sort lexicographically (real, then imaginary), which
    # gives a one-key sort of (x, y) pairs.
    keys = x[rows] + 1j * y[rows]
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    account_cell[rows] = inverse
    return account_cell, rows[first]


def _frame_points(x: np.ndarray, y: np.ndarray, area: shapely.Geometry, scale: float) -> np.ndarray:
    """Eight far-away points that make every real cell finite.

    Any point of the box spanned by the sites and the area is closer to some
    site than to a frame point, so the real cells cover the whole study area.
    """
    xs, ys = [x], [y]
    if not area.is_empty:
        minx, miny, maxx, maxy = area.bounds
        xs.append(np.array([minx, maxx]) * scale)
        ys.append(np.array([miny, maxy]))
    allx, ally = np.concatenate(xs), np.concatenate(ys)
    minx, maxx, miny, maxy = allx.min(), allx.max(), ally.min(), ally.max()
    margin = 3.0 * max(maxx - minx, maxy - miny, 1.0)
    lo_x, hi_x, lo_y, hi_y = minx - margin, maxx + margin, miny - margin, maxy + margin
    mid_x, mid_y = 0.5 * (minx + maxx), 0.5 * (miny + maxy)
    return np.array(
        [
            [lo_x, lo_y],
            [mid_x, lo_y],
            [hi_x, lo_y],
            [hi_x, mid_y],
            [hi_x, hi_y],
            [mid_x, hi_y],
            [lo_x, hi_y],
            [lo_x, mid_y],
        ]
    )


def _voronoi_ridges(
    x: np.ndarray, y: np.ndarray, area: shapely.Geometry, scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voronoi vertices and ridges of the sites, from a Delaunay triangulation.

    Returns
    -------
    vertices : numpy.ndarray
        ``(v, 2)`` Voronoi vertices (circumcentres of the Delaunay
        triangles), lon/lat.
    ridge_cells : numpy.ndarray
        ``(m, 2)`` site ids on either side of each ridge, ``-1`` for frame.
    ridge_vertices : numpy.ndarray
        ``(m, 2)`` vertex ids of each ridge.
    """
    n = len(x)
    if n == 0:
        empty = np.empty((0, 2), dtype=np.int64)
        return np.empty((0, 2)), empty, empty.copy()
    frame = _frame_points(x, y, area, scale)
    px = np.r_[x, frame[:, 0]]
    py = np.r_[y, frame[:, 1]]
    triangles = shapely.delaunay_triangles(_multipoint(px, py))
    # Each triangle is a closed ring of four coordinates.
    corners = shapely.get_coordinates(triangles).reshape(-1, 4, 2)[:, :3, :]
    tri = _site_ids(px, py, corners)

    vertices = _circumcentres(px[tri], py[tri])

    # Each Delaunay edge (i, j) shared by triangles t1, t2 is dual to the
    # Voronoi ridge t1-t2 separating cells i and j.
    total = len(px)
    a = tri[:, [0, 1, 2]].ravel()
    b = tri[:, [1, 2, 0]].ravel()
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo * total + hi
    owner_tri = np.repeat(np.arange(len(tri)), 3)
    order = np.argsort(key)
    key, owner_tri, lo, hi = key[order], owner_tri[order], lo[order], hi[order]
    pair = np.flatnonzero(key[1:] == key[:-1])
    t1, t2 = owner_tri[pair], owner_tri[pair + 1]
    cell_a = np.where(lo[pair] >= n, -1, lo[pair])
    cell_b = np.where(hi[pair] >= n, -1, hi[pair])

    vertex_of = _merge_close_vertices(vertices, t1, t2, _MERGE_DEG)
    t1, t2 = vertex_of[t1], vertex_of[t2]
    keep = ((cell_a >= 0) | (cell_b >= 0)) & (t1 != t2)
    used, ridge_vertices = np.unique(np.c_[t1[keep], t2[keep]], return_inverse=True)
    vertices = vertices[used]
    vertices[:, 0] /= scale
    ridge_cells = np.c_[cell_a[keep], cell_b[keep]].astype(np.int64)
    return vertices, ridge_cells, ridge_vertices.reshape(-1, 2).astype(np.int64)


def _merge_close_vertices(
    vertices: np.ndarray, t1: np.ndarray, t2: np.ndarray, tolerance: float
) -> np.ndarray:
    """Map each Voronoi vertex to one representative of its near-duplicates.

    Cocircular sites (a lattice, say) give several Delaunay triangles with the
    same circumcentre, computed with different rounding. The ridges joining
    those copies are a few ulps long, and linework that tiny defeats
    ``build_area``; collapsing the copies into one vertex removes them.
    """
    close = np.abs(vertices[t1] - vertices[t2]).max(axis=1) <= tolerance
    identity = np.arange(len(vertices))
    if not close.any():
        return identity
    graph = coo_matrix(
        (np.ones(int(close.sum())), (t1[close], t2[close])), shape=(len(vertices), len(vertices))
    )
    _, label = connected_components(graph, directed=False)
    representative = np.full(label.max() + 1, len(vertices))
    np.minimum.at(representative, label, identity)
    return representative[label]


def _multipoint(x: np.ndarray, y: np.ndarray) -> shapely.MultiPoint:
    """Build a MultiPoint through WKB, skipping a Python object per point."""
    points = np.empty(len(x), dtype=[("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])
    points["order"] = 1  # little endian
    points["kind"] = 1  # Point
    points["x"], points["y"] = x, y
    header = np.array([1], dtype="u1").tobytes() + np.array([4, len(x)], dtype="<u4").tobytes()
    return shapely.from_wkb(header + points.tobytes())


def _site_ids(px: np.ndarray, py: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Map triangle corner coordinates back to site ids (exact matches)."""
    # Complex numbers make (x, y) one hashable key; a hash lookup is several
    # times faster than sorting and binary search at a million sites.
    sites = pd.Index(px + 1j * py)
    found = sites.get_indexer((corners[..., 0] + 1j * corners[..., 1]).ravel())
    if (found < 0).any():
        raise RuntimeError("Delaunay triangulation returned coordinates not among the sites")
    return found.reshape(-1, 3)


def _circumcentres(tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    # Relative to the first corner, so large absolute coordinates lose no
    # precision.
    bx, by = tx[:, 1] - tx[:, 0], ty[:, 1] - ty[:, 0]
    cx, cy = tx[:, 2] - tx[:, 0], ty[:, 2] - ty[:, 0]
    d = 2.0 * (bx * cy - by * cx)
    b2, c2 = bx * bx + by * by, cx * cx + cy * cy
    with np.errstate(divide="ignore", invalid="ignore"):
        ux = (cy * b2 - by * c2) / d
        uy = (bx * c2 - cx * b2) / d
    if not (np.isfinite(ux).all() and np.isfinite(uy).all()):
        raise RuntimeError("degenerate Delaunay triangle (collinear corners)")
    return np.c_[tx[:, 0] + ux, ty[:, 0] + uy]


def _aligned(cells: CellIndex, assignment: pd.Series) -> pd.Series:
    """Return the assignment in the cell index's account order (missing -> NA)."""
    if not isinstance(assignment, pd.Series):
        raise ValueError(f"assignment must be a pandas Series, got {type(assignment).__name__}")
    if assignment.index is cells.account_ids or assignment.index.equals(cells.account_ids):
        return assignment
    if not assignment.index.is_unique:
        dupes = assignment.index[assignment.index.duplicated()].unique()[:5].tolist()
        raise ValueError(f"assignment index has duplicate account ids, e.g. {dupes}")
    return assignment.reindex(cells.account_ids)


def _cell_owners(
    cells: CellIndex, assignment: pd.Series, territory_ids: Iterable[str] | None
) -> tuple[np.ndarray, pd.Index]:
    """Territory code per cell (-1 for none) and the territory ids."""
    aligned = _aligned(cells, assignment)
    # Factorise first: taking integers per cell is far cheaper than strings.
    codes, uniques = pd.factorize(aligned, use_na_sentinel=True)
    codes = codes[cells.cell_account]
    uniques = pd.Index(uniques).astype(str)
    if territory_ids is None:
        ids = uniques.sort_values()
    else:
        ids = pd.Index([str(t) for t in territory_ids])
        if not ids.is_unique:
            dupes = ids[ids.duplicated()].unique()[:5].tolist()
            raise ValueError(f"territory ids are not unique, e.g. {dupes}")
    lookup = np.r_[ids.get_indexer(uniques), -1]
    return lookup[codes], ids


def _shapes_for(cells: CellIndex, owner: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Polygons of the territories with codes ``wanted`` (in that order).

    Outlining costs in proportion to the territories' border, the union of
    their cells in proportion to their cells; the cheaper one is used. A border longer than two ridges per cell means
    territories whose accounts interleave (owners scattered at random): there
    outlining polygonizes nearly every ridge, several times slower.
    """
    out = np.full(len(wanted), None, dtype=object)
    if len(wanted) and len(cells.ridge_cells):
        side = np.append(owner, -1)[cells.ridge_cells]
        mine = np.isin(side, wanted)
        border = int((mine.any(axis=1) & (side[:, 0] != side[:, 1])).sum())
        if border > 2 * int(np.isin(owner, wanted).sum()):
            out[:] = _unions(cells, owner, wanted)
        else:
            out[:] = _outlines(cells, owner, wanted)
        # Normalised, the two give the very same geometry: a redraw of some
        # territories matches a full one whichever way each was drawn.
        drawn = ~shapely.is_missing(out)
        out[drawn] = shapely.normalize(out[drawn])
    empty = shapely.is_missing(out) | shapely.is_empty(out)
    out[empty] = shapely.Polygon()
    return out


def _outlines(cells: CellIndex, owner: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    # Cell -1 (outside) picks the appended -1: no territory.
    side = np.append(owner, -1)[cells.ridge_cells]
    border = np.flatnonzero(side[:, 0] != side[:, 1])
    slot = np.full(int(max(owner.max(initial=-1), wanted.max(initial=-1))) + 2, -1)
    slot[wanted] = np.arange(len(wanted))
    # Each border ridge outlines the territory on either side of it; sorting
    # by (territory, ridge) makes a territory's linework independent of which
    # other territories are drawn in the same call.
    terr = np.concatenate([slot[side[border, 0]], slot[side[border, 1]]])
    ridge = np.concatenate([border, border])
    keep = terr >= 0
    terr, ridge = terr[keep], ridge[keep]
    order = np.lexsort((ridge, terr))
    terr, ridge = terr[order], ridge[order]
    lines = shapely.linestrings(cells.vertices[cells.ridge_vertices[ridge]])

    # The border splits the plane into faces, each wholly inside or wholly
    # outside the territory. (``build_area``'s even-odd rule gets this wrong
    # when a hole is enclosed by two faces that touch at a point.) A face is
    # inside iff it holds the site of a territory cell next to the border:
    # sites lie deep inside their cells, so the test is robust, unlike one at
    # an arbitrary interior point of the face.
    present, starts = np.unique(terr, return_index=True)
    bounds = np.r_[starts, len(terr)]
    faces, face_terr = [], []
    for k, code in enumerate(present):
        parts = shapely.get_parts(shapely.polygonize(lines[bounds[k] : bounds[k + 1]]))
        faces.append(parts)
        face_terr.append(np.full(len(parts), code))
    out = np.full(len(wanted), None, dtype=object)
    if not faces:
        return out
    all_faces = np.concatenate(faces)
    all_terr = np.concatenate(face_terr)
    inner_side = np.where(side[ridge, 0] == wanted[terr], 0, 1)
    site_terr, site_cell = np.unique(np.c_[terr, cells.ridge_cells[ridge, inner_side]], axis=0).T
    sites = shapely.points(cells.cell_lon[site_cell], cells.cell_lat[site_cell])
    face_idx, site_idx = shapely.STRtree(sites).query(all_faces, predicate="contains")
    mine = np.unique(face_idx[all_terr[face_idx] == site_terr[site_idx]])
    all_faces, all_terr = all_faces[mine], all_terr[mine]
    kept = np.unique(all_terr)
    # Faces of one territory share no edge (an edge between them would not be
    # a border), so together they form a valid MultiPolygon as they are.
    shapes = shapely.multipolygons(all_faces, indices=np.searchsorted(kept, all_terr))
    single = shapely.get_num_geometries(shapes) == 1
    shapes[single] = shapely.get_geometry(shapes[single], 0)
    inner = shapely.contains_properly(cells.area, shapes)
    shapes[~inner] = [_polygonal(g) for g in shapely.intersection(shapes[~inner], cells.area)]
    out[kept] = shapes
    return out


def _unions(cells: CellIndex, owner: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Polygons of the territories ``wanted`` as the coverage union of their cells."""
    polygons = _cell_polygons(cells)
    order = np.argsort(owner, kind="stable")
    codes = owner[order]
    starts = np.searchsorted(codes, wanted, side="left")
    ends = np.searchsorted(codes, wanted, side="right")
    shapes = np.array(
        [
            shapely.coverage_union_all(polygons[order[start:end]]) if end > start else None
            for start, end in zip(starts, ends, strict=True)
        ],
        dtype=object,
    )
    drawn = ~shapely.is_missing(shapes)
    inner = drawn.copy()
    inner[drawn] = shapely.contains_properly(cells.area, shapes[drawn])
    outer = drawn & ~inner
    shapes[outer] = [_polygonal(g) for g in shapely.intersection(shapes[outer], cells.area)]
    return shapes


def _cell_polygons(cells: CellIndex) -> np.ndarray:
    """Return the Voronoi cell of every site as a polygon (in cell order).

    A cell's corners are the end points of its ridges, in angular order
    around its site (a cell is convex and holds its site). Neighbouring
    cells share the very corner coordinates, so the cells are an exact
    coverage that :func:`shapely.coverage_union_all` can merge.
    """
    ridge_cells, ridge_vertices = cells.ridge_cells, cells.ridge_vertices
    cell = np.concatenate(
        [ridge_cells[:, 0], ridge_cells[:, 0], ridge_cells[:, 1], ridge_cells[:, 1]]
    )
    vertex = np.concatenate(
        [ridge_vertices[:, 0], ridge_vertices[:, 1], ridge_vertices[:, 0], ridge_vertices[:, 1]]
    )
    real = cell >= 0
    count = len(cells.vertices)
    # Each corner of a cell ends two of its ridges: sorted, the keys come in
    # pairs (a sort is several times faster than np.unique's hashing here).
    keys = np.sort(cell[real] * count + vertex[real])
    keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
    cell, vertex = np.divmod(keys, count)
    corners = cells.vertices[vertex]
    angle = np.arctan2(corners[:, 1] - cells.cell_lat[cell], corners[:, 0] - cells.cell_lon[cell])
    order = np.lexsort((angle, cell))
    rings = shapely.linearrings(corners[order], indices=cell[order])
    return shapely.polygons(rings)


def _shape_frame(ids: pd.Index, geoms: np.ndarray) -> gpd.GeoDataFrame:
    # A parsed CRS object and the default str index keep this cheap: it is
    # paid on every interactive update.
    index = pd.Index(np.asarray(ids, dtype=object), name=TERRITORY_ID, dtype=str)
    geometry = gpd.array.from_shapely(geoms, crs=_PROJ_CRS)
    return gpd.GeoDataFrame({"geometry": geometry}, index=index)
