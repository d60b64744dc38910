"""Units on the Import page in the browser: counties as building blocks, then next month's export."""

from __future__ import annotations

import re

import geopandas as gpd
import pytest
import shapely
from playwright.sync_api import expect

from terrmap.demo import demo_workspace

from .conftest import ARTIFACTS, goto_page, read_dataframe, run_and_wait, wait_for_app

pytestmark = pytest.mark.browser

ACCOUNTS = b"""id,name,lat,lon,revenue,owner
A1,Acme,42.3601,-71.0942,1000,Ana
A2,Beta,42.3554,-71.0550,2000,Ben
A3,Gamma,42.7654,-71.4676,3000,Ana
"""


def _choose(page, label: str, option: str) -> None:
    box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True))
    box.click()
    choice = page.get_by_role("option", name=option, exact=True)
    choice.wait_for(state="visible")
    run_and_wait(page, choice.click)


def test_counties_as_building_blocks(app_url, page, tmp_path):
    accounts = tmp_path / "crm.csv"
    accounts.write_bytes(ACCOUNTS)
    territories = tmp_path / "territories.geojson"
    gpd.GeoDataFrame(
        {"territory": ["Boston", "North"]},
        geometry=[shapely.box(-71.2, 42.2, -70.9, 42.5), shapely.box(-72, 42.5, -71.2, 43)],
        crs="EPSG:4326",
    ).to_file(territories)
    page.goto(app_url)
    wait_for_app(page)
    goto_page(page, "Import")
    uploaders = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    run_and_wait(page, lambda: uploaders.nth(0).set_input_files(str(accounts)))
    run_and_wait(page, lambda: uploaders.nth(1).set_input_files(str(territories)))
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text(re.compile("Files loaded"))).to_be_visible(timeout=60_000)
    _choose(page, "Territory building blocks (units)", "US counties")
    expect(main.get_by_text(re.compile(r"built from \d+ units: US counties"))).to_be_visible(
        timeout=60_000
    )
    page.screenshot(path=str(ARTIFACTS / "import_units_counties.png"), full_page=True)
    run_and_wait(page, lambda: page.get_by_role("button", name="Use this data").click())
    expect(main.get_by_text(re.compile("now your working plan"))).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_contain_text("3 accounts")


def test_next_month_applied_to_the_demo_plan(fresh_app_url, page, tmp_path):
    demo = demo_workspace().accounts
    columns = ["name", "lat", "lon", "revenue", "cost_to_serve", "visits_per_year"]
    month = demo[columns].iloc[5:].copy()  # five accounts left the CRM
    month.loc["NEW-1"] = ["New neighbour", *demo.iloc[6][["lat", "lon"]], 5_000.0, 900.0, 4.0]
    path = tmp_path / "crm_next_month.csv"
    month.rename_axis("account_id").to_csv(path)
    page.goto(fresh_app_url)
    wait_for_app(page)
    goto_page(page, "Import")
    uploaders = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    run_and_wait(page, lambda: uploaders.nth(0).set_input_files(str(path)))
    main = page.get_by_test_id("stMain")
    option = main.get_by_text("Next export of the current plan's accounts (re-import)")
    run_and_wait(page, option.click)
    expect(main.get_by_text("Changes per territory")).to_be_visible(timeout=60_000)
    metrics = {
        m.get_by_test_id("stMetricLabel").inner_text(): m.get_by_test_id(
            "stMetricValue"
        ).inner_text()
        for m in main.get_by_test_id("stMetric").all()
    }
    assert metrics["Accounts added"] == "1"
    assert metrics["Accounts removed"] == "5"
    rows = read_dataframe(main.get_by_test_id("stDataFrame").first)
    assert sum(int(float(r["Added"])) for r in rows) == 1
    page.screenshot(path=str(ARTIFACTS / "reimport_report.png"), full_page=True)
    run_and_wait(page, lambda: page.get_by_role("button", name="Apply to the current plan").click())
    expect(main.get_by_text(re.compile("now holds the new accounts"))).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"{len(month):,} accounts")
