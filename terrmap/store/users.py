"""The local user file: who may sign in, with which role, and their password hash.

Used when the deployment has no identity provider (Streamlit's OIDC sign-in
is configured in ``secrets.toml`` under ``[auth]``). The file is a CSV named by
the ``TERRMAP_USERS`` environment variable, with the columns
:data:`USER_COLUMNS`; ``terrmap users add`` writes it. With OIDC sign-in the
same file gives roles to the identity provider's users (username = their
email address, empty password hash).

Passwords are hashed with Argon2id (``argon2-cffi``, its recommended
parameters); a password is never stored, logged or put in an error message.
Checking an unknown username costs the same as checking a wrong password, so
the time taken does not tell which usernames exist.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from terrmap.playbook.roles import User, check_role

__all__ = [
    "USERS_ENV",
    "USER_COLUMNS",
    "SignInThrottle",
    "UserRecord",
    "add_user",
    "authenticate",
    "hash_password",
    "identity_user",
    "load_users",
    "users_path",
]

logger = logging.getLogger(__name__)

#: Environment variable naming the user file.
USERS_ENV = "TERRMAP_USERS"
USER_COLUMNS: tuple[str, ...] = ("username", "display_name", "role", "rep_id", "password_hash")
_MIN_PASSWORD = 8

_hasher = PasswordHasher()
# Verified when the username is unknown, so that a miss takes as long as a hit.
_DUMMY_HASH = _hasher.hash("terrmap: no such user")


@dataclass(frozen=True)
class UserRecord:
    """A row of the user file: the user and their password hash (empty: OIDC only)."""

    user: User
    password_hash: str = ""

    def __repr__(self) -> str:  # never show the hash
        return f"UserRecord({self.user!r})"


@dataclass
class SignInThrottle:
    """Refuse a username for a while after too many wrong passwords.

    One per server, shared by its sessions (it holds a lock). Counts failed
    sign-ins per username within ``window_s`` seconds; at ``max_failures`` the
    username is refused until the oldest failure leaves the window.
    """

    max_failures: int = 5
    window_s: float = 900.0
    _failures: dict[str, list[float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait_s(self, username: str, now: float) -> float:
        """Seconds until ``username`` may try again (0 when it may now)."""
        with self._lock:
            recent = [t for t in self._failures.get(username, []) if now - t < self.window_s]
            self._failures[username] = recent
            if len(recent) < self.max_failures:
                return 0.0
            return recent[-self.max_failures] + self.window_s - now

    def failed(self, username: str, now: float) -> None:
        """Record a failed sign-in."""
        with self._lock:
            self._failures.setdefault(username, []).append(now)

    def succeeded(self, username: str) -> None:
        """Forget the failures of a username that signed in."""
        with self._lock:
            self._failures.pop(username, None)


def users_path() -> Path | None:
    """Return the user file named by ``TERRMAP_USERS`` (``None`` when it is not set)."""
    value = os.environ.get(USERS_ENV, "").strip()
    return Path(value).expanduser() if value else None


def hash_password(password: str) -> str:
    """Hash a password with Argon2id.

    Raises
    ------
    ValueError
        If the password is shorter than 8 characters.
    """
    if len(password) < _MIN_PASSWORD:
        raise ValueError(f"a password needs at least {_MIN_PASSWORD} characters")
    return _hasher.hash(password)


def load_users(path: str | os.PathLike[str]) -> dict[str, UserRecord]:
    """Read the user file.

    Parameters
    ----------
    path : path-like
        The CSV file.

    Returns
    -------
    dict
        Username -> :class:`UserRecord`; an empty dict when the file does not exist.

    Raises
    ------
    ValueError
        For a missing column, an unknown role, a rep without rep id or a
        repeated username, naming the line.
    """
    path = Path(path)
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in USER_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    users: dict[str, UserRecord] = {}
    for line, row in enumerate(reader, start=2):
        username = (row["username"] or "").strip()
        try:
            user = User(
                username=username,
                display_name=(row["display_name"] or "").strip() or username,
                role=(row["role"] or "").strip(),
                rep_id=(row["rep_id"] or "").strip() or None,
            )
        except ValueError as error:
            raise ValueError(f"{path}, line {line}: {error}") from None
        if username in users:
            raise ValueError(f"{path}, line {line}: user {username!r} listed twice")
        users[username] = UserRecord(user, (row["password_hash"] or "").strip())
    return users


def add_user(
    path: str | os.PathLike[str],
    username: str,
    *,
    role: str,
    password: str | None,
    display_name: str | None = None,
    rep_id: str | None = None,
) -> User:
    """Add a user to the file, or replace the one of that username.

    Parameters
    ----------
    path : path-like
        The user file (created with its folder when missing).
    username : str
        Login name.
    role : str
        One of :data:`terrmap.playbook.roles.ROLES`.
    password : str or None
        The password (hashed before it is written); ``None`` for a user who
        signs in through the identity provider only.
    display_name : str, optional
        Shown name; the username when omitted.
    rep_id : str, optional
        The rep this user is (required for the ``rep`` role).

    Returns
    -------
    User
    """
    check_role(role)
    user = User(username.strip(), (display_name or "").strip() or username.strip(), role, rep_id)
    password_hash = hash_password(password) if password is not None else ""
    path = Path(path)
    users = load_users(path)
    users[user.username] = UserRecord(user, password_hash)
    _write(path, users)
    logger.info("user %s (%s) written to %s", user.username, user.role, path)
    return user


def authenticate(users: dict[str, UserRecord], username: str, password: str) -> User | None:
    """Check a username and password against the user file.

    Returns
    -------
    User or None
        The user, or ``None`` for an unknown user, a wrong password or a user
        without a password (OIDC only). Which of these it was is not told.
    """
    record = users.get(username.strip())
    stored = record.password_hash if record is not None and record.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if record is None or not record.password_hash:
        return None
    return record.user


def identity_user(users: dict[str, UserRecord], email: str | None) -> User | None:
    """Find the user an identity provider signed in, by email address (any case).

    Parameters
    ----------
    users : dict
        The user file (:func:`load_users`): it gives the roles.
    email : str or None
        The ``email`` claim of the identity token.

    Returns
    -------
    User or None
        ``None`` when the user file does not list the address: signed in at
        the identity provider, but no role in terrmap.
    """
    if not email:
        return None
    wanted = email.strip().lower()
    for username, record in users.items():
        if username.lower() == wanted:
            return record.user
    return None


def _write(path: Path, users: dict[str, UserRecord]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(USER_COLUMNS)
    for record in users.values():
        user = record.user
        writer.writerow(
            [user.username, user.display_name, user.role, user.rep_id or "", record.password_hash]
        )
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(buffer.getvalue())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
