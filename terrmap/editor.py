"""What the map editor draws, derived from a workspace and a plan.

The map editor page shows a plan on the map: every account coloured by its
territory, each territory drawn as the shape its accounts imply (see
:mod:`terrmap.shapes`), a legend and labels. This module prepares that once
per data set (:func:`map_data`: positions, colours, Voronoi cells) and once per
plan (:func:`plan_shapes`, incremental from the parent plan's shapes, so a
reassignment redraws only the territories it touched), and phrases what the
page says about a selection (:func:`account_callouts`, :func:`selection_table`).

Examples
--------
>>> from terrmap.demo import generate
>>> from terrmap.workspace import build_workspace
>>> data = generate(200, 4, seed=3)
>>> ws = build_workspace(data.accounts, data.territories, data.reps)
>>> md = map_data(ws)
>>> shapes = plan_shapes(ws.initial_plan, md)
>>> list(shapes.index) == list(ws.context.territory_ids)
True
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from terrmap.mapview import CLICK_MATCH_KM, MapEvent, territory_colors
from terrmap.plan import Plan
from terrmap.schema import CRS, UNASSIGNED_LABEL
from terrmap.selection import PointIndex
from terrmap.shapes import CellIndex, build_cells, study_area, territory_shapes, update_shapes
from terrmap.workspace import Workspace

__all__ = [
    "MapData",
    "account_callouts",
    "map_data",
    "plan_shapes",
    "selected_positions",
    "selection_table",
]

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
    cells : CellIndex
        Voronoi cells of the account locations.
    home_bases : pandas.DataFrame or None
        Reps with ``home_lat``, ``home_lon``, ``name`` for the map.
    names : numpy.ndarray
        Account name per point (the id where the name is missing).
    owners : numpy.ndarray
        Owner per point: the rep's name where the reps file knows the owner's
        id, else the owner as given, else None.
    points : PointIndex
        The positions sorted for fast selections.
    """

    account_ids: pd.Index
    lon: np.ndarray = field(repr=False)
    lat: np.ndarray = field(repr=False)
    territories: gpd.GeoDataFrame = field(repr=False)
    colors: list[str] = field(repr=False)
    cells: CellIndex = field(repr=False)
    home_bases: pd.DataFrame | None = field(repr=False)
    names: np.ndarray = field(repr=False)
    owners: np.ndarray = field(repr=False)
    points: PointIndex = field(repr=False)


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
    cells = build_cells(lon, lat, context.account_ids, area)
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
    )


def plan_shapes(plan: Plan, data: MapData) -> gpd.GeoDataFrame:
    """Territory shapes of a plan, with names, in code order.

    Shapes are cached on the plan. A plan whose parent has shapes is drawn
    from them, redrawing only the territories its move touched.

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
    # Walk up to the nearest ancestor that has shapes, then replay downwards.
    chain = [plan]
    node = plan.parent
    base = None
    while node is not None:
        hit = node._cache.get(_SHAPES)
        if hit is not None and hit[0] is data:
            base = hit[1]
            break
        chain.append(node)
        node = node.parent
    ids = data.territories.index
    if base is None:
        root = chain.pop()
        base = _framed(territory_shapes(data.cells, root.assignment, ids), data)
        root._cache[_SHAPES] = (data, base)
    for step in reversed(chain):
        changed = step.changed_territories
        if changed:
            redrawn = update_shapes(data.cells, base, step.assignment, changed)
            base = _framed(redrawn, data)
        step._cache[_SHAPES] = (data, base)
    return base


def _framed(shapes: gpd.GeoDataFrame, data: MapData) -> gpd.GeoDataFrame:
    out = data.territories[["name"]].copy()
    return gpd.GeoDataFrame(
        out, geometry=shapes.geometry.reindex(out.index).values, crs=CRS
    ).rename_axis("territory_id")


def selected_positions(event: MapEvent, data: MapData) -> np.ndarray:
    """Positions of the accounts a map selection covers, ascending.

    The same accounts as :func:`terrmap.mapview.select_accounts`, found with
    the data set's point index and returned as positions (what
    :meth:`terrmap.plan.Plan.reassign_positions` takes).

    Parameters
    ----------
    event : MapEvent
        From :func:`terrmap.mapview.parse_map_event`.
    data : MapData
        From :func:`map_data` for the data set drawn.

    Returns
    -------
    numpy.ndarray
        Sorted positions; a click selects every account at the clicked spot.
    """
    if event.kind == "shape":
        return data.points.rows_in_polygon(event.geometry)
    picked = data.points.select_nearest(event.geometry.x, event.geometry.y, CLICK_MATCH_KM)
    return np.sort(data.account_ids.get_indexer(picked))


def account_callouts(
    plan: Plan, data: MapData, positions: Iterable[int], limit: int = 8
) -> dict[int, str]:
    """Short text per selected account, for labels next to the points.

    Parameters
    ----------
    plan : Plan
        Current plan.
    data : MapData
        From :func:`map_data` (names and owners).
    positions : iterable of int
        Point positions of the selected accounts.
    limit : int, default 8
        Label at most this many; a larger selection gets none (the table
        lists it).

    Returns
    -------
    dict of int to str
        ``name · revenue · net profit · owner``; the map escapes the text.
    """
    pos = np.asarray(list(positions), dtype=np.int64)
    if len(pos) == 0 or len(pos) > limit:
        return {}
    ctx = plan.context
    out = {}
    for p in pos.tolist():
        net = ctx.revenue[p] - ctx.cost[p]
        owner = data.owners[p] if data.owners[p] is not None else "no owner"
        out[p] = f"{data.names[p]} · revenue ${ctx.revenue[p]:,.0f} · net ${net:,.0f} · {owner}"
    return out


def selection_table(plan: Plan, data: MapData, positions: Iterable[int]) -> pd.DataFrame:
    """List the selected accounts, one row each, as the page shows them.

    Parameters
    ----------
    plan : Plan
        Current plan.
    data : MapData
        From :func:`map_data` (names and owners).
    positions : iterable of int
        Point positions of the selected accounts.

    Returns
    -------
    pandas.DataFrame
        Index ``account_id``; ``name, territory, owner, revenue, cost,
        net_profit``, by net profit, largest first.
    """
    ctx = plan.context
    pos = np.asarray(list(positions), dtype=np.int64)
    labels = np.append(np.asarray(ctx.territory_names, dtype=object), UNASSIGNED_LABEL)
    codes = plan.codes[pos]
    frame = pd.DataFrame(
        {
            "name": data.names[pos],
            "territory": labels[np.where(codes < 0, ctx.n_territories, codes)],
            "owner": data.owners[pos],
            "revenue": ctx.revenue[pos],
            "cost": ctx.cost[pos],
        },
        index=pd.Index(ctx.account_ids[pos], name="account_id"),
    )
    frame["net_profit"] = frame["revenue"] - frame["cost"]
    return frame.sort_values("net_profit", ascending=False, kind="stable")
