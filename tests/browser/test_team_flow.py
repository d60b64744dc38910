"""A team server in Chromium: sign-in per role, a rep's view, the CRM write-back files.

The server of this module reads a real user file (``TERRMAP_USERS``, Argon2
hashes written by ``terrmap users add``) and its own scenario database.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
import zipfile

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from terrmap.core.plan import Plan
from terrmap.demo import demo_workspace
from terrmap.io.crm import read_hubspot, read_salesforce
from terrmap.store.scenarios import ScenarioStore
from terrmap.store.sessions import SESSION_COOKIE, SessionTokens
from terrmap.store.users import add_user, load_users

from .conftest import (
    APP_TIMEOUT_MS,
    ARTIFACTS,
    download_file,
    goto_page,
    run_and_wait,
    serve_app,
    wait_for_app,
)

pytestmark = pytest.mark.browser

PASSWORDS = {
    "ada": "admin-password",
    "ann": "manager-password",
    "lou": "leadership-password",
    "rita": "rep-password",
}
#: Navigation links each role sees, in order.
NAVIGATION = {
    "ada": [
        "Map editor", "Territories", "Balance", "Auto-balance", "Reps", "Goals",
        "Visit cadence", "Rep view", "Scenarios", "Compare", "Import", "Export",
        "Review", "Audit",
    ],
    "ann": [
        "Map editor", "Territories", "Balance", "Auto-balance", "Reps", "Goals",
        "Visit cadence", "Rep view", "Scenarios", "Compare", "Import", "Export", "Review",
    ],
    "lou": [
        "Territories", "Balance", "Rep view", "Scenarios", "Compare", "Export", "Review", "Audit",
    ],
    "rita": ["Rep view", "Review"],
}  # fmt: skip


@pytest.fixture(scope="module")
def team_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("team")


@pytest.fixture(scope="module")
def team_url(team_folder):
    folder = team_folder
    users = folder / "users.csv"
    add_user(users, "ada", role="admin", password=PASSWORDS["ada"])
    add_user(users, "ann", role="manager", password=PASSWORDS["ann"], display_name="Ann Lee")
    add_user(users, "lou", role="leadership", password=PASSWORDS["lou"])
    add_user(users, "rita", role="rep", password=PASSWORDS["rita"], rep_id="R01")
    database = folder / "team.sqlite"
    ws = demo_workspace()
    store = ScenarioStore(str(database))
    moved = list(ws.initial_plan.members("T02")[:5])
    store.save(
        ws.initial_plan.reassign(moved, "T01", author="Ann Lee (ann)"),
        name="North shift",
        dataset_id=store.save_dataset(ws),
        author="Ann Lee (ann)",
    )
    store.close()
    env = {**os.environ, "TERRMAP_USERS": str(users), "TERRMAP_DB": str(database)}
    with serve_app(env) as url:
        yield url


@pytest.fixture(scope="module")
def demo():
    return demo_workspace()


def _sign_in(page, url, username, password=None):
    # Another person at the browser: the previous one's session cookie would sign them in.
    page.context.clear_cookies()
    page.goto(url)
    wait_for_app(page)
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password or PASSWORDS[username])
    run_and_wait(page, lambda: page.get_by_role("button", name="Sign in").click())
    wait_for_app(page)


def _unfold(page) -> None:
    more = page.get_by_test_id("stSidebarNavViewButton")
    if more.count() and "more" in more.inner_text():
        more.click()  # Streamlit folds a long navigation behind "View N more"
        expect(more).to_contain_text("less")


def _goto(page, title: str) -> None:
    _unfold(page)
    goto_page(page, title)


def _navigation(page) -> list[str]:
    _unfold(page)
    return [t.strip() for t in page.get_by_test_id("stSidebarNavLink").all_inner_texts()]


@pytest.mark.parametrize("username", list(NAVIGATION))
def test_each_role_signs_in_and_sees_its_pages(team_url, page, username):
    ARTIFACTS.mkdir(exist_ok=True)
    _sign_in(page, team_url, username)
    expect(page.get_by_test_id("stSidebar")).to_contain_text("Signed in as")
    assert _navigation(page) == NAVIGATION[username]
    page.screenshot(path=str(ARTIFACTS / f"team-{username}.png"))


def test_wrong_password_is_refused(team_url, page):
    _sign_in(page, team_url, "ann", "wrong password!")
    expect(page.get_by_test_id("stAlert")).to_contain_text("Wrong username or password.")
    expect(page.get_by_test_id("stSidebarNavLink")).to_have_count(0)
    expect(page.get_by_role("heading", name="Map editor")).to_have_count(0)


def test_rep_sees_only_their_territory(team_url, page, demo):
    _sign_in(page, team_url, "rita")
    expect(page.get_by_role("heading", name="Rep view", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="James Gallagher")).to_be_visible()
    page.get_by_test_id("stSelectbox").filter(has_text="Rep").click()
    options = page.get_by_role("option").all_inner_texts()
    assert options == ["James Gallagher"]
    page.keyboard.press("Escape")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "team-rep-view.png"), full_page=True)


@pytest.mark.parametrize("path", ["/map_editor", "/territories", "/export", "/rep_view?rep=R02"])
def test_rep_cannot_open_another_page_by_url(team_url, page, path):
    page.goto(team_url + path)
    wait_for_app(page)
    page.get_by_label("Username", exact=True).fill("rita")
    page.get_by_label("Password", exact=True).fill(PASSWORDS["rita"])
    run_and_wait(page, lambda: page.get_by_role("button", name="Sign in").click())
    wait_for_app(page)
    if page.get_by_role("dialog").count():
        # Streamlit may say the rep has no such page before it runs their first one.
        expect(page.get_by_role("dialog")).to_contain_text("Page not found")
        page.keyboard.press("Escape")
    expect(page.get_by_role("heading", name="Rep view", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="James Gallagher")).to_be_visible()
    for other in ("Map editor", "Territories", "Export"):
        expect(page.get_by_role("heading", name=other, exact=True)).to_have_count(0)
    expect(page.get_by_text("Grace Ishikawa")).to_have_count(0)


def test_sign_out_returns_to_the_sign_in_screen(team_url, page):
    _sign_in(page, team_url, "lou")
    run_and_wait(page, lambda: page.get_by_role("button", name="Sign out").click())
    expect(page.get_by_label("Password", exact=True)).to_be_visible()
    expect(page.get_by_test_id("stSidebarNavLink")).to_have_count(0)


def _session_cookie(page, url, timeout_s: float = 10.0) -> str | None:
    """The session cookie's value once the page has set it (``None`` if it never does)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for cookie in page.context.cookies(url):
            if cookie["name"] == SESSION_COOKIE and cookie["value"]:
                return cookie["value"]
        page.wait_for_timeout(100)
    return None


