"""Map editor: territories over accounts; select, reassign, see the numbers change."""

from collections import Counter

import numpy as np
import streamlit as st
from streamlit_folium import st_folium

from pages import _state
from pages._tables import territory_table
from terrmap.core.balance import balance
from terrmap.core.metrics import MEASURES
from terrmap.core.schema import UNASSIGNED_LABEL
from terrmap.geo.drawing import plan_shapes
from terrmap.web.basemap import ONLINE_TILES, TILES_ATTRIBUTION, TILES_HELP, TILES_LABEL
from terrmap.web.editor import account_callouts, selected_positions, selection_table
from terrmap.web.mapview import (
    RETURNED_OBJECTS,
    build_base_map,
    build_update_layer,
    parse_map_event,
)

MAP_KEY = "terrmap_map"
SELECTION = "map_selection"  # (workspace, positions of the selected accounts)
HANDLED = "map_handled_event"
TARGET = "map_target"
TILES = "map_tiles"
UNASSIGN = "__unassign__"

_state.page_setup()

ws = _state.workspace()
data = _state.workspace_map()
plan = _state.plan()
ctx = plan.context
ss = st.session_state

# st_folium's on_change callback stored the latest selection under MAP_KEY before
# this run: apply it first so the map is drawn once, with the selection.
event = parse_map_event(ss.get(MAP_KEY))
if event is not None and event.event_id != ss.get(HANDLED):
    ss[HANDLED] = event.event_id
    ss[SELECTION] = (ws, selected_positions(event, data))
stored = ss.get(SELECTION)
selected = stored[1] if stored is not None and stored[0] is ws else np.empty(0, dtype=np.int64)


def _reassign(positions: np.ndarray) -> None:
    current = _state.plan()
    target = ss[TARGET]
    new = current.reassign_positions(
        positions,
        None if target == UNASSIGN else target,
        author=_state.author(),
        note=f"map selection ({len(positions)} accounts)",
    )
    _state.push(new)
    ss[SELECTION] = (ws, np.empty(0, dtype=np.int64))


def _clear() -> None:
    ss[SELECTION] = (ws, np.empty(0, dtype=np.int64))


st.title("Map editor")
_state.show_autosave_error()
map_col, side_col = st.columns([3, 2], gap="medium")

with map_col:
    mask = np.zeros(ctx.n_accounts, dtype=bool)
    mask[selected] = True
    shapes = plan_shapes(plan, data)
    online = bool(ss.get(TILES))
    st_folium(
        build_base_map(
            data.lon,
            data.lat,
            home_bases=data.home_bases,
            tiles=ONLINE_TILES.build_url() if online else None,
            tiles_attr=TILES_ATTRIBUTION,
            points_url=_state.points_url(),
            basemap_url=None if online else _state.basemap_url(),
        ),
        key=MAP_KEY,
        feature_group_to_add=build_update_layer(
            plan.codes,
            shapes,
            colors=data.colors,
            selected=mask,
            callouts=account_callouts(plan, data, selected),
            clear_selection=len(selected) == 0,
        ),
        returned_objects=list(RETURNED_OBJECTS),
        height=620,
        use_container_width=True,
    )
    st.toggle(
        TILES_LABEL,
        key=TILES,
        help=TILES_HELP,
    )

with side_col:
    if len(selected) == 0:
        st.subheader("Selection")
        st.info(
            "Select accounts with the tools at the top left of the map: rectangle, "
            "polygon or freehand lasso. A click on one account selects it."
        )
    else:
        summary = plan.selection_summary(ctx.account_ids[selected])
        revenue = float(ctx.revenue[selected].sum())
        net = revenue - float(ctx.cost[selected].sum())
        st.subheader(f"Selection: {len(selected):,} accounts")
        a, b = st.columns(2)
        a.metric("Revenue", f"${revenue:,.0f}")
        b.metric("Net profit", f"${net:,.0f}")
        names = dict(zip(ctx.territory_ids, ctx.territory_names, strict=True))
        summary.index = [names.get(t, t) for t in summary.index]
        st.dataframe(
            summary.rename_axis("From territory"),
            width="stretch",
            column_config={
                "accounts": st.column_config.NumberColumn("Accounts"),
                "revenue": st.column_config.NumberColumn("Revenue", format="dollar"),
                "cost": st.column_config.NumberColumn("Cost to serve", format="dollar"),
                "net_profit": st.column_config.NumberColumn("Net profit", format="dollar"),
            },
        )
        options = [*ctx.territory_ids, UNASSIGN]
        labels = {UNASSIGN: f"{UNASSIGNED_LABEL} (white space)", **names}
        st.selectbox("Hand them to", options, format_func=labels.get, key=TARGET)
        go, clear = st.columns(2)
        go.button(
            "Reassign",
            type="primary",
            width="stretch",
            on_click=_reassign,
            args=(selected,),
        )
        clear.button("Clear selection", width="stretch", on_click=_clear)
        with st.expander("Selected accounts"):
            st.dataframe(
                selection_table(plan, data, selected).head(500),
                width="stretch",
                column_config={
                    "revenue": st.column_config.NumberColumn("Revenue", format="dollar"),
                    "cost": st.column_config.NumberColumn("Cost to serve", format="dollar"),
                    "net_profit": st.column_config.NumberColumn("Net profit", format="dollar"),
                },
            )
    if plan.move is not None and len(plan.move):
        move = plan.move
        names = dict(zip(ctx.territory_ids, ctx.territory_names, strict=True))
        names[None] = UNASSIGNED_LABEL
        source = ", ".join(f"{n:,} from {names[t]}" for t, n in Counter(move.sources).items())
        target = ", ".join(f"{n:,} to {names[t]}" for t, n in Counter(move.destinations).items())
        st.caption(
            f"Last move: {len(move):,} accounts ({source}; {target}), "
            f"{move.at:%H:%M:%S} UTC. Undo in the sidebar."
        )

metrics = plan.metrics()
measure = _state.measure()
stats = balance(metrics[measure].astype(float), _state.tolerance())
st.subheader("Territories")
st.caption(
    f"Δ mean % is each territory's {MEASURES[measure].lower()} against the mean; red outside "
    f"± {stats.tolerance_pct:.0f}%. {len(stats.outside)} of {len(metrics)} territories outside. "
    "The last two columns show what the last move changed."
)
previous = plan.parent.metrics() if plan.parent is not None else None
st.dataframe(territory_table(metrics, stats, previous), width="stretch")
