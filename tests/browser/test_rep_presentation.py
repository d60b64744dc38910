"""The rep view on a projector, in Chromium at 1280x720 and 1400x900."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import ARTIFACTS, goto_page, run_and_wait, wait_for_app

pytestmark = pytest.mark.browser

IFRAME = 'iframe[title="streamlit_folium.st_folium"]'


@pytest.mark.parametrize("size", [(1280, 720), (1400, 900)], ids=["1280x720", "1400x900"])
def test_presentation_mode_fits_the_screen(app_url, page, size):
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    page.goto(app_url)
    wait_for_app(page)
    goto_page(page, "Rep view")
    expect(page.get_by_test_id("stSidebar")).to_be_visible()
    expect(page.get_by_role("button", name="Undo")).to_be_visible()
    # Peer comparison is off until asked for.
    expect(page.get_by_text("vs team mean")).to_have_count(0)
    size_before = page.get_by_test_id("stMetricValue").first.evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)"
    )

    toggle = page.get_by_test_id("stCheckbox").filter(has_text="Presentation mode")
    run_and_wait(page, lambda: toggle.locator("label").click())
    expect(page.get_by_test_id("stSidebar")).to_be_hidden()
    expect(page.get_by_role("button", name="Undo")).to_be_hidden()
    page.wait_for_selector(IFRAME)
    box = page.locator(IFRAME).bounding_box()
    assert box["y"] + box["height"] * 0.6 <= height, box  # the map is above the fold
    size_after = page.get_by_test_id("stMetricValue").first.evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)"
    )
    assert size_after > size_before
    page.screenshot(path=str(ARTIFACTS / f"rep_presentation_{width}x{height}.png"))
