"""The Scenarios and Compare pages driven headless by ``AppTest`` (no browser, no map).

Each test gets its own database through ``TERRMAP_DB``; two ``AppTest``
instances on the same database are two browser sessions.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from mounts import read_only_view
from streamlit.testing.v1 import AppTest
from test_pages_apptest import fake_st_folium  # noqa: F401 - fixture

from terrmap.demo import demo_workspace
from terrmap.io.importing import escape_markdown
from terrmap.playbook.compare import compare_plans
from terrmap.store.scenarios import ScenarioStore

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
SCENARIOS = "pages/scenarios.py"
COMPARE = "pages/compare.py"
TIMEOUT_S = 60


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "app.sqlite"
    monkeypatch.setenv("TERRMAP_DB", str(path))
    return path


def _session(page: str = SCENARIOS, key: str | None = None, browser: str | None = None) -> AppTest:
    """A new browser session; ``browser`` is the browser secret its cookie would carry."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    if key is not None:
        at.query_params["wc"] = key
    if browser is not None:
        at.session_state["_terrmap_browser_secret"] = browser
    at.run()
    at.switch_page(page).run()
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _plan(at: AppTest):
    return at.session_state["history"].current


def _make_moves(at: AppTest, n: int = 3, note: str = "test"):
    """Move ``n`` accounts of the smallest territory to the largest, as the map editor would.

    The history is replaced directly, then Undo + Redo run the sidebar's
    callbacks, which autosave like the map editor's push does.
    """
    plan = _plan(at)
    accounts = plan.metrics()["accounts"]
    moved = plan.reassign(plan.members(accounts.idxmin())[:n], accounts.idxmax(), note=note)
    at.session_state["history"] = at.session_state["history"].push(moved)
    at.run()
    at.button(key="undo").click().run()
    at.button(key="redo").click().run()
    _ok(at)
    assert _plan(at) is moved
    return moved


def _save_new(at: AppTest, name: str, author: str = "Ann", note: str = "") -> None:
    at.text_input(key="scenario_author").input(author)
    at.text_input(key="scenario_name").input(name)
    at.text_area(key="scenario_note").input(note)
    at.button(key="save_new").click().run()
    _ok(at)


class TestSaveAndOpen:
    def test_save_then_open_in_another_session(self, db):
        ann = _session()
        moved = _make_moves(ann)
        _save_new(ann, "Q3 draft", note="three accounts east")
        assert [s.value for s in ann.success] == ["Saved “Q3 draft” (version 1)."]
        info = ScenarioStore(db).list()[0]
        assert (info.name, info.author, info.note, info.n_moves) == (
            "Q3 draft",
            "Ann",
            "three accounts east",
            1,
        )
        table = ann.dataframe[0].value
        assert list(table["Name"]) == ["Q3 draft"]

        bo = _session()
        assert _plan(bo).moves == []
        bo.selectbox(key="scenario_pick").select(info.scenario_id)
        bo.button(key="open_scenario").click().run()
        _ok(bo)
        opened = _plan(bo)
        assert opened.assignment.equals(moved.assignment)
        assert opened.changelog().equals(moved.changelog())
        assert bo.session_state["history"].can_undo
        assert "Opened “Q3 draft”" in bo.success[0].value

    def test_conflict_is_reported_and_nothing_overwritten(self, db):
        ann = _session()
        _make_moves(ann, n=2)
        _save_new(ann, "Shared")
        scenario_id = ScenarioStore(db).list()[0].scenario_id
        bo = _session()
        bo.selectbox(key="scenario_pick").select(scenario_id)
        bo.button(key="open_scenario").click().run()
        # Both change the scenario; Ann saves first.
        ann_plan = _make_moves(ann, n=1, note="Ann's")
        ann.button(key="save_update").click().run()
        _ok(ann)
        _make_moves(bo, n=1, note="Bo's")
        bo.text_input(key="scenario_author").input("Bo")
        bo.button(key="save_update").click().run()
        _ok(bo)
        assert len(bo.error) == 1
        message = bo.error[0].value
        assert "changed since you opened it" in message and "Ann saved version 2" in message
        store = ScenarioStore(db)
        assert store.info(scenario_id).version == 2
        assert store.open(scenario_id).plan.assignment.equals(ann_plan.assignment)

    def test_names_from_users_are_shown_literally(self, db):
        at = _session()
        _save_new(at, "**bold** <b>x</b>")
        assert escape_markdown("**bold** <b>x</b>") in at.success[0].value
        assert "<b>" not in at.success[0].value and "**bold**" not in at.success[0].value


