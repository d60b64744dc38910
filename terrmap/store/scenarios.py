"""Scenarios that persist: named plans, their change logs and their data, in SQLite.

A *scenario* is a plan saved under a name: who made it, a note, when it was
created and last saved, a version counter, the data set it belongs to, its
assignment and its change log (every :class:`~terrmap.core.plan.Move`). The data
set itself (accounts, territories, reps and the plan it starts from) is
stored too, once per content hash, so a scenario on imported data can be
reopened after a restart.

Everything lives in one SQLite file (:func:`default_db_path`: the
``TERRMAP_DB`` environment variable, else ``~/.terrmap/terrmap.sqlite``).

Guarantees
----------
* **Atomic saves.** Every save is one ``BEGIN IMMEDIATE ... COMMIT``
  transaction in write-ahead-log mode: a process killed in the middle of a
  save leaves the previous version readable and intact.
* **No silent overwrite.** :meth:`ScenarioStore.save` with the version the
  caller opened raises :class:`ScenarioConflictError` (naming who saved and
  when) if someone else saved the scenario since.
* **Nothing saved is lost.** Each save adds a version; earlier versions stay
  readable (:meth:`ScenarioStore.versions`, ``load(..., version=)``) until
  the scenario is deleted.
* **Replay.** A scenario keeps the assignment its change log starts from and
  the moves; opening it replays the moves with :meth:`Plan.reassign`, so
  the opened plan's lineage, undo and change log are those of the plan saved.
  The replayed assignment is checked against the stored one.

The working copy of each browser session is kept in an *autosave* slot
(:meth:`ScenarioStore.autosave`), one per session key, overwritten on every
change, so a closed tab loses nothing.

Examples
--------
>>> import tempfile, pathlib
>>> from terrmap.demo import demo_workspace
>>> store = ScenarioStore(pathlib.Path(tempfile.mkdtemp()) / "t.sqlite")  # doctest: +SKIP
>>> ws = demo_workspace()  # doctest: +SKIP
>>> dataset = store.save_dataset(ws)  # doctest: +SKIP
>>> plan = ws.initial_plan.reassign(ws.context.account_ids[:3], ws.context.territory_ids[0])  # doctest: +SKIP
>>> info = store.save(plan, name="Q3 draft", dataset_id=dataset, author="Ann")  # doctest: +SKIP
>>> store.open(info.scenario_id, ws).plan.changelog()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import sqlite3
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from terrmap.core.plan import History, Move, Plan
from terrmap.core.travel import TravelParams
from terrmap.geo.assign import AssignmentResult
from terrmap.geo.workspace import Workspace, build_workspace

__all__ = [
    "DB_ENV",
    "AutosaveInfo",
    "OpenedScenario",
    "Scenario",
    "ScenarioConflictError",
    "ScenarioError",
    "ScenarioInfo",
    "ScenarioNotFoundError",
    "ScenarioStore",
    "default_db_path",
    "history_of",
]

logger = logging.getLogger(__name__)

#: Environment variable naming the database file.
DB_ENV = "TERRMAP_DB"
_DEFAULT_DB = Path("~/.terrmap/terrmap.sqlite")
_BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    dataset_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    n_accounts INTEGER NOT NULL,
    n_territories INTEGER NOT NULL,
    accounts BLOB NOT NULL,
    territories BLOB NOT NULL,
    reps BLOB,
    initial_assignment BLOB NOT NULL,
    account_ids BLOB NOT NULL,
    territory_ids TEXT NOT NULL,
    ids_key TEXT NOT NULL,
    params TEXT NOT NULL,
    notes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scenarios (
    scenario_id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    dataset_id TEXT NOT NULL REFERENCES datasets (dataset_id),
    author TEXT,
    note TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT,
    version INTEGER NOT NULL,
    parent_id TEXT
);
CREATE TABLE IF NOT EXISTS scenario_versions (
    scenario_id TEXT NOT NULL REFERENCES scenarios (scenario_id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    saved_at TEXT NOT NULL,
    saved_by TEXT,
    note TEXT,
    n_moves INTEGER NOT NULL,
    n_changed INTEGER NOT NULL,
    base_assignment BLOB NOT NULL,
    assignment BLOB NOT NULL,
    moves BLOB NOT NULL,
    PRIMARY KEY (scenario_id, version)
);
CREATE TABLE IF NOT EXISTS autosaves (
    session_key TEXT PRIMARY KEY,
    dataset_id TEXT NOT NULL REFERENCES datasets (dataset_id),
    saved_at TEXT NOT NULL,
    scenario_id TEXT,
    scenario_version INTEGER,
    n_moves INTEGER NOT NULL,
    n_changed INTEGER NOT NULL,
    base_assignment BLOB NOT NULL,
    assignment BLOB NOT NULL,
    moves BLOB NOT NULL
);
"""


