"""Recognise the columns and values of real CRM exports.

Column names are compared after :func:`normalise_name`, which drops case,
spaces and punctuation, so ``Billing Zip/Postal Code``,
``billing_zip_postal_code`` and ``BillingZipPostalCode`` are one name. The
synonym tables map each canonical column (see :mod:`terrmap.core.schema`) to the
names it goes by in Salesforce, HubSpot and home-made spreadsheets, best
first. The app shows :func:`guess_mapping`'s answer and lets the user correct
it; a corrected mapping is passed to the loaders, which apply it with
:func:`resolve_mapping`.

The value parsers turn the text of an export into typed columns without a
Python loop per row: :func:`parse_numbers` (currency strings), :func:`parse_stages`
(HubSpot lifecycle stages, Salesforce opportunity stages and account types),
:func:`parse_tiers` and :func:`parse_flags`. Each returns the parsed values and a
mask of the non-blank values it could not read, so the caller can reject those
rows naming the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Literal

import pandas as pd

from terrmap.core import schema
from terrmap.io.numbers import AmbiguousNumbersError, NumberFormat, decide_format, read_numbers

__all__ = [
    "ACCOUNT_SYNONYMS",
    "KINDS",
    "REP_SYNONYMS",
    "STAGE_SYNONYMS",
    "SYNONYMS",
    "TERRITORY_SYNONYMS",
    "guess_mapping",
    "normalise_name",
    "parse_flags",
    "parse_numbers",
    "parse_stages",
    "parse_tiers",
    "resolve_mapping",
]

Kind = Literal["accounts", "reps", "territories"]

#: The kinds of file :func:`guess_mapping` knows.
KINDS: tuple[str, ...] = ("accounts", "reps", "territories")

#: Canonical account column → the names it goes by, best first. Besides the
#: schema's columns, ``account_id`` names the id column.
ACCOUNT_SYNONYMS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        schema.ACCOUNT_ID: (
            "account_id", "account id", "record id", "company id", "customer id", "id",
            "account number", "customer number", "customer no", "hs_object_id",
            "salesforce id", "sfdc id",
        ),
        "name": (
            "name", "account name", "company name", "customer name", "company", "customer",
            "account", "organization", "organisation", "organization name", "business name",
        ),
        "lat": (
            "lat", "latitude", "billing latitude", "shipping latitude", "mailing latitude",
            "geo latitude", "y",
        ),
        "lon": (
            "lon", "lng", "long", "longitude", "billing longitude", "shipping longitude",
            "mailing longitude", "geo longitude", "x",
        ),
        "postal_code": (
            "postal_code", "zip", "zipcode", "zip code", "postal code", "postcode", "post code",
            "zip/postal code", "billing zip/postal code", "billing postal code", "billing zip",
            "shipping zip/postal code", "shipping postal code", "shipping zip",
            "mailing zip/postal code", "mailing postal code",
        ),
        "revenue": (
            "revenue", "annual revenue", "total revenue", "sales", "annual sales",
            "revenue this year", "current year revenue", "revenue current year", "arr",
        ),
        "cost_to_serve": (
            "cost_to_serve", "cost to serve", "cost", "service cost", "cost of service",
            "serving cost", "annual cost",
        ),
        "industry": ("industry", "sector", "vertical", "industry type"),
        "segment": (
            "segment", "size segment", "customer segment", "market segment", "account segment",
        ),
        "products": (
            "products", "product", "products bought", "products purchased", "product lines",
            "product line", "product families",
        ),
        "stage": (
            "stage", "lifecycle stage", "lifecyclestage", "lifecycle", "pipeline stage",
            "account stage", "customer stage", "sales stage",
        ),
        "is_new": (
            "is_new", "is new", "new", "new customer", "new logo", "new account", "newly won",
            "won this period", "new this year",
        ),
        "revenue_last_year": (
            "revenue_last_year", "revenue last year", "last year revenue",
            "last year's revenue", "prior year revenue", "previous year revenue",
            "revenue prior year", "revenue previous year", "revenue ly", "ly revenue",
            "py revenue", "sales last year", "last year sales", "prior year sales",
        ),
        "visits_per_year": (
            "visits_per_year", "visits per year", "visits/year", "visits", "annual visits",
            "visit frequency", "planned visits", "calls per year", "call frequency",
        ),
        "tier": ("tier", "account tier", "customer tier", "priority tier", "abc class", "abc"),
        "owner": (
            "owner", "account owner", "company owner", "rep", "rep_id", "rep id", "sales rep",
            "owner name", "owner id", "account manager", "salesperson", "sales person",
            "assigned rep", "hubspot owner", "account owner alias",
        ),
    }
)  # fmt: skip

#: Canonical rep column → the names it goes by, best first. Besides the
#: schema's columns, ``rep_id`` names the id column and ``home_zip`` a ZIP
#: code that places the rep's home base when it has no coordinates.
REP_SYNONYMS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        schema.REP_ID: (
            "rep_id", "rep id", "id", "employee id", "user id", "owner id", "rep code",
            "sales rep id", "salesperson id", "record id",
        ),
        "name": (
            "name", "rep name", "rep", "full name", "sales rep", "salesperson", "sales person",
            "owner", "owner name", "employee", "employee name", "user", "account owner",
            "company owner",
        ),
        "home_town": (
            "home_town", "home town", "hometown", "home base", "home city", "base", "city",
            "location", "office",
        ),
        "home_lat": ("home_lat", "home latitude", "base latitude", "lat", "latitude", "y"),
        "home_lon": (
            "home_lon", "home lng", "home long", "home longitude", "base longitude", "lon",
            "lng", "long", "longitude", "x",
        ),
        "home_zip": (
            "home_zip", "home zip", "home postal code", "base zip", "zip", "zipcode",
            "zip code", "postal code", "postcode", "zip/postal code",
        ),
        "experience_years": (
            "experience_years", "experience", "years experience", "years of experience",
            "experience (years)", "tenure", "tenure years",
        ),
        "capacity_hours": (
            "capacity_hours", "capacity", "capacity hours", "available hours", "annual hours",
            "hours",
        ),
        "accounts_held": (
            "accounts_held", "accounts held", "accounts", "number of accounts", "num accounts",
            "account count", "accounts owned",
        ),
        "new_contacts": ("new_contacts", "new contacts", "contacts"),
        "lead_to_opportunity": (
            "lead_to_opportunity", "lead to opportunity", "lead to opp", "lead-to-opportunity rate",
            "lead to opportunity rate", "lead conversion", "lead conversion rate",
        ),
        "opportunity_to_deal": (
            "opportunity_to_deal", "opportunity to deal", "opp to deal", "opportunity to win",
            "opportunity to deal rate", "win rate", "close rate",
        ),
        "conversations": ("conversations", "calls", "conversations held"),
        "annual_contract_value": (
            "annual_contract_value", "annual contract value", "acv", "contract value",
        ),
        "quota": ("quota", "annual quota", "sales quota", "target", "sales target"),
    }
)  # fmt: skip

#: Canonical territory column → the names it goes by, best first. Besides
#: the schema's columns, ``territory_id`` names the id column.
TERRITORY_SYNONYMS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        schema.TERRITORY_ID: (
            "territory_id", "territory id", "territory code", "terr id", "terr_code",
            "territory", "terr", "id", "code",
        ),
        "name": ("name", "territory name", "terr name", "label", "title"),
        "rep_id": (
            "rep_id", "rep id", "rep", "owner", "sales rep", "assigned rep", "territory owner",
            "salesperson", "owner id",
        ),
        "region": ("region", "area", "district", "zone", "division"),
    }
)  # fmt: skip

#: Kind of file → its synonym table.
SYNONYMS: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"accounts": ACCOUNT_SYNONYMS, "reps": REP_SYNONYMS, "territories": TERRITORY_SYNONYMS}
)

#: Normalised stage text (see :func:`normalise_name`) → schema stage. Covers
#: HubSpot lifecycle stages (internal values and labels), Salesforce
#: opportunity stages and Salesforce account types.
STAGE_SYNONYMS: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(
            (
                "lead", "leads", "subscriber", "marketingqualifiedlead", "mql",
                "salesqualifiedlead", "sql", "prospect", "prospects", "prospecting", "suspect",
            ),
            "lead",
        ),
        **dict.fromkeys(
            (
                "opportunity", "opportunities", "opp", "pipeline", "qualification",
                "needsanalysis", "valueproposition", "iddecisionmakers", "perceptionanalysis",
                "proposal", "proposalpricequote", "negotiation", "negotiationreview",
            ),
            "opportunity",
        ),
        **dict.fromkeys(
            (
                "customer", "customers", "client", "evangelist", "closedwon", "won",
                "customerdirect", "customerchannel", "existingcustomer", "activecustomer",
            ),
            "customer",
        ),
    }
)  # fmt: skip

# Unit words a header may end with: "Annual Revenue (USD)" is "Annual Revenue".
_UNIT_SUFFIX = re.compile(r"(usd|eur|gbp|cad|aud|dollars|inusd)$")

_TRUE = ("true", "t", "yes", "y", "1", "x", "new")
_FALSE = ("false", "f", "no", "n", "0")

_TIERS = {"A": "A", "B": "B", "C": "C", "1": "A", "2": "B", "3": "C"}


def normalise_name(name: object) -> str:
    """Return a column name reduced to lower-case letters and digits.

    Parameters
    ----------
    name : object
        A column name (anything; it is converted with ``str``).

    Returns
    -------
    str
        The name case-folded with everything but letters and digits removed.

    Examples
    --------
    >>> normalise_name("Billing Zip/Postal Code")
    'billingzippostalcode'
    >>> normalise_name("  Last year's revenue ")
    'lastyearsrevenue'
    """
    return re.sub(r"[\W_]+", "", str(name).casefold())


def guess_mapping(columns: Iterable[object], kind: Kind = "accounts") -> dict[str, str]:
    """Guess which source column holds each canonical column.

    Each canonical column takes the source column matching its best
    synonym; a source column is used at most once, and canonical columns are
    served in the order of the synonym table (ids and names first).

    Parameters
    ----------
    columns : iterable
        The column names of the file, as they appear in it.
    kind : {"accounts", "reps", "territories"}, default "accounts"
        Which synonym table to use.

    Returns
    -------
    dict[str, str]
        Canonical column → source column, for the columns recognised.

    Raises
    ------
    ValueError
        If ``kind`` is not one of :data:`KINDS`.

    Examples
    --------
    >>> guess_mapping(["Account ID", "Account Name", "Billing Zip/Postal Code", "Type"])
    {'account_id': 'Account ID', 'name': 'Account Name', 'postal_code': 'Billing Zip/Postal Code'}
    """
    if kind not in SYNONYMS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    table = SYNONYMS[kind]
    sources = [str(column) for column in columns]
    exact: dict[str, str] = {}
    loose: dict[str, str] = {}
    for source in sources:
        key = normalise_name(source)
        exact.setdefault(key, source)
        loose.setdefault(_UNIT_SUFFIX.sub("", key), source)

    mapping: dict[str, str] = {}
    used: set[str] = set()
    for canonical, synonyms in table.items():
        for lookup in (exact, loose):
            source = _first_match(synonyms, lookup, used)
            if source is not None:
                mapping[canonical] = source
                used.add(source)
                break
    return mapping


def resolve_mapping(
    columns: Iterable[object],
    mapping: Mapping[str, str | None] | None = None,
    kind: Kind = "accounts",
) -> dict[str, str]:
    """Combine the guessed mapping with the user's corrections.

    Parameters
    ----------
    columns : iterable
        The column names of the file.
    mapping : mapping, optional
        Canonical column → source column chosen by the user. It overrides
        the guess; a guess that used one of the chosen source columns for
        another canonical column is dropped. ``None`` as a source column
        means "this file has no such column" and removes the guess.
    kind : {"accounts", "reps", "territories"}, default "accounts"
        Which synonym table to use.

    Returns
    -------
    dict[str, str]
        Canonical column → source column.

    Raises
    ------
    ValueError
        If a canonical name is unknown for ``kind`` or a source column is
        not in ``columns``.

    Examples
    --------
    >>> resolve_mapping(["id", "Sales", "ARR"], {"revenue": "ARR"})
    {'account_id': 'id', 'revenue': 'ARR'}
    """
    sources = [str(column) for column in columns]
    guessed = guess_mapping(sources, kind)
    if not mapping:
        return guessed
    table = SYNONYMS[kind]
    for canonical, source in mapping.items():
        if canonical not in table:
            raise ValueError(
                f"unknown {kind} column {canonical!r} in the mapping; "
                f"expected one of {', '.join(table)}"
            )
        if source is not None and source not in sources:
            raise ValueError(
                f"mapping {canonical!r} → {source!r}: the file has no column {source!r}; "
                f"its columns are: {', '.join(sources[:30])}"
                + (f" and {len(sources) - 30:,} more" if len(sources) > 30 else "")
            )
    chosen = {source for source in mapping.values() if source is not None}
    resolved = {
        canonical: source
        for canonical, source in guessed.items()
        if canonical not in mapping and source not in chosen
    }
    resolved.update({c: s for c, s in mapping.items() if s is not None})
    return {canonical: resolved[canonical] for canonical in table if canonical in resolved}


def parse_numbers(
    values: pd.Series, *, decimal_comma: bool = False, percent: bool = False
) -> tuple[pd.Series, pd.Series]:
    """Read a column of numbers as CRM exports and spreadsheets write them.

    The column's format is decided from all its cells
    (:func:`terrmap.io.numbers.decide_format`): currency symbols and codes
    (``$65,000.00``, ``65.000,00 €``, ``US$ 1,200``), thousands separators
    (commas, dots, spaces, apostrophes), parentheses or a trailing minus for
    negatives (``(1,234.50)``), ``K``/``M``/``B`` suffixes (``1.2M``) and,
    with ``percent``, percentages (``25%`` → 0.25). A cell that does not fit
    the column's format (``1,2,3``) is invalid. Use
    :mod:`terrmap.io.numbers` directly for the currencies and the format.

    Parameters
    ----------
    values : pandas.Series
        Text (or numbers). Not modified.
    decimal_comma : bool, default False
        The file writes decimals with a comma when its cells cannot tell
        (a semicolon-delimited file): ``1,234`` is then 1.234.
    percent : bool, default False
        Accept a trailing ``%`` and divide such values by 100.

    Returns
    -------
    numbers : pandas.Series
        float64 with the index of ``values``; NaN for blanks and unreadable
        values.
    invalid : pandas.Series
        bool, True where the value is not blank but could not be read (or is
        not finite).

    Examples
    --------
    >>> numbers, invalid = parse_numbers(pd.Series(["$1,234.50", "(10)", "1.2M", "n/a", ""]))
    >>> numbers.tolist()
    [1234.5, -10.0, 1200000.0, nan, nan]
    >>> invalid.tolist()
    [False, False, False, True, False]
    """
    hint = NumberFormat(",") if decimal_comma else None
    try:
        number_format, _ = decide_format(values, column=str(values.name), hint=hint)
    except AmbiguousNumbersError:
        number_format = hint or NumberFormat(".")
    read = read_numbers(values, number_format, percent=percent)
    return read.numbers, read.invalid


def parse_stages(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Map stage text onto the schema's stages (see :data:`STAGE_SYNONYMS`).

    Parameters
    ----------
    values : pandas.Series
        Stage text. Not modified.

    Returns
    -------
    stages : pandas.Series
        ``"lead"``, ``"opportunity"``, ``"customer"`` or missing (blank or
        unrecognised).
    invalid : pandas.Series
        bool, True where the text is not blank but not a known stage.

    Examples
    --------
    >>> stages, invalid = parse_stages(pd.Series(["Marketing Qualified Lead", "Closed Lost"]))
    >>> stages.tolist(), invalid.tolist()
    (['lead', nan], [False, True])
    """
    keys = _keys(values)
    stages = keys.map(STAGE_SYNONYMS).astype("str")
    return stages, (keys.notna() & stages.isna()).astype(bool)


