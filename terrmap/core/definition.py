"""A territory definition: geography plus exceptions, rules and regions.

A territory is *places* (units: counties, ZIP areas, H3 cells, uploaded
polygons), plus named-account *exceptions* (account -> territory), plus
optional attribute *rules* that claim accounts anywhere (e.g. "Enterprise:
revenue >= 1,000,000"). An account's territory is, in this order:

1. the territory of the first rule it matches;
2. else its exception's territory (an exception may also say *white space*);
3. else its unit's territory (white space when it is in no unit, or its
   unit is in no territory).

Territories may roll up into *regions* (territory -> region).

A definition holds no account figures and no geometry, so it survives next
month's CRM export: :func:`resolve` applies it to any accounts frame, given
the unit each account is in (found by :mod:`terrmap.geo.units`). It is saved
and read back as JSON (:meth:`Definition.to_dict`, :meth:`Definition.from_dict`).

Examples
--------
>>> import pandas as pd
>>> definition = Definition(
...     unit_kind="county",
...     unit_territory=pd.Series({"06037": "West", "36061": "East"}),
...     exceptions=pd.Series({"acme": "East"}),
...     rules=(Rule("Enterprise", "revenue", ">=", 1_000_000),),
... )
>>> accounts = pd.DataFrame(
...     {"revenue": [5e6, 10.0, 10.0, 10.0]}, index=["big", "acme", "la", "nowhere"]
... )
>>> units = pd.Series(["06037", "06037", "06037", None], index=accounts.index)
>>> resolve(definition, accounts, units).territory.tolist()
['Enterprise', 'East', 'West', <NA>]
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "DEFINITION_VERSION",
    "UNIT_KINDS",
    "NO_EXCEPTION",
    "Codes",
    "Definition",
    "Resolution",
    "Rule",
    "labelled",
    "region_rollup",
    "reimport_report",
    "resolve",
    "resolve_codes",
]

#: The kinds of unit layers a definition can be built on.
UNIT_KINDS: tuple[str, ...] = ("county", "state", "zip", "zip-approximate", "h3", "uploaded")

#: Written into every definition file; bumped when the format changes.
DEFINITION_VERSION = 1

_OPERATORS = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}

#: Exception code of an account without an exception (``-1`` is white space).
NO_EXCEPTION = -2


@dataclass(frozen=True)
class Rule:
    """An attribute rule: accounts whose ``field`` satisfies ``op value`` go to a territory.

    Attributes
    ----------
    territory_id : str
        The territory the rule places accounts in.
    field : str
        An accounts column (``industry``, ``segment``, ``revenue``...).
    op : str
        ``==``, ``!=``, ``>=``, ``>``, ``<=``, ``<`` or ``in``.
    value : object
        A number or text; a list for ``in``. Text compares case-insensitively.
    """

    territory_id: str
    field: str
    op: str
    value: object

    def __post_init__(self) -> None:
        if self.op not in (*_OPERATORS, "in"):
            raise ValueError(
                f"rule for {self.territory_id!r}: unknown operator {self.op!r}; "
                f"use one of {[*_OPERATORS, 'in']}"
            )
        if self.op == "in" and isinstance(self.value, str | bytes):
            raise ValueError(f"rule for {self.territory_id!r}: 'in' needs a list of values")

    def matches(self, accounts: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the accounts the rule claims (missing values never match).

        Raises
        ------
        ValueError
            When the accounts have no column ``field``.
        """
        if self.field not in accounts.columns:
            raise ValueError(
                f"rule for {self.territory_id!r} uses field {self.field!r}, "
                f"which the accounts do not have"
            )
        column = accounts[self.field]
        present = column.notna().to_numpy().copy()
        if self.op != "in" and _is_number(self.value):
            numbers = pd.to_numeric(column, errors="coerce")
            present &= numbers.notna().to_numpy()
            hits = _OPERATORS[self.op](numbers.fillna(0).to_numpy(float), float(self.value))
            return present & hits
        # Text compares trimmed and case-folded; folding the distinct values
        # only keeps a million rows fast (a column has few distinct values).
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        folded = pd.Series([_folded(str(v)) for v in uniques], dtype=object)
        if self.op == "in":
            wanted = [_folded(v) if isinstance(v, str) else str(v).casefold() for v in self.value]
            matched = folded.isin(wanted).to_numpy()
        else:
            value = _folded(self.value) if isinstance(self.value, str) else str(self.value)
            matched = _OPERATORS[self.op](folded, value).to_numpy(dtype=bool)
        hits = np.append(matched, False)[np.where(codes < 0, len(matched), codes)]
        return present & hits

    def to_dict(self) -> dict:
        """JSON-ready form."""
        value = list(self.value) if self.op == "in" else self.value  # type: ignore[call-overload]
        return {"territory": self.territory_id, "field": self.field, "op": self.op, "value": value}

    @classmethod
    def from_dict(cls, data: Mapping) -> Rule:
        """Read the form written by :meth:`to_dict`."""
        missing = [k for k in ("territory", "field", "op", "value") if k not in data]
        if missing:
            raise ValueError(f"rule {dict(data)} lacks {missing}")
        value = data["value"]
        return cls(str(data["territory"]), str(data["field"]), str(data["op"]), value)


