"""What a map of a plan draws, independent of the map library.

:func:`map_data` prepares once per data set the positions, colours and Voronoi
cells; :func:`plan_shapes` draws the territory shapes of a plan, incrementally
from its parent's shapes, so a reassignment redraws only the territories it
touched. The web map, the exports and the report all use these.

Examples
--------
>>> from terrmap.demo import generate
>>> from terrmap.geo.workspace import build_workspace
>>> data = generate(200, 4, seed=3)
>>> ws = build_workspace(data.accounts, data.territories, data.reps)
>>> md = map_data(ws)
>>> shapes = plan_shapes(ws.initial_plan, md)
>>> list(shapes.index) == list(ws.context.territory_ids)
True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from terrmap.core.plan import Plan
from terrmap.core.schema import CRS
from terrmap.geo.palette import territory_colors
from terrmap.geo.selection import PointIndex
from terrmap.geo.shapes import CellIndex, build_cells, study_area, territory_shapes, update_shapes
from terrmap.geo.units import UnitLayer, dissolved
from terrmap.geo.workspace import Workspace

__all__ = ["MapData", "map_data", "plan_shapes"]

logger = logging.getLogger(__name__)

_SHAPES = "map_shapes"


@dataclass(frozen=True, eq=False)
class MapData:
    """Everything the map needs that does not change when accounts move.

    Attributes
    ----------
    account_ids : pandas.Index
        Account ids in point order (the context's order).
    lon, lat : numpy.ndarray
        Account positions, read-only.
    territories : geopandas.GeoDataFrame
        One row per territory in code order (index ``territory_id``) with
        ``name``; its geometry is filled per plan by :func:`plan_shapes`.
    colors : list of str
        Colour per territory, fixed for the data set so that territories keep
        their colour while accounts move.
    cells : CellIndex or None
        Voronoi cells of the account locations; built on first use by
        :meth:`account_cells` when the workspace has units (plans built
        from units are drawn as dissolved units and never need them).
    home_bases : pandas.DataFrame or None
        Reps with ``home_lat``, ``home_lon``, ``name`` for the map.
    names : numpy.ndarray
        Account name per point (the id where the name is missing).
    owners : numpy.ndarray
        Owner per point: the rep's name where the reps file knows the owner's
        id, else the owner as given, else None.
    points : PointIndex
        The positions sorted for fast selections.
    units : UnitLayer or None
        The workspace's building blocks; territories of plans built on them
        are drawn as the union of their units.
    area : shapely.Geometry or None
        The area the Voronoi cells are clipped to.
    """

    account_ids: pd.Index
    lon: np.ndarray = field(repr=False)
    lat: np.ndarray = field(repr=False)
    territories: gpd.GeoDataFrame = field(repr=False)
    colors: list[str] = field(repr=False)
    cells: CellIndex | None = field(repr=False)
    home_bases: pd.DataFrame | None = field(repr=False)
    names: np.ndarray = field(repr=False)
    owners: np.ndarray = field(repr=False)
    points: PointIndex = field(repr=False)
    units: UnitLayer | None = field(default=None, repr=False)
    area: shapely.Geometry | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def account_cells(self) -> CellIndex:
        """Voronoi cells of the accounts (built once, on first use)."""
        if self.cells is not None:
            return self.cells
        if "cells" not in self._cache:
            self._cache["cells"] = build_cells(
                np.asarray(self.lon, dtype=float),
                np.asarray(self.lat, dtype=float),
                self.account_ids,
                self.area,
            )
        return self._cache["cells"]


def map_data(workspace: Workspace) -> MapData:
    """Prepare the per-data-set part of the map.

    Parameters
    ----------
    workspace : Workspace
        The loaded data.

    Returns
    -------
    MapData
        Cells are clipped to the union of the territory polygons and the
        accounts' buffered hull, so accounts in white space still get a cell.
    """
    context = workspace.context
    lon = np.asarray(context.lon, dtype=float)
    lat = np.asarray(context.lat, dtype=float)
    polygons = workspace.territories.reindex(context.territory_ids)
    usable = polygons.geometry.notna() & ~polygons.geometry.is_empty
    areas = [study_area(np.column_stack([lon, lat]))]
    if usable.any():
        areas.append(study_area(polygons[usable]))
    area = shapely.union_all(areas)
    # A workspace of units draws dissolved units; cells only if ever needed.
    cells = (
        None if workspace.units is not None else build_cells(lon, lat, context.account_ids, area)
    )
    names = pd.Series(context.territory_names, index=context.territory_ids, name="name")
    territories = gpd.GeoDataFrame({"name": names}, geometry=polygons.geometry.values, crs=CRS)
    territories.index.name = "territory_id"
    colors = territory_colors(territories)
    reps = workspace.reps
    homes = None
    if reps is not None and {"home_lat", "home_lon"} <= set(reps.columns):
        homes = reps[reps["home_lat"].notna() & reps["home_lon"].notna()]
    accounts = workspace.accounts
    ids = context.account_ids.to_numpy(dtype=object)
    names = (
        accounts["name"].astype(object).to_numpy()
        if "name" in accounts.columns
        else np.full(len(ids), None, dtype=object)
    )
    names = np.where(pd.isna(names) | (names == ""), ids, names).astype(object)
    owners = np.asarray(context.owner, dtype=object)
    if reps is not None and "name" in reps.columns:
        rep_names = reps["name"].astype(object)
        rep_names.index = rep_names.index.astype(str)
        known = pd.Series(owners).astype(object).map(rep_names).to_numpy(dtype=object)
        owners = np.where(pd.isna(known), owners, known)
    owners = np.where(pd.isna(owners), None, owners).astype(object)
    names.setflags(write=False)
    owners.setflags(write=False)
    return MapData(
        account_ids=context.account_ids,
        lon=context.lon,
        lat=context.lat,
        territories=territories,
        colors=colors,
        cells=cells,
        home_bases=homes,
        names=names,
        owners=owners,
        points=PointIndex.build(lon, lat, context.account_ids),
        units=workspace.units,
        area=area,
    )


def plan_shapes(plan: Plan, data: MapData) -> gpd.GeoDataFrame:
    """Territory shapes of a plan, with names, in code order.

    Shapes are cached on the plan. A plan whose parent has shapes is drawn
    from them, redrawing only the territories its move touched. A plan built
    from units (:meth:`~terrmap.core.plan.Plan.from_definition`) is drawn as
    its dissolved units, so an uploaded territory is drawn exactly as
    uploaded and only unit moves change shapes (an excepted account stays
    inside its unit's territory's shape); any other plan as the union of its
    accounts' Voronoi cells.

    Parameters
    ----------
    plan : Plan
        The plan to draw.
    data : MapData
        From :func:`map_data` for the plan's workspace.

    Returns
    -------
    geopandas.GeoDataFrame
        Index ``territory_id`` (all territories, in code order), ``name`` and
        ``geometry`` (empty for a territory without accounts).
    """
    cached = plan._cache.get(_SHAPES)
    if cached is not None and cached[0] is data:
        return cached[1]
    by_units = _drawn_by_units(plan, data)
    # Walk up to the nearest ancestor that has shapes, then replay downwards.
    chain = [plan]
    node = plan.parent
    base = None
    while node is not None and (not by_units or _drawn_by_units(node, data)):
        hit = node._cache.get(_SHAPES)
        if hit is not None and hit[0] is data:
            base = hit[1]
            break
        chain.append(node)
        node = node.parent
    ids = data.territories.index
    if base is None:
        root = chain.pop()
        if by_units:
            shapes = gpd.GeoDataFrame(geometry=dissolved(data.units, root.unit_assignment, ids))
        else:
            shapes = territory_shapes(data.account_cells(), root.assignment, ids)
        base = _framed(shapes, data)
        root._cache[_SHAPES] = (data, base)
    for step in reversed(chain):
        # Units: only unit moves change shapes (an excepted account stays
        # inside its unit's territory); accounts: every move does.
        changed = _unit_move_territories(step) if by_units else step.changed_territories
        if changed and by_units:
            base = _framed(gpd.GeoDataFrame(geometry=_moved_units(step, base, data)), data)
        elif changed:
            redrawn = update_shapes(data.account_cells(), base, step.assignment, changed)
            base = _framed(redrawn, data)
        step._cache[_SHAPES] = (data, base)
    return base


def _moved_units(plan: Plan, base: gpd.GeoDataFrame, data: MapData) -> gpd.GeoSeries:
    """Territory shapes after a unit move: the units cut from their old territories, added to the new.

    Only the territories the move touched change, and only by the moved
    units: at 30,000 ZIP-sized units this takes milliseconds where dissolving
    the touched territories again took a third of a second each. The result
    is the same area and outline (the units share their edges exactly); a
    territory where it is not a polygon is dissolved again from its units.
    """
    before, after = plan.parent.unit_codes, plan.unit_codes
    moved = np.flatnonzero(before != after)  # a folded step moves units to several
    geoms = np.asarray(data.units.units.geometry.values, dtype=object)
    geometry = base.geometry.copy()
    ids = plan.context.territory_ids
    changes: dict[str, shapely.Geometry] = {}
    for code in np.unique(before[moved][before[moved] >= 0]).tolist():
        old = geometry.iloc[code]
        lost = shapely.union_all(geoms[moved[before[moved] == code]])
        changes[ids[code]] = shapely.difference(old, lost) if old is not None else old
    for code in np.unique(after[moved][after[moved] >= 0]).tolist():
        old = changes.get(ids[code], geometry.iloc[code])
        gained = shapely.union_all(geoms[moved[after[moved] == code]])
        empty = old is None or shapely.is_empty(old)
        changes[ids[code]] = gained if empty else shapely.union(old, gained)
    broken = [t for t, g in changes.items() if g is None or shapely.get_type_id(g) not in (3, 6)]
    if broken:
        again = dissolved(data.units, plan.unit_assignment, broken)
        changes.update(again.to_dict())
    for territory, shape in changes.items():
        geometry.loc[territory] = shape
    return geometry


def _drawn_by_units(plan: Plan, data: MapData) -> bool:
    return (
        plan.layout is not None
        and data.units is not None
        and plan.layout.unit_ids.equals(data.units.unit_ids)
    )


def _unit_move_territories(plan: Plan) -> list[str]:
    """Territories whose units differ from the parent's (none for account moves)."""
    if plan.parent is None or plan.unit_codes is None or plan.parent.unit_codes is None:
        return []
    before, after = plan.parent.unit_codes, plan.unit_codes
    if before is after:
        return []
    differ = np.flatnonzero(before != after)
    codes = np.unique(np.concatenate([before[differ], after[differ]]))
    return plan.context.territory_ids[codes[codes >= 0]].tolist()


def _framed(shapes: gpd.GeoDataFrame, data: MapData) -> gpd.GeoDataFrame:
    out = data.territories[["name"]].copy()
    return gpd.GeoDataFrame(
        out, geometry=shapes.geometry.reindex(out.index).values, crs=CRS
    ).rename_axis("territory_id")
