"""Map editor: territories over accounts; select, reassign, see the numbers change."""

import uuid
from collections import Counter

import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from pages import _state
from pages._tables import (
    money,
    readable,
    rep_label,
    styled_money,
    territory_names,
    territory_table,
)
from terrmap.core.balance import balance
from terrmap.core.formatting import count, number, timestamp
from terrmap.core.metrics import MEASURES
from terrmap.core.schema import UNASSIGNED_LABEL
from terrmap.geo.drawing import plan_shapes
from terrmap.geo.handoff import distance_check, suggest_target
from terrmap.io.importing import escape_markdown
from terrmap.web.basemap import ONLINE_TILES, TILES_ATTRIBUTION, TILES_HELP, TILES_LABEL
from terrmap.web.editor import (
    FILTER_COLUMNS,
    account_callouts,
    filter_mask,
    filter_options,
    find_accounts,
    selected_positions,
    selection_table,
    size_classes,
)
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
CONFIRM = "map_confirm_far"
SUGGESTION = "map_target_reason"
SEARCH = "map_search"
SEARCH_PICK = "map_search_pick"
FOCUS = "map_focus"  # (request id, position) the map centres on once
SIZE = "map_point_size"
FILTER = "map_filter_"  # + column
SIZE_MEASURES = {"": "Same size", "revenue": "Revenue", "net_profit": "Net profit"}

_state.page_setup()

ws = _state.workspace()
data = _state.workspace_map()
plan = _state.plan()
ctx = plan.context
ss = st.session_state


def _select(positions: np.ndarray) -> None:
    """Make ``positions`` the selection; "Hand them to" starts at the suggested territory."""
    ss[SELECTION] = (ws, positions)
    ss[CONFIRM] = False
    if len(positions) == 0:
        ss.pop(SUGGESTION, None)
        return
    suggestion = suggest_target(_state.plan(), positions)
    ss[SUGGESTION] = suggestion.reason
    if suggestion.territory_id is not None:
        ss[TARGET] = suggestion.territory_id


def _target_changed() -> None:
    ss[CONFIRM] = False


owner_names = pd.Series(_state.rep_names(), dtype=object)
options = filter_options(ws.accounts, owner_names)
chosen = {c: ss.get(FILTER + c) or [] for c in options}
keep = filter_mask(ws.accounts, chosen, owner_names)
filtered = not keep.all()


def _found() -> np.ndarray:
    matches = find_accounts(data.names, ss.get(SEARCH, ""))
    return matches[keep[matches]]


def _focus_on(position: int) -> None:
    _select(np.array([position], dtype=np.int64))
    ss[FOCUS] = (uuid.uuid4().hex[:8], int(position))


def _search() -> None:
    matches = _found()
    ss.pop(SEARCH_PICK, None)
    if len(matches):
        _focus_on(int(matches[0]))


def _pick() -> None:
    _focus_on(int(ss[SEARCH_PICK]))


# st_folium's on_change callback stored the latest selection under MAP_KEY before
# this run: apply it first so the map is drawn once, with the selection.
event = parse_map_event(ss.get(MAP_KEY))
if event is not None and event.event_id != ss.get(HANDLED):
    ss[HANDLED] = event.event_id
    picked = selected_positions(event, data)
    _select(picked[keep[picked]])  # filtered-out accounts cannot be selected
stored = ss.get(SELECTION)
selected = stored[1] if stored is not None and stored[0] is ws else np.empty(0, dtype=np.int64)
selected = selected[keep[selected]]


def _reassign(positions: np.ndarray) -> None:
    current = _state.plan()
    target = ss[TARGET]
    new = current.reassign_positions(
        positions,
        None if target == UNASSIGN else target,
        author=_state.author(),
        note=f"map selection ({count(len(positions), 'account')})",
    )
    _state.push(new)
    _select(np.empty(0, dtype=np.int64))


def _clear() -> None:
    _select(np.empty(0, dtype=np.int64))


def _sizes(measure: str) -> np.ndarray | None:
    if not measure:
        return None
    values = ctx.revenue if measure == "revenue" else ctx.revenue - ctx.cost
    return size_classes(values)


st.title("Map editor")
_state.show_autosave_error()
map_col, side_col = st.columns([5, 2], gap="medium")

