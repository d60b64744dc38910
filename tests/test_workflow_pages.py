"""Review and Audit pages with sign-in, driven by ``AppTest`` on a database of their own.

Propose (manager) → comment and approve (leadership) → publish → the next
session starts on the published plan; a rep asks for an account; the audit
trail shows it all and exports it.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from terrmap.demo import demo_workspace
from terrmap.store.scenarios import ScenarioStore
from terrmap.store.users import USERS_ENV, add_user

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIMEOUT_S = 60
PASSWORDS = {"ann": "manager-password", "lou": "leadership-password", "rita": "rep-password"}


@pytest.fixture(scope="module")
def users_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("users") / "users.csv"
    add_user(path, "ann", role="manager", password=PASSWORDS["ann"], display_name="Ann")
    add_user(path, "lou", role="leadership", password=PASSWORDS["lou"], display_name="Lou")
    add_user(path, "rita", role="rep", password=PASSWORDS["rita"], rep_id="R01")
    return path


@pytest.fixture
def team(users_file, tmp_path, monkeypatch):
    """A fresh database holding one saved draft that moves five T02 accounts to T01."""
    database = tmp_path / "team.sqlite"
    monkeypatch.setenv(USERS_ENV, str(users_file))
    monkeypatch.setenv("TERRMAP_DB", str(database))
    ws = demo_workspace()
    store = ScenarioStore(str(database))
    dataset = store.save_dataset(ws)
    moved = list(ws.initial_plan.members("T02")[:5])
    plan = ws.initial_plan.reassign(moved, "T01", author="Ann (ann)")
    info = store.save(plan, name="North shift", dataset_id=dataset, author="Ann (ann)")
    return store, info, moved


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _signed_in(username: str, page: str | None = None) -> AppTest:
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    at.text_input(key="sign_in_username").input(username)
    at.text_input(key="sign_in_password").input(PASSWORDS[username])
    at.button[0].click()
    _run(at)
    if page is not None:
        at.switch_page(page)
        _run(at)
    return at


def _buttons(at: AppTest) -> set[str]:
    return {b.key for b in at.main.button if b.key}


def test_propose_comment_approve_publish(team):
    store, info, moved = team
    ann = _signed_in("ann", "pages/workflow.py")
    assert "review_approve" not in _buttons(ann)  # a manager proposes, never approves
    ann.text_area(key="review_propose_note").input("Five accounts closer to Burlington")
    ann.button(key="review_propose").click()
    _run(ann)
    assert store.status(info.scenario_id) == "proposed"
    assert [s.value for s in ann.success] == ["Proposed “North shift” for review."]

    lou = _signed_in("lou", "pages/workflow.py")
    assert "review_propose" not in _buttons(lou)
    lou.selectbox(key="review_comment_on").select(0)
    lou.text_area(key="review_comment_text").input("Check the drive times")
    lou.button(key="review_comment").click()
    _run(lou)
    comments = store.comments(info.scenario_id)
    assert comments[["author", "move_index", "text"]].values.tolist() == [
        ["Lou (lou)", 0, "Check the drive times"]
    ]
    lou.button(key="review_approve").click()
    _run(lou)
    assert store.status(info.scenario_id) == "approved"
    lou.date_input(key="review_effective_date").set_value(pd.Timestamp("2026-01-01").date())
    lou.button(key="review_publish").click()
    _run(lou)
    assert store.status(info.scenario_id) == "published"
    in_force = store.published()
    assert (in_force.scenario_id, in_force.published_by) == (info.scenario_id, "Lou (lou)")
    assert str(in_force.effective_date) == "2026-01-01"

    # The next session starts on the plan in force.
    again = _signed_in("ann")
    plan = again.session_state["history"].current
    assert set(plan.territory_of(moved)) == {"T01"}


def test_reject_needs_a_note(team):
    store, info, _ = team
    store.propose(info.scenario_id, "Ann (ann)", "please")
    lou = _signed_in("lou", "pages/workflow.py")
    lou.button(key="review_reject").click()
    _run(lou)
    assert [e.value for e in lou.error] == ["a rejection needs a note saying why"]
    assert store.status(info.scenario_id) == "proposed"


def test_restore_an_earlier_publication(team):
    store, info, _ = team
    store.propose(info.scenario_id, "Ann (ann)")
    store.review(info.scenario_id, "Lou (lou)", "approve")
    first = store.publish(info.scenario_id, "Lou (lou)", "2026-01-01")
    lou = _signed_in("lou", "pages/workflow.py")
    lou.selectbox(key="review_restore_pick").select(first.publication_id)
    lou.button(key="review_restore").click()
    _run(lou)
    publications = store.publications()
    assert publications["restored_from"].tolist() == [pd.NA, first.publication_id]
    assert publications["published_by"].tolist() == ["Lou (lou)", "Lou (lou)"]


def test_rep_asks_for_an_account(team):
    store, _, _ = team
    ws = demo_workspace()
    wanted = str(ws.initial_plan.members("T03")[0])
    rita = _signed_in("rita", "pages/workflow.py")
    assert "review_publish" not in _buttons(rita)
    rita.text_input(key="review_claim_ids").input(wanted)
    rita.text_area(key="review_claim_note").input("I already serve them")
    rita.button(key="review_claim").click()
    _run(rita)
    assert [s.value for s in rita.success] == ["Your request is proposed for review."]
    request = [s for s in store.list() if s.author == "rita"]
    assert len(request) == 1 and request[0].status == "proposed"
    opened = store.open(request[0].scenario_id)
    assert opened.plan.territory_of([wanted]).tolist() == ["T01"]
    assert opened.plan.moves[-1].note == "I already serve them"
    # The rep lists only their own requests, never the managers' scenarios.
    assert rita.selectbox(key="review_pick").options == [f"{request[0].name} (v1)"]


def test_rep_asking_for_an_unknown_account_is_told(team):
    rita = _signed_in("rita", "pages/workflow.py")
    rita.text_input(key="review_claim_ids").input("NOPE-1")
    rita.button(key="review_claim").click()
    _run(rita)
    assert len(rita.error) == 1
    assert "unknown account id" in rita.error[0].value and "NOPE" in rita.error[0].value


def test_audit_page_filters_and_exports(team):
    store, info, _ = team
    store.propose(info.scenario_id, "Ann (ann)")
    lou = _signed_in("lou", "pages/audit.py")
    table = lou.dataframe[0].value
    assert {"Signed in", "Saved", "Proposed"} <= set(table["What"])
    assert not [c for c in table.columns if "_" in c]
    lou.selectbox(key="audit_action").select("propose")
    _run(lou)
    table = lou.dataframe[0].value
    assert table["What"].tolist() == ["Proposed"]
    assert table["Who"].tolist() == ["Ann (ann)"]
    assert table["Of"].tolist() == [f"“{info.name}” version {info.version}"]
    assert re.fullmatch(r"\d{1,2} \w{3} \d{4}, \d\d:\d\d UTC", table["When"].iloc[0])
    assert [b.proto.label for b in lou.get("download_button")] == ["Download CSV"]


def test_rep_and_manager_have_no_audit_page(team):
    for username in ("rita", "ann"):
        at = _signed_in(username)
        with pytest.raises(ValueError, match="Known pages"):
            at.switch_page("pages/audit.py")


def test_audit_csv_is_formula_safe():
    from terrmap.io.audit_export import audit_csv

    rows = pd.DataFrame(
        {
            "audit_id": [1],
            "at": [pd.Timestamp("2026-01-01T10:00Z")],
            "actor": ["=cmd|' /C calc'!A0"],
            "action": ["save"],
            "target": ["s1"],
            "detail": [{"name": "+1"}],
        }
    )
    frame = pd.read_csv(io.BytesIO(audit_csv(rows)), dtype=str)
    assert frame.columns.tolist() == ["audit_id", "at", "actor", "action", "target", "detail"]
    assert frame.loc[0, "actor"] == "'=cmd|' /C calc'!A0"
    assert frame.loc[0, "detail"] == '{"name": "+1"}'
    assert frame.loc[0, "at"] == "2026-01-01T10:00:00+00:00"
