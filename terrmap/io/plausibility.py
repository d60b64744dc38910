"""Coordinates that load but look wrong: warnings, never rejections.

A row within range can still be misplaced. Three checks a careful person
makes when looking at the points on a map:

* **swapped latitude/longitude**: Boston written as lat -71.06, lon 42.36 is
  in range, but it is 8,000 km from its ZIP code; swapped, it sits on it;
* **far from every other point**: one account on another continent than all
  the rest (a sign error, a typo of a digit);
* **many accounts on one spot**: a geocoder that put every address it could
  not find at a city or country centre.

:func:`coordinate_warnings` returns one message per finding, naming the
lines, so the user can fix the file; the rows stay loaded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from terrmap.core.travel import haversine_km
from terrmap.geo.zipgeo import zip_centroids

__all__ = [
    "FAR_KM",
    "SAME_SPOT_MIN",
    "SWAP_FAR_KM",
    "SWAP_NEAR_KM",
    "coordinate_warnings",
]

#: A point is swapped when it is farther than this from its ZIP's centre...
SWAP_FAR_KM = 500.0
#: ...and the swapped pair lies within this of it.
SWAP_NEAR_KM = 60.0
#: A point whose nearest other point is farther than this (and than 20 times
#: the usual nearest-neighbour distance) is far from every other point.
FAR_KM = 1_000.0
#: This many accounts (and at least 2 % of them) on the very same coordinates.
SAME_SPOT_MIN = 5

_EARTH_KM = 6371.0088
_SHOWN = 5


def coordinate_warnings(
    lat: pd.Series,
    lon: pd.Series,
    lines: np.ndarray,
    *,
    postal: pd.Series | None = None,
) -> list[str]:
    """Return warnings about coordinates that look wrong.

    Parameters
    ----------
    lat, lon : pandas.Series
        Coordinates given in the file (NaN where a row has none), one per
        loaded row. Not modified.
    lines : numpy.ndarray
        The file line of each row, for the messages.
    postal : pandas.Series, optional
        Normalised ZIP code per row (missing where none), to test swaps.

    Returns
    -------
    list of str
        One message per finding; empty when all looks right.

    Examples
    --------
    >>> lat = pd.Series([-71.06, 42.36])
    >>> lon = pd.Series([42.36, -71.06])
    >>> coordinate_warnings(lat, lon, np.array([2, 3]), postal=pd.Series(["02108", "02108"]))
    ['1 account looks like latitude and longitude swapped (it lands on its ZIP code when swapped): line 2']
    """
    lat = np.asarray(lat, dtype="float64")
    lon = np.asarray(lon, dtype="float64")
    lines = np.asarray(lines)
    placed = np.isfinite(lat) & np.isfinite(lon)
    warnings: list[str] = []
    swapped = np.zeros(len(lat), dtype=bool)
    if postal is not None:
        swapped = _swapped(lat, lon, placed, postal)
        if swapped.any():
            warnings.append(
                f"{_accounts(swapped.sum())} like latitude and longitude swapped (it lands on "
                f"its ZIP code when swapped): {_lines(lines[swapped])}"
            )
    far = _far(lat, lon, placed & ~swapped)
    if far.any():
        warnings.append(
            f"{_accounts(far.sum())} far from every other account (over {FAR_KM:,.0f} km from "
            f"the nearest one; a sign or digit wrong?): {_lines(lines[far])}"
        )
    for (spot_lat, spot_lon), members in _same_spot(lat, lon, placed):
        warnings.append(
            f"{len(members)} accounts share the coordinates {spot_lat:g}, {spot_lon:g} "
            f"(geocoded to a default point?): {_lines(lines[members])}"
        )
    return warnings


def _swapped(lat: np.ndarray, lon: np.ndarray, placed: np.ndarray, postal: pd.Series) -> np.ndarray:
    """Flag rows far from their ZIP centre that land on it with lat and lon swapped."""
    codes = pd.Series(np.asarray(postal, dtype=object))
    candidate = placed & codes.notna().to_numpy() & (np.abs(lon) <= 90)
    result = np.zeros(len(lat), dtype=bool)
    if not candidate.any():
        return result
    centres = zip_centroids(codes[candidate].astype("str"))
    c_lat, c_lon = centres["lat"].to_numpy(), centres["lon"].to_numpy()
    given = haversine_km(lon[candidate], lat[candidate], c_lon, c_lat)
    turned = haversine_km(lat[candidate], lon[candidate], c_lon, c_lat)
    hit = np.isfinite(given) & (given > SWAP_FAR_KM) & (turned < SWAP_NEAR_KM)
    result[np.flatnonzero(candidate)[hit]] = True
    return result


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi, lam = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


def _far(lat: np.ndarray, lon: np.ndarray, placed: np.ndarray) -> np.ndarray:
    """Flag rows whose nearest other row is far away, by absolute and relative measure."""
    result = np.zeros(len(lat), dtype=bool)
    positions = np.flatnonzero(placed)
    if len(positions) < 10:
        return result
    points = _unit_vectors(lat[positions], lon[positions])
    distance, _ = cKDTree(points).query(points, k=2)
    chord = distance[:, 1]
    nearest_km = 2 * _EARTH_KM * np.arcsin(np.clip(chord / 2, 0, 1))
    usual = float(np.median(nearest_km))
    result[positions[nearest_km > max(FAR_KM, 20 * usual)]] = True
    return result


def _same_spot(
    lat: np.ndarray, lon: np.ndarray, placed: np.ndarray
) -> list[tuple[tuple[float, float], np.ndarray]]:
    """Return the groups of rows on the very same coordinates, when a group is large."""
    positions = np.flatnonzero(placed)
    if len(positions) == 0:
        return []
    spots = pd.DataFrame({"lat": lat[positions].round(6), "lon": lon[positions].round(6)})
    sizes = spots.groupby(["lat", "lon"], sort=False).size()
    threshold = max(SAME_SPOT_MIN, int(np.ceil(0.02 * len(positions))))
    crowded = sizes[sizes >= threshold].sort_values(ascending=False)
    groups = []
    for spot in crowded.index:
        members = positions[((spots["lat"] == spot[0]) & (spots["lon"] == spot[1])).to_numpy()]
        groups.append((spot, members))
    return groups


def _accounts(count: int) -> str:
    return f"{count} account looks" if count == 1 else f"{count} accounts look"


def _lines(lines: np.ndarray) -> str:
    shown = ", ".join(str(int(line)) for line in lines[:_SHOWN])
    more = len(lines) - _SHOWN
    word = "line" if len(lines) == 1 else "lines"
    return f"{word} {shown}" + (f" and {more:,} more" if more > 0 else "")
