"""Import a real CRM export in the browser, check what was rejected, then use it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from terrmap.io.importing import prepare_import

from .conftest import ARTIFACTS, goto_page, read_dataframe, run_and_wait, wait_for_app

pytestmark = pytest.mark.browser

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ACCOUNTS = FIXTURES / "salesforce_accounts.csv"
REPS = FIXTURES / "reps.csv"


@pytest.fixture(scope="module")
def expected():
    return prepare_import(str(ACCOUNTS), None, str(REPS))


def test_salesforce_export_imports_and_becomes_the_working_plan(app_url, page, expected):
    page.goto(app_url)
    wait_for_app(page)
    goto_page(page, "Import")
    uploaders = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    run_and_wait(page, lambda: uploaders.nth(0).set_input_files(str(ACCOUNTS)))
    run_and_wait(page, lambda: uploaders.nth(2).set_input_files(str(REPS)))
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text(re.compile("Files loaded"))).to_be_visible(timeout=60_000)

    metrics = {
        m.get_by_test_id("stMetricLabel").inner_text(): m.get_by_test_id(
            "stMetricValue"
        ).inner_text()
        for m in main.get_by_test_id("stMetric").all()
    }
    assert metrics["Accounts loaded"] == f"{expected.n_accounts:,}"
    assert metrics["Rows rejected"] == f"{expected.n_rejected:,}"

    # Every rejected row is listed with its file, line and reason.
    rows = read_dataframe(page.locator(".st-key-import_rejected [data-testid='stDataFrame']"))
    shown = {(r["File"], int(float(r["Line"])), r["Reason"]) for r in rows}
    want = {
        (f, int(line), reason)
        for f, line, reason in expected.rejected[["file", "line", "reason"]].itertuples(index=False)
    }
    # The grid renders the rows in view; all 13 fit, but do not depend on it.
    assert shown and shown <= want
    assert len(shown) == min(len(want), len(rows))

    run_and_wait(page, lambda: page.get_by_role("button", name="Use this data").click())
    expect(main.get_by_text(re.compile("now your working plan"))).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text(f"{expected.n_accounts:,} accounts")
    expect(sidebar).to_contain_text(f"{expected.n_territories} territories")

    # The map editor now draws the imported accounts.
    goto_page(page, "Map editor")
    frame = page.wait_for_selector('iframe[title="streamlit_folium.st_folium"]').content_frame()
    frame.wait_for_function(
        "() => window.terrmap && window.terrmap.map && window.terrmap.map.terrmap"
    )
    assert frame.evaluate("() => window.terrmap.map.terrmap.points._n") == expected.n_accounts


def test_a_big_file_shows_the_rows_read_while_it_loads(app_url, page, tmp_path):
    # 300,000 accounts in four owner bands: reading them takes long enough to see.
    rows = 300_000
    rng = np.random.default_rng(5)
    lon = rng.uniform(-75.0, -71.0, rows)
    lat = rng.uniform(40.0, 43.0, rows)
    owner = np.floor(lon + 75.0).astype(int)
    path = tmp_path / "big_accounts.csv"
    frame = pd.DataFrame(
        {
            "Account ID": [f"A{i:07d}" for i in range(rows)],
            "Account Name": [f"Account {i}" for i in range(rows)],
            "Billing Latitude": lat.round(5),
            "Billing Longitude": lon.round(5),
            "Annual Revenue": rng.integers(100, 1_000_000, rows),
            "Account Owner": [f"Rep {o}" for o in owner],
        }
    )
    frame.to_csv(path, index=False)

    page.goto(app_url)
    wait_for_app(page)
    goto_page(page, "Import")
    # The progress line is there only while the file is read: record every text
    # the page shows from now on, rather than hoping to catch it on screen.
    page.evaluate(
        """() => { window.__seen = new Set();
        const note = () => { for (const e of document.querySelectorAll('[data-testid="stMain"] p'))
            if (e.innerText.includes('rows read')) window.__seen.add(e.innerText); };
        new MutationObserver(note).observe(document.body,
            {subtree: true, childList: true, characterData: true}); }"""
    )
    uploaders = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    run_and_wait(page, lambda: uploaders.nth(0).set_input_files(str(path)))
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text(re.compile("Files loaded"))).to_be_visible(timeout=300_000)
    page.screenshot(path=str(ARTIFACTS / "import_rows_read.png"))
    seen = page.evaluate("() => Array.from(window.__seen)")
    pattern = re.compile(r"Step 2 of 4: .*?([\d,]+) of about 300,000 rows read")
    counts = [int(m.group(1).replace(",", "")) for t in seen if (m := pattern.search(t))]
    assert counts, f"no rows-read progress was shown; texts with 'rows read': {seen}"
    assert max(counts) <= rows and all(c > 0 for c in counts), counts
    metric = main.get_by_test_id("stMetric").filter(has_text="Accounts loaded")
    expect(metric.get_by_test_id("stMetricValue")).to_have_text("300,000")
