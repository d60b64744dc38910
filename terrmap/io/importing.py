"""Turn uploaded accounts, territories and reps files into a workspace.

The non-UI half of the app's Import page: :func:`prepare_import` loads the
files with :mod:`terrmap.io.loaders` (applying the user's column mapping),
finds the territories, assigns the accounts and computes the figures, and
returns everything the page shows before the user decides to use the data:
the mapping per file, every rejected row, the warnings, a summary and the
:class:`~terrmap.geo.workspace.Workspace` itself. Nothing here touches the
working plan; the page does that on an explicit request.

Where the territories come from:

* a territories file: accounts are assigned to its polygons;
* no territories file, but the accounts have an owner (or, failing that, a
  territory column): one territory per owner, drawn as the union of the
  Voronoi cells of the owner's accounts (:func:`territories_from_owners`);
* neither: the data cannot be used, and :attr:`ImportResult.problems`
  says what is missing.

A file that cannot be used at all never raises: its one-line reason is in
:attr:`FileOutcome.error` and in :attr:`ImportResult.problems`, and its
columns are still listed (when the file can be read) so the user can fix
the mapping.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd

from terrmap.core import schema
from terrmap.core.plan import Plan
from terrmap.geo.shapes import build_cells, study_area, territory_shapes
from terrmap.geo.units import (
    UnitLayer,
    approximate_zip_units,
    boundary_units,
    h3_units,
    territory_units,
    units_from_polygons,
)
from terrmap.geo.workspace import Workspace, build_workspace
from terrmap.io import loaders
from terrmap.io.columns import SYNONYMS, guess_mapping, normalise_name, resolve_mapping
from terrmap.io.definition import Reimport, reimport
from terrmap.io.loaders import (
    AccountsLoad,
    NumberOptions,
    RepsLoad,
    Source,
    TerritoriesLoad,
    UnusableFileError,
)
from terrmap.io.safe import escape_markdown, to_csv_bytes

__all__ = [
    "FIELDS",
    "FIELD_LABELS",
    "IMPORT_KINDS",
    "NO_TERRITORIES",
    "STEPS",
    "UNIT_CHOICES",
    "UPLOAD_TYPES",
    "FileOutcome",
    "ImportResult",
    "ReimportResult",
    "UnitChoice",
    "build_unit_layer",
    "escape_markdown",
    "prepare_import",
    "prepare_reimport",
    "rejected_csv",
    "territories_from_owners",
    "unit_layer_fields",
]

logger = logging.getLogger(__name__)

#: The files an import takes, in the order they are shown.
IMPORT_KINDS: tuple[str, ...] = ("accounts", "territories", "reps")

#: File extensions an upload may have, per kind. A shapefile must come as a
#: ``.zip`` (an upload is one file; a ``.shp`` alone lacks its companions).
UPLOAD_TYPES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "accounts": (
            "csv", "txt", "tsv", "xlsx", "xlsm", "geojson", "json", "gpkg", "parquet",
            "geoparquet",
        ),
        "territories": ("geojson", "json", "gpkg", "zip", "parquet", "geoparquet"),
        "reps": ("csv", "txt", "tsv", "xlsx", "xlsm"),
    }
)  # fmt: skip

#: Canonical fields the user can map, per kind, in display order.
FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {kind: tuple(SYNONYMS[kind]) for kind in IMPORT_KINDS}
)

#: Field → label a sales-ops analyst recognises, per kind.
FIELD_LABELS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "accounts": MappingProxyType({
            schema.ACCOUNT_ID: "Account id", "name": "Account name", "lat": "Latitude",
            "lon": "Longitude", "postal_code": "ZIP code", "revenue": "Revenue",
            "cost_to_serve": "Cost to serve", "industry": "Industry", "segment": "Segment",
            "products": "Products", "stage": "Stage (lead/opportunity/customer)",
            "is_new": "New customer (yes/no)", "revenue_last_year": "Revenue last year",
            "visits_per_year": "Visits per year", "tier": "Tier (A/B/C)",
            "owner": "Owner (or territory)",
        }),
        "territories": MappingProxyType({
            schema.TERRITORY_ID: "Territory id", "name": "Territory name", "rep_id": "Rep",
            "region": "Region",
        }),
        "reps": MappingProxyType({
            schema.REP_ID: "Rep id", "name": "Rep name", "home_town": "Home town",
            "home_lat": "Home latitude", "home_lon": "Home longitude", "home_zip": "Home ZIP",
            "experience_years": "Experience (years)", "capacity_hours": "Capacity (hours/year)",
            "accounts_held": "Accounts held", "new_contacts": "New contacts",
            "lead_to_opportunity": "Lead → opportunity rate",
            "opportunity_to_deal": "Opportunity → deal rate", "conversations": "Conversations",
            "annual_contract_value": "Annual contract value", "quota": "Quota",
        }),
    }
)  # fmt: skip

#: The steps :func:`prepare_import` reports to its ``progress`` callback.
STEPS: tuple[str, ...] = (
    "Reading the territory and rep files",
    "Reading the accounts and locating them (coordinates, else ZIP)",
    "Assigning accounts to territories",
    "Computing figures",
)

#: Why accounts alone cannot make a plan.
NO_TERRITORIES = (
    "terrmap needs to know the territories: upload a territories file, or map the "
    "accounts' owner (or territory) column in the accounts' column mapping."
)

# Accounts-file columns that name a territory; used as the owner when the
# file has no owner column and no territories file is given. Only names with
# "terr" in them: "id" or "code" alone would be the account's own id.
_TERRITORY_COLUMN_NAMES = frozenset(
    normalise_name(name)
    for name in (
        *(s for s in SYNONYMS["territories"][schema.TERRITORY_ID] if "terr" in s),
        "territory name",
        "sales territory",
        "territory_name",
    )
)


#: Called as ``progress(step, label, done)``; see :func:`prepare_import`.
Progress = Callable[[int, str, float], None]

#: The unit layers a territory can be built from, with their labels.
UNIT_CHOICES: Mapping[str, str] = MappingProxyType(
    {
        "none": "None: a territory is the accounts in its polygon",
        "territories": "The territory polygons themselves",
        "county": "US counties",
        "state": "US states",
        "zip-approximate": "ZIP areas, approximate (grown from ZIP centroids)",
        "h3": "H3 hexagons",
        "uploaded": "My own polygon layer (ZIP areas, postcode areas, districts…)",
    }
)


@dataclass(frozen=True, eq=False)
class UnitChoice:
    """The building blocks the user chose for the territories.

    Attributes
    ----------
    kind : str
        A key of :data:`UNIT_CHOICES`.
    resolution : int
        H3 resolution, for ``kind="h3"``.
    source : path, bytes or binary file-like, optional
        The polygon layer, for ``kind="uploaded"``.
    filename : str, optional
        Its file name.
    id_field, name_field : str, optional
        The layer's fields holding the unit id and a readable name.
    """

    kind: str = "none"
    resolution: int = 7
    source: Source | None = None
    filename: str | None = None
    id_field: str | None = None
    name_field: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in UNIT_CHOICES:
            raise ValueError(
                f"unknown unit layer {self.kind!r}; expected one of {list(UNIT_CHOICES)}"
            )


@dataclass(frozen=True, eq=False)
class FileOutcome:
    """What became of one uploaded file.

    Attributes
    ----------
    kind : str
        ``"accounts"``, ``"territories"`` or ``"reps"``.
    name : str
        The file's name.
    columns : tuple of str
        The file's column (or attribute field) names; empty when the file
        cannot be read at all.
    mapping : dict[str, str]
        Canonical field → file column, as used (or, for a file that failed,
        as it would be used).
    load : AccountsLoad, TerritoriesLoad, RepsLoad or None
        The loader's result; None when the file is unusable.
    error : str or None
        One-line reason the file cannot be used.
    """

    kind: str
    name: str
    columns: tuple[str, ...]
    mapping: dict[str, str]
    load: AccountsLoad | TerritoriesLoad | RepsLoad | None
    error: str | None = None


@dataclass(frozen=True, eq=False)
class ImportResult:
    """Everything the Import page shows before the data is used.

    Attributes
    ----------
    files : dict[str, FileOutcome]
        One entry per uploaded file, keyed by kind, in :data:`IMPORT_KINDS`
        order.
    workspace : Workspace or None
        The data set ready to become the working plan; None when
        ``problems`` is not empty.
    problems : tuple of str
        One-line reasons the data cannot be used (unusable files, no way to
        know the territories).
    territory_source : {"file", "owners"} or None
        Where the territories came from.
    rejected : pandas.DataFrame
        Columns ``file``, ``line``, ``id`` and ``reason``: every rejected row
        of every file, accounts first, then by line.
    warnings : tuple of str
        Things the user should know about the rows that loaded, each
        prefixed with its file's name.
    """

    files: dict[str, FileOutcome]
    workspace: Workspace | None
    problems: tuple[str, ...]
    territory_source: str | None
    rejected: pd.DataFrame
    warnings: tuple[str, ...]

    @property
    def usable(self) -> bool:
        """True when the data can become the working plan."""
        return self.workspace is not None

    @property
    def currency(self) -> str | None:
        """ISO 4217 code of the accounts' amounts (None when nothing names one)."""
        load = self.files["accounts"].load
        return None if load is None else load.currency

    @property
    def n_accounts(self) -> int:
        """Accounts loaded (0 when the accounts file is unusable)."""
        load = self.files["accounts"].load
        return 0 if load is None else len(load.accounts)

    @property
    def n_rejected(self) -> int:
        """Rejected rows over all files."""
        return len(self.rejected)

    @property
    def n_territories(self) -> int | None:
        """Territories of the workspace (None without one)."""
        return None if self.workspace is None else self.workspace.context.n_territories

    @property
    def n_white_space(self) -> int | None:
        """Accounts in no territory (None without a workspace)."""
        return None if self.workspace is None else len(self.workspace.assignment.unassigned)

    @property
    def n_overlaps(self) -> int | None:
        """Pairs of overlapping territories (None without a workspace)."""
        return None if self.workspace is None else len(self.workspace.assignment.overlaps)

    def territory_preview(self) -> pd.DataFrame:
        """Territory, rep, accounts and revenue per territory of the workspace.

        Returns
        -------
        pandas.DataFrame
            Indexed by territory id; empty without a workspace.
        """
        columns = {
            "name": "Territory",
            "rep_id": "Rep",
            "accounts": "Accounts",
            "revenue": "Revenue",
        }
        if self.workspace is None:
            return pd.DataFrame(columns=list(columns.values()))
        preview = self.workspace.initial_plan.metrics()[list(columns)].rename(columns=columns)
        preview.attrs = {}  # the white-space row rides along in attrs; it is not a territory
        return preview


