"""The map's background: offline outlines served by the app, or online tiles.

Offline (the default) the map draws faint country, coast, US state and US
county lines from a GeoJSON file the app writes next to its other static
files (:func:`publish_basemap`) and ``js/terrmap_basemap.js`` fetches once.
The file depends only on the data set's extent, so it is the same on every
rerun and the base map is not rebuilt.

Online, the map loads tiles from :data:`ONLINE_TILES`, OpenStreetMap's own
tile server: it serves without an API key (CARTO's basemaps, used before,
now require one) under the OpenStreetMap tile usage policy, which asks for
the attribution the map shows (:data:`TILES_ATTRIBUTION`).

Examples
--------
>>> basemap_bounds([-71.06, -73.76], [42.36, 42.65])
(-76.76, 39.36, -68.06, 45.65)
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import shapely
import xyzservices.providers as xyz

from terrmap.geo.boundaries import LINE_KINDS, basemap_lines
from terrmap.web.static_assets import POINTS_BASE, publish_file

__all__ = [
    "BASEMAP_PAD_DEG",
    "BASEMAP_TOLERANCE",
    "ONLINE_TILES",
    "TILES_ATTRIBUTION",
    "TILES_HELP",
    "TILES_LABEL",
    "basemap_bounds",
    "basemap_geojson",
    "publish_basemap",
]

logger = logging.getLogger(__name__)

#: Online tiles: OpenStreetMap's standard layer (no API key).
ONLINE_TILES = xyz.OpenStreetMap.Mapnik

#: Attribution shown in the map's corner while the tiles are on (HTML).
TILES_ATTRIBUTION: str = ONLINE_TILES.html_attribution

#: The switch that turns the tiles on, saying where they come from.
TILES_LABEL = "Street map (OpenStreetMap tiles, from the internet)"

#: More about the tiles, next to :data:`TILES_LABEL`.
TILES_HELP = (
    "Loads map tiles from tile.openstreetmap.org (no key needed; "
    "© OpenStreetMap contributors). Without them the map works offline: country, "
    "state and county lines come with terrmap (US Census Bureau and Natural Earth)."
)

#: The outlines reach this far (degrees) beyond the data, at least, so that a
#: little panning does not run off the drawn area.
BASEMAP_PAD_DEG = 3.0

#: Simplification of the outlines (degrees, about 100 m): below a pixel at
#: the zooms that show county lines, and it keeps the whole US under 1 MB.
BASEMAP_TOLERANCE = 0.001

#: Coordinates are written to 4 decimals (about 10 m).
_GRID = 1e-4


def basemap_bounds(
    lon: Sequence[float] | np.ndarray, lat: Sequence[float] | np.ndarray
) -> tuple[float, float, float, float]:
    """Return the area the base map covers for a data set: its extent, padded.

    Parameters
    ----------
    lon, lat : array-like of float
        Account positions in WGS84 degrees.

    Returns
    -------
    tuple of 4 float
        ``(min_lon, min_lat, max_lon, max_lat)``: the extent grown by a quarter
        of its size and at least :data:`BASEMAP_PAD_DEG` on every side, rounded
        outwards to 0.01 degree, within -180..180 and -85..85. The contiguous
        US, padded, when there are no positions.

    Raises
    ------
    ValueError
        When positions are not finite or lengths differ.
    """
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    if lon_a.shape != lat_a.shape or lon_a.ndim != 1:
        raise ValueError(
            f"lon and lat must be 1-D of one length, got {lon_a.shape} and {lat_a.shape}"
        )
    if not (np.isfinite(lon_a).all() and np.isfinite(lat_a).all()):
        raise ValueError("lon and lat must be finite")
    if lon_a.size == 0:
        x0, y0, x1, y1 = -125.0, 24.5, -66.9, 49.5
    else:
        x0, x1 = float(lon_a.min()), float(lon_a.max())
        y0, y1 = float(lat_a.min()), float(lat_a.max())
    pad_x = max((x1 - x0) / 4, BASEMAP_PAD_DEG)
    pad_y = max((y1 - y0) / 4, BASEMAP_PAD_DEG)
    # round() first: -73.76 - 3 is -76.7600000001 in floating point.
    return (
        max(-180.0, math.floor(round((x0 - pad_x) * 100, 6)) / 100),
        max(-85.0, math.floor(round((y0 - pad_y) * 100, 6)) / 100),
        min(180.0, math.ceil(round((x1 + pad_x) * 100, 6)) / 100),
        min(85.0, math.ceil(round((y1 + pad_y) * 100, 6)) / 100),
    )


def basemap_geojson(bounds: Sequence[float], tolerance: float = BASEMAP_TOLERANCE) -> str:
    """Return the base map's outlines in ``bounds`` as GeoJSON text.

    Parameters
    ----------
    bounds : sequence of 4 float
        ``(min_lon, min_lat, max_lon, max_lat)``.
    tolerance : float, default :data:`BASEMAP_TOLERANCE`
        Simplification in degrees.

    Returns
    -------
    str
        A FeatureCollection with one MultiLineString feature per kind present
        (property ``kind``, one of :data:`~terrmap.geo.boundaries.LINE_KINDS`,
        coarsest first) and ``bbox`` set to ``bounds``. Only numbers and the
        fixed kind names: nothing from data files.

    Raises
    ------
    ValueError
        On malformed bounds or tolerance (see
        :func:`terrmap.geo.boundaries.basemap_lines`).
    """
    lines = basemap_lines(bounds, level="county", tolerance=tolerance)
    geoms = shapely.set_precision(lines.geometry.to_numpy(), _GRID)
    kinds = lines["kind"].to_numpy()
    features = []
    for kind in LINE_KINDS:
        parts = shapely.get_parts(geoms[kinds == kind])
        parts = parts[(shapely.get_type_id(parts) == 1) & ~shapely.is_empty(parts)]
        if len(parts) == 0:
            continue
        geometry = shapely.to_geojson(shapely.multilinestrings(parts))
        features.append(
            f'{{"type":"Feature","properties":{{"kind":"{kind}"}},"geometry":{geometry}}}'
        )
    bbox = ",".join(repr(float(b)) for b in bounds)
    return f'{{"type":"FeatureCollection","bbox":[{bbox}],"features":[{",".join(features)}]}}'


def publish_basemap(
    lon: Sequence[float] | np.ndarray,
    lat: Sequence[float] | np.ndarray,
    cache_dir: str | Path | None = None,
    points_base: str = POINTS_BASE,
) -> str:
    """Write the base map of a data set where the app serves it; return its URL.

    Parameters
    ----------
    lon, lat : array-like of float
        Account positions in WGS84 degrees (only their extent matters, see
        :func:`basemap_bounds`).
    cache_dir, points_base
        Where the file goes and its URL prefix, as for
        :func:`terrmap.web.static_assets.publish_file`.

    Returns
    -------
    str
        URL such as ``<points_base>/basemap-0123abcd4567ef89.json``; the
        name is a hash of the content, so reruns and data sets of one extent
        share the file.

    Raises
    ------
    ValueError
        On invalid positions.
    OSError
        When the folder cannot be written.
    """
    bounds = basemap_bounds(lon, lat)
    text = basemap_geojson(bounds).encode("utf-8")
    digest = hashlib.sha1(text).hexdigest()[:16]
    url = publish_file(text, f"basemap-{digest}.json", cache_dir, points_base)
    logger.debug("base map of %s: %d bytes at %s", bounds, len(text), url)
    return url
