"""The CRM write-back block of the Export page: options, the previous publication, download."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from terrmap.core.plan import Plan
from terrmap.geo.workspace import Workspace
from terrmap.io import crm
from terrmap.io.importing import escape_markdown

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


def previous_publication() -> tuple[pd.DataFrame | None, str]:
    """Owners at the previous publication and a sentence saying which it is."""
    return None, "No plan has been published yet: the delta files hold every account."


def download_button(
    target: str, plan: Plan, workspace: Workspace, previous: pd.DataFrame | None, options
) -> None:
    """The ZIP of the target's files, made when clicked."""

    def make() -> bytes:
        files = crm.crm_files(plan, workspace, target, previous=previous, **options)
        return crm.crm_zip(files)

    st.download_button(
        f"{TARGET_LABELS[target]} files (ZIP)",
        data=make,
        file_name=f"terrmap-{target}.zip",
        mime="application/zip",
        key=f"download_crm_{target}",
        on_click="ignore",
        disabled=options is None,
        type="primary",
    )
