"""Compare two plans of the same data set: figures, moved accounts, disruption.

:func:`compare_plans` answers what leadership asks when choosing between two
scenarios (or a scenario and the baseline): how every territory's figures
change, which accounts change hands, and how disruptive the change is.

Definitions (``before`` is the first plan, ``after`` the second):

* An account **moved** when its territory differs between the two plans
  (white space counts as a territory of its own: releasing an account to
  white space, or taking it from there, is a move).
* An account's **rep under a plan** is the ``rep_id`` of the territory that
  holds it in that plan; ``None`` when it is in white space or its territory
  has no rep.
* A **customer relationship is broken** when an account had a rep before
  (not ``None``) and has a different rep after (another rep, or none). A
  move between two territories of the same rep breaks nothing, so
  ``relationships_broken <= accounts_moved``. The account's CRM owner (the
  ``owner`` column) is reported next to both reps in the moved-accounts
  table, for the cases where the plans and the CRM disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from terrmap.core.plan import Plan

__all__ = ["Comparison", "Disruption", "compare_plans"]

_LABEL_COLUMNS = ("name", "rep_id")


@dataclass(frozen=True)
class Disruption:
    """Headline figures of how much a change of plan disturbs customers.

    Attributes
    ----------
    accounts_moved : int
        Accounts whose territory differs.
    revenue_moved : float
        Their revenue.
    net_profit_moved : float
        Their net profit (revenue - cost to serve).
    relationships_broken : int
        Accounts whose rep changes (see the module docstring).
    revenue_relationships_broken : float
        Revenue of those accounts.
    territories_changed : int
        Territories that gain or lose at least one account.
    share_of_revenue_moved : float
        ``revenue_moved`` over the total revenue of all accounts (NaN when
        the total is 0).
    """

    accounts_moved: int
    revenue_moved: float
    net_profit_moved: float
    relationships_broken: int
    revenue_relationships_broken: float
    territories_changed: int
    share_of_revenue_moved: float


@dataclass(frozen=True)
class Comparison:
    """Result of :func:`compare_plans`.

    Attributes
    ----------
    before, after : pandas.DataFrame
        ``Plan.metrics()`` of each plan.
    deltas : pandas.DataFrame
        ``after - before`` for every numeric column of ``Plan.metrics()``,
        indexed by territory id, with the ``name`` and ``rep_id`` columns
        first; the white-space row is in ``deltas.attrs["unassigned"]``.
    moved : pandas.DataFrame
        One row per moved account, index ``account_id``, sorted by net profit
        (largest first): ``name, from_territory, to_territory, from_name,
        to_name, revenue, net_profit, rep_before, rep_after, crm_owner,
        relationship_broken``.
    disruption : Disruption
        Headline figures.
    """

    before: pd.DataFrame
    after: pd.DataFrame
    deltas: pd.DataFrame
    moved: pd.DataFrame
    disruption: Disruption


def compare_plans(
    before: Plan, after: Plan, *, account_names: pd.Series | None = None
) -> Comparison:
    """Compare two plans over the same accounts and territories.

    Parameters
    ----------
    before : Plan
        The reference (e.g. the baseline or the scenario in force).
    after : Plan
        The plan compared with it.
    account_names : pandas.Series, optional
        Account name per account id (e.g. ``workspace.accounts["name"]``);
        the moved-accounts table shows ids where a name is missing.

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError
        When the plans are over different accounts or territories.

    Examples
    --------
    >>> from terrmap.demo import demo_workspace  # doctest: +SKIP
    >>> ws = demo_workspace()  # doctest: +SKIP
    >>> moved = ws.initial_plan.reassign(ws.context.account_ids[:5], None)  # doctest: +SKIP
    >>> compare_plans(ws.initial_plan, moved).disruption.accounts_moved  # doctest: +SKIP
    5
    """
    _check_same_data(before, after)
    metrics_before, metrics_after = before.metrics(), after.metrics()
    deltas = _deltas(metrics_before, metrics_after)
    moved = _moved_accounts(before, after, account_names)
    disruption = _disruption(before, moved)
    return Comparison(metrics_before, metrics_after, deltas, moved, disruption)


def _check_same_data(before: Plan, after: Plan) -> None:
    a, b = before.context, after.context
    if a is b:
        return
    if not a.account_ids.equals(b.account_ids):
        raise ValueError(
            f"the plans are over different accounts ({a.n_accounts} and {b.n_accounts}): "
            "compare plans of the same data set"
        )
    if not a.territory_ids.equals(b.territory_ids):
        raise ValueError(
            f"the plans have different territories ({list(a.territory_ids[:5])} ... and "
            f"{list(b.territory_ids[:5])} ...): compare plans of the same data set"
        )


def _deltas(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    numeric = [
        column
        for column in after.columns
        if column not in _LABEL_COLUMNS and pd.api.types.is_numeric_dtype(after[column])
    ]
    # The white-space row rides in attrs, and pandas compares attrs when it
    # combines frames: drop it from the operands first.
    plain_before, plain_after = before.copy(), after.copy()
    plain_before.attrs, plain_after.attrs = {}, {}
    deltas = plain_after[numeric].astype(float) - plain_before[numeric].astype(float)
    frame = pd.concat([plain_after[list(_LABEL_COLUMNS)], deltas], axis=1)
    unassigned_after = after.attrs["unassigned"][numeric].astype(float)
    unassigned_before = before.attrs["unassigned"][numeric].astype(float)
    frame.attrs["unassigned"] = unassigned_after - unassigned_before
    return frame


def _reps_of(plan: Plan) -> np.ndarray:
    reps = np.append(plan.context.territory_reps.astype(object), None)
    reps = np.where(pd.isna(reps), None, reps)
    return reps[np.where(plan.codes < 0, plan.context.n_territories, plan.codes)]


def _moved_accounts(before: Plan, after: Plan, account_names: pd.Series | None) -> pd.DataFrame:
    context = before.context
    positions = np.flatnonzero(before.codes != after.codes)
    ids = context.account_ids[positions]
    k = context.n_territories
    territory_ids = np.append(context.territory_ids.to_numpy(dtype=object), None)
    territory_names = np.append(context.territory_names.astype(object), None)
    code_before = np.where(before.codes[positions] < 0, k, before.codes[positions])
    code_after = np.where(after.codes[positions] < 0, k, after.codes[positions])
    rep_before = _reps_of(before)[positions]
    rep_after = _reps_of(after)[positions]
    if account_names is not None:
        names = account_names.copy()
        names.index = names.index.astype(str)
        names = names.reindex(ids).astype(object).to_numpy()
        names = np.where(pd.isna(names), ids.to_numpy(dtype=object), names)
    else:
        names = ids.to_numpy(dtype=object)
    crm_owner = context.owner[positions].astype(object)
    frame = pd.DataFrame(
        {
            "name": pd.array(names, dtype="string"),
            "from_territory": pd.array(territory_ids[code_before], dtype="string"),
            "to_territory": pd.array(territory_ids[code_after], dtype="string"),
            "from_name": pd.array(territory_names[code_before], dtype="string"),
            "to_name": pd.array(territory_names[code_after], dtype="string"),
            "revenue": context.revenue[positions],
            "net_profit": context.revenue[positions] - context.cost[positions],
            "rep_before": pd.array(rep_before, dtype="string"),
            "rep_after": pd.array(rep_after, dtype="string"),
            "crm_owner": pd.array(np.where(pd.isna(crm_owner), None, crm_owner), dtype="string"),
            "relationship_broken": _broken(rep_before, rep_after),
        },
        index=pd.Index(ids, name="account_id"),
    )
    return frame.sort_values("net_profit", ascending=False, kind="stable")


def _broken(rep_before: np.ndarray, rep_after: np.ndarray) -> np.ndarray:
    before = pd.Series(pd.array(rep_before, dtype="string"))
    after = pd.Series(pd.array(rep_after, dtype="string"))
    # A comparison with a missing rep is <NA>: a rep before and none after is broken.
    differs = (before != after).fillna(True)
    return (before.notna() & differs).to_numpy(dtype=bool)


def _disruption(before: Plan, moved: pd.DataFrame) -> Disruption:
    total_revenue = float(before.context.revenue.sum())
    revenue_moved = float(moved["revenue"].sum())
    broken = moved["relationship_broken"].to_numpy(dtype=bool)
    touched = set(moved["from_territory"].dropna()) | set(moved["to_territory"].dropna())
    return Disruption(
        accounts_moved=len(moved),
        revenue_moved=revenue_moved,
        net_profit_moved=float(moved["net_profit"].sum()),
        relationships_broken=int(broken.sum()),
        revenue_relationships_broken=float(moved["revenue"].to_numpy()[broken].sum()),
        territories_changed=len(touched),
        share_of_revenue_moved=revenue_moved / total_revenue if total_revenue else float("nan"),
    )
