"""The app starts on the demo data and its tables show the core library's figures."""

from __future__ import annotations

import math
import re

import pytest
from playwright.sync_api import expect

from terrmap.core.balance import balance
from terrmap.demo import demo_workspace

from .conftest import ARTIFACTS, goto_page, read_dataframe, wait_for_app

pytestmark = pytest.mark.browser

NAV_TITLES = (
    "Map editor",
    "Territories",
    "Import",
    "Balance",
    "Rep view",
    "Export",
    "Reps",
    "Goals",
    "Visit cadence",
    "Auto-balance",
    "Scenarios",
    "Compare",
    "Review",
    "Audit",
)


@pytest.fixture(scope="module")
def demo():
    return demo_workspace()


def parse_number(text: str) -> float:
    """``"$1,234,567"``, ``"-5.2%"``, ``"1234567.0"`` -> float; ``"–"`` -> nan."""
    cleaned = text.strip().replace("\u2212", "-").replace(",", "").replace("$", "")
    if cleaned in ("", "–", "-", "None", "nan", "<NA>"):
        return math.nan
    if cleaned.endswith("%"):
        return float(cleaned[:-1]) / 100
    return float(cleaned)


class TestParseNumber:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [("$1,234,567", 1_234_567.0), ("8628769", 8_628_769.0), ("61.1%", 0.611), (" −3 ", -3.0)],
    )
    def test_parses(self, text, expected):
        assert parse_number(text) == pytest.approx(expected)

    def test_dash_is_missing(self):
        assert math.isnan(parse_number("–"))


class TestStartup:
    def test_demo_data_loads_without_user_action(self, app_url, page, demo):
        page.goto(app_url)
        wait_for_app(page)
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar).to_contain_text("Demo data")
        expect(sidebar).to_contain_text(f"{demo.context.n_accounts:,} accounts")
        expect(sidebar).to_contain_text(f"{demo.context.n_territories} territories")
        for title in NAV_TITLES:
            expect(
                page.get_by_test_id("stSidebarNavLink").filter(
                    has_text=re.compile(rf"^\s*{re.escape(title)}\s*$")
                )
            ).to_have_count(1)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        # Nothing to undo yet.
        expect(sidebar.get_by_role("button", name="Undo")).to_be_disabled()
        expect(sidebar.get_by_role("button", name="Redo")).to_be_disabled()


class TestTerritoriesPage:
    def test_rows_and_balance_summary_match_the_core_library(self, app_url, page, demo):
        metrics = demo.initial_plan.metrics()
        assert metrics["name"].is_unique, "rows are matched by territory name"
        page.goto(app_url)
        wait_for_app(page)
        goto_page(page, "Territories")
        expect(page.get_by_role("heading", name="Territories")).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)

        rows = read_dataframe(page.get_by_test_id("stDataFrame").first)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "territories_page.png"))

        shown = {row["Territory"]: row for row in rows}
        assert len(rows) == len(metrics)
        assert sorted(shown) == sorted(metrics["name"])
        for _, expected in metrics.iterrows():
            row = shown[expected["name"]]
            assert parse_number(row["Accounts"]) == expected["accounts"], expected["name"]
            assert parse_number(row["Revenue"]) == pytest.approx(expected["revenue"], abs=0.5)
            assert parse_number(row["Net profit"]) == pytest.approx(expected["net_profit"], abs=0.5)
        # The app's default balance settings (pages/_state.py): revenue, within ±10 %.
        outside = len(balance(metrics["revenue"].astype(float), 10).outside)
        summary = page.get_by_test_id("stMetric").filter(has_text="outside the band")
        expect(summary).to_contain_text(f"{outside} of {len(metrics)}")


class TestFirstVisit:
    def test_deep_link_as_first_visit_after_server_start(self, fresh_app_url, page):
        # Until a session has called st.navigation, Streamlit serves a folder
        # named ``pages`` next to app.py as an old-style multipage app: the link
        # would run the page script alone, without app.py's session setup.
        page.goto(f"{fresh_app_url}/territories")
        wait_for_app(page)
        expect(page.get_by_role("heading", name="Territories")).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)
        links = page.get_by_test_id("stSidebarNavLink")
        expect(links).to_have_count(len(NAV_TITLES))
