"""Import page: upload files, check the mapping and the rejected rows, then use the data.

The work is :func:`terrmap.io.importing.prepare_import`; this page only renders
its result. Every text that comes from a file (column names, ids, reasons,
file names) reaches the screen through ``st.dataframe``, selectbox options or
:func:`~terrmap.io.safe.escape_markdown`, never as raw markdown. The
working plan changes only in :func:`_use`, the "Use this data" button's
callback (a callback, so the sidebar of the same run already shows the new
data).
"""

from __future__ import annotations

import streamlit as st

from pages import _state
from terrmap.io.importing import (
    FIELD_LABELS,
    FIELDS,
    IMPORT_KINDS,
    STEPS,
    UNIT_CHOICES,
    UPLOAD_TYPES,
    ImportResult,
    ReimportResult,
    UnitChoice,
    prepare_import,
    prepare_reimport,
    rejected_csv,
    unit_layer_fields,
)
from terrmap.io.loaders import NumberOptions
from terrmap.io.numbers import CURRENCY_CODES
from terrmap.io.safe import escape_markdown

NONE = "(none)"
RESULT = "import_result"  # (signature, ImportResult) of the files on screen
OVERRIDES = "import_overrides"  # kind -> (file id, {field: column or None})
DISSOLVE = "import_dissolve"
NUMBER_FORMAT = "import_number_format"
CURRENCY = "import_currency"
RATES = "import_rates"
DETECT = "Decide from the file"
NUMBER_FORMATS = (DETECT, "1,234.56", "1.234,56")
USE_BUTTON = "import_use"
UNITS = "import_units"
UNIT_RESOLUTION = "import_h3_resolution"
UNIT_FILE = "import_file_units"
UNIT_ID = "import_unit_id"
UNIT_NAME = "import_unit_name"
UNIT_FIELDS = "import_unit_fields"  # (file id, fields or error) of the unit layer on screen
MODE = "import_mode"
REIMPORT = "import_reimport"  # (signature, ReimportResult) of the file on screen
REIMPORT_BUTTON = "import_reimport_apply"
NEW_DATA = "A new data set (replaces the working plan)"
NEXT_EXPORT = "Next export of the current plan's accounts (re-import)"

LABELS = {
    "accounts": "Accounts (required)",
    "territories": "Territories (optional)",
    "reps": "Reps (optional)",
}
HELP = {
    "accounts": (
        "A CRM export: CSV, Excel (.xlsx), GeoJSON, GeoPackage or GeoParquet. "
        "Each account needs latitude/longitude or a US ZIP code."
    ),
    "territories": (
        "Territory polygons: GeoJSON, GeoPackage, GeoParquet, or a Shapefile zipped together "
        "with its .shx, .dbf and .prj files. Without it, one territory is drawn per account owner."
    ),
    "reps": "CSV or Excel (.xlsx). Matched to territories and owners by rep id, else by name.",
}
TITLES = {"accounts": "Accounts", "territories": "Territories", "reps": "Reps"}


def _overrides(kind: str, file_id: str) -> dict:
    """The user's mapping corrections for this upload (a new file starts afresh)."""
    store = st.session_state.setdefault(OVERRIDES, {})
    if store.get(kind, (None, None))[0] != file_id:
        store[kind] = (file_id, {})
    return store[kind][1]


def _remap(kind: str, field: str, key: str) -> None:
    choice = st.session_state[key]
    overrides = st.session_state[OVERRIDES][kind][1]
    if choice != NONE:
        # A column serves one field: the field that had it gives it up.
        for other in [f for f, column in overrides.items() if column == choice]:
            del overrides[other]
    overrides[field] = None if choice == NONE else choice


def _reset(kind: str) -> None:
    st.session_state[OVERRIDES][kind][1].clear()


def _use(result: ImportResult) -> None:
    _state.set_workspace(result.workspace)


