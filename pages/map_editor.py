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
from terrmap.core.definition import NO_EXCEPTION
from terrmap.core.formatting import count, number, timestamp
from terrmap.core.metrics import MEASURES
from terrmap.core.plan import ContiguityError
from terrmap.core.schema import UNASSIGNED_LABEL
from terrmap.geo.drawing import plan_shapes
from terrmap.geo.handoff import distance_check, suggest_target
from terrmap.geo.palette import region_colors
from terrmap.geo.unitmap import exclave_flags, movable_accounts
from terrmap.io.importing import escape_markdown
from terrmap.web.basemap import ONLINE_TILES, TILES_ATTRIBUTION, TILES_HELP, TILES_LABEL
from terrmap.web.editor import (
    FILTER_COLUMNS,
    account_callouts,
    filter_mask,
    find_accounts,
    selected_positions,
    selected_units,
    selection_table,
    size_classes,
    units_table,
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
UNIT_SELECTION = "map_unit_selection"  # (workspace, codes of the selected units)
MODE = "map_select_mode"
MODES = {"places": "Places", "accounts": "Accounts"}
COLOUR_BY = "map_colour_by"
COLOURINGS = {"territory": "Territory", "region": "Region"}
KEEP_WHOLE = "map_keep_contiguous"
REFUSED = "map_refused"
REGION_TERRITORY = "map_region_territory"
REGION_TARGET = "map_region_target"
NEW_REGION = "__new_region__"
REGION_NAME = "map_region_name"

_state.page_setup()

ws = _state.workspace()
data = _state.workspace_map()
plan = _state.plan()
ctx = plan.context
ss = st.session_state
# Places (units) can be selected when the plan is built on the workspace's units.
units = data.units
by_units = (
    units is not None and plan.layout is not None and plan.layout.unit_ids.equals(units.unit_ids)
)
regions = plan.layout.regions.dropna() if plan.layout is not None else None
has_regions = regions is not None and len(regions) > 0
ss.setdefault(MODE, "places")
ss.setdefault(KEEP_WHOLE, False)
places = by_units and ss.get(MODE) != "accounts"  # deselected reads as the default


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


def _select_units(codes: np.ndarray) -> None:
    """Make units ``codes`` the selection (places mode): their movable accounts are selected."""
    ss[UNIT_SELECTION] = (ws, codes)
    ss.pop(REFUSED, None)
    _select(movable_accounts(_state.plan(), codes))


def _target_changed() -> None:
    ss[CONFIRM] = False


owner_names = pd.Series(_state.rep_names(), dtype=object)
options = _state.filter_choices()
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
    if places:
        _select_units(selected_units(event, units))
    else:
        ss.pop(UNIT_SELECTION, None)
        picked = selected_positions(event, data)
        _select(picked[keep[picked]])  # filtered-out accounts cannot be selected
stored = ss.get(SELECTION)
selected = stored[1] if stored is not None and stored[0] is ws else np.empty(0, dtype=np.int64)
stored_units = ss.get(UNIT_SELECTION)
chosen_units = (
    stored_units[1]
    if places and stored_units is not None and stored_units[0] is ws
    else np.empty(0, dtype=np.int64)
)
if places:
    # A place moves all its accounts, filtered out or not.
    selected = movable_accounts(plan, chosen_units) if len(chosen_units) else selected[:0]
else:
    selected = selected[keep[selected]]


def _reassign(positions: np.ndarray, unit_codes: np.ndarray) -> None:
    current = _state.plan()
    target = ss[TARGET]
    target = None if target == UNASSIGN else target
    if len(unit_codes):
        try:
            new = current.reassign_units(
                current.layout.unit_ids[unit_codes],
                target,
                keep_contiguous=bool(ss.get(KEEP_WHOLE)),
                author=_state.author(),
                note=f"map selection ({count(len(unit_codes), 'place')})",
            )
        except ContiguityError as error:
            ss[REFUSED] = (
                f"Move refused: {error}. Turn off “Refuse moves that split a territory” to allow it."
            )
            return
    else:
        new = current.reassign_positions(
            positions,
            target,
            author=_state.author(),
            note=f"map selection ({count(len(positions), 'account')})",
        )
    _state.push(new)
    _clear()


def _clear() -> None:
    ss.pop(UNIT_SELECTION, None)
    ss.pop(REFUSED, None)
    _select(np.empty(0, dtype=np.int64))


def _move_region() -> None:
    territory = ss[REGION_TERRITORY]
    region = ss.get(REGION_TARGET)
    if region == NEW_REGION:
        region = (ss.get(REGION_NAME) or "").strip()
        if not region:
            ss[REFUSED] = "Give the new region a name."
            return
    current = _state.plan()
    _state.push(
        current.move_to_region(
            territory, region, author=_state.author(), note="moved to another region"
        )
    )


def _sizes(measure: str) -> np.ndarray | None:
    if not measure:
        return None
    values = ctx.revenue if measure == "revenue" else ctx.revenue - ctx.cost
    return size_classes(values)


st.title("Map editor")
_state.show_autosave_error()
map_col, side_col = st.columns([5, 2], gap="medium")

with map_col:
    # One row of controls above the map, so that at 1400x900 the map ends above
    # the fold (a click on a map cut off below scrolls the page under the mouse).
    # "Places | Accounts" needs about 160 px: at 1280 px wide the map column has about 570.
    row = st.columns([2.2, 3.1, 2.7, 2] if by_units else [3, 2, 2], vertical_alignment="bottom")
    find, size, narrow = row[0], row[-2], row[-1]
    if by_units:
        row[1].segmented_control(
            "Select",
            list(MODES),
            format_func=MODES.get,
            key=MODE,
            on_change=_clear,
            help="Places: a shape or a click selects units (counties, ZIP areas, cells) with "
            "all their accounts except named exceptions. Accounts: single accounts.",
        )
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
        # The name inside the box, not above it: five labelled filters ran past a
        # 720 px screen, and the last one's list opened off the page.
        for column, values in options.items():
            st.multiselect(
                FILTER_COLUMNS[column],
                values,
                key=FILTER + column,
                label_visibility="collapsed",
                placeholder=f"{FILTER_COLUMNS[column]}: all",
            )
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
    colors, legend, legend_title = data.colors, None, "Territories"
    if has_regions and ss.get(COLOUR_BY) == "region":
        colors, by_region = region_colors(regions, ctx.territory_ids)
        legend = [(r if r is not None else "(no region)", c) for r, c in by_region.items()]
        legend_title = "Regions"
    unit_layer: dict = {}
    if by_units:
        unit_mask = np.zeros(units.n_units, dtype=bool)
        unit_mask[chosen_units] = True
        flags = exclave_flags(plan, units) if plan.layout.pairs is not None else None
        if flags is not None:
            # One flag per territory, on its biggest exclave: gappy layers (approximate
            # ZIP areas) can leave dozens of small ones.
            many = flags.groupby("territory_id")["units"].transform("size")
            flags = flags.assign(exclaves=many).sort_values("units", ascending=False)
            flags = flags.drop_duplicates("territory_id")
        names = territory_names(plan)
        unit_layer = {
            "unit_codes": plan.unit_codes,
            "selected_units": unit_mask,
            "select_units": places,
            "rings": plan.exception_codes != NO_EXCEPTION,
            "flags": []
            if flags is None
            else [
                {
                    "lat": lat,
                    "lng": lon,
                    "text": f"⚠ exclave of {names.get(t, t)}"
                    if n == 1
                    else f"⚠ {n} exclaves of {names.get(t, t)}",
                }
                for t, lon, lat, n in flags[["territory_id", "lon", "lat", "exclaves"]].itertuples(
                    index=False
                )
            ],
        }
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
            units_url=_state.units_url() if by_units else None,
        ),
        key=MAP_KEY,
        feature_group_to_add=build_update_layer(
            plan.codes,
            shapes,
            colors=colors,
            selected=mask,
            # A place holds many accounts: its callouts would pile up (the side lists them).
            callouts={}
            if places
            else account_callouts(plan, data, selected, currency=_state.currency()),
            clear_selection=len(selected) == 0,
            dimmed=~keep if filtered else None,
            sizes=_sizes(ss.get(SIZE) or ""),
            owners=[rep_label(r, _state.rep_names()) for r in ctx.territory_reps],
            focus=ss.get(FOCUS),
            legend=legend,
            legend_title=legend_title,
            **unit_layer,
        ),
        returned_objects=list(RETURNED_OBJECTS),
        height=600,
        use_container_width=True,
    )
    # Toggles one under the other, "Colour by" beside them: three across, their labels
    # were cut at 1280 px wide.
    toggles_col, colour_col = st.columns([2, 1], vertical_alignment="center")
    with toggles_col:
        st.toggle(
            TILES_LABEL,
            key=TILES,
            help=TILES_HELP,
        )
        if by_units:
            st.toggle(
                "Refuse moves that split a territory",
                key=KEEP_WHOLE,
                help="A place move that would leave a territory in more pieces than before "
                "(an exclave) is refused, naming the territory.",
            )
    if has_regions:
        colour_col.segmented_control(
            "Colour by",
            list(COLOURINGS),
            format_func=COLOURINGS.get,
            key=COLOUR_BY,
            default="territory",
        )
    if by_units:
        kind = "approximate ZIP areas" if units.approximate else units.kind
        st.caption(
            f"Places are {count(units.n_units, 'unit')} ({escape_markdown(kind)}); "
            "ringed accounts are named-account exceptions, which stay put when their place moves."
        )

