"""Scenarios persist across sessions and reloads; Compare shows the core library's figures.

The app runs on a database of its own (``TERRMAP_DB`` in a temporary
folder), seeded from this process with scenarios on the demo data.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from playwright.sync_api import expect

from terrmap.demo import demo_workspace
from terrmap.playbook.compare import compare_plans
from terrmap.store.scenarios import ScenarioStore

from .conftest import ARTIFACTS, goto_page, read_dataframe, run_and_wait, serve_app, wait_for_app
from .test_app_smoke import parse_number


def _moves(n: int) -> str:
    return f"{n} move in this plan" if n == 1 else f"{n} moves in this plan"


pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo():
    return demo_workspace()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, demo):
    """A database with two scenarios on the demo data: (store, plans by name)."""
    store = ScenarioStore(tmp_path_factory.mktemp("db") / "terrmap.sqlite")
    dataset = store.save_dataset(demo)
    ctx = demo.context
    metrics = demo.initial_plan.metrics()
    small, large = metrics["accounts"].idxmin(), metrics["accounts"].idxmax()
    east = demo.initial_plan.reassign(
        demo.initial_plan.members(small)[:6], large, author="Ann", note="six to the largest"
    )
    east = east.reassign(east.members(large)[:2], None, author="Ann", note="two released")
    west = demo.initial_plan.reassign(ctx.account_ids[::97], ctx.territory_ids[0], author="Bo")
    store.save(east, dataset_id=dataset, name="East push", author="Ann", note="first draft")
    store.save(west, dataset_id=dataset, name="West grab", author="Bo")
    return store, {"East push": east, "West grab": west}


@pytest.fixture(scope="module")
def scenario_app(seeded):
    store, _ = seeded
    with serve_app(env={**os.environ, "TERRMAP_DB": str(store.path)}) as url:
        yield url


def _select(page, label: str, option: str) -> None:
    box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True))
    if box.locator("input").first.input_value() == option:
        return  # already chosen: choosing it again would not rerun
    box.click()
    choice = page.get_by_role("option", name=option, exact=True)
    choice.wait_for(state="visible")
    run_and_wait(page, choice.click)
    expect(box.locator("input").first).to_have_value(option)


def _type(page, label: str, text: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(text)
    run_and_wait(page, lambda: field.press("Enter"))


def _click(page, name: str) -> None:
    run_and_wait(page, lambda: page.get_by_role("button", name=name).click())


def _territory_accounts(page) -> dict[str, float]:
    rows = read_dataframe(page.get_by_test_id("stDataFrame").first)
    return {row["Territory"]: parse_number(row["Accounts"]) for row in rows}


def _expected_accounts(plan) -> dict[str, float]:
    metrics = plan.metrics()
    return dict(zip(metrics["name"], metrics["accounts"].astype(float), strict=True))


def _open(page, name: str) -> None:
    goto_page(page, "Scenarios")
    _select(page, "Scenario", name)
    _click(page, "Open scenario")
    expect(page.get_by_test_id("stAlert").filter(has_text=f"Opened “{name}”")).to_be_visible()


class TestSaveReloadOpen:
    def test_saved_scenario_reopens_with_the_same_figures(
        self, scenario_app, page, seeded, browser
    ):
        store, plans = seeded
        east = plans["East push"]
        page.goto(scenario_app)
        wait_for_app(page)
        _open(page, "East push")
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar).to_contain_text(_moves(len(east.moves)))
        expect(sidebar.get_by_role("button", name="Undo")).to_be_enabled()

        # Save it under a new name, as a new user would.
        _type(page, "Your name", "Cy")
        _type(page, "Scenario name", "East push, Cy's copy")
        _click(page, "Save as new scenario")
        expect(page.get_by_test_id("stAlert").filter(has_text="Saved")).to_contain_text("version 1")
        ARTIFACTS.mkdir(exist_ok=True)
        page.set_viewport_size({"width": 1400, "height": 1800})
        page.screenshot(path=str(ARTIFACTS / "scenarios_page.png"))
        page.set_viewport_size({"width": 1400, "height": 900})
        saved = next(s for s in store.list() if s.author == "Cy")
        assert saved.name == "East push, Cy's copy" and saved.n_moves == len(east.moves)

        # Reload: the URL's key restores the working copy (autosaved).
        page.reload()
        wait_for_app(page)
        expect(page.get_by_test_id("stSidebar")).to_contain_text(_moves(len(east.moves)))
        # A new browser session opens the saved scenario: same figures.
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            other = context.new_page()
            other.goto(scenario_app)
            wait_for_app(other)
            expect(other.get_by_test_id("stSidebar")).to_contain_text(_moves(0))
            _open(other, "East push, Cy's copy")
            goto_page(other, "Territories")
            assert _territory_accounts(other) == _expected_accounts(east)
            expect(other.get_by_test_id("stException")).to_have_count(0)
        finally:
            context.close()


class TestCompare:
    def test_scenario_against_baseline(self, scenario_app, page, seeded, demo):
        _, plans = seeded
        east = plans["East push"]
        expected = compare_plans(demo.initial_plan, east, account_names=demo.accounts["name"])
        page.goto(scenario_app)
        wait_for_app(page)
        goto_page(page, "Compare")
        _select(page, "Before", "Baseline (the data set's starting plan)")
        _select(page, "After", "Scenario: East push (v1)")
        _select(page, "Measure", "Accounts")
        expect(page.get_by_test_id("stException")).to_have_count(0)
        metric = page.get_by_test_id("stMetric")
        d = expected.disruption
        expect(metric.filter(has_text="Accounts moved")).to_contain_text(f"{d.accounts_moved:,}")
        expect(metric.filter(has_text="Revenue moved")).to_contain_text(f"${d.revenue_moved:,.0f}")
        expect(metric.filter(has_text="relationships broken")).to_contain_text(
            f"{d.relationships_broken:,}"
        )
        before, after = demo.initial_plan.metrics(), east.metrics()
        expected_change = {
            row["name"]: row["accounts"] - before.loc[territory, "accounts"]
            for territory, row in after.iterrows()
        }
        # The grid's text can trail the canvas by a moment after a rerun: poll.
        for _ in range(20):
            rows = read_dataframe(page.get_by_test_id("stDataFrame").first)
            shown = {row["Territory"]: parse_number(row["Change"]) for row in rows}
            if all(shown.get(name) == change for name, change in expected_change.items()):
                break
            page.wait_for_timeout(500)
        for name, change in expected_change.items():
            assert shown[name] == change, name
        moved = read_dataframe(page.get_by_test_id("stDataFrame").nth(2))
        assert {row["Account"] for row in moved} <= set(expected.moved["name"])
        # The map of the moved accounts is drawn.
        frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]').first
        expect(frame.locator(".leaflet-container")).to_be_visible()
        # Streamlit scrolls inside the page: a tall window shows all of it.
        page.set_viewport_size({"width": 1400, "height": 2400})
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / "compare_page.png"))

    def test_two_maps_ring_the_moved_accounts_on_both(self, scenario_app, page, seeded, demo):
        _, plans = seeded
        east = plans["East push"]
        before_codes, after_codes = demo.initial_plan.codes, east.codes
        moved = np.flatnonzero(before_codes != after_codes)
        assert len(moved) > 0
        page.goto(scenario_app)
        wait_for_app(page)
        goto_page(page, "Compare")
        _select(page, "Before", "Baseline (the data set's starting plan)")
        _select(page, "After", "Scenario: East push (v1)")
        frames = page.locator('iframe[title="streamlit_folium.st_folium"]')
        expect(frames).to_have_count(2)
        for index, codes in ((0, before_codes), (1, after_codes)):
            frame = frames.nth(index).element_handle().content_frame()
            frame.wait_for_function(
                "() => window.terrmap && window.terrmap.map && window.terrmap.map.terrmap"
                " && window.terrmap.map.terrmap.points && window.terrmap.map.terrmap.points._codes"
            )
            shown = frame.evaluate(
                """() => { const p = window.terrmap.map.terrmap.points;
                  const ringed = [];
                  for (let i = 0; i < p._n; i++)
                    if (p._selected && ((p._selected[i >> 3] >> (i & 7)) & 1)) ringed.push(i);
                  return {codes: Array.from(p._codes), ringed: ringed}; }"""
            )
            # Ringed on both maps: exactly the accounts whose territory differs.
            assert shown["ringed"] == moved.tolist(), index
            # Each map colours the accounts by its own plan (0 = unassigned, k + 1 = colour k).
            assert shown["codes"] == [int(c) + 1 if c >= 0 else 0 for c in codes], index
        page.screenshot(path=str(ARTIFACTS / "compare_two_maps.png"))


def _url_key(page) -> str | None:
    return parse_qs(urlsplit(page.url).query).get("wc", [None])[0]


class TestPrivateWorkingCopies:
    def test_a_second_browser_cannot_read_or_adopt_a_working_copy(
        self, scenario_app, page, seeded, browser
    ):
        store, plans = seeded
        east = plans["East push"]
        page.goto(scenario_app)
        wait_for_app(page)
        _open(page, "East push")  # the working copy autosaves, its key goes into the URL
        key = _url_key(page)
        saved = store.autosave_info(key)
        assert saved is not None and saved.n_moves == len(east.moves)
        assert "terrmap_browser" in {cookie["name"] for cookie in page.context.cookies()}

        # Its own browser continues it after a reload.
        page.reload()
        wait_for_app(page)
        # A reload on a busy machine can take longer than the default wait.
        expect(
            page.get_by_test_id("stAlert").filter(has_text="Restored your working copy")
        ).to_be_visible(timeout=90_000)

        context = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            other = context.new_page()
            other.goto(scenario_app)
            wait_for_app(other)
            goto_page(other, "Scenarios")
            # Nothing of the first browser's working copy is in the second one's page.
            markup = other.content()
            assert key not in markup and key.split(".")[0] not in markup
            expect(
                other.get_by_role("button", name="Continue your latest working copy")
            ).to_have_count(0)

            # Even with the link, the second browser works on a copy under its own key.
            other.goto(page.url)
            wait_for_app(other)
            expect(
                other.get_by_test_id("stAlert").filter(has_text="belongs to another browser")
            ).to_be_visible()
            expect(other.get_by_test_id("stSidebar")).to_contain_text(_moves(len(east.moves)))
            run_and_wait(other, lambda: other.get_by_role("button", name="Undo").click())
            expect(other.get_by_test_id("stSidebar")).to_contain_text(_moves(len(east.moves) - 1))
            ARTIFACTS.mkdir(exist_ok=True)
            other.screenshot(path=str(ARTIFACTS / "working_copy_of_another_browser.png"))
            assert _url_key(other) not in (None, key)
            assert store.autosave_info(_url_key(other)).n_moves == len(east.moves) - 1
        finally:
            context.close()
        # The first browser's copy was never written by the second.
        assert store.autosave_info(key) == saved
        page.reload()
        wait_for_app(page)
        expect(page.get_by_test_id("stSidebar")).to_contain_text(_moves(len(east.moves)))
        # A reload on a busy machine can take longer than the default wait.
        expect(
            page.get_by_test_id("stAlert").filter(has_text="Restored your working copy")
        ).to_be_visible(timeout=90_000)
