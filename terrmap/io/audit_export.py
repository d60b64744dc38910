"""The audit trail as a table to read and a CSV to keep.

The store writes and reads the log (:meth:`ScenarioStore.audit_log`); this
module only shapes what it returns for people: the ``detail`` dict as JSON
text, times in UTC, and a CSV whose cells a spreadsheet never runs.
"""

from __future__ import annotations

import json

import pandas as pd

from terrmap.io.safe import to_csv_bytes

__all__ = ["AUDIT_COLUMNS", "audit_csv", "audit_table"]

#: Columns of the table and the CSV, in order.
AUDIT_COLUMNS: tuple[str, ...] = ("audit_id", "at", "actor", "action", "target", "detail")


def audit_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Audit rows with ``detail`` as JSON text (keys sorted) and ``at`` as ISO UTC text.

    Parameters
    ----------
    rows : pandas.DataFrame
        As :meth:`ScenarioStore.audit_log` returns them. Not modified.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`AUDIT_COLUMNS`, same rows in the same order.
    """
    table = rows.reindex(columns=list(AUDIT_COLUMNS)).copy()
    table["at"] = pd.to_datetime(table["at"], utc=True).map(
        lambda t: None if pd.isna(t) else t.isoformat()
    )
    table["detail"] = table["detail"].map(
        lambda d: (
            ""
            if d is None or (not isinstance(d, dict) and pd.isna(d))
            else json.dumps(d, sort_keys=True, default=str)
        )
    )
    return table


def audit_csv(rows: pd.DataFrame) -> bytes:
    """Write audit rows as UTF-8 CSV (see :func:`audit_table`), formula-safe."""
    return to_csv_bytes(audit_table(rows))
