"""Exports of a plan: assignment CSV, territory GeoJSON/GeoPackage, Excel workbook.

Every export is a pure function of a :class:`~terrmap.core.plan.Plan` and the
:class:`~terrmap.geo.workspace.Workspace` it was made from, returning bytes (the
app hands them to a download button, the CLI writes them to a file). The
leadership report lives in :mod:`terrmap.io.report`.

* :func:`assignment_csv`: one row per account with the columns a CRM
  re-imports: ``account_id, name, lat, lon, territory_id, territory_name,
  rep_id, rep_name``. :func:`read_assignment` loads it back through
  :func:`terrmap.io.loaders.load_accounts`, so exporting and re-importing gives
  the same plan (the coordinates are there so the loader accepts the file as
  accounts; ``rep_id`` is what a CRM calls the account owner).
* :func:`territories_file` (:func:`territories_geojson`, :func:`territories_gpkg`): the shapes
  that follow the assignment (:func:`terrmap.web.editor.plan_shapes`: the union of
  the accounts' Voronoi cells), valid, in EPSG:4326, with the per-territory
  figures as attributes (:func:`territories_frame`). Both open in QGIS.
* :func:`workbook_xlsx`: sheets *Summary* (per territory), *Accounts* (with
  territory and rep) and *Reps*.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xlsxwriter

from terrmap.core.definition import region_rollup
from terrmap.core.formatting import excel_money_format, timestamp
from terrmap.core.plan import Plan
from terrmap.core.schema import ACCOUNT_ID, CRS, REP_ID, TERRITORY_ID, UNASSIGNED_LABEL
from terrmap.geo.drawing import map_data, plan_shapes
from terrmap.geo.workspace import Workspace
from terrmap.io.loaders import AccountsLoad, Source, load_accounts
from terrmap.io.safe import FORMULA_STARTS, to_csv_bytes
from terrmap.playbook.repview import rep_figures

__all__ = [
    "ASSIGNMENT_COLUMNS",
    "EXPORT_KINDS",
    "REGION_SUMS",
    "assignment_csv",
    "assignment_frame",
    "read_assignment",
    "territories_frame",
    "territories_file",
    "territories_geojson",
    "territories_frame_without_geometry",
    "territories_gpkg",
    "workbook_xlsx",
    "write_export",
]

logger = logging.getLogger(__name__)

#: Columns of the assignment CSV, in order.
ASSIGNMENT_COLUMNS: tuple[str, ...] = (
    ACCOUNT_ID,
    "name",
    "lat",
    "lon",
    TERRITORY_ID,
    "territory_name",
    REP_ID,
    "rep_name",
)

#: Export kind -> (file suffix, MIME type).
EXPORT_KINDS: dict[str, tuple[str, str]] = {
    "csv": (".csv", "text/csv"),
    "geojson": (".geojson", "application/geo+json"),
    "gpkg": (".gpkg", "application/geopackage+sqlite3"),
    "xlsx": (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "html": (".html", "text/html"),
}

_GPKG_LAYER = "territories"

#: Per-territory figures that add up over a region.
REGION_SUMS: tuple[str, ...] = (
    "accounts",
    "revenue",
    "cost",
    "net_profit",
    "travel_km",
    "workload_hours",
)


def assignment_frame(plan: Plan, workspace: Workspace) -> pd.DataFrame:
    """One row per account: where it is, its territory and its rep.

    Parameters
    ----------
    plan : Plan
        The plan to export.
    workspace : Workspace
        The data the plan was made from (account names, rep names).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ASSIGNMENT_COLUMNS`, accounts in the context's order;
        territory and rep fields are missing for white space. A plan built
        from units adds ``unit_id`` (the building block holding the account,
        missing outside every unit) and ``placed_by`` (``rule``,
        ``exception``, ``unit`` or missing for white space).
    """
    _check(plan, workspace)
    context = plan.context
    codes = plan.codes
    assigned = codes >= 0
    safe = np.where(assigned, codes, 0)
    territory_ids = context.territory_ids.to_numpy(dtype=object)
    territory_names = np.asarray(context.territory_names, dtype=object)
    territory_reps = np.asarray(context.territory_reps, dtype=object)
    rep_ids = np.where(assigned, territory_reps[safe], None)
    rep_ids = np.where(pd.isna(rep_ids), None, rep_ids).astype(object)
    frame = pd.DataFrame(
        {
            ACCOUNT_ID: context.account_ids.to_numpy(dtype=object),
            "name": _account_names(workspace),
            "lat": np.asarray(context.lat, dtype=float),
            "lon": np.asarray(context.lon, dtype=float),
            TERRITORY_ID: np.where(assigned, territory_ids[safe], None),
            "territory_name": np.where(assigned, territory_names[safe], None),
            REP_ID: rep_ids,
            "rep_name": _rep_names(workspace, rep_ids),
        }
    )
    if plan.layout is not None:
        frame["unit_id"] = plan.account_unit.to_numpy(dtype=object, na_value=None)
        frame["placed_by"] = plan.placed_by.to_numpy(dtype=object, na_value=None)
    return frame


def assignment_csv(plan: Plan, workspace: Workspace) -> bytes:
    """Write the assignment as UTF-8 CSV, ready to load back into a CRM.

    Parameters
    ----------
    plan : Plan
        The plan to export.
    workspace : Workspace
        The data the plan was made from.

    Returns
    -------
    bytes
        CSV with a header row of :data:`ASSIGNMENT_COLUMNS`; white space has
        empty territory and rep fields. Read it back with
        :func:`read_assignment`.
    """
    frame = assignment_frame(plan, workspace)
    return to_csv_bytes(frame, float_format="%.7f")


def read_assignment(source: Source, plan: Plan, *, filename: str | None = None) -> pd.Series:
    """Read an assignment file (as written by :func:`assignment_csv`) for a plan's accounts.

    The file is loaded with :func:`terrmap.io.loaders.load_accounts`, telling
    it that the account's territory is in the ``territory_id`` column.

    Parameters
    ----------
    source : path, bytes or binary file-like
        The assignment file (CSV or Excel).
    plan : Plan
        Any plan over the accounts and territories the file refers to.
    filename : str, optional
        File name when ``source`` has none.

    Returns
    -------
    pandas.Series
        Territory id per account id of the plan's context (``<NA>`` for
        white space and for accounts the file does not list); pass it to
        :meth:`terrmap.core.plan.Plan.from_assignment`.

    Raises
    ------
    ValueError
        If rows are rejected, the file names accounts or territories the
        plan does not have, or has no ``territory_id`` column.
    """
    load = load_accounts(source, mapping={"owner": TERRITORY_ID}, filename=filename)
    load = _without_formula_quotes(load, plan)
    if len(load.rejected):
        first = load.rejected.iloc[0]
        raise ValueError(
            f"{len(load.rejected)} row(s) of the assignment file rejected, "
            f"first at line {int(first['line'])}: {first['reason']}"
        )
    context = plan.context
    territory = load.accounts["owner"].astype(object)
    territory.index = territory.index.astype(str)
    unknown_accounts = territory.index.difference(context.account_ids)
    if len(unknown_accounts):
        raise ValueError(
            f"assignment names {len(unknown_accounts)} unknown account id(s), "
            f"e.g. {list(unknown_accounts[:5])}"
        )
    known = territory.dropna().astype(str)
    unknown_territories = sorted(set(known) - set(context.territory_ids))
    if unknown_territories:
        raise ValueError(f"assignment names unknown territory id(s) {unknown_territories[:5]}")
    missing = context.account_ids.difference(territory.index)
    if len(missing):
        logger.warning("%d accounts are not in the assignment file; left unassigned", len(missing))
    return territory.reindex(context.account_ids).astype("string").rename(TERRITORY_ID)


def territories_frame(
    plan: Plan, workspace: Workspace, shapes: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """Territory shapes with their figures as attributes.

    Parameters
    ----------
    plan, workspace : Plan, Workspace
        The plan and the data it was made from.
    shapes : geopandas.GeoDataFrame, optional
        The plan's territory shapes indexed by territory id (e.g. the map's,
        from :func:`terrmap.web.editor.plan_shapes`); computed when omitted.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per territory in the context's order: ``territory_id``,
        ``name``, ``rep_id``, ``rep_name``, every column of
        :meth:`~terrmap.core.plan.Plan.metrics`, ``geometry`` (valid Polygon or
        MultiPolygon, empty for a territory without accounts), EPSG:4326.
    """
    _check(plan, workspace)
    if shapes is None:
        shapes = plan_shapes(plan, map_data(workspace))
    territory_ids = plan.context.territory_ids
    geoms = np.asarray(shapes.geometry.reindex(territory_ids).values, dtype=object)
    missing = pd.isna(geoms)
    geoms[missing] = shapely.Polygon()
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms[invalid] = shapely.make_valid(
            geoms[invalid], method="structure", keep_collapsed=False
        )
    frame = territories_frame_without_geometry(plan, workspace)
    return gpd.GeoDataFrame(frame, geometry=list(geoms), crs=CRS)


def territories_file(
    plan: Plan,
    workspace: Workspace,
    shapes: gpd.GeoDataFrame | None = None,
    *,
    file_format: str = "geojson",
) -> bytes:
    """Territories with their figures as a GIS file.

    Parameters
    ----------
    plan, workspace, shapes
        See :func:`territories_frame`.
    file_format : {"geojson", "gpkg"}
        GeoJSON (RFC 7946, WGS84; a UTF-8 FeatureCollection, missing figures
        ``null``) or a GeoPackage (layer ``territories``, MultiPolygons in
        EPSG:4326).

    Returns
    -------
    bytes
        The file.

    Raises
    ------
    ValueError
        If ``file_format`` is neither.
    """
    if file_format not in ("geojson", "gpkg"):
        raise ValueError(f"unknown territories file format {file_format!r}; use geojson or gpkg")
    frame = territories_frame(plan, workspace, shapes)
    if file_format == "geojson":
        return frame.to_json(na="null", show_bbox=False, drop_id=True).encode("utf-8")
    geoms = np.asarray(frame.geometry.values, dtype=object)
    single = shapely.get_type_id(geoms) == 3
    geoms[single] = [shapely.MultiPolygon([g]) for g in geoms[single]]
    frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=CRS))
    with tempfile.TemporaryDirectory(prefix="terrmap-gpkg-") as folder:
        path = Path(folder) / "territories.gpkg"
        frame.to_file(path, driver="GPKG", layer=_GPKG_LAYER, engine="pyogrio")
        return path.read_bytes()


def territories_geojson(
    plan: Plan, workspace: Workspace, shapes: gpd.GeoDataFrame | None = None
) -> bytes:
    """Return :func:`territories_file` as GeoJSON."""
    return territories_file(plan, workspace, shapes, file_format="geojson")


def territories_gpkg(
    plan: Plan, workspace: Workspace, shapes: gpd.GeoDataFrame | None = None
) -> bytes:
    """Return :func:`territories_file` as a GeoPackage."""
    return territories_file(plan, workspace, shapes, file_format="gpkg")


def workbook_xlsx(plan: Plan, workspace: Workspace, *, currency: str | None = None) -> bytes:
    """Write an Excel workbook: Summary (per territory), Regions, Accounts, Reps, Changes.

    Every sheet has readable headers in a frozen first row, columns wide
    enough for their figures, money in the data set's currency (``"$"#,##0``),
    shares as percents and coordinates with six decimals. The Regions sheet
    (sums of :data:`REGION_SUMS` per region) is there when the plan's
    definition puts territories in regions.

    Parameters
    ----------
    plan, workspace : Plan, Workspace
        The plan and the data it was made from.
    currency : str, optional
        ISO code of the money figures; the workspace's when it has one, else USD.

    Returns
    -------
    bytes
        The ``.xlsx`` file. Text that looks like a formula is stored as text.
    """
    _check(plan, workspace)
    summary = pd.DataFrame(territories_frame_without_geometry(plan, workspace))
    accounts = assignment_frame(plan, workspace)
    context = plan.context
    revenue = np.asarray(context.revenue, dtype=float)
    cost = np.asarray(context.cost, dtype=float)
    accounts["revenue"] = revenue
    accounts["cost_to_serve"] = cost
    accounts["net_profit"] = revenue - cost
    accounts["visits_per_year"] = np.asarray(context.visits, dtype=float)
    reps = _reps_sheet(plan, workspace)
    changes = _changes_sheet(plan, workspace)
    if currency is None:
        currency = getattr(workspace, "currency", None)
    sheets = [("Summary", summary), ("Accounts", accounts), ("Reps", reps), ("Changes", changes)]
    regions = plan.layout.regions if plan.layout is not None else None
    if regions is not None and len(regions.dropna()):
        rolled = region_rollup(plan.metrics(), regions, list(REGION_SUMS))
        sheets.insert(1, ("Regions", rolled.reset_index()))
    buffer = io.BytesIO()
    # XlsxWriter, column by column: openpyxl took 66 s for 100k accounts, this
    # takes a few. Text is never turned into formulas or links ("=HYPERLINK(...)"
    # in an account name stays text a spreadsheet will not run).
    options = {"strings_to_formulas": False, "strings_to_urls": False, "constant_memory": True}
    with xlsxwriter.Workbook(buffer, options) as book:
        header = book.add_format(
            {"bold": True, "bg_color": "#F1F3F4", "bottom": 1, "text_wrap": True, "valign": "top"}
        )
        formats = {
            kind: book.add_format({"num_format": code})
            for kind, code in _number_formats(currency).items()
        }
        for sheet, frame in sheets:
            _write_sheet(book.add_worksheet(sheet), frame, header, formats)
    return buffer.getvalue()


def territories_frame_without_geometry(plan: Plan, workspace: Workspace) -> pd.DataFrame:
    """Tabulate the attributes of :func:`territories_frame`, without shapes.

    Parameters
    ----------
    plan, workspace : Plan, Workspace
        The plan and the data it was made from.

    Returns
    -------
    pandas.DataFrame
        ``territory_id, name, rep_id, rep_name``, ``region`` when the plan's
        definition has regions, and the metrics columns.
    """
    metrics = plan.metrics()
    metrics.attrs = {}
    rep_ids = metrics["rep_id"].astype(object).to_numpy()
    rep_ids = np.where(pd.isna(rep_ids), None, rep_ids).astype(object)
    frame = metrics.drop(columns=["rep_id"]).copy()
    frame.insert(0, TERRITORY_ID, metrics.index.astype(str))
    frame.insert(2, REP_ID, rep_ids)
    frame.insert(3, "rep_name", _rep_names(workspace, rep_ids))
    if plan.layout is not None and len(plan.layout.regions.dropna()):
        region = plan.layout.regions.reindex(metrics.index.astype(str))
        frame.insert(4, "region", region.to_numpy(dtype=object, na_value=None))
    return frame.reset_index(drop=True)


def write_export(data: bytes, path: str | os.PathLike[str]) -> Path:
    """Write export bytes to a file atomically (temporary file, then rename).

    Parameters
    ----------
    data : bytes
        What an export function returned.
    path : path-like
        Destination; its folder must exist.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    target = Path(path)
    if not target.parent.exists():
        raise ValueError(f"folder {str(target.parent)!r} does not exist")
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


# ---------------------------------------------------------------------------


def _without_formula_quotes(load: AccountsLoad, plan: Plan) -> AccountsLoad:
    """Undo the ``'`` that :func:`~terrmap.io.safe.csv_cell` put before ids like ``-A1``.

    Only a quoted value that is not itself a known id and, unquoted, is one
    loses its quote, so an id really starting with ``'`` survives.
    """
    context = plan.context

    def restore(values: pd.Series, known: pd.Index) -> pd.Series:
        text = values.astype(object)
        quoted = text.str.startswith(tuple("'" + s for s in FORMULA_STARTS), na=False)
        bare = text.str.slice(1)
        fix = quoted & ~text.isin(known) & bare.isin(known)
        return text.where(~fix, bare)

    accounts = load.accounts.copy()
    accounts.index = pd.Index(
        restore(accounts.index.to_series(), context.account_ids),
        name=accounts.index.name,
        dtype="str",
    )
    accounts["owner"] = restore(accounts["owner"], context.territory_ids)
    return dataclasses.replace(load, accounts=accounts)


def _check(plan: Plan, workspace: Workspace) -> None:
    if plan.context is not workspace.context:
        raise ValueError(
            "the plan was not made from this workspace (its context differs); "
            "export a plan of the workspace given"
        )


def _account_names(workspace: Workspace) -> np.ndarray:
    ids = workspace.context.account_ids
    if "name" not in workspace.accounts.columns:
        return ids.to_numpy(dtype=object)
    names = workspace.accounts["name"].astype(object)
    names.index = names.index.astype(str)
    found = names.reindex(ids).to_numpy(dtype=object)
    return np.where(pd.isna(found), None, found).astype(object)


def _rep_names(workspace: Workspace, rep_ids: np.ndarray) -> np.ndarray:
    reps = workspace.reps
    if reps is None or "name" not in reps.columns:
        return np.full(len(rep_ids), None, dtype=object)
    lookup = reps["name"].astype(object)
    lookup.index = lookup.index.astype(str)
    found = pd.Series(rep_ids, dtype=object).map(lookup).to_numpy(dtype=object)
    return np.where(pd.isna(found), None, found).astype(object)


def _reps_sheet(plan: Plan, workspace: Workspace) -> pd.DataFrame:
    figures = rep_figures(plan)
    held = pd.Series(plan.context.territory_ids, dtype=object).groupby(
        pd.Series(plan.context.territory_reps, dtype=object).astype(str).to_numpy()
    )
    territories = held.agg(lambda ids: ", ".join(map(str, ids)))
    reps = workspace.reps
    if reps is not None and len(reps):
        base = reps.copy()
        base.index = base.index.astype(str)
        index = base.index.union(figures.index, sort=False)
        base = base.reindex(index)
    else:
        base = pd.DataFrame(index=figures.index)
    base.attrs = {}
    base.index.name = REP_ID
    base["territory_ids"] = territories.reindex(base.index)
    for column in ("accounts", "revenue", "net_profit", "visits", "workload_hours", "utilisation"):
        base[column] = figures[column].reindex(base.index)
    base["accounts"] = base["accounts"].fillna(0).astype(np.int64)
    return base.reset_index()


#: Columns that are money, shares (0-1) and coordinates; other numbers are counts
#: or quantities.
_MONEY_COLUMNS = frozenset(
    {
        "revenue",
        "cost",
        "cost_to_serve",
        "net_profit",
        "pipeline",
        "revenue_last_year",
        "annual_contract_value",
        "quota",
    }
)
_SHARE_COLUMNS = frozenset(
    {"margin", "utilisation", "conversion_rate", "lead_to_opportunity", "opportunity_to_deal"}
)
_COORDINATE_COLUMNS = frozenset({"lat", "lon", "home_lat", "home_lon"})
#: Headers that the generic rule ("net_profit" -> "Net profit") gets wrong.
_HEADERS = {
    "territory_id": "Territory ID",
    "account_id": "Account ID",
    "rep_id": "Rep ID",
    "territory_ids": "Territory IDs",
    "cost": "Cost to serve",
    "lat": "Latitude",
    "lon": "Longitude",
    "home_lat": "Home latitude",
    "home_lon": "Home longitude",
    "area_km2": "Area km²",
    "crm_owner": "CRM owner",
}


def _header(column: object) -> str:
    name = str(column)
    return _HEADERS.get(name, name.replace("_", " ").capitalize())


def _number_formats(currency: str | None) -> dict[str, str]:
    return {
        "money": excel_money_format(currency),
        "share": "0.0%",
        "coordinate": "0.000000",
        "integer": "#,##0",
        "decimal": "#,##0.0",
    }


def _kind(column: str, values: pd.Series) -> str | None:
    if column in _MONEY_COLUMNS:
        return "money"
    if column in _SHARE_COLUMNS:
        return "share"
    if column in _COORDINATE_COLUMNS:
        return "coordinate"
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_integer_dtype(values):
        return "integer"
    if pd.api.types.is_numeric_dtype(values):
        return "decimal"
    return None


def _width(header: str, cells: list, kind: str | None) -> float:
    sample = [v for v in cells[:200] if v is not None]
    if kind in ("money", "integer", "decimal"):
        # Thousands separators and the currency sign add to the digits.
        lengths = [len(f"{v:,.1f}") + 2 for v in sample]
    elif kind == "share":
        lengths = [7]
    else:
        lengths = [len(str(v)) for v in sample]
    longest_word = max((len(w) for w in header.split()), default=0)
    return min(max(longest_word, min(len(header), 18), *lengths, 6) + 2, 40)


def _write_sheet(sheet, frame: pd.DataFrame, header_format, formats: dict) -> None:
    # Rows in order: the workbook runs in constant-memory mode, which streams
    # each row to disk and cannot go back to an earlier one.
    sheet.freeze_panes(1, 0)
    headers = [_header(c) for c in frame.columns]
    kinds = [_kind(str(c), frame[c]) for c in frame.columns]
    columns = [_cells(frame[column]) for column in frame.columns]
    cell_formats = [formats.get(kind) for kind in kinds]
    for i, (header, cells, kind) in enumerate(zip(headers, columns, kinds, strict=True)):
        sheet.set_column(i, i, _width(header, cells, kind))
    sheet.set_row(0, 30 if any(len(h) > 18 for h in headers) else None)
    sheet.write_row(0, 0, headers, header_format)
    for row, values in enumerate(zip(*columns, strict=True), start=1):
        for col, (value, cell_format) in enumerate(zip(values, cell_formats, strict=True)):
            if value is None:
                sheet.write_blank(row, col, None, cell_format)
            elif cell_format is None:
                sheet.write(row, col, value)
            else:
                sheet.write_number(row, col, value, cell_format)


def _changes_sheet(plan: Plan, workspace: Workspace) -> pd.DataFrame:
    log = plan.changelog()
    context = plan.context
    territory = dict(zip(context.territory_ids, context.territory_names, strict=True))
    names = _account_names(workspace)
    positions = context.positions(log["account_id"].astype(str)) if len(log) else []
    return pd.DataFrame(
        {
            "when": [timestamp(at) for at in log["at"]],
            "who": log["author"].astype(object).where(log["author"].notna(), None).tolist(),
            "account_id": log["account_id"].astype(str).tolist(),
            "account": [names[p] for p in positions],
            "from": [territory.get(t, UNASSIGNED_LABEL) for t in log["from_territory"]],
            "to": [territory.get(t, UNASSIGNED_LABEL) for t in log["to_territory"]],
            "note": log["note"].tolist(),
        },
        dtype=object,
    )


def _cells(values: pd.Series) -> list:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        return [v if np.isfinite(v) else None for v in numbers.tolist()]
    return [
        None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
        for v in values.astype(object).tolist()
    ]
