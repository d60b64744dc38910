"""Offline travel model: how far and how long a rep drives to serve a territory.

No routing API is used. Road distance is approximated as the great-circle
distance times a *circuity factor* (roads are not straight; 1.2-1.3 is the
usual range for US road networks, Ballou et al. 2002). Time is distance over
an average door-to-door speed.

Two annual figures are computed per territory:

``direct_km``
    Every visit as an out-and-back trip from the rep's home base:
    ``sum(visits_i * 2 * d(home, i)) * circuity``. Additive per account and an
    upper bound, because reps chain several visits into one day.
``travel_km``
    A tour-based estimate after Daganzo (1984), "The distance traveled to
    visit N points with a maximum of C stops per vehicle": the rep makes
    ``N / s`` day trips for ``N`` annual visits at ``s`` stops a day; each
    trip costs the line-haul ``2 * r`` to the visited zone (``r`` the
    visit-weighted mean distance from home) plus a local tour whose length
    follows Beardwood-Halton-Hammersley, ``k * sqrt(n * A)``; summed over
    the year the local part is ``k * sqrt(N * A)`` with ``A`` the area the
    accounts cover (their convex hull). ``k = 0.85`` is the constant
    reported for territory-sized tours with few stops, above the asymptotic
    0.7124. The tables show ``travel_km`` because it is what a rep who plans
    days actually drives; ``direct_km`` is kept for comparison.

Workload is visit hours (visits times the time on site) plus travel hours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "EARTH_RADIUS_KM",
    "TravelParams",
    "haversine_km",
    "tour_km",
    "unit_vectors",
]

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class TravelParams:
    """Parameters of the travel model.

    Parameters
    ----------
    circuity : float
        Road distance divided by great-circle distance.
    speed_kmh : float
        Average door-to-door driving speed in km/h.
    visit_hours : float
        Time spent on site per visit, in hours.
    stops_per_day : float
        Visits a rep makes on one day trip.
    bhh_k : float
        Beardwood-Halton-Hammersley constant for the local tour.
    """

    circuity: float = 1.25
    speed_kmh: float = 60.0
    visit_hours: float = 1.5
    stops_per_day: float = 4.0
    bhh_k: float = 0.85

    def __post_init__(self) -> None:
        for name in ("circuity", "speed_kmh", "visit_hours", "stops_per_day", "bhh_k"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"TravelParams.{name} must be a positive number, got {value!r}")
        if self.circuity < 1:
            raise ValueError(f"TravelParams.circuity must be at least 1, got {self.circuity!r}")


def haversine_km(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance in km between points given in degrees.

    Parameters
    ----------
    lon1, lat1, lon2, lat2 : array_like
        Coordinates in WGS84 degrees; broadcast against each other.

    Returns
    -------
    numpy.ndarray
        Distances in kilometres.

    Examples
    --------
    >>> round(float(haversine_km(-71.06, 42.36, -73.99, 40.73)), 0)  # Boston-New York
    306.0
    """
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2)
    )
    a = (
        np.sin((lat2 - lat1) / 2.0) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2.0) ** 2
    )
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def unit_vectors(lon, lat) -> np.ndarray:
    """Points on the unit sphere, for nearest-neighbour searches in 3-D (a KD-tree).

    The straight-line (chord) order of unit vectors is the great-circle order,
    so the nearest in 3-D is the nearest on Earth.

    Parameters
    ----------
    lon, lat : array_like
        Coordinates in WGS84 degrees.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, 3)``.
    """
    lon_r = np.radians(np.asarray(lon, dtype=float))
    lat_r = np.radians(np.asarray(lat, dtype=float))
    return np.column_stack(
        [np.cos(lat_r) * np.cos(lon_r), np.cos(lat_r) * np.sin(lon_r), np.sin(lat_r)]
    )


def tour_km(visits, mean_distance_km, area_km2, params: TravelParams) -> np.ndarray:
    """Annual road km of a territory by the tour-based (Daganzo/BHH) estimate.

    Parameters
    ----------
    visits : array_like
        Annual visits ``N`` per territory.
    mean_distance_km : array_like
        Visit-weighted mean great-circle distance from home to the accounts.
    area_km2 : array_like
        Area the accounts cover.
    params : TravelParams
        Model parameters.

    Returns
    -------
    numpy.ndarray
        Annual road kilometres, 0 where there are no visits.

    Examples
    --------
    >>> float(tour_km(0, 10.0, 100.0, TravelParams()))
    0.0
    """
    visits = np.asarray(visits, dtype=float)
    mean_distance_km = np.nan_to_num(np.asarray(mean_distance_km, dtype=float))
    area_km2 = np.asarray(area_km2, dtype=float)
    trips = visits / params.stops_per_day
    line_haul = 2.0 * mean_distance_km * trips
    local = params.bhh_k * np.sqrt(visits * area_km2)
    return params.circuity * np.where(visits > 0, line_haul + local, 0.0)