@dataclass(frozen=True, eq=False)
class ReimportResult:
    """Next month's accounts file applied to the plan in force, before the user accepts it.

    Attributes
    ----------
    files : dict[str, FileOutcome]
        The accounts file (key ``"accounts"``).
    reimport : Reimport or None
        The new data set with the plan's definition applied, and the report
        (:class:`terrmap.io.definition.Reimport`); None when ``problems``
        is not empty.
    problems : tuple of str
        One-line reasons the file cannot be applied.
    rejected : pandas.DataFrame
        Rejected rows (as :attr:`ImportResult.rejected`).
    warnings : tuple of str
        Things the user should know about the rows that loaded.
    """

    files: dict[str, FileOutcome]
    reimport: Reimport | None
    problems: tuple[str, ...]
    rejected: pd.DataFrame
    warnings: tuple[str, ...]

    @property
    def usable(self) -> bool:
        """True when the new accounts can replace the plan's."""
        return self.reimport is not None

    @property
    def n_rejected(self) -> int:
        """Rejected rows."""
        return len(self.rejected)

    def report_table(self) -> pd.DataFrame:
        """Return the per-territory report with the territories' names, for display.

        Returns
        -------
        pandas.DataFrame
            Indexed by territory id: ``name``, ``added``, ``removed``,
            ``changed``, ``moved_in``, ``moved_out`` (see
            :func:`terrmap.core.definition.reimport_report`); empty without
            a re-import.
        """
        if self.reimport is None:
            return pd.DataFrame()
        report = self.reimport.report
        context = self.reimport.workspace.context
        names = pd.Series(context.territory_names, index=context.territory_ids)
        table = report.copy()
        table.insert(
            0,
            "name",
            names.reindex(report.index).fillna(pd.Series(report.index, index=report.index)),
        )
        return table


