"""Folium map of accounts and territories that updates without reloading.

The map is split in two so that streamlit-folium keeps the Leaflet map alive
across Streamlit reruns:

* :func:`build_base_map` -- everything that does not change when accounts are
  reassigned: the point positions (sent once, as base64 Float32), optional
  tiles, rep home bases and the selection tools (rectangle, polygon, freehand
  lasso, click). Built from the same data it renders byte-identical, so
  ``st_folium`` recognises it and does not remount the map; view and active
  tools survive reruns.
* :func:`build_update_layer` -- a ``folium.FeatureGroup`` passed as
  ``st_folium(..., feature_group_to_add=...)``. Its script recolours the points
  from a compact code array (one byte per account for <= 255 territories) and
  replaces territory outlines, labels and the legend.

Points are painted by a small canvas renderer (``terrmap/web/js``) rather than one
Leaflet layer per account, which costs seconds at 20k accounts.

Selections come back through the two objects streamlit-folium reports
(:data:`RETURNED_OBJECTS`); :func:`parse_map_event` turns the return value into
a :class:`MapEvent`, :func:`select_accounts` into account ids.

Every string taken from data (territory and rep names) is HTML-escaped here and
embedded as JSON with ``<``, ``>`` and ``&`` escaped, so names cannot inject
markup or script.

Examples
--------
A Streamlit page (``accounts``: accounts frame, ``territories``: territories
GeoDataFrame, ``reps``: reps frame, ``plan``: the page's assignment)::

    # st_folium's on_change callback stores the map's latest value under its
    # key *before* the rerun, so apply the selection first and draw once.
    event = parse_map_event(st.session_state.get("terrmap_map"))
    if event is not None and event.event_id != st.session_state.get("map_event"):
        st.session_state["map_event"] = event.event_id
        picked = select_accounts(event, accounts["lon"], accounts["lat"], accounts.index)
        ...  # reassign `picked`, update the plan and the selection mask
    st_folium(
        build_base_map(accounts["lon"], accounts["lat"], home_bases=reps),
        key="terrmap_map",
        feature_group_to_add=build_update_layer(
            assignment_codes(plan, accounts.index, territories.index),
            territories, colors=colors, selected=mask),
        returned_objects=list(RETURNED_OBJECTS),
        height=650, use_container_width=True,
    )

Build the base map on every run (milliseconds); never pass ``center``/``zoom``
to ``st_folium`` after the first run, or the view jumps back.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure, MacroElement
from folium.elements import JSCSSMixin
from folium.template import Template
from shapely.geometry.base import BaseGeometry

from terrmap.core.schema import CRS, UNASSIGNED_LABEL
from terrmap.geo.palette import UNASSIGNED_COLOR, checked_colors, territory_colors
from terrmap.geo.selection import drawing_geometry, select_in_polygon, select_nearest
from terrmap.web.static_assets import DEFAULT_ASSET_BASE, asset_urls

__all__ = [
    "CLICK_MATCH_KM",
    "MAX_CALLOUTS",
    "RETURNED_OBJECTS",
    "MapEvent",
    "assignment_codes",
    "build_base_map",
    "build_update_layer",
    "parse_map_event",
    "select_accounts",
]

logger = logging.getLogger(__name__)

#: What ``st_folium(returned_objects=...)`` must report: selections only, so
#: panning and zooming do not rerun the app.
RETURNED_OBJECTS: tuple[str, ...] = ("last_active_drawing", "last_object_clicked")

#: Most callouts :func:`build_update_layer` draws (they are DOM elements).
MAX_CALLOUTS = 200

#: A click reports the clicked point's position in float32 (< 1 m off); accounts
#: within this distance of it are the ones clicked.
CLICK_MATCH_KM = 0.01

_JS_FILES = ("terrmap_points.js", "terrmap_units.js", "terrmap_glue.js", "terrmap_basemap.js")

_CSS = """
.leaflet-container { background: #f4f3ef; }
.terrmap-label span {
  position: absolute; transform: translate(-50%, -50%); white-space: nowrap;
  font: 600 11px/1.2 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1d;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff, 0 0 4px #fff;
  pointer-events: none;
}
.terrmap-legend {
  background: rgba(255, 255, 255, 0.93); padding: 3px 7px; max-width: 210px;
  font: 11px/1.3 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
}
.terrmap-legend summary { cursor: pointer; font-weight: 600; }
.terrmap-legend-body { max-height: 150px; overflow-y: auto; }
.terrmap-legend details:not([open]) summary::after { content: " (show)"; font-weight: 400; color: #666; }
.terrmap-hover { font: 12px/1.35 system-ui, -apple-system, "Segoe UI", sans-serif; }
.terrmap-fullscreen a { font-size: 18px; line-height: 30px; text-align: center; }
html.terrmap-is-fullscreen, html.terrmap-is-fullscreen body { width: 100%; height: 100%; }
html.terrmap-is-fullscreen .leaflet-container { position: fixed !important; inset: 0; width: 100% !important;
  height: 100% !important; }
.terrmap-legend-row { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.terrmap-swatch {
  display: inline-block; width: 10px; height: 10px; border-radius: 50%;
  margin-right: 6px; vertical-align: -1px;
}
.terrmap-callout { font: 12px/1.3 system-ui, -apple-system, "Segoe UI", sans-serif; }
.terrmap-flag span {
  position: absolute; transform: translate(-50%, 60%); white-space: nowrap;
  font: 600 11px/1.2 system-ui, -apple-system, "Segoe UI", sans-serif; color: #664d03;
  background: #fff3cd; border: 1px solid #c69500; border-radius: 3px; padding: 1px 4px;
  pointer-events: none;
}
.terrmap-hollow { background: transparent; border: 2px solid UNASSIGNED; width: 6px; height: 6px; }
""".replace("UNASSIGNED", UNASSIGNED_COLOR)


@dataclass(frozen=True)
class MapEvent:
    """One selection made on the map.

    Attributes
    ----------
    kind : {"shape", "point"}
        A drawn rectangle/polygon/lasso, or a click on one account point.
    event_id : str
        Unique per gesture; compare with the last one handled, because
        ``st_folium`` keeps returning the last selection on unrelated reruns.
    tool : str
        ``"rectangle"``, ``"polygon"``, ``"lasso"`` or ``"click"``.
    geometry : shapely.geometry.base.BaseGeometry
        The area drawn as a valid (Multi)Polygon (self-crossing lassos are
        repaired), or the clicked point, in lon/lat.
    index : int or None
        Position of the clicked point in the base map's arrays (clicks only).
    """

    kind: Literal["shape", "point"]
    event_id: str
    tool: str
    geometry: BaseGeometry
    index: int | None = None


# --------------------------------------------------------------------------- helpers


def _js_json(obj: Any) -> str:
    """JSON safe to embed in a script: no markup-significant characters survive."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


@cache
def _library_js() -> str:
    folder = resources.files("terrmap.web") / "js"
    return "\n".join((folder / name).read_text(encoding="utf-8") for name in _JS_FILES)


def _coordinates(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    if lon_a.ndim != 1 or lat_a.ndim != 1:
        raise ValueError(f"lon and lat must be 1-D, got shapes {lon_a.shape} and {lat_a.shape}")
    if lon_a.shape != lat_a.shape:
        raise ValueError(f"lon and lat differ in length: {lon_a.size} != {lat_a.size}")
    bad = ~(np.isfinite(lon_a) & np.isfinite(lat_a))
    bad |= (np.abs(lon_a) > 180) | (np.abs(lat_a) > 90)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"invalid coordinate at position {i}: lon={float(lon_a[i])}, lat={float(lat_a[i])} "
            f"({int(bad.sum())} invalid in total)"
        )
    return lon_a, lat_a


def _bounds(
    lon: np.ndarray, lat: np.ndarray, bounds: Sequence[float] | None
) -> tuple[float, float, float, float]:
    if bounds is not None:
        if len(bounds) != 4:
            raise ValueError(f"bounds must be (min_lon, min_lat, max_lon, max_lat), got {bounds!r}")
        x0, y0, x1, y1 = (float(b) for b in bounds)
        if not (x0 <= x1 and y0 <= y1):
            raise ValueError(f"bounds must be (min_lon, min_lat, max_lon, max_lat), got {bounds!r}")
        return x0, y0, x1, y1
    if lon.size == 0:
        # Contiguous United States, the product's home ground.
        return -125.0, 24.5, -66.9, 49.5
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def _homes(home_bases: pd.DataFrame | None) -> list[dict[str, Any]]:
    if home_bases is None:
        return []
    missing = {"home_lat", "home_lon"} - set(home_bases.columns)
    if missing:
        raise ValueError(f"home_bases lacks columns {sorted(missing)}")
    frame = home_bases.dropna(subset=["home_lat", "home_lon"])
    names = (
        frame["name"].astype("object").where(frame["name"].notna(), frame.index.astype(str))
        if "name" in frame.columns
        else pd.Series(frame.index.astype(str), index=frame.index)
    )
    towns = (
        frame["home_town"].astype("object")
        if "home_town" in frame.columns
        else pd.Series(None, index=frame.index, dtype="object")
    )
    out = []
    for lat, lon, name, town in zip(
        frame["home_lat"].to_numpy(float),
        frame["home_lon"].to_numpy(float),
        names.to_numpy(object),
        towns.to_numpy(object),
        strict=True,
    ):
        text = html.escape(str(name))
        if town is not None and not pd.isna(town):
            text += f" <small>({html.escape(str(town))})</small>"
        out.append({"lat": round(lat, 6), "lng": round(lon, 6), "html": text})
    return out


# --------------------------------------------------------------------------- elements


class _RawElement(Element):
    """Pre-rendered text; branca's ``Element(text)`` would compile it as Jinja."""

    def __init__(self, text: str):
        super().__init__()
        self._text = text

    def render(self, **kwargs: Any) -> str:
        return self._text


class _FastRender(MacroElement):
    """MacroElement whose output is not re-parsed as a template.

    Branca wraps every rendered macro in ``Element(text)``, which runs Jinja's
    lexer over the text: 0.3 s per rerun for the 1 MB of point data.
    """

    def render(self, **kwargs: Any) -> None:
        figure = self.get_root()
        if not isinstance(figure, Figure):
            raise ValueError(f"{type(self).__name__} must be inside a folium Figure to render")
        module = self._template.module
        for part, target in (("header", figure.header), ("script", figure.script)):
            macro = getattr(module, part, None)
            if macro is not None:
                target.add_child(_RawElement(str(macro(self, kwargs))), name=self.get_name())
        for child in self._children.values():
            child.render(**kwargs)


class _TerrmapBase(JSCSSMixin, _FastRender):
    """Points renderer, selection tools and legend; the map's static part."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
            <style>{{ this.css }}</style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            {{ this.library }}
            terrmap.init({{ this._parent.get_name() }}, {{ this.config }});
            TerrmapBasemap.add({{ this._parent.get_name() }}, {{ this.basemap_url }});
        {% endmacro %}
        """
    )

    def __init__(
        self, config_json: str, urls: Mapping[str, str], tools: bool, basemap_url: str | None
    ):
        super().__init__()
        self._name = "TerrmapBase"
        self.css = _CSS
        self.library = _library_js()
        self.config = config_json
        self.basemap_url = _js_json(basemap_url)
        # Per-instance, so the CDN defaults of folium's classes are never used.
        self.default_js = (
            [("leaflet_draw_js", urls["draw_js"]), ("leaflet_lasso_js", urls["lasso_js"])]
            if tools
            else []
        )
        self.default_css = [("leaflet_draw_css", urls["draw_css"])] if tools else []


class _TerrmapUpdate(_FastRender):
    """Script that pushes colours, outlines, labels and legend to the live map."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            terrmap.update({{ this.payload }});
        {% endmacro %}
        """
    )

    def __init__(self, payload_json: str):
        super().__init__()
        self._name = "TerrmapUpdate"
        self.payload = payload_json


# --------------------------------------------------------------------------- public API


def build_base_map(
    lon: Sequence[float] | np.ndarray | pd.Series,
    lat: Sequence[float] | np.ndarray | pd.Series,
    *,
    bounds: Sequence[float] | None = None,
    tiles: str | None = None,
    tiles_attr: str | None = None,
    home_bases: pd.DataFrame | None = None,
    tools: bool = True,
    asset_base: str = DEFAULT_ASSET_BASE,
    points_url: str | None = None,
    tips_url: str | None = None,
    basemap_url: str | None = None,
    units_url: str | None = None,
) -> folium.Map:
    """Build the static part of the map: point positions, tools, home bases.

    Build it afresh on every rerun (it takes milliseconds) instead of caching
    the ``folium.Map``: ``st_folium`` attaches the update layer to the map it
    is given, which would change a cached map and force a reload next time.

    Parameters
    ----------
    lon, lat : array-like of float
        Account positions in WGS84 degrees, in the order used by the codes and
        masks given to :func:`build_update_layer` (e.g. the accounts frame's
        row order).
    bounds : sequence of 4 float, optional
        ``(min_lon, min_lat, max_lon, max_lat)`` of the initial view; defaults
        to the extent of the points.
    tiles : str, optional
        Folium tile name (e.g. ``"CartoDB Positron"``) or URL template. Tiles are
        the only thing fetched from outside the app; without them the map shows
        a plain light background with territory outlines and labels.
    tiles_attr : str, optional
        Attribution, required by folium for custom tile URLs.
    home_bases : pandas.DataFrame, optional
        Reps frame (columns ``home_lat``, ``home_lon``, optionally ``name`` and
        ``home_town``); drawn as white dots with an escaped name tooltip.
    tools : bool, default True
        Add the rectangle, polygon and freehand lasso selection tools.
    asset_base : str, default :data:`terrmap.web.static_assets.DEFAULT_ASSET_BASE`
        URL prefix the vendored Leaflet files are served under.
    points_url : str, optional
        URL of the same positions as a file (see
        :func:`terrmap.web.static_assets.publish_points`). The map then loads them
        from there once instead of carrying them in its HTML, which keeps
        reruns light; ``lon``/``lat`` still give the initial view.
    tips_url : str, optional
        URL of a JSON list with one hover text (HTML, escaped) per point, in
        point order (see :func:`terrmap.web.static_assets.publish_json`);
        without it there are no hover tooltips.
    basemap_url : str, optional
        URL of the offline outlines (see
        :func:`terrmap.web.basemap.publish_basemap`), drawn faintly under the
        territories; none when omitted.
    units_url : str, optional
        URL of the unit layer's outlines (see
        :func:`terrmap.web.unitlayer.publish_units`): the units are then
        drawn filled in their territory's colour, selectable as places.

    Returns
    -------
    folium.Map
        Map to pass as the first argument of ``st_folium``.

    Raises
    ------
    ValueError
        On mismatched or invalid coordinates, malformed bounds or home bases,
        or a ``basemap_url``/``units_url`` the app does not serve.

    Examples
    --------
    >>> m = build_base_map([-100.0, -90.0], [40.0, 35.0])
    >>> m.default_js[0][1]
    '/component/terrmap.web.static_assets.assets/leaflet/leaflet.js'
    """
    lon_a, lat_a = _coordinates(lon, lat)
    x0, y0, x1, y1 = _bounds(lon_a, lat_a, bounds)
    urls = asset_urls(asset_base)
    homes = _homes(home_bases)

    config = {
        "n": int(lon_a.size),
        "points": None if points_url else _b64(np.concatenate([lon_a, lat_a]).astype("<f4")),
        "points_url": points_url,
        "tips_url": tips_url,
        "homes": homes,
        "tools": bool(tools),
        "unassigned_html": html.escape(UNASSIGNED_LABEL),
        "unassigned_color": UNASSIGNED_COLOR,
        "units_url": units_url,
    }

    m = folium.Map(
        location=[(y0 + y1) / 2, (x0 + x1) / 2],
        zoom_start=4,
        tiles=None,
        control_scale=True,
        # Fractional zoom lets fitBounds fill the frame instead of leaving bands.
        zoom_snap=0.25,
        zoom_delta=0.5,
    )
    m.default_js = [("leaflet", urls["leaflet_js"])]
    m.default_css = [("leaflet_css", urls["leaflet_css"])]
    if tiles is not None:
        folium.TileLayer(tiles, attr=tiles_attr).add_to(m)
    for name, url in (("basemap_url", basemap_url), ("units_url", units_url)):
        if url is not None and (not url.startswith("/") or url.startswith("//") or "://" in url):
            # Everything the map draws comes from the app: it works offline.
            raise ValueError(f"{name} must be a path served by the app, got {url!r}")
    _TerrmapBase(_js_json(config), urls, tools, basemap_url).add_to(m)
    if (x0, y0) != (x1, y1):
        m.fit_bounds([[y0, x0], [y1, x1]], padding=(10, 10))
    logger.debug("base map: %d points, %d home bases", lon_a.size, len(homes))
    return m


def assignment_codes(
    assignment: pd.Series,
    account_ids: Sequence[str] | pd.Index,
    territory_ids: Sequence[str] | pd.Index,
) -> np.ndarray:
    """Translate an assignment into per-point territory codes.

    Parameters
    ----------
    assignment : pandas.Series
        Territory id per account id (index); ``<NA>`` for unassigned.
    account_ids : sequence of str or pandas.Index
        Account ids in the base map's point order.
    territory_ids : sequence of str or pandas.Index
        Territory ids in the row order given to :func:`build_update_layer`.

    Returns
    -------
    numpy.ndarray of int32
        Row position of each account's territory in ``territory_ids``; ``-1``
        for unassigned accounts, accounts missing from ``assignment`` and
        territories not in ``territory_ids``.

    Raises
    ------
    ValueError
        When ``territory_ids`` or ``assignment``'s index has duplicates.

    Examples
    --------
    >>> s = pd.Series(["T2", None], index=["a1", "a2"])
    >>> assignment_codes(s, ["a1", "a2", "a3"], ["T1", "T2"]).tolist()
    [1, -1, -1]
    """
    terr = pd.Index(territory_ids)
    if terr.has_duplicates:
        dup = terr[terr.duplicated()][0]
        raise ValueError(f"territory_ids has duplicates, e.g. {dup!r}")
    if assignment.index.has_duplicates:
        dup = assignment.index[assignment.index.duplicated()][0]
        raise ValueError(f"assignment index has duplicate account id {dup!r}")
    accounts = pd.Index(account_ids)
    per_account = assignment if assignment.index.equals(accounts) else assignment.reindex(accounts)
    # Factorising first turns 100k string lookups into a few dozen (3 ms, not 35).
    labels, uniques = pd.factorize(per_account.array)
    lookup = np.append(terr.get_indexer(pd.Index(np.asarray(uniques, dtype=object))), -1)
    codes = lookup[labels]  # label -1 (missing) picks the appended -1
    return codes.astype(np.int32)


def build_update_layer(
    codes: Sequence[int] | np.ndarray,
    territories: gpd.GeoDataFrame | pd.DataFrame,
    *,
    colors: Sequence[str] | None = None,
    selected: Sequence[bool] | np.ndarray | None = None,
    simplify_tolerance: float = 0.0,
    labels: bool = True,
    callouts: Mapping[int, str] | None = None,
    clear_selection: bool = False,
    dimmed: Sequence[bool] | np.ndarray | None = None,
    sizes: Sequence[int] | np.ndarray | None = None,
    owners: Sequence[str | None] | None = None,
    focus: tuple[str, int] | None = None,
    unit_codes: Sequence[int] | np.ndarray | None = None,
    selected_units: Sequence[bool] | np.ndarray | None = None,
    select_units: bool = False,
    rings: Sequence[bool] | np.ndarray | None = None,
    flags: Sequence[Mapping[str, Any]] | None = None,
    legend: Sequence[tuple[str, str]] | None = None,
    legend_title: str = "Territories",
) -> folium.FeatureGroup:
    """Build the per-rerun layer: point colours, outlines, labels, legend.

    Parameters
    ----------
    codes : array-like of int
        One code per base-map point: row position in ``territories``, or ``-1``
        for unassigned (see :func:`assignment_codes`).
    territories : geopandas.GeoDataFrame or pandas.DataFrame
        Territories in code order with a ``name`` column (falls back to the
        index); an optional ``geometry`` column (EPSG:4326, other CRSs are
        converted) draws outlines and centred labels. Rows with missing or empty
        geometry are listed in the legend only.
    colors : sequence of str, optional
        Colour per territory row; defaults to :func:`territory_colors`.
    selected : array-like of bool, optional
        Mask of selected points (same length as ``codes``), drawn with a halo.
    simplify_tolerance : float, default 0.0
        Outline simplification in degrees (e.g. ``0.005``), to shrink payloads
        of detailed territory shapes.
    labels : bool, default True
        Show territory names at a point inside each territory.
    callouts : mapping of int to str, optional
        Point position -> text shown in a permanent tooltip next to that point,
        e.g. the name of the account just clicked. At most
        :data:`MAX_CALLOUTS`; the text is HTML-escaped.
    clear_selection : bool, default False
        Remove the last drawn selection shape from the map.
    dimmed : array-like of bool, optional
        Mask of points a filter leaves out: drawn small and grey, and a click
        or hover does not find them.
    sizes : array-like of int, optional
        Size class per point, 0 (smallest) to 3 (largest), e.g. the quartile
        of its revenue (see :func:`terrmap.web.editor.size_classes`).
    owners : sequence of str, optional
        Text per territory row added to a point's hover tooltip (its rep);
        HTML-escaped here.
    focus : (str, int), optional
        ``(request id, point position)``: centre the map on that point once
        per request id (an account search).
    unit_codes : array-like of int, optional
        Territory code per unit of the base map's unit layer (``-1``: in no
        territory): the units are filled in their territory's colour and the
        territory outlines are drawn without fill.
    selected_units : array-like of bool, optional
        Mask of selected units (same length as ``unit_codes``), highlighted.
    select_units : bool, default False
        A click anywhere selects the place under it (a unit), not the
        account nearest to it.
    rings : array-like of bool, optional
        Mask of points drawn with a ring (named-account exceptions).
    flags : sequence of mapping, optional
        Markers with ``lat``, ``lng`` and ``text`` (escaped here), e.g. where
        a territory's exclaves are.
    legend : sequence of (str, str), optional
        ``(label, colour)`` rows of the legend instead of one per territory
        (e.g. regions); labels are escaped here.
    legend_title : str, default "Territories"
        The legend's heading.

    Returns
    -------
    folium.FeatureGroup
        Pass as ``st_folium(..., feature_group_to_add=...)``. Identical inputs
        give an identical script, which streamlit-folium then skips. Its
        ``token`` attribute (a content hash) is what the map's iframe writes to
        ``<html data-terrmap-update=...>`` once the update is drawn, for tests.

    Raises
    ------
    ValueError
        When a code is out of range, lengths disagree or colours are malformed.

    Examples
    --------
    >>> terr = pd.DataFrame({"name": ["North", "South"]}, index=["T1", "T2"])
    >>> fg = build_update_layer([0, 1, -1], terr)
    >>> type(fg).__name__
    'FeatureGroup'
    """
    codes_a = np.asarray(codes)
    if codes_a.ndim != 1 or (codes_a.size and not np.issubdtype(codes_a.dtype, np.integer)):
        raise ValueError(f"codes must be a 1-D integer array, got dtype {codes_a.dtype}")
    n_terr = len(territories)
    if codes_a.size and (codes_a.min() < -1 or codes_a.max() >= n_terr):
        bad = codes_a[(codes_a < -1) | (codes_a >= n_terr)][0]
        raise ValueError(f"code {int(bad)} out of range for {n_terr} territories")
    if n_terr > 65534:
        raise ValueError(f"at most 65534 territories can be drawn, got {n_terr}")
    if simplify_tolerance < 0:
        raise ValueError(f"simplify_tolerance must be >= 0, got {simplify_tolerance!r}")
    if colors is None:
        colors = territory_colors(territories)
    colors = checked_colors(colors, "colors")
    if len(colors) != n_terr:
        raise ValueError(f"got {len(colors)} colors for {n_terr} territories")
    notes = dict(callouts or {})
    if len(notes) > MAX_CALLOUTS:
        raise ValueError(f"at most {MAX_CALLOUTS} callouts, got {len(notes)}")
    for position in notes:
        if not 0 <= int(position) < codes_a.size:
            raise ValueError(
                f"callout position {position!r} out of range for {codes_a.size} points"
            )
    mask = _point_mask(selected, "selected", codes_a.size)
    dim = _point_mask(dimmed, "dimmed", codes_a.size)
    size_a = None
    if sizes is not None:
        size_a = np.asarray(sizes)
        if size_a.shape != codes_a.shape:
            raise ValueError(f"sizes has {size_a.size} entries for {codes_a.size} points")
        if size_a.size and (size_a.min() < 0 or size_a.max() > 3):
            raise ValueError(f"sizes must be classes 0 to 3, got {int(size_a.max())}")
    if owners is not None and len(owners) != n_terr:
        raise ValueError(f"got {len(owners)} owners for {n_terr} territories")
    focus_row = None
    if focus is not None:
        request, position = focus
        if not 0 <= int(position) < codes_a.size:
            raise ValueError(f"focus position {position!r} out of range for {codes_a.size} points")
        focus_row = {"id": str(request), "i": int(position), "zoom": 11}

    dtype = "<u1" if n_terr < 255 else "<u2"
    shifted = (codes_a.astype(np.int64) + 1).astype(dtype)
    units_b64 = None
    unit_mask = None
    if unit_codes is not None:
        units_a = np.asarray(unit_codes)
        if units_a.ndim != 1 or (units_a.size and not np.issubdtype(units_a.dtype, np.integer)):
            raise ValueError(f"unit_codes must be a 1-D integer array, got dtype {units_a.dtype}")
        if units_a.size and (units_a.min() < -1 or units_a.max() >= n_terr):
            raise ValueError(f"unit code out of range for {n_terr} territories")
        units_b64 = _b64((units_a.astype(np.int64) + 1).astype(dtype))
        unit_mask = _point_mask(selected_units, "selected_units", units_a.size)
    elif selected_units is not None:
        raise ValueError("selected_units needs unit_codes")
    ring_mask = _point_mask(rings, "rings", codes_a.size)
    flag_rows = []
    for flag in flags or ():
        lat, lng = float(flag["lat"]), float(flag["lng"])
        if not (np.isfinite(lat) and np.isfinite(lng)):
            raise ValueError(f"flag position must be finite, got {lat}, {lng}")
        flag_rows.append(
            {"lat": round(lat, 6), "lng": round(lng, 6), "html": html.escape(str(flag["text"]))}
        )
    legend_rows = None
    if legend is not None:
        legend_rows = [
            {"html": html.escape(str(label)), "color": color}
            for (label, color), color in zip(
                legend, checked_colors([c for _, c in legend], "legend colours"), strict=True
            )
        ]
    names = (
        territories["name"].astype("object").where(territories["name"].notna(), None)
        if "name" in territories.columns
        else pd.Series(None, index=territories.index, dtype="object")
    ).to_numpy(object)
    names_html = [
        html.escape(str(nm if nm is not None else tid))
        for nm, tid in zip(names, territories.index, strict=True)
    ]
    shapes_json, label_rows = _shape_payload(territories, colors, names_html, simplify_tolerance)

    payload: dict[str, Any] = {
        "codes": _b64(shifted),
        "code_bytes": np.dtype(dtype).itemsize,
        "colors": colors,
        "selected": _b64(np.packbits(mask, bitorder="little")) if mask is not None else None,
        "dimmed": _b64(np.packbits(dim, bitorder="little")) if dim is not None else None,
        "sizes": _b64(size_a.astype("u1")) if size_a is not None else None,
        "owners": [html.escape(str(o)) if o is not None else "" for o in owners or ()],
        "focus": focus_row,
        "labels": _largest_first(label_rows, codes_a, n_terr) if labels else [],
        "legend": legend_rows
        if legend_rows is not None
        else [{"html": h, "color": c} for h, c in zip(names_html, colors, strict=True)],
        "legend_title": html.escape(legend_title),
        "units": units_b64,
        "unit_selected": _b64(np.packbits(unit_mask, bitorder="little"))
        if unit_mask is not None
        else None,
        "select_units": bool(select_units),
        "rings": _b64(np.packbits(ring_mask, bitorder="little")) if ring_mask is not None else None,
        "flags": flag_rows,
        "callouts": [{"i": int(i), "html": html.escape(str(t))} for i, t in notes.items()],
        "clear_selection": bool(clear_selection),
    }
    # The shapes are spliced in as ready-made JSON (numbers and checked colours
    # only): re-encoding a few hundred kB of coordinates on every rerun cost
    # more than everything else here.
    body = f'{_js_json(payload)[:-1]},"shapes":{shapes_json}}}'
    token = hashlib.sha1(body.encode("utf-8")).hexdigest()[:12]

    fg = folium.FeatureGroup(name="terrmap update", control=False)
    _TerrmapUpdate(f'{body[:-1]},"token":"{token}"}}').add_to(fg)
    fg.token = token
    return fg


def _point_mask(values, name: str, n: int) -> np.ndarray | None:
    if values is None:
        return None
    mask = np.asarray(values, dtype=bool)
    if mask.shape != (n,):
        raise ValueError(f"{name} has {mask.size} entries for {n} points")
    return mask


def _largest_first(rows: list[dict[str, Any]], codes: np.ndarray, n_terr: int) -> list:
    # The map hides labels that would overlap one already shown, in this order.
    counts = np.bincount(codes[codes >= 0], minlength=n_terr) if codes.size else np.zeros(n_terr)
    return sorted(rows, key=lambda row: -int(counts[row["i"]]))


#: Recently drawn shapes: (geometry array, colours, tolerance) -> payload. The
#: entry holds the geometry array, so its id cannot be reused while cached.
#: Shared by every session's thread: read and written under the lock, at most
#: _SHAPES_MEMO_SIZE entries (least recently used dropped first).
_SHAPES_MEMO: OrderedDict[tuple, tuple[Any, str, list[dict[str, Any]]]] = OrderedDict()
_SHAPES_MEMO_SIZE = 16
_SHAPES_MEMO_LOCK = threading.Lock()


def _shape_payload(
    territories: gpd.GeoDataFrame | pd.DataFrame,
    colors: list[str],
    names_html: list[str],
    tolerance: float,
) -> tuple[str, list[dict[str, Any]]]:
    """GeoJSON text of the territory outlines and their label anchors.

    Memoised on the geometry array's identity: a plan's shapes are one frame,
    redrawn on every rerun until the next move.
    """
    if "geometry" not in territories.columns or len(territories) == 0:
        return "null", []
    values = territories["geometry"].values
    key = (id(values), tuple(colors), float(tolerance), str(getattr(territories, "crs", None)))
    with _SHAPES_MEMO_LOCK:
        hit = _SHAPES_MEMO.get(key)
        if hit is not None and hit[0] is values:
            _SHAPES_MEMO.move_to_end(key)
    if hit is not None and hit[0] is values:
        return hit[1], [dict(row, html=names_html[row["i"]]) for row in hit[2]]
    geo = gpd.GeoSeries(territories["geometry"], crs=getattr(territories, "crs", None))
    if geo.crs is not None and not geo.crs.equals(CRS):
        geo = geo.to_crs(CRS)
    geoms = np.asarray(geo.to_numpy(), dtype=object)
    keep = np.array([g is not None and not shapely.is_empty(g) for g in geoms], dtype=bool)
    if not keep.any():
        return "null", []
    idx = np.flatnonzero(keep)
    encoded = _encoded_shapes(geoms[keep], float(tolerance))
    features = []
    anchor_rows = []
    for (g_json, x, y), i in zip(encoded, idx, strict=True):
        features.append(
            f'{{"type":"Feature","properties":{{"color":"{colors[i]}"}},"geometry":{g_json}}}'
        )
        anchor_rows.append({"lat": y, "lng": x, "i": int(i)})
    text = '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"
    with _SHAPES_MEMO_LOCK:
        _SHAPES_MEMO[key] = (values, text, anchor_rows)
        _SHAPES_MEMO.move_to_end(key)
        while len(_SHAPES_MEMO) > _SHAPES_MEMO_SIZE:
            _SHAPES_MEMO.popitem(last=False)
    return text, [dict(row, html=names_html[row["i"]]) for row in anchor_rows]


#: GeoJSON text and label anchor per territory shape: (id, tolerance) ->
#: (geometry, text, lon, lat). A move redraws two territories and leaves the
#: other shapes the same objects, so only those two are encoded again (at
#: 30,000 ZIP-sized units, encoding every territory took a second). Shared
#: like _SHAPES_MEMO, under its lock; the entry holds the geometry, so its id
#: cannot be reused while cached.
_GEOMETRY_MEMO: OrderedDict[tuple[int, float], tuple[Any, str, float, float]] = OrderedDict()
_GEOMETRY_MEMO_SIZE = 4096


def _encoded_shapes(geoms: np.ndarray, tolerance: float) -> list[tuple[str, float, float]]:
    """GeoJSON text and label anchor (lon, lat) of each shape, encoded once per shape."""
    out: list[tuple[str, float, float] | None] = [None] * len(geoms)
    with _SHAPES_MEMO_LOCK:
        for k, geom in enumerate(geoms):
            hit = _GEOMETRY_MEMO.get((id(geom), tolerance))
            if hit is not None and hit[0] is geom:
                _GEOMETRY_MEMO.move_to_end((id(geom), tolerance))
                out[k] = hit[1:]
    todo = np.array([k for k, row in enumerate(out) if row is None], dtype=np.int64)
    if todo.size:
        drawn = geoms[todo]
        if tolerance > 0:
            drawn = shapely.simplify(drawn, tolerance, preserve_topology=True)
        # ~1 m grid keeps the JSON small without visible change.
        drawn = shapely.set_precision(drawn, 1e-5)
        anchors = shapely.point_on_surface(geoms[todo])
        texts = shapely.to_geojson(drawn)
        with _SHAPES_MEMO_LOCK:
            for k, text, anchor in zip(todo.tolist(), texts, anchors, strict=True):
                row = (str(text), round(anchor.x, 5), round(anchor.y, 5))
                out[k] = row
                _GEOMETRY_MEMO[(id(geoms[k]), tolerance)] = (geoms[k], *row)
            while len(_GEOMETRY_MEMO) > _GEOMETRY_MEMO_SIZE:
                _GEOMETRY_MEMO.popitem(last=False)
    return out


def parse_map_event(value: Mapping[str, Any] | None) -> MapEvent | None:
    """Turn ``st_folium``'s return value into the latest selection, if any.

    A click leaves ``last_object_clicked`` set; a drawing (rectangle, polygon,
    lasso) resets it to ``None`` and sets ``last_active_drawing``. Only
    selections made by this module's tools (they carry a ``terrmap_event`` id)
    are reported.

    Parameters
    ----------
    value : mapping or None
        The dict returned by ``st_folium`` with ``returned_objects`` including
        :data:`RETURNED_OBJECTS`.

    Returns
    -------
    MapEvent or None
        The latest selection, or None when there is none.

    Examples
    --------
    >>> ev = parse_map_event({"last_object_clicked": {"lat": 40.0, "lng": -100.0,
    ...     "terrmap_event": "x-1", "terrmap_index": 3}, "last_active_drawing": None})
    >>> ev.kind, ev.index
    ('point', 3)
    """
    if not value:
        return None
    clicked = value.get("last_object_clicked")
    if isinstance(clicked, Mapping) and clicked.get("terrmap_event") is not None:
        try:
            point = shapely.Point(float(clicked["lng"]), float(clicked["lat"]))
            index = clicked.get("terrmap_index")
            index = int(index) if index is not None else None
        except (KeyError, TypeError, ValueError):
            logger.warning("ignoring malformed click %r", clicked)
            return None
        return MapEvent("point", str(clicked["terrmap_event"]), "click", point, index)
    drawing = value.get("last_active_drawing")
    if not isinstance(drawing, Mapping):
        return None
    props = drawing.get("properties") or {}
    event_id = props.get("terrmap_event")
    if event_id is None or not drawing.get("geometry"):
        return None
    try:
        # Repairs freehand lassos that cross themselves.
        geom = drawing_geometry(drawing["geometry"])
    except (KeyError, TypeError, ValueError, shapely.errors.GEOSException):
        logger.warning("ignoring malformed drawing %r", drawing.get("geometry"))
        return None
    return MapEvent("shape", str(event_id), str(props.get("terrmap_tool", "polygon")), geom)


def select_accounts(
    event: MapEvent,
    lon: Sequence[float] | np.ndarray | pd.Series,
    lat: Sequence[float] | np.ndarray | pd.Series,
    account_ids: Sequence[str] | pd.Index,
) -> pd.Index:
    """Ids of the accounts a map selection covers.

    Shapes go to :func:`terrmap.geo.selection.select_in_polygon` (inside, not on
    the line); clicks to :func:`terrmap.geo.selection.select_nearest` within
    :data:`CLICK_MATCH_KM` of the reported position, which is the clicked
    point's own position rounded to float32 (under a metre off).

    Parameters
    ----------
    event : MapEvent
        From :func:`parse_map_event`.
    lon, lat : array-like of float
        The positions given to :func:`build_base_map`, in the same order.
    account_ids : sequence of str or pandas.Index
        Ids aligned with ``lon``/``lat``.

    Returns
    -------
    pandas.Index
        Selected ids in input order. A click selects the clicked account and
        every account at the same location (accounts sharing a ZIP centroid
        are one dot on the map); nothing when no account is there any more.

    Examples
    --------
    >>> box = shapely.box(-101, 39, -99, 41)
    >>> ev = MapEvent("shape", "e1", "rectangle", box)
    >>> list(select_accounts(ev, [-100.0, -50.0], [40.0, 40.0], ["a", "b"]))
    ['a']
    """
    if event.kind == "shape":
        return select_in_polygon(
            np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), account_ids, event.geometry
        )
    return select_nearest(
        np.asarray(lon, dtype=float),
        np.asarray(lat, dtype=float),
        account_ids,
        event.geometry.x,
        event.geometry.y,
        max_km=CLICK_MATCH_KM,
    )