def _number_options() -> tuple[NumberOptions | None, str | None]:
    """The number format, currency and rates the user stated; or the reason they are wrong."""
    fmt = st.session_state.get(NUMBER_FORMAT, DETECT)
    currency = (st.session_state.get(CURRENCY) or "").strip().upper() or None
    rates: dict[str, float] = {}
    for item in (st.session_state.get(RATES) or "").replace(";", ",").split(","):
        if not item.strip():
            continue
        code, _, value = item.partition("=")
        try:
            rates[code.strip().upper()] = float(value)
        except ValueError:
            return None, f"Exchange rate {item.strip()!r}: write CODE=RATE, e.g. GBP=1.17"
    if currency is not None and currency not in CURRENCY_CODES:
        return None, f"Currency {currency!r}: give an ISO code such as EUR or USD"
    try:
        options = NumberOptions(
            number_format=None if fmt == DETECT else fmt, currency=currency, rates=rates or None
        )
    except ValueError as error:
        return None, str(error)
    return options, None


def _numbers_form() -> None:
    with st.expander("Numbers and currency"):
        left, middle, right = st.columns(3)
        left.selectbox(
            "Number format",
            NUMBER_FORMATS,
            key=NUMBER_FORMAT,
            help="How the files write amounts. By default each column's format is decided "
            "from its values; a column that mixes formats is refused until you choose.",
        )
        middle.text_input(
            "Currency (ISO code)",
            key=CURRENCY,
            placeholder="from the file, e.g. EUR",
            help="The data set's currency. By default the one most amounts name.",
        )
        right.text_input(
            "Exchange rates",
            key=RATES,
            placeholder="e.g. GBP=1.17, USD=0.92",
            help="Value of one unit in the data set's currency, for amounts written in "
            "another currency; without a rate those rows are rejected.",
        )


def _unit_fields(upload) -> tuple[tuple[str, ...], str | None]:
    """The unit layer's fields (read once per upload), or why it cannot be read."""
    cached = st.session_state.get(UNIT_FIELDS)
    if cached is None or cached[0] != upload.file_id:
        try:
            cached = (upload.file_id, unit_layer_fields(upload.getvalue(), upload.name), None)
        except ValueError as error:
            cached = (upload.file_id, (), str(error))
        st.session_state[UNIT_FIELDS] = cached
    return cached[1], cached[2]


def _unit_form() -> tuple[UnitChoice | None, tuple]:
    """The unit layer the user chose and what identifies it; None while it is incomplete."""
    with st.container(border=True):
        kind = st.selectbox(
            "Territory building blocks (units)",
            list(UNIT_CHOICES),
            format_func=UNIT_CHOICES.get,
            key=UNITS,
            help="With units, a territory is a set of places (counties, ZIP areas, hexagons...) "
            "plus named-account exceptions: next month's accounts fall into the territory of "
            "their place, and the map draws territories along the units' lines.",
        )
        if kind == "h3":
            resolution = st.number_input(
                "H3 resolution",
                min_value=0,
                max_value=15,
                value=7,
                key=UNIT_RESOLUTION,
                help="5: about 250 km² per hexagon, 6: 36 km², 7: 5 km², 8: 0.7 km².",
            )
            return UnitChoice("h3", resolution=int(resolution)), ("h3", int(resolution))
        if kind != "uploaded":
            return UnitChoice(kind), (kind,)
        upload = st.file_uploader(
            "Unit layer (polygons)",
            type=list(UPLOAD_TYPES["territories"]),
            key=UNIT_FILE,
            help="Any polygon layer: the Census ZCTA shapefile (zipped), another country's "
            "postcode areas, sales districts. GeoJSON, GeoPackage, GeoParquet or a zipped "
            "Shapefile.",
        )
        if upload is None:
            st.info("Upload the polygon layer, then choose the field holding each unit's id.")
            return None, ()
        fields, problem = _unit_fields(upload)
        if problem is not None:
            st.error(escape_markdown(problem))
            return None, ()
        left, right = st.columns(2)
        id_field = left.selectbox("Unit id field", fields, key=UNIT_ID)
        name_field = right.selectbox("Unit name field", [NONE, *fields], key=UNIT_NAME)
        name_field = None if name_field == NONE else name_field
        choice = UnitChoice(
            "uploaded",
            source=upload.getvalue(),
            filename=upload.name,
            id_field=id_field,
            name_field=name_field,
        )
        return choice, ("uploaded", upload.file_id, id_field, name_field)


