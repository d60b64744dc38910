"""Scenarios that persist: named plans, their change logs and their data.

A *scenario* is a plan saved under a name: who made it, a note, when it was
created and last saved, a version counter, the data set it belongs to, its
assignment and its change log (every :class:`~terrmap.core.plan.Move`). The data
set itself (accounts, territories, reps and the plan it starts from) is
stored too, once per content hash, so a scenario on imported data can be
reopened after a restart.

Everything lives in one database (:func:`default_db_target`: the
``TERRMAP_DB`` environment variable, a file path or a ``postgresql://`` URL,
else the SQLite file ``~/.terrmap/terrmap.sqlite``), reached through
:mod:`terrmap.store.database`, which upgrades an older schema on open.

Guarantees
----------
* **Atomic saves.** Every save is one transaction (``BEGIN IMMEDIATE`` in
  write-ahead-log mode on SQLite): a process killed in the middle of a save
  leaves the previous version readable and intact.
* **No silent overwrite.** :meth:`ScenarioStore.save` with the version the
  caller opened raises :class:`ScenarioConflictError` (naming who saved and
  when) if someone else saved the scenario since, also between servers on
  one PostgreSQL (the scenario's row is locked while its version is checked).
* **Nothing saved is lost.** Each save adds a version; earlier versions stay
  readable (:meth:`ScenarioStore.versions`, ``load(..., version=)``) until
  the scenario is deleted.
* **Replay.** A scenario keeps the assignment its change log starts from and
  the moves; opening it replays the moves with :meth:`Plan.reassign`, so
  the opened plan's lineage, undo and change log are those of the plan saved.
  The replayed assignment is checked against the stored one.
* **Said plainly.** A database that cannot be used raises
  :class:`StoreUnavailableError` with one line for the user.

The working copy of each browser session is kept in an *autosave* slot
(:meth:`ScenarioStore.autosave`), one per session key, overwritten on every
change, so a closed tab loses nothing. The review workflow and the audit log
are in :mod:`terrmap.store.workflow`.

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

import base64
import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from terrmap.core.definition import Definition
from terrmap.core.plan import History, Move, Plan
from terrmap.core.travel import TravelParams
from terrmap.geo.assign import AssignmentResult
from terrmap.geo.units import UnitLayer
from terrmap.geo.workspace import Workspace, build_workspace
from terrmap.store.audit import append_audit
from terrmap.store.database import (
    DB_ENV,
    SCHEMA_VERSION,
    StoreUnavailableError,
    create_store_engine,
    database_location,
    default_db_path,
    default_db_target,
    describe,
    migrate,
    schema_version,
    unavailable_error,
)
from terrmap.store.errors import (
    ScenarioConflictError,
    ScenarioError,
    ScenarioNotFoundError,
    WorkflowError,
)
from terrmap.store.sessions import SessionsMixin
from terrmap.store.workflow import WorkflowMixin

__all__ = [
    "DB_ENV",
    "AutosaveInfo",
    "OpenedScenario",
    "PruneReport",
    "Scenario",
    "ScenarioConflictError",
    "ScenarioError",
    "ScenarioInfo",
    "ScenarioNotFoundError",
    "ScenarioStore",
    "StoreUnavailableError",
    "WorkflowError",
    "dataset_key",
    "default_db_path",
    "default_db_target",
    "history_of",
]

logger = logging.getLogger(__name__)

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
    status : str
        Where it is in the review workflow: ``"draft"``, ``"proposed"``,
        ``"approved"``, ``"rejected"`` or ``"published"``.
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
    status: str = "draft"


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
    author : str or None
        Who the working copy belongs to, when known.
    """

    session_key: str
    dataset_id: str
    dataset_name: str
    saved_at: datetime
    scenario_id: str | None
    scenario_version: int | None
    n_moves: int
    n_changed: int
    author: str | None = None


# --------------------------------------------------------------------------- helpers


