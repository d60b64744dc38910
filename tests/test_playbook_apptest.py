"""Reps, Goals and Visit cadence pages under Streamlit's AppTest (no browser)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from terrmap.demo import demo_workspace
from terrmap.geo.workspace import with_territory_reps, with_visits
from terrmap.playbook.cadence import tier_accounts, visits_per_year
from terrmap.playbook.reps import fit_scores, suggest_matching

APP = Path(__file__).resolve().parents[1] / "app.py"
TIMEOUT_S = 60


@pytest.fixture(scope="module")
def demo():
    return demo_workspace()


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _open(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _territory_table(at: AppTest) -> pd.DataFrame:
    _open(at, "territories")
    return at.dataframe[0].value


def _demo_cadence_visits(demo, tier_visits):
    net_profit = pd.Series(demo.context.revenue - demo.context.cost, index=demo.context.account_ids)
    return visits_per_year(tier_accounts(net_profit, 0.2, 0.3), tier_visits)


class TestCadencePage:
    def test_tier_cadence_changes_territory_workload(self, app, demo):
        before = _territory_table(app)["Workload h/yr"]
        _open(app, "cadence")
        app.number_input(key="cad_visits_A").set_value(24.0).run()
        app.button(key="cad_apply").click().run()
        assert not app.exception
        after = _territory_table(app)["Workload h/yr"]
        visits = _demo_cadence_visits(demo, {"A": 24.0, "B": 4.0, "C": 2.0})
        expected = with_visits(demo, visits).initial_plan.metrics()["workload_hours"]
        # The table shows territories by name, in the plan's order.
        assert (
            after.index.tolist()
            == expected.index.map(
                dict(zip(demo.context.territory_ids, demo.context.territory_names, strict=True))
            ).tolist()
        )
        assert after.astype(float).to_numpy() == pytest.approx(expected.to_numpy())
        assert not after.equals(before)

    def test_moves_survive_a_cadence_change(self, app, demo):
        plan = app.session_state["history"].current
        app.session_state["history"] = app.session_state["history"].push(
            plan.reassign(demo.context.account_ids[:3], "T01", note="test move")
        )
        _open(app, "cadence")
        app.button(key="cad_apply").click().run()
        history = app.session_state["history"]
        assert len(history.current.moves) == 1
        assert history.can_undo
        assert history.current.context is app.session_state["workspace"].context

    def test_back_to_data_visits(self, app, demo):
        _open(app, "cadence")
        app.button(key="cad_apply").click().run()
        app.button(key="cad_reset").click().run()
        after = _territory_table(app)["Workload h/yr"]
        expected = demo.initial_plan.metrics()["workload_hours"]
        assert after.astype(float).to_numpy() == pytest.approx(expected.to_numpy())

    def test_rotation_table(self, app):
        _open(app, "cadence")
        weekly = app.dataframe[-1].value
        assert list(weekly.index) == list(range(1, 14))
        assert weekly["Visits"].max() - weekly["Visits"].min() <= 1


class TestRepsPage:
    def test_accepting_the_swaps_changes_the_territory_reps(self, app, demo):
        _open(app, "reps")
        app.slider(key="reps_w_relationship").set_value(0.0).run()
        app.slider(key="reps_w_proximity").set_value(0.0).run()
        weights = {"relationship": 0.0, "seniority": 1.0, "proximity": 0.0}
        matching = suggest_matching(
            fit_scores(demo.reps, demo.initial_plan, weights)["score"], demo.initial_plan
        )
        changes = matching[matching["changed"]]
        assert len(changes) > 0
        swapped = with_territory_reps(
            demo, dict(zip(changes["territory_id"], changes["suggested_rep"], strict=True))
        )
        expected = swapped.initial_plan.metrics()
        preview = next(d.value for d in app.dataframe if "Travel h after" in d.value.columns)
        assert preview["Travel h after"].to_numpy() == pytest.approx(
            expected.loc[changes["territory_id"], "travel_hours"].to_numpy()
        )
        assert preview["Travel h now"].to_numpy() == pytest.approx(
            demo.initial_plan.metrics().loc[changes["territory_id"], "travel_hours"].to_numpy()
        )
        app.button(key="reps_accept").click().run()
        assert not app.exception
        table = _territory_table(app)
        assert table["Rep"].tolist() == demo.reps["name"].reindex(expected["rep_id"]).tolist()
        assert table["Workload h/yr"].astype(float).to_numpy() == pytest.approx(
            expected["workload_hours"].to_numpy()
        )

    def test_over_capacity_count(self, app, demo):
        from terrmap.playbook.reps import capacity_check

        _open(app, "reps")
        over = (capacity_check(demo.reps, demo.initial_plan)["status"] == "over").sum()
        metric = next(m for m in app.metric if m.label == "Reps over capacity")
        assert metric.value == f"{over} of {len(demo.reps)}"


class TestGoalsPage:
    def test_quotas_add_up_to_the_target(self, app):
        _open(app, "goals")
        app.number_input(key="goals_target_revenue_0").set_value(100_000_000.0).run()
        assert any("$100,000,000" in s.value for s in app.success)
        quotas = app.session_state["territory_quotas"]
        assert sum(quotas.values()) == 100_000_000.0

    def test_growth_method_targets_last_year_plus_growth(self, app, demo):
        from terrmap.playbook.goals import suggested_target

        _open(app, "goals")
        app.selectbox(key="goals_method").set_value("last_year_growth").run()
        app.number_input(key="goals_growth").set_value(10.0).run()
        assert not app.exception
        target = suggested_target(demo.initial_plan.metrics(), "last_year_growth", 0.10)
        assert sum(app.session_state["territory_quotas"].values()) == target


class TestWording:
    """Names, not ids; readable statuses; "—", never "None", for what the data lacks."""

    @staticmethod
    def _cells(frame: pd.DataFrame) -> list[str]:
        return [str(v) for v in frame.to_numpy().ravel()]

    @staticmethod
    def _table(app, column: str) -> pd.DataFrame:
        return next(d.value for d in app.dataframe if column in d.value.columns)

    def test_reps_tables_name_the_reps(self, app, demo):
        from terrmap.playbook.reps import capacity_check

        _open(app, "reps")
        capacity = self._table(app, "Capacity h")
        expected = capacity_check(demo.reps, demo.initial_plan)
        names = demo.reps["name"].astype(str)
        assert capacity.index.name == "Rep"
        assert capacity.index.tolist() == names.reindex(expected.index).tolist()
        statuses = {"over": "Over capacity", "under": "Under-loaded", "ok": "OK"}
        assert capacity["Status"].tolist() == expected["status"].map(statuses).tolist()
        kpis = self._table(app, "Experience (yr)")
        assert kpis.index.tolist() == names.reindex(demo.reps.index).tolist()
        rep_id = re.compile(rf"\b({'|'.join(map(re.escape, demo.reps.index.astype(str)))})\b")
        for number, table in enumerate(app.dataframe):
            frame = table.value
            assert not [c for c in self._cells(frame) if rep_id.search(c)], number
            assert not [c for c in frame.columns if "_" in str(c)], number
        assert not [m for m in app.markdown if "(s)" in m.value]

    def test_goals_kpis_name_the_territories_and_dash_what_is_missing(self, app, demo):
        from terrmap.playbook.goals import allocate, quota_basis, territory_kpis

        _open(app, "goals")
        table = self._table(app, "CLV / CAC")
        metrics = demo.initial_plan.metrics()
        assert table.index.tolist() == [*metrics["name"].astype(str), "Total"]
        target = app.number_input(key="goals_target_revenue_0").value
        quotas = allocate(quota_basis(metrics, "revenue", 0.0), float(round(target)))
        kpis = territory_kpis(demo.accounts, demo.initial_plan, demo.reps, quotas)
        lacking = kpis["nps"].isna()
        assert lacking.any(), "the demo has no NPS answers: the case this test is about"
        assert (table["NPS"].to_numpy()[lacking.to_numpy()] == "—").all()
        cells = self._cells(table)
        assert not [c for c in cells if c in ("None", "nan", "<NA>")]
        assert not [c for c in table.columns if "_" in str(c)]
        assert not any(re.fullmatch(r"T\d\d|total", c) for c in table.index.astype(str))
