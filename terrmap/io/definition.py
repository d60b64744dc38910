"""Territory definition files: save a plan's geography, apply it to next month's accounts.

A definition file (JSON, see :class:`terrmap.core.definition.Definition`)
says which units make each territory, which named accounts are exceptions,
which attribute rules claim accounts first, and which region each territory
is in. It carries no account figures, so it applies to any accounts file:

* :func:`definition_json` / :func:`read_definition` write and read it;
* :func:`unit_layer_for` builds the unit layer a definition is made of again
  (H3 cells from the accounts, approximate ZIP areas from the stored area,
  uploaded polygons from the file given);
* :func:`reimport` applies a plan's definition to a new accounts file: new
  accounts are placed by geography, removed ones dropped, changed figures
  taken, exceptions kept, and a report says what changed per territory.

Examples
--------
>>> from terrmap.demo import generate
>>> from terrmap.geo.units import territory_units
>>> from terrmap.geo.workspace import build_workspace
>>> data = generate(300, 3, seed=2)
>>> ws = build_workspace(data.accounts, data.territories, units=territory_units(data.territories))
>>> text = definition_json(ws.initial_plan)
>>> read_definition(text).unit_territory.to_dict()
{'T01': 'T01', 'T02': 'T02', 'T03': 'T03'}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from terrmap.core.definition import Definition, reimport_report
from terrmap.core.plan import Plan
from terrmap.geo.units import (
    UnitLayer,
    approximate_zip_units,
    boundary_units,
    h3_units,
    read_units,
    territory_units,
)
from terrmap.geo.workspace import Workspace, build_workspace

__all__ = [
    "Reimport",
    "apply_assignment",
    "definition_json",
    "read_definition",
    "reimport",
    "unit_layer_for",
]


@dataclass(frozen=True, eq=False)
class Reimport:
    """A new accounts file applied to a saved plan.

    Attributes
    ----------
    workspace : Workspace
        The new data with the plan's definition applied (its
        ``initial_plan``).
    report : pandas.DataFrame
        Per territory: ``added``, ``removed``, ``changed``, ``moved_in``,
        ``moved_out`` (see :func:`terrmap.core.definition.reimport_report`).
    lost_exceptions : pandas.Index
        Exception accounts that are no longer in the accounts file.
    outside : pandas.Index
        New accounts in no unit (white space by geography).
    """

    workspace: Workspace
    report: pd.DataFrame
    lost_exceptions: pd.Index
    outside: pd.Index


def definition_json(plan: Plan) -> bytes:
    """Write a plan's territory definition as UTF-8 JSON.

    Raises
    ------
    ValueError
        If the plan is not built on units.
    """
    return (json.dumps(plan.definition().to_dict(), indent=1, ensure_ascii=False) + "\n").encode()


def read_definition(source: str | bytes | os.PathLike[str]) -> Definition:
    """Read a definition file (a path, or the JSON text/bytes itself).

    Raises
    ------
    ValueError
        When the file is not JSON (naming line and column) or not a terrmap
        definition (naming the part that is wrong).
    """
    if isinstance(source, bytes):
        text, name = source.decode("utf-8-sig"), "definition"
    elif isinstance(source, str) and source.lstrip().startswith("{"):
        text, name = source, "definition"
    else:
        path = Path(source)
        if not path.exists():
            raise ValueError(f"{path}: no such file")
        text, name = path.read_text(encoding="utf-8-sig"), str(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{name}: not JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    try:
        return Definition.from_dict(data)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


def unit_layer_for(
    definition: Definition,
    accounts: pd.DataFrame,
    *,
    territories: gpd.GeoDataFrame | None = None,
    units_file: str | os.PathLike[str] | None = None,
) -> UnitLayer:
    """Build the unit layer a definition is made of, for some accounts.

    Parameters
    ----------
    definition : Definition
        Its ``unit_kind`` and ``unit_params`` say how.
    accounts : pandas.DataFrame
        With ``lon``/``lat`` (H3 cells cover them).
    territories : geopandas.GeoDataFrame, optional
        The territory polygons, for a definition built on them.
    units_file : path, optional
        The polygon file of an uploaded unit layer (its id field is in the
        definition).

    Returns
    -------
    UnitLayer
        Holding every unit the definition names.

    Raises
    ------
    ValueError
        When the layer cannot be built from what is given (naming what is
        missing).
    """
    kind, params = definition.unit_kind, definition.unit_params
    named = list(definition.unit_territory.dropna().index)
    if kind == "h3":
        return h3_units(
            accounts["lon"], accounts["lat"], int(params.get("resolution", 7)), include=named
        )
    if kind == "zip-approximate":
        if "area_wkt" not in params:
            raise ValueError("the definition's approximate ZIP areas lack their area ('area_wkt')")
        area = shapely.from_wkt(params["area_wkt"])
        counties = None
        if params.get("clipped_to") == "counties":
            counties = boundary_units("county", within=area).units
        return approximate_zip_units(area, counties=counties)
    if kind in ("county", "state"):
        return boundary_units(kind)
    if params.get("source") == "territories":
        if territories is None:
            raise ValueError("the definition is built on territory polygons; give the territories")
        return territory_units(territories)
    if units_file is None:
        raise ValueError(
            f"the definition is built on an uploaded unit layer (id field "
            f"{params.get('id_field')!r}); give the unit file"
        )
    return read_units(units_file, params.get("id_field"), kind=kind)


def apply_assignment(plan: Plan, assignment: pd.Series) -> Plan:
    """Make a plan hold an assignment by account moves (exceptions where it departs from units).

    Parameters
    ----------
    plan : Plan
        A plan built on units.
    assignment : pandas.Series
        Territory per account id (``<NA>``: white space), e.g. from
        :func:`terrmap.io.exports.read_assignment`.

    Returns
    -------
    Plan
        Accounts whose territory differs are moved; in a plan built on
        units each becomes a named-account exception.
    """
    wanted = assignment.astype(object).reindex(plan.context.account_ids)
    current = plan.assignment.astype(object)
    differs = ~((wanted == current) | (wanted.isna() & current.isna()))
    for target, ids in wanted[differs].groupby(wanted[differs].fillna("\0")).groups.items():
        plan = plan.reassign(list(ids), None if target == "\0" else target)
    return plan


def reimport(plan: Plan, workspace: Workspace, accounts: pd.DataFrame) -> Reimport:
    """Apply a plan's definition to a new accounts file.

    Parameters
    ----------
    plan : Plan
        The plan in force (built on the workspace's units).
    workspace : Workspace
        The data the plan was made from.
    accounts : pandas.DataFrame
        Next month's accounts (canonical frame).

    Returns
    -------
    Reimport
        The new workspace and what changed per territory.

    Raises
    ------
    ValueError
        When the workspace has no units.
    """
    if workspace.units is None or plan.layout is None:
        raise ValueError("re-import needs a plan built on units (a territory definition)")
    definition = plan.definition()
    units = workspace.units
    if units.kind == "h3":
        units = unit_layer_for(definition, accounts)
    new = build_workspace(
        accounts,
        workspace.territories,
        workspace.reps,
        name=workspace.name,
        params=workspace.context.params,
        units=units,
        definition=definition,
    )
    report, lost = reimport_report(
        plan.assignment, workspace.accounts, new.initial_plan.assignment, accounts, definition
    )
    new_plan = new.initial_plan
    outside = new_plan.context.account_ids[new_plan.layout.account_units < 0]
    return Reimport(workspace=new, report=report, lost_exceptions=lost, outside=outside)
