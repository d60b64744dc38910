"""The unit side of a plan: which unit each account is in, and unit neighbours.

A :class:`UnitLayout` is fixed per data set and unit layer (like
:class:`~terrmap.core.context.Context` for accounts): unit ids, the unit
position of each account (-1 outside every unit), the territory each account
is claimed by through an attribute rule, and the adjacency of units in
compressed rows. Plans built on it (:meth:`terrmap.core.plan.Plan.from_definition`)
carry only their unit -> territory codes and their exceptions.

Contiguity is a graph question (as in GerryChain's
``constraints/contiguity.py``), answered with
``scipy.sparse.csgraph.connected_components`` on the edges whose two units are
in the same territory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from terrmap.core.context import _frozen
from terrmap.core.definition import Rule

__all__ = ["UnitLayout", "exclave_units", "territory_pieces", "unit_pieces"]


@dataclass(frozen=True, eq=False)
class UnitLayout:
    """Units of a data set as arrays aligned with a context's accounts.

    Attributes
    ----------
    unit_kind : str
        Kind of the unit layer (see :data:`terrmap.core.definition.UNIT_KINDS`).
    unit_ids : pandas.Index
        Unit ids; a unit's position here is its code.
    account_units : numpy.ndarray
        Unit code per account, -1 outside every unit.
    rule_codes : numpy.ndarray
        Territory code per account claimed by an attribute rule, -2 otherwise.
    rules : tuple of Rule
        The rules that gave ``rule_codes`` (kept for the definition file).
    pairs : numpy.ndarray or None
        ``(m, 2)`` neighbouring unit codes; ``None`` when unknown.
    unit_params : dict
        How the unit layer was built.
    regions : pandas.Series
        Region per territory id.
    absent_exceptions : pandas.Series
        Exceptions of the definition naming accounts not in the data: kept,
        so a definition saved again loses none of them.
    """

    unit_kind: str
    unit_ids: pd.Index
    account_units: np.ndarray = field(repr=False)
    rule_codes: np.ndarray = field(repr=False)
    rules: tuple[Rule, ...] = ()
    pairs: np.ndarray | None = field(default=None, repr=False)
    unit_params: dict = field(default_factory=dict)
    regions: pd.Series = field(default_factory=lambda: pd.Series(dtype="string"))
    absent_exceptions: pd.Series = field(default_factory=lambda: pd.Series(dtype="string"))
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "account_units", _frozen(self.account_units, np.int64))
        object.__setattr__(self, "rule_codes", _frozen(self.rule_codes, np.int32))
        if len(self.account_units) != len(self.rule_codes):
            raise ValueError("account_units and rule_codes must align with the accounts")
        if len(self.account_units) and self.account_units.max(initial=-1) >= len(self.unit_ids):
            raise ValueError("account_units names a unit code beyond unit_ids")
        if self.pairs is not None:
            pairs = np.asarray(self.pairs, dtype=np.int64).reshape(-1, 2)
            if len(pairs) and (pairs.min() < 0 or pairs.max() >= len(self.unit_ids)):
                raise ValueError("adjacency pairs name a unit code beyond unit_ids")
            object.__setattr__(self, "pairs", _frozen(pairs, np.int64))

    @property
    def n_units(self) -> int:
        """Number of units."""
        return len(self.unit_ids)

    def unit_positions(self, unit_ids) -> np.ndarray:
        """Codes of unit ids.

        Raises
        ------
        KeyError
            Naming up to five ids that are not units of this layout.
        """
        ids = [str(u) for u in unit_ids]
        found = self.unit_ids.get_indexer(ids)
        if (found < 0).any():
            missing = [ids[i] for i in np.flatnonzero(found < 0)[:5]]
            raise KeyError(f"unknown unit id(s): {missing}")
        return found.astype(np.int64)

    def accounts_in(self, unit_codes: np.ndarray) -> np.ndarray:
        """Positions of the accounts in some units (sorted)."""
        order, starts = self._grouping()
        unit_codes = np.asarray(unit_codes, dtype=np.int64)
        if unit_codes.size == 0:
            return np.empty(0, dtype=np.int64)
        lengths = starts[unit_codes + 1] - starts[unit_codes]
        offsets = np.repeat(starts[unit_codes] - np.cumsum(lengths) + lengths, lengths)
        return np.sort(order[offsets + np.arange(lengths.sum())])

    def _grouping(self) -> tuple[np.ndarray, np.ndarray]:
        """Accounts sorted by unit, and where each unit's run starts."""
        if "grouping" not in self._cache:
            inside = np.flatnonzero(self.account_units >= 0)
            order = inside[np.argsort(self.account_units[inside], kind="stable")]
            counts = np.bincount(self.account_units[inside], minlength=self.n_units)
            starts = np.concatenate([[0], np.cumsum(counts)])
            self._cache["grouping"] = (order, starts)
        return self._cache["grouping"]


