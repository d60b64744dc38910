"""Reps, Goals and Visit cadence pages in the browser, and their effect on Territories."""

from __future__ import annotations

import pandas as pd
import pytest
from playwright.sync_api import expect

from terrmap.demo import demo_workspace
from terrmap.geo.workspace import with_territory_reps, with_visits
from terrmap.playbook.cadence import tier_accounts, visits_per_year
from terrmap.playbook.reps import capacity_check, fit_scores, suggest_matching

from .conftest import ARTIFACTS, goto_page, read_dataframe, run_and_wait, wait_for_app
from .test_app_smoke import parse_number

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo():
    return demo_workspace()


def _open(page, app_url, title):
    page.goto(app_url)
    wait_for_app(page)
    goto_page(page, title)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def _screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _territory_column(page, column):
    goto_page(page, "Territories")
    rows = read_dataframe(page.get_by_test_id("stDataFrame").first)
    return {row["Territory"]: parse_number(row[column]) for row in rows}


def _set_number(page, label, value):
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    run_and_wait(page, lambda: box.press("Enter"))


class TestCadencePage:
    def test_tier_cadence_changes_workload_on_territories(self, app_url, page, demo):
        page.goto(app_url)
        wait_for_app(page)
        before = _territory_column(page, "Workload h/yr")
        goto_page(page, "Visit cadence")
        expect(page.get_by_role("heading", name="Visit cadence")).to_be_visible()
        expect(page.get_by_text("In force: the visits a year from the data.")).to_be_visible()
        _set_number(page, "Tier A visits a year", 24)
        run_and_wait(
            page, lambda: page.get_by_role("button", name="Apply cadence to the plan").click()
        )
        expect(page.get_by_text("In force: tier cadence A 24/yr")).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)
        _screenshot(page, "cadence_page.png")

        after = _territory_column(page, "Workload h/yr")
        net_profit = pd.Series(
            demo.context.revenue - demo.context.cost, index=demo.context.account_ids
        )
        visits = visits_per_year(tier_accounts(net_profit), {"A": 24.0, "B": 4.0, "C": 2.0})
        expected = with_visits(demo, visits).initial_plan.metrics()
        for _, row in expected.iterrows():
            assert after[row["name"]] == pytest.approx(row["workload_hours"], abs=0.01)
            assert after[row["name"]] != pytest.approx(before[row["name"]], abs=0.01)
        # The map editor draws the rebuilt data set as well.
        goto_page(page, "Map editor")
        expect(page.get_by_test_id("stException")).to_have_count(0)

    def test_rotation_for_a_quarter(self, app_url, page):
        _open(page, app_url, "Visit cadence")
        tables = page.get_by_test_id("stDataFrame")
        rows = read_dataframe(tables.last)
        visits = [parse_number(row["Visits"]) for row in rows]
        # Only the rows scrolled into view are in the page: weeks 1, 2, ... in order.
        weeks = [parse_number(row["Week"]) for row in rows]
        assert weeks == list(range(1, len(weeks) + 1)) and len(weeks) >= 10
        assert max(visits) - min(visits) <= 1
        expect(page.get_by_text("visits due in Q1")).to_be_visible()


class TestRepsPage:
    def test_capacity_flags_and_accepting_swaps(self, app_url, page, demo):
        _open(page, app_url, "Reps")
        expect(page.get_by_role("heading", name="Reps", exact=True)).to_be_visible()
        check = capacity_check(demo.reps, demo.initial_plan)
        over = int((check["status"] == "over").sum())
        expect(
            page.get_by_test_id("stMetric").filter(has_text="Reps over capacity")
        ).to_contain_text(f"{over} of {len(check)}")
        expect(page.get_by_text("The current reps are already the best match")).to_be_visible()
        _screenshot(page, "reps_page.png")

        for part in ("relationship", "proximity"):
            slider = page.get_by_test_id("stSlider").filter(has_text=f"Weight: {part}")
            thumb = slider.get_by_role("slider")
            run_and_wait(page, lambda thumb=thumb: thumb.press("Home"))
        weights = {"relationship": 0.0, "seniority": 1.0, "proximity": 0.0}
        matching = suggest_matching(
            fit_scores(demo.reps, demo.initial_plan, weights)["score"], demo.initial_plan
        )
        changes = matching[matching["changed"]]
        expect(
            page.get_by_text(
                f"Swapping {len(changes)} {'territory' if len(changes) == 1 else 'territories'}"
            )
        ).to_be_visible()
        _screenshot(page, "reps_page_suggestions.png")
        run_and_wait(
            page, lambda: page.get_by_role("button", name="Accept the suggested rep swaps").click()
        )
        expect(page.get_by_text(f"Rep swaps in force on {len(changes)}")).to_be_visible()

        shown = _territory_column(page, "Workload h/yr")
        swapped = with_territory_reps(
            demo, dict(zip(changes["territory_id"], changes["suggested_rep"], strict=True))
        ).initial_plan.metrics()
        for _, row in swapped.iterrows():
            assert shown[row["name"]] == pytest.approx(row["workload_hours"], abs=0.01)
        rows = read_dataframe(page.get_by_test_id("stDataFrame").first)
        rep_names = demo.reps["name"].astype(str)
        assert {r["Territory"]: r["Rep"] for r in rows} == dict(
            zip(swapped["name"], rep_names.reindex(swapped["rep_id"]).tolist(), strict=True)
        )


class TestGoalsPage:
    def test_quotas_add_up_and_notes_are_kept(self, app_url, page, demo):
        _open(page, app_url, "Goals")
        expect(page.get_by_role("heading", name="Goals", exact=True)).to_be_visible()
        _set_number(page, "Company target ($)", 100000000)
        expect(
            page.get_by_text("Quotas add up to the company target: $100,000,000.")
        ).to_be_visible()
        kpis = read_dataframe(page.get_by_test_id("stDataFrame").nth(1))
        assert kpis[-1]["Territory"] == "Total"
        # Only the columns in view are in the page: check the first ones.
        metrics = demo.initial_plan.metrics()
        assert parse_number(kpis[-1]["Revenue"]) == pytest.approx(metrics["revenue"].sum())
        assert [row["Territory"] for row in kpis[:-1]] == metrics["name"].tolist()

        notes = page.get_by_test_id("stDataFrame").last
        notes.scroll_into_view_if_needed()
        box = notes.bounding_box()
        # First data row of the Note column (the wide last column).
        page.mouse.dblclick(box["x"] + box["width"] - 80, box["y"] + 35 + 17)
        editor = page.locator("textarea").last  # the grid's cell editor
        editor.wait_for(state="visible")
        editor.fill("Grow brand loyalty <b>north</b>")
        run_and_wait(page, lambda: page.keyboard.press("Enter"))
        _screenshot(page, "goals_page.png")

        goto_page(page, "Territories")
        goto_page(page, "Goals")
        rows = read_dataframe(page.get_by_test_id("stDataFrame").last)
        assert rows[0]["Note"] == "Grow brand loyalty <b>north</b>"
