"""The CRM write-back block of the Export page: options, the previous publication, download."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import _state
from terrmap.core.plan import Plan
from terrmap.geo.workspace import Workspace
from terrmap.io import crm
from terrmap.io.crm import owners_of
from terrmap.io.safe import escape_markdown
from terrmap.store.database import StoreUnavailableError
from terrmap.store.errors import ScenarioError
from terrmap.store.published import open_publication, publication_before

TARGET_LABELS = {"salesforce": "Salesforce", "hubspot": "HubSpot"}
_MODEL = "crm_sf_model_id"
_TYPE = "crm_sf_type_id"


def options_form(target: str) -> dict | None:
    """The target's options; ``None`` (with an error shown) when one is malformed."""
    if target != "salesforce":
        return {}
    left, right = st.columns(2)
    model = left.text_input(
        "Territory model id (Territory2ModelId)", key=_MODEL, placeholder="0MA…, 15 or 18 chars"
    ).strip()
    kind = right.text_input(
        "Territory type id (Territory2TypeId)", key=_TYPE, placeholder="0M5…, 15 or 18 chars"
    ).strip()
    options = {"model_id": model or None, "type_id": kind or None}
    bad = [v for v in options.values() if v is not None and not crm.is_salesforce_id(v)]
    if bad:
        st.error(f"{escape_markdown(bad[0])} is not a Salesforce id (15 or 18 letters and digits).")
        return None
    return options


def previous_publication(plan: Plan) -> tuple[pd.DataFrame | None, str]:
    """Owners at the previous publication and a sentence saying which it is.

    The working plan, if it is the plan in force as published, is compared
    with the publication before it; any other plan with the plan in force.
    """
    try:
        store = _state.scenario_store()
        current = store.published()
    except (ScenarioError, StoreUnavailableError) as error:
        return None, f"The publications cannot be read ({escape_markdown(error)}): full files only."
    if current is None:
        return None, "No plan has been published yet: the delta files hold every account."
    opened = _state.opened()
    is_current = (
        opened is not None
        and (opened.scenario_id, opened.version) == (current.scenario_id, current.version)
        and not _state.unsaved_moves()
    )
    previous = publication_before(store, current) if is_current else current
    if previous is None:
        return None, "This is the first publication: the delta files hold every account."
    before = open_publication(store, previous)
    when = previous.effective_date.isoformat()
    return owners_of(before.plan, before.workspace), (
        f"The delta files hold the changes since the publication of "
        f"“{escape_markdown(previous.scenario_name)}” version {previous.version} (in force from {when})."
    )


def download_button(
    target: str, plan: Plan, workspace: Workspace, previous: pd.DataFrame | None, options
) -> None:
    """The ZIP of the target's files, made when clicked."""

    def make() -> bytes:
        files = crm.crm_files(plan, workspace, target, previous=previous, **options)
        return crm.crm_zip(files)

    st.download_button(
        f"{TARGET_LABELS[target]} files (ZIP)",
        data=_state.audited(make, f"{target}.zip", {"kind": "crm", "target": target}),
        file_name=f"terrmap-{target}.zip",
        mime="application/zip",
        key=f"download_crm_{target}",
        on_click="ignore",
        disabled=options is None,
        type="primary",
    )
