"""Balance, Rep view and Export pages under ``AppTest`` (no browser; the map is faked)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_pages_apptest import fake_st_folium  # noqa: F401 - fixture

from terrmap.core.balance import balance, composite_measure
from terrmap.playbook.quality import account_quality, territory_quality
from terrmap.playbook.repview import rep_changes, rep_comparison, rep_figures

APP = Path(__file__).resolve().parents[1] / "app.py"
TIMEOUT_S = 60


def _open(page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _plan(at: AppTest):
    return at.session_state["history"].current


@pytest.fixture
def balance_page() -> AppTest:
    return _open("pages/balance.py")


class TestBalancePage:
    def test_headline_figures_are_the_core_balance(self, balance_page):
        metrics = _plan(balance_page).metrics()
        stats = balance(metrics["revenue"], 10)
        assert (
            _metric(balance_page, "Outside the band") == f"{len(stats.outside)} of {len(metrics)}"
        )
        assert _metric(balance_page, "Max / min") == f"{stats.max_over_min:.2f}"
        assert _metric(balance_page, "Variation (CV)") == f"{stats.cv:.2f}"
        assert _metric(balance_page, "Gini") == f"{stats.gini:.2f}"
        flagged = balance_page.error[0].value
        for territory in stats.outside:
            assert metrics.loc[territory, "name"] in flagged

    def test_deviation_from_each_quota_when_quotas_exist(self, balance_page):
        at = balance_page
        table = at.dataframe[0].value
        assert "Δ quota %" not in table.columns
        metrics = _plan(at).metrics()
        first, second = metrics.index[:2]
        at.session_state["territory_quotas"] = {
            first: float(metrics.loc[first, "revenue"]) / 2,  # twice the quota: +100 %
            second: float(metrics.loc[second, "revenue"]),  # on quota: 0 %
        }
        at.run()
        assert not at.exception
        table = at.dataframe[0].value
        assert table.columns[:3].tolist() == ["Rep", "Δ mean %", "Δ quota %"]
        by_name = table["Δ quota %"]
        assert by_name[metrics.loc[first, "name"]] == pytest.approx(100.0)
        assert by_name[metrics.loc[second, "name"]] == pytest.approx(0.0)
        assert by_name.isna().sum() == len(metrics) - 2

    def test_measure_and_band_follow_and_set_the_sidebar(self, balance_page):
        at = balance_page
        at.selectbox(key="balance_page_measure").set_value("net_profit").run()
        at.slider(key="balance_page_tolerance").set_value(40).run()
        assert at.session_state["balance_measure"] == "net_profit"
        assert at.session_state["tolerance_pct"] == 40
        metrics = _plan(at).metrics()
        stats = balance(metrics["net_profit"], 40)
        assert _metric(at, "Outside the band") == f"{len(stats.outside)} of {len(metrics)}"
        # The sidebar's own widgets now show the same and drive the page.
        at.sidebar.slider(key="tolerance_pct").set_value(25).run()
        assert at.slider(key="balance_page_tolerance").value == 25

    def test_weighted_mix(self, balance_page):
        at = balance_page
        at.selectbox(key="balance_page_measure").set_value("__mix__").run()
        at.multiselect(key="balance_mix_measures").set_value(["revenue", "accounts"]).run()
        at.number_input(key="balance_mix_weight_revenue").set_value(3.0).run()
        assert not at.exception
        metrics = _plan(at).metrics()
        mix = composite_measure(metrics, {"revenue": 3.0, "accounts": 1.0})
        stats = balance(mix, 10)
        assert _metric(at, "Gini") == f"{stats.gini:.2f}"
        assert _metric(at, "Max / min") == f"{stats.max_over_min:.2f}"
        assert at.session_state["balance_mix"] == {"revenue": 3.0, "accounts": 1.0}
        # The sidebar keeps its single measure.
        assert at.session_state["balance_measure"] == "revenue"

    def test_quality_tables(self, balance_page):
        at = balance_page
        plan = _plan(at)
        quality = territory_quality(plan.metrics(), 10)
        shown = at.dataframe[1].value
        assert shown.index.tolist() == quality["name"].tolist()
        tiers = {"high": "High", "medium": "Medium", "low": "Low", "no data": "No data"}
        assert shown["Tier"].tolist() == quality["tier"].astype(str).map(tiers).tolist()
        flips = account_quality(plan, at.session_state["workspace"].accounts["name"])
        flips = flips[flips["flip"] != ""]
        accounts = at.dataframe[2].value
        assert len(accounts) == min(len(flips), 1000)
        assert set(accounts["Flip"]) <= {"up", "down"}
        at.toggle(key="balance_only_flips").set_value(False).run()
        everyone = at.dataframe[2].value
        assert len(everyone) == 1000
        assert everyone["Net profit"].is_monotonic_decreasing

    def test_white_space_is_listed(self, balance_page):
        at = balance_page
        plan = _plan(at)
        released = plan.members(plan.context.territory_ids[0])[:3]
        at.session_state["history"] = at.session_state["history"].push(
            plan.reassign(released, None)
        )
        at.run()
        # the demo's white space before the move: accounts in no county (in water)
        before = list(plan.unassigned)
        white = [*before, *released]
        revenue = plan.context.revenue[plan.context.positions(white)].sum()
        assert _metric(at, "Accounts in no territory") == str(len(before) + 3)
        assert _metric(at, "Their revenue") == f"${revenue:,.0f}"
        assert sorted(at.dataframe[-1].value.index) == sorted(white)

    def test_report_button(self, balance_page):
        buttons = balance_page.get("download_button")
        assert len(buttons) == 1


class TestExportPage:
    def test_one_button_per_export(self):
        at = _open("pages/export.py")
        labels = [b.proto.label for b in at.get("download_button")]
        assert labels == [
            "Assignment (CSV)",
            "Territories (GeoJSON)",
            "Territories (GeoPackage)",
            "Workbook (Excel)",
            "Leadership report (HTML)",
            "Salesforce files (ZIP)",
        ]

    def test_crm_target_switches_the_write_back_files(self):
        at = _open("pages/export.py")
        at.radio(key="crm_target").set_value("hubspot").run()
        assert at.get("download_button")[-1].proto.label == "HubSpot files (ZIP)"
        assert not at.main.text_input  # the Salesforce ids are for Salesforce only

    def test_malformed_salesforce_id_disables_the_download(self):
        at = _open("pages/export.py")
        at.text_input(key="crm_sf_model_id").input("0MA nope").run()
        assert [e.value for e in at.error] == [
            "0MA nope is not a Salesforce id (15 or 18 letters and digits)."
        ]
        assert at.get("download_button")[-1].proto.disabled
        at.text_input(key="crm_sf_model_id").input("0MA5g000000CaFeGAK").run()
        assert not at.error
        assert not at.get("download_button")[-1].proto.disabled


class TestRepView:
    def test_figures_map_and_accounts_of_one_rep(self, fake_st_folium):  # noqa: F811
        at = _open("pages/rep_view.py")
        plan = _plan(at)
        rep_id = rep_figures(plan).index[2]
        at.selectbox(key="rep_view_rep").set_value(rep_id).run()
        assert not at.exception
        name = at.session_state["workspace"].reps["name"][rep_id]
        # The name alone: "Ana Ortiz", not "Ana Ortiz (R03)" nor "Ana Ortiz (Ana Ortiz)".
        assert at.selectbox(key="rep_view_rep").format_func(rep_id) == name
        comparison = rep_comparison(plan, rep_id)
        assert _metric(at, "Accounts") == f"{comparison.loc['accounts', 'rep']:,.0f}"
        assert _metric(at, "Revenue") == f"${comparison.loc['revenue', 'rep']:,.0f}"
        # No peer comparison in front of colleagues unless asked.
        assert not next(m for m in at.metric if m.label == "Revenue").proto.delta
        assert "Against the team mean" not in [h.value for h in at.subheader]
        at.toggle(key="rep_view_peers").set_value(True).run()
        revenue_delta = next(m for m in at.metric if m.label == "Revenue").proto.delta
        pct = comparison.loc["revenue", "vs_mean_pct"]
        assert revenue_delta == f"{'+' if round(pct) > 0 else ''}{pct:.0f}% vs team mean"
        assert "Against the team mean" in [h.value for h in at.subheader]
        held = [
            t
            for t, r in zip(plan.context.territory_ids, plan.context.territory_reps, strict=True)
            if r == rep_id
        ]
        members = plan.assignment[plan.assignment.isin(held)].index
        accounts = at.dataframe[-1].value
        assert len(accounts) == len(members)
        assert accounts["Net profit"].is_monotonic_decreasing
        call = fake_st_folium.calls[-1]
        assert call["key"] == f"rep_map_{rep_id}"
        html = call["fig"].get_root().render()
        assert re.search(rf'"n":\s*{len(members)}\b', html)
        (update,) = call["feature_group_to_add"]._children.values()
        legend = json.loads(update.payload)["legend"]
        names = dict(zip(plan.context.territory_ids, plan.context.territory_names, strict=True))
        assert [entry["html"] for entry in legend] == [names[t] for t in held]

    def test_what_changed_capacity_and_presentation(self, fake_st_folium):  # noqa: F811
        at = _open("pages/rep_view.py")
        plan = _plan(at)
        util = rep_figures(plan)["utilisation"]
        over = util.idxmax()
        assert util[over] > 1  # the demo's New York rep carries far too much
        at.selectbox(key="rep_view_rep").set_value(over).run()
        assert any("Over capacity" in e.value for e in at.error)
        held = plan.context.territory_ids[plan.context.territory_reps == over][0]
        other = next(t for t in plan.context.territory_ids if t != held)
        moved = plan.reassign(plan.members(other)[:3], held)
        at.session_state["history"] = at.session_state["history"].push(moved)
        at.run()
        assert not at.exception
        expected = rep_changes(plan, moved, over)
        assert len(expected) == 3
        gained = next(m for m in at.metric if m.label == "Gained")
        assert gained.value == "3 accounts"
        shown = at.dataframe[0].value
        assert len(shown) == 3 and set(shown["Change"]) == {"Gained"}
        assert at.title  # the page title shows outside presentation mode
        at.toggle(key="rep_view_present").set_value(True).run()
        assert not at.exception
        assert not at.title
        css = " ".join(str(h.proto) for h in at.get("html"))
        assert "stSidebar" in css and "display: none" in css

    def test_no_reps(self, fake_st_folium, monkeypatch):  # noqa: F811
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
        at.run()
        ws = at.session_state["workspace"]
        from terrmap.geo.workspace import build_workspace

        bare = build_workspace(
            ws.accounts, ws.territories.assign(rep_id=pd.NA), None, name="No reps"
        )
        from terrmap.core.plan import History

        at.session_state["workspace"] = bare
        at.session_state["history"] = History.start(bare.initial_plan)
        at.switch_page("pages/rep_view.py").run()
        assert not at.exception
        assert "No territory has a rep" in at.info[0].value

    def test_rep_without_capacity_has_no_utilisation(self, fake_st_folium):  # noqa: F811
        from terrmap.core.plan import History
        from terrmap.geo.workspace import build_workspace

        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
        at.run()
        ws = at.session_state["workspace"]
        reps = ws.reps.copy()
        rep_id = str(ws.context.territory_reps[0])
        reps.loc[rep_id, "capacity_hours"] = 0.0
        zero = build_workspace(ws.accounts, ws.territories, reps, name="Zero capacity")
        at.session_state["workspace"] = zero
        at.session_state["history"] = History.start(zero.initial_plan)
        at.switch_page("pages/rep_view.py").run()
        at.selectbox(key="rep_view_rep").set_value(rep_id).run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("capacity unknown or zero" in c.value for c in at.caption)


class TestNamesFromData:
    EVIL = "**Evil** <script>alert(1)</script> [x](http://example.com)"

    def _hostile(self) -> AppTest:
        from terrmap.core.plan import History
        from terrmap.geo.workspace import build_workspace
        from terrmap.io.importing import escape_markdown

        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
        at.run()
        ws = at.session_state["workspace"]
        territories = ws.territories.copy()
        territories.loc["T01", "name"] = self.EVIL
        reps = ws.reps.copy()
        reps.loc["R01", "name"] = self.EVIL
        hostile = build_workspace(ws.accounts, territories, reps, name="Hostile")
        at.session_state["workspace"] = hostile
        at.session_state["history"] = History.start(hostile.initial_plan)
        return at, escape_markdown(self.EVIL)

    def test_balance_page_escapes_territory_names(self):
        at, escaped = self._hostile()
        at.switch_page("pages/balance.py").run()
        assert not at.exception
        assert escaped in at.error[0].value
        assert self.EVIL not in at.error[0].value

    def test_rep_view_escapes_rep_and_territory_names(self, fake_st_folium):  # noqa: F811
        at, escaped = self._hostile()
        at.switch_page("pages/rep_view.py").run()
        at.selectbox(key="rep_view_rep").set_value("R01").run()
        assert not at.exception
        assert at.header[0].value == escaped
        assert escaped in at.caption[0].value
