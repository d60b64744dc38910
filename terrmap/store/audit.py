"""The audit log: an append-only record of who did what, when, to which scenario.

Rows are only ever inserted (:func:`append_audit`); the database itself
refuses ``UPDATE`` and ``DELETE`` on the table (triggers written by the schema
migration), so nothing in the app can edit the trail.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["AUDIT_COLUMNS", "append_audit", "clean_actor", "read_audit"]

#: Columns of :func:`read_audit`'s frame.
AUDIT_COLUMNS = ["audit_id", "at", "actor", "action", "target", "detail"]


def clean_actor(actor: str, role: str = "actor") -> str:
    """``actor`` stripped; a :class:`ValueError` naming ``role`` when it is empty."""
    if not isinstance(actor, str) or not actor.strip():
        raise ValueError(f"{role} must be a non-empty name, got {actor!r}")
    return actor.strip()


def append_audit(
    connection: Connection,
    actor: str,
    action: str,
    target: str | None,
    detail: dict | None = None,
    at: datetime | None = None,
) -> int:
    """Insert one audit row inside the caller's transaction; return its id.

    Raises
    ------
    ValueError
        For an empty actor or action, or a detail that is not a JSON object.
    """
    actor = clean_actor(actor)
    action = clean_actor(action, "action")
    detail = {} if detail is None else detail
    if not isinstance(detail, dict):
        raise ValueError(f"detail must be a dict, got {type(detail).__name__}")
    text = json.dumps(detail, sort_keys=True, default=str)
    return connection.execute(
        sa.text(
            "INSERT INTO audit_log (at, actor, action, target, detail)"
            " VALUES (:at, :actor, :action, :target, :detail) RETURNING audit_id"
        ),
        {
            "at": (at or datetime.now(UTC)).isoformat(),
            "actor": actor,
            "action": action,
            "target": None if target is None else str(target),
            "detail": text,
        },
    ).scalar_one()


def _bound(value: datetime | date | str | None, name: str) -> str | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise ValueError(f"{name} must be a date or time, got {value!r}")
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return stamp.isoformat()


def read_audit(
    connection: Connection,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
) -> pd.DataFrame:
    """Audit rows, oldest first, filtered by actor, action and time (``since <= at < until``).

    Times without a zone are UTC.
    """
    clauses, params = [], {}
    for column, value in (("actor", actor), ("action", action)):
        if value is not None:
            clauses.append(f"{column} = :{column}")
            params[column] = value
    for op, name, value in ((">=", "since", since), ("<", "until", until)):
        bound = _bound(value, name)
        if bound is not None:
            clauses.append(f"at {op} :{name}")
            params[name] = bound
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = connection.execute(
        sa.text(
            f"SELECT audit_id, at, actor, action, target, detail FROM audit_log{where}"
            " ORDER BY audit_id"
        ),
        params,
    ).fetchall()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=AUDIT_COLUMNS)
    frame["audit_id"] = frame["audit_id"].astype("int64")
    frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
    frame["detail"] = [json.loads(text) for text in frame["detail"]]
    return frame