# ---------------------------------------------------------------------------
# Public functions


def prepare_reimport(
    accounts: Source,
    plan: Plan,
    workspace: Workspace,
    *,
    mapping: Mapping[str, str | None] | None = None,
    filename: str | None = None,
    numbers: NumberOptions | None = None,
) -> ReimportResult:
    """Load next month's accounts file and apply the plan in force to it.

    The plan's territory definition (units, exceptions, rules, regions) is
    applied with :func:`terrmap.io.definition.reimport`, the same function
    as ``terrmap metrics --definition --previous``: new accounts fall in the
    territory of their unit, removed ones are dropped, figures are the new
    file's, exceptions are kept.

    Parameters
    ----------
    accounts : path, bytes or binary file-like
        The new accounts file.
    plan : Plan
        The plan in force, built on units.
    workspace : Workspace
        Its data set.
    mapping : mapping, optional
        Canonical field → file column overriding the guess.
    filename : str, optional
        The file's name, for sources that carry none.
    numbers : NumberOptions, optional
        Number format, currency and exchange rates.

    Returns
    -------
    ReimportResult
        Unusable files and plans that are not built on units are reported
        in ``problems``, never raised.
    """
    outcome = _load_accounts(
        accounts, mapping, filename, find_territory_column=False, numbers=numbers
    )
    files = {"accounts": outcome}
    rejected, warnings = _all_rejected(files), _all_warnings(files)
    if outcome.error is not None:
        return ReimportResult(files, None, (outcome.error,), rejected, warnings)
    try:
        applied = reimport(plan, workspace, outcome.load.accounts)
    except ValueError as error:
        return ReimportResult(files, None, (str(error),), rejected, warnings)
    return ReimportResult(files, applied, (), rejected, warnings)