# --------------------------------------------------------------------------- errors


class ScenarioError(Exception):
    """A scenario cannot be saved or opened as asked."""


class ScenarioNotFoundError(ScenarioError, KeyError):
    """No scenario (or data set, or autosave) with that id."""

    def __str__(self) -> str:  # KeyError quotes its message; say it plainly
        return str(self.args[0]) if self.args else ""


class ScenarioConflictError(ScenarioError):
    """The scenario was saved by someone else since it was opened.

    Attributes
    ----------
    name : str
        The scenario's name.
    expected_version : int
        The version the caller had opened.
    current_version : int
        The version in the database.
    saved_by : str or None
        Who saved the current version.
    saved_at : datetime
        When (UTC).
    """

    def __init__(
        self,
        name: str,
        expected_version: int,
        current_version: int,
        saved_by: str | None,
        saved_at: datetime,
    ) -> None:
        self.name = name
        self.expected_version = expected_version
        self.current_version = current_version
        self.saved_by = saved_by
        self.saved_at = saved_at
        who = saved_by or "someone"
        super().__init__(
            f"Scenario {name!r} changed since you opened it: {who} saved version "
            f"{current_version} at {saved_at:%Y-%m-%d %H:%M:%S} UTC (you opened version "
            f"{expected_version}). Open it again to see their changes, or save yours "
            "under a new name."
        )


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class ScenarioInfo:
    """What the list of scenarios shows about one scenario.

    Attributes
    ----------
    scenario_id : str
        Stable id (a UUID).
    name : str
        Unique name.
    dataset_id : str
        Content hash of the data set the scenario belongs to.
    dataset_name : str
        That data set's label.
    author : str or None
        Who created it.
    note : str or None
        The note of the latest save.
    created_at, updated_at : datetime
        First and latest save (UTC).
    updated_by : str or None
        Who saved the latest version.
    version : int
        Save counter, 1 for a new scenario.
    parent_id : str or None
        The scenario it was duplicated from.
    n_moves : int
        Moves in its change log.
    n_changed : int
        Accounts whose territory differs from the start of the change log.
    """

    scenario_id: str
    name: str
    dataset_id: str
    dataset_name: str
    author: str | None
    note: str | None
    created_at: datetime
    updated_at: datetime
    updated_by: str | None
    version: int
    parent_id: str | None
    n_moves: int
    n_changed: int


@dataclass(frozen=True)
class Scenario:
    """A stored plan: where its change log starts, the moves, where it ends.

    Attributes
    ----------
    info : ScenarioInfo
        Metadata (of the version loaded).
    base_assignment : pandas.Series
        Territory id per account id before the first move.
    assignment : pandas.Series
        Territory id per account id after the last move.
    moves : tuple of Move
        The change log, oldest first.
    """

    info: ScenarioInfo
    base_assignment: pd.Series
    assignment: pd.Series
    moves: tuple[Move, ...]

    def replay(self, workspace: Workspace) -> Plan:
        """Rebuild the plan over ``workspace``: the base, then every move.

        Returns
        -------
        Plan
            The last plan of the replayed lineage.

        Raises
        ------
        ScenarioError
            If the moves do not replay to the stored assignment (the data set
            is not the scenario's, or the stored record is damaged).
        """
        return _replay(workspace, self.base_assignment, self.moves, self.assignment, self.info.name)


@dataclass(frozen=True)
class OpenedScenario:
    """A scenario ready to work on: its data set and its replayed plan."""

    info: ScenarioInfo
    workspace: Workspace
    plan: Plan


@dataclass(frozen=True)
class AutosaveInfo:
    """One autosaved working copy.

    Attributes
    ----------
    session_key : str
        The slot's key.
    dataset_id, dataset_name : str
        Its data set.
    saved_at : datetime
        Last autosave (UTC).
    scenario_id : str or None
        The scenario the working copy was opened from.
    scenario_version : int or None
        The version it was opened at (for the conflict check when saving).
    n_moves, n_changed : int
        Moves in its change log; accounts changed.
    """

    session_key: str
    dataset_id: str
    dataset_name: str
    saved_at: datetime
    scenario_id: str | None
    scenario_version: int | None
    n_moves: int
    n_changed: int


# --------------------------------------------------------------------------- helpers


def default_db_path() -> Path:
    """Database file from ``TERRMAP_DB``, else ``~/.terrmap/terrmap.sqlite``."""
    configured = os.environ.get(DB_ENV, "").strip()
    return Path(configured or _DEFAULT_DB).expanduser()


