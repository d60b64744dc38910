"""Balance page, every download, the report in Chromium, and the rep view."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from terrmap.core.balance import balance
from terrmap.core.plan import Plan
from terrmap.demo import demo_workspace
from terrmap.io.exports import read_assignment
from terrmap.playbook.repview import rep_comparison

from .conftest import ARTIFACTS, download_file, wait_for_app

pytestmark = pytest.mark.browser

DOWNLOADS = {
    "Assignment (CSV)": "terrmap-assignment.csv",
    "Territories (GeoJSON)": "terrmap-territories.geojson",
    "Territories (GeoPackage)": "terrmap-territories.gpkg",
    "Workbook (Excel)": "terrmap-territories.xlsx",
    "Leadership report (HTML)": "terrmap-report.html",
}


@pytest.fixture(scope="module")
def demo():
    return demo_workspace()


def _open(page, app_url, title):
    page.goto(app_url)
    wait_for_app(page)
    # Not goto_page: its run watcher reads the run state when the observer
    # fires, so a page that runs in a few milliseconds (Export) can finish
    # unseen. The page's heading is the signal instead.
    page.get_by_test_id("stSidebarNavLink").filter(
        has_text=re.compile(rf"^\s*{re.escape(title)}\s*$")
    ).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    wait_for_app(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def _check_report(path, demo):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?:", text)
    assert "<script" not in text.lower()
    stats = balance(demo.initial_plan.metrics()["revenue"], 10)
    assert f"{len(stats.outside)} of {demo.context.n_territories}" in text
    assert text.count("<svg") >= 4
    return text


class TestBalancePage:
    def test_headline_chart_and_report(self, app_url, page, demo, tmp_path):
        _open(page, app_url, "Balance")
        expect(page.get_by_role("heading", name="Balance", exact=True)).to_be_visible()
        metrics = demo.initial_plan.metrics()
        stats = balance(metrics["revenue"], 10)
        outside = page.get_by_test_id("stMetric").filter(has_text="Outside the band")
        expect(outside).to_contain_text(f"{len(stats.outside)} of {len(metrics)}")
        gini = page.get_by_test_id("stMetric").filter(has_text="Gini")
        expect(gini).to_contain_text(f"{stats.gini:.2f}")
        chart = page.get_by_test_id("stVegaLiteChart").first
        expect(chart.locator("canvas, svg").first).to_be_visible()
        page.set_viewport_size({"width": 1400, "height": 3200})
        page.wait_for_timeout(500)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "balance_page.png"))

        name, path = download_file(page, "Leadership report (HTML)", tmp_path)
        assert name == "terrmap-report.html"
        _check_report(path, demo)


class TestExportPage:
    def test_every_download(self, app_url, page, demo, tmp_path):
        _open(page, app_url, "Export")
        files = {}
        for label, expected in DOWNLOADS.items():
            name, path = download_file(page, label, tmp_path)
            assert name == expected
            files[name] = path
        plan = demo.initial_plan

        csv = files["terrmap-assignment.csv"]
        again = Plan.from_assignment(demo.context, read_assignment(csv, plan))
        assert np.array_equal(again.codes, plan.codes)

        metrics = plan.metrics()
        for name in ("terrmap-territories.geojson", "terrmap-territories.gpkg"):
            shapes = gpd.read_file(files[name])
            assert shapes["territory_id"].tolist() == metrics.index.tolist()
            assert shapes.geometry.is_valid.all() and shapes.crs.to_epsg() == 4326
            assert shapes["revenue"].tolist() == pytest.approx(metrics["revenue"].tolist())

        sheets = pd.read_excel(files["terrmap-territories.xlsx"], sheet_name=None)
        # the demo puts its territories in two regions: their sums get a sheet
        assert list(sheets) == ["Summary", "Regions", "Accounts", "Reps", "Changes"]
        assert sheets["Regions"]["Accounts"].sum() == metrics["accounts"].sum()
        assert len(sheets["Accounts"]) == demo.context.n_accounts

        _check_report(files["terrmap-report.html"], demo)
        # The report opened in Chromium: the page fixture fails on any request
        # that leaves the machine.
        page.goto(files["terrmap-report.html"].as_uri())
        expect(page.get_by_role("heading", name="Territory balance review")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        page.emulate_media(media="print")
        page.screenshot(path=str(ARTIFACTS / "report_print.png"), full_page=True)
        assert not page.external_requests


class TestRepView:
    def test_pick_a_rep(self, app_url, page, demo):
        _open(page, app_url, "Rep view")
        reps = demo.reps
        rep_id = "R03"
        label = str(reps.loc[rep_id, "name"])  # names only, unless two reps share one
        select = page.get_by_test_id("stSelectbox").filter(has_text="Rep").first
        select.click()
        page.get_by_role("option", name=label).click()
        expect(page.get_by_role("heading", name=str(reps.loc[rep_id, "name"]))).to_be_visible()
        wait_for_app(page)
        comparison = rep_comparison(demo.initial_plan, rep_id)
        accounts = page.get_by_test_id("stMetric").filter(has_text="Accounts").first
        expect(accounts).to_contain_text(f"{comparison.loc['accounts', 'rep']:,.0f}")
        territory = demo.territories.loc["T03", "name"]
        frame = page.frame_locator("iframe").first
        expect(frame.locator(".terrmap-legend")).to_contain_text(territory)
        expect(frame.locator(".terrmap-legend")).not_to_contain_text(
            demo.territories.loc["T01", "name"]
        )
        page.wait_for_timeout(800)
        page.screenshot(path=str(ARTIFACTS / "rep_view.png"), full_page=True)
