"""Load accounts, reps and territories from the files sales teams really have.

Accounts come from CSV, Excel (``.xlsx``), GeoJSON, GeoPackage or
GeoParquet; reps from CSV or Excel; territories from GeoJSON, GeoPackage,
a Shapefile (``.shp``, or a ``.zip`` holding one) or GeoParquet. A source is
a path, raw bytes or a binary file-like object (a Streamlit upload); pass
``filename`` when the object has no ``name``, because the extension decides
how the file is read.

Column names are recognised with :mod:`terrmap.io.columns`; an explicit
mapping ``{canonical: source column}`` overrides the guess. Everything is
reprojected to WGS84 (:data:`terrmap.core.schema.CRS`).

Every row the loader reads either loads or is reported in ``rejected`` with
its line number, its id when it has one and the reason. Line numbers are
those a spreadsheet shows: in a CSV the header is line 1 and the first data
row line 2 (quoted values spanning several lines and blank lines are
counted, so the number is the line where the record starts); in Excel it is
the sheet row; in GeoJSON, GeoPackage, Shapefile and GeoParquet files it is
the feature number plus one, so the first feature is "line 2" like the first
data row of a CSV.

Decisions a user can rely on:

* A file without an id column gets ids made from line numbers
  (``line-2``, ``line-3``, ...) when it has a name column, and a warning;
  without ids or names it is unusable. Reps without an id column use their
  name as id, because account owners in CRM exports are rep names.
* Duplicate ids: the first occurrence loads, the later ones are rejected.
* Coordinates ``0, 0`` (a CRM's "not geocoded") count as no coordinates.
  Rows without coordinates are placed at their ZIP centroid
  (``location_source == "zip"``).
* Blank revenue counts as 0 (and is reported in ``warnings``); negative
  revenue loads with a warning; negative cost, visits or rep figures are
  rejected.
* Stages are mapped with :data:`terrmap.io.columns.STAGE_SYNONYMS`; blank
  stages take the schema default, unknown stage text rejects the row. The
  same goes for tiers and yes/no flags.
* In a semicolon-delimited file, numbers may use a decimal comma.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import shapely

from terrmap.core import schema
from terrmap.geo.zipgeo import normalise_zip, zip_centroids, zip_table
from terrmap.io.columns import (
    guess_mapping,
    parse_flags,
    parse_numbers,
    parse_stages,
    parse_tiers,
    resolve_mapping,
)
from terrmap.io.numbers import (
    CURRENCY_CODES,
    AmbiguousNumbersError,
    NumberFormat,
    decide_format,
    header_currency,
    read_numbers,
)
from terrmap.io.plausibility import coordinate_warnings

__all__ = [
    "MAX_BYTES",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "MEMORY_BUDGET",
    "AccountsLoad",
    "NumberOptions",
    "RepsLoad",
    "RowsProgress",
    "Source",
    "TerritoriesLoad",
    "UnusableFileError",
    "load_accounts",
    "load_reps",
    "load_territories",
    "read_polygon_layer",
]

logger = logging.getLogger(__name__)

# A spreadsheet keeps a long cell (notes, descriptions); the csv module's
# default limit (128 KiB) would refuse the whole file for one of them.
csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))

#: What the loaders accept: a path, raw bytes or a binary file-like object.
Source = str | os.PathLike[str] | bytes | bytearray | BinaryIO

_Kind = Literal["accounts", "reps", "territories"]

_FORMATS: dict[str, str] = {
    ".csv": "text",
    ".txt": "text",
    ".tsv": "text",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".geojson": "vector",
    ".json": "vector",
    ".gpkg": "vector",
    ".shp": "vector",
    ".zip": "vector",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
}

_GIS_NAMES: dict[str, str] = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GeoPackage",
    ".shp": "Shapefile",
    ".zip": "zipped Shapefile",
    ".parquet": "GeoParquet",
    ".geoparquet": "GeoParquet",
}

_ACCEPTED: dict[str, tuple[str, ...]] = {
    "accounts": ("text", "excel", "vector", "parquet"),
    "reps": ("text", "excel"),
    "territories": ("vector", "parquet"),
}

_FORMAT_NAMES: dict[str, str] = {
    "accounts": "CSV, Excel (.xlsx), GeoJSON, GeoPackage or GeoParquet",
    "reps": "CSV or Excel (.xlsx)",
    "territories": "GeoJSON, GeoPackage, Shapefile (.shp or .zip) or GeoParquet",
}

_DELIMITERS = (",", ";", "\t", "|")
_LINE_END = re.compile(r"[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+$")
_SEP_HINT = re.compile(r"\ufeff?sep=(.)", re.IGNORECASE)

#: Data rows a text file may have; reading stops with a message past it.
MAX_ROWS = 2_500_000
#: Largest file read (bytes): reading takes several times the file's size in
#: memory, so this bounds the memory one import can take.
MAX_BYTES = 400_000_000

#: Memory (bytes) the reading of one text file may take. Reading takes a
#: multiple of the file's size (measured by ``benchmarks/bench_import.py``):
#: about :data:`_COLUMNAR_MEMORY` times for a clean file, about
#: :data:`_LINE_MEMORY` times for one read line by line; a file whose read
#: would take more is refused before it starts, saying so.
MEMORY_BUDGET = 3_000_000_000
_COLUMNAR_MEMORY = 8
_LINE_MEMORY = 20

#: Columns a text file may have: a header wider than this is refused at once
#: (a wrong delimiter or not an accounts file), before any row is read.
MAX_COLUMNS = 2_000
#: Called as ``progress(rows_read, rows_expected)`` while a file is read.
RowsProgress = Callable[[int, int], None]
_PROGRESS_ROWS = 100_000  # rows between progress reports of the line-by-line reader
_BLOCK_BYTES = 8 << 20  # bytes per block of the columnar reader (one progress report each)
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}

_REP_RATES = ("lead_to_opportunity", "opportunity_to_deal")
_REP_MONEY = ("annual_contract_value", "quota")

# shapely.get_type_id codes
_POLYGON, _MULTIPOLYGON, _COLLECTION = 3, 6, 7


class UnusableFileError(ValueError):
    """The file cannot be used at all (empty, unreadable, no location, no rows)."""


@dataclass(frozen=True)
class NumberOptions:
    """What the user says about a file's numbers (all optional).

    Attributes
    ----------
    number_format : str, optional
        The file's number format, e.g. ``"1.234,56"`` or ``"1,234.56"``
        (see :data:`terrmap.io.numbers.FORMATS`); by default each column's
        format is decided from its cells.
    currency : str, optional
        ISO 4217 code of the data set's currency; by default the currency
        most amounts name (or none, when no amount names one).
    rates : mapping, optional
        Currency code → value of one unit in the data set's currency, to
        convert amounts written in other currencies; without a rate those
        rows are rejected.
    """

    number_format: str | None = None
    currency: str | None = None
    rates: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        if self.number_format is not None:
            NumberFormat.parse(self.number_format)
        for code, rate in (self.rates or {}).items():
            if not (isinstance(rate, (int, float)) and np.isfinite(rate) and rate > 0):
                raise ValueError(f"exchange rate for {code!r} must be a positive number: {rate!r}")


_COORDINATES = NumberFormat(".", grouping=False)


@dataclass(frozen=True, eq=False, kw_only=True)
class _TableLoad:
    """What a load of accounts or reps reports besides the frame.

    Attributes
    ----------
    rejected : pandas.DataFrame
        Columns ``line`` (int), ``id`` (str or None) and ``reason`` (str),
        one row per rejected record, sorted by line.
    rows : int
        Data rows read from the file (blank lines not counted).
    mapping : dict[str, str]
        Canonical column → source column, as used.
    source_columns : tuple[str, ...]
        The file's column names.
    warnings : tuple[str, ...]
        Things the user should know about rows that did load.
    currency : str or None
        ISO 4217 code of the amounts (also ``attrs["currency"]`` of the
        frame); None when neither the file nor the user names a currency.
    number_formats : dict[str, str]
        Source column → the number format it was read with (``"1,234.56"``
        or ``"1.234,56"``).
    """

    rejected: pd.DataFrame
    rows: int
    mapping: dict[str, str]
    source_columns: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    currency: str | None = None
    number_formats: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False, kw_only=True)
class AccountsLoad(_TableLoad):
    """The outcome of :func:`load_accounts`.

    Attributes
    ----------
    accounts : pandas.DataFrame
        Loaded accounts in the canonical schema: index ``account_id`` (str),
        every column of :data:`terrmap.core.schema.ACCOUNT_COLUMNS`.
    rejected, rows, mapping, source_columns, warnings, currency, number_formats
        As for every load of a table (rejected rows, data rows read, the
        mapping used, the file's columns, warnings, the amounts' currency and
        the number format per source column).
    """

    accounts: pd.DataFrame


@dataclass(frozen=True, eq=False, kw_only=True)
class RepsLoad(_TableLoad):
    """The outcome of :func:`load_reps`.

    Attributes
    ----------
    reps : pandas.DataFrame
        Loaded reps: index ``rep_id`` (str), every column of
        :data:`terrmap.core.schema.REP_COLUMNS`; figures the file lacks are NaN.
    rejected, rows, mapping, source_columns, warnings, currency, number_formats
        As for accounts (:class:`AccountsLoad`); the currency is that of
        quotas and contract values.
    """

    reps: pd.DataFrame


@dataclass(frozen=True, eq=False)
class TerritoriesLoad:
    """The outcome of :func:`load_territories`.

    Attributes
    ----------
    territories : geopandas.GeoDataFrame
        Index ``territory_id`` (str); columns ``name``, ``rep_id``,
        ``region``, ``geometry`` (Polygon or MultiPolygon) in EPSG:4326.
    rejected : pandas.DataFrame
        Columns ``line`` (feature number + 1), ``id`` and ``reason``.
    rows : int
        Features read from the file.
    mapping : dict[str, str]
        Canonical column (``territory_id``, ``name``, ``rep_id``,
        ``region``) → source field, as used. No ``territory_id`` entry means
        the ids were made from feature numbers.
    source_columns : tuple[str, ...]
        The file's attribute field names.
    warnings : tuple[str, ...]
        Things the user should know about features that did load.
    """

    territories: gpd.GeoDataFrame
    rejected: pd.DataFrame
    rows: int
    mapping: dict[str, str]
    source_columns: tuple[str, ...]
    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------------------
# Public functions


def load_accounts(
    source: Source,
    mapping: Mapping[str, str | None] | None = None,
    *,
    filename: str | None = None,
    numbers: NumberOptions | None = None,
    progress: RowsProgress | None = None,
) -> AccountsLoad:
    r"""Load accounts from a CRM export.

    Parameters
    ----------
    source : path, bytes or binary file-like
        CSV, Excel (``.xlsx``), GeoJSON, GeoPackage or GeoParquet. A
        file-like object is read whole (from its start when seekable) and
        its position restored.
    mapping : mapping, optional
        Canonical column → source column, overriding the guess of
        :func:`terrmap.io.columns.guess_mapping` (``None`` drops a guess).
        Canonical names are those of the schema plus ``account_id``.
    filename : str, optional
        File name (for its extension and for messages) when ``source`` is
        bytes or a file-like object without a ``name``.
    numbers : NumberOptions, optional
        The number format, currency and exchange rates, when the user states
        them; by default they are decided from the file
        (see :mod:`terrmap.io.numbers`).
    progress : callable, optional
        Called as ``progress(rows_read, rows_expected)`` while a text file
        is read (``rows_expected`` counts its lines after the header).

    Returns
    -------
    AccountsLoad
        Loaded accounts, rejected rows, the mapping used and warnings.

    Raises
    ------
    UnusableFileError
        The file is empty, unreadable, of an unsupported type, has no data
        rows, no location columns, or neither ids nor names, or an amount
        column mixes number formats.
    ValueError
        ``mapping`` names an unknown canonical column or a column the file
        lacks.

    Examples
    --------
    >>> csv_text = b"Account ID,Account Name,Billing Zip/Postal Code\nA1,Acme,02139\n"
    >>> load = load_accounts(csv_text, filename="accounts.csv")
    >>> load.accounts.loc["A1", ["name", "postal_code", "location_source"]].tolist()
    ['Acme', '02139', 'zip']
    """
    source_input = _input(source, filename)
    table = _read_table(source_input, "accounts", progress)
    used = resolve_mapping(table.columns, mapping, "accounts")
    _require_location(source_input.name, table, used, ("lat", "lon"), "postal_code")
    if schema.ACCOUNT_ID not in used and "name" not in used:
        raise UnusableFileError(
            f"{source_input.name}: no column gives an account id or name; "
            f"columns are: {_shown_columns(table.columns)}"
        )
    return _build_accounts(table, used, numbers or NumberOptions())


def load_reps(
    source: Source,
    mapping: Mapping[str, str | None] | None = None,
    *,
    filename: str | None = None,
    numbers: NumberOptions | None = None,
    progress: RowsProgress | None = None,
) -> RepsLoad:
    r"""Load sales reps and their figures.

    The home base is given as ``home_lat``/``home_lon`` or as a ZIP code
    (``home_zip``; its city fills a blank ``home_town``). A rep without any
    home base still loads, with NaN coordinates and a warning. Figures the
    file lacks are NaN, never 0; conversion rates written as ``25%`` read as
    0.25.

    Parameters
    ----------
    source : path, bytes or binary file-like
        CSV or Excel (``.xlsx``).
    mapping : mapping, optional
        Canonical column → source column overriding the guess; canonical
        names are those of the schema plus ``rep_id`` and ``home_zip``.
    filename : str, optional
        File name when ``source`` has none.
    numbers : NumberOptions, optional
        The number format and currency, when the user states them.
    progress : callable, optional
        Called as ``progress(rows_read, rows_expected)`` while a text file
        is read.

    Returns
    -------
    RepsLoad
        Loaded reps, rejected rows, the mapping used and warnings.

    Raises
    ------
    UnusableFileError
        The file is empty, unreadable, of an unsupported type, has no data
        rows, or neither rep ids nor names.
    ValueError
        ``mapping`` is inconsistent with the file.

    Examples
    --------
    >>> load = load_reps(b"Rep,Home ZIP,Quota\nAna Diaz,02139,$1.2M\n", filename="reps.csv")
    >>> rep = load.reps.loc["Ana Diaz"]
    >>> rep["home_town"], float(rep["quota"]), bool(pd.isna(rep["experience_years"]))
    ('Cambridge, MA', 1200000.0, True)
    """
    source_input = _input(source, filename)
    table = _read_table(source_input, "reps", progress)
    used = resolve_mapping(table.columns, mapping, "reps")
    if schema.REP_ID not in used and "name" not in used:
        raise UnusableFileError(
            f"{source_input.name}: no column gives a rep id or name; "
            f"columns are: {_shown_columns(table.columns)}"
        )
    return _build_reps(table, used, numbers or NumberOptions())


def load_territories(
    source: Source,
    *,
    id_field: str | None = None,
    name_field: str | None = None,
    rep_field: str | None = None,
    region_field: str | None = None,
    filename: str | None = None,
    dissolve: bool = False,
) -> TerritoriesLoad:
    """Load territory polygons.

    Fields not given are guessed: the id from a field called
    ``territory_id``/``territory``/``id``/``code`` (see
    :data:`terrmap.io.columns.TERRITORY_SYNONYMS`), else the name field, else
    the first text field unique per feature, else feature numbers
    (``"1"``, ``"2"``, ...). Invalid geometries are repaired with
    :func:`shapely.make_valid`; features whose geometry is missing, empty or
    not a polygon are rejected. A file without a CRS is taken as WGS84 when
    its coordinates are degrees.

    Parameters
    ----------
    source : path, bytes or binary file-like
        GeoJSON, GeoPackage (first layer), Shapefile (``.shp``, or a
        ``.zip`` holding one) or GeoParquet.
    id_field, name_field, rep_field, region_field : str, optional
        Attribute fields holding the territory id, display name, rep id and
        region.
    filename : str, optional
        File name when ``source`` has none.
    dissolve : bool, default False
        Merge features sharing an id into one territory (a file with one
        feature per ZIP code, say). Otherwise later features with an id
        already seen are rejected.

    Returns
    -------
    TerritoriesLoad
        Loaded territories, rejected features, the fields used and warnings.

    Raises
    ------
    UnusableFileError
        The file is empty, unreadable, of an unsupported type, has no
        features or no geometry, or has no CRS and is not in degrees.
    ValueError
        A field given does not exist.

    Examples
    --------
    >>> import json
    >>> square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    >>> feature = {"type": "Feature", "properties": {"territory": "North"}, "geometry": square}
    >>> data = json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()
    >>> load_territories(data, filename="t.geojson").territories.index.tolist()
    ['North']
    """
    source_input = _input(source, filename)
    table = _read_table(source_input, "territories")
    if table.geometry is None:
        raise UnusableFileError(f"{source_input.name}: the file has no geometry")
    used = _territory_fields(
        table,
        {
            schema.TERRITORY_ID: id_field,
            "name": name_field,
            "rep_id": rep_field,
            "region": region_field,
        },
    )
    return _build_territories(table, used, dissolve=dissolve)


def read_polygon_layer(source: Source, *, filename: str | None = None) -> gpd.GeoDataFrame:
    """Read a polygon layer as it is: every attribute field, geometry in WGS84.

    For layers whose features are used one by one (a unit layer: ZIP areas,
    sales districts), where :func:`load_territories` would guess fields and
    reject features.

    Parameters
    ----------
    source : path, bytes or binary file-like
        As :func:`load_territories` reads (GeoJSON, GeoPackage, a zipped
        Shapefile, GeoParquet).
    filename : str, optional
        File name when ``source`` has none.

    Returns
    -------
    geopandas.GeoDataFrame
        Attribute fields as text (whole numbers without ``.0``, blanks
        missing), geometry reprojected to EPSG:4326.

    Raises
    ------
    UnusableFileError
        The file is empty, unreadable, of an unsupported type, has no
        geometry, or has no CRS and is not in degrees (naming the file).
    """
    source_input = _input(source, filename)
    table = _read_table(source_input, "territories")
    if table.geometry is None:
        raise UnusableFileError(f"{source_input.name}: the file has no geometry")
    return gpd.GeoDataFrame(table.frame, geometry=table.geometry.to_numpy(), crs=schema.CRS)


# ---------------------------------------------------------------------------
# Input and reading


@dataclass(frozen=True, eq=False)
class _Input:
    """A source resolved to a display name, a format and its bytes or path."""

    name: str
    suffix: str
    path: Path | None
    data: bytes | None

    def read_bytes(self) -> bytes:
        """Return the file's content."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()

    def head(self, size: int = 16) -> bytes:
        """Return the first ``size`` bytes (to recognise the format)."""
        if self.data is not None:
            return self.data[:size]
        assert self.path is not None
        with self.path.open("rb") as handle:
            return handle.read(size)


