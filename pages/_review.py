"""Shared by the balance, export and rep pages: the measure chosen and download buttons.

Only widgets and formatting live here; every figure comes from ``terrmap``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import altair as alt
import pandas as pd
import streamlit as st

from pages import _state
from terrmap.core.balance import Balance
from terrmap.core.metrics import MEASURES
from terrmap.core.plan import Plan
from terrmap.geo.workspace import Workspace
from terrmap.io import exports
from terrmap.io.report import report_html

MIX = "__mix__"
PAGE_MEASURE = "balance_page_measure"
PAGE_TOLERANCE = "balance_page_tolerance"
MIX_MEASURES = "balance_mix_measures"
MIX_WEIGHT = "balance_mix_weight_"  # + measure name
DEFAULT_MIX = ("revenue", "workload_hours", "accounts")

DOWNLOADS = {
    "csv": (
        "Assignment (CSV)",
        "assignment",
        "One row per account: territory and rep, for the CRM.",
    ),
    "geojson": ("Territories (GeoJSON)", "territories", "Shapes with their figures, for QGIS."),
    "gpkg": ("Territories (GeoPackage)", "territories", "The same as a GeoPackage, for QGIS."),
    "xlsx": ("Workbook (Excel)", "territories", "Summary per territory, accounts, reps."),
    "html": ("Leadership report (HTML)", "report", "Map, balance charts, figures; prints to PDF."),
}


def _sync_from_sidebar() -> None:
    # The page's own widgets start from (and follow) the sidebar's settings;
    # changing them here changes the sidebar's too (see the callbacks).
    ss = st.session_state
    if ss.get(PAGE_MEASURE) != MIX:
        ss[PAGE_MEASURE] = _state.measure()
    ss[PAGE_TOLERANCE] = int(_state.tolerance())


def _measure_changed() -> None:
    value = st.session_state[PAGE_MEASURE]
    if value != MIX:
        st.session_state[_state.MEASURE] = value


def _tolerance_changed() -> None:
    st.session_state[_state.TOLERANCE] = st.session_state[PAGE_TOLERANCE]


def measure_chooser() -> tuple[str | Mapping[str, float], float]:
    """Render the measure chooser (one measure or a weighted mix) and the band slider.

    Returns
    -------
    (measure, tolerance_pct)
        ``measure`` is a column name or a mapping measure -> weight.
    """
    _sync_from_sidebar()
    options = [*MEASURES, MIX]
    labels = {**MEASURES, MIX: "Weighted mix of several…"}
    left, right = st.columns([2, 1])
    left.selectbox(
        "Judge balance on",
        options,
        format_func=labels.get,
        key=PAGE_MEASURE,
        on_change=_measure_changed,
    )
    right.slider(
        "Balanced within ± % of the mean",
        min_value=1,
        max_value=50,
        key=PAGE_TOLERANCE,
        on_change=_tolerance_changed,
    )
    tolerance = float(st.session_state[PAGE_TOLERANCE])
    if st.session_state[PAGE_MEASURE] != MIX:
        return st.session_state[PAGE_MEASURE], tolerance
    chosen = st.multiselect(
        "Measures in the mix",
        list(MEASURES),
        default=list(DEFAULT_MIX),
        format_func=MEASURES.get,
        key=MIX_MEASURES,
    )
    if not chosen:
        st.warning("Pick at least one measure for the mix; showing revenue meanwhile.")
        return "revenue", tolerance
    columns = st.columns(len(chosen))
    weights = {
        name: column.number_input(
            f"Weight: {MEASURES[name]}",
            min_value=0.0,
            max_value=10.0,
            value=1.0,
            step=0.5,
            key=MIX_WEIGHT + name,
        )
        for name, column in zip(chosen, columns, strict=True)
    }
    if not any(weights.values()):
        st.warning("All weights are 0; showing revenue meanwhile.")
        return "revenue", tolerance
    st.session_state["balance_mix"] = weights
    return weights, tolerance


def report_measure() -> str | Mapping[str, float]:
    """The measure the report uses: the balance page's choice, mix included."""
    if st.session_state.get(PAGE_MEASURE) == MIX and st.session_state.get("balance_mix"):
        return dict(st.session_state["balance_mix"])
    return _state.measure()


