"""Comparing two plans: deltas, moved accounts, disruption."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terrmap.geo.workspace import build_workspace
from terrmap.playbook.compare import compare_plans

TERRITORIES = ["SW", "SE", "NW", "NE", None]


@pytest.fixture
def workspace(grid_accounts, grid_territories, grid_reps):
    return build_workspace(grid_accounts, grid_territories, grid_reps, name="Grid")


@pytest.fixture
def shared_rep_workspace(grid_accounts, grid_territories, grid_reps):
    """The grid with rep R1 holding both south-west and north-west."""
    territories = grid_territories.assign(rep_id=["R1", "R2", "R1", "R4"])
    return build_workspace(grid_accounts, territories, grid_reps, name="Shared")


def _ids(letters: str) -> list[str]:
    return [f"ACC-{c}" for c in letters]


def _naive_sums(accounts: pd.DataFrame, assignment: pd.Series) -> pd.DataFrame:
    """Accounts and revenue per territory straight from the accounts frame."""
    frame = accounts.assign(territory=assignment.reindex(accounts.index).to_numpy())
    return frame.groupby("territory", dropna=False).agg(
        accounts=("revenue", "size"), revenue=("revenue", "sum")
    )


class TestDeltas:
    def test_equal_plans_change_nothing(self, workspace):
        result = compare_plans(workspace.initial_plan, workspace.initial_plan)
        assert result.moved.empty
        d = result.disruption
        assert (d.accounts_moved, d.revenue_moved, d.relationships_broken) == (0, 0.0, 0)
        assert d.territories_changed == 0
        numeric = result.deltas.drop(columns=["name", "rep_id"])
        assert ((numeric == 0) | numeric.isna()).all().all()

    def test_deltas_match_an_independent_count(self, workspace, grid_accounts):
        before = workspace.initial_plan
        after = before.reassign(_ids("ab"), "NE").reassign(_ids("h"), None)
        result = compare_plans(before, after)
        naive_before = _naive_sums(grid_accounts, before.assignment)
        naive_after = _naive_sums(grid_accounts, after.assignment)
        for territory in workspace.context.territory_ids:
            for column in ("accounts", "revenue"):
                expected = naive_after[column].get(territory, 0) - naive_before[column].get(
                    territory, 0
                )
                assert result.deltas.loc[territory, column] == pytest.approx(expected)
        white = result.deltas.attrs["unassigned"]
        assert (white["accounts"], white["revenue"]) == (1, 60.0)
        assert result.deltas.loc["SW", "net_profit"] == -(20_000 + 40_000)

    def test_every_numeric_measure_has_a_delta(self, workspace):
        result = compare_plans(workspace.initial_plan, workspace.initial_plan)
        metrics = workspace.initial_plan.metrics()
        numeric = [c for c in metrics.columns if pd.api.types.is_numeric_dtype(metrics[c])]
        assert list(result.deltas.columns) == ["name", "rep_id", *numeric]
        assert list(result.deltas.index) == list(metrics.index)


class TestMovedAccounts:
    def test_rows_names_and_reps(self, workspace, grid_accounts):
        before = workspace.initial_plan
        after = before.reassign(_ids("a"), "NE").reassign(_ids("c"), None)
        moved = compare_plans(before, after, account_names=grid_accounts["name"]).moved
        assert list(moved.index) == ["ACC-a", "ACC-c"]  # by net profit, largest first
        a = moved.loc["ACC-a"]
        assert (a["name"], a["from_territory"], a["to_territory"]) == ("a", "SW", "NE")
        assert (a["from_name"], a["to_name"]) == ("South-West", "North-East")
        assert (a["rep_before"], a["rep_after"], a["crm_owner"]) == ("R1", "R4", "R1")
        assert (a["revenue"], a["net_profit"]) == (100_000.0, 20_000.0)
        c = moved.loc["ACC-c"]
        assert pd.isna(c["to_territory"]) and pd.isna(c["rep_after"])
        assert bool(c["relationship_broken"])

    def test_ids_stand_in_for_missing_names(self, workspace):
        after = workspace.initial_plan.reassign(_ids("d"), "SW")
        moved = compare_plans(workspace.initial_plan, after).moved
        assert moved.loc["ACC-d", "name"] == "ACC-d"

    def test_inputs_unchanged(self, workspace, grid_accounts):
        names = grid_accounts["name"].copy()
        before = workspace.initial_plan
        after = before.reassign(_ids("a"), "NE")
        codes = before.codes.copy(), after.codes.copy()
        compare_plans(before, after, account_names=names)
        pd.testing.assert_series_equal(names, grid_accounts["name"])
        assert np.array_equal(codes[0], before.codes) and np.array_equal(codes[1], after.codes)


class TestDisruption:
    def test_same_rep_move_breaks_no_relationship(self, shared_rep_workspace):
        before = shared_rep_workspace.initial_plan
        after = before.reassign(_ids("a"), "NW")  # R1 -> R1
        d = compare_plans(before, after).disruption
        assert (d.accounts_moved, d.relationships_broken) == (1, 0)
        assert d.revenue_moved == 100_000.0 and d.revenue_relationships_broken == 0.0

    def test_taking_from_white_space_breaks_nothing(self, workspace):
        released = workspace.initial_plan.reassign(_ids("g"), None)
        d = compare_plans(released, workspace.initial_plan).disruption
        assert (d.accounts_moved, d.relationships_broken, d.territories_changed) == (1, 0, 1)

    def test_headline_figures(self, workspace):
        before = workspace.initial_plan
        after = before.reassign(_ids("ab"), "SE").reassign(_ids("e"), None)
        d = compare_plans(before, after).disruption
        assert d.accounts_moved == 3
        assert d.revenue_moved == 160_030.0
        assert d.net_profit_moved == 60_027.0
        assert d.relationships_broken == 3
        assert d.territories_changed == 3  # SW, SE, NW
        assert d.share_of_revenue_moved == pytest.approx(160_030.0 / 160_210.0)

    def test_plans_of_other_data_are_refused(self, workspace, grid_accounts, grid_territories):
        other = build_workspace(grid_accounts.iloc[:6], grid_territories)
        with pytest.raises(ValueError, match="different accounts"):
            compare_plans(workspace.initial_plan, other.initial_plan)
        fewer = build_workspace(grid_accounts, grid_territories.iloc[:3])
        with pytest.raises(ValueError, match="different territories"):
            compare_plans(workspace.initial_plan, fewer.initial_plan)


_moves = st.lists(
    st.tuples(st.sets(st.sampled_from("abcdefgh"), min_size=1), st.sampled_from(TERRITORIES)),
    max_size=6,
)


@given(first=_moves, second=_moves)
@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_invariants(shared_rep_workspace, first, second):
    plans = []
    for moves in (first, second):
        plan = shared_rep_workspace.initial_plan
        for letters, target in moves:
            plan = plan.reassign(_ids("".join(sorted(letters))), target)
        plans.append(plan)
    before, after = plans
    result = compare_plans(before, after)
    differs = before.assignment.fillna("-") != after.assignment.fillna("-")
    assert set(result.moved.index) == set(differs[differs].index)
    context = shared_rep_workspace.context
    assert result.disruption.revenue_moved == pytest.approx(
        context.revenue[differs.to_numpy()].sum()
    )
    assert result.disruption.relationships_broken <= result.disruption.accounts_moved
    backwards = compare_plans(after, before)
    numeric = result.deltas.columns.drop(["name", "rep_id"])
    pd.testing.assert_frame_equal(
        result.deltas[numeric].fillna(0) + backwards.deltas[numeric].fillna(0),
        result.deltas[numeric].fillna(0) * 0,
    )
    assert backwards.disruption.accounts_moved == result.disruption.accounts_moved
