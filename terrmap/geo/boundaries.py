"""US states and counties, world countries and coastlines, shipped with terrmap.

The files in ``terrmap/geo/data/`` are built once by ``scripts/build_geodata.py``
from the ``us-atlas`` (Census Bureau cartographic boundaries, 1:10m) and
``world-atlas`` (Natural Earth, 1:50m) npm packages; their README records the
versions. Nothing here touches the network.

Every loader reads its file once per process and hands each caller its own
copy, so a caller can change the frame it got without changing anyone else's.

Examples
--------
>>> states = us_states()
>>> states.loc["25", ["name", "abbr"]].tolist()
['Massachusetts', 'MA']
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely

from terrmap.core.schema import CRS

__all__ = [
    "LEVELS",
    "LINE_KINDS",
    "basemap_lines",
    "coastlines",
    "us_counties",
    "us_states",
    "world_countries",
    "world_land",
]

logger = logging.getLogger(__name__)

#: Outline kinds of :func:`basemap_lines`, coarsest first.
LINE_KINDS: tuple[str, ...] = ("country", "coast", "state", "county")

#: ``level`` of :func:`basemap_lines` -> the kinds it includes.
LEVELS: dict[str, tuple[str, ...]] = {
    "country": ("country", "coast"),
    "state": ("country", "coast", "state"),
    "county": LINE_KINDS,
}


@cache
def _load(name: str) -> gpd.GeoDataFrame:
    """Read the packaged file ``name`` once; never hand this frame out."""
    source = resources.files("terrmap.geo") / "data" / name
    with resources.as_file(source) as path:
        frame = gpd.read_parquet(path)
    logger.debug("loaded %s: %d rows", name, len(frame))
    return frame


def us_states() -> gpd.GeoDataFrame:
    """US states, the District of Columbia and the five inhabited territories.

    Returns
    -------
    geopandas.GeoDataFrame
        Index ``unit_id``: 2-digit FIPS state code (str); columns ``name``,
        ``abbr`` (USPS code) and (Multi)Polygon ``geometry`` in EPSG:4326. A
        fresh copy on every call.

    Examples
    --------
    >>> us_states().loc["36", "abbr"]
    'NY'
    """
    return _load("us_states.parquet").copy()


def us_counties() -> gpd.GeoDataFrame:
    """US counties and county equivalents (parishes, boroughs, municipios).

    Returns
    -------
    geopandas.GeoDataFrame
        Index ``unit_id``: 5-digit FIPS county code (str); columns ``name``,
        ``state_fips`` (2-digit FIPS), ``state`` (state name) and
        (Multi)Polygon ``geometry`` in EPSG:4326. A fresh copy on every call.
        One county equivalent too small for the 1:10m source, Falls Church
        city, VA (``51610``, 5 km²), has an empty geometry.

    Examples
    --------
    >>> us_counties().loc["25025", ["name", "state"]].tolist()
    ['Suffolk', 'Massachusetts']
    """
    return _load("us_counties.parquet").copy()


def world_countries() -> gpd.GeoDataFrame:
    """Countries of the world (Natural Earth admin-0, 1:50m).

    Returns
    -------
    geopandas.GeoDataFrame
        Index ``unit_id``: ISO 3166-1 numeric code as 3 digits (str); the few
        places without one (e.g. Kosovo) have ``"name:<name>"``. Columns
        ``name`` and (Multi)Polygon ``geometry`` in EPSG:4326. A fresh copy.

    Examples
    --------
    >>> world_countries().loc["250", "name"]
    'France'
    """
    return _load("world_countries.parquet").copy()


def world_land() -> gpd.GeoDataFrame:
    """All land of the world as one MultiPolygon (Natural Earth, 1:50m).

    Returns
    -------
    geopandas.GeoDataFrame
        One row; column ``name`` (``"land"``) and ``geometry`` in EPSG:4326.
    """
    return _load("world_land.parquet").copy()


def coastlines() -> gpd.GeoDataFrame:
    """Return the world's coastlines: the outline of :func:`world_land`, one row per line.

    Returns
    -------
    geopandas.GeoDataFrame
        LineString ``geometry`` in EPSG:4326, default integer index. Inland
        seas that are holes in the land (the Caspian) have shores; lakes, such
        as the Great Lakes, are land in the source and have none.
    """
    land = _load("world_land.parquet").geometry.to_numpy()
    lines = shapely.get_parts(shapely.boundary(shapely.get_parts(land)))
    return gpd.GeoDataFrame(geometry=lines, crs=CRS)


def _checked_bounds(bounds: Sequence[float]) -> tuple[float, float, float, float]:
    try:
        x0, y0, x1, y1 = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(
            f"bounds must be (min_lon, min_lat, max_lon, max_lat), got {bounds!r}"
        ) from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or not (x0 <= x1 and y0 <= y1):
        raise ValueError(f"bounds must be (min_lon, min_lat, max_lon, max_lat), got {bounds!r}")
    return x0, y0, x1, y1


def basemap_lines(
    bounds: Sequence[float],
    *,
    level: Literal["country", "state", "county"] = "county",
    tolerance: float = 0.0,
) -> gpd.GeoDataFrame:
    """Outlines for a base map of ``bounds``: borders and coasts, clipped and simplified.

    Each border is one line (two neighbouring counties do not both draw
    theirs). Inside the United States the lines come from the Census data
    (state and county borders, the coast as the states' outline); elsewhere
    from Natural Earth (country borders and coasts).

    Parameters
    ----------
    bounds : sequence of 4 float
        ``(min_lon, min_lat, max_lon, max_lat)`` in degrees.
    level : {"country", "state", "county"}, default "county"
        Finest outlines included: ``"country"`` gives country borders and
        coasts, ``"state"`` adds US state borders, ``"county"`` US county
        borders too (see :data:`LEVELS`).
    tolerance : float, default 0.0
        Simplification in degrees (Douglas-Peucker); 0 keeps every vertex.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``kind`` (one of :data:`LINE_KINDS`) and (Multi)LineString
        ``geometry`` in EPSG:4326, every line inside ``bounds``; coarsest kind
        first, default integer index. Empty when nothing lies in ``bounds``.

    Raises
    ------
    ValueError
        On malformed bounds, an unknown level or a negative tolerance.

    Examples
    --------
    >>> lines = basemap_lines((-73.6, 42.0, -73.0, 42.8), level="state")
    >>> sorted(set(lines["kind"]))  # the New York - Massachusetts line
    ['state']
    """
    x0, y0, x1, y1 = _checked_bounds(bounds)
    if level not in LEVELS:
        raise ValueError(f"level must be one of {sorted(LEVELS)}, got {level!r}")
    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    lines = _load("basemap_lines.parquet")
    rows = lines.sindex.query(shapely.box(x0, y0, x1, y1))
    rows = np.sort(rows[np.isin(lines["kind"].to_numpy()[rows], LEVELS[level])])
    geoms = shapely.clip_by_rect(lines.geometry.to_numpy()[rows], x0, y0, x1, y1)
    if tolerance > 0:
        geoms = shapely.simplify(geoms, tolerance)
    keep = ~shapely.is_empty(geoms) & (shapely.length(geoms) > 0)
    return gpd.GeoDataFrame(
        {"kind": lines["kind"].to_numpy()[rows][keep]}, geometry=geoms[keep], crs=CRS
    )
