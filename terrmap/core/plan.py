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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from terrmap.core.context import Context
from terrmap.core.definition import NO_EXCEPTION, Definition, labelled, resolve_codes
from terrmap.core.layout import UnitLayout, territory_pieces
from terrmap.core.metrics import Totals, full_totals, metrics_frame, moved_totals, selection_summary

__all__ = [
    "MIN_UNDO_STEPS",
    "UNDO_BUDGET_BYTES",
    "UNDO_STEPS",
    "ContiguityError",
    "Flow",
    "History",
    "Move",
    "Plan",
    "undo_steps_for",
]


class ContiguityError(ValueError):
    """A unit move refused because it would split a territory."""


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
    unit_ids : tuple of str
        For a unit move (:meth:`Plan.reassign_units`), the units handed to the
        target; empty for an account move.
    region : tuple of (str, str or None), optional
        For a region move (:meth:`Plan.move_to_region`): the territory id and
        the region it went to (``None``: out of every region). Such a move
        hands no accounts.
    """

    account_ids: tuple[str, ...]
    sources: tuple[str | None, ...]
    target: str | None
    at: datetime
    author: str | None = None
    note: str | None = None
    targets: tuple[str | None, ...] | None = None
    unit_ids: tuple[str, ...] = ()
    region: tuple[str, str | None] | None = None

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

    Create one with :meth:`from_assignment` (a list of accounts per
    territory) or :meth:`from_definition` (units per territory plus
    exceptions and rules); change it with :meth:`reassign` (accounts) or
    :meth:`reassign_units`. A plan built from a definition carries its
    :class:`~terrmap.core.layout.UnitLayout` and, per plan, the territory code
    of each unit and the exception code of each account (-2: none, -1: white
    space); ``codes`` always equals what those imply.

    A plan whose ``merged`` is set stands for several older steps that a
    bounded :class:`History` folded into one: its ``move`` is their net
    effect (what changed since its parent) and ``merged`` keeps the moves
    themselves for the change log and the store.
    """

    context: Context
    codes: np.ndarray = field(repr=False)
    parent: Plan | None = field(default=None, repr=False)
    move: Move | None = None
    layout: UnitLayout | None = field(default=None, repr=False)
    unit_codes: np.ndarray | None = field(default=None, repr=False)
    exception_codes: np.ndarray | None = field(default=None, repr=False)
    merged: tuple[Move, ...] | None = field(default=None, repr=False)
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

    @classmethod
    def from_definition(
        cls,
        context: Context,
        definition: Definition,
        unit_ids: pd.Index,
        account_units: np.ndarray,
        *,
        accounts: pd.DataFrame | None = None,
        pairs: np.ndarray | None = None,
    ) -> Plan:
        """Start a plan from a territory definition (units, exceptions, rules).

        Parameters
        ----------
        context : Context
            Accounts and territories; its territories include every
            territory the definition names.
        definition : Definition
            Unit -> territory, exceptions, rules, regions.
        unit_ids : pandas.Index
            Ids of the units of the layer (a unit's position is its code).
        account_units : numpy.ndarray
            Unit code per account of the context, -1 outside every unit
            (e.g. :meth:`terrmap.geo.units.UnitLayer.locate`).
        accounts : pandas.DataFrame, optional
            The accounts with the columns the rules use (indexed like the
            context); needed when the definition has rules.
        pairs : numpy.ndarray, optional
            ``(m, 2)`` neighbouring unit codes, for contiguity.

        Returns
        -------
        Plan
            Each account's territory is its rule's (first match), else its
            exception's, else its unit's.

        Raises
        ------
        ValueError
            If the definition names a territory the context lacks, names a
            unit the layer lacks, or has rules and no accounts are given.
        """
        unit_ids = pd.Index(pd.Index(unit_ids).astype(str), name="unit_id")
        if len(account_units) != context.n_accounts:
            raise ValueError(
                f"account_units has {len(account_units)} entries for {context.n_accounts} accounts"
            )
        lookup = context._position_lookup()
        coded = resolve_codes(
            definition,
            context.territory_ids,
            context.account_ids,
            account_units,
            unit_ids,
            accounts,
            lookup=lookup,
        )
        layout = UnitLayout(
            unit_kind=definition.unit_kind,
            unit_ids=unit_ids,
            account_units=account_units,
            rule_codes=coded.rules,
            rules=definition.rules,
            pairs=pairs,
            unit_params=dict(definition.unit_params),
            regions=definition.regions,
            absent_exceptions=definition.exceptions[
                [a not in lookup for a in definition.exceptions.index]
            ],
        )
        return cls(
            context=context,
            codes=coded.codes,
            layout=layout,
            unit_codes=coded.units,
            exception_codes=coded.exceptions,
        )

    # -- reading -----------------------------------------------------------
    @property
    def assignment(self) -> pd.Series:
        """Territory id per account id (``<NA>`` for white space)."""
        values = labelled(self.context.territory_ids, self.codes)
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

    @property
    def unit_assignment(self) -> pd.Series:
        """Territory id per unit id (``<NA>``: in no territory)."""
        if self.layout is None:
            raise ValueError("this plan has no units; build it with Plan.from_definition")
        values = labelled(self.context.territory_ids, self.unit_codes)
        return pd.Series(values, index=self.layout.unit_ids, name="territory_id", dtype="string")

    @property
    def account_unit(self) -> pd.Series:
        """Unit id per account id (``<NA>`` outside every unit)."""
        if self.layout is None:
            raise ValueError("this plan has no units; build it with Plan.from_definition")
        values = labelled(self.layout.unit_ids, self.layout.account_units)
        return pd.Series(values, index=self.context.account_ids, name="unit_id", dtype="string")

    @property
    def placed_by(self) -> pd.Series:
        """Why each account is where it is: ``rule``, ``exception`` or ``unit``.

        ``<NA>`` for white space by geography (in no unit, or in a unit of no
        territory).
        """
        if self.layout is None:
            raise ValueError("this plan has no units; build it with Plan.from_definition")
        reason = np.where(self.codes >= 0, "unit", None).astype(object)
        reason[self.exception_codes != NO_EXCEPTION] = "exception"
        reason[self.layout.rule_codes >= 0] = "rule"
        return pd.Series(reason, index=self.context.account_ids, name="placed_by", dtype="string")

    @property
    def exceptions(self) -> pd.Series:
        """Territory id per excepted account (``<NA>``: held in white space)."""
        if self.layout is None:
            return pd.Series(dtype="string", name="territory_id")
        held = np.flatnonzero(self.exception_codes != NO_EXCEPTION)
        return pd.Series(
            labelled(self.context.territory_ids, self.exception_codes[held]),
            index=self.context.account_ids[held],
            name="territory_id",
            dtype="string",
        )

    def definition(self) -> Definition:
        """Return the plan as a territory definition (to save, and apply to other accounts)."""
        if self.layout is None:
            raise ValueError("this plan has no units; build it with Plan.from_definition")
        territories = pd.DataFrame(
            {"name": self.context.territory_names, "rep_id": self.context.territory_reps},
            index=self.context.territory_ids,
        )
        return Definition(
            unit_kind=self.layout.unit_kind,
            unit_territory=self.unit_assignment.dropna(),
            exceptions=pd.concat([self.exceptions, self.layout.absent_exceptions]),
            rules=self.layout.rules,
            regions=self.layout.regions,
            territories=territories,
            unit_params=dict(self.layout.unit_params),
        )

    def contiguity(self) -> pd.DataFrame:
        """Pieces per territory from the unit adjacency graph.

        Returns
        -------
        pandas.DataFrame
            Indexed by territory id: ``units``, ``pieces`` (1: contiguous)
            and ``exclaves`` (pieces beyond the first). Computed once per plan
            (the map asks on every rerun); callers get a copy.
        """
        if self.layout is None or self.layout.pairs is None:
            raise ValueError("contiguity needs a plan with units and their adjacency")
        if "contiguity" not in self._cache:
            k = self.context.n_territories
            pieces = territory_pieces(self.unit_codes, self.layout.pairs, k)
            units = np.bincount(self.unit_codes[self.unit_codes >= 0], minlength=k)
            self._cache["contiguity"] = pd.DataFrame(
                {"units": units, "pieces": pieces, "exclaves": np.maximum(pieces - 1, 0)},
                index=self.context.territory_ids,
            )
        return self._cache["contiguity"].copy()

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
        exception_codes = self._moved_exceptions(positions, target_code)
        return self._child(
            positions, target_code, exception_codes=exception_codes, author=author, note=note, at=at
        )

    def _moved_exceptions(self, positions: np.ndarray, targets) -> np.ndarray | None:
        """Exception codes after accounts moved on their own (plans with units)."""
        if self.layout is None:
            return self.exception_codes
        claimed = positions[self.layout.rule_codes[positions] >= 0]
        if claimed.size:
            raise ValueError(
                f"account(s) {self.context.id_array[claimed[:5]].tolist()} are placed by an "
                "attribute rule; change the rule to move them"
            )
        # An account moved on its own becomes an exception, unless it goes
        # back to its unit's territory.
        unit = self.layout.account_units[positions]
        by_unit = np.where(unit >= 0, self.unit_codes[np.maximum(unit, 0)], -1)
        exception_codes = self.exception_codes.copy()
        exception_codes[positions] = np.where(by_unit == targets, NO_EXCEPTION, targets)
        exception_codes.setflags(write=False)
        return exception_codes

    def reassign_units(
        self,
        unit_ids: Iterable[str],
        target: str | None,
        *,
        keep_contiguous: bool = False,
        author: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> Plan:
        """Hand units to a territory, with their accounts except the excepted ones.

        Parameters
        ----------
        unit_ids : iterable of str
            Units to move; units already in ``target`` are left alone.
        target : str or None
            Receiving territory id; ``None`` releases the units to white space.
        keep_contiguous : bool, default False
            Refuse a move after which a territory it touches is in more
            pieces than before (split, or given an exclave).
        author, note : str, optional
            Recorded in the change log.
        at : datetime, optional
            Time of the move; now (UTC) when omitted.

        Returns
        -------
        Plan
            A new plan whose parent is this one, or this plan when no unit
            changes territory. Accounts with an exception or claimed by a
            rule stay where they are.

        Raises
        ------
        ValueError
            If the plan has no units (built with :meth:`from_assignment`).
        ContiguityError
            With ``keep_contiguous``, naming the territory the move would split.
        KeyError
            For an unknown unit or territory id.
        """
        if self.layout is None:
            raise ValueError("this plan has no units; build it with Plan.from_definition")
        target_code = self.context.territory_code(target)
        units = np.unique(self.layout.unit_positions(unit_ids))
        units = units[self.unit_codes[units] != target_code]
        if units.size == 0:
            return self
        unit_codes = self.unit_codes.copy()
        touched = np.unique(np.append(unit_codes[units], target_code))
        unit_codes[units] = target_code
        unit_codes.setflags(write=False)
        if keep_contiguous and self.layout.pairs is not None:
            self._check_contiguity(unit_codes, touched[touched >= 0])
        positions = self.layout.accounts_in(units)
        free = (self.exception_codes[positions] == NO_EXCEPTION) & (
            self.layout.rule_codes[positions] < 0
        )
        positions = positions[free & (self.codes[positions] != target_code)]
        return self._child(
            positions,
            target_code,
            unit_codes=unit_codes,
            unit_ids=tuple(self.layout.unit_ids[units].astype(str)),
            author=author,
            note=note,
            at=at,
        )

    def _check_contiguity(self, unit_codes: np.ndarray, territories: np.ndarray) -> None:
        k = self.context.n_territories
        before = territory_pieces(self.unit_codes, self.layout.pairs, k)
        after = territory_pieces(unit_codes, self.layout.pairs, k)
        worse = territories[after[territories] > np.maximum(before[territories], 1)]
        if worse.size:
            code = int(worse[0])
            name = self.context.territory_names[code]
            raise ContiguityError(
                f"moving these units would split territory {name!r} "
                f"({self.context.territory_ids[code]}) into {after[code]} pieces"
            )

    def _child(
        self,
        positions: np.ndarray,
        target_code: int,
        *,
        unit_codes: np.ndarray | None = None,
        exception_codes: np.ndarray | None = None,
        unit_ids: tuple[str, ...] = (),
        author: str | None,
        note: str | None,
        at: datetime | None,
    ) -> Plan:
        old = self.codes[positions]
        move = Move(
            account_ids=tuple(self.context.id_array[positions].tolist()),
            sources=tuple(labelled(self.context.territory_ids, old)),
            target=None if target_code < 0 else str(self.context.territory_ids[target_code]),
            at=at or datetime.now(UTC),
            author=author,
            note=note,
            unit_ids=unit_ids,
        )
        codes = self.codes.copy()
        codes[positions] = target_code
        codes.setflags(write=False)
        child = Plan(
            context=self.context,
            codes=codes,
            parent=self,
            move=move,
            layout=self.layout,
            unit_codes=self.unit_codes if unit_codes is None else unit_codes,
            exception_codes=self.exception_codes if exception_codes is None else exception_codes,
        )
        child._cache["moved_positions"] = positions
        child._cache["moved_from"] = old
        return child

    def move_to_region(
        self,
        territory_id: str,
        region: str | None,
        *,
        author: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> Plan:
        """Put a territory in another region, returning a new plan.

        No account changes territory; the region roll-ups, the region colours
        and the definition file follow the new plan.

        Parameters
        ----------
        territory_id : str
            The territory to move.
        region : str or None
            Its new region (a new name starts a region); ``None`` takes it
            out of every region.
        author, note : str, optional
            Recorded in the change log.
        at : datetime, optional
            Time of the move; now (UTC) when omitted.

        Returns
        -------
        Plan
            A new plan whose parent is this one, or this plan when the
            territory is already in ``region``.

        Raises
        ------
        ValueError
            If the plan has no units (regions belong to a definition), or the
            region name is blank.
        KeyError
            For an unknown territory id.
        """
        if self.layout is None:
            raise ValueError("this plan has no units; build it with Plan.from_definition")
        if territory_id is None:
            raise KeyError("a region holds territories, not the white space")
        code = self.context.territory_code(territory_id)
        tid = str(self.context.territory_ids[code])
        if region is not None:
            region = str(region).strip()
            if not region:
                raise ValueError("a region needs a name, got a blank one")
        regions = self.layout.regions.astype(object).copy()
        current = regions.get(tid)
        current = None if current is None or pd.isna(current) else str(current)
        if current == region:
            return self
        if region is None:
            regions = regions.drop(tid)
        else:
            regions[tid] = region
        layout = replace(
            self.layout, regions=pd.Series(regions, dtype="string"), _cache=self.layout._cache
        )
        move = Move(
            account_ids=(),
            sources=(),
            target=tid,
            at=at or datetime.now(UTC),
            author=author,
            note=note,
            region=(tid, region),
        )
        child = Plan(
            context=self.context,
            codes=self.codes,
            parent=self,
            move=move,
            layout=layout,
            unit_codes=self.unit_codes,
            exception_codes=self.exception_codes,
        )
        child._cache["moved_positions"] = np.empty(0, dtype=np.int64)
        child._cache["moved_from"] = np.empty(0, dtype=np.int32)
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
        exception_codes = self._moved_exceptions(positions, targets)
        codes = self.codes.copy()
        codes[positions] = targets
        codes.setflags(write=False)
        child = Plan(
            context=self.context,
            codes=codes,
            parent=self,
            move=move,
            layout=self.layout,
            unit_codes=self.unit_codes,
            exception_codes=exception_codes,
        )
        child._cache["moved_positions"] = positions
        child._cache["moved_from"] = old
        return child

    def replay(self, move: Move) -> Plan:
        """Apply a recorded move (from a saved change log) to this plan.

        Returns
        -------
        Plan
            As :meth:`reassign`, :meth:`reassign_many` or :meth:`reassign_units`.

        Raises
        ------
        KeyError
            For an account or territory this plan's context does not have.
        """
        if move.region is not None:
            return self.move_to_region(*move.region, author=move.author, note=move.note, at=move.at)
        if move.unit_ids:
            # A unit move replays as one: its accounts follow from the units.
            return self.reassign_units(
                move.unit_ids, move.target, author=move.author, note=move.note, at=move.at
            )
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
        """Every move from the first plan to this one, oldest first (merged steps unfolded)."""
        out: list[Move] = []
        for plan in self.lineage:
            if plan.merged is not None:
                out.extend(plan.merged)
            elif plan.move is not None:
                out.append(plan.move)
        return out

    def merged_onto(self, ancestor: Plan) -> Plan:
        """Fold the steps from ``ancestor`` to this plan into one step.

        Parameters
        ----------
        ancestor : Plan
            A plan of this plan's lineage (usually its first plan), over a
            context with the same accounts in the same order.

        Returns
        -------
        Plan
            The same assignment, units, exceptions and cached figures, whose
            parent is ``ancestor``, whose ``move`` is the net change from
            ``ancestor`` and whose ``merged`` holds every move in between.
        """
        lineage = self.lineage
        if not any(plan is ancestor for plan in lineage):
            raise ValueError("merged_onto needs an ancestor of this plan")
        start = next(i for i, plan in enumerate(lineage) if plan is ancestor)
        between: list[Move] = []
        for plan in lineage[start + 1 :]:
            if plan.merged is not None:
                between.extend(plan.merged)
            elif plan.move is not None:
                between.append(plan.move)
        positions = np.flatnonzero(ancestor.codes != self.codes)
        k = self.context.n_territories
        labels = np.append(self.context.territory_ids.to_numpy(dtype=object), None)
        old = ancestor.codes[positions]
        new = self.codes[positions]
        last = between[-1] if between else None
        net = Move(
            account_ids=tuple(self.context.id_array[positions].tolist()),
            sources=tuple(labels[np.where(old < 0, k, old)]),
            target=None,
            at=last.at if last is not None else datetime.now(UTC),
            author=last.author if last is not None else None,
            note=f"{len(between)} earlier steps merged",
            targets=tuple(labels[np.where(new < 0, k, new)]),
        )
        cache = {key: value for key, value in self._cache.items() if key != "moved_from"}
        cache["moved_positions"] = positions
        cache["moved_from"] = old
        return Plan(
            context=self.context,
            codes=self.codes,
            parent=ancestor,
            move=net,
            layout=self.layout,
            unit_codes=self.unit_codes,
            exception_codes=self.exception_codes,
            merged=tuple(between),
            _cache=cache,
        )

    def hung_under(self, parent: Plan, *, keep_figures: bool = True) -> Plan:
        """Hang this plan's step (same assignment and move) under another parent.

        Parameters
        ----------
        parent : Plan
            The new parent: this plan's parent again (a copy, or the same plan
            over another context with the same accounts and territories).
        keep_figures : bool, default True
            Keep the cached figures (the parent's context is the same);
            ``False`` recomputes them from the parent's when asked.

        Returns
        -------
        Plan
            Over ``parent.context``.
        """
        moved = {
            key: self._cache[key] for key in ("moved_positions", "moved_from") if key in self._cache
        }
        return Plan(
            context=parent.context,
            codes=self.codes,
            parent=parent,
            move=self.move,
            layout=self.layout,
            unit_codes=self.unit_codes,
            exception_codes=self.exception_codes,
            merged=self.merged,
            _cache=dict(self._cache) if keep_figures else moved,
        )

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


#: Undo steps a :class:`History` keeps when its plans are small.
UNDO_STEPS = 100
#: Fewest undo steps, however large the plans.
MIN_UNDO_STEPS = 10
#: Bytes of assignment arrays a history may hold before it keeps fewer steps.
UNDO_BUDGET_BYTES = 256 * 2**20


def undo_steps_for(plan: Plan) -> int:
    """Undo steps a history of plans like ``plan`` keeps within the memory budget.

    Each step holds a copy of the assignment (and, for unit plans, of the
    exception codes), so large data sets keep fewer steps:
    :data:`UNDO_STEPS` up to about 300k accounts, never fewer than
    :data:`MIN_UNDO_STEPS`.
    """
    per_step = plan.codes.nbytes * (2 if plan.exception_codes is not None else 1)
    return int(np.clip(UNDO_BUDGET_BYTES // max(per_step, 1), MIN_UNDO_STEPS, UNDO_STEPS))


@dataclass(frozen=True)
class History:
    """Undo/redo over plans: the plans seen and where we stand, bounded.

    A history keeps at most ``limit`` undo steps. Pushing beyond that folds
    the oldest steps into one step from the first plan
    (:meth:`Plan.merged_onto`): undo can go back ``limit`` steps, the
    change log and a save still hold every move, and the plans in between
    are freed.

    Attributes
    ----------
    plans : tuple of Plan
        Plans in the order they were made current.
    position : int
        Index of the current plan.
    limit : int, optional
        Most undo steps kept; :func:`undo_steps_for` the first plan when
        omitted.
    """

    plans: tuple[Plan, ...]
    position: int = 0
    limit: int | None = None

    @classmethod
    def start(cls, plan: Plan, limit: int | None = None) -> History:
        """Start a history holding one plan."""
        return cls(plans=(plan,), position=0, limit=limit)

    @classmethod
    def over(cls, plans: Iterable[Plan], limit: int | None = None) -> History:
        """Start a bounded history of ``plans`` (each the parent of the next), at the last."""
        plans = tuple(plans)
        if not plans:
            raise ValueError("a history needs at least one plan")
        history = cls(plans=plans, position=len(plans) - 1, limit=limit)
        return history._bounded()

    @property
    def steps(self) -> int:
        """Most undo steps this history keeps."""
        return self.limit if self.limit is not None else undo_steps_for(self.plans[0])

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
        """Make ``plan`` current, dropping whatever had been undone.

        Beyond :attr:`steps` undo steps the oldest are folded into one, so
        the plan held as current may be a re-parented copy of ``plan`` (same
        assignment, moves and figures).
        """
        if plan is self.current:
            return self
        plans = (*self.plans[: self.position + 1], plan)
        return History(plans=plans, position=len(plans) - 1, limit=self.limit)._bounded()

    def _bounded(self) -> History:
        steps = self.steps
        if len(self.plans) <= steps + 1:
            return self
        # Re-parenting the kept plans recomputes nothing but costs tens of
        # microseconds a plan: fold a tenth of the limit at a time, so a long
        # session re-hangs them once every ``steps // 10`` pushes.
        chunk = max(steps // 10, 1)
        drop = min(len(self.plans) - steps - 2 + chunk, self.position - 1)
        if drop <= 0:
            return self
        first = self.plans[drop]
        origin = first.lineage[0]
        if origin is first:
            return self
        rebuilt: dict[int, Plan] = {id(first): first.merged_onto(origin)}
        kept = [rebuilt[id(first)]]
        for plan in self.plans[drop + 1 :]:
            kept.append(_rehung(plan, rebuilt))
        return History(plans=tuple(kept), position=self.position - drop, limit=self.limit)

    def undo(self) -> History:
        """Step back one plan (no-op at the start)."""
        return History(self.plans, max(self.position - 1, 0), self.limit)

    def redo(self) -> History:
        """Step forward one plan (no-op at the end)."""
        return History(self.plans, min(self.position + 1, len(self.plans) - 1), self.limit)


def _rehung(plan: Plan, rebuilt: dict[int, Plan]) -> Plan:
    """``plan`` re-parented onto the rebuilt copies of its ancestors (memoised in ``rebuilt``)."""
    chain: list[Plan] = []
    node: Plan | None = plan
    while node is not None and id(node) not in rebuilt:
        chain.append(node)
        node = node.parent
    if node is None:
        # Not descended from the folded plans: keep it as it is.
        return plan
    for step in reversed(chain):
        rebuilt[id(step)] = step.hung_under(rebuilt[id(step.parent)])
    return rebuilt[id(plan)]