@dataclass(frozen=True, eq=False)
class _Table:
    """Rows read from a file: text cells (stripped, blank → NaN) and line numbers."""

    name: str
    frame: pd.DataFrame
    lines: np.ndarray
    decimal_comma: bool = False
    malformed: tuple[tuple[int, tuple[str, ...], str], ...] = ()
    geometry: gpd.GeoSeries | None = None
    warnings: tuple[str, ...] = ()
    columns: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(str(c) for c in self.frame.columns))


def _input(source: Source, filename: str | None) -> _Input:
    """Resolve ``source`` to an :class:`_Input` without changing it."""
    path: Path | None = None
    data: bytes | None = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"no such file: {path}")
        name = filename or path.name
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = filename or ""
    elif hasattr(source, "read"):
        data = _read_stream(source)
        name = filename or os.path.basename(str(getattr(source, "name", "") or ""))
    else:
        raise TypeError(
            f"source must be a path, bytes or a binary file-like object, not {type(source)!r}"
        )
    suffix = Path(name).suffix.lower()
    return _Input(name=name or "upload", suffix=suffix, path=path, data=data)


def _read_stream(stream: BinaryIO) -> bytes:
    """Read a whole file-like object (from its start) and put its position back.

    Starting over matters for uploads: a Streamlit file that was read once
    sits at its end and would otherwise look empty.
    """
    getvalue = getattr(stream, "getvalue", None)
    if callable(getvalue):
        content = getvalue()
    elif stream.seekable():
        position = stream.tell()
        stream.seek(0)
        content = stream.read()
        stream.seek(position)
    else:
        content = stream.read()
    return content.encode("utf-8") if isinstance(content, str) else bytes(content)


