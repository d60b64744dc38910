"""Select accounts on the map: lasso, rectangle, circle or a click.

The drawings come from Leaflet.draw through ``st_folium`` as GeoJSON: a
rectangle or a freehand polygon is a Polygon feature; a circle is a *Point*
feature with ``properties.radius`` in metres. Shapely geometries are accepted
too. Self-intersecting lassos (freehand lines cross themselves) are repaired,
never rejected.

Selections are vectorised: a numpy bounding-box mask picks the candidates and
one ``shapely.contains_xy`` call (or a haversine distance for circles) tests
them. An account exactly on the drawn line is not selected, as with
``Point.within``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

__all__ = ["EARTH_RADIUS_KM", "drawing_geometry", "select_in_polygon", "select_nearest"]

logger = logging.getLogger(__name__)

#: Mean Earth radius used for haversine distances.
EARTH_RADIUS_KM = 6371.0088

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
    found = [
        _rows_in_circle(lon, lat, d) if isinstance(d, _Circle) else _rows_in_area(lon, lat, d)
        for d in _drawings(polygon)
    ]
    # Rows come out sorted from each drawing; only a union needs sorting.
    if len(found) == 1:
        rows = found[0]
    else:
        rows = np.unique(np.concatenate([np.empty(0, dtype=np.intp), *found]))
    return account_ids.take(rows)


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
    if not (np.isfinite(click_lon) and np.isfinite(click_lat)):
        raise ValueError(f"click must be finite, got ({click_lon}, {click_lat})")
    if max_km < 0:
        raise ValueError(f"max_km must be >= 0, got {max_km}")
    rows = _rows_in_circle(lon, lat, _Circle(float(click_lon), float(click_lat), max_km * 1000.0))
    if not len(rows):
        return account_ids[:0]
    dist = _haversine_km(click_lon, click_lat, lon[rows], lat[rows])
    nearest = rows[dist == dist.min()]
    return account_ids[np.sort(nearest)]


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


def _rows_in_area(lon: np.ndarray, lat: np.ndarray, geom: shapely.Geometry) -> np.ndarray:
    if geom.is_empty:
        return np.empty(0, dtype=np.intp)
    minx, miny, maxx, maxy = geom.bounds
    rows = np.flatnonzero((lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy))
    return rows[shapely.contains_xy(geom, lon[rows], lat[rows])]


def _rows_in_circle(lon: np.ndarray, lat: np.ndarray, circle: _Circle) -> np.ndarray:
    radius_km = circle.radius_m / 1000.0
    dlat = radius_km / _KM_PER_DEG_LAT
    cos_lat = np.cos(np.radians(min(abs(circle.lat) + dlat, 90.0)))
    # Near a pole the longitude window would span everything anyway.
    dlon = 360.0 if cos_lat < 1e-6 else dlat / cos_lat
    box = (lat >= circle.lat - dlat) & (lat <= circle.lat + dlat)
    if -180.0 <= circle.lon - dlon and circle.lon + dlon <= 180.0:
        box &= (lon >= circle.lon - dlon) & (lon <= circle.lon + dlon)
    else:  # the window wraps around the antimeridian
        box &= np.abs((lon - circle.lon + 180.0) % 360.0 - 180.0) <= dlon
    rows = np.flatnonzero(box)
    dist = _haversine_km(circle.lon, circle.lat, lon[rows], lat[rows])
    return rows[dist <= radius_km]


def _haversine_km(lon0: float, lat0: float, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    phi0, phi = np.radians(lat0), np.radians(lat)
    dphi = phi - phi0
    dlmb = np.radians(lon - lon0)
    h = np.sin(dphi / 2) ** 2 + np.cos(phi0) * np.cos(phi) * np.sin(dlmb / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
