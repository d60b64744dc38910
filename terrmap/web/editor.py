"""What the map-editor page says about a selection made on the web map.

:func:`selected_positions` turns a map event into account positions;
:func:`account_callouts` and :func:`selection_table` phrase what the page shows
about them. The drawing itself (positions, colours, shapes) is
:mod:`terrmap.geo.drawing`.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

from terrmap.core.formatting import MISSING, money
from terrmap.core.plan import Plan
from terrmap.core.schema import UNASSIGNED_LABEL
from terrmap.geo.drawing import MapData
from terrmap.geo.unitmap import unit_at, units_in_shape
from terrmap.geo.units import UnitLayer
from terrmap.web.mapview import CLICK_MATCH_KM, MapEvent

__all__ = [
    "FILTER_COLUMNS",
    "account_callouts",
    "filter_mask",
    "filter_options",
    "find_accounts",
    "hover_texts",
    "selected_positions",
    "selected_units",
    "selection_table",
    "size_classes",
    "units_table",
]

#: Account columns the map can be filtered on, with their labels.
FILTER_COLUMNS: dict[str, str] = {
    "industry": "Industry",
    "owner": "Owner",
    "stage": "Stage",
    "tier": "Tier",
    "segment": "Segment",
}

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


def selected_units(event: MapEvent, units: UnitLayer) -> np.ndarray:
    """Codes of the units (places) a map selection picks, ascending.

    A drawn shape picks the units whose representative point lies inside it
    (:func:`terrmap.geo.unitmap.units_in_shape`); a click picks the unit
    under it, or none in white space beyond every unit.

    Parameters
    ----------
    event : MapEvent
        From :func:`terrmap.web.mapview.parse_map_event`.
    units : UnitLayer
        The working data set's building blocks.

    Returns
    -------
    numpy.ndarray of int64
        Unit codes (positions in ``units.unit_ids``).
    """
    if event.kind == "shape":
        return units_in_shape(units, event.geometry)
    code = unit_at(units, event.geometry.x, event.geometry.y)
    return np.array([code] if code >= 0 else [], dtype=np.int64)


def units_table(plan: Plan, units: UnitLayer, unit_codes: Iterable[int]) -> pd.DataFrame:
    """List selected units, one row each, as the page shows them.

    Parameters
    ----------
    plan : Plan
        Current plan, built on ``units``.
    units : UnitLayer
        The building blocks.
    unit_codes : iterable of int
        The selected units.

    Returns
    -------
    pandas.DataFrame
        Index ``Place`` (the unit's name, with its id when they differ);
        ``Territory`` (its territory's name or the white-space label) and
        ``Accounts`` (every account located in it, exceptions included), by
        territory then name.
    """
    codes = np.asarray(list(unit_codes), dtype=np.int64)
    ctx = plan.context
    labels = np.append(np.asarray(ctx.territory_names, dtype=object), UNASSIGNED_LABEL)
    owner = plan.unit_codes[codes]
    located = plan.layout.account_units
    per_unit = np.bincount(located[located >= 0], minlength=units.n_units)
    ids = units.unit_ids.to_numpy(dtype=object)[codes]
    names = units.units["name"].to_numpy(dtype=object)[codes]
    place = [str(n) if str(n) == str(i) else f"{n} ({i})" for n, i in zip(names, ids, strict=True)]
    frame = pd.DataFrame(
        {
            "Territory": labels[np.where(owner < 0, ctx.n_territories, owner)],
            "Accounts": per_unit[codes],
        },
        index=pd.Index(place, name="Place"),
    )
    return frame.sort_values(["Territory", "Place"], kind="stable")


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


def hover_texts(plan: Plan, data: MapData, currency: str | None = None) -> list[str]:
    """One hover text per account, HTML-escaped: name, revenue and net profit.

    The map adds the owner (the territory's rep) itself, since that follows
    the plan while these facts do not.

    Parameters
    ----------
    plan : Plan
        Any plan of the data set (its context gives revenue and cost).
    data : MapData
        From :func:`map_data` (names).
    currency : str, optional
        ISO code of the money figures (USD when not given).

    Returns
    -------
    list of str
        In point order, e.g. ``"<b>Acme &amp; Co</b><br>Revenue $1,200 · net profit $300"``.
    """
    ctx = plan.context
    net = np.asarray(ctx.revenue, dtype=float) - np.asarray(ctx.cost, dtype=float)
    return [
        f"<b>{html.escape(str(name))}</b><br>Revenue {money(revenue, currency)}"
        f" · net profit {money(profit, currency)}"
        for name, revenue, profit in zip(data.names, ctx.revenue, net, strict=True)
    ]


def size_classes(values) -> np.ndarray:
    """Size class (0 smallest to 3 largest) per account by the quartile of a measure.

    Quartiles of the accounts' own values, so a few giant accounts do not
    shrink everyone else to a dot; missing values get the smallest class.

    Parameters
    ----------
    values : array-like of float
        The measure per account (revenue, net profit...).

    Returns
    -------
    numpy.ndarray of uint8
        0, 1, 2 or 3 per account.

    Examples
    --------
    >>> size_classes([1.0, 2.0, 3.0, 4.0, float("nan")]).tolist()
    [0, 1, 2, 3, 0]
    """
    a = np.asarray(values, dtype=float)
    out = np.zeros(a.shape, dtype=np.uint8)
    known = np.isfinite(a)
    if known.sum() < 2:
        return out
    ranks = pd.Series(a[known]).rank(method="average", pct=True).to_numpy()
    out[known] = np.clip(np.ceil(ranks * 4) - 1, 0, 3).astype(np.uint8)
    return out


def _filter_values(accounts: pd.DataFrame, column: str, owner_names: pd.Series | None) -> pd.Series:
    values = accounts[column].astype(object)
    if column == "owner" and owner_names is not None:
        named = values.map(owner_names)
        values = named.where(named.notna(), values)
    return values.where(values.notna(), MISSING).astype(str)


def filter_options(
    accounts: pd.DataFrame, owner_names: pd.Series | None = None
) -> dict[str, list[str]]:
    """List the values each filter column offers, sorted, for the data set's accounts.

    Parameters
    ----------
    accounts : pandas.DataFrame
        The workspace's accounts.
    owner_names : pandas.Series, optional
        Rep id -> name, so the owner filter lists names.

    Returns
    -------
    dict of str to list of str
        Column -> values, for the columns of :data:`FILTER_COLUMNS` present
        with at least two values; missing values read ``—``.
    """
    out = {}
    for column in FILTER_COLUMNS:
        if column in accounts.columns:
            values = sorted(set(_filter_values(accounts, column, owner_names)))
            if len(values) > 1:
                out[column] = values
    return out


def filter_mask(
    accounts: pd.DataFrame,
    chosen: dict[str, list[str]],
    owner_names: pd.Series | None = None,
) -> np.ndarray:
    """Which accounts pass the filters (every chosen column must match).

    Parameters
    ----------
    accounts : pandas.DataFrame
        The workspace's accounts, in point order.
    chosen : dict of str to list of str
        Column -> values kept; an empty list or a missing column keeps all.
    owner_names : pandas.Series, optional
        As for :func:`filter_options`.

    Returns
    -------
    numpy.ndarray of bool
        True for the accounts that pass.

    Raises
    ------
    ValueError
        For a column that is not a filter column or not in the accounts.
    """
    keep = np.ones(len(accounts), dtype=bool)
    for column, values in chosen.items():
        if column not in FILTER_COLUMNS or column not in accounts.columns:
            raise ValueError(f"cannot filter on {column!r}; filters are {list(FILTER_COLUMNS)}")
        if values:
            keep &= _filter_values(accounts, column, owner_names).isin(values).to_numpy()
    return keep


def find_accounts(names, query: str, limit: int = 20) -> np.ndarray:
    """Positions of the accounts whose name matches a search, best first.

    Exact matches (ignoring case) come first, then names starting with the
    query, then names containing it; within each, the data's order.

    Parameters
    ----------
    names : array-like of str
        Account names in point order (``MapData.names``).
    query : str
        What was typed; surrounding spaces are ignored.
    limit : int, default 20
        At most this many positions.

    Returns
    -------
    numpy.ndarray of int64
        Positions; empty for an empty query or no match.
    """
    text = str(query or "").strip().casefold()
    if not text:
        return np.empty(0, dtype=np.int64)
    folded = pd.Series(np.asarray(names, dtype=object)).astype(str).str.casefold()
    contains = folded.str.contains(text, regex=False).to_numpy()
    starts = folded.str.startswith(text).to_numpy()
    exact = (folded == text).to_numpy()
    order = np.concatenate(
        [np.flatnonzero(exact), np.flatnonzero(starts & ~exact), np.flatnonzero(contains & ~starts)]
    )
    return order[:limit].astype(np.int64)