def _detect_format(source_input: _Input, kind: _Kind) -> str:
    """Return the reader to use, from the extension or, lacking one, the content."""
    if source_input.suffix == ".xls":
        raise UnusableFileError(
            f"{source_input.name}: the old Excel .xls format is not supported; "
            "save it as .xlsx or CSV"
        )
    fmt = _FORMATS.get(source_input.suffix)
    if fmt is None and source_input.suffix:
        raise UnusableFileError(
            f"{source_input.name}: unsupported file type {source_input.suffix!r}; "
            f"use {_FORMAT_NAMES[kind]}"
        )
    if fmt in (None, "text"):
        # A spreadsheet saved under a .csv name, or an upload without a name.
        head = source_input.head()
        if head.startswith(b"PK\x03\x04"):
            fmt = "vector" if kind == "territories" else "excel"
        elif head.startswith(b"\xd0\xcf\x11\xe0"):
            raise UnusableFileError(
                f"{source_input.name}: this is an old Excel .xls workbook; save it as .xlsx or CSV"
            )
        elif head.startswith(b"SQLite format 3"):
            fmt = "vector"
        elif head.startswith(b"PAR1"):
            fmt = "parquet"
        elif fmt is None:
            fmt = "vector" if head.lstrip().startswith(b"{") else "text"
    if source_input.suffix == ".shp" and source_input.path is None:
        raise UnusableFileError(
            f"{source_input.name}: a shapefile needs its .shx, .dbf and .prj files; "
            "upload them together as one .zip"
        )
    if fmt not in _ACCEPTED[kind]:
        what = {"text": "text/CSV", "excel": "Excel", "vector": "GIS", "parquet": "Parquet"}
        raise UnusableFileError(
            f"{source_input.name}: {kind} cannot be read from a {what[fmt]} file; "
            f"use {_FORMAT_NAMES[kind]}"
        )
    return fmt


def _read_table(source_input: _Input, kind: _Kind, progress: RowsProgress | None = None) -> _Table:
    """Read any supported file into a :class:`_Table`."""
    if source_input.path is None and not source_input.data:
        raise UnusableFileError(f"{source_input.name}: the file is empty")
    if source_input.path is not None and source_input.path.stat().st_size == 0:
        raise UnusableFileError(f"{source_input.name}: the file is empty")
    fmt = _detect_format(source_input, kind)
    size = (
        source_input.path.stat().st_size
        if source_input.path is not None
        else len(source_input.data or b"")
    )
    if size > MAX_BYTES:
        raise UnusableFileError(
            f"{source_input.name}: the file is {size / 1e6:,.0f} MB; at most "
            f"{MAX_BYTES / 1e6:,.0f} MB can be imported (its reading needs several times its "
            "size in memory); split it or drop columns terrmap does not use"
        )
    if fmt == "text":
        table = _read_text(source_input.name, source_input.read_bytes(), progress)
    elif fmt == "excel":
        table = _read_excel(source_input.name, source_input.read_bytes())
    else:
        table = _read_geo(source_input, fmt)
    if len(table.frame) == 0 and not table.malformed:
        raise UnusableFileError(f"{source_input.name}: no data rows (only a header)")
    return table


