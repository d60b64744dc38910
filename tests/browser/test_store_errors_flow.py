"""An unusable scenario database in the real app: one line on the page, never a traceback or a path.

Damaged file: the Scenarios page says so and nothing else breaks. Read-only
file system (a read-only bind mount, root only): scenarios list and open, and
the map editor warns that the working copy is not being autosaved.
"""

from __future__ import annotations

import os

import pytest
from mounts import read_only_view
from playwright.sync_api import expect

from terrmap.demo import demo_workspace
from terrmap.store.scenarios import ScenarioStore

from .conftest import ARTIFACTS, goto_page, run_and_wait, serve_app, wait_for_app
from .test_scenarios_flow import _select

pytestmark = pytest.mark.browser


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_a_damaged_database_is_one_line(tmp_path, page):
    db = tmp_path / "team.sqlite"
    db.write_bytes(b"not a database\n" * 100)
    with serve_app(env={**os.environ, "TERRMAP_DB": str(db)}) as url:
        page.goto(url)
        wait_for_app(page)
        goto_page(page, "Scenarios")
        alert = page.get_by_test_id("stAlert").filter(has_text="team.sqlite")
        expect(alert).to_contain_text("The scenario database team.sqlite is unreadable")
        body = page.get_by_test_id("stMain").inner_text()
        assert str(tmp_path) not in body
        assert "Traceback" not in body and "DatabaseError" not in body
        expect(page.get_by_test_id("stException")).to_have_count(0)
        _shot(page, "store_damaged_scenarios.png")
        # The rest of the app works on the plan in memory.
        goto_page(page, "Map editor")
        expect(page.get_by_test_id("stException")).to_have_count(0)


def test_read_only_opens_and_the_map_editor_warns(tmp_path, page):
    demo = demo_workspace()
    store = ScenarioStore(tmp_path / "shared" / "team.sqlite")
    dataset = store.save_dataset(demo)
    plan = demo.initial_plan.reassign(list(demo.context.account_ids[:5]), None, author="Lee")
    store.save(plan, dataset_id=dataset, name="Team plan", author="Lee")
    store.close()
    with (
        read_only_view(tmp_path / "shared") as mounted,
        serve_app(env={**os.environ, "TERRMAP_DB": str(mounted / "team.sqlite")}) as url,
    ):
        page.goto(url)
        wait_for_app(page)
        goto_page(page, "Scenarios")
        _select(page, "Scenario", "Team plan")
        run_and_wait(page, lambda: page.get_by_role("button", name="Open scenario").click())
        expect(page.get_by_test_id("stAlert").filter(has_text="Opened “Team plan”")).to_be_visible()
        goto_page(page, "Map editor")
        warning = page.get_by_test_id("stAlert").filter(has_text="not being autosaved")
        expect(warning).to_contain_text("The scenario database team.sqlite is read-only")
        assert str(mounted) not in page.get_by_test_id("stMain").inner_text()
        _shot(page, "store_read_only_map_editor.png")
