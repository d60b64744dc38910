"""Visit cadence: tiers, visits a year, seasonality, rotation; workspace rebuilds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from terrmap.core.plan import History
from terrmap.geo.workspace import build_workspace, rebase_history, with_visits
from terrmap.playbook.cadence import (
    MONTHS,
    monthly_profile_from_data,
    monthly_workload,
    normalise_profile,
    quarter_visits,
    rotation,
    territory_rotation,
    tier_accounts,
    tier_summary,
    visits_per_year,
)


@pytest.fixture
def workspace(grid_accounts, grid_territories, grid_reps):
    return build_workspace(grid_accounts, grid_territories, grid_reps, name="grid")


@pytest.fixture
def grid_net_profit(grid_accounts):
    return grid_accounts["revenue"] - grid_accounts["cost_to_serve"]


class TestTiers:
    def test_grid_cut_by_rank(self, grid_net_profit):
        # Net profit: b 40,000 > a 20,000 > h 54 > g 45 > f 36 > e 27 > d 18 > c 9.
        # 8 accounts: A = round(1.6) = 2, A+B = round(4.0) = 4.
        tiers = tier_accounts(grid_net_profit)
        expected = dict(zip([f"ACC-{c}" for c in "abcdefgh"], "AACCCCBB", strict=True))
        assert tiers.to_dict() == expected

    def test_ties_broken_by_account_id(self):
        profit = pd.Series([1.0, 1.0, 1.0, 1.0], index=["d", "b", "a", "c"])
        tiers = tier_accounts(profit, a_share=0.25, b_share=0.25)
        assert tiers.to_dict() == {"a": "A", "b": "B", "c": "C", "d": "C"}

    def test_negative_profit_still_tiered(self):
        tiers = tier_accounts(pd.Series([-5.0, -1.0], index=["x", "y"]), 0.5, 0.5)
        assert tiers.to_dict() == {"y": "A", "x": "B"}

    @pytest.mark.parametrize(("a", "b"), [(-0.1, 0.3), (0.2, 1.1), (0.6, 0.5)])
    def test_bad_shares(self, grid_net_profit, a, b):
        with pytest.raises(ValueError, match="share"):
            tier_accounts(grid_net_profit, a, b)

    def test_missing_profit_named(self):
        with pytest.raises(ValueError, match="'q'"):
            tier_accounts(pd.Series([1.0, np.nan], index=["p", "q"]))

    def test_input_not_mutated(self, grid_net_profit):
        before = grid_net_profit.copy()
        tier_accounts(grid_net_profit)
        pd.testing.assert_series_equal(grid_net_profit, before)

    @given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40), st.floats(0, 0.5))
    def test_tiers_monotone_in_profit(self, profits, a_share):
        series = pd.Series(profits, index=[f"x{i:03d}" for i in range(len(profits))])
        tiers = tier_accounts(series, a_share, 0.3)
        rank = tiers.map({"A": 0, "B": 1, "C": 2})
        for tier in (0, 1):
            worse = series[rank > tier]
            better = series[rank == tier]
            if len(worse) and len(better):
                assert better.min() >= worse.max()


class TestVisitsPerYear:
    def test_tier_then_override(self):
        tiers = pd.Series(["A", "B", "C", "C"], index=list("wxyz"))
        visits = visits_per_year(tiers, {"A": 12, "B": 4, "C": 2}, {"z": 6})
        assert visits.to_dict() == {"w": 12.0, "x": 4.0, "y": 2.0, "z": 6.0}
        assert tiers.tolist() == ["A", "B", "C", "C"]

    def test_unknown_override(self):
        with pytest.raises(ValueError, match="'nope'"):
            visits_per_year(pd.Series(["A"], index=["a"]), {"A": 1}, {"nope": 1})

    def test_negative_frequency(self):
        with pytest.raises(ValueError, match="tier 'B'"):
            visits_per_year(pd.Series(["A"], index=["a"]), {"A": 1, "B": -1})

    def test_missing_tier_frequency(self):
        with pytest.raises(ValueError, match="'C'"):
            visits_per_year(pd.Series(["A", "C"], index=["a", "c"]), {"A": 1})

    def test_negative_override(self):
        with pytest.raises(ValueError, match="override"):
            visits_per_year(pd.Series(["A"], index=["a"]), {"A": 1}, {"a": -2})


class TestTierSummary:
    def test_sums(self):
        tiers = pd.Series(["A", "C", "C"], index=list("xyz"))
        profit = pd.Series([10.0, 2.0, 3.0], index=list("xyz"))
        visits = pd.Series([12.0, 2.0, 2.0], index=list("xyz"))
        summary = tier_summary(tiers, profit, visits)
        assert summary.loc["A"].tolist() == [1, 10.0, 10.0, 12.0]
        assert summary.loc["B", "accounts"] == 0
        assert np.isnan(summary.loc["B", "net_profit"])
        assert summary.loc["C"].tolist() == [2, 5.0, 2.0, 4.0]


class TestSeasonality:
    def test_normalise(self):
        profile = normalise_profile([2.0] + [1.0] * 11)
        assert list(profile.index) == list(MONTHS)
        assert profile["Jan"] == pytest.approx(2 / 13)
        assert profile.sum() == pytest.approx(1.0)

    @pytest.mark.parametrize(
        ("weights", "match"),
        [([1.0] * 11, "12 weights"), ([0.0] * 12, "all zero"), ([-1.0] + [1.0] * 11, ">= 0")],
    )
    def test_normalise_rejects(self, weights, match):
        with pytest.raises(ValueError, match=match):
            normalise_profile(weights)

    def test_profile_from_month_name_columns(self):
        frame = pd.DataFrame(
            {f"Revenue_{m}": [float(i + 1), 0.0] for i, m in enumerate(MONTHS)}
            | {"revenue": [1.0, 2.0]}
        )
        profile = monthly_profile_from_data(frame)
        assert profile["Jan"] == pytest.approx(1 / 78)
        assert profile["Dec"] == pytest.approx(12 / 78)

    def test_profile_from_numbered_columns(self):
        frame = pd.DataFrame({f"revenue_{m:02d}": [1.0] for m in range(1, 13)})
        assert monthly_profile_from_data(frame).tolist() == pytest.approx([1 / 12] * 12)

    def test_no_profile_without_all_months(self, grid_accounts):
        assert monthly_profile_from_data(grid_accounts) is None
        partial = pd.DataFrame({"revenue_jan": [1.0], "revenue_feb": [2.0]})
        assert monthly_profile_from_data(partial) is None

    def test_monthly_workload_flags_peak(self):
        metrics = pd.DataFrame(
            {
                "name": ["North", "South"],
                "workload_hours": [1300.0, 1300.0],
                "capacity_hours": [1200.0, np.nan],
            },
            index=pd.Index(["N", "S"], name="territory_id"),
        )
        profile = normalise_profile([2.0] + [1.0] * 11)
        monthly = monthly_workload(metrics, profile)
        north = monthly[monthly["territory_id"] == "N"].set_index("month")
        # January: 1,300 x 2/13 = 200 h against 1,200 / 12 = 100 h; other months 100 h.
        assert north.loc["Jan", "workload_hours"] == pytest.approx(200.0)
        assert north.loc["Feb", "workload_hours"] == pytest.approx(100.0)
        assert north.loc["Jan", "capacity_hours"] == pytest.approx(100.0)
        assert north["over_capacity"].tolist() == [True] + [False] * 11
        south = monthly[monthly["territory_id"] == "S"]
        assert not south["over_capacity"].any()
        assert len(monthly) == 24


class TestQuarterVisits:
    def test_hand_computed(self):
        # Phases 0, 1/4, 1/2, 3/4 for the four accounts.
        visits = pd.Series([12.0, 4.0, 2.0, 1.0], index=list("wxyz"))
        due = pd.DataFrame({q: quarter_visits(visits, q) for q in (1, 2, 3, 4)})
        assert due.loc["w"].tolist() == [3, 3, 3, 3]
        assert due.loc["x"].tolist() == [1, 1, 1, 1]
        assert due.loc["y"].tolist() == [0, 1, 0, 1]
        assert due.loc["z"].tolist() == [0, 0, 0, 1]

    @given(st.lists(st.integers(0, 60), min_size=1, max_size=30))
    def test_whole_year_adds_up(self, counts):
        visits = pd.Series([float(c) for c in counts], index=[f"a{i}" for i in range(len(counts))])
        total = sum(quarter_visits(visits, q) for q in (1, 2, 3, 4))
        assert total.tolist() == counts

    def test_rejects(self):
        with pytest.raises(ValueError, match="quarter"):
            quarter_visits(pd.Series([1.0], index=["a"]), 5)
        with pytest.raises(ValueError, match="'a'"):
            quarter_visits(pd.Series([-1.0], index=["a"]), 1)


class TestRotation:
    def test_hand_computed(self):
        # Visit times: a at 0, 1/3, 2/3; b (phase 1/2) at 1/2 -> one visit a week.
        schedule = rotation(pd.Series([3, 1], index=["a", "b"]), weeks=4)
        assert list(schedule.itertuples(index=False, name=None)) == [
            (1, "a", 1),
            (2, "a", 2),
            (3, "b", 1),
            (4, "a", 3),
        ]

    def test_empty(self):
        assert rotation(pd.Series([0, 0], index=["a", "b"])).empty

    def test_rejects_fractional(self):
        with pytest.raises(ValueError, match="'a'"):
            rotation(pd.Series([1.5], index=["a"]))

    @given(st.lists(st.integers(0, 30), min_size=1, max_size=40), st.integers(1, 20))
    def test_every_visit_once_and_balanced(self, counts, weeks):
        due = pd.Series(counts, index=[f"acc{i:02d}" for i in range(len(counts))])
        schedule = rotation(due, weeks)
        assert len(schedule) == sum(counts)
        per_account = schedule.groupby("account_id").size().reindex(due.index, fill_value=0)
        assert per_account.tolist() == counts
        # Each account's visits are numbered 1..due, each once.
        for account, rows in schedule.groupby("account_id"):
            assert sorted(rows["visit"]) == list(range(1, due[account] + 1))
        loads = schedule.groupby("week").size().reindex(range(1, weeks + 1), fill_value=0)
        assert loads.max() - loads.min() <= 1
        assert schedule["week"].between(1, weeks).all()

    def test_territory_rotation_grid(self, workspace):
        # SW holds b (4/yr, larger net profit, phase 0) and a (12/yr, phase 1/2).
        # Q1: b once, a three times; 4 visits over 13 weeks -> weeks 1, 4, 7, 10.
        schedule = territory_rotation(workspace.initial_plan, "SW", 1)
        assert list(schedule.itertuples(index=False, name=None)) == [
            (1, "ACC-b", 1),
            (4, "ACC-a", 1),
            (7, "ACC-a", 2),
            (10, "ACC-a", 3),
        ]


class TestWithVisits:
    def test_workload_follows_visits(self, workspace, grid_accounts):
        accounts_before = grid_accounts.copy()
        before = workspace.initial_plan.metrics()
        changed = with_visits(workspace, pd.Series({"ACC-a": 24.0}))
        after = changed.initial_plan.metrics()
        # SW: a 12 -> 24, b 4: 16 -> 28 visits, 1.5 h each on site.
        assert before.loc["SW", "visits"] == 16.0
        assert after.loc["SW", "visits"] == 28.0
        assert after.loc["SW", "visit_hours"] == pytest.approx(42.0)
        assert after.loc["SW", "workload_hours"] > before.loc["SW", "workload_hours"]
        pd.testing.assert_frame_equal(
            after.drop(index="SW").drop(columns=["utilisation"]),
            before.drop(index="SW").drop(columns=["utilisation"]),
        )
        # Nothing the caller holds changed.
        pd.testing.assert_frame_equal(grid_accounts, accounts_before)
        pd.testing.assert_frame_equal(workspace.initial_plan.metrics(), before)
        assert changed.accounts.loc["ACC-a", "visits_per_year"] == 24.0
        pd.testing.assert_series_equal(
            changed.initial_plan.assignment, workspace.initial_plan.assignment
        )

    def test_rejects_unknown_and_negative(self, workspace):
        with pytest.raises(ValueError, match="ACC-zz"):
            with_visits(workspace, pd.Series({"ACC-zz": 1.0}))
        with pytest.raises(ValueError, match=">= 0"):
            with_visits(workspace, pd.Series({"ACC-a": -1.0}))


class TestRebaseHistory:
    def test_moves_undo_and_log_survive(self, workspace):
        first = workspace.initial_plan
        second = first.reassign(["ACC-a"], "SE", author="kim", note="closer")
        third = second.reassign(["ACC-h"], None, author="kim")
        history = History.start(first).push(second).push(third).undo()
        changed = with_visits(workspace, pd.Series({"ACC-b": 40.0}))
        rebased = rebase_history(history, changed.context)
        assert rebased.position == history.position == 1
        assert len(rebased.plans) == 3
        for old, new in zip(history.plans, rebased.plans, strict=True):
            assert new.context is changed.context
            pd.testing.assert_series_equal(new.assignment, old.assignment)
            pd.testing.assert_frame_equal(new.changelog(), old.changelog())
        # b stays in SW, a moved to SE: SW visits are b's 40.
        assert rebased.current.metrics().loc["SW", "visits"] == 40.0
        assert rebased.current.parent is rebased.plans[0]
        assert history.current.metrics().loc["SW", "visits"] == 4.0

    def test_other_accounts_rejected(self, workspace, grid_accounts, grid_territories, grid_reps):
        other = build_workspace(grid_accounts.iloc[:4], grid_territories, grid_reps)
        with pytest.raises(ValueError, match="other accounts"):
            rebase_history(History.start(workspace.initial_plan), other.context)
