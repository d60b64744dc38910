"""Private working copies: who may continue an autosaved working copy.

Every browser holds a secret (a cookie the app sets, never shown to another
browser). A working copy's slot key is ``<random>.<owner tag>``: an
unguessable part (:func:`secrets.token_urlsafe`) and a one-way hash of the
secret of the browser that wrote it, so the key itself says who its author is
without revealing anything that would let another browser pass for it.

Rules the app follows (``pages/_state.py``):

* a session always autosaves under a key of its own (:func:`new_key`), never
  under a key taken from a URL;
* a ``?wc=`` key from a URL is continued only by its author's browser
  (:func:`is_own`); anybody else gets a copy of the plan that autosaves under
  their own new key, and the author's copy is never written by them;
* a browser sees only its own working copies (:func:`own_copies`), and copies
  older than :data:`AUTOSAVE_TTL` are expired (:func:`expired`).

Examples
--------
>>> secret = new_browser_secret()
>>> key = new_key(secret)
>>> is_own(key, secret), is_own(key, new_browser_secret())
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

__all__ = [
    "AUTOSAVE_TTL",
    "BROWSER_COOKIE",
    "expired",
    "is_own",
    "is_valid_secret",
    "new_browser_secret",
    "new_key",
    "owner_tag",
    "own_copies",
]

#: Name of the cookie holding the browser's secret.
BROWSER_COOKIE = "terrmap_browser"

#: How long an autosaved working copy is kept after its last change.
AUTOSAVE_TTL = timedelta(days=14)

_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")  # token_urlsafe(32)
_KEY = re.compile(r"[A-Za-z0-9_-]{22}\.[0-9a-f]{16}")  # token_urlsafe(16) . tag


class _Autosave(Protocol):
    session_key: str
    saved_at: datetime


def new_browser_secret() -> str:
    """Return a fresh browser secret (256 random bits, URL-safe text).

    Returns
    -------
    str
        43 characters of ``[A-Za-z0-9_-]``.
    """
    return secrets.token_urlsafe(32)


def is_valid_secret(text: object) -> bool:
    """Whether ``text`` has the form of a browser secret (a cookie may hold anything).

    Parameters
    ----------
    text : object
        Candidate, e.g. a cookie value.

    Returns
    -------
    bool
        True for a string made by :func:`new_browser_secret`.
    """
    return isinstance(text, str) and _SECRET.fullmatch(text) is not None


def owner_tag(secret: str) -> str:
    """Return the public tag of a browser secret (a one-way hash of it).

    Parameters
    ----------
    secret : str
        A browser secret.

    Returns
    -------
    str
        16 hexadecimal characters.

    Raises
    ------
    ValueError
        When ``secret`` is not a browser secret.
    """
    if not is_valid_secret(secret):
        raise ValueError("not a browser secret (expected 43 URL-safe characters)")
    return hashlib.sha256(f"terrmap-owner:{secret}".encode()).hexdigest()[:16]


def new_key(secret: str) -> str:
    """Return a new, unguessable working-copy key owned by ``secret``'s browser.

    Parameters
    ----------
    secret : str
        The browser secret of the session that will write it.

    Returns
    -------
    str
        ``<22 random URL-safe characters>.<owner tag>``.
    """
    return f"{secrets.token_urlsafe(16)}.{owner_tag(secret)}"


def is_own(key: str, secret: str) -> bool:
    """Whether the working copy ``key`` was written by ``secret``'s browser.

    Parameters
    ----------
    key : str
        A working-copy key, e.g. from a URL (anything: it is checked).
    secret : str
        The browser secret of the asking session.

    Returns
    -------
    bool
        False for malformed keys (old-style or made up) and for other
        browsers' keys.
    """
    if not isinstance(key, str) or _KEY.fullmatch(key) is None or not is_valid_secret(secret):
        return False
    return hmac.compare_digest(key.rsplit(".", 1)[1], owner_tag(secret))


def expired(copies: Iterable[_Autosave], now: datetime, ttl: timedelta = AUTOSAVE_TTL) -> list[str]:
    """Keys of the working copies last saved more than ``ttl`` before ``now``.

    Parameters
    ----------
    copies : iterable of AutosaveInfo
        Autosaved working copies (``session_key``, ``saved_at``).
    now : datetime
        The current time (timezone-aware, as ``saved_at``).
    ttl : timedelta, default :data:`AUTOSAVE_TTL`
        How long a copy is kept.

    Returns
    -------
    list of str
        Their keys.
    """
    return [copy.session_key for copy in copies if now - copy.saved_at > ttl]


def own_copies(
    copies: Iterable[_Autosave],
    secret: str,
    now: datetime,
    *,
    ttl: timedelta = AUTOSAVE_TTL,
    exclude: str | None = None,
) -> list[_Autosave]:
    """Return the browser's own unexpired working copies, latest first.

    Parameters
    ----------
    copies : iterable of AutosaveInfo
        Every autosaved working copy.
    secret : str
        The browser secret.
    now : datetime
        The current time.
    ttl : timedelta, default :data:`AUTOSAVE_TTL`
        How long a copy is kept.
    exclude : str, optional
        A key to leave out (the session's current one).

    Returns
    -------
    list of AutosaveInfo
        Sorted by ``saved_at``, latest first.
    """
    mine = [
        copy
        for copy in copies
        if copy.session_key != exclude
        and is_own(copy.session_key, secret)
        and now - copy.saved_at <= ttl
    ]
    return sorted(mine, key=lambda copy: copy.saved_at, reverse=True)
