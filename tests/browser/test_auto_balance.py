"""Auto-balance page in Chromium: propose, read the report, accept in one step, one undo."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import ARTIFACTS, goto_page, read_dataframe, run_and_wait, wait_for_app

pytestmark = pytest.mark.browser


def test_propose_accept_is_one_step_and_one_undo_reverts_it(app_url, page):
    page.goto(app_url)
    wait_for_app(page)
    goto_page(page, "Auto-balance")
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("press Propose")
    sidebar = page.get_by_test_id("stSidebar")
    undo = sidebar.get_by_role("button", name="Undo")
    expect(undo).to_be_disabled()
    expect(sidebar).to_contain_text("0 moves in this plan")

    run_and_wait(page, lambda: main.get_by_role("button", name="Propose").click(), timeout=90_000)
    # The demo is 18x off balance: the page says what it reached and why not more.
    alert = main.get_by_test_id("stAlert").first
    expect(alert).to_contain_text("Best reached")
    expect(alert).to_contain_text("New York Metro")
    for label in ("Team travel (km/yr)", "Farthest account from home (km)", "Accounts moved"):
        expect(main.get_by_test_id("stMetric").filter(has_text=label)).to_have_count(1)
    expect(main.get_by_role("button", name="Rebuild").first).to_be_visible()
    rows = read_dataframe(main.get_by_test_id("stDataFrame").first)
    assert len(rows) == 10
    assert {"Territory", "Revenue Δ mean after %", "Pieces after"} <= set(rows[0])
    assert all(row["Pieces after"] == "1" for row in rows)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "auto_balance_proposal.png"))
    main.get_by_test_id("stMetric").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "auto_balance_report.png"))
    main.get_by_test_id("stDataFrame").first.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)  # let the map iframe paint its points
    page.screenshot(path=str(ARTIFACTS / "auto_balance_table_map.png"))

    main.get_by_text("Trade-off: bands reached against accounts moved").click()
    run_and_wait(page, lambda: main.get_by_role("button", name="Trace it").click(), timeout=120_000)
    chart = main.get_by_test_id("stVegaLiteChart")
    expect(chart).to_be_visible()
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "auto_balance_trade_off.png"))

    run_and_wait(page, lambda: main.get_by_role("button", name="Accept").click())
    expect(main).to_contain_text("in one step")
    expect(undo).to_be_enabled()
    # one accepted proposal = one move in the plan, however many accounts it moved
    expect(sidebar).to_contain_text("1 move in this plan")

    run_and_wait(page, lambda: undo.click())
    expect(sidebar).to_contain_text("0 moves in this plan")
    expect(undo).to_be_disabled()


def test_split_option_is_an_action_that_adds_territories_in_one_step(app_url, page):
    page.goto(app_url)
    wait_for_app(page)
    goto_page(page, "Auto-balance")
    main = page.get_by_test_id("stMain")
    sidebar = page.get_by_test_id("stSidebar")
    run_and_wait(page, lambda: main.get_by_role("button", name="Propose").click(), timeout=90_000)
    split = main.get_by_role("button", name="(split New York Metro)")
    expect(split).to_be_visible()
    run_and_wait(page, lambda: split.click(), timeout=90_000)
    expect(main).to_contain_text("Accept adds them to the data set")
    rows = read_dataframe(main.get_by_test_id("stDataFrame").first)
    names = [row["Territory"] for row in rows]
    assert len(rows) > 10 and "New York Metro 2" in names
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "auto_balance_split.png"), full_page=True)

    run_and_wait(page, lambda: main.get_by_role("button", name="Accept").click())
    expect(main).to_contain_text("in one step")
    expect(sidebar).to_contain_text("1 move in this plan")
    undo = sidebar.get_by_role("button", name="Undo")
    run_and_wait(page, lambda: undo.click())
    expect(sidebar).to_contain_text("0 moves in this plan")
