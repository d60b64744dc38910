"""What the map-editor page says about a selection made on the web map.

:func:`selected_positions` turns a map event into account positions;
:func:`account_callouts` and :func:`selection_table` phrase what the page shows
about them. The drawing itself (positions, colours, shapes) is
:mod:`terrmap.geo.drawing`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

from terrmap.core.formatting import money
from terrmap.core.plan import Plan
from terrmap.core.schema import UNASSIGNED_LABEL
from terrmap.geo.drawing import MapData
from terrmap.web.mapview import CLICK_MATCH_KM, MapEvent

__all__ = ["account_callouts", "selected_positions", "selection_table"]

logger = logging.getLogger(__name__)


def selected_positions(event: MapEvent, data: MapData) -> np.ndarray:
    """Positions of the accounts a map selection covers, ascending.

    The same accounts as :func:`terrmap.web.mapview.select_accounts`, found with
    the data set's point index and returned as positions (what
    :meth:`terrmap.core.plan.Plan.reassign_positions` takes).

    Parameters
    ----------
    event : MapEvent
        From :func:`terrmap.web.mapview.parse_map_event`.
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
    plan: Plan,
    data: MapData,
    positions: Iterable[int],
    limit: int = 8,
    currency: str | None = None,
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
    currency : str, optional
        ISO code of the data set's money (USD when not given).

    Returns
    -------
    dict of int to str
        ``name · revenue · cost · net profit · owner``; the map escapes the text.
    """
    pos = np.asarray(list(positions), dtype=np.int64)
    if len(pos) == 0 or len(pos) > limit:
        return {}
    ctx = plan.context
    out = {}
    for p in pos.tolist():
        net = ctx.revenue[p] - ctx.cost[p]
        owner = data.owners[p] if data.owners[p] is not None else "no owner"
        out[p] = (
            f"{data.names[p]} · revenue {money(ctx.revenue[p], currency)}"
            f" · cost {money(ctx.cost[p], currency)}"
            f" · net profit {money(net, currency)} · {owner}"
        )
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
