"""Select accounts on the map: lasso, rectangle, circle or a click.

The drawings come from Leaflet.draw through ``st_folium`` as GeoJSON: a
rectangle or a freehand polygon is a Polygon feature; a circle is a *Point*
feature with ``properties.radius`` in metres. Shapely geometries are accepted
too. Self-intersecting lassos (freehand lines cross themselves) are repaired,
never rejected.

Selections are vectorised: a numpy bounding-box mask picks the candidates and
one ``shapely.contains_xy`` call (or a haversine distance for circles) tests
them. For repeated selections on a large account set, :class:`PointIndex`
finds the candidates by binary search instead of a full scan. An account exactly on the drawn line is not selected, as with
``Point.within``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from terrmap.core.travel import EARTH_RADIUS_KM, haversine_km

__all__ = [
    "PointIndex",
    "drawing_geometry",
    "select_in_polygon",
    "select_nearest",
]

logger = logging.getLogger(__name__)

_KM_PER_DEG_LAT = np.pi * EARTH_RADIUS_KM / 180.0
_POLYGONAL = (3, 6)


def select_in_polygon(
    lon: np.ndarray,
    lat: np.ndarray,
    account_ids: pd.Index,
    polygon: shapely.Geometry | Mapping | Sequence[Mapping],
) -> pd.Index:
    """Ids of the accounts inside a drawn shape.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Account coordinates in WGS84 degrees (NaN for unknown).
    account_ids : pandas.Index
        Ids aligned with ``lon``/``lat``.
    polygon : shapely geometry, GeoJSON dict or list of GeoJSON features
        A Polygon or MultiPolygon; a GeoJSON geometry or Feature as
        ``st_folium`` returns from Leaflet.draw (rectangle, polygon, or
        circle: a Point feature with ``properties.radius`` in metres); or a
        FeatureCollection / list of features, whose selections are combined.

    Returns
    -------
    pandas.Index
        Selected ids, in input order.

    Raises
    ------
    ValueError
        When the arrays differ in length or the drawing is not an area (a
        line, or a point without radius).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> ids = pd.Index(["a", "b", "c"], name="account_id")
    >>> lon, lat = np.array([0.5, 1.5, 5.0]), np.array([0.5, 0.5, 5.0])
    >>> list(select_in_polygon(lon, lat, ids, shapely.box(0, 0, 2, 1)))
    ['a', 'b']
    >>> circle = {
    ...     "type": "Feature",
    ...     "properties": {"radius": 2000.0},
    ...     "geometry": {"type": "Point", "coordinates": [5.0, 5.01]},
    ... }
    >>> list(select_in_polygon(lon, lat, ids, circle))
    ['c']
    """
    lon, lat, account_ids = _check_arrays(lon, lat, account_ids)
    return account_ids.take(_rows_in_drawing(lon, lat, polygon, None))


def select_nearest(
    lon: np.ndarray,
    lat: np.ndarray,
    account_ids: pd.Index,
    click_lon: float,
    click_lat: float,
    max_km: float = 1.0,
) -> pd.Index:
    """Ids of the account nearest to a click, within ``max_km``.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Account coordinates in WGS84 degrees (NaN for unknown).
    account_ids : pandas.Index
        Ids aligned with ``lon``/``lat``.
    click_lon, click_lat : float
        Where the map was clicked.
    max_km : float, default 1.0
        Ignore accounts farther than this (great-circle distance).

    Returns
    -------
    pandas.Index
        The nearest account's id; all of them, in input order, when several
        share its location (they are drawn as one marker); empty when none is
        within ``max_km``.

    Raises
    ------
    ValueError
        When the arrays differ in length, the click is not finite or
        ``max_km`` is negative.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> ids = pd.Index(["a", "b", "c"])
    >>> lon, lat = np.array([0.0, 0.01, 0.01]), np.array([0.0, 0.0, 0.0])
    >>> list(select_nearest(lon, lat, ids, 0.009, 0.0, max_km=1.0))
    ['b', 'c']
    >>> list(select_nearest(lon, lat, ids, 1.0, 1.0, max_km=1.0))
    []
    """
    lon, lat, account_ids = _check_arrays(lon, lat, account_ids)
    return account_ids.take(_nearest_rows(lon, lat, click_lon, click_lat, max_km, None))


@dataclass(frozen=True, eq=False)
class PointIndex:
    """Accounts sorted by longitude, for fast repeated selections.

    Build it once per account set with :meth:`build`; its methods give the
    same answers as :func:`select_in_polygon` and :func:`select_nearest`, but
    find the candidates by binary search instead of scanning every account.

    Attributes
    ----------
    lon, lat : numpy.ndarray
        Account coordinates, in input order (read-only).
    account_ids : pandas.Index
        Ids aligned with ``lon``/``lat``.
    order : numpy.ndarray
        Positions sorting the accounts by longitude (NaN last).
    sorted_lon, sorted_lat : numpy.ndarray
        ``lon[order]`` and ``lat[order]``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> index = PointIndex.build(np.array([0.5, 1.5]), np.array([0.5, 0.5]), pd.Index(["a", "b"]))
    >>> list(index.select_in_polygon(shapely.box(1, 0, 2, 1)))
    ['b']
    """

    lon: np.ndarray
    lat: np.ndarray
    account_ids: pd.Index
    order: np.ndarray
    sorted_lon: np.ndarray
    sorted_lat: np.ndarray

    @classmethod
    def build(cls, lon: np.ndarray, lat: np.ndarray, account_ids: pd.Index) -> PointIndex:
        """Sort the accounts by longitude.

        Parameters
        ----------
        lon, lat : numpy.ndarray
            Account coordinates in WGS84 degrees (NaN for unknown). Copied.
        account_ids : pandas.Index
            Ids aligned with ``lon``/``lat``.

        Returns
        -------
        PointIndex
            The index.

        Raises
        ------
        ValueError
            When the arrays differ in length.
        """
        lon, lat, account_ids = _check_arrays(lon, lat, account_ids)
        lon, lat = lon.copy(), lat.copy()
        order = np.argsort(lon)
        arrays = (lon, lat, order, lon[order], lat[order])
        for array in arrays:
            array.flags.writeable = False
        return cls(lon, lat, account_ids, order, arrays[3], arrays[4])

    def select_in_polygon(
        self, polygon: shapely.Geometry | Mapping | Sequence[Mapping]
    ) -> pd.Index:
        """Ids of the accounts inside a drawn shape; see :func:`select_in_polygon`.

        Parameters
        ----------
        polygon : shapely geometry, GeoJSON dict or list of GeoJSON features
            As for :func:`select_in_polygon`.

        Returns
        -------
        pandas.Index
            Selected ids, in input order.
        """
        return self.account_ids.take(self.rows_in_polygon(polygon))

    def rows_in_polygon(
        self, polygon: shapely.Geometry | Mapping | Sequence[Mapping]
    ) -> np.ndarray:
        """Positions of the accounts inside a drawn shape, ascending.

        The same selection as :meth:`select_in_polygon`, as positions in the
        arrays the index was built from: what
        :meth:`terrmap.core.plan.Plan.reassign_positions` takes, skipping the
        lookup of ids.

        Parameters
        ----------
        polygon : shapely geometry, GeoJSON dict or list of GeoJSON features
            As for :func:`select_in_polygon`.

        Returns
        -------
        numpy.ndarray
            Sorted integer positions.
        """
        return _rows_in_drawing(self.lon, self.lat, polygon, self)

    def select_nearest(self, click_lon: float, click_lat: float, max_km: float = 1.0) -> pd.Index:
        """Ids of the account nearest to a click; see :func:`select_nearest`.

        Parameters
        ----------
        click_lon, click_lat : float
            Where the map was clicked.
        max_km : float, default 1.0
            Ignore accounts farther than this.

        Returns
        -------
        pandas.Index
            The nearest account's id (all of them when co-located), or empty.
        """
        rows = _nearest_rows(self.lon, self.lat, click_lon, click_lat, max_km, self)
        return self.account_ids.take(rows)


def drawing_geometry(drawing: shapely.Geometry | Mapping) -> shapely.Geometry:
    """Return the area a drawing covers, as a valid shapely geometry.

    Circles become 64-gon approximations (for display; selection uses the
    exact distance).

    Parameters
    ----------
    drawing : shapely geometry or GeoJSON dict
        As accepted by :func:`select_in_polygon`.

    Returns
    -------
    shapely.Geometry
        Polygon or MultiPolygon (possibly empty) in lon/lat degrees.

    Raises
    ------
    ValueError
        When the drawing is not an area.

    Examples
    --------
    >>> bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
    >>> drawing_geometry(bowtie).geom_type
    'MultiPolygon'
    """
    parts = []
    for item in _drawings(drawing):
        parts.append(item.polygon() if isinstance(item, _Circle) else item)
    return shapely.union_all(parts) if len(parts) != 1 else parts[0]


class _Circle:
    """A circle on the ground: centre in degrees, radius in metres."""

    __slots__ = ("lat", "lon", "radius_m")

    def __init__(self, lon: float, lat: float, radius_m: float) -> None:
        self.lon, self.lat, self.radius_m = lon, lat, radius_m

    def polygon(self, points: int = 64) -> shapely.Polygon:
        angle = np.linspace(0.0, 2.0 * np.pi, points, endpoint=False)
        dlat = self.radius_m / 1000.0 / _KM_PER_DEG_LAT
        dlon = dlat / max(np.cos(np.radians(self.lat)), 1e-6)
        return shapely.Polygon(
            np.c_[self.lon + dlon * np.cos(angle), self.lat + dlat * np.sin(angle)]
        )


def _check_arrays(
    lon: np.ndarray, lat: np.ndarray, account_ids: pd.Index
) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if not isinstance(account_ids, pd.Index):
        account_ids = pd.Index(account_ids)
    if not len(lon) == len(lat) == len(account_ids):
        raise ValueError(
            f"lon, lat and account_ids differ in length: {len(lon)}, {len(lat)}, {len(account_ids)}"
        )
    return lon, lat, account_ids


def _drawings(drawing: object) -> list[shapely.Geometry | _Circle]:
    """Flatten a drawing into valid polygonal geometries and circles."""
    if isinstance(drawing, shapely.Geometry):
        return [_valid_area(drawing)]
    if isinstance(drawing, Sequence) and not isinstance(drawing, str):
        return [d for item in drawing for d in _drawings(item)]
    if not isinstance(drawing, Mapping):
        raise ValueError(f"cannot select with a {type(drawing).__name__}")
    kind = drawing.get("type")
    if kind == "FeatureCollection":
        return _drawings(list(drawing.get("features") or []))
    if kind == "Feature":
        geometry = drawing.get("geometry")
        if geometry is None:
            raise ValueError("GeoJSON feature has no geometry")
        radius = (drawing.get("properties") or {}).get("radius")
        if geometry.get("type") == "Point":
            if radius is None:
                raise ValueError("a Point drawing needs properties.radius (metres) to select")
            lon, lat = geometry["coordinates"][:2]
            return [_Circle(float(lon), float(lat), float(radius))]
        return _drawings(geometry)
    if kind == "Point":
        raise ValueError("a Point drawing needs properties.radius (metres) to select")
    try:
        geom = shape(drawing)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a GeoJSON geometry: {kind!r}") from exc
    return [_valid_area(geom)]


def _valid_area(geom: shapely.Geometry) -> shapely.Geometry:
    if geom.is_empty:
        return shapely.Polygon()
    if not geom.is_valid:
        # Freehand lassos cross themselves. "structure" keeps every area the
        # line encloses, even one it loops around twice, unlike even-odd.
        logger.debug("repairing an invalid drawing: %s", shapely.is_valid_reason(geom))
        geom = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    if shapely.get_type_id(geom) in _POLYGONAL:
        return geom
    parts = shapely.get_parts(geom)
    polygons = parts[np.isin(shapely.get_type_id(parts), _POLYGONAL)]
    if not len(polygons):
        raise ValueError(f"cannot select with a {geom.geom_type}; draw an area")
    return shapely.union_all(polygons)


def _rows_in_drawing(
    lon: np.ndarray, lat: np.ndarray, drawing: object, index: PointIndex | None
) -> np.ndarray:
    found = [
        _rows_in_circle(lon, lat, d, index)
        if isinstance(d, _Circle)
        else _rows_in_area(lon, lat, d, index)
        for d in _drawings(drawing)
    ]
    # Rows come out sorted from each drawing; only a union needs sorting.
    if len(found) == 1:
        return found[0]
    return np.unique(np.concatenate([np.empty(0, dtype=np.intp), *found]))


def _nearest_rows(
    lon: np.ndarray,
    lat: np.ndarray,
    click_lon: float,
    click_lat: float,
    max_km: float,
    index: PointIndex | None,
) -> np.ndarray:
    if not (np.isfinite(click_lon) and np.isfinite(click_lat)):
        raise ValueError(f"click must be finite, got ({click_lon}, {click_lat})")
    if max_km < 0:
        raise ValueError(f"max_km must be >= 0, got {max_km}")
    circle = _Circle(float(click_lon), float(click_lat), max_km * 1000.0)
    rows = _rows_in_circle(lon, lat, circle, index)
    if not len(rows):
        return rows
    dist = haversine_km(click_lon, click_lat, lon[rows], lat[rows])
    return rows[dist == dist.min()]


def _rows_in_box(
    lon: np.ndarray,
    lat: np.ndarray,
    box: tuple[float, float, float, float],
    index: PointIndex | None,
) -> np.ndarray:
    """Sorted positions of the accounts inside a lon/lat box."""
    minx, miny, maxx, maxy = box
    if index is None:
        return np.flatnonzero((lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy))
    lo = np.searchsorted(index.sorted_lon, minx, side="left")
    hi = np.searchsorted(index.sorted_lon, maxx, side="right")
    y = index.sorted_lat[lo:hi]
    return np.sort(index.order[lo:hi][(y >= miny) & (y <= maxy)])


def _rows_in_area(
    lon: np.ndarray, lat: np.ndarray, geom: shapely.Geometry, index: PointIndex | None
) -> np.ndarray:
    if geom.is_empty:
        return np.empty(0, dtype=np.intp)
    rows = _rows_in_box(lon, lat, geom.bounds, index)
    return rows[shapely.contains_xy(geom, lon[rows], lat[rows])]


def _rows_in_circle(
    lon: np.ndarray, lat: np.ndarray, circle: _Circle, index: PointIndex | None
) -> np.ndarray:
    radius_km = circle.radius_m / 1000.0
    dlat = radius_km / _KM_PER_DEG_LAT
    cos_lat = np.cos(np.radians(min(abs(circle.lat) + dlat, 90.0)))
    # Near a pole the longitude window would span everything anyway.
    dlon = 360.0 if cos_lat < 1e-6 else dlat / cos_lat
    if -180.0 <= circle.lon - dlon and circle.lon + dlon <= 180.0:
        box = (circle.lon - dlon, circle.lat - dlat, circle.lon + dlon, circle.lat + dlat)
        rows = _rows_in_box(lon, lat, box, index)
    else:  # the window wraps around the antimeridian
        near = (lat >= circle.lat - dlat) & (lat <= circle.lat + dlat)
        near &= np.abs((lon - circle.lon + 180.0) % 360.0 - 180.0) <= dlon
        rows = np.flatnonzero(near)
    dist = haversine_km(circle.lon, circle.lat, lon[rows], lat[rows])
    return rows[dist <= radius_km]