def _decode(name: str, data: bytes) -> str:
    """Decode text: BOMs first, then UTF-8, then Windows-1252/Latin-1."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            text = data.decode(encoding, errors="replace")
            break
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
    _check_text(name, text[:4096])
    return text


def _check_text(name: str, sample: str) -> None:
    """Refuse a file whose start is not text (a binary file under a .csv name)."""
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n")
    if "\x00" in sample or controls > len(sample) // 20:
        raise UnusableFileError(f"{name}: not a text file; save the export as CSV (UTF-8) or .xlsx")


def _sniff_delimiter(lines: list[str]) -> str:
    """Pick the delimiter that splits the header line into the most fields."""
    header = next((line for line in lines[:50] if line.strip()), "")
    unquoted = re.sub(r'"[^"]*"', "", header)
    counts = {delimiter: unquoted.count(delimiter) for delimiter in _DELIMITERS}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def _physical_lines(text: str) -> list[str]:
    """Split text after each line end (CRLF, LF or a lone CR), keeping the ends.

    ``str.splitlines`` also splits at form feeds and Unicode separators a
    cell may hold, so it is not used.
    """
    return _LINE_END.findall(text)


def _read_text(name: str, data: bytes, progress: RowsProgress | None = None) -> _Table:
    """Read a delimited text file, keeping the line where each record starts.

    Recovers as a spreadsheet would: an Excel ``sep=`` first line names the
    delimiter; any line end works (a quoted value may hold one); a record
    with an unclosed quote is rejected with the lines it swallowed, which are
    then read again as records of their own; a delimiter ending every line
    is recognised as such.

    A file a columnar reader can take as it is (UTF-8, one record per line,
    every line as wide as the header, no blank lines) is read with pyarrow's
    CSV reader (:func:`_read_text_columnar`): the same table in a fraction
    of the time and memory. Any other file is read here, line by line.
    """
    _check_memory(name, len(data), _COLUMNAR_MEMORY, "")
    fast = _read_text_columnar(name, data, progress)
    if fast is not None:
        return fast
    _check_memory(
        name,
        len(data),
        _LINE_MEMORY,
        " read line by line (it is not a plain UTF-8 file of one record per line: "
        "a quoted line break, a row of another width, a blank line or another encoding)",
    )
    return _read_text_by_line(name, data, progress)


def _check_memory(name: str, size: int, factor: int, how: str) -> None:
    """Refuse a file whose reading would take more than :data:`MEMORY_BUDGET`."""
    need = size * factor
    if need > MEMORY_BUDGET:
        raise UnusableFileError(
            f"{name}: reading this {size / 1e6:,.0f} MB file{how} takes about "
            f"{need / 1e9:,.1f} GB of memory, more than the {MEMORY_BUDGET / 1e9:,.1f} GB an "
            "import may use; split it into smaller files or drop columns terrmap does not use"
        )


def _read_text_by_line(name: str, data: bytes, progress: RowsProgress | None = None) -> _Table:
    """Read a delimited text file line by line, recovering from what it finds."""
    text = _decode(name, data)
    if not text.strip():
        raise UnusableFileError(f"{name}: the file is empty")
    lines = _physical_lines(text)
    first = 0
    hinted = _SEP_HINT.fullmatch(lines[0].rstrip("\r\n")) if lines else None
    if hinted:
        delimiter, first = hinted.group(1), 1
    else:
        delimiter = _sniff_delimiter(lines)
    records, broken = _records(name, lines, first, delimiter, progress)
    if not records:
        raise UnusableFileError(f"{name}: the file is empty")
    (_, header), body = records[0], records[1:]
    width = len(header)
    rows: list[list[str]] = []
    lines_of_rows: list[int] = []
    long_rows: list[tuple[int, list[str]]] = []  # (line, cells) with too many fields
    for start, row in body:
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) < width:
            row = row + [""] * (width - len(row))
        elif len(row) > width:
            long_rows.append((start, row))
            continue
        rows.append(row)
        lines_of_rows.append(start)
    kept, malformed = _long_rows(long_rows, width, len(rows), delimiter)
    if kept:
        merged = sorted([*zip(lines_of_rows, rows, strict=True), *kept], key=lambda pair: pair[0])
        lines_of_rows = [line for line, _ in merged]
        rows = [row for _, row in merged]
    columns = _clean_header(header)
    frame = _strip_cells(pd.DataFrame(rows, columns=list(range(width)), dtype="str"))
    frame.columns = columns
    blank = frame.isna().all(axis=1).to_numpy()
    return _Table(
        name=name,
        frame=frame[~blank].reset_index(drop=True),
        lines=np.asarray(lines_of_rows, dtype=np.int64)[~blank],
        decimal_comma=delimiter == ";",
        malformed=tuple(sorted([*malformed, *broken])),
    )


def _read_text_columnar(
    name: str, data: bytes, progress: RowsProgress | None = None
) -> _Table | None:
    """Read a clean delimited file with pyarrow; None when it needs :func:`_read_text`.

    Clean means: UTF-8 (a BOM allowed), line ends LF or CRLF, no
    blank line, the header on one line and every record on one line with as
    many fields as the header. Then the record on data row ``k`` (from 0)
    starts on line ``k + 2`` (``k + 3`` under a ``sep=`` line), and the
    table is the one the line-by-line reader makes. Whatever else (a quoted
    line end, a short or long row, an unclosed quote, another encoding) is
    left to the line-by-line reader, which recovers from it; so is a file
    this reader refuses for any reason.
    """
    for bom in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        if data.startswith(bom):
            return None
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    head = data[start : start + 65_536].decode("utf-8", errors="replace")
    _check_text(name, head[:4096])
    if b"\n\n" in data or b"\n\r\n" in data or data.count(b"\r") != data.count(b"\r\n"):
        return None
    lines = _physical_lines(head)
    if not lines:
        return None
    skip = 0
    hinted = _SEP_HINT.fullmatch(lines[0].rstrip("\r\n"))
    if hinted:
        delimiter, skip = hinted.group(1), 1
    else:
        delimiter = _sniff_delimiter(lines)
    if len(lines) <= skip or not lines[skip].endswith("\n") or lines[skip].count('"') % 2:
        return None  # a header longer than the sample, or spanning lines
    header = next(csv.reader([lines[skip]], delimiter=delimiter), [])
    if not any(cell.strip() for cell in header):
        return None
    _check_width(name, header, delimiter)
    line_ends = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    expected = line_ends - skip - 1
    if expected > MAX_ROWS:
        raise UnusableFileError(_too_many_rows(name, MAX_ROWS + skip + 2))
    width = len(header)
    positions = [f"f{i}" for i in range(width)]
    try:
        reader = pa_csv.open_csv(
            pa.BufferReader(data[start:] if start else data),
            read_options=pa_csv.ReadOptions(
                column_names=positions, skip_rows=skip + 1, block_size=_BLOCK_BYTES
            ),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(positions, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        batches = []
        rows = 0
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if progress is not None:
                progress(rows, expected)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if rows != expected:
        return None  # a record spans lines (a quoted line end): read line by line
    table = pa.Table.from_batches(batches, schema=reader.schema)
    del batches
    text = pd.StringDtype("pyarrow", na_value=np.nan)
    frame = table.to_pandas(types_mapper={pa.string(): text}.get, self_destruct=True)
    del table
    frame = _strip_cells(frame)
    frame.columns = _clean_header(header)
    blank = frame.isna().all(axis=1).to_numpy()
    lines_of_rows = np.arange(skip + 2, skip + 2 + len(frame), dtype=np.int64)
    return _Table(
        name=name,
        frame=frame[~blank].reset_index(drop=True),
        lines=lines_of_rows[~blank],
        decimal_comma=delimiter == ";",
    )


def _too_many_rows(name: str, line: int) -> str:
    return (
        f"{name}: more than {MAX_ROWS:,} rows (stopped at line {line}); "
        "split the file into parts of at most that many rows"
    )


def _records(
    name: str,
    lines: list[str],
    first: int,
    delimiter: str,
    progress: RowsProgress | None = None,
) -> tuple[list[tuple[int, list[str]]], list[tuple[int, tuple[str, ...], str]]]:
    """Parse records from physical lines; return (line, cells) and broken records.

    A record spanning several lines whose field count is not the header's
    is taken for an unclosed quote: it is reported (with the lines it
    swallowed) and reading starts again on the line after its first.
    """
    records: list[tuple[int, list[str]]] = []
    broken: list[tuple[int, tuple[str, ...], str]] = []
    position = first
    width: int | None = None
    while position < len(lines):
        reader = csv.reader(iter(lines[position:]), delimiter=delimiter)
        consumed = 0
        restart = None
        try:
            for row in reader:
                start = position + consumed + 1
                consumed = reader.line_num
                end = position + consumed
                if width is None:
                    if any(cell.strip() for cell in row):
                        _check_width(name, row, delimiter)
                        records.append((start, row))
                        width = len(row)
                    continue
                trailing = len(row) == width + 1 and not row[-1].strip()
                if end > start and len(row) != width and not trailing:
                    cells = tuple(_first_line(cell) for cell in row)
                    broken.append(
                        (
                            start,
                            cells,
                            f"unclosed quote: the record starting here ran on to line {end} "
                            f"(lines {start + 1}-{end} are read again as records of their own)",
                        )
                    )
                    restart = start  # index of the line after the record's first
                    break
                records.append((start, row))
                if progress is not None and len(records) % _PROGRESS_ROWS == 0:
                    progress(len(records) - 1, len(lines) - first - 1)
                if len(records) > MAX_ROWS + 1:
                    raise UnusableFileError(_too_many_rows(name, start))
        except csv.Error as err:
            raise UnusableFileError(f"{name}: not a readable CSV file ({err})") from err
        if restart is None:
            break
        position = restart
    return records, broken


def _check_width(name: str, header: list[str], delimiter: str) -> None:
    """Refuse a header wider than :data:`MAX_COLUMNS` before any row is read."""
    if len(header) > MAX_COLUMNS:
        raise UnusableFileError(
            f"{name}: the header has {len(header):,} columns; a file here has at most "
            f"{MAX_COLUMNS:,} (is this the right file, and is its delimiter a "
            f"{_DELIMITER_NAMES.get(delimiter, repr(delimiter))}?)"
        )


def _first_line(cell: str) -> str:
    return cell.split("\n", 1)[0].split("\r", 1)[0].strip()


def _long_rows(
    long_rows: list[tuple[int, list[str]]], width: int, others: int, delimiter: str
) -> tuple[list[tuple[int, list[str]]], list[tuple[int, tuple[str, ...], str]]]:
    """Split the rows with too many fields into kept (trimmed) rows and rejections.

    When most rows end with one empty extra field (an exporter that ends
    every line with a delimiter), such rows are trimmed and kept; any other
    long row is rejected, never trimmed: an unquoted comma in a name shifts
    every later value one column right.
    """
    trailing = [
        (line, row) for line, row in long_rows if len(row) == width + 1 and not row[width].strip()
    ]
    systematic = len(trailing) > others
    kept = [(line, row[:width]) for line, row in trailing] if systematic else []
    kept_lines = {line for line, _ in kept}
    extra = 1 if systematic else 0
    rejected = [
        (
            line,
            tuple(cell.strip() for cell in row),
            f"has {len(row) - extra} fields but the header has {width} "
            f"(an unquoted {_DELIMITER_NAMES.get(delimiter, repr(delimiter))} in a value?)",
        )
        for line, row in long_rows
        if line not in kept_lines
    ]
    return kept, rejected


def _clean_header(header: Iterable[object]) -> list[str]:
    """Strip names, name blank columns and make duplicates unique (``Name.1``)."""
    columns: list[str] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(header, start=1):
        name = str(raw).strip().lstrip("\ufeff").strip() if raw is not None else ""
        if not name or name.lower() == "nan":
            name = f"column {position}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        columns.append(name)
    return columns


def _strip_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` as text with surrounding whitespace stripped and blanks NaN."""
    out = {}
    for column in frame.columns:
        cells = _as_text(frame[column]).str.strip()
        out[column] = cells.where(cells != "")
    return pd.DataFrame(out, index=frame.index)


