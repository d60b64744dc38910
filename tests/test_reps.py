"""Reps against the plan: KPIs, capacity, fit flags, matching, rep swaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from terrmap.geo.workspace import build_workspace, with_territory_reps
from terrmap.playbook.reps import (
    capacity_check,
    fit_scores,
    junior_on_key_accounts,
    relationship_moves,
    rep_kpis,
    suggest_matching,
)


@pytest.fixture
def reps(grid_reps) -> pd.DataFrame:
    """The grid's reps with KPIs; R1 is the least experienced.

    Territory net profit: SW 60,000 > NE 99 > NW 63 > SE 27.
    """
    frame = grid_reps.copy()
    frame["experience_years"] = [1.0, 10.0, 5.0, 20.0]
    frame["accounts_held"] = [2, 3, 2, 2]
    frame["new_contacts"] = [5, 6, 7, 8]
    frame["lead_to_opportunity"] = [0.5, 0.25, np.nan, 0.1]
    frame["opportunity_to_deal"] = [0.2, 0.4, 0.6, 0.8]
    frame["conversations"] = [100, 200, 300, 400]
    frame["annual_contract_value"] = [300.0, 100.0, 50.0, 80.0]
    frame["quota"] = [200.0, 200.0, np.nan, 0.0]
    return frame


@pytest.fixture
def workspace(grid_accounts, grid_territories, reps):
    return build_workspace(grid_accounts, grid_territories, reps, name="grid")


@pytest.fixture
def plan(workspace):
    return workspace.initial_plan


class TestRepKpis:
    def test_figures(self, reps, plan):
        kpis = rep_kpis(reps, plan)
        assert kpis.loc["R1", "attainment"] == pytest.approx(1.5)
        assert kpis.loc["R2", "attainment"] == pytest.approx(0.5)
        assert np.isnan(kpis.loc["R3", "attainment"])  # no quota
        assert np.isnan(kpis.loc["R4", "attainment"])  # quota 0
        assert np.isnan(kpis.loc["R3", "lead_to_opportunity"])
        assert kpis.loc["R1", "territories"] == "South-West"
        assert kpis["plan_accounts"].tolist() == [2, 2, 2, 2]
        assert kpis.loc["R1", "plan_revenue"] == 160_000.0
        assert kpis.loc["R1", "plan_net_profit"] == 60_000.0
        workload = plan.metrics()["workload_hours"]
        assert kpis.loc["R2", "workload_hours"] == pytest.approx(workload["SE"])
        assert kpis.loc["R2", "utilisation"] == pytest.approx(workload["SE"] / 1600.0)

    def test_missing_columns_are_missing(self, grid_reps, plan):
        kpis = rep_kpis(grid_reps, plan)
        for column in ("experience_years", "quota", "attainment", "conversations"):
            assert kpis[column].isna().all(), column

    def test_rep_without_territory(self, reps, plan):
        bench = pd.concat([reps, reps.loc[["R1"]].rename(index={"R1": "R5"})])
        kpis = rep_kpis(bench, plan)
        assert kpis.loc["R5", "territories"] == ""
        assert kpis.loc["R5", "plan_accounts"] == 0
        assert np.isnan(kpis.loc["R5", "workload_hours"])

    def test_input_not_mutated(self, reps, plan):
        before = reps.copy()
        rep_kpis(reps, plan)
        capacity_check(reps, plan)
        fit_scores(reps, plan)
        pd.testing.assert_frame_equal(reps, before)


class TestCapacity:
    def test_status_and_sums(self, reps, plan):
        workload = plan.metrics()["workload_hours"]
        capacities = reps.copy()
        # R1 below its workload, R2 far above it, R3 at 80 % use, R4 none.
        capacities["capacity_hours"] = [
            workload["SW"] / 2,
            workload["SE"] * 10,
            workload["NW"] / 0.8,
            np.nan,
        ]
        check = capacity_check(capacities, plan, under_share=0.7)
        assert check.loc["R1", "status"] == "over"
        assert check.loc["R2", "status"] == "under"
        assert check.loc["R3", "status"] == "ok"
        assert check.loc["R4", "status"] == "no capacity"
        assert check.loc["R1", "utilisation"] == pytest.approx(2.0)
        assert check.loc["R1", "workload_hours"] == pytest.approx(
            check.loc["R1", "visit_hours"] + check.loc["R1", "travel_hours"]
        )
        # SW: a 12 + b 4 visits at 1.5 h.
        assert check.loc["R1", "visits"] == 16.0
        assert check.loc["R1", "visit_hours"] == 24.0
        assert check.loc["R1", "reason"].startswith(f"{workload['SW'] / 2:,.0f} h over capacity")
        assert "16 visits" in check.loc["R1", "reason"]
        assert check.index[0] == "R1"  # highest utilisation first

    def test_rep_holding_two_territories(self, workspace, reps):
        both = with_territory_reps(workspace, {"SE": "R1"}).initial_plan
        check = capacity_check(reps, both)
        workload = workspace.initial_plan.metrics()
        assert check.loc["R1", "accounts"] == 4
        assert check.loc["R1", "visits"] == workload.loc[["SW", "SE"], "visits"].sum()
        assert check.loc["R2", "status"] == "no territory"

    def test_bad_share(self, reps, plan):
        with pytest.raises(ValueError, match="under_share"):
            capacity_check(reps, plan, 1.5)


class TestFitFlags:
    def test_junior_rep_on_key_accounts(self, reps, plan):
        # Key accounts: top 25 % of 8 = 2: b and a, both in SW with R1 (1 year;
        # median of 1, 5, 10, 20 is 7.5).
        flagged = junior_on_key_accounts(reps, plan, key_share=0.25)
        assert flagged["territory_id"].tolist() == ["SW"]
        row = flagged.iloc[0]
        assert row["key_accounts"] == 2
        assert row["key_net_profit"] == 60_000.0
        assert row["median_experience"] == 7.5

    def test_senior_rep_not_flagged(self, reps, plan):
        senior = reps.assign(experience_years=[30.0, 10.0, 5.0, 20.0])
        assert junior_on_key_accounts(senior, plan, key_share=0.25).empty

    def test_without_experience_nothing_flagged(self, grid_reps, plan):
        assert junior_on_key_accounts(grid_reps, plan).empty

    def test_relationship_moves(self, plan):
        assert relationship_moves(plan).empty  # every owner is the territory's rep
        moved = relationship_moves(plan.reassign(["ACC-a"], "SE"))
        assert moved.to_dict("records") == [
            {
                "account_id": "ACC-a",
                "territory_id": "SE",
                "territory_rep": "R2",
                "owner": "R1",
                "revenue": 100_000.0,
                "net_profit": 20_000.0,
            }
        ]

    def test_unowned_and_white_space_not_listed(self, plan):
        released = plan.reassign(["ACC-b"], None)
        assert relationship_moves(released).empty


class TestMatching:
    def test_seniority_only(self, reps, plan):
        # Territory net-profit percentile: SW 1, NE 2/3, NW 1/3, SE 0;
        # experience percentile: R1 0, R3 1/3, R2 2/3, R4 1.
        scores = fit_scores(reps, plan, {"relationship": 0, "seniority": 1, "proximity": 0})
        assert scores["seniority"].loc["SW", "R4"] == pytest.approx(1.0)
        assert scores["seniority"].loc["SW", "R1"] == pytest.approx(0.0)
        assert scores["seniority"].loc["SE", "R2"] == pytest.approx(1 / 3)
        matching = suggest_matching(scores["score"], plan).set_index("territory_id")
        assert matching["suggested_rep"].to_dict() == {
            "SW": "R4",
            "SE": "R1",
            "NW": "R3",
            "NE": "R2",
        }
        assert matching["changed"].tolist() == [True, True, False, True]
        # Current: 0 + 1/3 + 1 + 2/3 = 2; suggested: a perfect 4.
        assert matching.attrs["current_total"] == pytest.approx(2.0)
        assert matching.attrs["suggested_total"] == pytest.approx(4.0)

    def test_relationship_keeps_owners(self, reps, plan):
        scores = fit_scores(reps, plan, {"relationship": 1, "seniority": 0, "proximity": 0})
        assert scores["relationship"].loc["SW"].tolist() == [1.0, 0.0, 0.0, 0.0]
        assert not suggest_matching(scores["score"], plan)["changed"].any()

    def test_proximity_prefers_home_rep(self, reps, plan):
        proximity = fit_scores(reps, plan)["proximity"]
        for territory, rep in zip(["SW", "SE", "NW", "NE"], ["R1", "R2", "R3", "R4"], strict=True):
            assert proximity.loc[territory].idxmax() == rep
        assert proximity.to_numpy().min() == pytest.approx(0.0)

    def test_ties_keep_current_reps(self, reps, plan):
        flat = fit_scores(reps, plan)["score"] * 0 + 0.5
        assert not suggest_matching(flat, plan)["changed"].any()

    def test_bench_rep_can_take_a_territory(self, reps, plan):
        bench = pd.concat([reps, reps.loc[["R4"]].rename(index={"R4": "R5"})])
        bench.loc["R5", "experience_years"] = 40.0
        scores = fit_scores(bench, plan, {"relationship": 0, "seniority": 1, "proximity": 0})
        matching = suggest_matching(scores["score"], plan).set_index("territory_id")
        assert matching.loc["SW", "suggested_rep"] == "R5"
        assert matching["suggested_rep"].is_unique
        assert len(matching) == 4

    def test_bad_weights(self, reps, plan):
        with pytest.raises(ValueError, match="not all zero"):
            fit_scores(reps, plan, {"relationship": 0, "seniority": 0, "proximity": 0})
        with pytest.raises(ValueError, match="luck"):
            fit_scores(reps, plan, {"luck": 1})


class TestRepSwap:
    def test_swap_moves_home_and_capacity(self, workspace, reps):
        capacities = reps.assign(capacity_hours=[1000.0, 2000.0, 1600.0, 1600.0])
        ws = build_workspace(workspace.accounts, workspace.territories, capacities)
        swapped = with_territory_reps(ws, {"SW": "R2", "SE": "R1"})
        before, after = ws.initial_plan.metrics(), swapped.initial_plan.metrics()
        assert after.loc["SW", "rep_id"] == "R2"
        assert after.loc["SW", "capacity_hours"] == 2000.0
        assert before.loc["SW", "capacity_hours"] == 1000.0
        # R2 lives at (1.5, 0.5): SW's accounts are further away.
        assert after.loc["SW", "mean_distance_km"] > before.loc["SW", "mean_distance_km"]
        assert ws.territories.loc["SW", "rep_id"] == "R1"
        assert after.loc["NW"].equals(before.loc["NW"])

    def test_unknown_ids(self, workspace):
        with pytest.raises(ValueError, match="R9"):
            with_territory_reps(workspace, {"SW": "R9"})
        with pytest.raises(ValueError, match="XX"):
            with_territory_reps(workspace, {"XX": "R1"})


class TestUtilisationIsOneConcept:
    """A rep with zero capacity has no utilisation on every page (NaN, shown "—")."""

    def test_zero_capacity_is_missing_in_kpis_rep_figures_and_territory_metrics(
        self, grid_accounts, grid_territories, grid_reps
    ):
        from terrmap.core.context import Context
        from terrmap.core.plan import Plan
        from terrmap.playbook.repview import rep_figures

        reps = grid_reps.copy()
        reps.loc["R2", "capacity_hours"] = 0.0
        reps.loc["R3", "capacity_hours"] = np.nan
        context = Context.build(grid_accounts, grid_territories, reps)
        square = {"a": "SW", "b": "SW", "c": "SE", "d": "SE", "e": "NW", "f": "NW"}
        square |= {"g": "NE", "h": "NE"}
        plan = Plan.from_assignment(context, pd.Series({f"ACC-{k}": v for k, v in square.items()}))
        kpis = rep_kpis(reps, plan)
        figures = rep_figures(plan)
        metrics = plan.metrics()
        for rep, territory in (("R2", "SE"), ("R3", "NW")):
            assert np.isnan(kpis.loc[rep, "utilisation"])
            assert np.isnan(figures.loc[rep, "utilisation"])
            assert np.isnan(metrics.loc[territory, "utilisation"])
        expected = metrics.loc["SW", "workload_hours"] / 1600.0
        assert kpis.loc["R1", "utilisation"] == pytest.approx(expected)
        assert figures.loc["R1", "utilisation"] == pytest.approx(expected)
        assert metrics.loc["SW", "utilisation"] == pytest.approx(expected)


class TestUtilisationFunction:
    @given(
        st.lists(
            st.tuples(
                st.floats(0, 1e5),
                st.one_of(st.floats(-10, 1e5), st.just(float("nan"))),
            ),
            max_size=30,
        )
    )
    def test_ratio_where_capacity_is_positive_else_nan(self, pairs):
        from terrmap.core.metrics import utilisation

        workload = np.array([w for w, _ in pairs], dtype=float)
        capacity = np.array([c for _, c in pairs], dtype=float)
        got = utilisation(workload, capacity)
        for value, (w, c) in zip(got, pairs, strict=True):
            if c > 0:
                assert value == pytest.approx(w / c)
            else:
                assert np.isnan(value)

    def test_series_keep_their_index_and_inputs_are_not_changed(self):
        from terrmap.core.metrics import utilisation

        workload = pd.Series([10.0, 20.0], index=["a", "b"])
        capacity = pd.Series([0.0, 40.0], index=["a", "b"])
        before = capacity.copy()
        got = utilisation(workload, capacity)
        assert got.index.tolist() == ["a", "b"] and np.isnan(got["a"]) and got["b"] == 0.5
        assert capacity.equals(before)

    def test_shapes_must_agree(self):
        from terrmap.core.metrics import utilisation

        with pytest.raises(ValueError, match="shape"):
            utilisation(np.zeros(2), np.zeros(3))
