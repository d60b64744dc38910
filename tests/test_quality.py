"""Territory quality, account quality, white space, measure mix, rep figures.

The expected figures are worked out by hand from the 2x2 grid fixture
(tests/conftest.py):

======  ==========  =====  =====  ===  =========
square  accounts    leads  opps   new  conversion
======  ==========  =====  =====  ===  =========
SW      a (A), b    1 (b)  0      1    1/1 = 1.0
SE      c, d        1 (c)  1 (d)  0    0/1 = 0.0
NW      e, f        1 (f)  0      0    0/1 = 0.0
NE      g, h        0      0      1    none (no leads)
======  ==========  =====  =====  ===  =========

Means over territories: leads 0.75, opportunities 0.25, new 0.5, conversion
(NE counted as 0) 0.25. Scores = mean of the four ratios to the mean:
SW (1/.75 + 0 + 1/.5 + 1/.25)/4 = 11/6, SE (1/.75 + 1/.25)/4 = 4/3,
NW (1/.75)/4 = 1/3, NE (1/.5)/4 = 1/2.
"""

import numpy as np
import pandas as pd
import pytest

from terrmap.core.context import Context
from terrmap.core.plan import Plan
from terrmap.playbook.quality import (
    account_quality,
    default_min_shift,
    measure_label,
    measure_values,
    territory_quality,
    white_space,
)
from terrmap.playbook.repview import rep_comparison, rep_figures, rep_territories, visit_load

SQUARE = {"a": "SW", "b": "SW", "c": "SE", "d": "SE", "e": "NW", "f": "NW", "g": "NE", "h": "NE"}


@pytest.fixture
def context(grid_accounts, grid_territories, grid_reps):
    return Context.build(grid_accounts, grid_territories, grid_reps)


@pytest.fixture
def plan(context):
    return Plan.from_assignment(context, pd.Series({f"ACC-{k}": v for k, v in SQUARE.items()}))


class TestTerritoryQuality:
    def test_scores_ranks_and_tiers(self, plan):
        quality = territory_quality(plan.metrics())
        assert quality.index.tolist() == ["SW", "SE", "NE", "NW"]
        expected = {"SW": 11 / 6, "SE": 4 / 3, "NE": 0.5, "NW": 1 / 3}
        assert quality["score"].to_dict() == pytest.approx(expected)
        assert quality["rank"].tolist() == [1, 2, 3, 4]
        assert quality["tier"].astype(str).to_dict() == {
            "SW": "high",
            "SE": "high",
            "NE": "low",
            "NW": "low",
        }
        assert quality.loc["NE", "conversion_rate"] != quality.loc["NE", "conversion_rate"]  # NaN
        assert quality["score"].mean() == pytest.approx(1.0)

    def test_band_cuts_tiers_inclusively(self, plan):
        quality = territory_quality(plan.metrics(), band_pct=50)
        # high >= 1.5, low <= 0.5: NE sits exactly on the low edge.
        assert quality["tier"].astype(str).to_dict() == {
            "SW": "high",
            "SE": "medium",
            "NE": "low",
            "NW": "low",
        }

    def test_equal_territories_are_all_medium(self):
        metrics = pd.DataFrame(
            {"leads": [2, 2], "opportunities": [1, 1], "new_accounts": [1, 1]},
            index=["A", "B"],
        ).assign(conversion_rate=0.5)
        assert territory_quality(metrics)["tier"].astype(str).tolist() == ["medium", "medium"]

    def test_bad_input_is_named(self, plan):
        with pytest.raises(ValueError, match="-1"):
            territory_quality(plan.metrics(), band_pct=-1)
        with pytest.raises(ValueError, match="leads"):
            territory_quality(plan.metrics().drop(columns=["leads"]))

    def test_input_not_mutated(self, plan):
        metrics = plan.metrics()
        before = metrics.copy()
        territory_quality(metrics)
        pd.testing.assert_frame_equal(metrics, before)


class TestAccountQuality:
    def test_account_a_and_b_flip(self, plan, grid_accounts):
        quality = account_quality(plan, grid_accounts["name"])
        assert quality.index[:2].tolist() == ["ACC-b", "ACC-a"]  # B is worth more than A
        assert quality.loc["ACC-a", ["revenue_rank", "profit_rank", "rank_change"]].tolist() == [
            1,
            2,
            -1,
        ]
        assert quality.loc["ACC-b", "rank_change"] == 1
        assert quality["flip"].to_dict() == {
            "ACC-b": "up",
            "ACC-a": "down",
            **{f"ACC-{c}": "" for c in "hgfedc"},
        }
        assert quality.loc["ACC-a", "net_profit"] == 20_000
        assert quality.loc["ACC-a", "margin"] == pytest.approx(0.2)
        assert quality.loc["ACC-a", "name"] == "a"
        assert quality.loc["ACC-c", "territory_id"] == "SE"
        assert quality.loc["ACC-c", "territory"] == "South-East"

    def test_min_shift_filters_small_moves(self, plan):
        assert (account_quality(plan, min_shift=2)["flip"] == "").all()
        with pytest.raises(ValueError, match="0"):
            account_quality(plan, min_shift=0)

    def test_default_shift(self):
        assert [default_min_shift(n) for n in (1, 8, 10, 11, 3000)] == [1, 1, 1, 2, 300]

    def test_names_fall_back_to_ids(self, plan):
        quality = account_quality(plan, pd.Series({"ACC-a": "Acme"}))
        assert quality.loc["ACC-a", "name"] == "Acme"
        assert quality.loc["ACC-b", "name"] == "ACC-b"