def _as_text(values: pd.Series) -> pd.Series:
    """Return values as strings; integral floats lose their ``.0`` (Excel/GIS ids)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("str")
    if pd.api.types.is_float_dtype(values.dtype):
        text = values.astype("str")
        integral = np.isfinite(values) & (values == np.floor(values)) & (values.abs() < 1e15)
        if integral.any():
            text = text.copy()
            text[integral] = values[integral].astype("int64").astype("str")
        return text
    return values.astype("str")


def _read_excel(name: str, data: bytes) -> _Table:
    """Read the first sheet of a workbook; line numbers are sheet rows."""
    try:
        # Text such as "NA", "None" or "n/a" is read as text, as in a CSV: only
        # an empty cell is missing (one definition of missing for every format).
        sheet = pd.read_excel(
            io.BytesIO(data),
            sheet_name=0,
            header=None,
            dtype=str,
            engine="openpyxl",
            keep_default_na=False,
            na_values=[],
        )
    except Exception as err:  # openpyxl raises many types for a broken workbook
        raise UnusableFileError(f"{name}: not a readable Excel workbook ({err})") from err
    sheet = sheet.where(sheet != "").dropna(axis=1, how="all")
    if sheet.shape[1] > MAX_COLUMNS:
        raise UnusableFileError(
            f"{name}: the first sheet has {sheet.shape[1]:,} columns; a file here has at most "
            f"{MAX_COLUMNS:,}"
        )
    counts = sheet.notna().sum(axis=1).to_numpy()
    if not counts.any():
        raise UnusableFileError(f"{name}: the first sheet is empty")
    header_at = _header_row(counts)
    columns = _clean_header(sheet.iloc[header_at].tolist())
    body = sheet.iloc[header_at + 1 :]
    body.columns = columns
    frame = _strip_cells(body)
    lines = np.arange(header_at + 2, header_at + 2 + len(frame), dtype=np.int64)
    blank = frame.isna().all(axis=1).to_numpy()
    return _Table(name=name, frame=frame[~blank].reset_index(drop=True), lines=lines[~blank])


def _header_row(counts: np.ndarray) -> int:
    """Return the header row: the first row about as wide as the table.

    Report exports put a title and filter lines above the header; those rows
    fill one or two cells where the header fills all of them.
    """
    first = np.flatnonzero(counts)[:20]
    widest = counts[first].max()
    wide = first[counts[first] >= max(min(2, widest), widest / 2)]
    return int(wide[0])


def _read_geo(source_input: _Input, fmt: str) -> _Table:
    """Read a GIS file (or a plain Parquet table) and reproject it to WGS84."""
    name = source_input.name
    try:
        if source_input.path is not None:
            data = _read_geo_path(source_input.path, fmt)
        else:
            with tempfile.TemporaryDirectory(prefix="terrmap-") as folder:
                safe = re.sub(r"[^\w.-]", "_", Path(name).name) or "upload"
                if not Path(safe).suffix:
                    safe += {"vector": ".gpkg", "parquet": ".parquet"}[fmt]
                path = Path(folder) / safe
                path.write_bytes(source_input.read_bytes())
                data = _read_geo_path(path, fmt)
    except UnusableFileError as err:
        raise UnusableFileError(f"{name}: {err}") from None
    except Exception as err:  # GDAL, Arrow and zipfile raise many types for a bad file
        label = _GIS_NAMES.get(source_input.suffix, "GIS")
        # GDAL's message names a temporary path; the chained error keeps it.
        raise UnusableFileError(f"{name}: not a readable {label} file") from err

    warnings: list[str] = []
    geometry = None
    if isinstance(data, gpd.GeoDataFrame) and data.geometry.name in data.columns:
        geometry = _to_wgs84(name, data.geometry, warnings)
        attributes = data.drop(columns=[data.geometry.name])
    else:
        attributes = pd.DataFrame(data)
    attributes = attributes.reset_index(drop=True)
    attributes.columns = _clean_header(attributes.columns)
    frame = _strip_cells(attributes)
    if geometry is not None:
        geometry = geometry.reset_index(drop=True)
    return _Table(
        name=name,
        frame=frame,
        lines=np.arange(2, 2 + len(frame), dtype=np.int64),
        geometry=geometry,
        warnings=tuple(warnings),
    )


def _read_geo_path(path: Path, fmt: str) -> pd.DataFrame:
    """Read a GIS file from disk: first layer, shapefiles inside zips found."""
    if fmt == "parquet":
        try:
            return gpd.read_parquet(path)
        except ValueError as err:
            if "geo" not in str(err).lower():
                raise
            return pd.read_parquet(path)  # a plain table with lat/lon columns
    target = str(path)
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [
                m for m in archive.namelist() if not m.startswith("__MACOSX") and "/." not in m
            ]
        shapefiles = sorted(m for m in members if m.lower().endswith(".shp"))
        others = sorted(m for m in members if m.lower().endswith((".gpkg", ".geojson", ".json")))
        inner = (shapefiles or others or [None])[0]
        if inner is None:
            raise UnusableFileError("the zip file holds no shapefile (.shp)")
        if len(shapefiles) > 1:
            logger.warning("%s holds %d shapefiles; reading %s", path.name, len(shapefiles), inner)
        target = f"/vsizip/{path}/{inner}"
    return gpd.read_file(target)


def _to_wgs84(name: str, geometry: gpd.GeoSeries, warnings: list[str]) -> gpd.GeoSeries:
    """Reproject to EPSG:4326; a missing CRS is accepted only for degree coordinates."""
    if geometry.crs is None:
        finite = geometry[~(geometry.isna() | geometry.is_empty)]
        minx, miny, maxx, maxy = finite.total_bounds if len(finite) else (0, 0, 0, 0)
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise UnusableFileError(
                f"{name}: the file has no coordinate reference system (a shapefile "
                "without its .prj?) and its coordinates are not longitude/latitude degrees"
            )
        warnings.append("the file has no coordinate reference system; assumed WGS84 degrees")
        return geometry.set_crs(schema.CRS)
    if geometry.crs.equals(schema.CRS):
        return geometry
    return geometry.to_crs(schema.CRS)


def _require_location(
    name: str,
    table: _Table,
    used: Mapping[str, str],
    coordinates: tuple[str, str],
    postal: str,
) -> None:
    """Raise unless the file can place its rows somewhere."""
    has_points = table.geometry is not None
    if has_points or all(c in used for c in coordinates) or postal in used:
        return
    raise UnusableFileError(
        f"{name}: no column gives a location (latitude/longitude or ZIP); "
        f"columns are: {_shown_columns(table.columns)}"
    )


# ---------------------------------------------------------------------------
# Validation helpers


class _Problems:
    """Collect rejection reasons by row position; several reasons are joined."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._positions: list[np.ndarray] = []
        self._messages: list[list[str]] = []

    def add(self, mask: pd.Series | np.ndarray, messages: str | Iterable[str]) -> None:
        """Record ``messages`` (one, or one per True in ``mask``) against rows."""
        positions = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(positions) == 0:
            return
        texts = [messages] * len(positions) if isinstance(messages, str) else list(messages)
        assert len(texts) == len(positions)
        self._positions.append(positions)
        self._messages.append(texts)

    def mask(self) -> np.ndarray:
        """Return True for the rows with at least one problem."""
        flagged = np.zeros(self._size, dtype=bool)
        for positions in self._positions:
            flagged[positions] = True
        return flagged

    def frame(
        self,
        lines: np.ndarray,
        ids: pd.Series | None,
        extra: Iterable[tuple[int, str | None, str]] = (),
    ) -> pd.DataFrame:
        """Return the rejected-rows frame (line, id, reason), sorted by line."""
        records: dict[int, tuple[str | None, list[str]]] = {}
        for positions, texts in zip(self._positions, self._messages, strict=True):
            for position, text in zip(positions, texts, strict=True):
                line = int(lines[position])
                if line not in records:
                    rid = None if ids is None else ids.iloc[position]
                    records[line] = (None if pd.isna(rid) else str(rid), [])
                records[line][1].append(text)
        rows = [(line, rid, "; ".join(texts)) for line, (rid, texts) in records.items()]
        rows.extend(extra)
        return _rejected_frame(rows)


