"""Units on the map, independent of the map library: pick, outline, flag.

The map editor selects *places* (units) as well as accounts. These functions
answer what the page asks of a unit layer:

* :func:`units_in_shape` and :func:`unit_at` -- the units a drawn shape or a
  click picks (a unit is inside a shape when its representative point is);
* :func:`movable_accounts` -- the accounts a unit move would carry (not the
  named exceptions, nor accounts an attribute rule claims);
* :func:`exclave_flags` -- where each territory's exclaves are, from the unit
  adjacency graph (never from geometry: an island county is one unit);
* :func:`unit_rings` -- the outlines as flat arrays, simplified, for the
  browser to draw from one file.

Examples
--------
>>> import geopandas as gpd, shapely
>>> from terrmap.geo.units import units_from_polygons
>>> frame = gpd.GeoDataFrame({"code": ["W", "E"]},
...     geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], crs="EPSG:4326")
>>> layer = units_from_polygons(frame, "code")
>>> units_in_shape(layer, shapely.box(-1, -1, 1.2, 2)).tolist()
[0]
>>> unit_at(layer, 1.5, 0.5)
1
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from terrmap.core.definition import NO_EXCEPTION
from terrmap.core.layout import exclave_units
from terrmap.core.plan import Plan
from terrmap.geo.units import UnitLayer

__all__ = [
    "UnitRings",
    "exclave_flags",
    "movable_accounts",
    "representative_points",
    "unit_at",
    "unit_rings",
    "units_in_shape",
]

_POINTS = "representative_points"
_FLAGS = "exclave_flags"


def representative_points(layer: UnitLayer) -> np.ndarray:
    """Find a point inside each unit, ``(n_units, 2)`` lon/lat, computed once per layer.

    Parameters
    ----------
    layer : UnitLayer
        The building blocks.

    Returns
    -------
    numpy.ndarray
        Read-only; ``shapely.point_on_surface`` of each unit, so the point
        lies inside even a crescent-shaped unit.
    """
    cached = layer._cache.get(_POINTS)
    if cached is None:
        points = shapely.point_on_surface(np.asarray(layer.units.geometry.values, dtype=object))
        cached = shapely.get_coordinates(points)
        cached.setflags(write=False)
        layer._cache[_POINTS] = cached
    return cached


def units_in_shape(layer: UnitLayer, shape: shapely.Geometry) -> np.ndarray:
    """Codes of the units a drawn shape picks: those whose representative point is inside.

    Parameters
    ----------
    layer : UnitLayer
        The building blocks.
    shape : shapely.Geometry
        A (Multi)Polygon in lon/lat, e.g. a lasso.

    Returns
    -------
    numpy.ndarray of int64
        Unit codes (positions in ``layer.unit_ids``), ascending.

    Raises
    ------
    ValueError
        When ``shape`` is not polygonal.
    """
    if shapely.get_type_id(shape) not in (3, 6):
        raise ValueError(f"a selection shape must be a polygon, got {shape.geom_type}")
    xy = representative_points(layer)
    if len(xy) == 0:
        return np.empty(0, dtype=np.int64)
    x0, y0, x1, y1 = shape.bounds
    near = np.flatnonzero((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1))
    shapely.prepare(shape)
    inside = shapely.contains_xy(shape, xy[near, 0], xy[near, 1])
    return near[inside].astype(np.int64)


def unit_at(layer: UnitLayer, lon: float, lat: float) -> int:
    """Code of the unit holding a point, -1 in none.

    Parameters
    ----------
    layer : UnitLayer
        The building blocks.
    lon, lat : float
        The clicked place, WGS84 degrees.

    Returns
    -------
    int
        The unit code, or -1 (white space beyond every unit).
    """
    return int(layer.locate(np.array([float(lon)]), np.array([float(lat)]))[0])


def movable_accounts(plan: Plan, unit_codes: np.ndarray) -> np.ndarray:
    """Positions of the accounts that move with some units.

    Every account in the units except named-account exceptions and accounts
    an attribute rule claims: what :meth:`terrmap.core.plan.Plan.reassign_units`
    carries (before leaving out those already in the target).

    Parameters
    ----------
    plan : Plan
        A plan built on units.
    unit_codes : numpy.ndarray
        Unit codes (positions in the layout's unit ids).

    Returns
    -------
    numpy.ndarray of int64
        Account positions, ascending.

    Raises
    ------
    ValueError
        When the plan has no units.
    """
    if plan.layout is None:
        raise ValueError("this plan has no units; build it with Plan.from_definition")
    positions = plan.layout.accounts_in(np.asarray(unit_codes, dtype=np.int64))
    free = (plan.exception_codes[positions] == NO_EXCEPTION) & (
        plan.layout.rule_codes[positions] < 0
    )
    return positions[free]


def exclave_flags(plan: Plan, layer: UnitLayer) -> pd.DataFrame:
    """Where the exclaves are: one row per piece of a territory beyond its main piece.

    Pieces come from the unit adjacency graph (the plan's layout), so an
    island that is part of one unit is no exclave.

    Parameters
    ----------
    plan : Plan
        A plan built on ``layer``'s units, with their adjacency.
    layer : UnitLayer
        The building blocks (for a point to mark each exclave).

    Returns
    -------
    pandas.DataFrame
        Columns ``territory_id``, ``units`` (in the exclave), ``lon``,
        ``lat`` (inside the exclave's unit nearest to its middle); empty when
        every territory is in one piece.

    Raises
    ------
    ValueError
        When the plan has no units or no adjacency.
    """
    if plan.layout is None or plan.layout.pairs is None:
        raise ValueError("exclaves need a plan with units and their adjacency")
    # Once per plan and layer: the map asks on every rerun.
    cached = plan._cache.get(_FLAGS)
    if cached is not None and cached[0] is layer:
        return cached[1].copy()
    flags = _exclave_flags(plan, layer)
    plan._cache[_FLAGS] = (layer, flags)
    return flags.copy()


def _exclave_flags(plan: Plan, layer: UnitLayer) -> pd.DataFrame:
    labels = exclave_units(plan.unit_codes, plan.layout.pairs)
    found = np.flatnonzero(labels >= 0)
    columns = ["territory_id", "units", "lon", "lat"]
    if found.size == 0:
        return pd.DataFrame(
            {c: pd.Series(dtype=float if c in ("lon", "lat") else object) for c in columns}
        )
    xy = representative_points(layer)
    frame = pd.DataFrame(
        {"piece": labels[found], "unit": found, "x": xy[found, 0], "y": xy[found, 1]}
    )
    middle = frame.groupby("piece", sort=True)[["x", "y"]].transform("mean")
    frame["distance"] = np.hypot(frame["x"] - middle["x"], frame["y"] - middle["y"])
    nearest = frame.sort_values(["piece", "distance", "unit"]).groupby("piece").first()
    sizes = frame.groupby("piece").size()
    territory = plan.unit_codes[nearest["unit"].to_numpy()]
    return pd.DataFrame(
        {
            "territory_id": plan.context.territory_ids[territory].astype(str),
            "units": sizes.reindex(nearest.index).to_numpy(dtype=np.int64),
            "lon": nearest["x"].to_numpy(float),
            "lat": nearest["y"].to_numpy(float),
        }
    )[columns]


@dataclass(frozen=True)
class UnitRings:
    """Unit outlines as flat arrays (one ring after another).

    Attributes
    ----------
    unit_start : numpy.ndarray
        ``int32``, ``n_units + 1``: unit ``u`` has rings
        ``unit_start[u]:unit_start[u + 1]``.
    ring_start : numpy.ndarray
        ``int32``, ``n_rings + 1``: ring ``r`` has coordinates
        ``ring_start[r]:ring_start[r + 1]``.
    coords : numpy.ndarray
        ``float32``, ``(n_coords, 2)`` lon/lat.
    """

    unit_start: np.ndarray
    ring_start: np.ndarray
    coords: np.ndarray


def unit_rings(layer: UnitLayer, tolerance: float = 0.0) -> UnitRings:
    """Flatten the unit outlines, simplified, into arrays for a browser to draw.

    Parameters
    ----------
    layer : UnitLayer
        The building blocks.
    tolerance : float, default 0
        Simplification in degrees (each unit on its own, topology kept);
        0 keeps every vertex.

    Returns
    -------
    UnitRings
        Exterior and interior rings of every part of every unit, in unit
        order; a unit's rings are drawn with the even-odd rule, so holes stay
        holes.

    Raises
    ------
    ValueError
        For a negative tolerance.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    geoms = np.asarray(layer.units.geometry.values, dtype=object)
    if tolerance > 0:
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    parts, part_unit = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    ring_unit = part_unit[ring_part]
    unit_start = np.searchsorted(ring_unit, np.arange(layer.n_units + 1)).astype(np.int32)
    ring_start = np.searchsorted(coord_ring, np.arange(len(rings) + 1)).astype(np.int32)
    return UnitRings(unit_start, ring_start, coords.astype(np.float32))
