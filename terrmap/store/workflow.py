"""Review workflow and audit trail of the scenario store.

A scenario moves through these statuses (:meth:`WorkflowMixin.status`)::

    draft ──propose──▶ proposed ──review: approve──▶ approved ──publish──▶ published
      ▲                  │                                                   │
      │                  └──review: reject──▶ rejected ──propose──▶ proposed │
      └───────────── save (a new version, whatever the status) ◀─────────────┘

Rules (each refused with :class:`~terrmap.store.errors.WorkflowError`):

* only a draft or a rejected scenario can be proposed;
* only a proposed scenario can be reviewed; **nobody approves their own
  proposal** (four eyes: the reviewer must differ from the proposer), while the
  proposer may reject it (a withdrawal); a rejection needs a note saying why;
* only an approved scenario can be published; a rejected, proposed or
  draft one cannot;
* a save makes a new version and sends the scenario back to draft: an
  approval or publication was of the version before (the publication keeps
  pointing at that version);
* a scenario that was ever published cannot be deleted, so every publication
  stays restorable.

The plan in force on a day (:meth:`WorkflowMixin.published`) is the
publication with the latest effective date on or before that day (the latest
published among those of the same date). Restoring an old publication
publishes it again, effective the day of the restore.

Every proposal, comment, review, publication and restore, like every save,
rename, copy and delete, appends a row to the audit log in the same
transaction; the log has no update or delete API and the database refuses
``UPDATE`` and ``DELETE`` on it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from terrmap.store.audit import append_audit, clean_actor, read_audit
from terrmap.store.errors import ScenarioNotFoundError, WorkflowError

__all__ = ["STATUSES", "Publication", "WorkflowMixin"]

#: Every status a scenario can have, in workflow order.
STATUSES = ("draft", "proposed", "approved", "rejected", "published")
_DECISIONS = {"approve": "approved", "reject": "rejected"}
_COMMENT_COLUMNS = ["comment_id", "scenario_id", "version", "move_index", "author", "text", "at"]
_PUBLICATION_COLUMNS = [
    "publication_id",
    "scenario_id",
    "scenario_name",
    "version",
    "effective_date",
    "published_by",
    "published_at",
    "restored_from",
]
_EVENT_COLUMNS = ["event_id", "scenario_id", "version", "kind", "actor", "note", "at"]


@dataclass(frozen=True)
class Publication:
    """One publication: which scenario version is the plan in force from when, and who said so.

    Attributes
    ----------
    publication_id : int
        Its id (increasing).
    scenario_id, scenario_name : str
        The scenario published.
    version : int
        The version published (later saves do not change it).
    effective_date : datetime.date
        From when it is the plan in force.
    published_by : str
        Who published it.
    published_at : datetime
        When (UTC).
    restored_from : int or None
        The earlier publication it restores, if it is a restore.
    """

    publication_id: int
    scenario_id: str
    scenario_name: str
    version: int
    effective_date: date
    published_by: str
    published_at: datetime
    restored_from: int | None


def _today() -> date:
    return datetime.now(UTC).date()


def _as_date(value: date | datetime | str, name: str) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{name} must be a date (YYYY-MM-DD), got {value!r}")


_PUBLICATION_SQL = (
    "SELECT p.publication_id, p.scenario_id, s.name, p.version, p.effective_date,"
    " p.published_by, p.published_at, p.restored_from"
    " FROM publications p JOIN scenarios s ON s.scenario_id = p.scenario_id"
)


def _publication(row: tuple) -> Publication:
    return Publication(
        publication_id=int(row[0]),
        scenario_id=row[1],
        scenario_name=row[2],
        version=int(row[3]),
        effective_date=date.fromisoformat(row[4]),
        published_by=row[5],
        published_at=datetime.fromisoformat(row[6]),
        restored_from=None if row[7] is None else int(row[7]),
    )


class WorkflowMixin:
    """Propose, comment, review, publish and audit: the part of the store a team uses.

    Mixed into :class:`~terrmap.store.scenarios.ScenarioStore`, whose
    connections, row lock (``_current``) and error translation it uses.
    """

    # Provided by the store.
    def _connect(self, snapshot: bool = False) -> contextlib.AbstractContextManager[Connection]:
        raise NotImplementedError

    def _transaction(self) -> contextlib.AbstractContextManager[Connection]:
        raise NotImplementedError

    def _current(self, connection: Connection, scenario_id: str) -> dict[str, object]:
        raise NotImplementedError

    # -- status ------------------------------------------------------------
    def status(self, scenario_id: str) -> str:
        """Return the scenario's workflow status (one of :data:`STATUSES`).

        Raises
        ------
        ScenarioNotFoundError
            If there is no such scenario.
        """
        with self._connect() as connection:
            row = connection.execute(
                sa.text("SELECT status FROM scenarios WHERE scenario_id = :id"),
                {"id": scenario_id},
            ).first()
        if row is None:
            raise ScenarioNotFoundError(f"no scenario {scenario_id!r}")
        return row[0]

    @contextlib.contextmanager
    def _step_of(self, scenario_id: str, allowed: tuple[str, ...], doing: str) -> Iterator[tuple]:
        """Open a write transaction on a scenario whose status is in ``allowed`` (row locked)."""
        with self._transaction() as connection:
            current = self._current(connection, scenario_id)
            if current["status"] not in allowed:
                raise WorkflowError(
                    f"cannot {doing} scenario {current['name']!r}: it is {current['status']} "
                    f"(only {' or '.join(allowed)} scenarios can be)"
                )
            yield connection, current

    def _set_status(self, connection: Connection, scenario_id: str, status: str) -> None:
        connection.execute(
            sa.text("UPDATE scenarios SET status = :status WHERE scenario_id = :id"),
            {"status": status, "id": scenario_id},
        )

    def _event(
        self,
        connection: Connection,
        scenario_id: str,
        version: int,
        kind: str,
        actor: str,
        note: str | None,
        at: str,
    ) -> None:
        connection.execute(
            sa.text(
                "INSERT INTO workflow_events (scenario_id, version, kind, actor, note, at)"
                " VALUES (:id, :version, :kind, :actor, :note, :at)"
            ),
            {
                "id": scenario_id,
                "version": version,
                "kind": kind,
                "actor": actor,
                "note": note,
                "at": at,
            },
        )

    # -- proposal and review -------------------------------------------------
    def propose(self, scenario_id: str, author: str, note: str | None = None) -> str:
        """Ask for the scenario's current version to be reviewed.

        Returns
        -------
        str
            The new status, ``"proposed"``.

        Raises
        ------
        WorkflowError
            Unless the scenario is a draft or was rejected.
        ValueError
            For an empty author.
        """
        author = clean_actor(author, "author")
        note = (note or "").strip() or None
        now = datetime.now(UTC).isoformat()
        with self._step_of(scenario_id, ("draft", "rejected"), "propose") as (connection, current):
            self._event(connection, scenario_id, current["version"], "propose", author, note, now)
            self._set_status(connection, scenario_id, "proposed")
            append_audit(
                connection,
                author,
                "propose",
                scenario_id,
                {"name": current["name"], "version": current["version"], "note": note},
            )
        return "proposed"

    def review(
        self, scenario_id: str, reviewer: str, decision: str, note: str | None = None
    ) -> str:
        """Approve or reject a proposed scenario.

        Parameters
        ----------
        scenario_id : str
            The scenario; it must be proposed.
        reviewer : str
            Who decides; to approve, someone other than the proposer.
        decision : {"approve", "reject"}
            The decision.
        note : str, optional
            Why; required to reject.

        Returns
        -------
        str
            The new status, ``"approved"`` or ``"rejected"``.

        Raises
        ------
        ValueError
            For another decision, an empty reviewer, or a rejection without a note.
        WorkflowError
            If the scenario is not proposed, or the proposer approves it.
        """
        reviewer = clean_actor(reviewer, "reviewer")
        if decision not in _DECISIONS:
            raise ValueError(f"decision must be 'approve' or 'reject', got {decision!r}")
        note = (note or "").strip() or None
        if decision == "reject" and note is None:
            raise ValueError("a rejection needs a note saying why")
        now = datetime.now(UTC).isoformat()
        with self._step_of(scenario_id, ("proposed",), "review") as (connection, current):
            proposer = connection.execute(
                sa.text(
                    "SELECT actor FROM workflow_events WHERE scenario_id = :id AND kind = 'propose'"
                    " ORDER BY event_id DESC"
                ),
                {"id": scenario_id},
            ).first()
            if decision == "approve" and proposer is not None and proposer[0] == reviewer:
                raise WorkflowError(
                    f"{reviewer} proposed scenario {current['name']!r} and cannot approve it: "
                    "another reviewer must"
                )
            self._event(connection, scenario_id, current["version"], decision, reviewer, note, now)
            status = _DECISIONS[decision]
            self._set_status(connection, scenario_id, status)
            append_audit(
                connection,
                reviewer,
                decision,
                scenario_id,
                {"name": current["name"], "version": current["version"], "note": note},
            )
        return status

    def reviews(self, scenario_id: str) -> pd.DataFrame:
        """Return the scenario's proposals and decisions, oldest first."""
        return self._rows_of(scenario_id, "workflow_events", _EVENT_COLUMNS)

    def _rows_of(self, scenario_id: str, table: str, columns: list[str]) -> pd.DataFrame:
        """Rows of a per-scenario table, in order of their id (the first column)."""
        with self._connect() as connection:
            rows = connection.execute(
                sa.text(
                    f"SELECT {', '.join(columns)} FROM {table}"
                    f" WHERE scenario_id = :id ORDER BY {columns[0]}"
                ),
                {"id": scenario_id},
            ).fetchall()
        frame = pd.DataFrame([tuple(row) for row in rows], columns=columns)
        frame[columns[0]] = frame[columns[0]].astype("int64")
        frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
        return frame

    # -- comments ------------------------------------------------------------
    def comment(
        self, scenario_id: str, author: str, text: str, move_index: int | None = None
    ) -> int:
        """Comment on a scenario, or on one move of its current change log.

        Parameters
        ----------
        scenario_id : str
            The scenario (any status).
        author : str
            Who comments.
        text : str
            The comment.
        move_index : int, optional
            Position of the move in the current version's change log (0 is
            the oldest move).

        Returns
        -------
        int
            The comment's id.

        Raises
        ------
        ValueError
            For an empty author or text, or a move the change log does not have.
        """
        author = clean_actor(author, "author")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"a comment needs text, got {text!r}")
        text = text.strip()
        now = datetime.now(UTC).isoformat()
        with self._transaction() as connection:
            current = self._current(connection, scenario_id)
            if move_index is not None:
                n_moves = connection.execute(
                    sa.text(
                        "SELECT n_moves FROM scenario_versions"
                        " WHERE scenario_id = :id AND version = :version"
                    ),
                    {"id": scenario_id, "version": current["version"]},
                ).scalar_one()
                if isinstance(move_index, bool) or not 0 <= int(move_index) < n_moves:
                    raise ValueError(
                        f"move_index {move_index!r} is not a move of scenario "
                        f"{current['name']!r} (it has {n_moves} moves, 0 to {n_moves - 1})"
                    )
                move_index = int(move_index)
            comment_id = connection.execute(
                sa.text(
                    "INSERT INTO comments (scenario_id, version, move_index, author, text, at)"
                    " VALUES (:id, :version, :move, :author, :text, :at) RETURNING comment_id"
                ),
                {
                    "id": scenario_id,
                    "version": current["version"],
                    "move": move_index,
                    "author": author,
                    "text": text,
                    "at": now,
                },
            ).scalar_one()
            append_audit(
                connection,
                author,
                "comment",
                scenario_id,
                {"version": current["version"], "move_index": move_index, "comment_id": comment_id},
            )
        return int(comment_id)

    def comments(self, scenario_id: str) -> pd.DataFrame:
        """Return the scenario's comments, oldest first (no ``move_index``: on the whole plan)."""
        frame = self._rows_of(scenario_id, "comments", _COMMENT_COLUMNS)
        frame["move_index"] = frame["move_index"].astype("Int64")
        return frame

    # -- publication ---------------------------------------------------------
    def _insert_publication(
        self,
        connection: Connection,
        scenario_id: str,
        version: int,
        effective: date,
        who: str,
        restored_from: int | None,
    ) -> int:
        return connection.execute(
            sa.text(
                "INSERT INTO publications (scenario_id, version, effective_date, published_by,"
                " published_at, restored_from) VALUES (:id, :version, :effective, :who, :at,"
                " :restored_from) RETURNING publication_id"
            ),
            {
                "id": scenario_id,
                "version": version,
                "effective": effective.isoformat(),
                "who": who,
                "at": datetime.now(UTC).isoformat(),
                "restored_from": restored_from,
            },
        ).scalar_one()

    def _publication_by_id(self, publication_id: int) -> Publication:
        with self._connect() as connection:
            row = connection.execute(
                sa.text(f"{_PUBLICATION_SQL} WHERE p.publication_id = :id"),
                {"id": int(publication_id)},
            ).first()
        if row is None:
            raise ScenarioNotFoundError(f"no publication {publication_id!r}")
        return _publication(row)

    def publish(
        self, scenario_id: str, publisher: str, effective_date: date | datetime | str
    ) -> Publication:
        """Make an approved scenario's current version the plan in force from ``effective_date``.

        Raises
        ------
        WorkflowError
            Unless the scenario is approved.
        ValueError
            For an empty publisher or a date that is not one.
        """
        publisher = clean_actor(publisher, "publisher")
        effective = _as_date(effective_date, "effective_date")
        with self._step_of(scenario_id, ("approved",), "publish") as (connection, current):
            publication_id = self._insert_publication(
                connection, scenario_id, current["version"], effective, publisher, None
            )
            self._set_status(connection, scenario_id, "published")
            append_audit(
                connection,
                publisher,
                "publish",
                scenario_id,
                {
                    "name": current["name"],
                    "version": current["version"],
                    "effective_date": effective.isoformat(),
                    "publication_id": publication_id,
                },
            )
        return self._publication_by_id(publication_id)

    def published(self, as_of: date | datetime | str | None = None) -> Publication | None:
        """Return the plan in force on ``as_of`` (today, UTC, by default); ``None`` before any."""
        day = _today() if as_of is None else _as_date(as_of, "as_of")
        with self._connect() as connection:
            row = connection.execute(
                sa.text(
                    f"{_PUBLICATION_SQL} WHERE p.effective_date <= :day"
                    " ORDER BY p.effective_date DESC, p.publication_id DESC"
                ),
                {"day": day.isoformat()},
            ).first()
        return None if row is None else _publication(row)

    def publications(self) -> pd.DataFrame:
        """Every publication, oldest first (restores included)."""
        with self._connect() as connection:
            rows = connection.execute(
                sa.text(f"{_PUBLICATION_SQL} ORDER BY p.publication_id")
            ).fetchall()
        frame = pd.DataFrame(
            [tuple(_publication(row).__dict__.values()) for row in rows],
            columns=_PUBLICATION_COLUMNS,
        )
        frame["publication_id"] = frame["publication_id"].astype("int64")
        frame["restored_from"] = frame["restored_from"].astype("Int64")
        frame["published_at"] = pd.to_datetime(frame["published_at"], utc=True)
        return frame

    def restore_publication(self, publication_id: int, who: str) -> Publication:
        """Publish an earlier publication's plan again, in force from today.

        The scenario version it names is published as it was, whatever was
        saved since; if that version is the scenario's current one, the
        scenario's status becomes ``"published"``.

        Raises
        ------
        ScenarioNotFoundError
            For an unknown publication.
        ValueError
            For an empty name.
        """
        who = clean_actor(who, "who")
        old = self._publication_by_id(publication_id)
        effective = _today()
        with self._transaction() as connection:
            current = self._current(connection, old.scenario_id)
            new_id = self._insert_publication(
                connection, old.scenario_id, old.version, effective, who, old.publication_id
            )
            if current["version"] == old.version:
                self._set_status(connection, old.scenario_id, "published")
            append_audit(
                connection,
                who,
                "restore_publication",
                old.scenario_id,
                {
                    "name": current["name"],
                    "version": old.version,
                    "restored_from": old.publication_id,
                    "publication_id": new_id,
                    "effective_date": effective.isoformat(),
                },
            )
        return self._publication_by_id(new_id)

    # -- audit ---------------------------------------------------------------
    def audit(self, actor: str, action: str, target: str | None, detail: dict | None = None) -> int:
        """Append a row to the audit log (sign-ins, exports: what the store does not see itself).

        Returns
        -------
        int
            The row's id.

        Raises
        ------
        ValueError
            For an empty actor or action, or a detail that is not a dict.
        """
        with self._transaction() as connection:
            return int(append_audit(connection, actor, action, target, detail))

    def audit_log(
        self,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
    ) -> pd.DataFrame:
        """Audit rows, oldest first: audit_id, at (UTC), actor, action, target, detail (dict).

        Parameters
        ----------
        actor, action : str, optional
            Only this actor's rows, this action's rows.
        since, until : datetime, date or str, optional
            Only rows with ``since <= at < until`` (naive times are UTC).
        """
        with self._connect() as connection:
            return read_audit(connection, actor, action, since, until)
