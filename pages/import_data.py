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
    UPLOAD_TYPES,
    ImportResult,
    prepare_import,
    rejected_csv,
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


def _load(
    uploads: dict, mappings: dict, dissolve: bool, numbers: NumberOptions | None
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

dissolve = "territories" in uploads and st.checkbox(
    "Merge territory features that share an id (e.g. one feature per ZIP code)", key=DISSOLVE
)
_numbers_form()
numbers, numbers_problem = _number_options()
if numbers_problem is not None:
    st.error(escape_markdown(numbers_problem))
    st.stop()
overrides = {kind: _overrides(kind, upload.file_id) for kind, upload in uploads.items()}
signature = (
    tuple((kind, upload.file_id) for kind, upload in uploads.items()),
    tuple((kind, tuple(sorted(o.items()))) for kind, o in overrides.items()),
    bool(dissolve),
    numbers,
)
cached = st.session_state.get(RESULT)
if cached is not None and cached[0] == signature:
    result = cached[1]
    st.status(**_status(result), expanded=False)
else:
    result = _load(
        uploads, {kind: dict(o) for kind, o in overrides.items()}, bool(dissolve), numbers
    )
    st.session_state[RESULT] = (signature, result)

for kind in result.files:
    _mapping_editor(kind, result, overrides[kind])

for problem in result.problems:
    st.error(escape_markdown(problem))

_summary(result)
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