def history_of(plan: Plan) -> History:
    """Undo/redo history holding ``plan``'s whole lineage, positioned at ``plan``."""
    lineage = tuple(plan.lineage)
    return History(plans=lineage, position=len(lineage) - 1)


def _now() -> datetime:
    return datetime.now(UTC)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _frame_blob(frame: pd.DataFrame | None) -> bytes | None:
    if frame is None:
        return None
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=True)
    return buffer.getvalue()


def _read_frame(blob: bytes | None, geo: bool = False) -> pd.DataFrame | None:
    if blob is None:
        return None
    buffer = io.BytesIO(blob)
    return gpd.read_parquet(buffer) if geo else pd.read_parquet(buffer)


def _codes_blob(codes: np.ndarray) -> bytes:
    # Territory positions per account, in the data set's account and territory
    # order: a few milliseconds for 100k accounts, where a table of ids costs 100+.
    return zlib.compress(np.asarray(codes, dtype="<i4").tobytes(), 1)


def _read_codes(blob: bytes) -> np.ndarray:
    return np.frombuffer(zlib.decompress(blob), dtype="<i4").astype(np.int32)


def _ids_blob(ids: list[str]) -> bytes:
    return zlib.compress(json.dumps(ids, separators=(",", ":")).encode("utf-8"), 1)


def _read_ids(blob: bytes) -> list[str]:
    return json.loads(zlib.decompress(blob).decode("utf-8"))


def _ids_key(account_ids: list[str], territory_ids: list[str]) -> str:
    digest = hashlib.sha256(json.dumps([account_ids, territory_ids]).encode("utf-8"))
    return digest.hexdigest()[:32]


def _context_ids(plan: Plan) -> tuple[list[str], list[str]]:
    context = plan.context
    return context.id_array.tolist(), [str(t) for t in context.territory_ids]


def _as_assignment(codes: np.ndarray, ids: tuple[list[str], list[str]]) -> pd.Series:
    account_ids, territory_ids = ids
    if len(codes) != len(account_ids):
        raise ScenarioError(
            f"stored assignment has {len(codes)} accounts, its data set {len(account_ids)}"
        )
    labels = np.array([*territory_ids, None], dtype=object)
    values = labels[np.where(codes < 0, len(territory_ids), codes)]
    return pd.Series(
        values,
        index=pd.Index(account_ids, name="account_id", dtype="str"),
        name="territory_id",
        dtype="string",
    )


def _moves_blob(moves: list[Move] | tuple[Move, ...]) -> bytes:
    records = [
        {
            "at": move.at.isoformat(),
            "author": move.author,
            "note": move.note,
            "target": move.target,
            "account_ids": list(move.account_ids),
            "sources": list(move.sources),
            **({} if move.targets is None else {"targets": list(move.targets)}),
        }
        for move in moves
    ]
    return zlib.compress(json.dumps(records, separators=(",", ":")).encode("utf-8"), 1)


def _read_moves(blob: bytes) -> tuple[Move, ...]:
    records = json.loads(zlib.decompress(blob).decode("utf-8"))
    return tuple(
        Move(
            account_ids=tuple(record["account_ids"]),
            sources=tuple(record["sources"]),
            target=record["target"],
            at=_time(record["at"]),
            author=record["author"],
            note=record["note"],
            targets=None if record.get("targets") is None else tuple(record["targets"]),
        )
        for record in records
    )


def _plan_payload(plan: Plan) -> dict[str, object]:
    """Blobs and counts that store a plan with its change log."""
    root = plan.lineage[0]
    moves = plan.moves
    return {
        "n_moves": len(moves),
        "n_changed": int(np.count_nonzero(root.codes != plan.codes)),
        "base_assignment": _codes_blob(root.codes),
        "assignment": _codes_blob(plan.codes),
        "moves": _moves_blob(moves),
    }


def _replay(
    workspace: Workspace,
    base: pd.Series,
    moves: tuple[Move, ...],
    expected: pd.Series,
    label: str,
) -> Plan:
    context = workspace.context
    if not pd.Index(base.index).sort_values().equals(context.account_ids.sort_values()):
        raise ScenarioError(
            f"{label!r} was saved on other accounts than the data set {workspace.name!r} holds"
        )
    try:
        plan = Plan.from_assignment(context, base)
        if plan.assignment.equals(workspace.initial_plan.assignment):
            # Share the data set's first plan: its figures are cached already.
            plan = workspace.initial_plan
        for move in moves:
            before = plan
            plan = plan.replay(move)
            if plan is before or plan.move is None or plan.move.sources != move.sources:
                raise ScenarioError(f"move at {move.at.isoformat()} does not replay")
    except (KeyError, ValueError, ScenarioError) as error:
        raise ScenarioError(f"{label!r} does not replay on this data set: {error}") from error
    if not plan.assignment.equals(expected.reindex(context.account_ids).astype("string")):
        raise ScenarioError(f"{label!r}: the change log does not lead to the stored assignment")
    return plan


