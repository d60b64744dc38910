"""Goals: quotas that add up to the target exactly, KPIs with missing as missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from terrmap.geo.workspace import build_workspace
from terrmap.playbook.goals import (
    adjust_quotas,
    allocate,
    quota_basis,
    revenue_by_product,
    suggested_target,
    territory_kpis,
)


@pytest.fixture
def workspace(grid_accounts, grid_territories, grid_reps):
    return build_workspace(grid_accounts, grid_territories, grid_reps, name="grid")


@pytest.fixture
def metrics() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["North", "South", "East"],
            "revenue": [600.0, 300.0, 100.0],
            "net_profit": [300.0, -50.0, 100.0],
            "revenue_last_year": [500.0, 200.0, 300.0],
        },
        index=pd.Index(["N", "S", "E"], name="territory_id"),
    )


class TestAllocate:
    def test_equal_thirds(self):
        assert allocate(pd.Series([1.0, 1.0, 1.0], index=list("abc")), 100).tolist() == [
            34.0,
            33.0,
            33.0,
        ]

    def test_largest_remainder(self):
        # Exact 3.5, 2.1, 1.4 -> floors 3, 2, 1; the spare unit goes to the 0.5.
        shares = allocate(pd.Series([0.5, 0.3, 0.2], index=list("abc")), 7)
        assert shares.tolist() == [4.0, 2.0, 1.0]

    def test_unit(self):
        shares = allocate(pd.Series([1.0, 3.0], index=list("ab")), 1000, unit=100)
        assert shares.tolist() == [300.0, 700.0]

    def test_zero_basis_shares_equally(self):
        assert allocate(pd.Series([0.0, 0.0], index=list("ab")), 10).tolist() == [5.0, 5.0]

    @pytest.mark.parametrize(
        ("basis", "total", "match"),
        [
            ([1.0, -1.0], 10, "negative"),
            ([1.0, np.nan], 10, "missing"),
            ([1.0], 10.5, "whole number"),
            ([1.0], -1, "whole number"),
            ([], 1, "empty"),
        ],
    )
    def test_rejects(self, basis, total, match):
        with pytest.raises(ValueError, match=match):
            allocate(pd.Series(basis, dtype=float), total)

    @given(
        st.lists(st.floats(0, 1e9, allow_nan=False), min_size=1, max_size=30),
        st.integers(0, 10**12),
    )
    def test_sums_exactly_and_stays_within_a_unit(self, basis, total):
        series = pd.Series(basis, index=[f"t{i}" for i in range(len(basis))])
        shares = allocate(series, total)
        assert shares.sum() == total
        assert (shares == np.round(shares)).all()
        weights = series if series.sum() > 0 else series * 0 + 1
        exact = weights / weights.sum() * total
        assert (abs(shares - exact) < 1 + 1e-6 * max(total, 1)).all()


class TestBasis:
    def test_methods(self, metrics):
        assert quota_basis(metrics, "revenue").tolist() == [600.0, 300.0, 100.0]
        assert quota_basis(metrics, "net_profit").tolist() == [300.0, 0.0, 100.0]
        assert quota_basis(metrics, "equal").tolist() == [1.0, 1.0, 1.0]
        assert quota_basis(metrics, "last_year_growth", 0.1).tolist() == pytest.approx(
            [550.0, 220.0, 330.0]
        )

    def test_suggested_target(self, metrics):
        assert suggested_target(metrics, "last_year_growth", 0.1) == 1100.0
        assert suggested_target(metrics, "equal") == 1000.0

    def test_missing_last_year_named(self, metrics):
        metrics.loc["S", "revenue_last_year"] = np.nan
        with pytest.raises(ValueError, match="South"):
            quota_basis(metrics, "last_year_growth", 0.05)

    def test_unknown_method(self, metrics):
        with pytest.raises(ValueError, match="'potential'"):
            quota_basis(metrics, "potential")

    def test_growth_floor(self, metrics):
        with pytest.raises(ValueError, match="growth"):
            quota_basis(metrics, "last_year_growth", -1.0)

    def test_quotas_from_net_profit(self, metrics):
        quotas = allocate(quota_basis(metrics, "net_profit"), 1000)
        assert quotas.to_dict() == {"N": 750.0, "S": 0.0, "E": 250.0}


class TestAdjust:
    def test_typed_kept_others_rescaled(self):
        quotas = pd.Series([40.0, 30.0, 30.0], index=list("abc"))
        adjusted = adjust_quotas(quotas, {"a": 50.0}, 100)
        assert adjusted.to_dict() == {"a": 50.0, "b": 25.0, "c": 25.0}
        assert quotas.tolist() == [40.0, 30.0, 30.0]

    def test_all_typed_stand(self):
        quotas = pd.Series([40.0, 60.0], index=list("ab"))
        adjusted = adjust_quotas(quotas, {"a": 10.0, "b": 20.0}, 100)
        assert adjusted.tolist() == [10.0, 20.0]

    def test_too_much_typed(self):
        quotas = pd.Series([40.0, 60.0], index=list("ab"))
        with pytest.raises(ValueError, match="more than the target"):
            adjust_quotas(quotas, {"a": 150.0}, 100)

    def test_unknown_territory(self):
        with pytest.raises(ValueError, match="'z'"):
            adjust_quotas(pd.Series([1.0], index=["a"]), {"z": 1.0}, 1)

    @given(
        st.lists(st.integers(0, 10**6), min_size=2, max_size=12),
        st.data(),
    )
    def test_total_is_target_when_something_is_left(self, basis, data):
        index = [f"t{i}" for i in range(len(basis))]
        target = sum(basis) + data.draw(st.integers(0, 10**6))
        quotas = allocate(pd.Series(basis, index=index, dtype=float), target)
        typed_ids = data.draw(st.lists(st.sampled_from(index[1:]), unique=True, max_size=5))
        typed = {t: float(data.draw(st.integers(0, 10**5))) for t in typed_ids}
        assume(sum(typed.values()) <= target)
        adjusted = adjust_quotas(quotas, typed, target)
        assert adjusted.sum() == target
        for territory, value in typed.items():
            assert adjusted[territory] == value


class TestKpis:
    def test_grid_figures(self, workspace, grid_reps):
        reps = grid_reps.assign(
            annual_contract_value=[300.0, 100.0, 50.0, 80.0], quota=[200.0, 200.0, np.nan, 0.0]
        )
        quotas = pd.Series({"SW": 100_000.0, "SE": 10.0, "NW": 0.0, "NE": 50.0})
        kpis = territory_kpis(workspace.accounts, workspace.initial_plan, reps, quotas)
        assert list(kpis.index) == ["SW", "SE", "NW", "NE", "total"]
        # SW: a (customer, new, 100,000) and b (lead, 60,000).
        assert kpis.loc["SW", "revenue"] == 160_000.0
        assert kpis.loc["SW", "revenue_new"] == 100_000.0
        assert kpis.loc["SW", "revenue_existing"] == 0.0
        assert kpis.loc["SW", "net_profit"] == 60_000.0
        # NE: g customer new (50), h customer existing (60).
        assert kpis.loc["NE", "revenue_new"] == 50.0
        assert kpis.loc["NE", "revenue_existing"] == 60.0
        # Like for like: SW a 100,000 vs 90,000; SE has no last year at all.
        assert kpis.loc["SW", "yoy_growth"] == pytest.approx(100_000 / 90_000 - 1)
        assert np.isnan(kpis.loc["SE", "yoy_growth"])
        assert kpis.loc["NW", "yoy_growth"] == pytest.approx(30 / 25 - 1)
        assert kpis.loc["total", "yoy_growth"] == pytest.approx(
            (100_000 + 30 + 60) / (90_000 + 25 + 50) - 1
        )
        assert kpis.loc["total", "revenue"] == 160_000.0 + 30 + 70 + 110
        # No CLV, CAC or NPS columns: missing, not zero.
        assert kpis["clv_to_cac"].isna().all()
        assert kpis["nps"].isna().all()
        # R1 reached quota, R2 did not, R3 has none, R4's is zero.
        assert kpis["rep_at_quota"].iloc[:4].tolist()[:2] == [1.0, 0.0]
        assert kpis.loc[["NW", "NE"], "rep_at_quota"].isna().all()
        assert kpis.loc["total", "rep_at_quota"] == 0.5
        assert kpis.loc["SW", "revenue_to_quota"] == pytest.approx(1.6)
        assert np.isnan(kpis.loc["NW", "revenue_to_quota"])
        assert kpis.loc["total", "quota"] == 100_060.0

    def test_clv_cac_and_nps_when_present(self, workspace):
        accounts = workspace.accounts.assign(
            lifetime_value=[300.0, np.nan, 10.0, 20.0, np.nan, np.nan, np.nan, np.nan],
            acquisition_cost=[100.0, 50.0, 5.0, 5.0, np.nan, np.nan, np.nan, np.nan],
            nps=[10.0, 3.0, 9.0, 9.0, 8.0, np.nan, np.nan, np.nan],
        )
        before = accounts.copy()
        kpis = territory_kpis(accounts, workspace.initial_plan)
        assert kpis.loc["SW", "clv_to_cac"] == pytest.approx(3.0)  # b has no CLV
        assert kpis.loc["SE", "clv_to_cac"] == pytest.approx(30 / 10)
        assert np.isnan(kpis.loc["NE", "clv_to_cac"])
        assert kpis.loc["total", "clv_to_cac"] == pytest.approx(330 / 110)
        assert kpis.loc["SW", "nps"] == pytest.approx(0.0)  # one promoter, one detractor
        assert kpis.loc["SE", "nps"] == pytest.approx(100.0)
        assert kpis.loc["NW", "nps"] == pytest.approx(0.0)  # one passive
        assert np.isnan(kpis.loc["NE", "nps"])
        assert kpis.loc["total", "nps"] == pytest.approx(100 * (3 - 1) / 5)
        assert np.isnan(kpis.loc["total", "rep_at_quota"])  # no reps given
        pd.testing.assert_frame_equal(accounts, before)

    def test_revenue_by_product(self, workspace):
        accounts = workspace.accounts.assign(
            products=["Core;Support", "Core", "", "Support", "Core", "", "", " Core "]
        )
        table = revenue_by_product(accounts, workspace.initial_plan)
        assert list(table.columns) == ["Core", "Support"]
        assert table.loc["SW"].tolist() == [160_000.0, 100_000.0]
        assert table.loc["SE"].tolist() == [0.0, 20.0]
        assert table.loc["NE"].tolist() == [60.0, 0.0]


class TestQuotaDeviation:
    def test_against_each_territorys_own_quota(self):
        from terrmap.playbook.goals import quota_deviation

        revenue = pd.Series({"N": 120.0, "S": 80.0, "E": 50.0, "W": 10.0})
        out = quota_deviation(revenue, {"N": 100.0, "S": 100.0, "W": 0.0})
        assert out["N"] == pytest.approx(20.0)
        assert out["S"] == pytest.approx(-20.0)
        assert np.isnan(out["E"])  # no quota
        assert np.isnan(out["W"])  # a zero quota measures nothing
        assert revenue.tolist() == [120.0, 80.0, 50.0, 10.0]  # input untouched
