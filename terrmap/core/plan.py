"""Plans: who holds which account, and how the plan came to be.

A :class:`Plan` is immutable. :meth:`Plan.reassign` returns a *new* plan that
remembers its parent and the :class:`Move` that made it, so undo is the
parent, the change log is the chain of moves, and the figures of the new plan
are the parent's figures with only the touched territories recomputed.

Modelled on GerryChain's ``Partition.flip`` (parent plus flows, statistics
computed on first access and cached on the object) without its pitfalls: no
class-level registry of updaters shared between instances, no state cached
on updater objects, and no ``__getattr__`` forwarding that hides typos. The
cache lives on each plan and is never shared.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from terrmap.core.context import Context
from terrmap.core.metrics import Totals, full_totals, metrics_frame, moved_totals, selection_summary

__all__ = ["Flow", "History", "Move", "Plan"]


@dataclass(frozen=True)
class Move:
    """One reassignment: accounts handed to a territory.

    Attributes
    ----------
    account_ids : tuple of str
        Accounts that changed territory (accounts already in the target are
        not listed).
    sources : tuple of (str or None)
        The territory each account came from, aligned with ``account_ids``;
        ``None`` for white space.
    target : str or None
        The receiving territory; ``None`` to release accounts to white space
        (and for a move with per-account ``targets``).
    at : datetime
        When the move was made (UTC).
    author : str or None
        Who made it.
    note : str or None
        Why.
    targets : tuple of (str or None), optional
        A receiving territory per account, aligned with ``account_ids``, for a
        move that hands accounts to several territories at once (one plan
        step, one undo: :meth:`Plan.reassign_many`). ``None`` when every
        account goes to ``target``.
    """

    account_ids: tuple[str, ...]
    sources: tuple[str | None, ...]
    target: str | None
    at: datetime
    author: str | None = None
    note: str | None = None
    targets: tuple[str | None, ...] | None = None

    def __len__(self) -> int:
        return len(self.account_ids)

    @property
    def destinations(self) -> tuple[str | None, ...]:
        """The receiving territory of each account, aligned with ``account_ids``."""
        if self.targets is not None:
            return self.targets
        return (self.target,) * len(self.account_ids)


@dataclass(frozen=True)
class Flow:
    """Accounts that entered and left one territory in a move."""

    inflow: tuple[str, ...]
    outflow: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Plan:
    """An assignment of accounts to territories over a fixed :class:`Context`.

    Create one with :meth:`from_assignment`; change it with :meth:`reassign`.
    """

    context: Context
    codes: np.ndarray = field(repr=False)
    parent: Plan | None = field(default=None, repr=False)
    move: Move | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_assignment(cls, context: Context, assignment: pd.Series) -> Plan:
        """Start a plan from an assignment.

        Parameters
        ----------
        context : Context
            Accounts and territories.
        assignment : pandas.Series
            Territory id per account id; missing accounts and ``<NA>`` values
            are unassigned.

        Returns
        -------
        Plan

        Raises
        ------
        ValueError
            If the assignment names a territory the context does not have.
        """
        aligned = assignment.copy()
        aligned.index = aligned.index.astype(str)
        aligned = aligned.reindex(context.account_ids)
        known = aligned.notna().to_numpy()
        codes = np.full(context.n_accounts, -1, dtype=np.int32)
        if known.any():
            territory = aligned[known].astype(str)
            found = context.territory_ids.get_indexer(territory)
            if (found < 0).any():
                unknown = sorted(set(territory[found < 0]))[:5]
                raise ValueError(f"assignment names unknown territory id(s) {unknown}")
            codes[known] = found
        codes.setflags(write=False)
        return cls(context=context, codes=codes)

    # -- reading -----------------------------------------------------------
    @property
    def assignment(self) -> pd.Series:
        """Territory id per account id (``<NA>`` for white space)."""
        labels = np.append(self.context.territory_ids.to_numpy(dtype=object), None)
        values = labels[np.where(self.codes < 0, self.context.n_territories, self.codes)]
        return pd.Series(
            values, index=self.context.account_ids, name="territory_id", dtype="string"
        )

    def territory_of(self, account_ids: Iterable[str]) -> pd.Series:
        """Territory of some accounts (``<NA>`` for white space)."""
        return self.assignment.iloc[self.context.positions(account_ids)]

    def members(self, territory_id: str | None) -> pd.Index:
        """Account ids held by a territory (``None`` for white space)."""
        code = self.context.territory_code(territory_id)
        return self.context.account_ids[np.flatnonzero(self.codes == code)]

    @property
    def unassigned(self) -> pd.Index:
        """Account ids in no territory: the white space."""
        return self.members(None)

    # -- changing ----------------------------------------------------------
    def reassign(
        self,
        account_ids: Iterable[str],
        target: str | None,
        *,
        author: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> Plan:
        """Hand accounts to a territory, returning a new plan.

        Parameters
        ----------
        account_ids : iterable of str
            Accounts to move. Accounts already in ``target`` are left alone.
        target : str or None
            Receiving territory id; ``None`` releases the accounts.
        author, note : str, optional
            Recorded in the change log.
        at : datetime, optional
            Time of the move; now (UTC) when omitted.

        Returns
        -------
        Plan
            A new plan whose parent is this one, or this very plan when no
            account actually changes territory.

        Raises
        ------
        KeyError
            For an unknown account or territory id (named in the message).
        """
        return self.reassign_positions(
            self.context.positions(account_ids), target, author=author, note=note, at=at
        )

    def reassign_positions(
        self,
        positions: np.ndarray,
        target: str | None,
        *,
        author: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> Plan:
        """Hand accounts given by position to a territory; see :meth:`reassign`.

        The fast path for map selections, which are found as positions in the
        context's account arrays (e.g. by
        :meth:`terrmap.geo.selection.PointIndex.rows_in_polygon`): no id lookup.

        Parameters
        ----------
        positions : numpy.ndarray
            Integer positions in ``context.account_ids``; repeats are ignored.
        target : str or None
            Receiving territory id; ``None`` releases the accounts.
        author, note : str, optional
            Recorded in the change log.
        at : datetime, optional
            Time of the move; now (UTC) when omitted.

        Returns
        -------
        Plan
            As :meth:`reassign`.

        Raises
        ------
        IndexError
            For a position outside the account arrays.
        KeyError
            For an unknown territory id.
        """
        target_code = self.context.territory_code(target)
        positions = np.sort(np.asarray(positions, dtype=np.int64).ravel())
        if positions.size and (positions[0] < 0 or positions[-1] >= self.context.n_accounts):
            bad = positions[0] if positions[0] < 0 else positions[-1]
            raise IndexError(f"position {bad} outside 0..{self.context.n_accounts - 1}")
        # Sort-based dedupe: numpy 2's hash-based unique costs ~60 ms per 100k.
        if positions.size:
            positions = positions[np.concatenate([[True], positions[1:] != positions[:-1]])]
        positions = positions[self.codes[positions] != target_code]
        if positions.size == 0:
            return self
        labels = np.append(self.context.territory_ids.to_numpy(dtype=object), None)
        old = self.codes[positions]
        move = Move(
            account_ids=tuple(self.context.id_array[positions].tolist()),
            sources=tuple(labels[np.where(old < 0, self.context.n_territories, old)]),
            target=None if target_code < 0 else str(self.context.territory_ids[target_code]),
            at=at or datetime.now(UTC),
            author=author,
            note=note,
        )
        codes = self.codes.copy()
        codes[positions] = target_code
        codes.setflags(write=False)
        child = Plan(context=self.context, codes=codes, parent=self, move=move)
        child._cache["moved_positions"] = positions
        child._cache["moved_from"] = old
        return child

    def reassign_many(
        self,
        positions: np.ndarray,
        targets: np.ndarray,
        *,
        author: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> Plan:
        """Hand accounts to several territories in one step, returning a new plan.

        One move, one undo step and one change-log entry for the whole
        reassignment (an accepted optimiser proposal, say); the figures are
        updated incrementally as for :meth:`reassign_positions`.

        Parameters
        ----------
        positions : numpy.ndarray
            Integer positions in ``context.account_ids``; each at most once.
        targets : numpy.ndarray
            Territory code per position (``-1`` releases to white space).
        author, note : str, optional
            Recorded in the change log.
        at : datetime, optional
            Time of the move; now (UTC) when omitted.

        Returns
        -------
        Plan
            A new plan whose parent is this one, or this very plan when no
            account changes territory.

        Raises
        ------
        ValueError
            For repeated positions, mismatched lengths or a code outside the
            territories.
        IndexError
            For a position outside the account arrays.
        """
        positions = np.asarray(positions, dtype=np.int64).ravel()
        targets = np.asarray(targets, dtype=np.int64).ravel()
        n, k = self.context.n_accounts, self.context.n_territories
        if positions.shape != targets.shape:
            raise ValueError(
                f"positions and targets differ in length: {len(positions)} vs {len(targets)}"
            )
        if positions.size and (positions.min() < 0 or positions.max() >= n):
            bad = positions.min() if positions.min() < 0 else positions.max()
            raise IndexError(f"position {bad} outside 0..{n - 1}")
        if targets.size and (targets.min() < -1 or targets.max() >= k):
            bad = targets.min() if targets.min() < -1 else targets.max()
            raise ValueError(f"territory code {bad} outside -1..{k - 1}")
        order = np.argsort(positions, kind="stable")
        positions, targets = positions[order], targets[order]
        if positions.size > 1 and (positions[1:] == positions[:-1]).any():
            repeated = positions[1:][positions[1:] == positions[:-1]][0]
            raise ValueError(f"position {repeated} given twice")
        keep = self.codes[positions] != targets
        positions, targets = positions[keep], targets[keep]
        if positions.size == 0:
            return self
        labels = np.append(self.context.territory_ids.to_numpy(dtype=object), None)
        old = self.codes[positions]
        move = Move(
            account_ids=tuple(self.context.id_array[positions].tolist()),
            sources=tuple(labels[np.where(old < 0, k, old)]),
            target=None,
            at=at or datetime.now(UTC),
            author=author,
            note=note,
            targets=tuple(labels[np.where(targets < 0, k, targets)]),
        )
        codes = self.codes.copy()
        codes[positions] = targets
        codes.setflags(write=False)
        child = Plan(context=self.context, codes=codes, parent=self, move=move)
        child._cache["moved_positions"] = positions
        child._cache["moved_from"] = old
        return child

    def replay(self, move: Move) -> Plan:
        """Apply a recorded move (from a saved change log) to this plan.

        Returns
        -------
        Plan
            As :meth:`reassign` or :meth:`reassign_many`.

        Raises
        ------
        KeyError
            For an account or territory this plan's context does not have.
        """
        if move.targets is None:
            return self.reassign(
                move.account_ids, move.target, author=move.author, note=move.note, at=move.at
            )
        codes = np.array([self.context.territory_code(t) for t in move.targets], dtype=np.int64)
        return self.reassign_many(
            self.context.positions(move.account_ids),
            codes,
            author=move.author,
            note=move.note,
            at=move.at,
        )

    # -- history -----------------------------------------------------------
    @property
    def lineage(self) -> list[Plan]:
        """Return this plan and its ancestors, oldest first."""
        chain: list[Plan] = []
        plan: Plan | None = self
        while plan is not None:
            chain.append(plan)
            plan = plan.parent
        return chain[::-1]

    @property
    def moves(self) -> list[Move]:
        """Every move from the first plan to this one, oldest first."""
        return [plan.move for plan in self.lineage if plan.move is not None]

    def changelog(self) -> pd.DataFrame:
        """One row per account moved: when, who, account, from, to, note."""
        rows = [
            (move.at, move.author, account, source, target, move.note)
            for move in self.moves
            for account, source, target in zip(
                move.account_ids, move.sources, move.destinations, strict=True
            )
        ]
        return pd.DataFrame(
            rows, columns=["at", "author", "account_id", "from_territory", "to_territory", "note"]
        )

    @property
    def flows(self) -> dict[str | None, Flow]:
        """Accounts in and out of each territory the last move touched."""
        if self.move is None:
            return {}
        inflow: dict[str | None, list[str]] = {}
        outflow: dict[str | None, list[str]] = {}
        for account, source, target in zip(
            self.move.account_ids, self.move.sources, self.move.destinations, strict=True
        ):
            outflow.setdefault(source, []).append(account)
            inflow.setdefault(target, []).append(account)
        touched = list(dict.fromkeys([*outflow, *inflow]))
        return {t: Flow(tuple(inflow.get(t, ())), tuple(outflow.get(t, ()))) for t in touched}

    @property
    def changed_territories(self) -> list[str]:
        """Territory ids (not white space) the last move touched."""
        return [t for t in self.flows if t is not None]

    # -- figures -----------------------------------------------------------
    def _totals(self) -> Totals:
        # Walk up to the nearest plan with totals, then apply the moves downwards:
        # each step costs in proportion to the accounts it moved.
        chain: list[Plan] = []
        node: Plan | None = self
        while node is not None and "totals" not in node._cache:
            chain.append(node)
            node = node.parent if "moved_from" in node._cache else None
        for step in reversed(chain):
            parent = step.parent
            if parent is not None and "totals" in parent._cache and "moved_from" in step._cache:
                totals = moved_totals(
                    step.context,
                    parent._cache["totals"],
                    step.codes,
                    step._cache["moved_positions"],
                    step._cache["moved_from"],
                )
            else:
                totals = full_totals(step.context, step.codes)
            step._cache["totals"] = totals
        return self._cache["totals"]

    def metrics(self) -> pd.DataFrame:
        """Per-territory figures; the unassigned row is in ``.attrs["unassigned"]``.

        See :func:`terrmap.core.metrics.metrics_frame` for the columns. The frame
        is computed once per plan; callers get a copy.
        """
        if "metrics" not in self._cache:
            self._cache["metrics"] = metrics_frame(
                self.context, self._totals().sums, self._totals().area_km2
            )
        frame = self._cache["metrics"]
        copy = frame.copy()
        copy.attrs["unassigned"] = frame.attrs["unassigned"].copy()
        return copy

    def selection_summary(self, account_ids: Iterable[str]) -> pd.DataFrame:
        """Accounts, revenue, cost and net profit of a selection by source territory."""
        return selection_summary(self.context, self.codes, self.context.positions(account_ids))


@dataclass(frozen=True)
class History:
    """Undo/redo over plans: the plans seen and where we stand.

    Attributes
    ----------
    plans : tuple of Plan
        Plans in the order they were made current.
    position : int
        Index of the current plan.
    """

    plans: tuple[Plan, ...]
    position: int = 0

    @classmethod
    def start(cls, plan: Plan) -> History:
        """Start a history holding one plan."""
        return cls(plans=(plan,), position=0)

    @property
    def current(self) -> Plan:
        """The plan in force."""
        return self.plans[self.position]

    @property
    def can_undo(self) -> bool:
        """Whether there is an earlier plan."""
        return self.position > 0

    @property
    def can_redo(self) -> bool:
        """Whether an undone plan can be restored."""
        return self.position < len(self.plans) - 1

    def push(self, plan: Plan) -> History:
        """Make ``plan`` current, dropping whatever had been undone."""
        if plan is self.current:
            return self
        return History(plans=(*self.plans[: self.position + 1], plan), position=self.position + 1)

    def undo(self) -> History:
        """Step back one plan (no-op at the start)."""
        return History(self.plans, max(self.position - 1, 0))

    def redo(self) -> History:
        """Step forward one plan (no-op at the end)."""
        return History(self.plans, min(self.position + 1, len(self.plans) - 1))
