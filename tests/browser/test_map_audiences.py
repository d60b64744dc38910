"""The map editor for a manager at the map, in Chromium at 1280x720 and 1400x900.

Where "Hand them to" starts and when it asks before a move, account search,
filters, keyboard shortcuts, hover tooltips, labels that do not collide and the
full-screen control. Expectations come from the core (:mod:`terrmap.geo.handoff`,
:mod:`terrmap.geo.selection`, the demo data), never from the page itself.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from playwright.sync_api import expect

from terrmap.core.formatting import money
from terrmap.core.schema import UNASSIGNED_LABEL
from terrmap.core.travel import haversine_km
from terrmap.geo.handoff import suggest_target

from .conftest import ARTIFACTS, run_and_wait
from .test_map_editor import (
    assert_table_matches,
    confirm_if_asked,
    draw_rectangle,
    drawn_shape,
    expected_selection,
    home_of,
    lone_account,
    open_map,
    selection_count,
)

pytestmark = pytest.mark.browser

SIZES = [pytest.param((1280, 720), id="1280x720"), pytest.param((1400, 900), id="1400x900")]


@pytest.fixture(scope="module")
def demo():
    from terrmap.demo import demo_workspace

    return demo_workspace()


@pytest.fixture(params=SIZES)
def sized_page(page, request):
    width, height = request.param
    page.set_viewport_size({"width": width, "height": height})
    page.size_id = f"{width}x{height}"
    return page


#: Texts of the main area's widgets that CSS cuts short with an ellipsis.
CUT_LABELS = """() => {
  const widgets = '[data-testid="stWidgetLabel"], [data-testid="stButton"], '
    + '[data-testid="stCheckbox"], [data-testid="stButtonGroup"], [data-testid="stSelectbox"], '
    + '[data-testid="stMetric"], [data-testid="stPopover"]';
  const cut = [];
  for (const widget of document.querySelectorAll('[data-testid="stMain"] ' + widgets.replaceAll(', ', ', [data-testid="stMain"] '))) {
    for (const e of [widget, ...widget.querySelectorAll('*')]) {
      const style = getComputedStyle(e);
      if (style.textOverflow === 'ellipsis' && e.scrollWidth > e.clientWidth + 1 && e.textContent.trim())
        cut.push(e.textContent.trim());
    }
  }
  return [...new Set(cut)];
}"""


def target_box(page):
    return page.get_by_test_id("stSelectbox").filter(has_text="Hand them to")


def reassign_button(page):
    return page.get_by_role("button", name="Reassign")


def select_around_home(page, frame, demo, territory_id, half_lat=0.15, half_lon=0.2):
    lat, lon = home_of(demo, territory_id)
    frame.evaluate(
        "([lat, lon]) => window.terrmap.map.setView([lat, lon], 9, {animate: false})", [lat, lon]
    )
    draw_rectangle(page, frame, lat - half_lat, lon - half_lon, lat + half_lat, lon + half_lon)
    return expected_selection(demo, drawn_shape(frame))


class TestHandThemTo:
    def test_defaults_to_the_bordering_territory_then_asks_before_a_far_move(
        self, app_url, sized_page, demo
    ):
        page = sized_page
        frame = open_map(page, app_url)
        ctx = demo.context
        new_york = ctx.territory_ids[list(ctx.territory_names).index("New York Metro")]
        picked = select_around_home(page, frame, demo, new_york)
        assert selection_count(page) == len(picked)
        plan = demo.initial_plan
        suggestion = suggest_target(plan, ctx.positions(picked))
        names = dict(zip(ctx.territory_ids, ctx.territory_names, strict=True))
        chosen = page.get_by_role("combobox", name="Hand them to")
        expect(chosen).to_have_value(names[suggestion.territory_id])
        # Never blindly the first territory (Burlington Area, 400 km away).
        assert suggestion.territory_id != ctx.territory_ids[0]
        expect(page.get_by_text("Suggested:")).to_be_visible()
        expect(reassign_button(page)).to_be_enabled()
        page.screenshot(path=str(ARTIFACTS / f"map_target_default_{page.size_id}.png"))

        # The territory whose home is farthest from New York: a careless click.
        ny = ctx.territory_code(new_york)
        far = int(
            np.nanargmax(
                haversine_km(ctx.home_lon[ny], ctx.home_lat[ny], ctx.home_lon, ctx.home_lat)
            )
        )
        target_box(page).click()
        run_and_wait(
            page, lambda: page.get_by_role("option", name=ctx.territory_names[far]).click()
        )
        expect(page.get_by_text(re.compile(r"km from .*home base"))).to_be_visible()
        expect(reassign_button(page)).to_be_disabled()
        page.screenshot(path=str(ARTIFACTS / f"map_confirm_far_{page.size_id}.png"))
        confirm = page.get_by_test_id("stCheckbox").filter(has_text="Yes, hand them over")
        run_and_wait(page, lambda: confirm.locator("label").click())
        expect(reassign_button(page)).to_be_enabled()
        run_and_wait(page, lambda: reassign_button(page).click())
        assert_table_matches(page, plan.reassign(picked, ctx.territory_ids[far]).metrics())

    def test_the_panel_fits_the_first_screen(self, app_url, sized_page, demo):
        """Hand them to, the far-move confirmation and both buttons: on screen, not cut."""
        page = sized_page
        width, height = page.viewport_size["width"], page.viewport_size["height"]
        frame = open_map(page, app_url)
        ctx = demo.context
        new_york = ctx.territory_ids[list(ctx.territory_names).index("New York Metro")]
        picked = select_around_home(page, frame, demo, new_york)
        assert selection_count(page) == len(picked)
        # The tallest panel: a far target adds the warning and its confirmation.
        ny = ctx.territory_code(new_york)
        far = int(
            np.nanargmax(
                haversine_km(ctx.home_lon[ny], ctx.home_lat[ny], ctx.home_lon, ctx.home_lat)
            )
        )
        target_box(page).click()
        run_and_wait(
            page, lambda: page.get_by_role("option", name=ctx.territory_names[far]).click()
        )
        confirm = page.get_by_test_id("stCheckbox").filter(has_text="Yes, hand them over")
        expect(confirm).to_be_visible()
        page.evaluate(
            "() => { window.scrollTo(0, 0);"
            " for (const e of document.querySelectorAll('*')) if (e.scrollTop) e.scrollTop = 0; }"
        )
        parts = {
            "Hand them to": target_box(page),
            "the confirmation": confirm,
            "Reassign": reassign_button(page),
            "Clear selection": page.get_by_role("button", name="Clear selection"),
        }
        for what, locator in parts.items():
            box = locator.bounding_box()
            assert box is not None, what
            inside = (
                box["x"] >= 0
                and box["y"] >= 0
                and box["x"] + box["width"] <= width
                and box["y"] + box["height"] <= height
            )
            assert inside, f"{what} is not fully on the {width}x{height} screen: {box}"
        for label in ("Reassign", "Clear selection"):
            cut = page.get_by_role("button", name=label).evaluate(
                "(b) => Array.from(b.querySelectorAll('*')).some("
                "(e) => e.scrollWidth > e.clientWidth + 1)"
            )
            assert not cut, f"the {label} button's label is cut off"
        column = page.get_by_test_id("stColumn").filter(has=target_box(page)).last
        box = column.bounding_box()
        assert box["x"] + box["width"] <= width
        # No label of the page's controls is cut short with an ellipsis (the map's
        # toolbar, the toggles under it, the panel).
        cut = page.evaluate(CUT_LABELS)
        assert cut == [], f"labels cut off at {width}x{height}: {cut}"
        page.screenshot(path=str(ARTIFACTS / f"map_panel_{page.size_id}.png"))


class TestSearchAndFilters:
    def test_search_centres_on_and_selects_the_account(self, app_url, sized_page, demo):
        page = sized_page
        frame = open_map(page, app_url)
        ctx = demo.context
        i = lone_account(demo)
        name = str(demo.accounts["name"].iloc[i])
        box = page.get_by_role("textbox", name="Find an account")
        box.fill(name)
        run_and_wait(page, lambda: box.press("Enter"))
        assert selection_count(page) == 1
        code = int(demo.initial_plan.codes[i])
        home = ctx.territory_names[code] if code >= 0 else UNASSIGNED_LABEL
        expect(page.get_by_text(f"From {home}: 1 account")).to_be_visible()
        frame.wait_for_function(
            "([lat, lon]) => { const c = window.terrmap.map.getCenter();"
            " return Math.abs(c.lat - lat) < 1e-3 && Math.abs(c.lng - lon) < 1e-3; }",
            arg=[float(ctx.lat[i]), float(ctx.lon[i])],
        )
        assert frame.evaluate("() => window.terrmap.map.getZoom()") >= 11
        page.screenshot(path=str(ARTIFACTS / f"map_search_{page.size_id}.png"))

    def test_a_filter_dims_the_others_and_restricts_selection(self, app_url, sized_page, demo):
        page = sized_page
        frame = open_map(page, app_url)
        ctx = demo.context
        segment = demo.accounts["segment"].astype(str).to_numpy()
        page.get_by_role("button", name="Filters").click()
        seg = page.get_by_test_id("stMultiSelect").filter(has_text="Segment")
        seg.click()
        run_and_wait(page, lambda: page.get_by_role("option", name="Enterprise").click())
        page.keyboard.press("Escape")
        expect(page.get_by_text(re.compile(r"Filters show [\d,]+ accounts of"))).to_be_visible()
        dimmed = frame.evaluate(
            "() => { const p = window.terrmap.map.terrmap.points; let n = 0;"
            " for (let i = 0; i < p._n; i++) { if (p.isDimmed(i)) n++; } return n; }"
        )
        assert dimmed == int((segment != "Enterprise").sum())
        boston = ctx.territory_ids[list(ctx.territory_names).index("Boston Metro")]
        picked = select_around_home(page, frame, demo, boston, 0.3, 0.4)
        in_box = ctx.positions(picked)
        expected = int((segment[in_box] == "Enterprise").sum())
        assert 0 < expected < len(in_box)
        assert selection_count(page) == expected
        page.screenshot(path=str(ARTIFACTS / f"map_filter_{page.size_id}.png"))


class TestShortcuts:
    def test_undo_redo_and_escape(self, app_url, sized_page, demo):
        page = sized_page
        frame = open_map(page, app_url)
        ctx = demo.context
        plan = demo.initial_plan
        boston = ctx.territory_ids[list(ctx.territory_names).index("Boston Metro")]
        picked = select_around_home(page, frame, demo, boston)
        target = suggest_target(plan, ctx.positions(picked)).territory_id
        confirm_if_asked(page)
        run_and_wait(page, lambda: reassign_button(page).click())
        moved = plan.reassign(picked, target)
        assert_table_matches(page, moved.metrics())

        page.get_by_role("heading", name="Map editor").click()  # focus the page, not a field
        run_and_wait(page, lambda: page.keyboard.press("Control+z"))
        assert_table_matches(page, plan.metrics())
        run_and_wait(page, lambda: page.keyboard.press("Control+Shift+z"))
        assert_table_matches(page, moved.metrics())
        # Pressed while the map has the focus: the map passes it on to the page.
        frame.locator(".leaflet-container").focus()
        run_and_wait(page, lambda: frame.locator(".leaflet-container").press("Control+z"))
        assert_table_matches(page, plan.metrics())

        select_around_home(page, frame, demo, boston)
        expect(page.get_by_role("heading", name=re.compile(r"Selection: "))).to_be_visible()
        page.get_by_role("heading", name="Map editor").click()
        run_and_wait(page, lambda: page.keyboard.press("Escape"))
        expect(page.get_by_role("heading", name="Selection", exact=True)).to_be_visible()


class TestMapReadability:
    def test_labels_do_not_overlap_and_hover_tells_about_the_account(
        self, app_url, sized_page, demo
    ):
        page = sized_page
        frame = open_map(page, app_url)
        boxes = frame.evaluate(
            "() => [...document.querySelectorAll('.terrmap-label span')]"
            ".filter(s => s.style.visibility !== 'hidden')"
            ".map(s => { const r = s.getBoundingClientRect();"
            " return [r.left, r.top, r.right, r.bottom]; })"
        )
        assert len(boxes) >= 3
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                l1, t1, r1, b1 = boxes[a]
                l2, t2, r2, b2 = boxes[b]
                assert r1 <= l2 or r2 <= l1 or b1 <= t2 or b2 <= t1, (boxes[a], boxes[b])
        frame.evaluate("() => window.terrmap.map.setZoom(window.terrmap.map.getZoom() + 2)")
        frame.wait_for_timeout(300)
        shown_zoomed = frame.evaluate(
            "() => [...document.querySelectorAll('.terrmap-label span')]"
            ".filter(s => s.style.visibility !== 'hidden').length"
        )
        assert shown_zoomed >= 1

        ctx = demo.context
        i = lone_account(demo)
        frame.evaluate(
            "([lat, lon]) => window.terrmap.map.setView([lat, lon], 13, {animate: false})",
            [float(ctx.lat[i]), float(ctx.lon[i])],
        )
        box = page.locator('iframe[title="streamlit_folium.st_folium"]').bounding_box()
        x, y = frame.evaluate(
            "([lat, lon]) => { const p = window.terrmap.map.latLngToContainerPoint([lat, lon]);"
            " return [p.x, p.y]; }",
            [float(ctx.lat[i]), float(ctx.lon[i])],
        )
        tip = frame.locator(".terrmap-hover")
        for dx in (3, 1, 0):  # the first move loads the texts; the next ones show them
            page.mouse.move(box["x"] + x + dx, box["y"] + y)
            page.wait_for_timeout(300)
        expect(tip).to_contain_text(str(demo.accounts["name"].iloc[i]))
        expect(tip).to_contain_text(money(ctx.revenue[i]))
        code = int(demo.initial_plan.codes[i])
        rep = demo.reps["name"].get(ctx.territory_reps[code]) if code >= 0 else None
        if rep is not None:
            expect(tip).to_contain_text(str(rep))
        page.screenshot(path=str(ARTIFACTS / f"map_hover_{page.size_id}.png"))

    def test_full_screen_legend_fold_and_point_sizes(self, app_url, sized_page, demo):
        page = sized_page
        frame = open_map(page, app_url)
        legend = frame.locator(".terrmap-legend")
        expect(legend).to_contain_text("(unassigned)")
        is_open = "() => document.querySelector('.terrmap-legend details').open"
        before = frame.evaluate(is_open)
        legend.locator("summary").click()
        assert frame.evaluate(is_open) != before

        # Sizing points by revenue redraws the map; the legend stays as folded.
        size = page.get_by_test_id("stSelectbox").filter(has_text="Size points by")
        size.click()
        run_and_wait(page, lambda: page.get_by_role("option", name="Revenue").click())
        frame.wait_for_function("() => window.terrmap.map.terrmap.points._sizes !== null")
        assert frame.evaluate(is_open) != before
        revenue = demo.context.revenue
        largest, smallest = int(np.argmax(revenue)), int(np.argmin(revenue))
        classes = frame.evaluate(
            "(ps) => ps.map(i => window.terrmap.map.terrmap.points._sizes[i])", [largest, smallest]
        )
        assert classes == [3, 0]
        page.screenshot(path=str(ARTIFACTS / f"map_sized_{page.size_id}.png"))

        control = frame.locator(".terrmap-fullscreen a")
        expect(control).to_be_visible()
        control.click()
        frame.wait_for_function("() => !!document.fullscreenElement")
        frame.wait_for_function("() => window.terrmap.map.getSize().y >= window.innerHeight - 2")
        page.screenshot(path=str(ARTIFACTS / f"map_fullscreen_{page.size_id}.png"))
        control.click()
        frame.wait_for_function("() => !document.fullscreenElement")