def _open_with_cookie(page, url, token: str) -> None:
    page.context.clear_cookies()
    page.context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": url}])
    page.goto(url)
    wait_for_app(page)


def _asked_to_sign_in(page) -> None:
    expect(page.get_by_label("Password", exact=True)).to_be_visible()
    expect(page.get_by_test_id("stSidebarNavLink")).to_have_count(0)
    expect(page.get_by_text("Signed in as")).to_have_count(0)


def test_sign_in_lasts_across_reloads_until_sign_out(team_url, page):
    _sign_in(page, team_url, "ann")
    token = _session_cookie(page, team_url)
    assert token, "no session cookie after signing in"
    assert PASSWORDS["ann"] not in token
    page.reload(wait_until="domcontentloaded", timeout=APP_TIMEOUT_MS * 3)
    wait_for_app(page)
    expect(page.get_by_test_id("stSidebar")).to_contain_text("Signed in as Ann Lee")
    expect(page.get_by_label("Password", exact=True)).to_have_count(0)
    assert _navigation(page) == NAVIGATION["ann"]
    # A second tab of the same browser is signed in too.
    other = page.context.new_page()
    other.goto(team_url)
    wait_for_app(other)
    expect(other.get_by_test_id("stSidebar")).to_contain_text("Signed in as Ann Lee")
    other.close()

    run_and_wait(page, lambda: page.get_by_role("button", name="Sign out").click())
    _asked_to_sign_in(page)
    deadline = time.monotonic() + 10
    while _session_cookie(page, team_url, 0.1) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert _session_cookie(page, team_url, 0.1) is None, "sign-out left the cookie"
    page.reload(wait_until="domcontentloaded", timeout=APP_TIMEOUT_MS * 3)
    wait_for_app(page)
    _asked_to_sign_in(page)
    # A copy of the token taken before the sign-out is refused: the session is ended.
    _open_with_cookie(page, team_url, token)
    _asked_to_sign_in(page)


