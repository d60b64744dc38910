"""Scenarios page: save the working plan, list, open, branch, rename, delete, restore.

The work is :class:`terrmap.store.scenarios.ScenarioStore` (reached through
``_state.scenario_store()``); this page renders it. Every change happens in a
button callback, so the sidebar of the same run already shows its effect,
and the outcome is shown as a message on the next run. Names, authors and
notes come from users: they reach the screen through ``st.dataframe``,
widget options or :func:`~terrmap.io.safe.escape_markdown`.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from pages import _auth, _state
from terrmap.core.formatting import count, timestamp
from terrmap.io.safe import escape_markdown
from terrmap.store.scenarios import ScenarioConflictError, ScenarioError

FLASH = "scenarios_flash"  # (kind, markdown) shown once on the next run
AUTHOR = "scenario_author"
NAME = "scenario_name"
NOTE = "scenario_note"
PICK = "scenario_pick"
NEW_NAME = "scenario_new_name"
COPY_NAME = "scenario_copy_name"
CONFIRM_DELETE = "scenario_confirm_delete"
REPLACE_OK = "scenario_replace_ok"
CONFLICT = "scenario_conflict"  # the ScenarioConflictError of the last save

_state.page_setup()
store = _state.store_or_stop()
ss = st.session_state


def _flash(kind: str, text: str) -> None:
    ss[FLASH] = (kind, text)


def _author() -> str | None:
    # Signed in: the user; else the name typed on this page.
    if _auth.current_user() is not None:
        return _state.author()
    return ss.get(AUTHOR)


def _name(text: object) -> str:
    return f"“{escape_markdown(text)}”"


# --------------------------------------------------------------------------- callbacks


def _save(update: bool) -> None:
    opened = _state.opened()
    if not update and not str(ss.get(NAME) or "").strip():
        _flash("error", "Give the scenario a name first, then save it.")
        return
    try:
        info = store.save(
            _state.plan(),
            dataset_id=_state.dataset_id(),
            name=None if update else ss.get(NAME, ""),
            author=_author(),
            note=ss.get(NOTE),
            scenario_id=opened.scenario_id if update else None,
            expected_version=opened.version if update else None,
        )
    except ScenarioConflictError as error:
        ss[CONFLICT] = error
        return
    except (ScenarioError, ValueError) as error:
        _flash("error", escape_markdown(error))
        return
    ss.pop(CONFLICT, None)
    _state.mark_saved(info)
    _flash("success", f"Saved {_name(info.name)} (version {info.version}).")


def _open(scenario_id: str) -> None:
    try:
        info = store.info(scenario_id)
        opened = store.open(scenario_id, _state.workspace_of(info.dataset_id))
    except (ScenarioError, ValueError) as error:
        _flash("error", escape_markdown(error))
        return
    _state.adopt(opened.info, opened.workspace, opened.plan)
    ss.pop(CONFLICT, None)
    ss[REPLACE_OK] = False
    _flash(
        "success",
        f"Opened {_name(opened.info.name)} (version {opened.info.version}, "
        f"{count(opened.info.n_moves, 'move')}). Undo steps back through its moves.",
    )


def _duplicate(scenario_id: str) -> None:
    try:
        info = store.duplicate(scenario_id, ss.get(COPY_NAME, ""), author=_author())
    except (ScenarioError, ValueError) as error:
        _flash("error", escape_markdown(error))
        return
    ss[COPY_NAME] = ""
    ss[PICK] = info.scenario_id
    _flash("success", f"Created {_name(info.name)}, a branch of the selected scenario.")


def _rename(scenario_id: str) -> None:
    try:
        info = store.rename(scenario_id, ss.get(NEW_NAME, ""))
    except (ScenarioError, ValueError) as error:
        _flash("error", escape_markdown(error))
        return
    opened = _state.opened()
    if opened is not None and opened.scenario_id == scenario_id:
        ss[_state.OPENED] = dataclasses.replace(opened, name=info.name)
    ss[NEW_NAME] = ""
    _flash("success", f"Renamed to {_name(info.name)}.")


def _delete(scenario_id: str, version: int) -> None:
    try:
        name = store.info(scenario_id).name
        store.delete(scenario_id, expected_version=version)
    except (ScenarioError, ValueError) as error:
        _flash("error", escape_markdown(error))
        return
    opened = _state.opened()
    if opened is not None and opened.scenario_id == scenario_id:
        ss[_state.OPENED] = None  # the working plan stays; saving makes a new scenario
        ss[_state.SAVED_PLAN] = None
    ss[CONFIRM_DELETE] = False
    ss.pop(PICK, None)
    _flash("success", f"Deleted {_name(name)}.")


def _restore(key: str) -> None:
    try:
        info = _state.restore_working_copy(key)
    except (ScenarioError, ValueError) as error:
        _flash("error", escape_markdown(error))
        return
    _state.autosave_working_copy()  # continued under this session's own key
    ss[REPLACE_OK] = False
    _flash("success", f"Restored the working copy autosaved {timestamp(info.saved_at)}.")


def _discard(key: str) -> None:
    if key in {copy.session_key for copy in _state.own_working_copies()}:
        store.discard_autosave(key)
        _flash("success", "Discarded that autosaved working copy.")


# --------------------------------------------------------------------------- page

st.title("Scenarios")
st.caption(
    "Save the working plan as a named scenario, branch and compare scenarios. "
    "The working plan also autosaves after every change: reloading this page restores it."
)

flash = ss.pop(FLASH, None)
if flash is not None:
    getattr(st, flash[0])(flash[1])
restored = ss.pop(_state.RESTORED, None)
if restored is not None and ss.get(_state.COPY_OF_OTHER) is None:
    st.success(
        f"Restored your working copy autosaved at {restored.saved_at:%Y-%m-%d %H:%M:%S} UTC "
        f"({restored.n_moves} moves)."
    )
other = ss.get(_state.COPY_OF_OTHER)
if other is not None:
    st.info(
        f"This link's working copy ({other.n_moves} moves, autosaved "
        f"{other.saved_at:%Y-%m-%d %H:%M} UTC) belongs to another browser. You are working on a "
        "copy of it: your changes autosave under a key of your own and never change the original."
    )
_state.show_autosave_error()

opened = _state.opened()
plan = _state.plan()
ws = _state.workspace()
dirty = _state.unsaved_moves()

# -- the working plan ----------------------------------------------------------
st.subheader("Working plan")
status = (
    f"Opened from {_name(opened.name)} version {opened.version}"
    + (" · **unsaved changes**" if dirty else " · saved")
    if opened is not None
    else ("Not saved as a scenario yet" if plan.moves else "The data set's starting plan")
)
st.markdown(
    f"Data: {escape_markdown(ws.name)} · {len(plan.moves)} moves in its change log · {status}"
)

conflict = ss.get(CONFLICT)
if conflict is not None:
    st.error(escape_markdown(conflict))

with st.container(border=True):
    left, right = st.columns(2)
    if _auth.current_user() is None:
        left.text_input("Your name", key=AUTHOR, placeholder="Who is saving")
    else:
        left.text_input("Saved by", value=_state.author(), disabled=True)
    right.text_input("Scenario name", key=NAME, placeholder="e.g. Q3 rebalance, West split in two")
    st.text_area("Note", key=NOTE, height=80, placeholder="What this plan changes, and why")
    a, b = st.columns(2)
    a.button(
        "Save as new scenario",
        type="primary" if opened is None else "secondary",
        width="stretch",
        on_click=_save,
        args=(False,),
        key="save_new",
    )
    if opened is not None:
        b.button(
            f"Save changes to {_name(opened.name)}",
            type="primary",
            width="stretch",
            disabled=not dirty,
            on_click=_save,
            args=(True,),
            key="save_update",
            help="Fails with a message, and saves nothing, if someone else saved it since you opened it.",
        )

# -- saved scenarios -------------------------------------------------------------
st.subheader("Saved scenarios")
scenarios = store.list()
if not scenarios:
    st.info("No scenario saved yet. Move accounts on the map, then save the plan above.")
else:
    table = pd.DataFrame(
        {
            "Name": [s.name for s in scenarios],
            "Data set": [s.dataset_name for s in scenarios],
            "Author": [s.author or "" for s in scenarios],
            "Note": [s.note or "" for s in scenarios],
            "Version": [s.version for s in scenarios],
            "Moves": [s.n_moves for s in scenarios],
            "Accounts changed": [s.n_changed for s in scenarios],
            "Last saved (UTC)": [s.updated_at.replace(tzinfo=None) for s in scenarios],
            "Saved by": [s.updated_by or "" for s in scenarios],
        }
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "Last saved (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")
        },
        key="scenario_table",
    )
    by_id = {s.scenario_id: s for s in scenarios}
    if ss.get(PICK) not in by_id:
        ss[PICK] = (
            opened.scenario_id
            if opened is not None and opened.scenario_id in by_id
            else scenarios[0].scenario_id
        )
    picked = by_id[
        st.selectbox("Scenario", list(by_id), format_func=lambda i: by_id[i].name, key=PICK)
    ]

    open_tab, branch_tab, rename_tab, delete_tab = st.tabs(
        ["Open", "Duplicate", "Rename", "Delete"]
    )
    with open_tab:
        if dirty:
            st.warning(
                f"The working plan has changes not saved as a scenario ({len(plan.moves)} moves "
                "in its log). Opening replaces it in this session."
            )
            st.checkbox("Replace my working plan", key=REPLACE_OK)
        other_data = picked.dataset_id != _state.dataset_id()
        if other_data:
            st.caption(f"Opening switches the data set to {escape_markdown(picked.dataset_name)}.")
        st.button(
            "Open scenario",
            type="primary",
            disabled=dirty and not ss.get(REPLACE_OK, False),
            on_click=_open,
            args=(picked.scenario_id,),
            key="open_scenario",
        )
    with branch_tab:
        st.text_input("Name of the copy", key=COPY_NAME)
        st.button(
            "Duplicate", on_click=_duplicate, args=(picked.scenario_id,), key="duplicate_scenario"
        )
    with rename_tab:
        st.text_input("New name", key=NEW_NAME)
        st.button("Rename", on_click=_rename, args=(picked.scenario_id,), key="rename_scenario")
    with delete_tab:
        st.checkbox(
            f"Yes, delete {_name(picked.name)} and its {count(picked.version, 'saved version')}",
            key=CONFIRM_DELETE,
        )
        st.button(
            "Delete scenario",
            disabled=not ss.get(CONFIRM_DELETE, False),
            on_click=_delete,
            args=(picked.scenario_id, picked.version),
            key="delete_scenario",
        )
    with st.expander(f"Versions of {_name(picked.name)}"):
        st.dataframe(store.versions(picked.scenario_id), hide_index=True, width="stretch")

# -- autosaved working copies ----------------------------------------------------
# Only this browser's own copies; widget keys are positions, never slot keys.
mine = _state.own_working_copies()
st.subheader("Your autosaved working copies")
if not mine:
    st.caption(
        "No other working copy of yours. This tab's is kept up to date after every change "
        "(other browsers never see it)."
    )
else:
    st.caption(
        "Working plans of your closed or other tabs in this browser, latest first. Continuing "
        "one replaces this tab's working plan."
    )
    for position, copy in enumerate(mine[:10]):
        row = st.columns([4, 1, 1], vertical_alignment="center")
        source = ""
        if copy.scenario_id is not None:
            source = " · opened from a saved scenario"
        row[0].markdown(
            f"{copy.saved_at:%Y-%m-%d %H:%M:%S} UTC · {escape_markdown(copy.dataset_name)} · "
            f"{copy.n_moves} moves, {copy.n_changed} accounts changed{source}"
        )
        row[1].button(
            "Continue your latest working copy" if position == 0 else "Continue",
            key=f"restore_copy_{position}",
            on_click=_restore,
            args=(copy.session_key,),
            width="stretch",
        )
        row[2].button(
            "Discard",
            key=f"discard_copy_{position}",
            on_click=_discard,
            args=(copy.session_key,),
            width="stretch",
        )

with st.expander(f"Change log of the working plan ({len(plan.changelog())} account moves)"):
    st.dataframe(plan.changelog(), width="stretch", hide_index=True)
st.caption(f"Database: {escape_markdown(store.name)}")