def history_of(plan: Plan) -> History:
    """Undo/redo history over ``plan``'s lineage (bounded, see :class:`History`), at ``plan``."""
    return History.over(plan.lineage)


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
            **({"unit_ids": list(move.unit_ids)} if move.unit_ids else {}),
            **({"region": list(move.region)} if move.region is not None else {}),
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
            unit_ids=tuple(record.get("unit_ids", ())),
            region=None if record.get("region") is None else tuple(record["region"]),
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


def _unit_blobs(workspace: Workspace) -> dict[str, object]:
    """Serialise the unit layer and the first plan's definition (``None`` without units)."""
    units, plan = workspace.units, workspace.initial_plan
    if units is None or plan.layout is None:
        return {"units": None, "unit_layer": None, "definition": None}
    layer = {
        "kind": units.kind,
        "approximate": bool(units.approximate),
        "params": units.params,
        "warnings": list(units.warnings),
        # Finding the neighbours of 30,000 ZIP areas takes seconds: stored, not redone.
        "adjacency": base64.b64encode(_codes_blob(units.adjacency().pairs.ravel())).decode(),
    }
    return {
        "units": _frame_blob(units.units),
        "unit_layer": json.dumps(layer, sort_keys=True),
        "definition": json.dumps(plan.definition().to_dict(), sort_keys=True),
    }


def _read_units(
    units: bytes | None, unit_layer: str | None, definition: str | None
) -> tuple[UnitLayer | None, Definition | None]:
    if units is None:
        return None, None
    layer = json.loads(unit_layer)
    frame = _read_frame(units, geo=True)
    frame.index = pd.Index(frame.index.astype(str), name="unit_id", dtype=object)
    rebuilt = UnitLayer(
        kind=layer["kind"],
        units=frame,
        approximate=layer["approximate"],
        params=layer["params"],
        warnings=tuple(layer["warnings"]),
    )
    rebuilt.remember_adjacency(_read_codes(base64.b64decode(layer["adjacency"])))
    return rebuilt, Definition.from_dict(json.loads(definition))


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
        **_unit_blobs(workspace),
    }
    digest = hashlib.sha256()
    # A data set without units hashes as before units existed: its id is unchanged.
    keys = ("accounts", "territories", "reps", "initial_assignment")
    if blobs["units"] is not None:
        keys += ("units", "unit_layer", "definition")
    for key in keys:
        value = blobs[key]
        value = value.encode() if isinstance(value, str) else value
        digest.update(key.encode())
        digest.update(len(value or b"").to_bytes(8, "little"))
        digest.update(value or b"")
    digest.update(blobs["params"].encode())
    blobs["dataset_id"] = digest.hexdigest()[:32]
    return blobs


def dataset_key(workspace: Workspace) -> str:
    """Return the id :meth:`ScenarioStore.save_dataset` gives ``workspace``, without saving."""
    return _dataset_blobs(workspace)["dataset_id"]


def _clean_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a scenario needs a non-empty name, got {name!r}")
    return name.strip()


def _clean_text(text: str | None) -> str | None:
    if text is None:
        return None
    text = str(text).strip()
    return text or None


@dataclass(frozen=True)
class PruneReport:
    """What :meth:`ScenarioStore.prune` removed.

    Attributes
    ----------
    autosaves : tuple of str
        Session keys of the expired working copies.
    datasets : tuple of str
        Ids of the data sets no scenario or working copy used any more.
    """

    autosaves: tuple[str, ...]
    datasets: tuple[str, ...]


_INFO_SQL = (
    "SELECT s.scenario_id, s.name, s.dataset_id, d.name, s.author, s.note, s.created_at,"
    " s.updated_at, s.updated_by, s.version, s.parent_id, v.n_moves, v.n_changed, s.status"
    " FROM scenarios s JOIN datasets d ON d.dataset_id = s.dataset_id"
    " JOIN scenario_versions v ON v.scenario_id = s.scenario_id AND v.version = s.version"
)


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
        status=row[13],
    )