def _dataset_blobs(workspace: Workspace) -> dict[str, object]:
    params = dataclasses.asdict(workspace.context.params)
    account_ids, territory_ids = _context_ids(workspace.initial_plan)
    blobs = {
        "accounts": _frame_blob(workspace.accounts),
        "territories": _frame_blob(workspace.territories),
        "reps": _frame_blob(workspace.reps),
        "initial_assignment": _codes_blob(workspace.initial_plan.codes),
        "account_ids": _ids_blob(account_ids),
        "territory_ids": json.dumps(territory_ids),
        "ids_key": _ids_key(account_ids, territory_ids),
        "params": json.dumps(params, sort_keys=True),
    }
    digest = hashlib.sha256()
    for key in ("accounts", "territories", "reps", "initial_assignment"):
        value = blobs[key]
        digest.update(key.encode())
        digest.update(len(value or b"").to_bytes(8, "little"))
        digest.update(value or b"")
    digest.update(blobs["params"].encode())
    blobs["dataset_id"] = digest.hexdigest()[:32]
    return blobs


def _clean_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a scenario needs a non-empty name, got {name!r}")
    return name.strip()


def _clean_text(text: str | None) -> str | None:
    if text is None:
        return None
    text = str(text).strip()
    return text or None


# --------------------------------------------------------------------------- store


