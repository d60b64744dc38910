"""Sign-in for the app: OIDC through Streamlit, a local user file, or none.

* ``[auth]`` in ``.streamlit/secrets.toml``: Streamlit's built-in OIDC sign-in
  (``st.login``); the user file (``TERRMAP_USERS``) gives each email address
  its role.
* else ``TERRMAP_USERS`` names a user file: username and password, checked
  against its Argon2 hashes (:mod:`terrmap.store.users`). The sign-in then
  lasts across page reloads: a signed, expiring token in a cookie names a
  session row of the store, ended at sign-out (:mod:`terrmap.store.sessions`).
* else no sign-in: one person uses the app as before, and a caption says so.

The rules (which role sees which page, does what) are in
:mod:`terrmap.playbook.roles`; this module only asks and remembers who it is.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import streamlit as st

from terrmap.io.safe import escape_markdown
from terrmap.playbook import roles
from terrmap.playbook.roles import PAGES, User, can, pages_for
from terrmap.store.errors import ScenarioError
from terrmap.store.sessions import SESSION_COOKIE, SessionTokens, session_secret
from terrmap.store.users import (
    USERS_ENV,
    SignInThrottle,
    UserRecord,
    authenticate,
    identity_user,
    load_users,
    users_path,
)

logger = logging.getLogger(__name__)

#: Where sign-ins and sign-outs are recorded: set once by ``pages._state``
#: (which imports this module, so this one must not import it back).
_auditor: Callable[..., None] | None = None


#: The scenario store (it keeps the sign-in sessions): set once by ``pages._state``.
_store_of: Callable[[], object] | None = None


def set_auditor(record: Callable[..., None]) -> None:
    """Record sign-ins and sign-outs with ``record(action, target, detail, actor=...)``."""
    global _auditor
    _auditor = record


def set_store(store: Callable[[], object]) -> None:
    """Keep sign-in sessions in the store ``store()`` returns (a ``ScenarioStore``)."""
    global _store_of
    _store_of = store


def _audit(action: str, target: str | None = None, detail: dict | None = None, **kw) -> None:
    if _auditor is not None:
        _auditor(action, target, detail, **kw)


SIGNED_IN = "signed_in_user"
_USERNAME = "sign_in_username"
_PASSWORD = "sign_in_password"
_ERROR = "sign_in_error"
SESSION_ID = "sign_in_session_id"
#: Cookie to write at the next render: a token, or "" to delete it.
_COOKIE = "sign_in_cookie_pending"
#: Set at sign-out: this browser session never signs in again from a cookie it sent before.
_NO_RESUME = "sign_in_no_resume"
SINGLE_USER_NOTE = (
    "No sign-in configured: one person uses this app, and anyone who opens it can edit. "
    f"Set {USERS_ENV} or OIDC sign-in for a team."
)


@st.cache_resource(show_spinner=False)
def _throttle() -> SignInThrottle:
    # One per server: failed sign-ins are counted across its sessions.
    return SignInThrottle()


@st.cache_data(show_spinner=False, max_entries=4)
def _users(path: str, mtime_ns: int) -> dict[str, UserRecord]:
    del mtime_ns  # part of the cache key: an edited file is read again
    return load_users(path)


@st.cache_resource(show_spinner=False, max_entries=4)
def _tokens(path: str) -> SessionTokens:
    # The secret is read (or created) once per server and user file.
    return SessionTokens(session_secret(path))


def _user_file() -> dict[str, UserRecord]:
    path = users_path()
    if path is None or not path.exists():
        return {}
    return _users(str(path), path.stat().st_mtime_ns)


def oidc_configured() -> bool:
    """Whether ``secrets.toml`` configures Streamlit's OIDC sign-in (``[auth]``)."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        return False


def mode() -> str:
    """``"oidc"``, ``"local"`` (user file) or ``"none"``."""
    if oidc_configured():
        return "oidc"
    return "local" if users_path() is not None else "none"


def current_user() -> User | None:
    """The signed-in user (``None`` without sign-in configured)."""
    return st.session_state.get(SIGNED_IN)


def gate() -> User | None:
    """Show the sign-in screen and stop the run until someone is signed in.

    Returns
    -------
    User or None
        The signed-in user; ``None`` when no sign-in is configured.
    """
    how = mode()
    if how == "none":
        st.session_state.pop(SIGNED_IN, None)
        return None
    if how == "oidc":
        return _oidc_gate()
    user = current_user()
    if user is not None:
        # The file may have changed since (role, removal): it has the last word;
        # a sign-out in another tab or server ends this session too.
        record = _user_file().get(user.username)
        if record is not None and record.user == user and _session_live(user):
            return user
        st.session_state.pop(SIGNED_IN, None)
        st.session_state.pop(SESSION_ID, None)
    resumed = _resume()
    if resumed is not None:
        return resumed
    _only(_local_form)