def _reimport(upload, numbers: NumberOptions | None) -> None:
    """Apply the plan in force to a new accounts file: report, then the user's go."""
    plan, workspace = _state.plan(), _state.workspace()
    overrides = _overrides("accounts", upload.file_id)
    signature = (upload.file_id, tuple(sorted(overrides.items())), numbers, id(plan))
    cached = st.session_state.get(REIMPORT)
    applied = (
        cached is not None
        and cached[1].reimport is not None
        and cached[1].reimport.workspace is workspace
    )
    if (
        cached is not None
        and cached[0][:-1] == signature[:-1]
        and (cached[0] == signature or applied)
    ):
        # Once applied, the plan in force is the re-imported one: keep showing what was done.
        result = cached[1]
    else:
        with st.spinner("Applying the plan's territories to the new accounts…"):
            result = prepare_reimport(
                upload.getvalue(),
                plan,
                workspace,
                mapping=dict(overrides),
                filename=upload.name,
                numbers=numbers,
            )
        st.session_state[REIMPORT] = (signature, result)
    _mapping_editor("accounts", result, overrides)
    for problem in result.problems:
        st.error(escape_markdown(problem))
    if result.usable:
        _reimport_report(result)
    if result.warnings:
        st.warning("\n".join(f"- {escape_markdown(warning)}" for warning in result.warnings))
    with st.container(key="import_rejected"):
        _rejected(result)


def _reimport_report(result: ReimportResult) -> None:
    applied = result.reimport
    totals = applied.report.sum()
    kept = applied.workspace.initial_plan.exceptions
    cols = st.columns(5)
    cols[0].metric("Accounts added", f"{totals['added']:,}")
    cols[1].metric("Accounts removed", f"{totals['removed']:,}")
    cols[2].metric("Accounts changed", f"{totals['changed']:,}")
    cols[3].metric("Exceptions kept", f"{len(kept):,}")
    cols[4].metric(
        "Lost exceptions",
        f"{len(applied.lost_exceptions):,}",
        help="Exceptions whose account is not in the new file: kept in the definition.",
    )
    st.subheader("Changes per territory")
    st.caption(
        "New accounts fall in the territory of their place; exceptions stay; figures are the "
        "new file's. Moved: accounts in both files now in another territory."
    )
    st.dataframe(
        result.report_table(),
        width="stretch",
        column_config={
            "name": st.column_config.TextColumn("Territory"),
            "added": st.column_config.NumberColumn("Added"),
            "removed": st.column_config.NumberColumn("Removed"),
            "changed": st.column_config.NumberColumn("Changed"),
            "moved_in": st.column_config.NumberColumn("Moved in"),
            "moved_out": st.column_config.NumberColumn("Moved out"),
        },
    )
    if len(applied.lost_exceptions):
        with st.expander(
            f"Exceptions whose account is gone ({len(applied.lost_exceptions):,}): kept in "
            "the definition, listed here",
            expanded=True,
        ):
            lost = applied.workspace.initial_plan.layout.absent_exceptions
            st.dataframe(
                lost.reindex(applied.lost_exceptions).rename("territory").to_frame(),
                width="stretch",
            )
    if len(applied.outside):
        with st.expander(f"Accounts in no unit ({len(applied.outside):,}): white space"):
            accounts = applied.workspace.accounts
            columns = [c for c in ("name", "lon", "lat") if c in accounts.columns]
            st.dataframe(accounts.loc[applied.outside, columns], width="stretch")
    in_use = _state.workspace() is applied.workspace
    st.button(
        "Apply to the current plan",
        type="primary",
        key=REIMPORT_BUTTON,
        on_click=_state.set_workspace,
        args=(applied.workspace,),
        disabled=in_use,
    )
    if in_use:
        st.success("The plan now holds the new accounts: open the Map editor or Territories page.")
    else:
        st.caption("The plan's undo history starts afresh from the re-imported plan.")