def chart_height(n_territories: int) -> int:
    """Pixel height that gives every territory's bar room for its label."""
    return max(180, 34 * n_territories + 60)


def balance_chart(
    values: pd.Series, labels: pd.Series, stats: Balance, value_title: str
) -> alt.LayerChart:
    """Bars per territory, the mean as a rule and the tolerance band shaded."""
    deviation = stats.deviation_pct
    status = pd.Series("within band", index=values.index)
    status[deviation > stats.tolerance_pct + 1e-9] = "above band"
    status[deviation < -stats.tolerance_pct - 1e-9] = "below band"
    frame = pd.DataFrame(
        {
            "territory": labels.reindex(values.index).astype(str).to_numpy(),
            "value": values.to_numpy(dtype=float),
            "deviation": deviation.to_numpy(dtype=float),
            "status": status.to_numpy(),
        }
    )
    band = stats.mean * stats.tolerance_pct / 100.0
    limits = pd.DataFrame(
        {"low": [stats.mean - abs(band)], "high": [stats.mean + abs(band)], "mean": [stats.mean]}
    )
    order = frame["territory"].tolist()
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y(
                "territory:N",
                sort=order,
                title=None,
                axis=alt.Axis(labelOverlap=False, labelLimit=220, labelFontSize=13),
            ),
            x=alt.X("value:Q", title=value_title),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(
                    domain=["within band", "above band", "below band"],
                    range=["#2c7fb8", "#c0392b", "#e67e22"],
                ),
                legend=alt.Legend(title=None, orient="top"),
            ),
            tooltip=[
                alt.Tooltip("territory:N", title="Territory"),
                alt.Tooltip("value:Q", title=value_title, format=",.2f"),
                alt.Tooltip("deviation:Q", title="Δ mean %", format="+.1f"),
            ],
        )
    )
    shade = (
        alt.Chart(limits).mark_rect(color="#2ca25f", opacity=0.18).encode(x="low:Q", x2="high:Q")
    )
    rule = alt.Chart(limits).mark_rule(color="#1b4332", strokeWidth=2).encode(x="mean:Q")
    return alt.layer(shade, bars, rule).properties(height=chart_height(len(frame)))


def _producer(
    kind: str, plan: Plan, workspace: Workspace, measure, tolerance
) -> Callable[[], bytes]:
    shapes_source = _state.workspace_map()
    from terrmap.geo.drawing import plan_shapes

    def shapes():
        return plan_shapes(plan, shapes_source)

    producers = {
        "csv": lambda: exports.assignment_csv(plan, workspace),
        "geojson": lambda: exports.territories_geojson(plan, workspace, shapes()),
        "gpkg": lambda: exports.territories_gpkg(plan, workspace, shapes()),
        "xlsx": lambda: exports.workbook_xlsx(plan, workspace),
        "html": lambda: report_html(
            plan,
            workspace,
            measure=measure,
            tolerance_pct=tolerance,
            shapes=shapes(),
            colors=shapes_source.colors,
        ),
    }
    return producers[kind]


def download_button(kind: str, *, key_prefix: str = "download", primary: bool = False) -> None:
    """One download button; the file is made when clicked, from the current plan."""
    label, stem, _ = DOWNLOADS[kind]
    suffix, mime = exports.EXPORT_KINDS[kind]
    st.download_button(
        label,
        data=_state.audited(
            _producer(
                kind, _state.plan(), _state.workspace(), report_measure(), _state.tolerance()
            ),
            f"{stem}{suffix}",
            {"kind": kind},
        ),
        file_name=f"terrmap-{stem}{suffix}",
        mime=mime,
        key=f"{key_prefix}_{kind}",
        on_click="ignore",
        type="primary" if primary else "secondary",
        width="stretch",
    )
