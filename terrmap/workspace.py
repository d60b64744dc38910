"""A working data set: accounts, territories and reps with the plan they imply.

The app and the CLI both start from a :class:`Workspace`: the loaded frames,
the :class:`~terrmap.context.Context` built from them, the initial plan from
point-in-polygon assignment, and what the assignment found worth telling
(white space, overlapping territories). A workspace is immutable and safe to
share between users; plans derived from it are per user.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from terrmap.assign import AssignmentResult, assign_accounts
from terrmap.context import Context
from terrmap.plan import Plan
from terrmap.travel import TravelParams

__all__ = ["Workspace", "build_workspace", "demo_workspace"]


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
    """

    name: str
    accounts: pd.DataFrame = field(repr=False)
    territories: gpd.GeoDataFrame = field(repr=False)
    reps: pd.DataFrame | None = field(repr=False)
    context: Context = field(repr=False)
    initial_plan: Plan = field(repr=False)
    assignment: AssignmentResult = field(repr=False)
    notes: tuple[str, ...] = ()


def build_workspace(
    accounts: pd.DataFrame,
    territories: gpd.GeoDataFrame,
    reps: pd.DataFrame | None = None,
    *,
    name: str = "Imported data",
    params: TravelParams | None = None,
    notes: tuple[str, ...] = (),
) -> Workspace:
    """Assign accounts to territory polygons and build the starting plan.

    Parameters
    ----------
    accounts : pandas.DataFrame
        Canonical accounts frame (see :mod:`terrmap.schema`).
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

    Returns
    -------
    Workspace
    """
    result = assign_accounts(accounts, territories)
    context = Context.build(accounts, territories, reps, params)
    plan = Plan.from_assignment(context, result.assignment)
    extra = []
    if len(result.unassigned):
        extra.append(f"{len(result.unassigned):,} accounts lie in no territory (white space).")
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
    )


def demo_workspace() -> Workspace:
    """Build the workspace of the embedded demo data set in ``data/``."""
    from terrmap.demo import load_embedded

    data = load_embedded()
    return build_workspace(
        data.accounts, data.territories, data.reps, name="Demo data (New England & New York)"
    )