class ScenarioStore(WorkflowMixin, SessionsMixin):
    """Scenarios, their data sets and autosaved working copies in one database.

    Every method takes a connection from the engine's pool for one short
    transaction, so one store object can be shared between threads
    (Streamlit sessions); processes and servers share the database.

    Parameters
    ----------
    path : str or os.PathLike, optional
        SQLite file (its folder is created if missing) or ``postgresql://``
        URL; :func:`default_db_target` when omitted.
    on_write : callable, optional
        Called with a step name after each write inside a save transaction
        (fault-injection hook for tests: a test kills the process there).

    Attributes
    ----------
    path : pathlib.Path or None
        The SQLite file; ``None`` on a database server.
    name : str
        The database as shown to users: the file's name (never its folder),
        or database and host.
    backend : str
        ``"sqlite"`` or ``"postgresql"``.
    schema_upgrade : tuple of int
        ``(version found, version now)`` of the schema when it was opened.

    Raises
    ------
    StoreUnavailableError
        When the database cannot be opened or upgraded (damaged, read-only
        and too old, unreachable).
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        on_write: Callable[[str], None] | None = None,
    ) -> None:
        self.url, self.path = database_location(path)
        self.name = describe(self.url, self.path)
        self.backend = self.url.get_backend_name()
        self._on_write = on_write
        self.read_only = self.path is not None and self.path.exists() and not _writable(self.path)
        with self._guard():
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.read_only:
                # Read-only media: open without the journal files SQLite would
                # create next to it; every write then fails as "read-only".
                self.url = sa.engine.URL.create(
                    "sqlite",
                    database=f"file:{self.path}?mode=ro&immutable=1",
                    query={"uri": "true"},
                )
                logger.warning("scenario database %s is read-only", self.name)
            self.engine = create_store_engine(self.url)
            if self.read_only:
                self.schema_upgrade = self._check_current()
            else:
                self.schema_upgrade = migrate(self.engine)

    def __repr__(self) -> str:
        return f"ScenarioStore({self.name!r}, {self.backend})"

    @property
    def target(self) -> str:
        """What opens this database again (file path or URL, credentials included): never shown."""
        if self.path is not None:
            return str(self.path)
        return self.url.render_as_string(hide_password=False)

    def close(self) -> None:
        """Close the pooled connections (the store opens new ones if used again)."""
        self.engine.dispose()

    # -- plumbing ----------------------------------------------------------
    def _check_current(self) -> tuple[int, int]:
        with self.engine.connect() as connection:
            version = schema_version(connection)
        if version != SCHEMA_VERSION:
            raise StoreUnavailableError(
                "read-only",
                f"The scenario database {self.name} is read-only and was written by another "
                "release of terrmap: it cannot be upgraded, so scenarios cannot be opened.",
            )
        return version, version

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except (sa.exc.DBAPIError, OSError) as error:
            found = unavailable_error(error, self.name)
            if found is None:
                raise
            # The details (driver message, file path) go to the log, not the user.
            logger.warning(
                "scenario database %s unavailable: %s", self.name, getattr(error, "orig", error)
            )
            raise found from None

    @contextlib.contextmanager
    def _connect(self, snapshot: bool = False) -> Iterator[Connection]:
        with self._guard(), self.engine.connect() as connection:
            if snapshot and self.backend == "postgresql":
                # Several reads that must see one state of the database.
                connection.execution_options(isolation_level="REPEATABLE READ")
            yield connection

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with (
            self._guard(),
            self.engine.connect().execution_options(terrmap_write=True) as connection,
            connection.begin(),
        ):
            yield connection

    def _step(self, name: str) -> None:
        if self._on_write is not None:
            self._on_write(name)

    def _lock_clause(self) -> str:
        # SQLite's BEGIN IMMEDIATE locks the database; a server locks the row.
        return " FOR UPDATE" if self.backend == "postgresql" else ""

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
                sa.text(
                    "INSERT INTO datasets (dataset_id, name, created_at, n_accounts,"
                    " n_territories, accounts, territories, reps, initial_assignment,"
                    " account_ids, territory_ids, ids_key, params, notes, units, unit_layer,"
                    " definition)"
                    " VALUES (:dataset_id, :name, :created_at, :n_accounts, :n_territories,"
                    " :accounts, :territories, :reps, :initial_assignment, :account_ids,"
                    " :territory_ids, :ids_key, :params, :notes, :units, :unit_layer,"
                    " :definition)"
                    " ON CONFLICT (dataset_id) DO NOTHING"
                ),
                {
                    **blobs,
                    "name": workspace.name,
                    "created_at": _now().isoformat(),
                    "n_accounts": workspace.context.n_accounts,
                    "n_territories": workspace.context.n_territories,
                    "notes": json.dumps(list(workspace.notes)),
                },
            )
        return blobs["dataset_id"]

    def has_dataset(self, dataset_id: str) -> bool:
        """Whether a data set with this id is stored."""
        with self._connect() as connection:
            row = connection.execute(
                sa.text("SELECT 1 FROM datasets WHERE dataset_id = :id"), {"id": dataset_id}
            ).first()
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
                sa.text(
                    "SELECT name, accounts, territories, reps, initial_assignment, params, notes,"
                    " account_ids, territory_ids, units, unit_layer, definition"
                    " FROM datasets WHERE dataset_id = :id"
                ),
                {"id": dataset_id},
            ).first()
        if row is None:
            raise ScenarioNotFoundError(f"no stored data set {dataset_id!r}")
        name, accounts, territories, reps, initial, params, notes, account_ids, territory_ids = row[
            :9
        ]
        units, definition = _read_units(*row[9:])
        workspace = build_workspace(
            _read_frame(accounts),
            _read_frame(territories, geo=True),
            _read_frame(reps),
            name=name,
            params=TravelParams(**json.loads(params)),
            units=units,
            definition=definition,
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
    def info(self, scenario_id: str) -> ScenarioInfo:
        """Metadata of one scenario.

        Raises
        ------
        ScenarioNotFoundError
            If no scenario has this id.
        """
        with self._connect() as connection:
            return self._info_in(connection, scenario_id)

    @staticmethod
    def _info_in(connection: Connection, scenario_id: str) -> ScenarioInfo:
        row = connection.execute(
            sa.text(f"{_INFO_SQL} WHERE s.scenario_id = :id"), {"id": scenario_id}
        ).first()
        if row is None:
            raise ScenarioNotFoundError(f"no scenario {scenario_id!r}")
        return _info(row)

    def list(self, dataset_id: str | None = None) -> list[ScenarioInfo]:
        """All scenarios (of one data set when given), latest save first."""
        sql, args = _INFO_SQL, {}
        if dataset_id is not None:
            sql, args = f"{sql} WHERE s.dataset_id = :dataset", {"dataset": dataset_id}
        with self._connect() as connection:
            rows = connection.execute(
                sa.text(f"{sql} ORDER BY s.updated_at DESC, s.name"), args
            ).fetchall()
        return [_info(row) for row in rows]

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

        A new version goes back to ``"draft"`` in the review workflow: an
        approval or publication was of the version before.

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
        StoreUnavailableError
            When the database cannot be written (nothing is saved).
        """
        author, note = _clean_text(author), _clean_text(note)
        if scenario_id is None:
            name = _clean_name(name)
        elif name is not None:
            name = _clean_name(name)
        payload = _plan_payload(plan)
        now = _now().isoformat()
        try:
            with self._transaction() as connection:
                self._require_dataset(connection, dataset_id, plan)
                if scenario_id is None:
                    scenario_id = uuid.uuid4().hex
                    version = 1
                    self._check_name_free(connection, name, None)
                    connection.execute(
                        sa.text(
                            "INSERT INTO scenarios (scenario_id, name, dataset_id, author, note,"
                            " created_at, updated_at, updated_by, version, parent_id, status)"
                            " VALUES (:id, :name, :dataset, :author, :note, :now, :now, :author,"
                            " 1, NULL, 'draft')"
                        ),
                        {
                            "id": scenario_id,
                            "name": name,
                            "dataset": dataset_id,
                            "author": author,
                            "note": note,
                            "now": now,
                        },
                    )
                else:
                    current = self._current(connection, scenario_id)
                    if current["dataset_id"] != dataset_id:
                        raise ValueError(
                            f"scenario {current['name']!r} belongs to data set "
                            f"{current['dataset_id']!r}, not {dataset_id!r}"
                        )
                    if expected_version is not None and current["version"] != expected_version:
                        raise _conflict(current, expected_version)
                    version = current["version"] + 1
                    if name is not None and name != current["name"]:
                        self._check_name_free(connection, name, scenario_id)
                    updated = connection.execute(
                        sa.text(
                            "UPDATE scenarios SET name = :name, note = :note, updated_at = :now,"
                            " updated_by = :author, version = :version, status = 'draft'"
                            " WHERE scenario_id = :id AND version = :current"
                        ),
                        {
                            "name": name or current["name"],
                            "note": note,
                            "now": now,
                            "author": author,
                            "version": version,
                            "id": scenario_id,
                            "current": current["version"],
                        },
                    )
                    if updated.rowcount != 1:  # the row lock makes this unreachable; be sure
                        raise _conflict(self._current(connection, scenario_id), current["version"])
                self._step("scenario")
                connection.execute(
                    sa.text(
                        "INSERT INTO scenario_versions (scenario_id, version, saved_at, saved_by,"
                        " note, n_moves, n_changed, base_assignment, assignment, moves)"
                        " VALUES (:id, :version, :now, :author, :note, :n_moves, :n_changed,"
                        " :base_assignment, :assignment, :moves)"
                    ),
                    {
                        **payload,
                        "id": scenario_id,
                        "version": version,
                        "now": now,
                        "author": author,
                        "note": note,
                    },
                )
                self._step("version")
                append_audit(
                    connection,
                    author or "(anonymous)",
                    "save",
                    scenario_id,
                    {
                        "name": name,
                        "version": version,
                        "moves": payload["n_moves"],
                        "accounts_changed": payload["n_changed"],
                    },
                )
        except sa.exc.IntegrityError as error:
            # Two sessions creating the same name at once: the database's
            # unique constraint decides; the loser is told like any other.
            raise _name_taken(error, name) from error
        logger.info("saved scenario %s version %d", scenario_id, version)
        return self.info(scenario_id)

    def load(self, scenario_id: str, version: int | None = None) -> Scenario:
        """Read a scenario (its current version unless ``version`` is given).

        Raises
        ------
        ScenarioNotFoundError
            If the scenario or the version does not exist.
        """
        with self._connect(snapshot=True) as connection:
            # One read transaction: info and blobs of the same version.
            info = self._info_in(connection, scenario_id)
            wanted = info.version if version is None else int(version)
            blobs = connection.execute(
                sa.text(
                    "SELECT base_assignment, assignment, moves, saved_at, saved_by, note,"
                    " n_moves, n_changed FROM scenario_versions"
                    " WHERE scenario_id = :id AND version = :version"
                ),
                {"id": scenario_id, "version": wanted},
            ).first()
            ids = self._dataset_ids(connection, info.dataset_id)
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
                sa.text(
                    "SELECT version, saved_at, saved_by, note, n_moves, n_changed"
                    " FROM scenario_versions WHERE scenario_id = :id ORDER BY version"
                ),
                {"id": scenario_id},
            ).fetchall()
        frame = pd.DataFrame(
            [tuple(row) for row in rows],
            columns=["version", "saved_at", "saved_by", "note", "moves", "accounts_changed"],
        )
        frame["saved_at"] = pd.to_datetime(frame["saved_at"], utc=True, format="ISO8601")
        return frame

    def duplicate(
        self, scenario_id: str, name: str, *, author: str | None = None, note: str | None = None
    ) -> ScenarioInfo:
        """Branch a new scenario from the current version of another.

        The copy has the same change log and assignment, version 1, status
        ``"draft"``, and remembers where it came from (``parent_id``).
        """
        name = _clean_name(name)
        author = _clean_text(author)
        now = _now().isoformat()
        new_id = uuid.uuid4().hex
        try:
            with self._transaction() as connection:
                current = self._current(connection, scenario_id)
                self._check_name_free(connection, name, None)
                source_note = _clean_text(
                    note if note is not None else f"Copy of {current['name']}"
                )
                connection.execute(
                    sa.text(
                        "INSERT INTO scenarios (scenario_id, name, dataset_id, author, note,"
                        " created_at, updated_at, updated_by, version, parent_id, status)"
                        " VALUES (:id, :name, :dataset, :author, :note, :now, :now, :author, 1,"
                        " :parent, 'draft')"
                    ),
                    {
                        "id": new_id,
                        "name": name,
                        "dataset": current["dataset_id"],
                        "author": author,
                        "note": source_note,
                        "now": now,
                        "parent": scenario_id,
                    },
                )
                connection.execute(
                    sa.text(
                        "INSERT INTO scenario_versions (scenario_id, version, saved_at, saved_by,"
                        " note, n_moves, n_changed, base_assignment, assignment, moves)"
                        " SELECT :id, 1, :now, :author, :note, n_moves, n_changed,"
                        " base_assignment, assignment, moves FROM scenario_versions"
                        " WHERE scenario_id = :parent AND version = :version"
                    ),
                    {
                        "id": new_id,
                        "now": now,
                        "author": author,
                        "note": source_note,
                        "parent": scenario_id,
                        "version": current["version"],
                    },
                )
                append_audit(
                    connection,
                    author or "(anonymous)",
                    "duplicate",
                    new_id,
                    {"name": name, "from": scenario_id, "from_version": current["version"]},
                )
        except sa.exc.IntegrityError as error:
            raise _name_taken(error, name) from error
        return self.info(new_id)

    def rename(self, scenario_id: str, name: str, *, author: str | None = None) -> ScenarioInfo:
        """Give a scenario another (unused) name; its version does not change."""
        name = _clean_name(name)
        try:
            with self._transaction() as connection:
                current = self._current(connection, scenario_id)
                self._check_name_free(connection, name, scenario_id)
                connection.execute(
                    sa.text("UPDATE scenarios SET name = :name WHERE scenario_id = :id"),
                    {"name": name, "id": scenario_id},
                )
                append_audit(
                    connection,
                    _clean_text(author) or "(anonymous)",
                    "rename",
                    scenario_id,
                    {"from": current["name"], "to": name},
                )
        except sa.exc.IntegrityError as error:
            raise _name_taken(error, name) from error
        return self.info(scenario_id)

    def delete(
        self,
        scenario_id: str,
        expected_version: int | None = None,
        *,
        author: str | None = None,
    ) -> None:
        """Delete a scenario, all its versions, comments and reviews.

        Raises
        ------
        ScenarioNotFoundError
            If there is no such scenario.
        ScenarioConflictError
            If ``expected_version`` is given and someone saved since.
        WorkflowError
            If the scenario was ever published (the history of plans in force
            must stay restorable).
        """
        with self._transaction() as connection:
            current = self._current(connection, scenario_id)
            if expected_version is not None and current["version"] != expected_version:
                raise _conflict(current, expected_version)
            published = connection.execute(
                sa.text("SELECT count(*) FROM publications WHERE scenario_id = :id"),
                {"id": scenario_id},
            ).scalar_one()
            if published:
                raise WorkflowError(
                    f"scenario {current['name']!r} was published: it stays in the history of "
                    "plans in force and cannot be deleted"
                )
            for table in ("comments", "workflow_events", "scenario_versions", "scenarios"):
                connection.execute(
                    sa.text(f"DELETE FROM {table} WHERE scenario_id = :id"), {"id": scenario_id}
                )
            append_audit(
                connection,
                _clean_text(author) or "(anonymous)",
                "delete",
                scenario_id,
                {"name": current["name"], "version": current["version"]},
            )
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
        author: str | None = None,
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
        author : str, optional
            Whose working copy it is.

        Raises
        ------
        StoreUnavailableError
            When the database cannot be written.
        """
        if not session_key:
            raise ValueError(f"session_key must be a non-empty string, got {session_key!r}")
        payload = _plan_payload(plan)
        with self._transaction() as connection:
            self._require_dataset(connection, dataset_id, plan)
            connection.execute(
                sa.text(
                    "INSERT INTO autosaves (session_key, dataset_id, saved_at, scenario_id,"
                    " scenario_version, n_moves, n_changed, base_assignment, assignment, moves,"
                    " author) VALUES (:key, :dataset, :now, :scenario, :version, :n_moves,"
                    " :n_changed, :base_assignment, :assignment, :moves, :author)"
                    " ON CONFLICT (session_key) DO UPDATE SET dataset_id = excluded.dataset_id,"
                    " saved_at = excluded.saved_at, scenario_id = excluded.scenario_id,"
                    " scenario_version = excluded.scenario_version, n_moves = excluded.n_moves,"
                    " n_changed = excluded.n_changed,"
                    " base_assignment = excluded.base_assignment,"
                    " assignment = excluded.assignment, moves = excluded.moves,"
                    " author = excluded.author"
                ),
                {
                    **payload,
                    "key": session_key,
                    "dataset": dataset_id,
                    "now": _now().isoformat(),
                    "scenario": scenario_id,
                    "version": scenario_version,
                    "author": _clean_text(author),
                },
            )

    _AUTOSAVE_SQL = (
        "SELECT a.session_key, a.dataset_id, d.name, a.saved_at, a.scenario_id,"
        " a.scenario_version, a.n_moves, a.n_changed, a.author"
        " FROM autosaves a JOIN datasets d ON d.dataset_id = a.dataset_id"
    )

    @staticmethod
    def _autosave_info(row: tuple) -> AutosaveInfo:
        return AutosaveInfo(
            session_key=row[0],
            dataset_id=row[1],
            dataset_name=row[2],
            saved_at=_time(row[3]),
            scenario_id=row[4],
            scenario_version=row[5],
            n_moves=int(row[6]),
            n_changed=int(row[7]),
            author=row[8],
        )

    def autosaves(self) -> list[AutosaveInfo]:
        """Every autosaved working copy, latest first."""
        with self._connect() as connection:
            rows = connection.execute(
                sa.text(f"{self._AUTOSAVE_SQL} ORDER BY a.saved_at DESC")
            ).fetchall()
        return [self._autosave_info(row) for row in rows]

    def autosave_info(self, session_key: str) -> AutosaveInfo | None:
        """Return the slot's metadata, ``None`` when it is empty."""
        with self._connect() as connection:
            row = connection.execute(
                sa.text(f"{self._AUTOSAVE_SQL} WHERE a.session_key = :key"), {"key": session_key}
            ).first()
        return None if row is None else self._autosave_info(row)

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
        with self._connect(snapshot=True) as connection:
            found = connection.execute(
                sa.text(f"{self._AUTOSAVE_SQL} WHERE a.session_key = :key"), {"key": session_key}
            ).first()
            row = connection.execute(
                sa.text(
                    "SELECT base_assignment, assignment, moves FROM autosaves"
                    " WHERE session_key = :key"
                ),
                {"key": session_key},
            ).first()
            if found is None or row is None:
                raise ScenarioNotFoundError(f"no autosaved working copy {session_key!r}")
            info = self._autosave_info(found)
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
            connection.execute(
                sa.text("DELETE FROM autosaves WHERE session_key = :key"), {"key": session_key}
            )

    # -- housekeeping ------------------------------------------------------
    def prune(self, autosave_max_age: timedelta, *, now: datetime | None = None) -> PruneReport:
        """Drop expired working copies, then data sets nothing refers to.

        A data set stays while a scenario (hence any publication) or a
        remaining working copy uses it.

        Parameters
        ----------
        autosave_max_age : datetime.timedelta
            Working copies not autosaved for longer than this are removed.
        now : datetime, optional
            The present (UTC); the clock by default.

        Returns
        -------
        PruneReport
            What was removed.

        Raises
        ------
        ValueError
            For a negative age.
        """
        if autosave_max_age < timedelta(0):
            raise ValueError(f"autosave_max_age must not be negative, got {autosave_max_age}")
        cutoff = ((now or _now()) - autosave_max_age).astimezone(UTC).isoformat()
        with self._transaction() as connection:
            expired = connection.execute(
                sa.text("SELECT session_key FROM autosaves WHERE saved_at < :cutoff"),
                {"cutoff": cutoff},
            ).scalars()
            expired = tuple(sorted(expired))
            connection.execute(
                sa.text("DELETE FROM autosaves WHERE saved_at < :cutoff"), {"cutoff": cutoff}
            )
            unused = tuple(
                sorted(
                    connection.execute(
                        sa.text(
                            "SELECT dataset_id FROM datasets d WHERE NOT EXISTS"
                            " (SELECT 1 FROM scenarios s WHERE s.dataset_id = d.dataset_id)"
                            " AND NOT EXISTS"
                            " (SELECT 1 FROM autosaves a WHERE a.dataset_id = d.dataset_id)"
                        )
                    ).scalars()
                )
            )
            for dataset_id in unused:
                connection.execute(
                    sa.text("DELETE FROM datasets WHERE dataset_id = :id"), {"id": dataset_id}
                )
        if expired or unused:
            logger.info("pruned %d working copies, %d data sets", len(expired), len(unused))
        return PruneReport(autosaves=expired, datasets=unused)

    # -- checks ------------------------------------------------------------
    @staticmethod
    def _require_dataset(connection: Connection, dataset_id: str, plan: Plan) -> None:
        row = connection.execute(
            sa.text(
                "SELECT n_accounts, n_territories, ids_key FROM datasets WHERE dataset_id = :id"
            ),
            {"id": dataset_id},
        ).first()
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
    def _dataset_ids(connection: Connection, dataset_id: str) -> tuple[list[str], list[str]]:
        row = connection.execute(
            sa.text("SELECT account_ids, territory_ids FROM datasets WHERE dataset_id = :id"),
            {"id": dataset_id},
        ).first()
        if row is None:
            raise ScenarioNotFoundError(f"no stored data set {dataset_id!r}")
        return _read_ids(row[0]), json.loads(row[1])

    def _current(self, connection: Connection, scenario_id: str) -> dict[str, object]:
        row = connection.execute(
            sa.text(
                "SELECT name, dataset_id, version, updated_by, updated_at, status FROM scenarios"
                f" WHERE scenario_id = :id{self._lock_clause()}"
            ),
            {"id": scenario_id},
        ).first()
        if row is None:
            raise ScenarioNotFoundError(f"no scenario {scenario_id!r}")
        return dict(
            zip(
                ("name", "dataset_id", "version", "updated_by", "updated_at", "status"),
                row,
                strict=True,
            )
        )

    @staticmethod
    def _check_name_free(connection: Connection, name: str, scenario_id: str | None) -> None:
        row = connection.execute(
            sa.text("SELECT scenario_id FROM scenarios WHERE name = :name"), {"name": name}
        ).first()
        if row is not None and row[0] != scenario_id:
            raise ValueError(f"a scenario named {name!r} exists already")


def _name_taken(error: sa.exc.IntegrityError, name: str | None) -> Exception:
    """Return the error for a unique violation: a taken name, or a collision not caught before."""
    text = str(error.orig)
    if "scenarios.name" in text or "scenarios_name_key" in text:
        return ValueError(f"a scenario named {name!r} exists already")
    return ScenarioError(f"the save collided with another one and wrote nothing: {error.orig}")


def _writable(path: Path) -> bool:
    # os.access is false on a read-only file system even for root.
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _conflict(current: dict[str, object], expected_version: int) -> ScenarioConflictError:
    return ScenarioConflictError(
        current["name"],
        expected_version,
        current["version"],
        current["updated_by"],
        _time(current["updated_at"]),
    )