# --------------------------------------------------------------------------- sessions


def _bound_to(record: UserRecord) -> str:
    # A digest of the password hash: a new password refuses the tokens issued before.
    return hashlib.sha256(record.password_hash.encode()).hexdigest()[:16]


def _session_store():
    if _store_of is None:
        return None
    try:
        return _store_of()
    except (ScenarioError, OSError) as error:
        logger.warning("sign-in sessions unavailable: %s", error)
        return None


def _start_session(user: User, record: UserRecord) -> None:
    """Record a session and have the browser keep its token (a failure: no reload memory)."""
    store = _session_store()
    path = users_path()
    if store is None or path is None:
        return
    try:
        session_id = store.start_session(user.username)
        token = _tokens(str(path)).issue(user.username, session_id, _bound_to(record))
    except (ScenarioError, OSError, ValueError) as error:
        logger.warning("the sign-in of %s will not survive a reload: %s", user.username, error)
        return
    st.session_state[SESSION_ID] = session_id
    st.session_state[_COOKIE] = token


def _session_live(user: User) -> bool:
    """Whether this session's sign-in was not ended elsewhere (unknown: it was not)."""
    session_id = st.session_state.get(SESSION_ID)
    store = _session_store() if session_id else None
    if store is None:
        return True
    try:
        return store.session_user(session_id) == user.username
    except ScenarioError as error:
        logger.warning("cannot check the sign-in session of %s: %s", user.username, error)
        return True


def _resume() -> User | None:
    """Sign in again from the browser's session cookie, if its token is genuine and live."""
    token = st.context.cookies.get(SESSION_COOKIE)
    path = users_path()
    if not token or path is None or st.session_state.get(_NO_RESUME):
        return None
    user = None
    try:
        found = _tokens(str(path)).read(token)
    except (OSError, ValueError) as error:
        logger.warning("session tokens cannot be checked: %s", error)
        found = None
    store = _session_store() if found is not None else None
    if found is not None and store is not None:
        username, session_id, bound_to = found
        record = _user_file().get(username)
        try:
            live = store.session_user(session_id) == username
        except ScenarioError as error:
            logger.warning("cannot check a sign-in session: %s", error)
            live = False
        if live and record is not None and record.password_hash and _bound_to(record) == bound_to:
            user = record.user
    if user is None:
        logger.info("a session cookie was refused: asking to sign in")
        st.session_state[_COOKIE] = ""  # the browser forgets it
        return None
    st.session_state[SIGNED_IN] = user
    st.session_state[SESSION_ID] = session_id
    logger.info("signed in again from a session cookie: %s (%s)", user.username, user.role)
    _audit("sign_in", user.username, {"how": "session", "role": user.role})
    return user


def _write_cookie() -> None:
    """Set (or delete) the session cookie in the browser, if a run asked for it."""
    token = st.session_state.pop(_COOKIE, None)
    if token is None:
        return
    age = int(_tokens(str(users_path())).ttl.total_seconds()) if token else 0
    value = json.dumps(f"{SESSION_COOKIE}={token}; path=/; max-age={age}; SameSite=Strict")
    # Set by the page, so not HttpOnly: SameSite keeps it off other sites' requests,
    # and it is Secure wherever the app is served over https.
    st.html(
        f"<script>document.cookie = {value}"
        ' + (location.protocol === "https:" ? "; Secure" : "");</script>',
        unsafe_allow_javascript=True,
    )


def _only(render: Callable[[], None]) -> NoReturn:
    # The only page there is until someone signs in: a hidden navigation that
    # replaces the pages of the previous user. Every page's address shows the
    # sign-in too, so a bookmarked page opens once signed in (if the role has it).
    pages = [st.Page(render, title="Sign in", url_path="sign_in", default=True)]
    pages += [st.Page(render, title="Sign in", url_path=key) for key in PAGES]
    st.navigation(pages, position="hidden").run()
    if mode() == "local":
        _write_cookie()
    st.stop()


def _oidc_sign_in() -> None:
    st.title("terrmap")
    st.write("Sign in with your company account to plan territories.")
    st.button("Sign in", type="primary", on_click=st.login, key="oidc_sign_in")