class TestBranchRenameDelete:
    def test_duplicate_rename_delete(self, db):
        at = _session()
        _make_moves(at)
        _save_new(at, "Base")
        store = ScenarioStore(db)
        base = store.list()[0]
        at.text_input(key="scenario_copy_name").input("Branch")
        at.button(key="duplicate_scenario").click().run()
        _ok(at)
        assert sorted(s.name for s in store.list()) == ["Base", "Branch"]
        branch = next(s for s in store.list() if s.name == "Branch")
        assert branch.parent_id == base.scenario_id
        at.selectbox(key="scenario_pick").select(branch.scenario_id)
        at.text_input(key="scenario_new_name").input("Branch B").run()
        at.button(key="rename_scenario").click().run()
        _ok(at)
        assert store.info(branch.scenario_id).name == "Branch B"
        # Delete waits for the confirmation.
        at.selectbox(key="scenario_pick").select(branch.scenario_id).run()
        assert at.button(key="delete_scenario").disabled
        at.checkbox(key="scenario_confirm_delete").check().run()
        at.button(key="delete_scenario").click().run()
        _ok(at)
        assert [s.name for s in store.list()] == ["Base"]


def _browser(at: AppTest) -> str:
    return at.session_state["_terrmap_browser_secret"]


def _url_key(at: AppTest) -> str:
    value = at.query_params["wc"]
    return value[0] if isinstance(value, list) else value


def _all_text(at: AppTest) -> str:
    """Everything an AppTest session shows, with every widget key."""
    parts = [str(getattr(element, "value", "")) for element in at.main]
    parts += [str(getattr(element, "value", "")) for element in at.sidebar]
    parts += [str(getattr(b, "key", "")) + str(getattr(b, "label", "")) for b in at.button]
    return "\n".join(parts)


class TestAutosave:
    def test_reload_in_the_same_browser_continues_the_working_copy_under_a_new_key(self, db):
        first = _session()
        moved = _make_moves(first)
        key = first.session_state["working_copy_key"]
        assert _url_key(first) == key  # the key rides in the URL
        again = _session(key=key, browser=_browser(first))
        assert _plan(again).assignment.equals(moved.assignment)
        assert _plan(again).changelog().equals(moved.changelog())
        assert "Restored your working copy" in again.success[0].value
        # A restored session gets its own key; its first autosave retires the old slot.
        assert again.session_state["working_copy_key"] != key
        _make_moves(again, n=1)
        store = ScenarioStore(db)
        assert store.autosave_info(key) is None
        assert _url_key(again) == again.session_state["working_copy_key"]
        assert store.autosave_info(_url_key(again)).n_moves == 2

    def test_another_browser_with_the_link_works_on_a_copy(self, db):
        author = _session()
        moved = _make_moves(author)
        key = author.session_state["working_copy_key"]
        intruder = _session(key=key)  # no cookie of the author's browser
        assert _browser(intruder) != _browser(author)
        assert _plan(intruder).assignment.equals(moved.assignment)
        assert "belongs to another browser" in intruder.info[0].value
        assert intruder.session_state["working_copy_key"] != key
        _make_moves(intruder, n=5)
        # The author's slot is untouched by the intruder's changes.
        store = ScenarioStore(db)
        _, _, kept = store.restore_autosave(key)
        assert kept.assignment.equals(moved.assignment)
        assert store.autosave_info(key).n_moves == 1
        assert _url_key(intruder) not in (key, None)

    def test_a_made_up_key_is_never_written(self, db):
        victim = _session(key="attackerchosen01")
        _make_moves(victim)
        store = ScenarioStore(db)
        assert store.autosave_info("attackerchosen01") is None
        assert _url_key(victim) == victim.session_state["working_copy_key"] != "attackerchosen01"

    def test_other_browsers_never_see_a_working_copy(self, db):
        author = _session()
        _make_moves(author)
        key = author.session_state["working_copy_key"]
        other = _session()
        assert key not in _all_text(other)
        assert not [b for b in other.button if "copy" in str(b.key)]
        assert "continue_latest_copy" not in {b.key for b in other.button}

    def test_a_new_tab_in_the_same_browser_offers_to_continue_the_latest_copy(self, db):
        first = _session()
        moved = _make_moves(first)
        tab = _session(browser=_browser(first))
        assert _plan(tab).moves == []
        tab.button(key="continue_latest_copy").click().run()
        _ok(tab)
        assert _plan(tab).assignment.equals(moved.assignment)
        assert tab.session_state["working_copy_key"] != first.session_state["working_copy_key"]
        # The page lists only this browser's copies; widget keys carry positions, not slot keys.
        third = _session(browser=_browser(first))
        third.button(key="restore_copy_0").click().run()
        _ok(third)
        assert _plan(third).assignment.equals(moved.assignment)

    def test_working_copies_expire(self, db, monkeypatch):
        from terrmap.web import working_copy

        first = _session()
        _make_moves(first)
        key = first.session_state["working_copy_key"]
        monkeypatch.setattr(working_copy, "AUTOSAVE_TTL", timedelta(0))
        later = _session(key=key, browser=_browser(first))
        assert _plan(later).moves == []
        assert ScenarioStore(db).autosave_info(key) is None


