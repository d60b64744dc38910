"""Small inline SVG drawings for reports: a territory map and balance bars.

The drawings are plain SVG elements meant to sit inside an HTML page (no
``xmlns`` needed, no external references). Every text taken from data is
escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from terrmap.geo.palette import UNASSIGNED_COLOR

__all__ = ["MAX_MAP_POINTS", "balance_bars_svg", "territory_map_svg"]

#: Most account dots a map draws; larger sets are thinned evenly.
MAX_MAP_POINTS = 6000

_FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"'


def territory_map_svg(
    shapes: gpd.GeoDataFrame,
    colors: Sequence[str],
    lon: np.ndarray,
    lat: np.ndarray,
    codes: np.ndarray,
    *,
    width: int = 900,
    max_points: int = MAX_MAP_POINTS,
) -> tuple[str, int]:
    """Draw territory shapes and account dots as an SVG element.

    Parameters
    ----------
    shapes : geopandas.GeoDataFrame
        Territories in code order with ``name`` and ``geometry`` (EPSG:4326).
    colors : sequence of str
        Colour per territory row.
    lon, lat : numpy.ndarray
        Account positions.
    codes : numpy.ndarray
        Territory row per account, -1 for white space (drawn hollow grey).
    width : int, default 900
        Width of the drawing in SVG units; the height follows the extent.
    max_points : int, default MAX_MAP_POINTS
        Most dots drawn; more accounts are thinned to every k-th one.

    Returns
    -------
    svg : str
        The ``<svg>`` element.
    drawn : int
        Number of account dots drawn.

    Raises
    ------
    ValueError
        When lengths disagree.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    codes = np.asarray(codes)
    if not len(lon) == len(lat) == len(codes):
        raise ValueError(
            f"lon, lat and codes differ in length: {len(lon)}, {len(lat)}, {len(codes)}"
        )
    if len(colors) != len(shapes):
        raise ValueError(f"got {len(colors)} colours for {len(shapes)} territories")
    geoms = np.asarray(shapes.geometry.values, dtype=object)
    usable = ~pd.isna(geoms)
    usable[usable] = ~shapely.is_empty(geoms[usable])
    finite = np.isfinite(lon) & np.isfinite(lat)
    xs = [lon[finite]]
    ys = [lat[finite]]
    if usable.any():
        bounds = shapely.bounds(geoms[usable])
        xs += [bounds[:, 0], bounds[:, 2]]
        ys += [bounds[:, 1], bounds[:, 3]]
    all_x, all_y = np.concatenate(xs), np.concatenate(ys)
    if all_x.size == 0:
        return (
            f'<svg viewBox="0 0 {width} 80" role="img"><text x="10" y="40" {_FONT}>No accounts to draw</text></svg>',
            0,
        )
    x0, x1, y0, y1 = all_x.min(), all_x.max(), all_y.min(), all_y.max()
    scale_x = np.cos(np.radians((y0 + y1) / 2.0))
    span_x = max((x1 - x0) * scale_x, 1e-6)
    span_y = max(y1 - y0, 1e-6)
    pad = 8.0
    k = (width - 2 * pad) / span_x
    height = int(round(span_y * k + 2 * pad))

    def project(x, y):
        return pad + (np.asarray(x) - x0) * scale_x * k, pad + (y1 - np.asarray(y)) * k

    tolerance = 0.6 / k  # about half a drawing unit, in degrees
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="Territory map" class="map">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f4f3ef"/>',
    ]
    simple = np.array(geoms, dtype=object)
    if usable.any():
        simple[usable] = shapely.simplify(geoms[usable], tolerance, preserve_topology=True)
    for i in np.flatnonzero(usable):
        path = _path(simple[i], project)
        if path:
            parts.append(
                f'<path d="{path}" fill="{_colour(colors[i])}" fill-opacity="0.22" '
                f'stroke="{_colour(colors[i])}" stroke-width="1.6" fill-rule="evenodd"/>'
            )
    shown = np.flatnonzero(finite)
    if len(shown) > max_points:
        shown = shown[:: int(np.ceil(len(shown) / max_points))]
    px, py = project(lon[shown], lat[shown])
    palette = np.array([_colour(c) for c in colors] + [UNASSIGNED_COLOR], dtype=object)
    dot_codes = np.where(codes[shown] < 0, len(colors), codes[shown])
    for colour in np.unique(dot_codes):
        members = dot_codes == colour
        fill = "none" if colour == len(colors) else palette[colour]
        circles = "".join(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.8"/>'
            for x, y in zip(px[members], py[members], strict=True)
        )
        parts.append(
            f'<g fill="{fill}" stroke="{palette[colour]}" stroke-width="0.6">{circles}</g>'
        )
    names = (
        shapes["name"] if "name" in shapes.columns else pd.Series(shapes.index, index=shapes.index)
    )
    for i in np.flatnonzero(usable):
        anchor = shapely.point_on_surface(geoms[i])
        lx, ly = project(anchor.x, anchor.y)
        parts.append(
            f'<text x="{float(lx):.1f}" y="{float(ly):.1f}" text-anchor="middle" font-size="12" '
            f'font-weight="600" {_FONT} fill="#1d1d1d" stroke="#fff" stroke-width="3" '
            f'paint-order="stroke">{html.escape(str(names.iloc[i]))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts), int(len(shown))


def balance_bars_svg(
    values: pd.Series,
    labels: pd.Series,
    tolerance_pct: float,
    *,
    value_format: Callable[[float], str] = "{:,.0f}".format,
    width: int = 900,
    row_height: int = 22,
) -> str:
    """One horizontal bar per territory against the mean and its tolerance band.

    Parameters
    ----------
    values : pandas.Series
        The measure per territory.
    labels : pandas.Series
        Label per territory (same index).
    tolerance_pct : float
        Half-width of the band around the mean, in percent.
    value_format : callable, optional
        Formats a value for the text at the end of each bar.
    width, row_height : int
        Size of the drawing in SVG units.

    Returns
    -------
    str
        The ``<svg>`` element. Bars outside the band are red and marked ``▲``
        (above) or ``▼`` (below); the band is shaded green, the mean a dark
        line.
    """
    values = pd.Series(values, dtype=float)
    n = len(values)
    mean = float(values.mean()) if n else 0.0
    band = abs(mean) * tolerance_pct / 100.0
    lo_band, hi_band = mean - band, mean + band
    label_w, text_w, top = 170, 210, 26
    plot_w = width - label_w - text_w
    low = min(0.0, float(values.min()) if n else 0.0, lo_band)
    high = max(0.0, float(values.max()) if n else 0.0, hi_band)
    span = (high - low) or 1.0

    def x(v: float) -> float:
        return label_w + (v - low) / span * plot_w

    height = top + n * row_height + 8
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="Balance chart" class="bars">',
        f'<rect x="{x(lo_band):.1f}" y="{top - 6}" width="{max(x(hi_band) - x(lo_band), 0.5):.1f}" '
        f'height="{n * row_height + 6}" fill="#d1e7dd"/>',
        f'<text x="{x(mean):.1f}" y="12" text-anchor="middle" font-size="11" {_FONT} fill="#333">'
        f"mean {html.escape(value_format(mean))} · band ±{tolerance_pct:g}%</text>",
    ]
    deviation = (values - mean) / mean * 100.0 if mean else pd.Series(np.nan, index=values.index)
    for row, (territory, value) in enumerate(values.items()):
        y = top + row * row_height
        dev = float(deviation.loc[territory])
        outside = bool(np.isfinite(dev) and abs(dev) > tolerance_pct + 1e-9)
        colour = "#c0392b" if outside else "#2c7fb8"
        mark = ("▲ " if dev > 0 else "▼ ") if outside else ""
        x_start, x_end = sorted((x(0.0), x(float(value))))
        name = html.escape(str(labels.get(territory, territory)))
        dev_text = f"{dev:+.1f}%" if np.isfinite(dev) else "–"
        parts.append(
            f'<g class="{"outside" if outside else "inside"}">'
            f'<text x="{label_w - 6}" y="{y + row_height * 0.68:.1f}" text-anchor="end" '
            f'font-size="12" {_FONT}>{name}</text>'
            f'<rect x="{x_start:.1f}" y="{y + 3}" width="{max(x_end - x_start, 0.5):.1f}" '
            f'height="{row_height - 6}" fill="{colour}"/>'
            f'<text x="{label_w + plot_w + 6}" y="{y + row_height * 0.68:.1f}" font-size="12" '
            f'{_FONT} fill="{colour}">{mark}{html.escape(value_format(float(value)))} ({dev_text})'
            "</text></g>"
        )
    parts.append(
        f'<line x1="{x(mean):.1f}" x2="{x(mean):.1f}" y1="{top - 6}" y2="{top + n * row_height}" '
        'stroke="#1b4332" stroke-width="2"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _colour(value: str) -> str:
    text = str(value)
    if (
        len(text) in (4, 7)
        and text.startswith("#")
        and all(c in "0123456789abcdefABCDEF" for c in text[1:])
    ):
        return text
    raise ValueError(f"not a hex colour: {value!r}")


def _path(geom: shapely.Geometry, project) -> str:
    polygons = shapely.get_parts(geom)
    pieces = []
    for polygon in polygons:
        if shapely.get_type_id(polygon) != 3:
            continue
        rings = [polygon.exterior, *polygon.interiors]
        for ring in rings:
            coords = np.asarray(ring.coords)
            if len(coords) < 4:
                continue
            px, py = project(coords[:, 0], coords[:, 1])
            points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px[:-1], py[:-1], strict=True))
            pieces.append(f"M{points}Z")
    return "".join(pieces)
