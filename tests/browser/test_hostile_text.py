"""Text from users and data files shows as text: no image, no link, no request (issue 11).

A scenario named like a markdown image with a tracking URL is saved into the
app's database; every label of the Scenarios page that shows the name must
render it literally, and the page fixture fails the test on any request
leaving the machine.
"""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from terrmap.demo import demo_workspace
from terrmap.store.scenarios import ScenarioStore

from .conftest import ARTIFACTS, goto_page, run_and_wait, serve_app, wait_for_app

pytestmark = pytest.mark.browser

EVIL = "![i](http://evil.example/img.png) **b**"


def _literal(text: str) -> re.Pattern:
    """Match ``text`` shown literally; invisible word joiners (U+2060) may sit anywhere."""
    return re.compile(r"\u2060?".join(map(re.escape, text)))


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    demo = demo_workspace()
    store = ScenarioStore(tmp_path_factory.mktemp("db") / "terrmap.sqlite")
    dataset = store.save_dataset(demo)
    plan = demo.initial_plan.reassign(demo.context.account_ids[:3], demo.context.territory_ids[0])
    store.save(plan, dataset_id=dataset, name=EVIL, author="www.evil.example", note=EVIL)
    with serve_app(env={**os.environ, "TERRMAP_DB": str(store.path)}) as url:
        yield url


def test_scenario_named_like_markdown_renders_as_text(hostile_app, page):
    page.goto(hostile_app)
    wait_for_app(page)
    goto_page(page, "Scenarios")
    run_and_wait(page, lambda: page.get_by_role("button", name="Open scenario").click())
    main = page.get_by_test_id("stMain")
    expect(main.get_by_test_id("stAlert").filter(has_text="Opened")).to_contain_text(
        _literal(f"“{EVIL}”")
    )
    # The labels that carry the name: the save button, the delete checkbox
    # and the versions expander; each shows it literally.
    page.get_by_role("tab", name="Delete").click()
    expect(main.get_by_text("Yes, delete")).to_be_visible()
    shown = main.inner_text().replace("\u2060", "")
    for label in (f"Save changes to “{EVIL}”", f"Versions of “{EVIL}”", f"Yes, delete “{EVIL}”"):
        assert label in shown
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "hostile_scenario_name.png"), full_page=True)

    sources = page.locator("img").evaluate_all("els => els.map(e => e.src)")
    assert not [src for src in sources if "evil" in src]
    links = page.locator("a").evaluate_all("els => els.map(e => e.href)")
    assert not [href for href in links if "evil" in href]
    assert page.locator("strong", has_text="b").count() == 0
    assert page.external_requests == []


def test_import_shows_the_files_currency_and_no_link_from_data(app_url, page, tmp_path):
    """A German export: amounts in EUR, a URL in a rejected value is text, not a link."""
    data = (
        "Account ID,Zip,Owner,Annual Revenue\n"
        'A1,02139,Ana,"65.000,00 €"\n'
        'A2,02110,Bo,"1.234,50 €"\n'
        "A3,02139,Ana,http://evil.example/x\n"
    )
    path = tmp_path / "german.csv"
    path.write_text(data, encoding="utf-8")
    page.goto(app_url)
    wait_for_app(page)
    goto_page(page, "Import")
    uploaders = page.locator("[data-testid='stFileUploaderDropzoneInput']")
    run_and_wait(page, lambda: uploaders.nth(0).set_input_files(str(path)))
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text(re.compile(r"Amounts in EUR"))).to_be_visible()
    main.get_by_text(re.compile(r"^Territories \(\d+\)$")).click()
    expect(main.get_by_text("Revenue (EUR)")).to_be_attached()  # the grid draws on a canvas
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "import_currency.png"), full_page=True)
    links = page.locator("a").evaluate_all("els => els.map(e => e.href)")
    assert not [href for href in links if "evil" in href]
    assert "$" not in main.inner_text()