class TestComparePage:
    def test_scenario_against_baseline(self, db):
        at = _session()
        moved = _make_moves(at, n=4)
        _save_new(at, "Four moved")
        scenario_id = ScenarioStore(db).list()[0].scenario_id
        at.switch_page(COMPARE).run()
        _ok(at)
        at.selectbox(key="compare_before").select("__baseline__")
        at.selectbox(key="compare_after").select(scenario_id).run()
        _ok(at)
        workspace = at.session_state["workspace"]
        baseline = workspace.initial_plan
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Accounts moved"] == "4"
        changed = (baseline.codes != moved.codes).nonzero()[0]
        revenue = workspace.context.revenue[changed].sum()
        assert metrics["Revenue moved"] == f"${revenue:,.0f}"
        # The per-territory table, measure revenue: after - before per territory.
        at.selectbox(key="compare_measure").select("revenue").run()
        focus = at.dataframe[0].value
        before, after = baseline.metrics(), moved.metrics()
        for territory, row in after.iterrows():
            expected = row["revenue"] - before.loc[territory, "revenue"]
            assert focus.loc[row["name"], "Change"] == pytest.approx(expected)
        moved_table = at.dataframe[2].value
        assert len(moved_table) == 4
        names = workspace.accounts["name"].reindex(workspace.context.account_ids[changed])
        assert set(moved_table.index) == set(names)
        assert compare_plans(baseline, moved).disruption.accounts_moved == 4

    def test_two_maps_side_by_side_with_the_moved_accounts_ringed(
        self,
        db,
        fake_st_folium,  # noqa: F811
    ):
        at = _session()
        moved = _make_moves(at, n=4)
        _save_new(at, "Four moved")
        scenario_id = ScenarioStore(db).list()[0].scenario_id
        at.switch_page(COMPARE).run()
        at.selectbox(key="compare_before").select("__baseline__")
        at.selectbox(key="compare_after").select(scenario_id).run()
        _ok(at)
        baseline = at.session_state["workspace"].initial_plan
        calls = {c["key"]: c for c in fake_st_folium.calls if c["key"].startswith("compare_map")}
        assert set(calls) == {"compare_map_before", "compare_map_after"}
        changed = np.flatnonzero(baseline.codes != moved.codes)
        for key, plan in (("compare_map_before", baseline), ("compare_map_after", moved)):
            (update,) = calls[key]["feature_group_to_add"]._children.values()
            payload = json.loads(update.payload)
            ringed = np.unpackbits(
                np.frombuffer(base64.b64decode(payload["selected"]), dtype=np.uint8),
                bitorder="little",
            )[: len(plan.codes)]
            assert np.flatnonzero(ringed).tolist() == changed.tolist()
            codes = np.frombuffer(base64.b64decode(payload["codes"]), dtype=np.uint8)
            assert (codes.astype(int) - 1).tolist() == plan.codes.tolist()


def _texts(at: AppTest) -> list[str]:
    return [
        str(e.value)
        for kind in ("error", "warning", "caption", "markdown", "info", "success")
        for e in getattr(at, kind)
    ]


class TestUnusableDatabase:
    @pytest.mark.parametrize("page", [SCENARIOS, COMPARE])
    def test_a_damaged_database_is_one_line_not_a_traceback(self, db, page):
        db.write_bytes(b"not a database\n" * 100)
        at = _session(page)
        assert [e.value for e in at.error] == [
            escape_markdown(
                "The scenario database app.sqlite is unreadable (damaged or not a terrmap "
                "database): scenarios cannot be opened or saved until it is restored from a "
                "backup or TERRMAP_DB names another file."
            )
        ]
        assert not any(str(db.parent) in text for text in _texts(at))

    def test_the_map_editor_warns_that_autosave_failed(self, db):
        db.write_bytes(b"not a database\n" * 100)
        at = _session("pages/map_editor.py")
        _make_moves(at, note="unsaved")
        warnings = [w.value for w in at.warning]
        assert any(
            w.startswith("Your changes are not being autosaved: The scenario") for w in warnings
        )
        assert not any(str(db.parent) in w for w in warnings)

    def test_the_scenarios_page_names_the_file_not_its_folder(self, db):
        at = _session()
        texts = _texts(at)
        assert f"Database: {escape_markdown('app.sqlite')}" in texts
        assert not any(str(db.parent) in text for text in texts)


def test_a_read_only_database_lists_and_opens_but_says_why_it_cannot_save(tmp_path, monkeypatch):
    source = tmp_path / "shared"
    store = ScenarioStore(source / "team.sqlite")
    workspace = demo_workspace()
    dataset = store.save_dataset(workspace)
    plan = workspace.initial_plan.reassign(list(workspace.context.account_ids[:4]), None)
    info = store.save(plan, dataset_id=dataset, name="Team plan", author="Lee")
    store.close()
    with read_only_view(source) as mounted:
        monkeypatch.setenv("TERRMAP_DB", str(mounted / "team.sqlite"))
        at = _session()
        assert list(at.dataframe[0].value["Name"]) == ["Team plan"]
        at.selectbox(key="scenario_pick").select(info.scenario_id)
        at.button(key="open_scenario").click().run()
        _ok(at)
        assert _plan(at).assignment.equals(plan.assignment)
        _make_moves(at, n=2)
        _save_new(at, "Mine")
        assert [e.value for e in at.error] == [
            escape_markdown(
                "The scenario database team.sqlite is read-only: scenarios can be opened "
                "but not saved."
            )
        ]
        assert not any(str(mounted) in text for text in _texts(at))