def _server_secret(team_folder) -> str:
    return (team_folder / "users.csv.secret").read_text().strip()


def _bound_to(team_folder, username: str) -> str:
    # The token is bound to the password hash (a new password refuses old tokens).
    record = load_users(team_folder / "users.csv")[username]
    return hashlib.sha256(record.password_hash.encode()).hexdigest()[:16]


def test_forged_session_tokens_are_refused(team_url, team_folder, page):
    _sign_in(page, team_url, "rita")
    genuine = _session_cookie(page, team_url)
    assert genuine
    store = ScenarioStore(str(team_folder / "team.sqlite"))
    live = store.start_session("ada")
    store.close()
    bound = _bound_to(team_folder, "ada")
    signature = genuine.rsplit(".", 1)[1]
    forgeries = {
        "another secret": SessionTokens("x" * 48).issue("ada", live, bound),
        "rita's signature on ada's token": (
            SessionTokens("x" * 48).issue("ada", live, bound).rsplit(".", 1)[0] + "." + signature
        ),
        "no such session": SessionTokens(_server_secret(team_folder)).issue(
            "ada", "made-up", bound
        ),
        "a username that is not in the file": SessionTokens(_server_secret(team_folder)).issue(
            "eve", live, bound
        ),
        "bound to another password": SessionTokens(_server_secret(team_folder)).issue(
            "ada", live, _bound_to(team_folder, "rita")
        ),
        "not a token": "ada",
    }
    for what, token in forgeries.items():
        _open_with_cookie(page, team_url, token)
        try:
            _asked_to_sign_in(page)
        except AssertionError as error:
            raise AssertionError(f"a forged token ({what}) was accepted") from error
    # The same session signed with the server's secret opens: the refusals above
    # came from the forgery, not from the way the cookie was set.
    _open_with_cookie(
        page, team_url, SessionTokens(_server_secret(team_folder)).issue("ada", live, bound)
    )
    expect(page.get_by_test_id("stSidebar")).to_contain_text("Signed in as ada")


def test_write_back_files_download_and_read_back(team_url, page, demo, tmp_path):
    _sign_in(page, team_url, "ann")
    _goto(page, "Export")
    expect(page.get_by_role("heading", name="Write-back to the CRM")).to_be_visible()
    page.get_by_label("Territory model id (Territory2ModelId)").fill("0MA5g000000CaFeGAK")
    run_and_wait(
        page, lambda: page.get_by_label("Territory model id (Territory2ModelId)").press("Enter")
    )
    name, path = download_file(page, "Salesforce files (ZIP)", tmp_path)
    assert name == "terrmap-salesforce.zip"
    archive = zipfile.ZipFile(path)
    territories = pd.read_csv(io.BytesIO(archive.read("Territory2.csv")), dtype=str)
    assert set(territories["Territory2ModelId"]) == {"0MA5g000000CaFeGAK"}
    assignment = read_salesforce(
        archive.read("Territory2.csv"),
        archive.read("ObjectTerritory2Association.csv"),
        demo.initial_plan,
    )
    again = Plan.from_assignment(demo.context, assignment)
    assert np.array_equal(again.codes, demo.initial_plan.codes)

    run_and_wait(page, lambda: page.get_by_text("HubSpot", exact=True).click())
    name, path = download_file(page, "HubSpot files (ZIP)", tmp_path)
    assert name == "terrmap-hubspot.zip"
    archive = zipfile.ZipFile(path)
    assert sorted(archive.namelist()) == [
        "README.txt",
        "hubspot_companies.csv",
        "hubspot_companies_delta.csv",
    ]
    header = archive.read("hubspot_companies.csv").decode().splitlines()[0]
    assert header == "Record ID,Company name,Company owner"
    assignment = read_hubspot(archive.read("hubspot_companies.csv"), demo.initial_plan, demo)
    assert Plan.from_assignment(demo.context, assignment).assignment.equals(
        demo.initial_plan.assignment
    )
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "team-export-crm.png"), full_page=True)


