"""Auto-balance page in Chromium: propose, read before/after, accept, undo."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import ARTIFACTS, goto_page, read_dataframe, run_and_wait, wait_for_app

pytestmark = pytest.mark.browser


def test_propose_accept_undo(app_url, page):
    page.goto(app_url)
    wait_for_app(page)
    goto_page(page, "Auto-balance")
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("press Propose")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("button", name="Undo")).to_be_disabled()

    run_and_wait(page, lambda: main.get_by_role("button", name="Propose").click(), timeout=90_000)
    expect(main.get_by_test_id("stAlert").first).to_contain_text("within ±5% of the mean Revenue")
    table = main.get_by_test_id("stDataFrame").first
    rows = read_dataframe(table)
    assert len(rows) >= 2
    header = set(rows[0])
    assert {"Before", "After", "Δ mean after %"} <= header
    assert all(abs(float(row["Δ mean after %"])) <= 5.0 + 1e-6 for row in rows)
    # The map and the trade-off chart are drawn.
    expect(main.locator("iframe").first).to_be_visible()
    expect(main.get_by_test_id("stVegaLiteChart")).to_have_count(1)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "auto_balance_proposal.png"))
    main.get_by_test_id("stVegaLiteChart").scroll_into_view_if_needed()
    page.wait_for_timeout(1500)  # let the map iframe paint its points
    page.screenshot(path=str(ARTIFACTS / "auto_balance_map_curve.png"))

    run_and_wait(page, lambda: main.get_by_role("button", name="Accept").click())
    expect(main).to_contain_text("Accepted:")
    expect(sidebar.get_by_role("button", name="Undo")).to_be_enabled()
    expect(sidebar).not_to_contain_text("0 move(s) in this plan")

    run_and_wait(page, lambda: sidebar.get_by_role("button", name="Undo").click())
    expect(sidebar).to_contain_text("0 move(s) in this plan")
    expect(sidebar.get_by_role("button", name="Undo")).to_be_disabled()