with map_col:
    find, size, narrow = st.columns([3, 2, 2], vertical_alignment="bottom")
    find.text_input(
        "Find an account",
        key=SEARCH,
        on_change=_search,
        placeholder="Account name",
        help="Centres the map on the first match and selects it.",
    )
    matches = _found() if ss.get(SEARCH) else np.empty(0, dtype=np.int64)
    size.selectbox("Size points by", list(SIZE_MEASURES), format_func=SIZE_MEASURES.get, key=SIZE)
    with narrow.popover(
        f"Filters ({sum(bool(v) for v in chosen.values())} on)" if filtered else "Filters",
        width="stretch",
    ):
        st.caption("Accounts left out are greyed on the map and cannot be selected.")
        for column, values in options.items():
            st.multiselect(FILTER_COLUMNS[column], values, key=FILTER + column)
    if ss.get(SEARCH) and len(matches) == 0:
        st.caption(f"No account named like “{escape_markdown(ss[SEARCH])}”.")
    elif len(matches) > 1:
        st.selectbox(
            f"{count(len(matches), 'match', 'matches')}",
            matches.tolist(),
            format_func=lambda p: str(data.names[p]),
            key=SEARCH_PICK,
            index=None,
            placeholder="Go to another match",
            on_change=_pick,
        )
    if filtered:
        st.caption(f"Filters show {count(int(keep.sum()), 'account')} of {number(len(keep))}.")
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
            tips_url=_state.tips_url(),
            basemap_url=None if online else _state.basemap_url(),
        ),
        key=MAP_KEY,
        feature_group_to_add=build_update_layer(
            plan.codes,
            shapes,
            colors=data.colors,
            selected=mask,
            callouts=account_callouts(plan, data, selected, currency=_state.currency()),
            clear_selection=len(selected) == 0,
            dimmed=~keep if filtered else None,
            sizes=_sizes(ss.get(SIZE) or ""),
            owners=[rep_label(r, _state.rep_names()) for r in ctx.territory_reps],
            focus=ss.get(FOCUS),
        ),
        returned_objects=list(RETURNED_OBJECTS),
        height=600,
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
        # A narrow column (about 220 px at 1280 px wide): what to decide and the
        # buttons first, within the first screen; the detail below them.
        st.subheader(f"Selection: {count(len(selected), 'account')}")
        st.markdown(f"Revenue **{money(revenue)}**  \nNet profit **{money(net)}**")
        names = territory_names(plan)
        options = [*ctx.territory_ids, UNASSIGN]
        labels = {UNASSIGN: UNASSIGNED_LABEL, **names}
        if ss.get(TARGET) not in options:
            ss[TARGET] = options[0]
        st.selectbox(
            "Hand them to",
            options,
            format_func=labels.get,
            key=TARGET,
            on_change=_target_changed,
            help=ss.get(SUGGESTION),
        )
        target = ss[TARGET]
        check = distance_check(plan, selected, None if target == UNASSIGN else target)
        if check.is_far:
            st.warning(
                f"{count(check.far_accounts, 'account')} would be up to "
                f"{number(check.max_km)} km from {labels[target]}'s home base "
                f"(limit {number(check.threshold_km)} km)."
            )
            st.checkbox(
                f"Yes, hand them to {labels[target]}",
                key=CONFIRM,
                help="The limit is a quarter beyond where the territory's own accounts are.",
            )
        st.button(
            "Reassign",
            type="primary",
            width="stretch",
            on_click=_reassign,
            args=(selected,),
            disabled=check.is_far and not ss.get(CONFIRM),
        )
        st.button("Clear selection", width="stretch", on_click=_clear, shortcut="Esc")
        if ss.get(SUGGESTION):
            st.caption(f"Suggested: {ss[SUGGESTION]}")
        st.markdown(
            "\n".join(
                f"- From **{escape_markdown(names.get(t, t))}**: "
                f"{count(int(row['accounts']), 'account')}, {money(row['net_profit'])} net profit"
                for t, row in summary.iterrows()
            )
        )
        with st.expander("Selected accounts"):
            listed = readable(selection_table(plan, data, selected).head(500))
            st.dataframe(styled_money(listed), width="stretch")
    if plan.move is not None and len(plan.move):
        move = plan.move
        names = territory_names(plan)
        source = ", ".join(f"{number(n)} from {names[t]}" for t, n in Counter(move.sources).items())
        target = ", ".join(
            f"{number(n)} to {names[t]}" for t, n in Counter(move.destinations).items()
        )
        st.caption(
            f"Last move: {count(len(move), 'account')} ({source}; {target}), "
            f"{timestamp(move.at)}. Undo in the sidebar."
        )

metrics = plan.metrics()
measure = _state.measure()
stats = balance(metrics[measure].astype(float), _state.tolerance())
st.subheader("Territories")
st.caption(
    f"Δ mean % is each territory's {MEASURES[measure].lower()} against the mean; red outside "
    f"± {stats.tolerance_pct:.0f}%. {len(stats.outside)} of "
    f"{count(len(metrics), 'territory')} outside. "
    "The last two columns show what the last move changed."
)
previous = plan.parent.metrics() if plan.parent is not None else None
st.dataframe(territory_table(metrics, stats, previous), width="stretch")