def _oidc_no_role() -> None:
    st.title("terrmap")
    st.error(
        f"{escape_markdown(st.user.get('email') or 'This account')} has no role in terrmap. "
        "Ask an admin to add you (terrmap users add EMAIL --role ROLE --no-password)."
    )
    st.button("Sign out", on_click=st.logout, key="oidc_sign_out")


def _oidc_gate() -> User:
    if not st.user.get("is_logged_in", False):
        _only(_oidc_sign_in)
    user = identity_user(_user_file(), st.user.get("email"))
    if user is None:
        _only(_oidc_no_role)
    if current_user() != user:
        st.session_state[SIGNED_IN] = user
        logger.info("signed in through the identity provider: %s", user.username)
        _audit("sign_in", user.username, {"how": "oidc", "role": user.role})
    return user


def _sign_in() -> None:
    username = str(st.session_state.get(_USERNAME) or "").strip()
    password = str(st.session_state.get(_PASSWORD) or "")
    st.session_state[_PASSWORD] = ""  # never kept in the session
    throttle = _throttle()
    wait = throttle.wait_s(username, time.monotonic())
    if wait > 0:
        st.session_state[_ERROR] = (
            f"Too many wrong passwords: try again in {max(1, round(wait / 60))} minute(s)."
        )
        return
    user = authenticate(_user_file(), username, password)
    if user is None:
        throttle.failed(username, time.monotonic())
        st.session_state[_ERROR] = "Wrong username or password."
        logger.info("failed sign-in for %r", username)
        _audit("sign_in_failed", username or None, {"how": "password"}, actor="anonymous")
        return
    throttle.succeeded(username)
    st.session_state.pop(_ERROR, None)
    st.session_state[SIGNED_IN] = user
    _start_session(user, _user_file()[user.username])
    logger.info("signed in: %s (%s)", user.username, user.role)
    _audit("sign_in", user.username, {"how": "password", "role": user.role})


def _local_form() -> None:
    st.title("terrmap")
    if not _user_file():
        st.warning(
            f"The user file ({escape_markdown(users_path())}) has no users yet: "
            "add one with terrmap users add NAME --role admin."
        )
    _, middle, _ = st.columns([1, 2, 1])
    with middle, st.form("sign_in", border=True):
        st.subheader("Sign in")
        st.text_input("Username", key=_USERNAME, autocomplete="username")
        st.text_input("Password", key=_PASSWORD, type="password", autocomplete="current-password")
        st.form_submit_button("Sign in", type="primary", on_click=_sign_in)
    error = st.session_state.get(_ERROR)
    if error:
        middle.error(error)


def sign_out() -> None:
    """Forget the signed-in user (and the OIDC cookie)."""
    user = current_user()
    if user is not None:
        _audit("sign_out", user.username)
        logger.info("signed out: %s", user.username)
    session_id = st.session_state.get(SESSION_ID)
    store = _session_store() if session_id else None
    if store is not None:
        try:
            store.end_session(session_id)
        except ScenarioError as error:
            logger.warning("the session of a sign-out could not be ended: %s", error)
    st.session_state.clear()
    if mode() == "oidc":
        st.logout()
    elif mode() == "local":
        st.session_state[_COOKIE] = ""
        st.session_state[_NO_RESUME] = True


def sidebar_block() -> None:
    """Who is signed in, with a sign-out button; or the single-user caption."""
    user = current_user()
    if user is None:
        st.caption(SINGLE_USER_NOTE)
        return
    if mode() == "local":
        _write_cookie()
    left, right = st.columns([3, 2], vertical_alignment="center")
    left.markdown(f"Signed in as **{escape_markdown(user.display_name)}** · {user.role}")
    right.button("Sign out", key="sign_out", on_click=sign_out, width="stretch")
    st.divider()


def may(action: str) -> bool:
    """Whether the signed-in user may do an action (anything without sign-in)."""
    return can(current_user(), action)


def visible_reps(reps: list[str]) -> list[str]:
    """Reps whose territory the signed-in user may open."""
    return roles.visible_reps(current_user(), reps)


def allowed_page_keys() -> list[str]:
    """Page keys the signed-in user sees."""
    return pages_for(current_user())


def require_page(page_file: str | None = None) -> None:
    """Stop a page its user may not see (if navigation was bypassed).

    Parameters
    ----------
    page_file : str, optional
        The page's file; the calling page's own file when omitted.
    """
    if page_file is None:
        page_file = inspect.stack()[1].filename
    key = Path(page_file).stem
    if key in PAGES and key not in allowed_page_keys():
        st.error("This page is not open to your role.")
        st.stop()
