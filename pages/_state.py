"""Session state and the shared sidebar, written once for every page.

One History (immutable plans with undo/redo) per browser session lives in
``st.session_state``; pages read the current plan and replace the history,
never mutate it.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import weakref
from datetime import UTC, datetime

import streamlit as st
import streamlit.components.v1 as components

from pages import _auth
from terrmap.core.formatting import count
from terrmap.core.metrics import MEASURES
from terrmap.core.plan import History, Plan
from terrmap.demo import demo_workspace
from terrmap.geo.drawing import MapData, map_data
from terrmap.geo.workspace import Workspace
from terrmap.io.importing import escape_markdown
from terrmap.store.scenarios import (
    AutosaveInfo,
    ScenarioError,
    ScenarioInfo,
    ScenarioNotFoundError,
    ScenarioStore,
    StoreUnavailableError,
    dataset_key,
    default_db_target,
    history_of,
)
from terrmap.web import static_assets, working_copy
from terrmap.web.basemap import publish_basemap
from terrmap.web.editor import hover_texts
from terrmap.web.unitlayer import publish_units

logger = logging.getLogger(__name__)

WORKSPACE = "workspace"
HISTORY = "history"
TOLERANCE = "tolerance_pct"
MEASURE = "balance_measure"
USER = "user_name"
_SHELL_RUN = "_terrmap_shell_run"
#: Environment variable naming a folder written by ``terrmap demo`` (accounts.csv,
#: territories.geojson, reps.csv; with definition.json and units.parquet, territories
#: built on units, see terrmap.demo.folder_workspace) to start the app on instead
#: of the embedded data.
DATA_DIR_ENV = "TERRMAP_DATA_DIR"

_map_data: weakref.WeakKeyDictionary[Workspace, MapData] = weakref.WeakKeyDictionary()
_map_data_lock = threading.Lock()
_points_urls: weakref.WeakKeyDictionary[Workspace, str | None] = weakref.WeakKeyDictionary()
_tips_urls: weakref.WeakKeyDictionary[Workspace, str | None] = weakref.WeakKeyDictionary()
_basemap_urls: weakref.WeakKeyDictionary[Workspace, str | None] = weakref.WeakKeyDictionary()
_units_urls: weakref.WeakKeyDictionary[Workspace, str | None] = weakref.WeakKeyDictionary()


@st.cache_resource(show_spinner="Loading the demo data…", max_entries=4)
def _demo(data_dir: str | None) -> Workspace:
    # Immutable and the same for everybody: safe to share between sessions.
    if not data_dir:
        return demo_workspace()
    from terrmap.demo import folder_workspace

    return folder_workspace(data_dir)


def page_setup() -> None:
    """Call first in every page: make sure the app shell ran in this session.

    A folder named ``pages/`` next to ``app.py`` makes Streamlit start in its
    legacy multipage mode until ``st.navigation`` has been called once in the
    server process; a bookmarked page opened first after a restart then runs
    the page file alone, without the shell. Turning the legacy mode off and
    rerunning sends that visit through ``app.py`` like every other one.
    """
    if not st.session_state.pop(_SHELL_RUN, False):
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
        st.rerun()
    _auth.require_page(inspect.stack()[1].filename)


def mark_shell_run() -> None:
    """Record that ``app.py`` ran in this script run (called by app.py only)."""
    st.session_state[_SHELL_RUN] = True


def init_session() -> None:
    """Serve the map's files, load the plan in force (or the demo data) on first visit, set defaults.

    A user who may not edit never restores a working copy named in the URL:
    it is someone else's plan.
    """
    # Streamlit registers the folders only inside a script run; repeating it is free.
    static_assets.serve(components.declare_component)
    if WORKSPACE not in st.session_state:
        _start_working_copies()
    restore = _auth.may("edit") and restore_from_url
    if WORKSPACE not in st.session_state and not (restore and restore()):
        if not _start_from_publication():
            set_workspace(_demo(os.environ.get(DATA_DIR_ENV)), autosave=False)
        st.session_state[LATEST_OWN] = _latest_own_copy() if _auth.may("edit") else None
    st.session_state.setdefault(TOLERANCE, 10)
    st.session_state.setdefault(MEASURE, "revenue")


IN_FORCE = "plan_in_force"  # the Publication the session started from, if any


def _start_from_publication() -> bool:
    """Start the session on the plan in force, if one is published; whether it did."""
    try:
        store = scenario_store()
        publication = store.published()
        if publication is None:
            return False
        info = store.info(publication.scenario_id)
        ws = _stored_workspace(default_db_target(), info.dataset_id)
        opened = store.open(publication.scenario_id, ws, version=publication.version)
    except (ScenarioError, StoreUnavailableError, OSError, ValueError) as error:
        logger.warning("cannot open the plan in force: %s", error)
        return False
    _set_working(opened.workspace, info.dataset_id, opened.plan)
    st.session_state[OPENED] = opened.info
    st.session_state[SAVED_PLAN] = opened.plan
    st.session_state[IN_FORCE] = publication
    return True


def in_force():
    """The publication the session started from (``None``: the data's starting plan)."""
    return st.session_state.get(IN_FORCE)


def audit(
    action: str, target: str | None = None, detail: dict | None = None, *, actor: str | None = None
) -> None:
    """Append to the audit log (as the signed-in user by default); a failure is logged, not raised."""
    try:
        scenario_store().audit(actor or author() or "anonymous", action, target, detail or {})
    except (ScenarioError, StoreUnavailableError, OSError, ValueError) as error:
        logger.warning("audit %s not recorded: %s", action, error)


_auth.set_auditor(audit)


def audited(produce, target: str, detail: dict | None = None):
    """Wrap a download's producer so that making the file records an ``export`` audit row.

    The signed-in user and the store are taken now: the producer may run
    outside the script run, when the button is clicked.
    """
    actor = author() or "anonymous"
    try:
        store = scenario_store()
    except StoreUnavailableError:
        store = None

    def produce_and_record():
        data = produce()
        if store is not None:
            try:
                store.audit(actor, "export", target, detail or {})
            except (ScenarioError, StoreUnavailableError, OSError, ValueError) as error:
                logger.warning("export of %s not recorded: %s", target, error)
        return data

    return produce_and_record


def _start_working_copies() -> None:
    try:
        expire_working_copies()
    except (ScenarioError, OSError) as error:
        logger.warning("could not expire old working copies: %s", error)


def _latest_own_copy() -> AutosaveInfo | None:
    try:
        copies = own_working_copies()
    except (ScenarioError, OSError) as error:
        logger.warning("could not list working copies: %s", error)
        return None
    return copies[0] if copies else None


def set_workspace(workspace: Workspace, *, autosave: bool = True) -> None:
    """Make a workspace the working data set, starting a fresh history."""
    st.session_state[WORKSPACE] = workspace
    st.session_state[HISTORY] = History.start(workspace.initial_plan)
    st.session_state.pop(OPENED, None)
    st.session_state.pop(SAVED_PLAN, None)
    if autosave:
        autosave_working_copy()


def adopt_grown(workspace: Workspace, history: History) -> None:
    """Make a grown data set (territories added by a split) current, with its history.

    Unlike :func:`set_workspace` the history goes on: ``history`` holds the
    plans so far rebased onto ``workspace`` and the accepted step on top, so
    one Undo reverts the step.
    """
    st.session_state[WORKSPACE] = workspace
    st.session_state[HISTORY] = history
    autosave_working_copy()


def workspace() -> Workspace:
    """The working data set."""
    return st.session_state[WORKSPACE]


def currency() -> str | None:
    """ISO code of the working data set's money (``None``: the data does not say, USD)."""
    return getattr(workspace(), "currency", None)


def rep_names() -> dict[str, str]:
    """Rep id -> name for the working data set's reps (ids without a name are left out)."""
    reps = workspace().reps
    if reps is None or "name" not in reps.columns:
        return {}
    names = reps["name"].dropna()
    return {str(rep): str(name) for rep, name in names.items() if str(name).strip()}


def workspace_map() -> MapData:
    """Positions, colours and cells of the working data set, built once per data set."""
    ws = workspace()
    with _map_data_lock:
        return _map_for(ws)


def _map_for(ws: Workspace) -> MapData:
    # The caller holds _map_data_lock.
    data = _map_data.get(ws)
    if data is None:
        data = _map_data[ws] = map_data(ws)
    return data


def _published(urls: weakref.WeakKeyDictionary, publish, what: str) -> str | None:
    """URL of a file made from the working data set's positions, written once per data set."""
    ws = workspace()
    with _map_data_lock:
        if ws not in urls:
            data = _map_for(ws)
            try:
                urls[ws] = publish(data.lon, data.lat)
            except OSError as error:
                logger.warning("cannot publish %s: %s", what, error)
                urls[ws] = None
        return urls[ws]


def points_url() -> str | None:
    """URL the map loads the working data set's positions from (None: inline them)."""
    return _published(_points_urls, static_assets.publish_points, "positions, the map carries them")


def basemap_url() -> str | None:
    """URL of the offline outlines around the working data set (None: no outlines)."""
    return _published(_basemap_urls, publish_basemap, "the base map, the map has none")


def units_url() -> str | None:
    """URL of the working data set's unit outlines (None: no unit layer, or not writable)."""
    ws = workspace()
    if ws.units is None:
        return None
    with _map_data_lock:
        if ws not in _units_urls:
            try:
                _units_urls[ws] = publish_units(ws.units)
            except OSError as error:
                logger.warning("cannot publish the unit outlines, the map shows none: %s", error)
                _units_urls[ws] = None
        return _units_urls[ws]


def tips_url() -> str | None:
    """URL of the working data set's hover texts (None: the map shows no hover tooltips)."""
    ws = workspace()
    with _map_data_lock:
        if ws not in _tips_urls:
            texts = hover_texts(ws.initial_plan, _map_for(ws), getattr(ws, "currency", None))
            try:
                _tips_urls[ws] = static_assets.publish_json(texts, "tips")
            except OSError as error:
                logger.warning("cannot publish hover texts, the map shows none: %s", error)
                _tips_urls[ws] = None
        return _tips_urls[ws]


def history() -> History:
    """Undo/redo history of plans."""
    return st.session_state[HISTORY]


def plan() -> Plan:
    """The plan in force."""
    return history().current


def push(new_plan: Plan) -> None:
    """Make ``new_plan`` current (undoable)."""
    st.session_state[HISTORY] = history().push(new_plan)
    autosave_working_copy()


def tolerance() -> float:
    """Balance tolerance band in percent."""
    return float(st.session_state[TOLERANCE])


def measure() -> str:
    """Measure balance is judged on."""
    return st.session_state[MEASURE]


def _undo() -> None:
    st.session_state[HISTORY] = history().undo()
    autosave_working_copy()


def _redo() -> None:
    st.session_state[HISTORY] = history().redo()
    autosave_working_copy()


def sidebar() -> None:
    """Data set, undo/redo and the balance settings, on every page."""
    with st.sidebar:
        _auth.sidebar_block()
        ws = workspace()
        st.caption(
            f"Data: **{ws.name}** · {count(ws.context.n_accounts, 'account')} · "
            f"{count(ws.context.n_territories, 'territory')}"
        )
        if _auth.may("edit"):
            h = history()
            # One under the other: side by side, the shortcut hints leave no room for the labels.
            st.button(
                "↶ Undo",
                disabled=not h.can_undo,
                width="stretch",
                key="undo",
                on_click=_undo,
                shortcut="Ctrl+Z",
            )
            st.button(
                "↷ Redo",
                disabled=not h.can_redo,
                width="stretch",
                key="redo",
                on_click=_redo,
                shortcut="Ctrl+Shift+Z",
            )
            st.caption(f"{count(len(plan().moves), 'move')} in this plan")
        st.selectbox("Balance measure", list(MEASURES), format_func=MEASURES.get, key=MEASURE)
        st.slider("Balanced within ± %", min_value=1, max_value=50, key=TOLERANCE)
        if _auth.current_user() is None:
            st.text_input(
                "Name for the change log", key=USER, help="Recorded with each move you make."
            )
        latest = st.session_state.get(LATEST_OWN)
        if latest is not None and not plan().moves:
            st.button(
                "Continue your latest working copy",
                key="continue_latest_copy",
                on_click=_continue_latest,
                help=f"{latest.n_moves} moves on {latest.dataset_name}, "
                f"autosaved {latest.saved_at:%Y-%m-%d %H:%M} UTC",
                width="stretch",
            )
        remember_browser()


def _continue_latest() -> None:
    latest = st.session_state.pop(LATEST_OWN, None)
    if latest is None:
        return
    try:
        st.session_state[RESTORED] = restore_working_copy(latest.session_key)
    except (ScenarioError, OSError, ValueError) as error:
        logger.warning("could not continue the latest working copy: %s", error)
        st.session_state[AUTOSAVE_ERROR] = f"could not continue the working copy: {error}"
        return
    autosave_working_copy()  # under this session's key, in the URL from now on


def author() -> str | None:
    """Who is making changes: the signed-in user, else the sidebar's name if given."""
    user = _auth.current_user()
    if user is not None:
        return user.author
    name = str(st.session_state.get(USER) or "").strip()
    return name or None


# --------------------------------------------------------------------------- playbook
# Rep swaps and visit cadence change the data the plans are judged on, not the
# plans: the working data set is rebuilt from the one loaded ("base") and the
# plan history is replayed over it, so moves, undo and the change log survive.
PLAYBOOK = "playbook"
#: Qualitative goals: {territory id: note}, a plain dict a scenario can save.
GOAL_NOTES = "goal_notes"
#: Quotas in force: {territory id: quota}, a plain dict a scenario can save.
QUOTAS = "territory_quotas"
_KEEP = object()


def _playbook() -> dict:
    state = st.session_state.get(PLAYBOOK)
    if state is not None and state["current"] is workspace():
        return state
    # No playbook change yet, or another data set was loaded since.
    return {"base": workspace(), "current": workspace(), "territory_reps": {}, "cadence": None}


def base_workspace() -> Workspace:
    """The data set as loaded, before rep swaps and cadence."""
    return _playbook()["base"]


def territory_reps_changed() -> dict:
    """Territory id -> rep id for the rep swaps accepted on this data set."""
    return dict(_playbook()["territory_reps"])


def cadence() -> dict | None:
    """The cadence in force (settings and ``visits`` per account), ``None`` for the data's."""
    return _playbook()["cadence"]


def apply_playbook(*, territory_reps=_KEEP, cadence=_KEEP) -> None:
    """Rebuild the working data set with rep swaps and/or a cadence; keep the plans.

    Parameters
    ----------
    territory_reps : dict, optional
        Territory id -> rep id, merged into the swaps accepted so far
        (``{}`` or ``None`` forgets them all).
    cadence : dict or None, optional
        Cadence settings with ``visits`` (a Series of visits a year per
        account id); ``None`` returns to the data's visits.
    """
    from terrmap.geo.workspace import rebase_history, with_territory_reps, with_visits

    state = _playbook()
    reps = dict(state["territory_reps"])
    if territory_reps is not _KEEP:
        reps = {**reps, **territory_reps} if territory_reps else {}
    new_cadence = state["cadence"] if cadence is _KEEP else cadence
    ws = state["base"]
    if reps:
        ws = with_territory_reps(ws, reps)
    if new_cadence is not None:
        ws = with_visits(ws, new_cadence["visits"])
    st.session_state[HISTORY] = rebase_history(history(), ws.context)
    st.session_state[WORKSPACE] = ws
    st.session_state[PLAYBOOK] = {
        "base": state["base"],
        "current": ws,
        "territory_reps": reps,
        "cadence": new_cadence,
    }


def goal_notes() -> dict[str, str]:
    """Qualitative goal notes per territory id (the live dict in session state)."""
    return st.session_state.setdefault(GOAL_NOTES, {})


def quotas() -> dict[str, float]:
    """Quotas in force per territory id (empty until set on the Goals page)."""
    return st.session_state.setdefault(QUOTAS, {})


# --------------------------------------------------------------------------- scenarios
# The working copy autosaves to the scenario store after every change (push,
# undo, redo, new data). From the first autosave on, its slot key rides in the
# URL (``?wc=...``), so reloading the page, or reopening a closed tab from the
# browser's history, restores it; the Scenarios page offers every other
# autosaved copy.

OPENED = "scenario_opened"  # ScenarioInfo of the scenario the working plan came from
SAVED_PLAN = "scenario_saved_plan"  # the plan as last opened or saved (dirty check)
SESSION_KEY = "working_copy_key"
BROWSER_SECRET = "_terrmap_browser_secret"  # this browser's secret (cookie), see working_copy
FORKED_FROM = "_terrmap_forked_from"  # own slot restored from: discarded at the first autosave
COPY_OF_OTHER = "working_copy_of_other"  # AutosaveInfo of another browser's copy opened here
LATEST_OWN = "_terrmap_latest_own"  # this browser's latest other working copy, at session start
DATASET = "dataset_id"  # (workspace, its dataset id in the store)
RESTORED = "working_copy_restored"  # AutosaveInfo restored at session start
AUTOSAVE_ERROR = "autosave_error"
KEY_PARAM = "wc"


@st.cache_resource(show_spinner=False, max_entries=4)
def _store(target: str) -> ScenarioStore:
    # Holds its engine (a thread-safe connection pool): safe to share.
    return ScenarioStore(target)


@st.cache_resource(show_spinner="Loading the stored data set…", max_entries=8)
def _stored_workspace(target: str, dataset_id: str) -> Workspace:
    # A workspace is immutable: one per stored data set for everybody. Bounded:
    # a server that opened many data sets keeps the 8 most recently used.
    return _store(target).load_workspace(dataset_id)


def scenario_store() -> ScenarioStore:
    """The scenario store of this server (``TERRMAP_DB``).

    Raises
    ------
    StoreUnavailableError
        When the database cannot be opened (the message is for the user).
    """
    return _store(default_db_target())


_auth.set_store(scenario_store)


def store_or_stop() -> ScenarioStore:
    """The scenario store, or the database's one-line error on the page and nothing below it."""
    try:
        return scenario_store()
    except StoreUnavailableError as error:
        st.error(escape_markdown(error.user_message))
        st.caption("The map editor and the other pages keep working with the plan in memory.")
        st.stop()


def show_autosave_error() -> None:
    """Warn that the working copy is not being autosaved (and why), if so."""
    error = st.session_state.get(AUTOSAVE_ERROR)
    if error:
        st.warning(
            f"Your changes are not being autosaved: {escape_markdown(error)} "
            "Closing this tab would lose them.",
            icon="⚠️",
        )


def browser_secret() -> str:
    """This browser's secret: from its cookie, or a new one the sidebar sets as the cookie."""
    if BROWSER_SECRET not in st.session_state:
        cookie = st.context.cookies.get(working_copy.BROWSER_COOKIE)
        st.session_state[BROWSER_SECRET] = (
            cookie if working_copy.is_valid_secret(cookie) else working_copy.new_browser_secret()
        )
    return st.session_state[BROWSER_SECRET]


def remember_browser() -> None:
    """Store the browser secret in a cookie when the browser did not send it (first visit)."""
    secret = browser_secret()
    if st.context.cookies.get(working_copy.BROWSER_COOKIE) == secret:
        return
    # The secret only ever goes to its own browser; SameSite keeps it off other sites' requests.
    st.html(
        "<script>document.cookie = "
        f'"{working_copy.BROWSER_COOKIE}={secret}; path=/; max-age=31536000; SameSite=Strict"'
        ' + (location.protocol === "https:" ? "; Secure" : "");</script>',
        unsafe_allow_javascript=True,
    )


def session_key() -> str:
    """This session's autosave slot: always its own, never one taken from a URL."""
    if SESSION_KEY not in st.session_state:
        st.session_state[SESSION_KEY] = working_copy.new_key(browser_secret())
    return st.session_state[SESSION_KEY]


def sync_session_key() -> None:
    """Keep the slot key in the URL, so a reload finds the working copy."""
    key = session_key()
    if st.query_params.get(KEY_PARAM) != key:
        st.query_params[KEY_PARAM] = key


def dataset_id() -> str:
    """Id of the working data set in the store (stored on first use)."""
    ws = workspace()
    known = st.session_state.get(DATASET)
    if known is None or known[0] is not ws:
        try:
            dataset = scenario_store().save_dataset(ws)
        except StoreUnavailableError as error:
            if not error.can_read:
                raise
            # Read-only or full: the scenarios of this data set can still be listed.
            dataset = dataset_key(ws)
        st.session_state[DATASET] = (ws, dataset)
    return st.session_state[DATASET][1]


def workspace_of(dataset: str) -> Workspace:
    """The working workspace if it is ``dataset``, else the stored one."""
    if dataset_id() == dataset:
        return workspace()
    return _stored_workspace(default_db_target(), dataset)


def _set_working(ws: Workspace, dataset: str, new_plan: Plan) -> None:
    st.session_state[WORKSPACE] = ws
    st.session_state[DATASET] = (ws, dataset)
    st.session_state[HISTORY] = history_of(new_plan)


def opened() -> ScenarioInfo | None:
    """The scenario the working plan was opened from or last saved as."""
    return st.session_state.get(OPENED)


def unsaved_moves() -> bool:
    """Whether the working plan differs from what was last opened or saved."""
    saved = st.session_state.get(SAVED_PLAN)
    if saved is not None:
        return saved is not plan()
    return bool(plan().moves)


def adopt(info: ScenarioInfo, ws: Workspace, new_plan: Plan) -> None:
    """Make an opened scenario's plan the working one, undo through its moves."""
    _set_working(ws, info.dataset_id, new_plan)
    st.session_state[OPENED] = info
    st.session_state[SAVED_PLAN] = new_plan
    autosave_working_copy()


def mark_saved(info: ScenarioInfo) -> None:
    """Record that the working plan is now saved as ``info``."""
    st.session_state[OPENED] = info
    st.session_state[SAVED_PLAN] = plan()
    autosave_working_copy()


def autosave_working_copy() -> None:
    """Write the working plan to this session's slot; a failure is logged, not raised."""
    info = opened()
    try:
        scenario_store().autosave(
            session_key(),
            plan(),
            dataset_id=dataset_id(),
            scenario_id=info.scenario_id if info is not None else None,
            scenario_version=info.version if info is not None else None,
        )
        st.session_state.pop(AUTOSAVE_ERROR, None)
        sync_session_key()  # from now on there is something to restore
        forked_from = st.session_state.pop(FORKED_FROM, None)
        if forked_from is not None:
            # This browser's own copy, continued under this session's key.
            scenario_store().discard_autosave(forked_from)
    except (ScenarioError, StoreUnavailableError, OSError, ValueError) as error:
        logger.warning("autosave failed: %s", error)
        st.session_state[AUTOSAVE_ERROR] = str(error)


def own_working_copies() -> list[AutosaveInfo]:
    """This browser's unexpired working copies other than this session's, latest first."""
    return working_copy.own_copies(
        scenario_store().autosaves(),
        browser_secret(),
        datetime.now(UTC),
        ttl=working_copy.AUTOSAVE_TTL,
        exclude=st.session_state.get(SESSION_KEY),
    )


def expire_working_copies() -> None:
    """Drop what nobody used for ``working_copy.AUTOSAVE_TTL``.

    Working copies, the data sets only they used, and the published position
    and base-map files.
    """
    scenario_store().prune(working_copy.AUTOSAVE_TTL)
    scenario_store().prune_sessions()
    static_assets.prune_points(working_copy.AUTOSAVE_TTL)


def restore_working_copy(key: str) -> AutosaveInfo:
    """Open the working copy autosaved under ``key`` in this session, under a key of its own.

    This browser's own copy is continued (its old slot is discarded at the
    first autosave); another browser's copy is opened as a copy, and its
    slot is never written from here.
    """
    store = scenario_store()
    found = store.autosave_info(key)
    if found is None or working_copy.expired([found], datetime.now(UTC), working_copy.AUTOSAVE_TTL):
        raise ScenarioNotFoundError("no such autosaved working copy (it may have expired)")
    ws = (
        workspace_of(found.dataset_id)
        if WORKSPACE in st.session_state
        else _stored_workspace(store.target, found.dataset_id)
    )
    info, ws, restored = store.restore_autosave(key, ws)
    own = working_copy.is_own(key, browser_secret())
    st.session_state[SESSION_KEY] = working_copy.new_key(browser_secret())
    st.session_state[FORKED_FROM] = key if own else None
    st.session_state[COPY_OF_OTHER] = None if own else info
    scenario, saved = None, None
    if info.scenario_id is not None:
        try:
            stored = store.load(info.scenario_id, info.scenario_version)
        except ScenarioNotFoundError:
            stored = None  # deleted since: the copy saves as a new scenario
        if stored is not None:
            scenario = stored.info
            unchanged = stored.moves == tuple(restored.moves) and stored.assignment.equals(
                restored.assignment
            )
            saved = restored if unchanged else None
    _set_working(ws, info.dataset_id, restored)
    st.session_state[OPENED] = scenario
    st.session_state[SAVED_PLAN] = saved
    return info


def restore_from_url() -> bool:
    """At session start: restore the working copy the URL's slot key names."""
    key = st.query_params.get(KEY_PARAM)
    if not key:
        return False
    try:
        st.session_state[RESTORED] = restore_working_copy(key)
    except (ScenarioError, StoreUnavailableError, OSError, ValueError) as error:
        logger.warning("could not restore working copy %s…: %s", key[:6], error)
        del st.query_params[KEY_PARAM]
        return False
    return True
