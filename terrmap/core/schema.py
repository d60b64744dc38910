"""Canonical column names shared by every terrmap module.

Every loader turns its input into frames with exactly these names, so the
rest of the library never guesses again. Account ids are strings and are the
index of the accounts frame; they are the currency between modules.

Accounts frame (``pandas.DataFrame``, index ``account_id``):

========================  =====================================================
column                    meaning
========================  =====================================================
``name``                  account name (free text, escape before HTML)
``lat``, ``lon``          WGS84 degrees
``location_source``       ``"coordinates"`` or ``"zip"`` (ZIP centroid)
``postal_code``           US ZIP (5 digits) or missing
``revenue``               annual revenue (currency units)
``cost_to_serve``         annual cost to serve the account
``industry``              industry label
``segment``               size segment (e.g. ``"Enterprise"``, ``"SMB"``)
``products``              products bought, ``";"``-separated
``stage``                 ``"lead"``, ``"opportunity"`` or ``"customer"``
``is_new``                True when the customer was won this period
``revenue_last_year``     last year's revenue (NaN when unknown)
``visits_per_year``       planned visits a year
``tier``                  ``"A"``, ``"B"``, ``"C"`` or missing
``owner``                 rep id of the current owner, or missing
========================  =====================================================

Reps frame (``pandas.DataFrame``, index ``rep_id``): ``name``, ``home_town``,
``home_lat``, ``home_lon``, ``experience_years``, ``capacity_hours``,
``accounts_held``, ``new_contacts``, ``lead_to_opportunity``,
``opportunity_to_deal``, ``conversations``, ``annual_contract_value``,
``quota``.

Territories frame (``geopandas.GeoDataFrame`` in EPSG:4326, index
``territory_id``): ``name``, ``rep_id``, ``region``, ``geometry``.

An *assignment* is a ``pandas.Series`` of territory ids indexed by account id,
with ``<NA>`` for accounts in no territory (white space).
"""

from __future__ import annotations

__all__ = [
    "ACCOUNT_COLUMNS",
    "ACCOUNT_DEFAULTS",
    "ACCOUNT_ID",
    "CRS",
    "NUMERIC_ACCOUNT_COLUMNS",
    "REP_COLUMNS",
    "REP_FIGURES",
    "REP_ID",
    "STAGES",
    "TERRITORY_COLUMNS",
    "TERRITORY_ID",
    "TIER_VISITS",
    "UNASSIGNED_LABEL",
]

#: Coordinate reference system of every frame terrmap hands out.
CRS = "EPSG:4326"

ACCOUNT_ID = "account_id"
REP_ID = "rep_id"
TERRITORY_ID = "territory_id"

ACCOUNT_COLUMNS: tuple[str, ...] = (
    "name",
    "lat",
    "lon",
    "location_source",
    "postal_code",
    "revenue",
    "cost_to_serve",
    "industry",
    "segment",
    "products",
    "stage",
    "is_new",
    "revenue_last_year",
    "visits_per_year",
    "tier",
    "owner",
)

NUMERIC_ACCOUNT_COLUMNS: tuple[str, ...] = (
    "lat",
    "lon",
    "revenue",
    "cost_to_serve",
    "revenue_last_year",
    "visits_per_year",
)

#: Pipeline stages, in funnel order.
STAGES: tuple[str, ...] = ("lead", "opportunity", "customer")

#: Visits a year implied by a tier when the data gives no visit frequency.
TIER_VISITS: dict[str, float] = {"A": 12.0, "B": 4.0, "C": 2.0}

#: Values used when an optional account column is absent from the input.
ACCOUNT_DEFAULTS: dict[str, object] = {
    "postal_code": None,
    "cost_to_serve": 0.0,
    "industry": "Unknown",
    "segment": "Unknown",
    "products": "",
    "stage": "customer",
    "is_new": False,
    "revenue_last_year": float("nan"),
    "visits_per_year": 4.0,
    "tier": None,
    "owner": None,
}

#: A rep's figures: counts, hours, rates and money (NaN when unknown).
REP_FIGURES: tuple[str, ...] = (
    "experience_years",
    "capacity_hours",
    "accounts_held",
    "new_contacts",
    "lead_to_opportunity",
    "opportunity_to_deal",
    "conversations",
    "annual_contract_value",
    "quota",
)

REP_COLUMNS: tuple[str, ...] = ("name", "home_town", "home_lat", "home_lon", *REP_FIGURES)

TERRITORY_COLUMNS: tuple[str, ...] = ("name", "rep_id", "region", "geometry")

#: Label used in tables and exports for accounts in no territory.
UNASSIGNED_LABEL = "(unassigned)"
