"""The exact design (MILP): with contiguity its optimum is one piece per territory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from terrmap.core.context import Context
from terrmap.core.plan import Plan
from terrmap.geo.adjacency import pieces
from terrmap.playbook.optimise.exact import exact_design

PATH = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]])


@pytest.fixture()
def plan():
    """Six accounts on a path ``0 - 1 - 2 - 3 - 4 - 5``; A holds 0-3, B holds 4-5.

    Account 1 lies next to B's home base on the map (lon 0.95, B's home at 1.0)
    but on the path only next to A's accounts::

        lon   0.0  0.95  0.1  0.3  0.9  1.0
        path   0 -- 1 -- 2 -- 3 -- 4 -- 5
        today  A    A    A    A    B    B

    Balancing revenue (all equal) needs one account from A to B. The cheapest
    is account 1 (it gets nearer a home base), which leaves both in two pieces;
    in one piece, only account 3 can go.
    """
    accounts = pd.DataFrame(
        {
            "lat": np.zeros(6),
            "lon": [0.0, 0.95, 0.1, 0.3, 0.9, 1.0],
            "revenue": np.ones(6),
            "visits_per_year": np.ones(6),
        },
        index=[f"a{i}" for i in range(6)],
    )
    territories = pd.DataFrame({"name": ["A", "B"], "rep_id": ["ra", "rb"]}, index=["A", "B"])
    reps = pd.DataFrame({"home_lat": [0.0, 0.0], "home_lon": [0.0, 1.0]}, index=["ra", "rb"])
    context = Context.build(accounts, territories, reps)
    return Plan.from_assignment(
        context, pd.Series(["A", "A", "A", "A", "B", "B"], index=accounts.index)
    )


def test_without_contiguity_the_optimum_breaks_a_territory(plan):
    result = exact_design(plan, {"revenue": 10}, travel_slack_pct=100, adjacency=PATH)
    assert result.status == "optimal"
    assert result.codes.tolist() == [0, 1, 0, 0, 1, 1]
    assert pieces(result.codes, PATH, 2).tolist() == [2, 2]  # 0 | 2 3 and 1 | 4 5


def test_with_contiguity_the_optimum_is_one_piece_and_costs_more(plan):
    loose = exact_design(plan, {"revenue": 10}, travel_slack_pct=100, adjacency=PATH)
    result = exact_design(
        plan, {"revenue": 10}, travel_slack_pct=100, adjacency=PATH, contiguity=True
    )
    assert result.status == "optimal"
    assert result.codes.tolist() == [0, 0, 0, 1, 1, 1]
    assert pieces(result.codes, PATH, 2).tolist() == [1, 1]
    assert result.cost > loose.cost