def test_no_link_leaks_a_password(team_url, page):
    _sign_in(page, team_url, "ann")
    assert PASSWORDS["ann"] not in page.url
    assert not re.search(PASSWORDS["ann"], page.content())


# The workflow tests come last: publishing changes the plan every later session starts on.


def test_propose_approve_publish(team_url, page, demo):
    _sign_in(page, team_url, "ann")
    _goto(page, "Review")
    page.get_by_label("Note for the reviewers").fill("Five accounts closer to Burlington")
    run_and_wait(page, lambda: page.get_by_role("button", name="Propose for review").click())
    expect(page.get_by_text("Proposed “North shift” for review.")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)

    _sign_in(page, team_url, "lou")
    _goto(page, "Review")
    expect(page.get_by_text("is proposed")).to_be_visible()
    page.get_by_label("Comment", exact=True).fill("Check the drive times")
    run_and_wait(page, lambda: page.get_by_role("button", name="Add comment").click())
    expect(page.get_by_text("Comment added.")).to_be_visible()
    run_and_wait(page, lambda: page.get_by_role("button", name="Approve").click())
    expect(page.get_by_text("Approved “North shift”.")).to_be_visible()
    run_and_wait(page, lambda: page.get_by_role("button", name="Publish", exact=True).click())
    expect(page.get_by_text(re.compile("Published “North shift”, in force from"))).to_be_visible()
    expect(page.get_by_text(re.compile("Plan in force: “North shift” version 1"))).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "team-review-published.png"), full_page=True)

    _goto(page, "Audit")
    expect(page.get_by_role("heading", name="Audit", exact=True)).to_be_visible()
    with page.expect_download() as info:
        page.get_by_test_id("stDownloadButton").filter(has_text="Download CSV").click()
    audit = pd.read_csv(info.value.path(), dtype=str)
    assert {"sign_in", "propose", "comment", "approve", "publish"} <= set(audit["action"])
    published = audit[audit["action"] == "publish"]
    assert published["actor"].tolist() == ["lou"]
    page.screenshot(path=str(ARTIFACTS / "team-audit.png"), full_page=True)


def test_rep_proposal(team_url, page, demo):
    wanted = str(demo.initial_plan.members("T03")[0])
    _sign_in(page, team_url, "rita")
    _goto(page, "Review")
    page.get_by_label("Account ids").fill(wanted)
    page.get_by_label("Why").fill("I already serve them")
    run_and_wait(page, lambda: page.get_by_role("button", name="Ask for these accounts").click())
    expect(page.get_by_text("Your request is proposed for review.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Request by rita .* is proposed"))).to_be_visible()
    # The rep's list holds their own requests, not the managers' scenarios.
    page.get_by_test_id("stSelectbox").filter(has_text="Scenario").click()
    assert [o for o in page.get_by_role("option").all_inner_texts() if "North shift" in o] == []
    assert len([o for o in page.get_by_role("option").all_inner_texts() if "Request by" in o]) == 1
    page.keyboard.press("Escape")
    page.screenshot(path=str(ARTIFACTS / "team-rep-request.png"), full_page=True)