class TestWhiteSpace:
    def test_lists_unassigned_accounts(self, plan):
        assert white_space(plan).empty
        released = plan.reassign(["ACC-c", "ACC-e"], None)
        space = white_space(released)
        assert space.index.tolist() == ["ACC-e", "ACC-c"]  # by revenue, largest first
        assert space["revenue"].sum() == 40.0
        assert space["net_profit"].sum() == 36.0
        assert space.loc["ACC-c", ["lon", "lat"]].tolist() == [1.25, 0.5]
        unassigned = released.metrics().attrs["unassigned"]
        assert unassigned["revenue"] == space["revenue"].sum()


class TestMeasureValues:
    def test_single_and_mix(self, plan):
        metrics = plan.metrics()
        assert measure_values(metrics, "accounts").tolist() == [2.0, 2.0, 2.0, 2.0]
        mix = measure_values(metrics, {"accounts": 1, "revenue": 1, "visits": 0})
        revenue = metrics["revenue"] / metrics["revenue"].mean()
        assert mix.tolist() == pytest.approx(((1 + revenue) / 2).tolist())

    def test_errors(self, plan):
        with pytest.raises(ValueError, match="bogus"):
            measure_values(plan.metrics(), "bogus")
        with pytest.raises(ValueError, match="positive weight"):
            measure_values(plan.metrics(), {"revenue": 0})

    def test_labels(self):
        assert measure_label("workload_hours") == "Workload (h)"
        assert measure_label({"revenue": 1, "accounts": 0.5}) == (
            "Weighted mix: Revenue ×1, Accounts ×0.5"
        )


class TestRepView:
    def test_figures_against_team_mean(self, plan):
        comparison = rep_comparison(plan, "R1")
        assert comparison.loc["accounts", ["rep", "team_mean", "vs_mean_pct"]].tolist() == [
            2.0,
            2.0,
            0.0,
        ]
        mean_revenue = (160_000 + 30 + 70 + 110) / 4
        assert comparison.loc["revenue", "team_mean"] == pytest.approx(mean_revenue)
        assert comparison.loc["revenue", "vs_mean_pct"] == pytest.approx(
            (160_000 - mean_revenue) / mean_revenue * 100
        )
        assert comparison.loc["net_profit", "rep"] == 60_000

    def test_visit_load(self, plan):
        load = visit_load(plan, "R1")
        metrics = plan.metrics().loc["SW"]
        assert load["visits"] == 16.0
        assert load["visits_per_week"] == pytest.approx(16 / 46)
        assert load["visit_hours"] == 24.0
        assert load["workload_hours"] == pytest.approx(metrics["workload_hours"])
        assert load["utilisation"] == pytest.approx(metrics["workload_hours"] / 1600)

    def test_rep_with_two_territories(self, grid_accounts, grid_territories, grid_reps):
        territories = grid_territories.copy()
        territories.loc["SE", "rep_id"] = "R1"
        context = Context.build(grid_accounts, territories, grid_reps)
        plan = Plan.from_assignment(context, pd.Series({f"ACC-{k}": v for k, v in SQUARE.items()}))
        assert rep_territories(plan, "R1") == ["SW", "SE"]
        figures = rep_figures(plan)
        assert figures.index.tolist() == ["R1", "R3", "R4"]
        assert figures.loc["R1", ["territories", "accounts", "visits"]].tolist() == [2, 4, 20.0]
        assert figures.loc["R1", "capacity_hours"] == 1600.0  # counted once
        workload = plan.metrics().loc[["SW", "SE"], "workload_hours"].sum()
        assert figures.loc["R1", "utilisation"] == pytest.approx(workload / 1600)
        assert rep_comparison(plan, "R1").loc["accounts", "team_mean"] == pytest.approx(8 / 3)

    def test_unknown_rep_is_named(self, plan):
        with pytest.raises(ValueError, match="R9"):
            visit_load(plan, "R9")

    def test_plan_not_mutated(self, plan):
        codes = plan.codes.copy()
        rep_comparison(plan, "R2")
        assert np.array_equal(plan.codes, codes)


class TestNoFunnelData:
    """Without leads, opportunities or new accounts there is nothing to rank."""

    def test_no_data_is_not_low(self):
        from terrmap.playbook.quality import NO_DATA

        m = pd.DataFrame(
            {
                "name": ["North", "South"],
                "leads": [0, 0],
                "opportunities": [0, 0],
                "new_accounts": [0, 0],
                "conversion_rate": [np.nan, np.nan],
            },
            index=["N", "S"],
        )
        quality = territory_quality(m)
        assert quality["tier"].tolist() == [NO_DATA, NO_DATA]
        assert quality["rank"].isna().all()
        assert quality["score"].isna().all()

    def test_a_measure_the_data_lacks_does_not_drag_the_score(self):
        m = pd.DataFrame(
            {
                "leads": [10, 30],
                "opportunities": [0, 0],
                "new_accounts": [0, 0],
                "conversion_rate": [0.0, 0.0],
            },
            index=["N", "S"],
        )
        quality = territory_quality(m)
        # Leads alone: N has 10 / 20 = 0.5 of the mean, S 1.5.
        assert quality.loc["N", "score"] == pytest.approx(0.5)
        assert quality.loc["S", "score"] == pytest.approx(1.5)
        assert quality["rank"].tolist() == [1, 2]