def prepare_import(
    accounts: Source,
    territories: Source | None = None,
    reps: Source | None = None,
    *,
    mappings: Mapping[str, Mapping[str, str | None]] | None = None,
    dissolve: bool = False,
    filenames: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    numbers: NumberOptions | None = None,
    units: UnitChoice | None = None,
) -> ImportResult:
    r"""Load the files, find the territories and build the workspace.

    Parameters
    ----------
    accounts : path, bytes or binary file-like
        The accounts file (see :func:`terrmap.io.loaders.load_accounts`).
    territories : path, bytes or binary file-like, optional
        Territory polygons. Without them the territories are drawn from the
        accounts' owners (see :func:`territories_from_owners`).
    reps : path, bytes or binary file-like, optional
        Reps and their home bases. Territory reps and account owners are
        matched to it by rep id, else by rep name.
    mappings : mapping, optional
        Per kind, canonical field → file column overriding the guess
        (``None``: the file has no such column). For territories, a
        ``None`` id means "use the name field as id" and a ``None`` name
        means "use the id as name".
    dissolve : bool, default False
        Merge territory features sharing an id (one feature per ZIP, say).
    filenames : mapping, optional
        Per kind, the file name, for sources that carry none (bytes).
    progress : callable, optional
        Called as ``progress(step, label, done)`` when each step of
        :data:`STEPS` starts (``done`` 0.0), and while the accounts file is
        read, with ``done`` the share of its rows read so far and the rows
        read in ``label``.
    numbers : NumberOptions, optional
        The number format, currency and exchange rates the user states for
        the accounts and reps files (by default decided from the files).
    units : UnitChoice, optional
        Build the territories from units (:func:`build_unit_layer`): each
        unit goes to the territory covering most of it, and an account to
        its unit's territory. By default a territory is the accounts in its
        polygon.

    Returns
    -------
    ImportResult
        Loads, rejected rows, warnings, problems and, when usable, the
        workspace. Unusable files and unusable unit layers are reported,
        never raised.

    Raises
    ------
    ValueError
        If ``mappings`` or ``filenames`` name an unknown kind.

    Examples
    --------
    >>> csv = b"Account ID,Account Name,Zip,Owner\nA1,Acme,02139,Ana\nA2,Beta,10001,Bo\n"
    >>> result = prepare_import(csv, filenames={"accounts": "crm.csv"})
    >>> result.territory_source, result.n_territories, result.n_white_space
    ('owners', 2, 0)
    """
    mappings = dict(mappings or {})
    filenames = dict(filenames or {})
    for label, given in (("mappings", mappings), ("filenames", filenames)):
        unknown = sorted(set(given) - set(IMPORT_KINDS))
        if unknown:
            raise ValueError(f"{label}: unknown kind(s) {unknown}; expected {list(IMPORT_KINDS)}")
    report = progress or (lambda step, label, done: None)

    def rows_read(rows: int, expected: int) -> None:
        label = f"{STEPS[1]}: {rows:,} of about {expected:,} rows read"
        report(1, label, min(rows / expected, 1.0) if expected else 1.0)

    report(0, STEPS[0], 0.0)
    files: dict[str, FileOutcome] = {}
    if territories is not None:
        files["territories"] = _load_territories(
            territories, mappings.get("territories"), dissolve, filenames.get("territories")
        )
    if reps is not None:
        files["reps"] = _load_reps(reps, mappings.get("reps"), filenames.get("reps"), numbers)
    report(1, STEPS[1], 0.0)
    files["accounts"] = _load_accounts(
        accounts,
        mappings.get("accounts"),
        filenames.get("accounts"),
        find_territory_column=territories is None,
        numbers=numbers,
        progress=rows_read,
    )
    files = {kind: files[kind] for kind in IMPORT_KINDS if kind in files}
    rejected = _all_rejected(files)
    warnings = _all_warnings(files)

    problems = tuple(outcome.error for outcome in files.values() if outcome.error)
    if problems:
        return ImportResult(files, None, problems, None, rejected, warnings)

    accounts_frame = files["accounts"].load.accounts
    reps_frame = files["reps"].load.reps if "reps" in files else None
    report(2, STEPS[2], 0.0)
    if "territories" in files:
        territory_frame, rep_warnings = _match_territory_reps(
            files["territories"].load.territories, reps_frame
        )
        source = "file"
    elif accounts_frame["owner"].notna().any():
        territory_frame = territories_from_owners(accounts_frame, "owner", reps_frame)
        rep_warnings = _unmatched_owner_warnings(territory_frame, reps_frame)
        source = "owners"
    else:
        return ImportResult(files, None, (NO_TERRITORIES,), None, rejected, warnings)
    warnings = warnings + tuple(rep_warnings)

    layer = None
    if units is not None and units.kind != "none":
        try:
            layer = build_unit_layer(units, accounts_frame, territory_frame)
        except ValueError as error:  # UnusableFileError included
            problem = f"Unit layer: {' '.join(str(error).split())}"
            return ImportResult(files, None, (problem,), source, rejected, warnings)
        warnings = warnings + tuple(f"Unit layer: {w}" for w in layer.warnings)
    notes = (f"{len(rejected):,} rows rejected on import.",) if len(rejected) else ()
    workspace = build_workspace(
        accounts_frame,
        territory_frame,
        reps_frame,
        name=" + ".join(outcome.name for outcome in files.values()),
        notes=notes + warnings,
        currency=files["accounts"].load.currency,
        units=layer,
        # With units, an account's territory is its unit's: the definition decides.
        assignment=(
            _owners(accounts_frame, territory_frame.index)
            if source == "owners" and layer is None
            else None
        ),
    )
    report(3, STEPS[3], 0.0)
    workspace.initial_plan.metrics()  # cached on the plan: the pages get it for free
    return ImportResult(files, workspace, (), source, rejected, warnings)