def _rejected_frame(rows: Iterable[tuple[int, str | None, str]]) -> pd.DataFrame:
    """Build the rejected frame with fixed dtypes, sorted by line."""
    rows = sorted(rows, key=lambda row: row[0])
    return pd.DataFrame(
        {
            "line": pd.Series([r[0] for r in rows], dtype="int64"),
            "id": pd.Series([r[1] for r in rows], dtype=object),
            "reason": pd.Series([r[2] for r in rows], dtype="str"),
        }
    )


def _malformed_extra(table: _Table, id_column: str | None) -> list[tuple[int, str | None, str]]:
    """Rejections for rows the reader could not split into the header's columns."""
    position = table.columns.index(id_column) if id_column in table.columns else None
    extra = []
    for line, cells, reason in table.malformed:
        rid = cells[position] if position is not None and position < len(cells) else None
        extra.append((line, rid or None, reason))
    return extra


def _column(table: _Table, used: Mapping[str, str], canonical: str) -> pd.Series | None:
    """Return the source column mapped to ``canonical``, or None."""
    return table.frame[used[canonical]] if canonical in used else None


def _numbers(
    table: _Table,
    used: Mapping[str, str],
    canonical: str,
    problems: _Problems,
    *,
    number_format: NumberFormat,
    percent: bool = False,
    negative: bool = True,
) -> tuple[pd.Series, pd.Series]:
    """Read a numeric column with its decided format.

    Non-numbers (and, unless allowed, negatives) are problems. Returns the
    numbers and each cell's currency (missing where it names none).
    """
    raw = _column(table, used, canonical)
    if raw is None:
        nothing = pd.Series(np.nan, index=table.frame.index, dtype="float64")
        return nothing, pd.Series(np.nan, index=table.frame.index, dtype="str")
    read = read_numbers(raw, number_format, percent=percent)
    source = used[canonical]
    shown = number_format.label if number_format.grouping else "a decimal number"
    problems.add(
        read.invalid,
        (
            f"{source} is not a number: {value!r}"
            + (f" (the column writes {shown})" if re.search(r"\d[.,' ]\d", value) else "")
            for value in raw[read.invalid]
        ),
    )
    if not negative:
        below = (read.numbers < 0).to_numpy()
        problems.add(below, (f"{source} is negative: {value!r}" for value in raw[below]))
    return read.numbers, read.currency


@dataclass(frozen=True)
class _Figure:
    """How to read one numeric canonical column."""

    money: bool = False
    percent: bool = False
    negative: bool = True


_ACCOUNT_FIGURES: dict[str, _Figure] = {
    "revenue": _Figure(money=True),
    "cost_to_serve": _Figure(money=True, negative=False),
    "revenue_last_year": _Figure(money=True),
    "visits_per_year": _Figure(negative=False),
}
_REP_FIGURES: dict[str, _Figure] = {
    key: _Figure(money=key in _REP_MONEY, percent=key in _REP_RATES, negative=False)
    for key in schema.REP_FIGURES
}


def _figures(
    table: _Table,
    used: Mapping[str, str],
    specs: Mapping[str, _Figure],
    problems: _Problems,
    warnings: list[str],
    options: NumberOptions,
) -> tuple[dict[str, pd.Series], str | None, dict[str, str]]:
    """Read the numeric columns of a file: formats decided, currencies checked.

    Returns the numbers per canonical column, the data set's currency (ISO
    code, None when neither the file nor the user names one) and the number
    format used per source column.
    """
    present = [key for key in specs if key in used]
    formats = _decide_formats(table, used, present, warnings, options)
    values: dict[str, pd.Series] = {}
    currencies: dict[str, pd.Series] = {}
    for key, spec in specs.items():
        values[key], cell_currency = _numbers(
            table,
            used,
            key,
            problems,
            number_format=formats.get(key, NumberFormat(".")),
            percent=spec.percent,
            negative=spec.negative,
        )
        if spec.money and key in used:
            stated = header_currency(used[key])
            currencies[key] = cell_currency.fillna(stated) if stated else cell_currency
    currency = _dataset_currency(currencies, options.currency)
    if currency is not None:
        for key, cell_currency in currencies.items():
            values[key] = _convert(
                table, used[key], values[key], cell_currency, currency, options, problems
            )
    used_formats = {used[key]: formats[key].label for key in present if key in formats}
    return values, currency, used_formats


def _decide_formats(
    table: _Table,
    used: Mapping[str, str],
    keys: list[str],
    warnings: list[str],
    options: NumberOptions,
) -> dict[str, NumberFormat]:
    """Decide each column's number format; guesses follow the file's firm decisions."""
    if options.number_format is not None:
        return dict.fromkeys(keys, NumberFormat.parse(options.number_format))
    decided: dict[str, tuple[NumberFormat, bool]] = {}
    for key in keys:
        try:
            decided[key] = decide_format(table.frame[used[key]], column=used[key])
        except AmbiguousNumbersError as error:
            raise UnusableFileError(f"{table.name}: {error}") from None
    firm = [fmt for fmt, guessed in decided.values() if not guessed]
    firm_marks = {fmt.decimal for fmt in firm}
    hint = None
    if len(firm_marks) == 1:
        hint = firm[0]
    elif not firm_marks and table.decimal_comma:
        hint = NumberFormat(",")
    formats = {}
    for key, (fmt, guessed) in decided.items():
        if guessed and hint is not None:
            fmt = hint
        elif guessed:
            raw = table.frame[used[key]]
            grouped = raw[raw.str.contains(r"\d[.,]\d{3}(?!\d)", regex=True, na=False)]
            warnings.append(
                f"{used[key]}: {', '.join(repr(v) for v in grouped.iloc[:3])} read as whole "
                f"thousands ({fmt.label}); if that mark is a decimal point, state the number format"
            )
        formats[key] = fmt
    return formats


def _dataset_currency(currencies: Mapping[str, pd.Series], stated: str | None) -> str | None:
    """Return the currency stated by the user, else the one most cells name."""
    if stated is not None:
        code = stated.strip().upper()
        if code not in CURRENCY_CODES:
            raise ValueError(f"unknown currency {stated!r}: give an ISO 4217 code such as EUR")
        return code
    named = pd.concat([c.dropna() for c in currencies.values()]) if currencies else None
    if named is None or named.empty:
        return None
    counts = named.value_counts(sort=False)
    return str(counts.idxmax())


def _convert(
    table: _Table,
    source: str,
    numbers: pd.Series,
    cell_currency: pd.Series,
    currency: str,
    options: NumberOptions,
    problems: _Problems,
) -> pd.Series:
    """Convert amounts in other currencies with the given rates; reject the rest."""
    foreign = (cell_currency.notna() & (cell_currency != currency)).to_numpy()
    if not foreign.any():
        return numbers
    rates = {code.upper(): float(rate) for code, rate in (options.rates or {}).items()}
    codes = cell_currency[foreign]
    rate = codes.map(rates).astype("float64")
    converted = numbers.copy()
    has_rate = rate.notna().to_numpy()
    positions = np.flatnonzero(foreign)
    converted.iloc[positions[has_rate]] = (
        numbers.iloc[positions[has_rate]].to_numpy() * rate.to_numpy()[has_rate]
    )
    missing = np.zeros(len(numbers), dtype=bool)
    missing[positions[~has_rate]] = True
    raw = table.frame[source]
    problems.add(
        missing,
        (
            f"{source} is in {code} ({value!r}) but the data set is in {currency}; "
            f"give an exchange rate ({code}=...) to convert it"
            for code, value in zip(cell_currency[missing], raw[missing], strict=True)
        ),
    )
    return converted


def _ids(table: _Table, used: Mapping[str, str], id_key: str, problems: _Problems) -> pd.Series:
    """Return the id column, rejecting blanks and later duplicates."""
    ids = table.frame[used[id_key]]
    problems.add(ids.isna(), "missing id")
    duplicate = (ids.notna() & ids.duplicated(keep="first")).to_numpy()
    if duplicate.any():
        first = pd.Series(table.lines, index=ids.to_numpy()).groupby(level=0).first()
        problems.add(
            duplicate,
            (f"duplicate id {rid!r} (first on line {first[rid]})" for rid in ids[duplicate]),
        )
    return ids


def _text(values: pd.Series | None, size: int, default: object) -> pd.Series:
    """Return a text column filled with ``default`` where blank or absent."""
    if values is None:
        return pd.Series([default] * size, dtype="str")
    values = values.reset_index(drop=True)
    return values if default is None else values.fillna(default)


