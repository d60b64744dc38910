"""Offline US ZIP code centroids, from the ``zipcodes`` package.

The package ships about 43,000 ZIP records. Asking it one ZIP at a time is
far too slow for a 100,000-row CRM export, so the records are turned into a
DataFrame once (cached) and every lookup is a vectorised reindex.

Military and some overseas ZIPs carry ``0, 0`` as their position in the
package data; those are treated as having no known location.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd

__all__ = ["normalise_zip", "zip_centroids", "zip_table"]

_TABLE_COLUMNS = ["zip", "city", "state", "lat", "lon", "zip_type", "active"]

# 5 digits, ZIP+4 with a dash or space, ZIP+4 without a separator, 1-4 digits
# (an Excel number that lost its leading zeros) and any of those as a float
# (``2139.0``) because spreadsheets store ZIP codes as numbers.
_ZIP_RE = re.compile(r"^(?P<digits>\d{1,5})(?:\.0+|[- ]\d{4}|(?P<plus4>\d{4}))?$")


@functools.cache
def _all_zips() -> pd.DataFrame:
    """Return every ZIP record of the package as a DataFrame (read once)."""
    import zipcodes  # imported lazily: the package materialises 43k dicts

    records = zipcodes.list_all()
    frame = pd.DataFrame.from_records(
        records, columns=["zip_code", "city", "state", "lat", "long", "zip_code_type", "active"]
    ).rename(columns={"zip_code": "zip", "long": "lon", "zip_code_type": "zip_type"})
    frame["lat"] = pd.to_numeric(frame["lat"], errors="coerce")
    frame["lon"] = pd.to_numeric(frame["lon"], errors="coerce")
    unplaced = (frame["lat"] == 0) & (frame["lon"] == 0)
    frame.loc[unplaced, ["lat", "lon"]] = np.nan
    frame["active"] = frame["active"].astype(bool)
    return frame[_TABLE_COLUMNS].drop_duplicates("zip").reset_index(drop=True)


@functools.cache
def _centroid_lookup() -> pd.DataFrame:
    """Return the ZIP → (lat, lon) lookup indexed by 5-digit ZIP."""
    table = _all_zips()
    placed = table[table["lat"].notna() & table["lon"].notna()]
    return placed.set_index("zip")[["lat", "lon"]]


def zip_table(*, standard_only: bool = True) -> pd.DataFrame:
    """Return the US ZIP codes with their city, state and centroid.

    Parameters
    ----------
    standard_only : bool, default True
        Keep only active ``STANDARD`` ZIP codes (the ones that cover an area
        where people live and work). ``False`` returns every ZIP that has a
        known position, including PO boxes, unique (single-organisation),
        military and retired ZIP codes.

    Returns
    -------
    pandas.DataFrame
        Columns ``zip`` (5-digit string), ``city``, ``state``, ``lat``,
        ``lon`` (WGS84 degrees), ``zip_type`` and ``active``; a fresh copy
        that the caller may modify.

    Examples
    --------
    >>> table = zip_table()
    >>> table.loc[table["zip"] == "02139", ["city", "state"]].iloc[0].tolist()
    ['Cambridge', 'MA']
    """
    table = _all_zips()
    keep = table["lat"].notna() & table["lon"].notna()
    if standard_only:
        keep &= (table["zip_type"] == "STANDARD") & table["active"]
    return table[keep].reset_index(drop=True).copy()


def normalise_zip(values: pd.Series) -> pd.Series:
    """Turn ZIP codes as CRM exports write them into 5-digit strings.

    Accepts ``02139``, ZIP+4 (``02139-4307``, ``02139 4307``,
    ``021394307``), numbers that lost their leading zeros in a spreadsheet
    (``2139`` → ``02139``, ``2139.0``) and surrounding whitespace. Anything
    else (blank, Canadian or UK postcodes, free text) becomes missing.
    Whether the ZIP exists is not checked here; see :func:`zip_centroids`.

    Parameters
    ----------
    values : pandas.Series
        ZIP codes as text or numbers. Not modified.

    Returns
    -------
    pandas.Series
        String series with the same index, ``<NA>``/NaN where the value is
        not a US ZIP code.

    Examples
    --------
    >>> normalise_zip(pd.Series(["02139-4307", "2139", 2139.0, "SW1A 1AA", None])).tolist()
    ['02139', '02139', '02139', nan, nan]
    """
    text = _as_text(values).str.strip()
    clean = text.where(text.str.fullmatch(r"\d{5}").fillna(False))
    # Only the irregular values go through the (much slower) regex extract.
    odd = clean.isna() & text.notna()
    if odd.any():
        parts = text[odd].str.extract(_ZIP_RE)
        # A 9-digit run is ZIP+4 without a dash; only then are the first 5 the ZIP.
        digits = parts["digits"].where(parts["plus4"].isna() | (parts["digits"].str.len() == 5))
        clean = clean.astype("str")
        clean[odd] = digits.str.zfill(5)
    return clean.astype("str").rename(values.name)


def zip_centroids(zips: pd.Series) -> pd.DataFrame:
    """Look up the centroid of each US ZIP code.

    Parameters
    ----------
    zips : pandas.Series
        ZIP codes in any form :func:`normalise_zip` accepts. Not modified.

    Returns
    -------
    pandas.DataFrame
        Columns ``lat`` and ``lon`` (WGS84 degrees) with the index of
        ``zips``; NaN where the ZIP is malformed, unknown or has no position.

    Examples
    --------
    >>> zip_centroids(pd.Series(["02139", "00000"])).round(2).values.tolist()
    [[42.36, -71.1], [nan, nan]]
    """
    clean = normalise_zip(zips)
    found = _centroid_lookup().reindex(clean.to_numpy())
    return pd.DataFrame(
        {"lat": found["lat"].to_numpy(), "lon": found["lon"].to_numpy()}, index=zips.index
    )


def _as_text(values: pd.Series) -> pd.Series:
    """Return ``values`` as strings, integral floats without their ``.0``."""
    if pd.api.types.is_float_dtype(values.dtype):
        finite = values.where(np.isfinite(values))
        integral = finite.where(finite == np.floor(finite))
        return integral.astype("Int64").astype("str")
    return values.astype("str")