def unit_layer_fields(source: Source, filename: str | None = None) -> tuple[str, ...]:
    """Attribute fields of an uploaded unit layer, to choose the unit id from.

    Raises
    ------
    ValueError
        When the file cannot be read as a polygon layer (naming the file).
    """
    return tuple(str(c) for c in loaders.read_polygon_layer(source, filename=filename).columns[:-1])


def build_unit_layer(
    choice: UnitChoice, accounts: pd.DataFrame, territories: gpd.GeoDataFrame | None
) -> UnitLayer:
    """Build the unit layer the user chose, for these accounts and territories.

    Parameters
    ----------
    choice : UnitChoice
        Which layer (not ``"none"``).
    accounts : pandas.DataFrame
        With ``lon``/``lat``: counties and ZIP areas are those of the
        accounts' area, H3 cells cover it.
    territories : geopandas.GeoDataFrame or None
        The territory polygons (for ``"territories"``).

    Returns
    -------
    UnitLayer

    Raises
    ------
    ValueError
        With the reason, naming the value at fault: no accounts with
        coordinates, a resolution too fine, an unreadable layer, a missing
        or duplicated unit id...
    """
    if choice.kind == "none":
        raise ValueError("no unit layer was chosen")
    if choice.kind == "territories":
        if territories is None or territories.empty:
            raise ValueError("there are no territory polygons to use as units")
        return territory_units(territories)
    if choice.kind == "uploaded":
        if choice.source is None or choice.id_field is None:
            raise ValueError("upload the polygon layer and choose its unit id field")
        frame = loaders.read_polygon_layer(choice.source, filename=choice.filename)
        return units_from_polygons(frame, choice.id_field, name_field=choice.name_field)
    lon = accounts["lon"].to_numpy(dtype=float, na_value=np.nan)
    lat = accounts["lat"].to_numpy(dtype=float, na_value=np.nan)
    located = np.isfinite(lon) & np.isfinite(lat)
    if not located.any():
        raise ValueError("no account has coordinates, so no unit can hold one")
    if choice.kind == "h3":
        return h3_units(lon, lat, choice.resolution)
    area = study_area(np.c_[lon[located], lat[located]])
    if choice.kind == "state":
        return boundary_units("state")
    counties = boundary_units("county", within=area)
    if choice.kind == "county":
        return counties
    return approximate_zip_units(area, counties=counties.units)