def _units_summary(result: ImportResult) -> None:
    workspace = result.workspace
    if workspace is None or workspace.units is None:
        return
    units = workspace.units
    label = UNIT_CHOICES.get(units.kind, units.kind)
    if units.params.get("source") == "territories":
        label = UNIT_CHOICES["territories"]
    approximate = " (approximate shapes)" if units.approximate else ""
    outside = workspace.context.account_ids[workspace.initial_plan.layout.account_units < 0]
    st.caption(
        f"Territories are built from {units.n_units:,} units: {escape_markdown(label)}"
        f"{approximate}. {len(outside):,} account{'' if len(outside) == 1 else 's'} "
        "in no unit."
    )
    if len(outside):
        with st.expander(f"Accounts in no unit ({len(outside):,}): white space"):
            columns = [c for c in ("name", "lon", "lat") if c in workspace.accounts.columns]
            st.dataframe(workspace.accounts.loc[outside, columns])


def _load(
    uploads: dict,
    mappings: dict,
    dissolve: bool,
    numbers: NumberOptions | None,
    units: UnitChoice | None,
) -> ImportResult:
    with st.status("Loading the files…", expanded=True) as status:
        bar = st.progress(0.0)

        def progress(step: int, label: str, done: float) -> None:
            bar.progress(
                (step + done) / len(STEPS), text=f"Step {step + 1} of {len(STEPS)}: {label}"
            )

        result = prepare_import(
            uploads["accounts"],
            uploads.get("territories"),
            uploads.get("reps"),
            mappings=mappings,
            dissolve=dissolve,
            progress=progress,
            numbers=numbers,
            units=units,
        )
        bar.progress(1.0, text="Done")
        status.update(**_status(result), expanded=False)
    return result


def _status(result: ImportResult) -> dict:
    if result.usable:
        return {"label": "Files loaded: check them below, then use the data", "state": "complete"}
    return {"label": "The files cannot be used yet: see below", "state": "error"}


def _mapping_editor(kind: str, result: ImportResult, overrides: dict) -> None:
    outcome = result.files[kind]
    fields = FIELDS[kind]
    matched = sum(field in outcome.mapping for field in fields)
    title = f"{TITLES[kind]} columns: {matched} of {len(fields)} fields matched"
    with st.expander(title, expanded=outcome.error is not None):
        if not outcome.columns:
            st.caption("The file could not be read, so there are no columns to map.")
            return
        options = [NONE, *outcome.columns]
        grid = st.columns(4)
        for position, field in enumerate(fields):
            key = f"import_map_{kind}_{field}"
            # The widget shows what the load used, which a correction of
            # another field may have changed.
            st.session_state[key] = outcome.mapping.get(field, NONE)
            grid[position % 4].selectbox(
                FIELD_LABELS[kind][field],
                options,
                key=key,
                on_change=_remap,
                args=(kind, field, key),
            )
        if kind == "territories":
            st.caption("Territory id (none) uses the name as id; name (none) uses the id.")
        st.button(
            "Back to the guessed mapping",
            key=f"import_reset_{kind}",
            on_click=_reset,
            args=(kind,),
            disabled=not overrides,
        )


def _summary(result: ImportResult) -> None:
    def shown(value: int | None) -> str:
        return "–" if value is None else f"{value:,}"

    cols = st.columns(5)
    cols[0].metric("Accounts loaded", shown(result.n_accounts))
    cols[1].metric("Rows rejected", shown(result.n_rejected))
    cols[2].metric("Territories", shown(result.n_territories))
    cols[3].metric("Accounts in no territory", shown(result.n_white_space))
    cols[4].metric("Overlapping territory pairs", shown(result.n_overlaps))
    if result.territory_source == "owners":
        st.caption(
            "No territories file: one territory per account owner, drawn around its accounts."
        )
    load = result.files["accounts"].load
    if load is not None and (load.currency or load.number_formats):
        formats = ", ".join(
            f"{escape_markdown(column)} as {escape_markdown(fmt)}"
            for column, fmt in load.number_formats.items()
        )
        currency = escape_markdown(load.currency) if load.currency else "no stated currency"
        st.caption(f"Amounts in {currency}; read {formats}.")


