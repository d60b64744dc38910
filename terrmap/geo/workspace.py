"""A working data set: accounts, territories and reps with the plan they imply.

The app and the CLI both start from a :class:`Workspace`: the loaded frames,
the :class:`~terrmap.core.context.Context` built from them, the initial plan from
point-in-polygon assignment, and what the assignment found worth telling
(white space, overlapping territories). A workspace is immutable and safe to
share between users; plans derived from it are per user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd

from terrmap.core.context import Context
from terrmap.core.definition import Definition
from terrmap.core.formatting import count
from terrmap.core.plan import History, Plan
from terrmap.core.travel import TravelParams
from terrmap.geo.assign import AssignmentResult, assign_accounts, assignment_result
from terrmap.geo.units import UnitLayer, definition_from_polygons, dissolved

__all__ = [
    "Workspace",
    "build_workspace",
    "rebase_history",
    "with_added_territories",
    "with_territory_reps",
    "with_visits",
]


@dataclass(frozen=True, eq=False)
class Workspace:
    """Loaded data and the plan it starts from.

    Attributes
    ----------
    name : str
        Label shown to users (file names or "Demo data").
    accounts : pandas.DataFrame
        Canonical accounts frame.
    territories : geopandas.GeoDataFrame
        Canonical territories frame (the input polygons).
    reps : pandas.DataFrame or None
        Canonical reps frame.
    context : Context
        Arrays the plans are computed over.
    initial_plan : Plan
        The plan from point-in-polygon assignment.
    assignment : AssignmentResult
        White space, overlaps and ambiguous accounts found while assigning.
    notes : tuple of str
        Things the user should know about the load (rejected rows, ...).
    currency : str or None
        ISO 4217 code of the money figures (revenue, cost), e.g. ``"EUR"``;
        None when the data does not say. Pages show it instead of assuming
        dollars.
    units : UnitLayer or None
        The building blocks when territories are defined by units (the
        initial plan then comes from a definition); ``None`` when
        territories are lists of accounts.
    """

    name: str
    accounts: pd.DataFrame = field(repr=False)
    territories: gpd.GeoDataFrame = field(repr=False)
    reps: pd.DataFrame | None = field(repr=False)
    context: Context = field(repr=False)
    initial_plan: Plan = field(repr=False)
    assignment: AssignmentResult = field(repr=False)
    notes: tuple[str, ...] = ()
    currency: str | None = None
    units: UnitLayer | None = field(default=None, repr=False)


def build_workspace(
    accounts: pd.DataFrame,
    territories: gpd.GeoDataFrame,
    reps: pd.DataFrame | None = None,
    *,
    name: str = "Imported data",
    params: TravelParams | None = None,
    notes: tuple[str, ...] = (),
    currency: str | None = None,
    units: UnitLayer | None = None,
    definition: Definition | None = None,
    assignment: pd.Series | None = None,
) -> Workspace:
    """Assign accounts to territory polygons and build the starting plan.

    Without ``units`` a territory is the accounts inside its polygon. With
    ``units``, a territory is its units plus exceptions and rules (a
    :class:`~terrmap.core.definition.Definition`): the one given, or each
    unit in the territory polygon that holds it
    (:func:`~terrmap.geo.units.definition_from_polygons`).

    Parameters
    ----------
    accounts : pandas.DataFrame
        Canonical accounts frame (see :mod:`terrmap.core.schema`).
    territories : geopandas.GeoDataFrame
        Canonical territories frame.
    reps : pandas.DataFrame, optional
        Canonical reps frame.
    name : str
        Label of the data set.
    params : TravelParams, optional
        Travel model parameters.
    notes : tuple of str
        Load notes to carry along.
    currency : str, optional
        ISO 4217 code of the money figures; by default
        ``accounts.attrs["currency"]`` (set by
        :func:`terrmap.io.loaders.load_accounts`), else None.
    units : UnitLayer, optional
        Building blocks of the territories.
    definition : Definition, optional
        Units -> territory, exceptions, rules, regions (needs ``units``).
        Territories it names that ``territories`` lacks are added, drawn as
        their dissolved units.
    assignment : pandas.Series, optional
        Territory id per account id when the data already says it (the
        accounts' owners, with the territories drawn around them): the plan
        starts from it and the polygons are only drawn, not used to assign.
        Polygons drawn from one account set's cells cannot overlap, so no
        overlap check runs (on polygons drawn from a large account set it
        costs far more than the import itself). Accounts missing
        from it (or ``<NA>``) are white space.

    Returns
    -------
    Workspace

    Raises
    ------
    ValueError
        When a definition is given without units, or is built on another
        kind of unit layer, or ``assignment`` names an unknown territory.
    """
    if units is not None or definition is not None:
        territories, context, plan, extra = _from_units(
            accounts, territories, reps, units, definition, params
        )
        result = assignment_result(plan.assignment)
    elif assignment is not None:
        context = Context.build(accounts, territories, reps, params)
        plan = Plan.from_assignment(context, assignment)
        result = assignment_result(plan.assignment)
        extra = _white_space(result)
    else:
        result = assign_accounts(accounts, territories)
        context = Context.build(accounts, territories, reps, params)
        plan = Plan.from_assignment(context, result.assignment)
        extra = _white_space(result)
        if len(result.overlaps):
            pairs = ", ".join(
                f"{a}/{b}"
                for a, b in result.overlaps[["territory_a", "territory_b"]].itertuples(index=False)
            )
            extra.append(f"Overlapping territory polygons: {pairs}.")
    return Workspace(
        name=name,
        accounts=accounts,
        territories=territories,
        reps=reps,
        context=context,
        initial_plan=plan,
        assignment=result,
        notes=tuple(notes) + tuple(extra),
        currency=currency if currency is not None else accounts.attrs.get("currency"),
        units=units,
    )


def _white_space(result: AssignmentResult) -> list[str]:
    """Return the note on accounts in no territory (none when every account has one)."""
    unassigned = len(result.unassigned)
    return [f"{unassigned:,} accounts lie in no territory (white space)."] if unassigned else []


def _from_units(
    accounts: pd.DataFrame,
    territories: gpd.GeoDataFrame | None,
    reps: pd.DataFrame | None,
    units: UnitLayer | None,
    definition: Definition | None,
    params: TravelParams | None,
) -> tuple[gpd.GeoDataFrame, Context, Plan, list[str]]:
    """Territories, context, plan and notes of a workspace built on units."""
    if units is None:
        raise ValueError("a territory definition needs the unit layer it is built on")
    if definition is None:
        definition = definition_from_polygons(units, territories)
    elif definition.unit_kind != units.kind:
        raise ValueError(
            f"the definition is built on {definition.unit_kind!r} units, not {units.kind!r}"
        )
    territories = _defined_territories(territories, definition, units)
    account_units = units.locate(accounts["lon"], accounts["lat"])
    context = Context.build(accounts, territories, reps, params)
    plan = Plan.from_definition(
        context,
        definition,
        units.unit_ids,
        account_units,
        accounts=accounts,
        pairs=units.adjacency().pairs,
    )
    extra = [f"Unit layer: {w}" for w in units.warnings]
    outside = context.account_ids[account_units < 0]
    if len(outside):
        # Names, not ids: the note is read on the pages.
        label = accounts["name"].reindex(outside) if "name" in accounts else None
        names = [
            str(i) if label is None or pd.isna(label[i]) else f"{label[i]}" for i in outside[:8]
        ]
        more = f" and {len(outside) - 8:,} more" if len(outside) > 8 else ""
        extra.append(
            f"{count(len(outside), 'account')} {'lies' if len(outside) == 1 else 'lie'} "
            "in no unit (white space): "
            f"{', '.join(names)}{more}."
        )
    lost = definition.exceptions.index.difference(context.account_ids)
    if len(lost):
        extra.append(
            f"{count(len(lost), 'exception')} {'names an account' if len(lost) == 1 else 'name accounts'}"
            " not in the data: "
            f"{', '.join(map(str, lost[:8]))}{' ...' if len(lost) > 8 else ''}."
        )
    return territories, context, plan, extra


def _defined_territories(
    territories: gpd.GeoDataFrame | None, definition: Definition, units: UnitLayer
) -> gpd.GeoDataFrame:
    """Complete the territories frame with the territories only the definition names."""
    ids = definition.territory_ids
    if territories is None:
        territories = gpd.GeoDataFrame(
            {"name": pd.Series(dtype=object)}, geometry=[], crs=units.units.crs
        )
    known = pd.Index(territories.index.astype(str))
    missing = ids.difference(known, sort=False)
    if not len(missing):
        return territories
    listed = definition.territories
    extra = gpd.GeoDataFrame(
        {
            column: (
                listed[column].reindex(missing).to_numpy(dtype=object)
                if listed is not None and column in listed.columns
                else np.full(len(missing), None, dtype=object)
            )
            for column in ("name", "rep_id")
        },
        geometry=dissolved(units, definition.unit_territory, missing).to_numpy(),
        index=pd.Index(missing, name="territory_id"),
        crs=units.units.crs,
    )
    frame = pd.concat([territories.set_axis(known), extra])
    frame.index.name = "territory_id"
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=units.units.crs)


def _rebuilt(workspace: Workspace, accounts: pd.DataFrame, territories) -> Workspace:
    # Same accounts in the same territories: the point-in-polygon result is
    # reused, only the context (and the initial plan over it) is rebuilt.
    context = Context.build(accounts, territories, workspace.reps, workspace.context.params)
    old = workspace.initial_plan
    if old.layout is not None:
        initial = Plan.from_definition(
            context,
            old.definition(),
            old.layout.unit_ids,
            old.layout.account_units,
            accounts=accounts,
            pairs=old.layout.pairs,
        )
    else:
        initial = Plan.from_assignment(context, old.assignment)
    return replace(
        workspace,
        accounts=accounts,
        territories=territories,
        context=context,
        initial_plan=initial,
    )


def with_visits(workspace: Workspace, visits_per_year: pd.Series) -> Workspace:
    """Return the workspace with new planned visits a year for some accounts.

    Visits drive visit hours, travel and workload, so the context is rebuilt;
    the initial assignment is kept as it is.

    Parameters
    ----------
    workspace : Workspace
        The data set; not modified.
    visits_per_year : pandas.Series
        Visits a year per account id; accounts not listed keep theirs.

    Returns
    -------
    Workspace
        A new workspace whose accounts frame has the new ``visits_per_year``.

    Raises
    ------
    ValueError
        If an id is not an account of the workspace, or a value is negative
        or missing.
    """
    visits = visits_per_year.astype(float)
    visits.index = visits.index.astype(str)
    accounts_index = workspace.accounts.index.astype(str)
    unknown = visits.index.difference(accounts_index)
    if len(unknown):
        raise ValueError(f"visits for unknown account id(s) {list(unknown[:5])}")
    bad = visits[~np.isfinite(visits.to_numpy()) | (visits.to_numpy() < 0)]
    if len(bad):
        raise ValueError(f"visits a year must be >= 0, got {bad.head().to_dict()}")
    accounts = workspace.accounts.copy()
    current = pd.Series(
        accounts["visits_per_year"].to_numpy(dtype=float, na_value=np.nan)
        if "visits_per_year" in accounts.columns
        else np.full(len(accounts), np.nan),
        index=accounts_index,
    )
    current.loc[visits.index] = visits.to_numpy()
    accounts["visits_per_year"] = current.to_numpy()
    return _rebuilt(workspace, accounts, workspace.territories)


def with_territory_reps(
    workspace: Workspace, territory_reps: Mapping[str, str | None]
) -> Workspace:
    """Return the workspace with other reps on some territories.

    The rep of a territory sets its home base (travel) and its capacity.

    Parameters
    ----------
    workspace : Workspace
        The data set; not modified.
    territory_reps : mapping
        Rep id per territory id; territories not listed keep their rep.

    Returns
    -------
    Workspace
        A new workspace whose territories frame has the new ``rep_id``.

    Raises
    ------
    ValueError
        If a territory id or a rep id is unknown.
    """
    territories = workspace.territories.copy()
    index = territories.index.astype(str)
    unknown = sorted(set(map(str, territory_reps)) - set(index))
    if unknown:
        raise ValueError(f"unknown territory id(s) {unknown[:5]}")
    known_reps = set() if workspace.reps is None else set(workspace.reps.index.astype(str))
    bad = sorted({str(r) for r in territory_reps.values() if r is not None} - known_reps)
    if bad:
        raise ValueError(f"unknown rep id(s) {bad[:5]}")
    reps = (
        territories["rep_id"].astype(object)
        if "rep_id" in territories.columns
        else pd.Series(None, index=territories.index, dtype=object)
    )
    reps = pd.Series(reps.to_numpy(dtype=object), index=index, dtype=object)
    for territory, rep in territory_reps.items():
        reps.loc[str(territory)] = rep
    territories["rep_id"] = reps.to_numpy(dtype=object)
    return _rebuilt(workspace, workspace.accounts, territories)


def with_added_territories(workspace: Workspace, added: pd.DataFrame) -> Workspace:
    """Return the workspace with new, empty territories, each with an open seat at a home base.

    A split or a greenfield with more territories needs territories that do
    not exist yet: each gets a rep row (an open seat, named after the
    territory) whose home base is given, and no polygon; accounts join it
    only through a plan. The existing territories keep their ids and order,
    so plans over the old context rebase onto the new one
    (:func:`rebase_history`).

    Parameters
    ----------
    workspace : Workspace
        The data set; not modified.
    added : pandas.DataFrame
        Indexed by new territory id, with ``name``, ``home_lon``, ``home_lat``.

    Returns
    -------
    Workspace

    Raises
    ------
    ValueError
        If an id is already a territory (or a rep), or a home base is missing.
    """
    for column in ("name", "home_lon", "home_lat"):
        if column not in added.columns:
            raise ValueError(f"new territories need a {column!r} column")
    ids = added.index.astype(str)
    taken = sorted(set(ids) & set(workspace.territories.index.astype(str)))
    if taken or ids.has_duplicates:
        raise ValueError(f"territory id(s) already in use: {taken or list(ids[ids.duplicated()])}")
    homes = added[["home_lon", "home_lat"]].to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(homes).all():
        bad = list(ids[~np.isfinite(homes).all(axis=1)][:5])
        raise ValueError(f"new territories without a home base: {bad}")
    reps = workspace.reps
    known_reps = set() if reps is None else set(reps.index.astype(str))
    rep_ids = [f"open-{t}" for t in ids]
    clash = sorted(set(rep_ids) & known_reps)
    if clash:
        raise ValueError(f"rep id(s) already in use: {clash}")
    capacity = np.nan
    if reps is not None and "capacity_hours" in reps.columns and len(reps):
        capacity = float(
            np.nanmedian(reps["capacity_hours"].to_numpy(dtype=float, na_value=np.nan))
        )
    seats = pd.DataFrame(
        {
            "name": [f"Open seat ({name})" for name in added["name"].astype(str)],
            "home_lon": homes[:, 0],
            "home_lat": homes[:, 1],
            "capacity_hours": capacity,
        },
        index=pd.Index(rep_ids, name=reps.index.name if reps is not None else "rep_id"),
    )
    new_reps = seats if reps is None else pd.concat([reps, seats])
    rows = pd.DataFrame(
        {"name": added["name"].astype(str).to_numpy(), "rep_id": rep_ids},
        index=pd.Index(ids, name=workspace.territories.index.name),
    )
    territories = workspace.territories
    frame = pd.concat([territories, rows])
    territories = gpd.GeoDataFrame(frame, geometry=territories.geometry.name, crs=territories.crs)
    return _rebuilt(replace(workspace, reps=new_reps), workspace.accounts, territories)


def rebase_history(history: History, context: Context) -> History:
    """Replay a history's plans over another context with the same accounts.

    Every plan is rebuilt move by move (same accounts, targets, authors,
    notes and times), so undo, redo and the change log survive a change of
    visits or reps; the figures are those of the new context.

    Parameters
    ----------
    history : History
        Plans over the old context.
    context : Context
        The new context; must hold the same account ids and the same territory
        ids, in the same order, possibly followed by new ones.

    Returns
    -------
    History
        The same positions, plans over ``context``.

    Raises
    ------
    ValueError
        If the account or territory ids differ.
    """
    old = history.current.context
    if not old.account_ids.equals(context.account_ids):
        raise ValueError("the new context holds other accounts than the history's plans")
    # Territories added after the old ones (a split) keep every code valid.
    if not old.territory_ids.equals(context.territory_ids[: len(old.territory_ids)]):
        raise ValueError("the new context holds other territories than the history's plans")
    rebuilt: dict[int, Plan] = {}

    def rebase(plan: Plan) -> Plan:
        chain = []
        node: Plan | None = plan
        while node is not None and id(node) not in rebuilt:
            chain.append(node)
            node = node.parent
        for step in reversed(chain):
            if step.parent is None or step.move is None:
                new = _rebased_root(step, context)
            elif step.merged is not None:
                # Folded undo steps: the same net step, its figures recomputed.
                new = step.hung_under(rebuilt[id(step.parent)], keep_figures=False)
            elif step.move.unit_ids:
                move = step.move
                new = rebuilt[id(step.parent)].reassign_units(
                    move.unit_ids, move.target, author=move.author, note=move.note, at=move.at
                )
            else:
                new = rebuilt[id(step.parent)].replay(step.move)
            rebuilt[id(step)] = new
        return rebuilt[id(plan)]

    return History(
        plans=tuple(rebase(p) for p in history.plans),
        position=history.position,
        limit=history.limit,
    )


def _rebased_root(plan: Plan, context: Context) -> Plan:
    if plan.layout is None:
        return Plan.from_assignment(context, plan.assignment)
    # Rules were evaluated when the layout was built; keep their codes.
    return Plan(
        context=context,
        codes=plan.codes,
        layout=plan.layout,
        unit_codes=plan.unit_codes,
        exception_codes=plan.exception_codes,
    )