def territories_from_owners(
    accounts: pd.DataFrame,
    column: str = "owner",
    reps: pd.DataFrame | None = None,
    *,
    area=None,
) -> gpd.GeoDataFrame:
    """Draw one territory per owner from the accounts' Voronoi cells.

    Each territory is the union of the Voronoi cells of its owner's accounts
    (see :mod:`terrmap.geo.shapes`), clipped to the study area, so the
    territories tile the area without overlapping. Accounts without an owner
    (blank) or without coordinates belong to no territory; their cells are
    white space.

    Parameters
    ----------
    accounts : pandas.DataFrame
        Accounts indexed by account id with ``lon``, ``lat`` and ``column``.
        Not modified.
    column : str, default "owner"
        Column naming each account's owner (a rep id or name) or territory.
    reps : pandas.DataFrame, optional
        Reps indexed by rep id with a ``name`` column. An owner equal to a
        rep id, else (ignoring case and spacing) to exactly one rep's name,
        is that rep: the territory takes the rep's id and name.
    area : shapely.Geometry, optional
        Study area to clip to; defaults to the accounts' convex hull grown
        by 10 km (:func:`terrmap.geo.shapes.study_area`).

    Returns
    -------
    geopandas.GeoDataFrame
        Index ``territory_id`` (the owner values, sorted); columns ``name``
        (the rep's name, else the owner), ``rep_id`` (the matched rep id,
        else the owner), ``region`` (missing) and ``geometry`` (EPSG:4326;
        empty for an owner whose accounts have no coordinates).

    Raises
    ------
    ValueError
        If ``column``, ``lon`` or ``lat`` is missing, the account ids repeat,
        no account has an owner, or no account has coordinates.

    Examples
    --------
    >>> accounts = pd.DataFrame(
    ...     {"lon": [0.0, 0.2, 1.0, 1.2], "lat": [0.0, 0.2, 0.0, 0.2], "owner": ["W", "W", "E", "E"]},
    ...     index=pd.Index(["a", "b", "c", "d"], name="account_id"),
    ... )
    >>> shapes = territories_from_owners(accounts)
    >>> shapes.index.tolist(), shapes.geometry.is_empty.any()
    (['E', 'W'], np.False_)
    """
    missing = [c for c in (column, "lon", "lat") if c not in accounts.columns]
    if missing:
        raise ValueError(
            f"accounts have no column(s) {missing}; columns are {list(accounts.columns)}"
        )
    account_ids = pd.Index(accounts.index.astype(str), name=schema.ACCOUNT_ID)
    if account_ids.has_duplicates:
        dupes = account_ids[account_ids.duplicated()].unique()[:5].tolist()
        raise ValueError(f"account ids are not unique, e.g. {dupes}")
    owners = _clean_text(accounts[column])
    owners.index = account_ids
    if owners.isna().all():
        raise ValueError(f"no account has a value in column {column!r}")
    lon = accounts["lon"].to_numpy(dtype=float, na_value=np.nan)
    lat = accounts["lat"].to_numpy(dtype=float, na_value=np.nan)
    located = np.isfinite(lon) & np.isfinite(lat)
    if not located.any():
        raise ValueError("no account has coordinates")

    if area is None:
        area = study_area(np.c_[lon[located], lat[located]])
    cells = build_cells(lon, lat, account_ids, area)
    ids = pd.Index(sorted(owners.dropna().unique()), dtype="str", name=schema.TERRITORY_ID)
    shapes = territory_shapes(cells, owners, ids)

    owner_values = pd.Series(ids, index=ids, dtype="str")
    rep_ids = _rep_ids(owner_values, reps)
    rep_names = _rep_names(rep_ids, reps)
    return gpd.GeoDataFrame(
        {
            "name": rep_names.fillna(owner_values),
            "rep_id": rep_ids.fillna(owner_values),
            "region": pd.Series(np.nan, index=ids, dtype="str"),
            "geometry": gpd.GeoSeries(shapes.geometry.to_numpy(), index=ids, crs=schema.CRS),
        },
        geometry="geometry",
        crs=schema.CRS,
    )


def rejected_csv(rejected: pd.DataFrame) -> bytes:
    """Encode the rejected rows as a CSV file that Excel opens correctly.

    Parameters
    ----------
    rejected : pandas.DataFrame
        :attr:`ImportResult.rejected`.

    Returns
    -------
    bytes
        UTF-8 with a byte-order mark (Excel needs it to read accents),
        header ``file,line,id,reason``.

    Examples
    --------
    >>> frame = pd.DataFrame({"file": ["a.csv"], "line": [3], "id": ["A1"], "reason": ["unknown ZIP"]})
    >>> rejected_csv(frame).decode("utf-8-sig").splitlines()
    ['file,line,id,reason', 'a.csv,3,A1,unknown ZIP']
    """
    return to_csv_bytes(rejected, encoding="utf-8-sig")


# ---------------------------------------------------------------------------
# Loading one file


def _display_name(source: Source, filename: str | None) -> str:
    if filename:
        return filename
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return os.path.basename(str(getattr(source, "name", "") or "")) or "upload"


def _file_columns(source: Source, kind: str, filename: str | None) -> tuple[str, ...]:
    """Columns of a file the loader refused, so the user can map them."""
    # The loaders have no public "read the header" function; this uses their
    # reader so the columns are exactly those a load would see.
    try:
        table = loaders._read_table(loaders._input(source, filename), kind)
    except (UnusableFileError, ValueError, OSError):
        return ()
    return table.columns