def _locate(
    table: _Table,
    used: Mapping[str, str],
    problems: _Problems,
    *,
    lat_key: str,
    lon_key: str,
    zip_key: str,
    required: bool = False,
) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """Place rows by coordinates (or point geometry), else by ZIP centroid.

    Returns lat, lon, location source (``"coordinates"``/``"zip"``/NaN) and
    the normalised ZIP.
    """
    index = table.frame.index
    lat, _ = _numbers(table, used, lat_key, problems, number_format=_COORDINATES)
    lon, _ = _numbers(table, used, lon_key, problems, number_format=_COORDINATES)
    # A row whose coordinate is not a number is already rejected for it; it
    # must not also look for a ZIP or be reported as having no location.
    unreadable = np.zeros(len(index), dtype=bool)
    for key, values in ((lat_key, lat), (lon_key, lon)):
        raw = _column(table, used, key)
        if raw is not None:
            unreadable |= (raw.notna() & values.isna()).to_numpy()
    if table.geometry is not None:
        px, py = _point_coordinates(table.geometry)
        has_point = ~np.isnan(px)
        lat = lat.where(~has_point, py)
        lon = lon.where(~has_point, px)

    null_island = ((lat == 0) & (lon == 0)).to_numpy()
    given = (lat.notna() & lon.notna()).to_numpy() & ~null_island
    bad_lat = given & ~lat.between(-90, 90).to_numpy()
    bad_lon = given & ~lon.between(-180, 180).to_numpy()
    problems.add(
        bad_lat, (f"latitude out of range: {v:g} (must be -90 to 90)" for v in lat[bad_lat])
    )
    problems.add(
        bad_lon, (f"longitude out of range: {v:g} (must be -180 to 180)" for v in lon[bad_lon])
    )

    raw_zip = _column(table, used, zip_key)
    postal = (
        normalise_zip(raw_zip) if raw_zip is not None else pd.Series(np.nan, index, dtype="str")
    )
    source = pd.Series(np.where(given, "coordinates", None), index=index, dtype="str")
    need = ~given & ~unreadable
    if raw_zip is not None:
        has_zip = raw_zip.notna().to_numpy()
        lookup = need & has_zip
        if lookup.any():
            centroids = zip_centroids(postal[lookup])
            found = centroids["lat"].notna().to_numpy()
            hit = np.flatnonzero(lookup)[found]
            lat = lat.copy()
            lon = lon.copy()
            lat.iloc[hit] = centroids["lat"].to_numpy()[found]
            lon.iloc[hit] = centroids["lon"].to_numpy()[found]
            source.iloc[hit] = "zip"
            miss = np.zeros(len(index), dtype=bool)
            miss[np.flatnonzero(lookup)[~found]] = True
            problems.add(miss, (f"unknown ZIP {value!r}" for value in raw_zip[miss]))
        need = need & ~has_zip
    if required:
        why = "no location: no coordinates" + ("" if raw_zip is None else " and no ZIP")
        problems.add(need & ~null_island, why)
        problems.add(need & null_island, why.replace("no coordinates", "coordinates are 0, 0"))
    unplaced = need | bad_lat | bad_lon
    lat = lat.where(~unplaced)
    lon = lon.where(~unplaced)
    return lat, lon, source, postal


