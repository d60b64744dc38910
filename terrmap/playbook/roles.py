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

import pandas as pd

from terrmap.core.plan import Plan

__all__ = [
    "ACTIONS",
    "PAGES",
    "ROLES",
    "User",
    "can",
    "check_role",
    "claim_accounts",
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
    "workflow": _ALL,
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


def claim_accounts(
    plan: Plan,
    user: User,
    account_ids: Iterable[str],
    territory_id: str | None = None,
    *,
    note: str | None = None,
) -> Plan:
    """Make a rep's request: the plan with some accounts moved into the rep's territory.

    Parameters
    ----------
    plan : Plan
        The plan the request starts from (the plan in force).
    user : User
        The rep asking.
    account_ids : iterable of str
        The accounts that should be theirs.
    territory_id : str, optional
        Which of the rep's territories receives them; needed only when the
        rep holds more than one.
    note : str, optional
        Why; recorded on the move.

    Returns
    -------
    Plan
        A new plan whose last move hands the accounts to the rep's territory,
        signed by the user.

    Raises
    ------
    ValueError
        If the user is not a rep, holds no territory (or not the one named),
        names no account or an unknown one, or already holds them all.
    """
    if user.role != "rep":
        raise ValueError(f"{user.username} is not a rep: only reps ask for accounts")
    context = plan.context
    reps = pd.Series(context.territory_reps, index=context.territory_ids, dtype=object)
    held = [
        str(t)
        for t, rep in reps.items()
        if rep is not None and not pd.isna(rep) and str(rep) == user.rep_id
    ]
    if not held:
        raise ValueError(f"rep {user.rep_id} holds no territory in this plan")
    if territory_id is None:
        if len(held) > 1:
            raise ValueError(f"rep {user.rep_id} holds {len(held)} territories: say which")
        territory_id = held[0]
    elif territory_id not in held:
        raise ValueError(f"territory {territory_id!r} is not one of rep {user.rep_id}'s")
    wanted = list(dict.fromkeys(str(a).strip() for a in account_ids if str(a).strip()))
    if not wanted:
        raise ValueError("name at least one account id")
    unknown = [a for a in wanted if a not in context.account_ids]
    if unknown:
        raise ValueError(f"unknown account id(s) {unknown[:5]}")
    new = plan.reassign(wanted, territory_id, author=user.author, note=note)
    if new is plan:
        raise ValueError(f"account(s) {wanted[:5]} are already in your territory")
    return new