def _failed(
    kind: str, source: Source, filename: str | None, error: Exception, mapping
) -> FileOutcome:
    name = _display_name(source, filename)
    columns = _file_columns(source, kind, filename)
    message = " ".join(str(error).split())
    if not message.startswith(name):
        message = f"{name}: {message}"
    if kind == "territories":
        used = _territory_mapping_shown(guess_mapping(columns, kind), mapping or {})
    else:
        try:
            used = resolve_mapping(columns, mapping, kind)
        except ValueError:
            used = guess_mapping(columns, kind)
    return FileOutcome(kind, name, columns, used, None, message)


def _load_accounts(
    source: Source,
    mapping: Mapping[str, str | None] | None,
    filename: str | None,
    *,
    find_territory_column: bool,
    numbers: NumberOptions | None = None,
    progress: loaders.RowsProgress | None = None,
) -> FileOutcome:
    try:
        load = loaders.load_accounts(
            source, mapping, filename=filename, numbers=numbers, progress=progress
        )
        user_chose_owner = "owner" in (mapping or {})
        if find_territory_column and "owner" not in load.mapping and not user_chose_owner:
            column = _territory_column(load)
            if column is not None:
                load = loaders.load_accounts(
                    source,
                    {**(mapping or {}), "owner": column},
                    filename=filename,
                    numbers=numbers,
                )
                load = dataclasses.replace(
                    load,
                    warnings=load.warnings
                    + (f"no owner column: territories are drawn from the {column!r} column",),
                )
    except (UnusableFileError, ValueError) as error:
        return _failed("accounts", source, filename, error, mapping)
    return FileOutcome(
        "accounts", _display_name(source, filename), load.source_columns, load.mapping, load
    )


def _territory_column(load: AccountsLoad) -> str | None:
    taken = set(load.mapping.values())
    for column in load.source_columns:
        if column not in taken and normalise_name(column) in _TERRITORY_COLUMN_NAMES:
            return column
    return None


def _load_reps(
    source: Source,
    mapping: Mapping[str, str | None] | None,
    filename: str | None,
    numbers: NumberOptions | None = None,
) -> FileOutcome:
    try:
        load = loaders.load_reps(source, mapping, filename=filename, numbers=numbers)
    except (UnusableFileError, ValueError) as error:
        return _failed("reps", source, filename, error, mapping)
    return FileOutcome(
        "reps", _display_name(source, filename), load.source_columns, load.mapping, load
    )


def _load_territories(
    source: Source,
    mapping: Mapping[str, str | None] | None,
    dissolve: bool,
    filename: str | None,
) -> FileOutcome:
    """Load territories, honouring "(none)" choices the loader has no words for.

    The loader guesses any field it is not given, so "this file has no such
    field" is applied here: no rep or region blanks the column, no name
    uses the id, and no id uses the name field as id (reading the file a
    second time when the name field was a guess).
    """
    mapping = dict(mapping or {})
    refused = {c for c, s in mapping.items() if s is None}
    given = {c: s for c, s in mapping.items() if s is not None}
    fields = {
        "id_field": given.get(schema.TERRITORY_ID),
        "name_field": given.get("name"),
        "rep_field": given.get("rep_id"),
        "region_field": given.get("region"),
    }
    try:
        unknown = sorted(set(mapping) - set(FIELDS["territories"]))
        if unknown:
            raise ValueError(f"unknown territory field(s) {unknown} in the mapping")
        if {schema.TERRITORY_ID, "name"} <= refused:
            raise UnusableFileError("choose a territory id or a territory name field")
        if schema.TERRITORY_ID in refused:
            fields["id_field"] = fields["name_field"]
        load = loaders.load_territories(source, filename=filename, dissolve=dissolve, **fields)
        if schema.TERRITORY_ID in refused and fields["id_field"] is None:
            name_field = load.mapping.get("name")
            if name_field is None:
                raise UnusableFileError("the file has no name field to use as territory id")
            fields.update(id_field=name_field, name_field=name_field)
            load = loaders.load_territories(source, filename=filename, dissolve=dissolve, **fields)
        load = _refuse_territory_fields(load, refused)
    except (UnusableFileError, ValueError) as error:
        return _failed("territories", source, filename, error, mapping)
    return FileOutcome(
        "territories",
        _display_name(source, filename),
        load.source_columns,
        _territory_mapping_shown(load.mapping, mapping),
        load,
    )


def _refuse_territory_fields(load: TerritoriesLoad, refused: set[str]) -> TerritoriesLoad:
    territories = load.territories
    blank = {
        c: pd.Series(np.nan, index=territories.index, dtype="str")
        for c in ("rep_id", "region")
        if c in refused
    }
    if "name" in refused:
        blank["name"] = pd.Series(territories.index, index=territories.index, dtype="str")
    if not blank:
        return load
    return dataclasses.replace(load, territories=territories.assign(**blank))