def _point_coordinates(geometry: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """Return x, y of each geometry's point (representative point if not a point)."""
    values = geometry.to_numpy()
    usable = ~(shapely.is_missing(values) | shapely.is_empty(values))
    points = np.full(len(values), None, dtype=object)
    is_point = usable & (shapely.get_type_id(values) == 0)
    points[is_point] = values[is_point]
    other = usable & ~is_point
    if other.any():
        points[other] = shapely.point_on_surface(values[other])
    x = np.full(len(values), np.nan)
    y = np.full(len(values), np.nan)
    x[usable] = shapely.get_x(points[usable])
    y[usable] = shapely.get_y(points[usable])
    return x, y


# ---------------------------------------------------------------------------
# Builders


def _build_accounts(table: _Table, used: dict[str, str], options: NumberOptions) -> AccountsLoad:
    """Validate, compute and assemble the accounts frame."""
    size = len(table.frame)
    problems = _Problems(size)
    warnings = list(table.warnings)
    defaults = schema.ACCOUNT_DEFAULTS

    if schema.ACCOUNT_ID in used:
        ids = _ids(table, used, schema.ACCOUNT_ID, problems)
        reported_ids: pd.Series | None = ids
    else:
        ids = pd.Series([f"line-{line}" for line in table.lines], dtype="str")
        reported_ids = None
        warnings.append("no id column: account ids were made from line numbers (line-2, ...)")

    lat, lon, location_source, postal = _locate(
        table, used, problems, lat_key="lat", lon_key="lon", zip_key="postal_code", required=True
    )

    figures, currency, formats = _figures(
        table, used, _ACCOUNT_FIGURES, problems, warnings, options
    )
    revenue, cost = figures["revenue"], figures["cost_to_serve"]
    last_year, visits = figures["revenue_last_year"], figures["visits_per_year"]

    stage = _coded(table, used, "stage", parse_stages, problems, "lead, opportunity or customer")
    tier = _coded(table, used, "tier", parse_tiers, problems, "A, B or C")
    is_new = _flags(table, used, "is_new", problems, size)

    names = _text(_column(table, used, "name"), size, None)
    names = names.fillna(ids.reset_index(drop=True))

    keep = ~problems.mask()
    if "revenue" not in used:
        warnings.append("no revenue column: revenue set to 0")
    else:
        blank = int((revenue.isna() & keep).sum())
        if blank:
            warnings.append(f"{_count(blank, 'account')} without revenue; counted as 0")
    negative = int(((revenue < 0) & keep).sum())
    if negative:
        warnings.append(f"{_count(negative, 'account')} with negative revenue (loaded as given)")
    given = keep & (location_source == "coordinates").to_numpy()
    warnings.extend(
        coordinate_warnings(
            lat[given], lon[given], table.lines[given], postal=postal[given].reset_index(drop=True)
        )
    )

    tier_visits = tier.map(schema.TIER_VISITS).astype("float64")
    accounts = pd.DataFrame(
        {
            "name": names,
            "lat": lat,
            "lon": lon,
            "location_source": location_source,
            "postal_code": postal,
            "revenue": revenue.fillna(0.0),
            "cost_to_serve": cost.fillna(defaults["cost_to_serve"]),
            "industry": _text(_column(table, used, "industry"), size, defaults["industry"]),
            "segment": _text(_column(table, used, "segment"), size, defaults["segment"]),
            "products": _text(_column(table, used, "products"), size, defaults["products"]),
            "stage": stage.fillna(defaults["stage"]),
            "is_new": is_new,
            "revenue_last_year": last_year.fillna(defaults["revenue_last_year"]),
            "visits_per_year": visits.fillna(tier_visits).fillna(defaults["visits_per_year"]),
            "tier": tier,
            "owner": _text(_column(table, used, "owner"), size, defaults["owner"]),
        },
        index=table.frame.index,
    )
    accounts.index = pd.Index(ids.reset_index(drop=True), dtype="str", name=schema.ACCOUNT_ID)
    accounts = accounts[keep][list(schema.ACCOUNT_COLUMNS)]
    accounts.attrs["currency"] = currency

    rejected = problems.frame(
        table.lines, reported_ids, _malformed_extra(table, used.get(schema.ACCOUNT_ID))
    )
    _log(table.name, "accounts", len(accounts), rejected, warnings)
    return AccountsLoad(
        accounts=accounts,
        rejected=rejected,
        rows=size + len(table.malformed),
        mapping=dict(used),
        source_columns=table.columns,
        warnings=tuple(warnings),
        currency=currency,
        number_formats=formats,
    )


def _build_reps(table: _Table, used: dict[str, str], options: NumberOptions) -> RepsLoad:
    """Validate, compute and assemble the reps frame."""
    size = len(table.frame)
    problems = _Problems(size)
    warnings = list(table.warnings)
    id_key = schema.REP_ID if schema.REP_ID in used else "name"
    ids = _ids(table, used, id_key, problems)
    if id_key == "name":
        warnings.append("no rep id column: rep names are used as ids")

    lat, lon, _source, postal = _locate(
        table, used, problems, lat_key="home_lat", lon_key="home_lon", zip_key="home_zip"
    )
    figures, currency, formats = _figures(table, used, _REP_FIGURES, problems, warnings, options)

    towns = _text(_column(table, used, "home_town"), size, None)
    if postal.notna().any():
        places = zip_table(standard_only=False).set_index("zip")
        place = postal.map(places["city"] + ", " + places["state"]).astype("str")
        towns = towns.fillna(place.where(lat.notna()))

    keep = ~problems.mask()
    homeless = int((lat.isna() & keep).sum())
    if homeless:
        warnings.append(f"{_count(homeless, 'rep')} without a home base (no coordinates or ZIP)")

    reps = pd.DataFrame(
        {
            "name": _text(_column(table, used, "name"), size, None).fillna(ids),
            "home_town": towns,
            "home_lat": lat,
            "home_lon": lon,
            **figures,
        },
        index=table.frame.index,
    )
    reps.index = pd.Index(ids.reset_index(drop=True), dtype="str", name=schema.REP_ID)
    reps = reps[keep][list(schema.REP_COLUMNS)]
    reps.attrs["currency"] = currency
    rejected = problems.frame(table.lines, ids, _malformed_extra(table, used.get(id_key)))
    _log(table.name, "reps", len(reps), rejected, warnings)
    return RepsLoad(
        reps=reps,
        rejected=rejected,
        rows=size + len(table.malformed),
        mapping=dict(used),
        source_columns=table.columns,
        warnings=tuple(warnings),
        currency=currency,
        number_formats=formats,
    )


def _territory_fields(table: _Table, given: Mapping[str, str | None]) -> dict[str, str]:
    """Resolve the id/name/rep/region fields: given, guessed, or fallbacks."""
    for canonical, source in given.items():
        if source is not None and source not in table.columns:
            raise ValueError(
                f"{table.name}: no field {source!r} for the territory {canonical}; "
                f"fields are: {_shown_columns(table.columns) or '(none)'}"
            )
    explicit = {c: s for c, s in given.items() if s is not None}
    guessed = {
        c: s
        for c, s in guess_mapping(table.columns, "territories").items()
        if c not in explicit and s not in explicit.values()
    }
    used = {**guessed, **explicit}
    if schema.TERRITORY_ID not in used:
        fallback = used.get("name") or _unique_text_field(table)
        if fallback is not None:
            used[schema.TERRITORY_ID] = fallback
    order = (schema.TERRITORY_ID, "name", "rep_id", "region")
    return {c: used[c] for c in order if c in used}


def _unique_text_field(table: _Table) -> str | None:
    """Return the first non-numeric field whose values are present and unique."""
    for column in table.columns:
        values = table.frame[column]
        numeric = parse_numbers(values)[0].notna().all()
        if values.notna().all() and values.is_unique and not numeric:
            return column
    return None


def _build_territories(table: _Table, used: dict[str, str], *, dissolve: bool) -> TerritoriesLoad:
    """Validate, repair and assemble the territories frame."""
    size = len(table.frame)
    problems = _Problems(size)
    warnings = list(table.warnings)
    assert table.geometry is not None

    if schema.TERRITORY_ID in used:
        ids = table.frame[used[schema.TERRITORY_ID]]
        problems.add(ids.isna(), "missing id")
    else:
        ids = pd.Series([str(n) for n in range(1, size + 1)], dtype="str")
        warnings.append("no id or name field: territory ids are feature numbers (1, 2, ...)")

    geometry, geometry_problems = _polygons(table.geometry.to_numpy())
    problems.add(geometry_problems.notna().to_numpy(), geometry_problems.dropna().tolist())

    if not dissolve:
        duplicate = (ids.notna() & ids.duplicated(keep="first")).to_numpy()
        if duplicate.any():
            first = pd.Series(table.lines, index=ids.to_numpy()).groupby(level=0).first()
            problems.add(
                duplicate,
                (
                    f"duplicate id {rid!r} (first on line {first[rid]}; "
                    "load with dissolve=True to merge features sharing an id)"
                    for rid in ids[duplicate]
                ),
            )

    names = _text(_column(table, used, "name"), size, None).fillna(ids)
    territories = gpd.GeoDataFrame(
        {
            "name": names,
            "rep_id": _text(_column(table, used, "rep_id"), size, None),
            "region": _text(_column(table, used, "region"), size, None),
            "geometry": gpd.GeoSeries(geometry, crs=schema.CRS),
        },
        geometry="geometry",
        crs=schema.CRS,
    )
    territories.index = pd.Index(ids, dtype="str", name=schema.TERRITORY_ID)
    keep = ~problems.mask()
    territories = territories[keep]
    if dissolve and territories.index.has_duplicates:
        territories = _dissolve(territories)
        warnings.append(f"features sharing an id were merged into {len(territories)} territories")
    territories = territories[list(schema.TERRITORY_COLUMNS)]

    rejected = problems.frame(table.lines, ids if schema.TERRITORY_ID in used else None)
    _log(table.name, "territories", len(territories), rejected, warnings)
    return TerritoriesLoad(
        territories=territories,
        rejected=rejected,
        rows=size,
        mapping=dict(used),
        source_columns=table.columns,
        warnings=tuple(warnings),
    )


def _polygons(values: np.ndarray) -> tuple[np.ndarray, pd.Series]:
    """Repair geometries and keep their polygonal part.

    Returns the repaired 2-D geometries and, per feature, the reason it
    cannot be a territory (NaN when it can).
    """
    reasons = pd.Series(np.nan, index=range(len(values)), dtype="str")
    missing = shapely.is_missing(values)
    empty = shapely.is_empty(values)
    reasons[missing] = "no geometry"
    reasons[empty] = "empty geometry"
    geometry = np.array(values, dtype=object)
    usable = ~missing & ~empty
    geometry[usable] = shapely.force_2d(geometry[usable])

    types = shapely.get_type_id(geometry)
    areal = np.isin(types, (_POLYGON, _MULTIPOLYGON, _COLLECTION))
    not_area = usable & ~areal
    reasons[not_area] = [f"geometry is a {g.geom_type}, not a polygon" for g in geometry[not_area]]
    candidates = usable & areal
    invalid = candidates & ~shapely.is_valid(geometry)
    if invalid.any():
        geometry[invalid] = shapely.make_valid(geometry[invalid])
    # make_valid (and GeometryCollections) can mix lines or points with the area.
    mixed = candidates & ~np.isin(shapely.get_type_id(geometry), (_POLYGON, _MULTIPOLYGON))
    for position in np.flatnonzero(mixed):
        parts = shapely.get_parts(geometry[position])
        parts = parts[np.isin(shapely.get_type_id(parts), (_POLYGON, _MULTIPOLYGON))]
        geometry[position] = shapely.union_all(parts) if len(parts) else None
    no_area = candidates & (shapely.is_missing(geometry) | ~(shapely.area(geometry) > 0))
    reasons[no_area] = "geometry has no area (even after repair)"
    geometry[~usable | not_area | no_area] = None
    return geometry, reasons


def _dissolve(territories: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Merge rows sharing an index value; attributes come from the first."""
    grouped = territories.groupby(level=0, sort=False)
    first = grouped[["name", "rep_id", "region"]].first()
    shapes = grouped["geometry"].agg(lambda parts: shapely.union_all(parts.to_numpy()))
    merged = gpd.GeoDataFrame(first, geometry=gpd.GeoSeries(shapes, crs=schema.CRS))
    merged.index.name = schema.TERRITORY_ID
    return merged


def _coded(
    table: _Table,
    used: Mapping[str, str],
    canonical: str,
    parser,
    problems: _Problems,
    expected: str,
) -> pd.Series:
    """Parse a coded text column (stage, tier); unknown codes become problems."""
    raw = _column(table, used, canonical)
    if raw is None:
        return pd.Series(np.nan, index=table.frame.index, dtype="str")
    values, invalid = parser(raw)
    problems.add(
        invalid, (f"unknown {canonical} {value!r} (expected {expected})" for value in raw[invalid])
    )
    return values


def _flags(
    table: _Table, used: Mapping[str, str], canonical: str, problems: _Problems, size: int
) -> pd.Series:
    """Parse a yes/no column; absent means False."""
    raw = _column(table, used, canonical)
    if raw is None:
        return pd.Series(bool(schema.ACCOUNT_DEFAULTS[canonical]), index=range(size), dtype=bool)
    values, invalid = parse_flags(raw)
    source = used[canonical]
    problems.add(invalid, (f"{source} is not yes/no: {value!r}" for value in raw[invalid]))
    return values


def _shown_columns(columns: Iterable[str], limit: int = 30, width: int = 60) -> str:
    """Column names for a message: at most ``limit`` of them, each cut to ``width``."""
    columns = list(columns)
    shown = [c if len(c) <= width else c[: width - 1] + "…" for c in columns[:limit]]
    more = len(columns) - limit
    return ", ".join(shown) + (f" and {more:,} more" if more > 0 else "")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _log(name: str, what: str, loaded: int, rejected: pd.DataFrame, warnings: list[str]) -> None:
    logger.info("%s: %d %s loaded, %d rejected", name, loaded, what, len(rejected))
    for warning in warnings:
        logger.warning("%s: %s", name, warning)