@dataclass(frozen=True, eq=False)
class Definition:
    """Units -> territory, exceptions, rules and regions.

    Attributes
    ----------
    unit_kind : str
        The kind of unit layer (one of :data:`UNIT_KINDS`).
    unit_territory : pandas.Series
        Territory id per unit id; units in no territory are left out or
        ``<NA>``.
    exceptions : pandas.Series
        Territory id per account id (``<NA>``: the account is white space
        whatever its place).
    rules : tuple of Rule
        Evaluated in order before geography; the first match wins.
    regions : pandas.Series
        Region per territory id (territories left out are in no region).
    territories : pandas.DataFrame
        Territory id -> ``name``, ``rep_id``: every territory of the plan,
        including those that hold no unit yet.
    unit_params : dict
        How to build the unit layer again (e.g. ``{"resolution": 7}``).
    """

    unit_kind: str
    unit_territory: pd.Series
    exceptions: pd.Series = field(default_factory=lambda: pd.Series(dtype="string"))
    rules: tuple[Rule, ...] = ()
    regions: pd.Series = field(default_factory=lambda: pd.Series(dtype="string"))
    territories: pd.DataFrame | None = None
    unit_params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.unit_kind not in UNIT_KINDS:
            raise ValueError(f"unknown unit kind {self.unit_kind!r}; expected one of {UNIT_KINDS}")
        for name in ("unit_territory", "exceptions", "regions"):
            series = getattr(self, name)
            index = pd.Index(series.index.astype(str))
            if index.has_duplicates:
                raise ValueError(
                    f"{name}: repeated id(s) {sorted(set(index[index.duplicated()]))[:5]}"
                )
            object.__setattr__(
                self, name, pd.Series(series.to_numpy(), index=index, dtype="string")
            )

    @property
    def territory_ids(self) -> pd.Index:
        """Every territory the definition names, in first-seen order."""
        listed = [] if self.territories is None else list(self.territories.index.astype(str))
        named = [
            *listed,
            *self.unit_territory.dropna().tolist(),
            *self.exceptions.dropna().tolist(),
            *(rule.territory_id for rule in self.rules),
            *self.regions.index.tolist(),
        ]
        return pd.Index(list(dict.fromkeys(named)), name="territory_id", dtype=object)

    def to_dict(self) -> dict:
        """JSON-ready form (see :meth:`from_dict`)."""
        territories = (
            self.territories
            if self.territories is not None
            else pd.DataFrame(index=self.territory_ids)
        )
        rows = [
            {"id": str(tid), **{k: _plain(v) for k, v in row.items() if _plain(v) is not None}}
            for tid, row in territories.reindex(self.territory_ids).iterrows()
        ]
        return {
            "terrmap_definition": DEFINITION_VERSION,
            "units": {"kind": self.unit_kind, **self.unit_params},
            "territories": rows,
            "unit_territory": _mapping(self.unit_territory.dropna()),
            "exceptions": _mapping(self.exceptions),
            "rules": [rule.to_dict() for rule in self.rules],
            "regions": _mapping(self.regions.dropna()),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Definition:
        """Read a definition written by :meth:`to_dict`.

        Raises
        ------
        ValueError
            When the data is not a terrmap definition or a part is malformed,
            naming the part.
        """
        if not isinstance(data, Mapping) or "terrmap_definition" not in data:
            raise ValueError("not a terrmap territory definition (no 'terrmap_definition' key)")
        if data["terrmap_definition"] > DEFINITION_VERSION:
            raise ValueError(
                f"definition format {data['terrmap_definition']} is newer than this terrmap "
                f"reads ({DEFINITION_VERSION})"
            )
        units = dict(data.get("units") or {})
        if "kind" not in units:
            raise ValueError("definition 'units' has no 'kind'")
        kind = units.pop("kind")
        rows = list(data.get("territories") or [])
        if any("id" not in row for row in rows):
            raise ValueError("every entry of 'territories' needs an 'id'")
        territories = pd.DataFrame(rows).set_index("id") if rows else None
        if territories is not None:
            territories.index = territories.index.astype(str).rename("territory_id")
        return cls(
            unit_kind=kind,
            unit_territory=_series(data.get("unit_territory"), "unit_territory"),
            exceptions=_series(data.get("exceptions"), "exceptions"),
            rules=tuple(Rule.from_dict(r) for r in data.get("rules") or []),
            regions=_series(data.get("regions"), "regions"),
            territories=territories,
            unit_params=units,
        )


@dataclass(frozen=True, eq=False)
class Resolution:
    """An account-level reading of a definition.

    Attributes
    ----------
    territory : pandas.Series
        Territory id per account (``<NA>``: white space).
    source : pandas.Series
        Why: ``rule``, ``exception``, ``unit`` or ``outside`` (in no unit,
        or in a unit of no territory), per account.
    unit : pandas.Series
        Unit id per account (``<NA>`` outside every unit).
    """

    territory: pd.Series
    source: pd.Series
    unit: pd.Series

    @property
    def outside(self) -> pd.Index:
        """Accounts in no unit at all (white space by geography)."""
        return self.unit.index[self.unit.isna().to_numpy()]


def resolve(definition: Definition, accounts: pd.DataFrame, units: pd.Series) -> Resolution:
    """Apply a definition to accounts: rule, else exception, else unit.

    Parameters
    ----------
    definition : Definition
    accounts : pandas.DataFrame
        Indexed by account id; the columns the rules use.
    units : pandas.Series
        Unit id per account id (``<NA>`` outside every unit), e.g.
        :meth:`terrmap.geo.units.UnitLayer.unit_of`.

    Returns
    -------
    Resolution

    Raises
    ------
    ValueError
        When a rule's field is missing from the accounts.
    """
    ids = pd.Index(accounts.index.astype(str), name="account_id")
    unit = pd.Series(units.to_numpy(), index=pd.Index(units.index.astype(str)), dtype="string")
    unit = unit.reindex(ids)
    territory_ids = definition.territory_ids
    unit_ids = pd.Index(definition.unit_territory.index)
    account_units = unit_ids.get_indexer(unit.fillna("\0").to_numpy())
    coded = resolve_codes(definition, territory_ids, ids, account_units, unit_ids, accounts)
    codes = coded.codes
    source = np.where(codes >= 0, "unit", "outside").astype(object)
    source[coded.exceptions != NO_EXCEPTION] = "exception"
    source[coded.rules >= 0] = "rule"
    return Resolution(
        territory=pd.Series(
            labelled(territory_ids, codes), index=ids, name="territory_id", dtype="string"
        ),
        source=pd.Series(source, index=ids, name="source", dtype="string"),
        unit=unit.rename("unit_id"),
    )


@dataclass(frozen=True, eq=False)
class Codes:
    """A definition applied to accounts, as integer codes.

    Territory codes are positions in the territory ids given to
    :func:`resolve_codes`; -1 is white space.

    Attributes
    ----------
    codes : numpy.ndarray
        Territory per account: rule, else exception, else unit.
    units : numpy.ndarray
        Territory per unit.
    exceptions : numpy.ndarray
        Exception per account, :data:`NO_EXCEPTION` where none.
    rules : numpy.ndarray
        Territory per account claimed by a rule, :data:`NO_EXCEPTION` where none.
    """

    codes: np.ndarray
    units: np.ndarray
    exceptions: np.ndarray
    rules: np.ndarray


def resolve_codes(
    definition: Definition,
    territory_ids: pd.Index,
    account_ids: pd.Index,
    account_units: np.ndarray,
    unit_ids: pd.Index,
    accounts: pd.DataFrame | None = None,
    *,
    lookup: Mapping[str, int] | None = None,
) -> Codes:
    """Apply a definition as integer codes: the one home of its precedence.

    Parameters
    ----------
    definition : Definition
    territory_ids : pandas.Index
        Territory ids; codes are positions here.
    account_ids : pandas.Index
        Account ids (string).
    account_units : numpy.ndarray
        Unit position (in ``unit_ids``) per account, -1 outside every unit.
    unit_ids : pandas.Index
        The units of the layer.
    accounts : pandas.DataFrame, optional
        Aligned with ``account_ids``; the columns the rules read. Required
        when the definition has rules.
    lookup : mapping, optional
        Account id -> position, when the caller has one (e.g. a context's):
        spares hashing every account id to find the exceptions.

    Returns
    -------
    Codes

    Raises
    ------
    ValueError
        When the definition names a territory outside ``territory_ids`` or a
        unit outside ``unit_ids``, or has rules and no accounts are given.
    """
    named = definition.unit_territory.dropna()
    where = unit_ids.get_indexer(named.index)
    if (where < 0).any():
        missing = named.index[where < 0][:5].tolist()
        raise ValueError(f"the definition names unit(s) {missing} that the unit layer lacks")
    per_unit = np.full(len(unit_ids), -1, dtype=np.int32)
    per_unit[where] = _territory_codes(territory_ids, named, "unit_territory")

    exceptions = np.full(len(account_ids), NO_EXCEPTION, dtype=np.int32)
    if lookup is not None:
        excepted = np.fromiter(
            (lookup.get(a, -1) for a in definition.exceptions.index),
            dtype=np.int64,
            count=len(definition.exceptions),
        )
    else:
        excepted = account_ids.get_indexer(definition.exceptions.index)
    present = excepted >= 0
    exceptions[excepted[present]] = _territory_codes(
        territory_ids, definition.exceptions[present], "exceptions", white_space=-1
    )

    rules = np.full(len(account_ids), NO_EXCEPTION, dtype=np.int32)
    if definition.rules:
        if accounts is None:
            raise ValueError("the definition has rules; pass the accounts they read")
        claimed = np.zeros(len(account_ids), dtype=bool)
        for rule in definition.rules:
            hit = rule.matches(accounts) & ~claimed
            rules[hit] = _territory_codes(territory_ids, pd.Series([rule.territory_id]), "rules")[0]
            claimed |= hit
    account_units = np.asarray(account_units, dtype=np.int64)
    codes = np.where(account_units >= 0, per_unit[np.maximum(account_units, 0)], -1)
    codes = np.where(exceptions != NO_EXCEPTION, exceptions, codes)
    codes = np.where(rules >= 0, rules, codes).astype(np.int32)
    for array in (codes, per_unit, exceptions, rules):
        array.setflags(write=False)
    return Codes(codes=codes, units=per_unit, exceptions=exceptions, rules=rules)


def _territory_codes(
    territory_ids: pd.Index, territories: pd.Series, what: str, white_space: int | None = None
) -> np.ndarray:
    """Territory codes of a Series of territory ids; ``<NA>`` is ``white_space``."""
    values = territories.astype(object)
    missing = values.isna().to_numpy()
    found = territory_ids.get_indexer(values.fillna("\0").astype(str))
    unknown = (found < 0) & ~missing
    if unknown.any():
        names = sorted(set(values[unknown]))[:5]
        raise ValueError(f"definition {what} names territory id(s) {names} the plan does not have")
    if missing.any():
        if white_space is None:
            raise ValueError(f"definition {what} has empty territory ids")
        found[missing] = white_space
    return found.astype(np.int32)


def reimport_report(
    old_assignment: pd.Series,
    old_accounts: pd.DataFrame,
    new_assignment: pd.Series,
    new_accounts: pd.DataFrame,
    definition: Definition,
    *,
    compare: tuple[str, ...] = ("revenue", "cost_to_serve", "visits_per_year", "lat", "lon"),
) -> tuple[pd.DataFrame, pd.Index]:
    """Report what a new accounts file did to a plan, per territory.

    Parameters
    ----------
    old_assignment, new_assignment : pandas.Series
        Territory per account before and after (``<NA>``: white space).
    old_accounts, new_accounts : pandas.DataFrame
        The accounts files, indexed by account id.
    definition : Definition
        The definition applied (its exceptions are checked).
    compare : tuple of str
        Columns whose change makes an account *changed* (those present in
        both files).

    Returns
    -------
    report : pandas.DataFrame
        Indexed by territory (``"(white space)"`` for none): ``added``
        (new accounts now there), ``removed`` (accounts gone from the file
        that were there), ``changed`` (accounts in both files, there now,
        whose figures or territory changed), ``moved_in`` and ``moved_out``
        (accounts in both files that changed territory).
    lost_exceptions : pandas.Index
        Exception account ids that are no longer in the accounts file.
    """
    white = "(white space)"
    old = old_assignment.copy()
    old.index = old.index.astype(str)
    new = new_assignment.copy()
    new.index = new.index.astype(str)
    old_t = old.astype(object).where(old.notna(), white)
    new_t = new.astype(object).where(new.notna(), white)
    added = new.index.difference(old.index)
    removed = old.index.difference(new.index)
    kept = new.index.intersection(old.index)
    columns = [c for c in compare if c in old_accounts.columns and c in new_accounts.columns]
    before = old_accounts.set_axis(old_accounts.index.astype(str)).reindex(kept)[columns]
    after = new_accounts.set_axis(new_accounts.index.astype(str)).reindex(kept)[columns]
    differs = ~((before == after) | (before.isna() & after.isna())).all(axis=1)
    moved = old_t.reindex(kept) != new_t.reindex(kept)
    changed = kept[(differs | moved).to_numpy()]
    moved_ids = kept[moved.to_numpy()]
    counts = {
        "added": new_t.reindex(added).value_counts(),
        "removed": old_t.reindex(removed).value_counts(),
        "changed": new_t.reindex(changed).value_counts(),
        "moved_in": new_t.reindex(moved_ids).value_counts(),
        "moved_out": old_t.reindex(moved_ids).value_counts(),
    }
    order = list(dict.fromkeys([*definition.territory_ids, *new_t.unique(), *old_t.unique()]))
    report = pd.DataFrame(counts).reindex(order).fillna(0).astype(int)
    report.index.name = "territory_id"
    report = report[(report > 0).any(axis=1) | report.index.isin(definition.territory_ids)]
    lost = definition.exceptions.index.difference(pd.Index(new_accounts.index.astype(str)))
    return report, lost


def region_rollup(metrics: pd.DataFrame, regions: pd.Series, columns: list[str]) -> pd.DataFrame:
    """Sum per-territory figures by region.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Indexed by territory id.
    regions : pandas.Series
        Region per territory id; territories left out roll up into
        ``"(no region)"``.
    columns : list of str
        Additive columns to sum (accounts, revenue, cost, hours...).

    Returns
    -------
    pandas.DataFrame
        Indexed by region (in first-seen order), the summed columns plus
        ``territories`` (how many).
    """
    missing = [c for c in columns if c not in metrics.columns]
    if missing:
        raise ValueError(f"cannot roll up {missing}: not per-territory columns")
    region = regions.copy()
    region.index = region.index.astype(str)
    labels = (
        region.reindex(metrics.index.astype(str)).astype(object).fillna("(no region)").to_numpy()
    )
    frame = metrics[columns].copy()
    frame["territories"] = 1
    rolled = frame.groupby(labels, sort=False).sum()
    rolled.index.name = "region"
    return rolled


def labelled(ids: pd.Index, codes: np.ndarray) -> np.ndarray:
    """Ids for integer codes (positions in ``ids``); ``None`` for a negative code.

    Examples
    --------
    >>> labelled(pd.Index(["T0", "T1"]), np.array([1, -1, 0])).tolist()
    ['T1', None, 'T0']
    """
    labels = np.append(ids.to_numpy(dtype=object), None)
    return labels[np.where(codes < 0, len(ids), codes)]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _folded(value: object) -> object:
    return value.strip().casefold() if isinstance(value, str) else value


def _plain(value: object) -> object:
    if value is None or (not isinstance(value, str | list | dict) and pd.isna(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _mapping(series: pd.Series) -> dict:
    return {str(k): (None if pd.isna(v) else str(v)) for k, v in series.items()}


def _series(data: object, name: str) -> pd.Series:
    if data is None:
        return pd.Series(dtype="string")
    if not isinstance(data, Mapping):
        raise ValueError(f"definition {name!r} must map ids to territories")
    return pd.Series(list(data.values()), index=[str(k) for k in data], dtype="string")
