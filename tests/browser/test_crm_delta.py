"""The CRM delta files in Chromium against a real previous publication.

Plan A is published, accounts are moved (some there and back again), plan B
is published; a manager signed in on the team server downloads the write-back
files from the Export page. The delta files must hold exactly the accounts
whose territory differs between A and B, found here by comparing the two
assignments, not by the code that writes the files.
"""

from __future__ import annotations

import io
import os
import zipfile
from datetime import date

import pandas as pd
import pytest
from playwright.sync_api import expect

from terrmap.demo import demo_workspace
from terrmap.store.scenarios import ScenarioStore
from terrmap.store.users import add_user

from .conftest import ARTIFACTS, download_file, run_and_wait, serve_app, wait_for_app
from .test_team_flow import _goto

pytestmark = pytest.mark.browser

PASSWORD = "manager-password"


@pytest.fixture(scope="module")
def plans():
    """Plan A (five accounts moved) and plan B (A plus more moves, one account back home)."""
    ws = demo_workspace()
    start = ws.initial_plan
    a = start.reassign(list(start.members("T02")[:5]), "T01", author="ann")
    to_t06 = list(a.members("T05")[:7])
    b = a.reassign(to_t06, "T06", author="ann")
    b = b.reassign(list(b.members("T09")[:3]), "T08", author="ann")
    back = to_t06[0]
    b = b.reassign([back], "T05", author="ann")  # moved there and back: not a change
    return ws, a, b, back


@pytest.fixture(scope="module")
def delta_url(tmp_path_factory, plans):
    ws, a, b, _ = plans
    folder = tmp_path_factory.mktemp("crm-delta")
    users = folder / "users.csv"
    add_user(users, "ann", role="manager", password=PASSWORD, display_name="Ann Lee")
    database = folder / "team.sqlite"
    store = ScenarioStore(str(database))
    dataset = store.save_dataset(ws)
    for name, plan, day in (("Plan A", a, date(2026, 1, 1)), ("Plan B", b, date(2026, 6, 1))):
        info = store.save(plan, name=name, dataset_id=dataset, author="ann")
        store.propose(info.scenario_id, "ann", f"{name} for review")
        store.review(info.scenario_id, "lou", "approve")
        store.publish(info.scenario_id, "lou", day)
    store.close()
    env = {**os.environ, "TERRMAP_USERS": str(users), "TERRMAP_DB": str(database)}
    with serve_app(env) as url:
        yield url


def _changed_accounts(a, b) -> set[str]:
    before = a.assignment.astype(object).where(a.assignment.notna(), None)
    after = b.assignment.astype(object).reindex(before.index)
    after = after.where(after.notna(), None)
    return {str(i) for i, x, y in zip(before.index, before, after, strict=True) if x != y}


def test_delta_files_hold_exactly_the_accounts_moved_since_the_previous_publication(
    delta_url, page, plans, tmp_path
):
    _, a, b, back = plans
    expected = _changed_accounts(a, b)
    assert len(expected) == 7 + 3 - 1 and back not in expected  # seven, three, one back
    page.goto(delta_url)
    wait_for_app(page)
    page.get_by_label("Username", exact=True).fill("ann")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    run_and_wait(page, lambda: page.get_by_role("button", name="Sign in").click())
    _goto(page, "Export")
    expect(page.get_by_text("changes since the publication of “Plan A” version 1")).to_be_visible()

    _, path = download_file(page, "Salesforce files (ZIP)", tmp_path)
    archive = zipfile.ZipFile(path)
    delta = pd.read_csv(
        io.BytesIO(archive.read("ObjectTerritory2Association_delta.csv")), dtype=str
    )
    full = pd.read_csv(io.BytesIO(archive.read("ObjectTerritory2Association.csv")), dtype=str)
    assert set(delta["ObjectId"]) == expected
    assert len(delta) == len(expected)
    # Each delta row is the account's association in plan B, as in the full file.
    assert delta.set_index("ObjectId").equals(full.set_index("ObjectId").loc[delta["ObjectId"]])
    removed = pd.read_csv(
        io.BytesIO(archive.read("ObjectTerritory2Association_remove.csv")), dtype=str
    )
    assert set(removed["ObjectId"]) == expected

    run_and_wait(page, lambda: page.get_by_text("HubSpot", exact=True).click())
    _, path = download_file(page, "HubSpot files (ZIP)", tmp_path)
    archive = zipfile.ZipFile(path)
    hubspot = pd.read_csv(io.BytesIO(archive.read("hubspot_companies_delta.csv")), dtype=str)
    assert set(hubspot["Record ID"]) == expected
    assert len(hubspot) == len(expected)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "crm-delta-export.png"), full_page=True)