def parse_tiers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Read account tiers: ``A``/``B``/``C``, ``Tier A``, or ``1``/``2``/``3``.

    Parameters
    ----------
    values : pandas.Series
        Tier text. Not modified.

    Returns
    -------
    tiers : pandas.Series
        ``"A"``, ``"B"``, ``"C"`` or missing.
    invalid : pandas.Series
        bool, True where the text is not blank but not a tier.

    Examples
    --------
    >>> tiers, invalid = parse_tiers(pd.Series(["tier a", "2", "Gold", None]))
    >>> tiers.tolist(), invalid.tolist()
    (['A', 'B', nan, nan], [False, False, True, False])
    """
    keys = _keys(values).str.upper().str.replace(r"^(TIER|CLASS)", "", regex=True)
    tiers = keys.map(_TIERS).astype("str")
    return tiers, (keys.notna() & tiers.isna()).astype(bool)


def parse_flags(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Read yes/no flags (``true``/``yes``/``y``/``1``/``x`` and their opposites).

    Parameters
    ----------
    values : pandas.Series
        Flag text or booleans. Not modified.

    Returns
    -------
    flags : pandas.Series
        bool; blanks and unreadable values are False.
    invalid : pandas.Series
        bool, True where the text is not blank but not a yes/no value.

    Examples
    --------
    >>> flags, invalid = parse_flags(pd.Series(["Yes", "0", "", "maybe"]))
    >>> flags.tolist(), invalid.tolist()
    ([True, False, False, False], [False, False, False, True])
    """
    # Spreadsheets write flags as numbers: "1.0" is "1".
    keys = _keys(values.astype("str").str.strip().str.replace(r"\.0+$", "", regex=True))
    truth = keys.map({**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)})
    invalid = keys.notna() & truth.isna()
    return truth.fillna(False).astype(bool), invalid.astype(bool)


def _keys(values: pd.Series) -> pd.Series:
    """Return normalised text keys; blanks become missing."""
    keys = values.astype("str").str.casefold().str.replace(r"[\W_]+", "", regex=True)
    return keys.where(keys != "")


def _first_match(synonyms: Iterable[str], lookup: Mapping[str, str], used: set[str]) -> str | None:
    """Return the source column matching the best synonym not yet used."""
    for synonym in synonyms:
        source = lookup.get(normalise_name(synonym))
        if source is not None and source not in used:
            return source
    return None
