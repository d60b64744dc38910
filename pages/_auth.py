"""Sign-in for the app: OIDC through Streamlit, a local user file, or none.

* ``[auth]`` in ``.streamlit/secrets.toml``: Streamlit's built-in OIDC sign-in
  (``st.login``); the user file (``TERRMAP_USERS``) gives each email address
  its role.
* else ``TERRMAP_USERS`` names a user file: username and password, checked
  against its Argon2 hashes (:mod:`terrmap.store.users`).
* else no sign-in: one person uses the app as before, and a caption says so.

The rules (which role sees which page, does what) are in
:mod:`terrmap.playbook.roles`; this module only asks and remembers who it is.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import streamlit as st

from terrmap.io.safe import escape_markdown
from terrmap.playbook import roles
from terrmap.playbook.roles import PAGES, User, can, pages_for
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


def set_auditor(record: Callable[..., None]) -> None:
    """Record sign-ins and sign-outs with ``record(action, target, detail, actor=...)``."""
    global _auditor
    _auditor = record


def _audit(action: str, target: str | None = None, detail: dict | None = None, **kw) -> None:
    if _auditor is not None:
        _auditor(action, target, detail, **kw)


SIGNED_IN = "signed_in_user"
_USERNAME = "sign_in_username"
_PASSWORD = "sign_in_password"
_ERROR = "sign_in_error"
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
        # The file may have changed since (role, removal): it has the last word.
        record = _user_file().get(user.username)
        if record is not None and record.user == user:
            return user
        st.session_state.pop(SIGNED_IN, None)
    _only(_local_form)


def _only(render: Callable[[], None]) -> NoReturn:
    # The only page there is until someone signs in: a hidden navigation that
    # replaces the pages of the previous user. Every page's address shows the
    # sign-in too, so a bookmarked page opens once signed in (if the role has it).
    pages = [st.Page(render, title="Sign in", url_path="sign_in", default=True)]
    pages += [st.Page(render, title="Sign in", url_path=key) for key in PAGES]
    st.navigation(pages, position="hidden").run()
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
    st.session_state.clear()
    if mode() == "oidc":
        st.logout()


def sidebar_block() -> None:
    """Who is signed in, with a sign-out button; or the single-user caption."""
    user = current_user()
    if user is None:
        st.caption(SINGLE_USER_NOTE)
        return
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
