"""Sign-in sessions that survive a page reload: a signed, expiring token checked against the store.

With the local user file (:mod:`terrmap.store.users`) a user signs in with a
password once; the browser then keeps a token in a cookie, so reloading the
page, or opening a second tab, does not ask again. The token is

* **signed** with a server-side secret (HMAC through ``itsdangerous``), so a
  browser cannot make one up or change the username in it;
* **expiring**: its signature carries the time it was issued and is refused
  after :data:`SESSION_TTL`, and the database row it names has the same end;
* **revocable**: it names a row of ``sign_in_sessions``; signing out ends that
  row, so a copy of the token taken before is refused everywhere from then on
  (every server of a team shares the database).

The token never holds the password or its hash, only the username and a
random session id. The secret is ``TERRMAP_SECRET`` when set (give every app
server of a team the same one), else a random one kept next to the user file
in ``<user file>.secret`` (mode 0600), written the first time it is needed.
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.engine import Connection

__all__ = [
    "SECRET_ENV",
    "SESSION_COOKIE",
    "SESSION_TTL",
    "SessionTokens",
    "SessionsMixin",
    "session_secret",
]

logger = logging.getLogger(__name__)

#: Environment variable holding the secret that signs session tokens.
SECRET_ENV = "TERRMAP_SECRET"
#: Name of the browser cookie holding the token.
SESSION_COOKIE = "terrmap_session"
#: How long a sign-in lasts without a new password.
SESSION_TTL = timedelta(hours=12)
_MIN_SECRET = 32
_SALT = "terrmap sign-in session"


def session_secret(users_file: str | os.PathLike[str]) -> str:
    """Return the secret that signs session tokens.

    Parameters
    ----------
    users_file : path-like
        The user file; without ``TERRMAP_SECRET`` the secret lives next to it
        (``<users_file>.secret``) and is created there when missing.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``TERRMAP_SECRET`` (or the secret file) holds fewer than 32 characters.
    """
    configured = os.environ.get(SECRET_ENV, "").strip()
    if configured:
        return _checked(configured, SECRET_ENV)
    path = Path(f"{Path(users_file).expanduser()}.secret")
    try:
        return _checked(path.read_text(encoding="utf-8").strip(), str(path))
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        # O_EXCL: two servers starting at once keep the secret of the first.
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _checked(path.read_text(encoding="utf-8").strip(), str(path))
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(secret + "\n")
    logger.info("new session secret written to %s", path)
    return secret


def _checked(secret: str, where: str) -> str:
    if len(secret) < _MIN_SECRET:
        raise ValueError(
            f"{where} holds a session secret of {len(secret)} characters; "
            f"at least {_MIN_SECRET} are needed"
        )
    return secret


class SessionTokens:
    """Signs and checks session tokens (username and session id) with a secret.

    Parameters
    ----------
    secret : str
        The server-side secret (:func:`session_secret`).
    ttl : datetime.timedelta, default :data:`SESSION_TTL`
        Age after which a token is refused.

    Examples
    --------
    >>> tokens = SessionTokens("x" * 32)
    >>> tokens.read(tokens.issue("ann", "s1"))
    ('ann', 's1', '')
    >>> SessionTokens("y" * 32).read(tokens.issue("ann", "s1")) is None
    True
    """

    def __init__(self, secret: str, ttl: timedelta = SESSION_TTL) -> None:
        self._serializer = URLSafeTimedSerializer(_checked(secret, "the secret"), salt=_SALT)
        self.ttl = ttl

    def __repr__(self) -> str:  # never show the secret
        return f"SessionTokens(ttl={self.ttl})"

    def issue(self, username: str, session_id: str, bound_to: str = "") -> str:
        """Sign a token for ``username``'s session ``session_id`` now.

        ``bound_to`` is any text the token must still match when read (e.g. a
        digest of the password hash, so a new password refuses old tokens).
        """
        return self._serializer.dumps({"u": username, "s": session_id, "b": bound_to})

    def read(self, token: str | None) -> tuple[str, str, str] | None:
        """``(username, session_id, bound_to)`` of a genuine, unexpired token, else ``None``."""
        if not token:
            return None
        try:
            payload = self._serializer.loads(token, max_age=self.ttl.total_seconds())
        except SignatureExpired:
            logger.info("an expired session token was refused")
            return None
        except BadSignature:
            logger.warning("a session token with a bad signature was refused")
            return None
        if not isinstance(payload, dict):
            return None
        fields = payload.get("u"), payload.get("s"), payload.get("b")
        if not all(isinstance(field, str) for field in fields):
            return None
        return fields


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class SessionsMixin:
    """Sign-in sessions of :class:`~terrmap.store.scenarios.ScenarioStore`.

    A session is a row (id, username, start, end, ended); tokens name it.
    """

    def start_session(
        self, username: str, *, ttl: timedelta = SESSION_TTL, now: datetime | None = None
    ) -> str:
        """Record a new sign-in session for ``username``; return its random id.

        Raises
        ------
        ValueError
            For an empty username or a ttl that is not positive.
        """
        if not username or not username.strip():
            raise ValueError(f"a session needs a username, got {username!r}")
        if ttl <= timedelta(0):
            raise ValueError(f"a session needs a positive ttl, got {ttl}")
        start = now or datetime.now(UTC)
        session_id = secrets.token_urlsafe(24)
        with self._transaction() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO sign_in_sessions (session_id, username, created_at, expires_at)"
                    " VALUES (:id, :username, :created, :expires)"
                ),
                {
                    "id": session_id,
                    "username": username.strip(),
                    "created": _stamp(start),
                    "expires": _stamp(start + ttl),
                },
            )
        return session_id

    def session_user(self, session_id: str, *, now: datetime | None = None) -> str | None:
        """Return the username of a live session: ``None`` if unknown, ended or expired."""
        with self._connect() as connection:
            return _live_user(connection, session_id, now or datetime.now(UTC))

    def end_session(self, session_id: str, *, now: datetime | None = None) -> bool:
        """End a session (sign-out): its tokens are refused from now on; whether it was live."""
        return self._end_sessions("session_id", session_id, now) > 0

    def end_sessions_of(self, username: str, *, now: datetime | None = None) -> int:
        """End every live session of a user (removed from the file, password changed)."""
        return self._end_sessions("username", username, now)

    def _end_sessions(self, column: str, value: str, now: datetime | None) -> int:
        with self._transaction() as connection:
            result = connection.execute(
                sa.text(
                    f"UPDATE sign_in_sessions SET ended_at = :now"
                    f" WHERE {column} = :value AND ended_at IS NULL"
                ),
                {"value": value, "now": _stamp(now or datetime.now(UTC))},
            )
            return int(result.rowcount)

    def prune_sessions(self, *, now: datetime | None = None) -> int:
        """Delete the rows of sessions past their end; return how many."""
        with self._transaction() as connection:
            result = connection.execute(
                sa.text("DELETE FROM sign_in_sessions WHERE expires_at < :now"),
                {"now": _stamp(now or datetime.now(UTC))},
            )
            return int(result.rowcount)


def _live_user(connection: Connection, session_id: str, now: datetime) -> str | None:
    row = connection.execute(
        sa.text(
            "SELECT username, expires_at, ended_at FROM sign_in_sessions WHERE session_id = :id"
        ),
        {"id": session_id},
    ).first()
    if row is None or row.ended_at is not None:
        return None
    if datetime.fromisoformat(row.expires_at) <= now:
        return None
    return row.username