def _rejected(result: ImportResult) -> None:
    st.subheader(f"Rejected rows ({result.n_rejected:,})")
    if not result.n_rejected:
        st.caption("Every row of every file loaded.")
        return
    st.caption("Line numbers as your spreadsheet shows them: the header is line 1.")
    st.dataframe(
        result.rejected,
        hide_index=True,
        width="stretch",
        column_config={
            "file": st.column_config.TextColumn("File"),
            "line": st.column_config.NumberColumn("Line", format="%d"),
            "id": st.column_config.TextColumn("Id"),
            "reason": st.column_config.TextColumn("Reason", width="large"),
        },
    )
    st.download_button(
        "Download rejected rows (CSV)",
        data=rejected_csv(result.rejected),
        file_name="rejected_rows.csv",
        mime="text/csv",
        key="import_rejected_csv",
    )


def _details(result: ImportResult) -> None:
    workspace = result.workspace
    if workspace is None:
        return
    currency = result.currency
    revenue = f"Revenue ({currency})" if currency else "Revenue"
    with st.expander(f"Territories ({result.n_territories})"):
        st.dataframe(
            result.territory_preview(),
            width="stretch",
            column_config={"Revenue": st.column_config.NumberColumn(revenue, format="localized")},
        )
    if result.n_overlaps:
        st.caption("Overlapping territories: an account in both goes to the first one.")
        st.dataframe(workspace.assignment.overlaps, hide_index=True)


_state.page_setup()

st.title("Import data")
st.caption(
    "Upload your accounts, and territories or reps if you have them. "
    "Your working plan does not change until you press **Use this data**."
)

uploads = {}
for column, kind in zip(st.columns(3), IMPORT_KINDS, strict=True):
    uploads[kind] = column.file_uploader(
        LABELS[kind], type=list(UPLOAD_TYPES[kind]), key=f"import_file_{kind}", help=HELP[kind]
    )
uploads = {kind: upload for kind, upload in uploads.items() if upload is not None}
if "accounts" not in uploads:
    st.info("Upload an accounts file to begin.")
    st.stop()

_reimportable = "territories" not in uploads and _state.plan().layout is not None
if (
    _reimportable
    and st.radio(
        "Use this accounts file as",
        (NEW_DATA, NEXT_EXPORT),
        key=MODE,
        horizontal=True,
        help="The current plan is a territory definition (units and exceptions): next month's "
        "CRM export can be applied to it, placing new accounts by their place.",
    )
    == NEXT_EXPORT
):
    _numbers_form()
    numbers, numbers_problem = _number_options()
    if numbers_problem is not None:
        st.error(escape_markdown(numbers_problem))
        st.stop()
    _reimport(uploads["accounts"], numbers)
    st.stop()

dissolve = "territories" in uploads and st.checkbox(
    "Merge territory features that share an id (e.g. one feature per ZIP code)", key=DISSOLVE
)
_numbers_form()
numbers, numbers_problem = _number_options()
if numbers_problem is not None:
    st.error(escape_markdown(numbers_problem))
    st.stop()
unit_choice, unit_key = _unit_form()
if unit_choice is None:
    st.stop()
overrides = {kind: _overrides(kind, upload.file_id) for kind, upload in uploads.items()}
signature = (
    tuple((kind, upload.file_id) for kind, upload in uploads.items()),
    tuple((kind, tuple(sorted(o.items()))) for kind, o in overrides.items()),
    bool(dissolve),
    numbers,
    unit_key,
)
cached = st.session_state.get(RESULT)
if cached is not None and cached[0] == signature:
    result = cached[1]
    st.status(**_status(result), expanded=False)
else:
    result = _load(
        uploads,
        {kind: dict(o) for kind, o in overrides.items()},
        bool(dissolve),
        numbers,
        unit_choice,
    )
    st.session_state[RESULT] = (signature, result)

for kind in result.files:
    _mapping_editor(kind, result, overrides[kind])

for problem in result.problems:
    st.error(escape_markdown(problem))

_summary(result)
_units_summary(result)
if result.usable:
    in_use = _state.workspace() is result.workspace
    st.button(
        "Use this data",
        type="primary",
        key=USE_BUTTON,
        on_click=_use,
        args=(result,),
        disabled=in_use,
    )
    if in_use:
        st.success("This data is now your working plan: open the Map editor or Territories page.")
    else:
        st.caption("Replaces the working plan and its undo history with this data.")

if result.warnings:
    st.warning("\n".join(f"- {escape_markdown(warning)}" for warning in result.warnings))
with st.container(key="import_rejected"):
    _rejected(result)
_details(result)