def _territory_mapping_shown(used: Mapping[str, str], mapping: Mapping[str, str | None]):
    """Return the territory fields as the user sees them: a "(none)" stays none."""
    shown = dict(used)
    for canonical, source in mapping.items():
        if source is None:
            shown.pop(canonical, None)
        elif canonical in FIELDS["territories"]:
            shown[canonical] = source
    return {c: shown[c] for c in FIELDS["territories"] if c in shown}


# ---------------------------------------------------------------------------
# Assembling


def _all_rejected(files: Mapping[str, FileOutcome]) -> pd.DataFrame:
    frames = [
        outcome.load.rejected.assign(file=outcome.name)
        for outcome in files.values()
        if outcome.load is not None and len(outcome.load.rejected)
    ]
    if not frames:
        return pd.DataFrame(
            {
                "file": pd.Series(dtype="str"),
                "line": pd.Series(dtype="int64"),
                "id": pd.Series(dtype=object),
                "reason": pd.Series(dtype="str"),
            }
        )
    return pd.concat(frames, ignore_index=True)[["file", "line", "id", "reason"]]


def _all_warnings(files: Mapping[str, FileOutcome]) -> tuple[str, ...]:
    return tuple(
        f"{outcome.name}: {warning}"
        for outcome in files.values()
        if outcome.load is not None
        for warning in outcome.load.warnings
    )


def _clean_text(values: pd.Series) -> pd.Series:
    """Strip text; blanks become missing."""
    text = values.astype("str").str.strip()
    return text.where(text != "")


def _name_key(values: pd.Series) -> pd.Series:
    return values.astype("str").str.casefold().str.split().str.join(" ")


def _rep_ids(values: pd.Series, reps: pd.DataFrame | None) -> pd.Series:
    """Rep id each value stands for: a rep id, else a unique rep name; else missing."""
    missing = pd.Series(np.nan, index=values.index, dtype="str")
    if reps is None or not len(reps):
        return missing
    rep_index = pd.Index(reps.index.astype(str))
    clean = _clean_text(values)
    by_id = clean.where(clean.isin(rep_index))
    if "name" not in reps.columns:
        return by_id
    keys = _name_key(reps["name"])
    keys.index = rep_index
    keys = keys.dropna()
    unique_keys = keys[~keys.duplicated(keep=False)]
    by_name = _name_key(clean).map(pd.Series(unique_keys.index, index=unique_keys.to_numpy()))
    return by_id.fillna(by_name.astype("str"))


def _rep_names(rep_ids: pd.Series, reps: pd.DataFrame | None) -> pd.Series:
    if reps is None or "name" not in reps.columns:
        return pd.Series(np.nan, index=rep_ids.index, dtype="str")
    names = _clean_text(reps["name"])
    names.index = reps.index.astype(str)
    return rep_ids.map(names).astype("str")


def _match_territory_reps(
    territories: gpd.GeoDataFrame, reps: pd.DataFrame | None
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Point territory reps at the reps file: by id, else by name."""
    if reps is None:
        return territories, []
    given = _clean_text(territories["rep_id"])
    matched = _rep_ids(given, reps)
    renamed = int((matched.notna() & (matched != given)).sum())
    unmatched = given[given.notna() & matched.isna()]
    warnings = []
    if renamed:
        warnings.append(f"{renamed} territory rep(s) matched to the reps file by name")
    if len(unmatched):
        warnings.append(
            f"{len(unmatched)} territory rep(s) not in the reps file: {_sample(unmatched.unique())}"
        )
    return territories.assign(rep_id=matched.fillna(given)), warnings


def _unmatched_owner_warnings(territories: gpd.GeoDataFrame, reps: pd.DataFrame | None):
    if reps is None:
        return []
    unmatched = territories.index[~territories["rep_id"].isin(reps.index.astype(str))]
    if not len(unmatched):
        return []
    return [f"{len(unmatched)} owner(s) not in the reps file: {_sample(unmatched)}"]


def _sample(values, limit: int = 5) -> str:
    values = list(values)
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _owners(accounts: pd.DataFrame, territory_ids: pd.Index) -> pd.Series:
    """Return the owners' assignment: the territory of each account is its owner.

    Point-in-polygon is not used: accounts at the same location share one
    Voronoi cell, drawn in the first one's territory, so it would hand a
    co-located account of another owner to the wrong territory; the owner is
    what the data says.
    """
    owners = _clean_text(accounts["owner"])
    owners.index = accounts.index.astype(str)
    return owners.where(owners.isin(territory_ids)).astype("string")