with side_col:
    if ss.get(REFUSED):
        st.error(ss[REFUSED])
    if len(selected) == 0 and len(chosen_units) == 0:
        st.subheader("Selection")
        st.info(
            "Select places (counties, ZIP areas, cells) with the tools at the top left of the "
            "map: rectangle, polygon or freehand lasso, or a click on a place."
            if places
            else "Select accounts with the tools at the top left of the map: rectangle, "
            "polygon or freehand lasso. A click on one account selects it."
        )
    else:
        summary = plan.selection_summary(ctx.account_ids[selected])
        revenue = float(ctx.revenue[selected].sum())
        net = revenue - float(ctx.cost[selected].sum())
        # A narrow column (about 220 px at 1280 px wide): what to decide and the
        # buttons first, within the first screen; the detail below them.
        st.subheader(
            f"Selection: {count(len(chosen_units), 'place')}, {count(len(selected), 'account')}"
            if places
            else f"Selection: {count(len(selected), 'account')}"
        )
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
                "Yes, hand them over",  # the warning above names the territory
                key=CONFIRM,
                help=f"To {labels[target]}. The limit is a quarter beyond where the "
                "territory's own accounts are.",
            )
        st.button(
            "Reassign",
            type="primary",
            width="stretch",
            on_click=_reassign,
            args=(selected, chosen_units),
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
        if places:
            with st.expander("Selected places"):
                st.dataframe(units_table(plan, units, chosen_units).head(500), width="stretch")
        with st.expander("Selected accounts"):
            listed = readable(selection_table(plan, data, selected).head(500))
            st.dataframe(styled_money(listed), width="stretch")
    move = plan.move
    names = territory_names(plan)
    if move is not None and move.region is not None:
        moved, region = move.region
        st.caption(
            f"Last move: {names.get(moved, moved)} to "
            f"{'no region' if region is None else 'region ' + region}, {timestamp(move.at)}. "
            "Undo in the sidebar."
        )
    elif move is not None and (len(move) or move.unit_ids):
        source = ", ".join(f"{number(n)} from {names[t]}" for t, n in Counter(move.sources).items())
        target = ", ".join(
            f"{number(n)} to {names[t]}" for t, n in Counter(move.destinations).items()
        )
        what = count(len(move), "account")
        if move.unit_ids:
            what = f"{count(len(move.unit_ids), 'place')} with {what}"
        st.caption(
            f"Last move: {what}"
            + (f" ({source}; {target})" if len(move) else "")
            + f", {timestamp(move.at)}. Undo in the sidebar."
        )
    if plan.layout is not None:
        with st.expander("Regions"):
            territory_options = list(ctx.territory_ids)
            st.selectbox(
                "Territory", territory_options, format_func=names.get, key=REGION_TERRITORY
            )
            current_regions = plan.layout.regions.dropna()
            region_options = [*dict.fromkeys(current_regions.tolist()), NEW_REGION]
            st.selectbox(
                "Move it to region",
                region_options,
                format_func=lambda r: "A new region…" if r == NEW_REGION else r,
                key=REGION_TARGET,
            )
            if ss.get(REGION_TARGET) == NEW_REGION:
                st.text_input("New region's name", key=REGION_NAME)
            held = current_regions.get(str(ss.get(REGION_TERRITORY)))
            st.caption(
                f"{names.get(ss.get(REGION_TERRITORY), '')} is in "
                + ("no region" if held is None or pd.isna(held) else f"region {held}")
                + "."
            )
            st.button("Move to region", on_click=_move_region, width="stretch")

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
if by_units and plan.layout.pairs is not None:
    split = plan.contiguity()
    split = split[split["pieces"] > 1]
    if len(split):
        names = territory_names(plan)
        st.warning(
            "In more than one piece (flagged ⚠ on the map): "
            + ", ".join(
                f"{escape_markdown(names.get(t, t))} ({count(int(p), 'piece')})"
                for t, p in split["pieces"].items()
            )
        )
st.dataframe(territory_table(metrics, stats, previous, plan=plan, rollup=True), width="stretch")