class ScenarioStore:
    """Scenarios, their data sets and autosaved working copies in one SQLite file.

    Every method opens its own short-lived connection, so one store object
    can be shared between threads (Streamlit sessions) and processes.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        Database file; :func:`default_db_path` when omitted. Its folder is
        created if missing.
    on_write : callable, optional
        Called with a step name after each write inside a save transaction
        (fault-injection hook for tests: a test kills the process there).
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        on_write: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._on_write = on_write
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"ScenarioStore({str(self.path)!r})"

    # -- plumbing ----------------------------------------------------------
    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("PRAGMA synchronous=FULL")
            yield connection
        finally:
            connection.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as connection:
            # IMMEDIATE takes the write lock first, so the version read inside
            # the transaction cannot change before the write that depends on it.
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _step(self, name: str) -> None:
        if self._on_write is not None:
            self._on_write(name)

    # -- data sets ---------------------------------------------------------
    def save_dataset(self, workspace: Workspace) -> str:
        """Store a data set (once per content) and return its id.

        Parameters
        ----------
        workspace : Workspace
            The data set: accounts, territories, reps, travel parameters and
            its initial plan (the baseline).

        Returns
        -------
        str
            Content hash of the data set: the same data gives the same id.
        """
        blobs = _dataset_blobs(workspace)
        with self._transaction() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO datasets (dataset_id, name, created_at, n_accounts,"
                " n_territories, accounts, territories, reps, initial_assignment, account_ids,"
                " territory_ids, ids_key, params, notes)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    blobs["dataset_id"],
                    workspace.name,
                    _now().isoformat(),
                    workspace.context.n_accounts,
                    workspace.context.n_territories,
                    blobs["accounts"],
                    blobs["territories"],
                    blobs["reps"],
                    blobs["initial_assignment"],
                    blobs["account_ids"],
                    blobs["territory_ids"],
                    blobs["ids_key"],
                    blobs["params"],
                    json.dumps(list(workspace.notes)),
                ),
            )
        return blobs["dataset_id"]

    def has_dataset(self, dataset_id: str) -> bool:
        """Whether a data set with this id is stored."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT 1 FROM datasets WHERE dataset_id = ?", (dataset_id,)
            ).fetchone()
        return row is not None

    def load_workspace(self, dataset_id: str) -> Workspace:
        """Rebuild a stored data set's workspace, baseline included.

        Raises
        ------
        ScenarioNotFoundError
            If no data set has this id.
        """
        with self._connect() as connection:
            row = connection.execute(
                "SELECT name, accounts, territories, reps, initial_assignment, params, notes,"
                " account_ids, territory_ids FROM datasets WHERE dataset_id = ?",
                (dataset_id,),
            ).fetchone()
        if row is None:
            raise ScenarioNotFoundError(f"no stored data set {dataset_id!r}")
        name, accounts, territories, reps, initial, params, notes, account_ids, territory_ids = row
        workspace = build_workspace(
            _read_frame(accounts),
            _read_frame(territories, geo=True),
            _read_frame(reps),
            name=name,
            params=TravelParams(**json.loads(params)),
        )
        ids = (_read_ids(account_ids), json.loads(territory_ids))
        baseline = _as_assignment(_read_codes(initial), ids).reindex(workspace.context.account_ids)
        if not baseline.equals(workspace.initial_plan.assignment):
            # The data set started from another plan than point-in-polygon
            # (e.g. the accounts' owners): restore that one.
            plan = Plan.from_assignment(workspace.context, baseline)
            result = AssignmentResult(
                assignment=baseline,
                unassigned=workspace.context.account_ids[baseline.isna().to_numpy()],
                overlaps=workspace.assignment.overlaps,
                ambiguous=workspace.assignment.ambiguous,
            )
            workspace = dataclasses.replace(workspace, initial_plan=plan, assignment=result)
        return dataclasses.replace(workspace, notes=tuple(json.loads(notes)))

    # -- scenarios ---------------------------------------------------------
    _INFO_SQL = (
        "SELECT s.scenario_id, s.name, s.dataset_id, d.name, s.author, s.note, s.created_at,"
        " s.updated_at, s.updated_by, s.version, s.parent_id, v.n_moves, v.n_changed"
        " FROM scenarios s JOIN datasets d USING (dataset_id)"
        " JOIN scenario_versions v ON v.scenario_id = s.scenario_id AND v.version = s.version"
    )

    @staticmethod
    def _info(row: tuple) -> ScenarioInfo:
        return ScenarioInfo(
            scenario_id=row[0],
            name=row[1],
            dataset_id=row[2],
            dataset_name=row[3],
            author=row[4],
            note=row[5],
            created_at=_time(row[6]),
            updated_at=_time(row[7]),
            updated_by=row[8],
            version=int(row[9]),
            parent_id=row[10],
            n_moves=int(row[11]),
            n_changed=int(row[12]),
        )

    def info(self, scenario_id: str) -> ScenarioInfo:
        """Metadata of one scenario.

        Raises
        ------
        ScenarioNotFoundError
            If no scenario has this id.
        """
        with self._connect() as connection:
            row = connection.execute(
                f"{self._INFO_SQL} WHERE s.scenario_id = ?", (scenario_id,)
            ).fetchone()
        if row is None:
            raise ScenarioNotFoundError(f"no scenario {scenario_id!r}")
        return self._info(row)

    def list(self, dataset_id: str | None = None) -> list[ScenarioInfo]:
        """All scenarios (of one data set when given), latest save first."""
        sql, args = self._INFO_SQL, ()
        if dataset_id is not None:
            sql, args = f"{sql} WHERE s.dataset_id = ?", (dataset_id,)
        with self._connect() as connection:
            rows = connection.execute(f"{sql} ORDER BY s.updated_at DESC, s.name", args).fetchall()
        return [self._info(row) for row in rows]

    def save(
        self,
        plan: Plan,
        *,
        dataset_id: str,
        name: str | None = None,
        author: str | None = None,
        note: str | None = None,
        scenario_id: str | None = None,
        expected_version: int | None = None,
    ) -> ScenarioInfo:
        """Save a plan as a new scenario, or as the next version of one.

        Parameters
        ----------
        plan : Plan
            The plan; its lineage gives the change log.
        dataset_id : str
            Its data set (from :meth:`save_dataset`).
        name : str, optional
            Required for a new scenario; for an update, a new name renames it.
        author : str, optional
            Who saves (the creator of a new scenario).
        note : str, optional
            What this version is about.
        scenario_id : str, optional
            Save a new version of this scenario instead of creating one.
        expected_version : int, optional
            The version the caller opened. When it is no longer the current
            one, nothing is written and :class:`ScenarioConflictError` is
            raised. ``None`` skips the check (overwrite knowingly).

        Returns
        -------
        ScenarioInfo
            The saved scenario.

        Raises
        ------
        ValueError
            For an empty or already used name, or an update on another data
            set than the scenario's.
        ScenarioNotFoundError
            For an unknown ``scenario_id`` or ``dataset_id``.
        ScenarioConflictError
            See ``expected_version``.
        """
        author, note = _clean_text(author), _clean_text(note)
        if scenario_id is None:
            name = _clean_name(name)
        elif name is not None:
            name = _clean_name(name)
        payload = _plan_payload(plan)
        now = _now().isoformat()
        with self._transaction() as connection:
            self._require_dataset(connection, dataset_id, plan)
            if scenario_id is None:
                scenario_id = uuid.uuid4().hex
                version = 1
                self._check_name_free(connection, name, None)
                connection.execute(
                    "INSERT INTO scenarios (scenario_id, name, dataset_id, author, note,"
                    " created_at, updated_at, updated_by, version, parent_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, NULL)",
                    (scenario_id, name, dataset_id, author, note, now, now, author),
                )
            else:
                current = self._current(connection, scenario_id)
                if current["dataset_id"] != dataset_id:
                    raise ValueError(
                        f"scenario {current['name']!r} belongs to data set "
                        f"{current['dataset_id']!r}, not {dataset_id!r}"
                    )
                if expected_version is not None and current["version"] != expected_version:
                    raise ScenarioConflictError(
                        current["name"],
                        expected_version,
                        current["version"],
                        current["updated_by"],
                        _time(current["updated_at"]),
                    )
                version = current["version"] + 1
                if name is not None and name != current["name"]:
                    self._check_name_free(connection, name, scenario_id)
                connection.execute(
                    "UPDATE scenarios SET name = ?, note = ?, updated_at = ?, updated_by = ?,"
                    " version = ? WHERE scenario_id = ?",
                    (name or current["name"], note, now, author, version, scenario_id),
                )
            self._step("scenario")
            connection.execute(
                "INSERT INTO scenario_versions (scenario_id, version, saved_at, saved_by, note,"
                " n_moves, n_changed, base_assignment, assignment, moves)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    scenario_id,
                    version,
                    now,
                    author,
                    note,
                    payload["n_moves"],
                    payload["n_changed"],
                    payload["base_assignment"],
                    payload["assignment"],
                    payload["moves"],
                ),
            )
            self._step("version")
        logger.info("saved scenario %s version %d", scenario_id, version)
        return self.info(scenario_id)

    def load(self, scenario_id: str, version: int | None = None) -> Scenario:
        """Read a scenario (its current version unless ``version`` is given).

        Raises
        ------
        ScenarioNotFoundError
            If the scenario or the version does not exist.
        """
        with self._connect() as connection:
            # One read transaction: info and blobs of the same version.
            connection.execute("BEGIN")
            try:
                row = connection.execute(
                    f"{self._INFO_SQL} WHERE s.scenario_id = ?", (scenario_id,)
                ).fetchone()
                if row is None:
                    raise ScenarioNotFoundError(f"no scenario {scenario_id!r}")
                info = self._info(row)
                wanted = info.version if version is None else int(version)
                blobs = connection.execute(
                    "SELECT base_assignment, assignment, moves, saved_at, saved_by, note,"
                    " n_moves, n_changed FROM scenario_versions"
                    " WHERE scenario_id = ? AND version = ?",
                    (scenario_id, wanted),
                ).fetchone()
                ids = self._dataset_ids(connection, info.dataset_id)
            finally:
                connection.execute("COMMIT")
        if blobs is None:
            raise ScenarioNotFoundError(f"scenario {info.name!r} has no version {wanted}")
        if wanted != info.version:
            info = dataclasses.replace(
                info,
                version=wanted,
                updated_at=_time(blobs[3]),
                updated_by=blobs[4],
                note=blobs[5],
                n_moves=int(blobs[6]),
                n_changed=int(blobs[7]),
            )
        return Scenario(
            info=info,
            base_assignment=_as_assignment(_read_codes(blobs[0]), ids),
            assignment=_as_assignment(_read_codes(blobs[1]), ids),
            moves=_read_moves(blobs[2]),
        )

    def open(
        self, scenario_id: str, workspace: Workspace | None = None, version: int | None = None
    ) -> OpenedScenario:
        """Load a scenario and replay it into a plan.

        Parameters
        ----------
        scenario_id : str
            The scenario.
        workspace : Workspace, optional
            The scenario's data set if the caller has it already (it must be
            the same data); loaded from the database otherwise.
        version : int, optional
            An earlier version; the current one by default.

        Returns
        -------
        OpenedScenario
            Metadata, workspace and the replayed plan (its lineage holds every
            move, so undo and the change log work).
        """
        scenario = self.load(scenario_id, version)
        if workspace is None:
            workspace = self.load_workspace(scenario.info.dataset_id)
        return OpenedScenario(scenario.info, workspace, scenario.replay(workspace))

    def versions(self, scenario_id: str) -> pd.DataFrame:
        """Every saved version of a scenario: version, saved_at, saved_by, note, moves."""
        self.info(scenario_id)
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT version, saved_at, saved_by, note, n_moves, n_changed"
                " FROM scenario_versions WHERE scenario_id = ? ORDER BY version",
                (scenario_id,),
            ).fetchall()
        frame = pd.DataFrame(
            rows, columns=["version", "saved_at", "saved_by", "note", "moves", "accounts_changed"]
        )
        frame["saved_at"] = pd.to_datetime(frame["saved_at"], utc=True, format="ISO8601")
        return frame

    def duplicate(
        self, scenario_id: str, name: str, *, author: str | None = None, note: str | None = None
    ) -> ScenarioInfo:
        """Branch a new scenario from the current version of another.

        The copy has the same change log and assignment, version 1, and
        remembers where it came from (``parent_id``).
        """
        name = _clean_name(name)
        author = _clean_text(author)
        now = _now().isoformat()
        new_id = uuid.uuid4().hex
        with self._transaction() as connection:
            current = self._current(connection, scenario_id)
            self._check_name_free(connection, name, None)
            source_note = note if note is not None else f"Copy of {current['name']}"
            connection.execute(
                "INSERT INTO scenarios (scenario_id, name, dataset_id, author, note,"
                " created_at, updated_at, updated_by, version, parent_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                (
                    new_id,
                    name,
                    current["dataset_id"],
                    author,
                    _clean_text(source_note),
                    now,
                    now,
                    author,
                    scenario_id,
                ),
            )
            connection.execute(
                "INSERT INTO scenario_versions (scenario_id, version, saved_at, saved_by, note,"
                " n_moves, n_changed, base_assignment, assignment, moves)"
                " SELECT ?, 1, ?, ?, ?, n_moves, n_changed, base_assignment, assignment, moves"
                " FROM scenario_versions WHERE scenario_id = ? AND version = ?",
                (new_id, now, author, _clean_text(source_note), scenario_id, current["version"]),
            )
        return self.info(new_id)

    def rename(self, scenario_id: str, name: str) -> ScenarioInfo:
        """Give a scenario another (unused) name; its version does not change."""
        name = _clean_name(name)
        with self._transaction() as connection:
            self._current(connection, scenario_id)
            self._check_name_free(connection, name, scenario_id)
            connection.execute(
                "UPDATE scenarios SET name = ? WHERE scenario_id = ?", (name, scenario_id)
            )
        return self.info(scenario_id)

    def delete(self, scenario_id: str, expected_version: int | None = None) -> None:
        """Delete a scenario and all its versions.

        Raises
        ------
        ScenarioNotFoundError
            If there is no such scenario.
        ScenarioConflictError
            If ``expected_version`` is given and someone saved since.
        """
        with self._transaction() as connection:
            current = self._current(connection, scenario_id)
            if expected_version is not None and current["version"] != expected_version:
                raise ScenarioConflictError(
                    current["name"],
                    expected_version,
                    current["version"],
                    current["updated_by"],
                    _time(current["updated_at"]),
                )
            connection.execute(
                "DELETE FROM scenario_versions WHERE scenario_id = ?", (scenario_id,)
            )
            connection.execute("DELETE FROM scenarios WHERE scenario_id = ?", (scenario_id,))
        logger.info("deleted scenario %s", scenario_id)

    # -- autosave ----------------------------------------------------------
    def autosave(
        self,
        session_key: str,
        plan: Plan,
        *,
        dataset_id: str,
        scenario_id: str | None = None,
        scenario_version: int | None = None,
    ) -> None:
        """Overwrite the working-copy slot ``session_key`` with ``plan``.

        Parameters
        ----------
        session_key : str
            The slot (one per browser session).
        plan : Plan
            The working plan, with its lineage.
        dataset_id : str
            Its data set (from :meth:`save_dataset`).
        scenario_id, scenario_version : optional
            The scenario the working copy was opened from, so a restored copy
            still saves with the conflict check.
        """
        if not session_key:
            raise ValueError(f"session_key must be a non-empty string, got {session_key!r}")
        payload = _plan_payload(plan)
        with self._transaction() as connection:
            self._require_dataset(connection, dataset_id, plan)
            connection.execute(
                "INSERT OR REPLACE INTO autosaves (session_key, dataset_id, saved_at, scenario_id,"
                " scenario_version, n_moves, n_changed, base_assignment, assignment, moves)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session_key,
                    dataset_id,
                    _now().isoformat(),
                    scenario_id,
                    scenario_version,
                    payload["n_moves"],
                    payload["n_changed"],
                    payload["base_assignment"],
                    payload["assignment"],
                    payload["moves"],
                ),
            )

    def autosaves(self) -> list[AutosaveInfo]:
        """Every autosaved working copy, latest first."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT a.session_key, a.dataset_id, d.name, a.saved_at, a.scenario_id,"
                " a.scenario_version, a.n_moves, a.n_changed"
                " FROM autosaves a JOIN datasets d USING (dataset_id) ORDER BY a.saved_at DESC"
            ).fetchall()
        return [
            AutosaveInfo(
                session_key=row[0],
                dataset_id=row[1],
                dataset_name=row[2],
                saved_at=_time(row[3]),
                scenario_id=row[4],
                scenario_version=row[5],
                n_moves=int(row[6]),
                n_changed=int(row[7]),
            )
            for row in rows
        ]

    def autosave_info(self, session_key: str) -> AutosaveInfo | None:
        """Return the slot's metadata, ``None`` when it is empty."""
        found = [info for info in self.autosaves() if info.session_key == session_key]
        return found[0] if found else None

    def restore_autosave(
        self, session_key: str, workspace: Workspace | None = None
    ) -> tuple[AutosaveInfo, Workspace, Plan]:
        """Reopen an autosaved working copy.

        Parameters
        ----------
        session_key : str
            The slot.
        workspace : Workspace, optional
            Its data set if the caller has it already; loaded otherwise.

        Returns
        -------
        tuple
            ``(info, workspace, plan)``; ``plan``'s lineage replays every move.

        Raises
        ------
        ScenarioNotFoundError
            If the slot is empty.
        """
        info = self.autosave_info(session_key)
        with self._connect() as connection:
            row = connection.execute(
                "SELECT base_assignment, assignment, moves FROM autosaves WHERE session_key = ?",
                (session_key,),
            ).fetchone()
            if info is None or row is None:
                raise ScenarioNotFoundError(f"no autosaved working copy {session_key!r}")
            ids = self._dataset_ids(connection, info.dataset_id)
        if workspace is None:
            workspace = self.load_workspace(info.dataset_id)
        plan = _replay(
            workspace,
            _as_assignment(_read_codes(row[0]), ids),
            _read_moves(row[2]),
            _as_assignment(_read_codes(row[1]), ids),
            "autosaved working copy",
        )
        return info, workspace, plan

    def discard_autosave(self, session_key: str) -> None:
        """Empty an autosave slot (no error when it is empty already)."""
        with self._transaction() as connection:
            connection.execute("DELETE FROM autosaves WHERE session_key = ?", (session_key,))

    # -- checks ------------------------------------------------------------
    @staticmethod
    def _require_dataset(connection: sqlite3.Connection, dataset_id: str, plan: Plan) -> None:
        row = connection.execute(
            "SELECT n_accounts, n_territories, ids_key FROM datasets WHERE dataset_id = ?",
            (dataset_id,),
        ).fetchone()
        if row is None:
            raise ScenarioNotFoundError(f"no stored data set {dataset_id!r}; save_dataset first")
        # Assignments are stored as positions in the data set's order: the plan
        # must have exactly its accounts and territories, in that order.
        if _ids_key(*_context_ids(plan)) != row[2]:
            raise ValueError(
                f"plan has {plan.context.n_accounts} accounts and {plan.context.n_territories} "
                f"territories, not the {row[0]} accounts and {row[1]} territories of data set "
                f"{dataset_id!r} (in its order)"
            )

    @staticmethod
    def _dataset_ids(
        connection: sqlite3.Connection, dataset_id: str
    ) -> tuple[list[str], list[str]]:
        row = connection.execute(
            "SELECT account_ids, territory_ids FROM datasets WHERE dataset_id = ?", (dataset_id,)
        ).fetchone()
        if row is None:
            raise ScenarioNotFoundError(f"no stored data set {dataset_id!r}")
        return _read_ids(row[0]), json.loads(row[1])

    @staticmethod
    def _current(connection: sqlite3.Connection, scenario_id: str) -> dict[str, object]:
        row = connection.execute(
            "SELECT name, dataset_id, version, updated_by, updated_at FROM scenarios"
            " WHERE scenario_id = ?",
            (scenario_id,),
        ).fetchone()
        if row is None:
            raise ScenarioNotFoundError(f"no scenario {scenario_id!r}")
        return dict(
            zip(("name", "dataset_id", "version", "updated_by", "updated_at"), row, strict=True)
        )

    @staticmethod
    def _check_name_free(
        connection: sqlite3.Connection, name: str, scenario_id: str | None
    ) -> None:
        row = connection.execute(
            "SELECT scenario_id FROM scenarios WHERE name = ?", (name,)
        ).fetchone()
        if row is not None and row[0] != scenario_id:
            raise ValueError(f"a scenario named {name!r} exists already")
