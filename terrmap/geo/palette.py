"""Territory colours: a qualitative palette and a neighbour-aware choice.

Used by the map and by the report's inline SVG, so both draw a territory in
the same colour.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = [
    "NO_REGION_COLOR",
    "PALETTE",
    "UNASSIGNED_COLOR",
    "checked_colors",
    "region_colors",
    "territory_colors",
]

#: Qualitative palette (hex); territories cycle through it. No greys: grey
#: (hollow) means unassigned.
PALETTE: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#e6ab02",
    "#00876c",
    "#843c39",
    "#6b6ecf",
    "#f781bf",
    "#4d9221",
)

#: Rim colour of unassigned accounts, which are drawn hollow.
UNASSIGNED_COLOR = "#6f6f6f"

#: Colour of territories in no region when the map is coloured by region
#: (dark slate: not a palette colour, and not the grey of white space).
NO_REGION_COLOR = "#34495e"


def checked_colors(colors: Sequence[str], what: str) -> list[str]:
    """Return ``colors`` as a list, refusing anything but ``"#rrggbb"`` strings."""
    out = list(colors)
    for color in out:
        if not (isinstance(color, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", color)):
            raise ValueError(f"{what} must be '#rrggbb' strings, got {color!r}")
    return out


def territory_colors(
    territories: gpd.GeoDataFrame | pd.DataFrame, palette: Sequence[str] = PALETTE
) -> list[str]:
    """Pick a palette colour per territory, different from touching neighbours.

    Greedy colouring in row order: each territory takes the first palette
    colour not used by an already coloured neighbour (falling back to cycling
    when all are taken). Colours depend on geometry, so compute them once for a
    plan and keep them while accounts move, or territories will change colour.

    Parameters
    ----------
    territories : geopandas.GeoDataFrame or pandas.DataFrame
        One row per territory; a ``geometry`` column enables the neighbour rule,
        without it colours simply cycle through ``palette`` in row order.
    palette : sequence of str, default PALETTE
        Hex colours ``"#rrggbb"``.

    Returns
    -------
    list of str
        One colour per row of ``territories``.

    Examples
    --------
    >>> territory_colors(pd.DataFrame({"name": ["a", "b"]}))
    ['#1f77b4', '#ff7f0e']
    """
    palette = checked_colors(palette, "palette")
    if not palette:
        raise ValueError("palette is empty")
    n = len(territories)
    if "geometry" not in territories.columns:
        return [palette[i % len(palette)] for i in range(n)]

    geoms = np.asarray(territories["geometry"].to_numpy(), dtype=object)
    usable = np.array([g is not None and not shapely.is_empty(g) for g in geoms], dtype=bool)
    tree = shapely.STRtree(np.where(usable, geoms, None))
    left, right = tree.query(np.where(usable, geoms, None), predicate="intersects")
    neighbours: list[set[int]] = [set() for _ in range(n)]
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        if a != b:
            neighbours[a].add(b)
    chosen: list[int] = []
    for i in range(n):
        taken = {chosen[j] for j in neighbours[i] if j < i}
        free = [k for k in range(len(palette)) if k not in taken]
        # Rotate the start so that non-adjacent territories still spread colours.
        pick = min(free, key=lambda k: (k - i) % len(palette)) if free else i % len(palette)
        chosen.append(pick)
    return [palette[k] for k in chosen]


def region_colors(
    regions: pd.Series, territory_ids: Sequence[str], palette: Sequence[str] = PALETTE
) -> tuple[list[str], dict[str | None, str]]:
    """Colour each territory by its region: one palette colour per region.

    Parameters
    ----------
    regions : pandas.Series
        Region per territory id (territories left out, or ``<NA>``, are in
        no region).
    territory_ids : sequence of str
        The territories, in the order wanted.
    palette : sequence of str, default PALETTE
        Hex colours; regions take them in order of first appearance along
        ``territory_ids``.

    Returns
    -------
    colors : list of str
        One colour per territory.
    legend : dict
        Region -> colour, in order of first appearance; ``None`` (no region,
        :data:`NO_REGION_COLOR`) last when some territory has no region.

    Examples
    --------
    >>> colors, legend = region_colors(pd.Series({"T1": "East", "T2": "West", "T3": "East"}),
    ...                                ["T1", "T2", "T3", "T4"])
    >>> colors
    ['#1f77b4', '#ff7f0e', '#1f77b4', '#34495e']
    >>> list(legend)
    ['East', 'West', None]
    """
    palette = checked_colors(palette, "palette")
    if not palette:
        raise ValueError("palette is empty")
    by_territory = regions.copy()
    by_territory.index = by_territory.index.astype(str)
    named = by_territory.reindex([str(t) for t in territory_ids]).astype(object)
    legend: dict[str | None, str] = {}
    for region in named:
        if not pd.isna(region) and str(region) not in legend:
            legend[str(region)] = palette[len(legend) % len(palette)]
    colors = [NO_REGION_COLOR if pd.isna(r) else legend[str(r)] for r in named]
    if any(pd.isna(r) for r in named):
        legend[None] = NO_REGION_COLOR
    return colors, legend
