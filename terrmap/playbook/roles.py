"""Roles and what each may do: the rules, with no storage and no user interface.

=============  ===============================================================
role           may
=============  ===============================================================
``admin``      everything, including managing users
``manager``    edit plans, save scenarios, propose, comment, export
``leadership`` see everything, comment, approve or reject, publish, read the
               audit trail, export
``rep``        see only their own territory (the rep view of the published
               plan), propose a change to it, comment
=============  ===============================================================

Pages are named by the keys of :data:`PAGES`; :func:`pages_for` says which a
role sees, :func:`visible_reps` which reps' territories a user may open.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ACTIONS",
    "PAGES",
    "ROLES",
    "User",
    "can",
    "check_role",
    "pages_for",
    "require",
    "visible_reps",
]

#: Roles, most powerful first.
ROLES: tuple[str, ...] = ("admin", "manager", "leadership", "rep")

#: Action -> roles allowed to do it.
ACTIONS: dict[str, frozenset[str]] = {
    "edit": frozenset({"admin", "manager"}),
    "save": frozenset({"admin", "manager"}),
    "propose": frozenset({"admin", "manager", "rep"}),
    "comment": frozenset({"admin", "manager", "leadership", "rep"}),
    "review": frozenset({"admin", "leadership"}),
    "publish": frozenset({"admin", "leadership"}),
    "audit": frozenset({"admin", "leadership"}),
    "export": frozenset({"admin", "manager", "leadership"}),
    "see_all": frozenset({"admin", "manager", "leadership"}),
    "manage_users": frozenset({"admin"}),
}

_EDIT = frozenset({"admin", "manager"})
_ALL = frozenset(ROLES)
_OFFICE = frozenset({"admin", "manager", "leadership"})
#: Page key -> roles that see it.
PAGES: dict[str, frozenset[str]] = {
    "map_editor": _EDIT,
    "territories": _OFFICE,
    "balance": _OFFICE,
    "auto_balance": _EDIT,
    "reps": _EDIT,
    "goals": _EDIT,
    "cadence": _EDIT,
    "rep_view": _ALL,
    "scenarios": _OFFICE,
    "compare": _OFFICE,
    "import_data": _EDIT,
    "export": _OFFICE,
    "review": _ALL,
    "audit": frozenset({"admin", "leadership"}),
}


@dataclass(frozen=True)
class User:
    """A signed-in person.

    Attributes
    ----------
    username : str
        Unique login name (an email address with OIDC sign-in).
    display_name : str
        Name shown and recorded as the author of changes.
    role : str
        One of :data:`ROLES`.
    rep_id : str or None
        The rep this user is (required for the ``rep`` role).
    """

    username: str
    display_name: str
    role: str
    rep_id: str | None = None

    def __post_init__(self) -> None:
        check_role(self.role)
        if not self.username.strip():
            raise ValueError("a user needs a username")
        if self.role == "rep" and not self.rep_id:
            raise ValueError(f"user {self.username!r} has the role 'rep' but no rep id")

    @property
    def author(self) -> str:
        """How changes by this user are signed: ``display name (username)``."""
        if self.display_name and self.display_name != self.username:
            return f"{self.display_name} ({self.username})"
        return self.username


def check_role(role: str) -> str:
    """Return ``role`` if it is a known role, else raise ``ValueError`` naming it."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    return role


def can(user: User | None, action: str) -> bool:
    """Whether a user may do an action; ``None`` (no sign-in configured) may do anything.

    Raises
    ------
    ValueError
        For an unknown action.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; choose from {', '.join(ACTIONS)}")
    return user is None or user.role in ACTIONS[action]


def require(user: User | None, action: str) -> None:
    """Raise ``PermissionError`` unless the user may do the action."""
    if not can(user, action):
        raise PermissionError(f"{user.username} ({user.role}) may not {action.replace('_', ' ')}")


def pages_for(user: User | None) -> list[str]:
    """Page keys a user sees, in :data:`PAGES` order (all of them without sign-in)."""
    if user is None:
        return list(PAGES)
    return [page for page, roles in PAGES.items() if user.role in roles]


def visible_reps(user: User | None, reps: Iterable[str]) -> list[str]:
    """Reps whose territory and rep view a user may open, in the given order.

    A rep sees only themself (nothing when the plan gives them no territory);
    every other role sees every rep.
    """
    reps = [str(r) for r in reps]
    if user is None or user.role != "rep":
        return reps
    return [r for r in reps if r == user.rep_id]