def unit_pieces(unit_codes: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Label each unit with the connected piece of its territory it belongs to.

    Parameters
    ----------
    unit_codes : numpy.ndarray
        Territory code per unit (-1: in no territory).
    pairs : numpy.ndarray
        ``(m, 2)`` neighbouring unit codes.

    Returns
    -------
    numpy.ndarray
        A piece label per unit (units sharing a label are one piece of one
        territory); -1 for units in no territory.

    Examples
    --------
    >>> unit_pieces(np.array([0, 0, 1, 0]), np.array([[0, 1], [1, 2], [2, 3]])).tolist()
    [0, 0, 1, 2]
    """
    unit_codes = np.asarray(unit_codes)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    n = len(unit_codes)
    a, b = pairs[:, 0], pairs[:, 1]
    same = (unit_codes[a] == unit_codes[b]) & (unit_codes[a] >= 0)
    graph = coo_matrix((np.ones(int(same.sum())), (a[same], b[same])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return np.where(unit_codes >= 0, labels, -1)


def territory_pieces(unit_codes: np.ndarray, pairs: np.ndarray, n_territories: int) -> np.ndarray:
    """Count the connected pieces of each territory.

    Parameters
    ----------
    unit_codes : numpy.ndarray
        Territory code per unit (-1: in no territory).
    pairs : numpy.ndarray
        ``(m, 2)`` neighbouring unit codes.
    n_territories : int
        Number of territories.

    Returns
    -------
    numpy.ndarray
        Pieces per territory (0 for a territory without units). A territory
        in one piece is contiguous; every piece beyond the largest is an
        exclave.
    """
    labels = unit_pieces(unit_codes, pairs)
    owned = labels >= 0
    pieces = np.zeros(n_territories, dtype=np.int64)
    if owned.any():
        distinct = np.unique(np.column_stack([unit_codes[owned], labels[owned]]), axis=0)
        pieces += np.bincount(distinct[:, 0], minlength=n_territories)
    return pieces


def exclave_units(unit_codes: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Label the units that lie in an exclave: a piece of a territory beyond its main one.

    The main piece of a territory is the one with the most units (the lowest
    piece label among equals).

    Parameters
    ----------
    unit_codes : numpy.ndarray
        Territory code per unit (-1: in no territory).
    pairs : numpy.ndarray
        ``(m, 2)`` neighbouring unit codes.

    Returns
    -------
    numpy.ndarray
        The piece label (see :func:`unit_pieces`) of each unit in an exclave,
        -1 for units in a main piece or in no territory.

    Examples
    --------
    >>> exclave_units(np.array([0, 0, 1, 0]), np.array([[0, 1], [1, 2], [2, 3]])).tolist()
    [-1, -1, -1, 2]
    """
    unit_codes = np.asarray(unit_codes)
    labels = unit_pieces(unit_codes, pairs)
    owned = np.flatnonzero(labels >= 0)
    out = np.full(len(unit_codes), -1, dtype=np.int64)
    if owned.size == 0:
        return out
    size = np.bincount(labels[owned])
    # Per territory, the biggest piece first (lowest label among equals).
    pieces = np.unique(labels[owned])
    piece_territory = np.empty(pieces.max() + 1, dtype=np.int64)
    piece_territory[labels[owned]] = unit_codes[owned]
    order = np.lexsort((pieces, -size[pieces], piece_territory[pieces]))
    ranked = pieces[order]
    first = np.r_[True, piece_territory[ranked][1:] != piece_territory[ranked][:-1]]
    main = np.zeros(pieces.max() + 1, dtype=bool)
    main[ranked[first]] = True
    exclave = owned[~main[labels[owned]]]
    out[exclave] = labels[exclave]
    return out
