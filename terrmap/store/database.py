"""Where scenarios live: one SQLAlchemy engine over SQLite or PostgreSQL, its schema and upgrades.

The store keeps its data in an embedded SQLite file by default, or in a
PostgreSQL database for a team (``TERRMAP_DB=postgresql://user@host/db``).
Both get the same tables, written with SQLAlchemy Core, so the code above this
module does not know which one it talks to.

Schema versions
---------------
The table ``schema_version`` records which of :data:`MIGRATIONS` have run.
Opening a store runs the missing ones in order, each in its own transaction
(under a lock, so two servers opening an old database at once upgrade it
once). A database written before versions existed (the tables, no
``schema_version``) is version 1.

Errors
------
A database that cannot be used (damaged, read-only, on a full disk, a server
that does not answer) raises :class:`StoreUnavailableError`, whose message is
one line for the user: what happened, to which database (by file name, never
its folder), and what still works.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url

from terrmap.store.errors import ScenarioError

__all__ = [
    "DB_ENV",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "StoreUnavailableError",
    "create_store_engine",
    "database_location",
    "default_db_path",
    "default_db_target",
    "describe",
    "migrate",
    "schema_version",
    "unavailable_error",
]

logger = logging.getLogger(__name__)

#: Environment variable naming the database: a file path or a ``postgresql://`` URL.
DB_ENV = "TERRMAP_DB"
_DEFAULT_DB = Path("~/.terrmap/terrmap.sqlite")
_BUSY_TIMEOUT_S = 30.0
# Any constant: the key of the PostgreSQL advisory lock held while migrating.
_MIGRATION_LOCK = 7_461_092_187


class StoreUnavailableError(ScenarioError):
    """The scenario database cannot be read or written.

    ``str(error)`` is one line for the user (no traceback, no folder).

    Attributes
    ----------
    reason : str
        ``"unreadable"``, ``"read-only"``, ``"full"``, ``"unreachable"`` or
        ``"io"``.
    user_message : str
        The line to show.
    """

    def __init__(self, reason: str, user_message: str) -> None:
        self.reason = reason
        self.user_message = user_message
        super().__init__(user_message)

    @property
    def can_read(self) -> bool:
        """Whether reading may still work (only writing failed)."""
        return self.reason in {"read-only", "full"}


# --------------------------------------------------------------------------- location


def default_db_target() -> str:
    """Return the configured database: ``TERRMAP_DB`` (path or URL), else the home file."""
    configured = os.environ.get(DB_ENV, "").strip()
    return configured or str(_DEFAULT_DB.expanduser())


def default_db_path() -> Path:
    """Database file from ``TERRMAP_DB``, else ``~/.terrmap/terrmap.sqlite``."""
    configured = os.environ.get(DB_ENV, "").strip()
    return Path(configured or _DEFAULT_DB).expanduser()


def _is_url(target: str) -> bool:
    return re.match(r"^[a-z][a-z0-9+]*://", target) is not None


def database_location(target: str | os.PathLike | None = None) -> tuple[URL, Path | None]:
    """SQLAlchemy URL of a database given as a file path or a URL.

    Parameters
    ----------
    target : str or os.PathLike, optional
        A SQLite file path, ``postgresql://...`` (psycopg 3 is used) or any
        ``sqlite:///`` URL; :func:`default_db_target` when omitted.

    Returns
    -------
    tuple
        ``(url, path)``: ``path`` is the SQLite file, ``None`` for a server.

    Raises
    ------
    ValueError
        For a URL of a database other than SQLite or PostgreSQL.
    """
    text = str(target) if target is not None else default_db_target()
    if not _is_url(text):
        path = Path(text).expanduser().absolute()
        return URL.create("sqlite", database=str(path)), path
    url = make_url(text)
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql+psycopg"), None
    if url.get_backend_name() == "sqlite" and url.database:
        return url, Path(url.database).expanduser().absolute()
    raise ValueError(
        f"{DB_ENV} must be a file path or a postgresql:// URL, got a {url.drivername!r} URL"
    )


def describe(url: URL, path: Path | None) -> str:
    """Name of the database fit for the user: a file name, or server and database (no password)."""
    if path is not None:
        return path.name
    host = url.host or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"{url.database or ''} on {host}{port}"


# --------------------------------------------------------------------------- engine


def create_store_engine(url: URL) -> Engine:
    """Create the store's engine: foreign keys, durable writes, a busy timeout.

    On SQLite, transactions are begun by the store itself (``BEGIN IMMEDIATE``
    for writes, so the version read inside a save cannot change before the
    write that depends on it).
    """
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_S})

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:
            # The driver's own implicit BEGIN would make every transaction deferred.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as error:
                # A read-only file keeps its journal mode; reading still works.
                logger.debug("journal mode unchanged: %s", error)
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            write = connection.get_execution_options().get("terrmap_write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return sa.create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=20, pool_timeout=_BUSY_TIMEOUT_S
    )


# --------------------------------------------------------------------------- errors


_SQLITE_REASONS = (
    ("file is not a database", "unreadable"),
    ("malformed", "unreadable"),
    ("not a database", "unreadable"),
    ("readonly database", "read-only"),
    ("read-only", "read-only"),
    ("database or disk is full", "full"),
    ("no space left", "full"),
    ("unable to open database", "unopenable"),
    ("disk i/o error", "io"),
)


def _reason(error: BaseException) -> str | None:
    if isinstance(error, OSError) and not isinstance(error, sa.exc.SQLAlchemyError):
        if error.errno == errno.ENOSPC:
            return "full"
        if error.errno in {errno.EROFS, errno.EACCES, errno.EPERM}:
            return "read-only"
        return "io"
    if isinstance(error, sa.exc.IntegrityError):
        return None
    if not isinstance(error, sa.exc.DBAPIError):
        return None
    text = str(error.orig).lower()
    for fragment, reason in _SQLITE_REASONS:
        if fragment in text:
            return reason
    sqlstate = getattr(error.orig, "sqlstate", None) or ""
    if sqlstate == "53100":
        return "full"
    if sqlstate == "25006":
        return "read-only"
    if error.connection_invalidated or sqlstate.startswith("08") or sqlstate == "57P01":
        return "unreachable"
    if isinstance(error, sa.exc.OperationalError) and "connection" in text:
        return "unreachable"
    return None


_MESSAGES = {
    "unreadable": (
        "The scenario database {name} is unreadable (damaged or not a terrmap database): "
        "scenarios cannot be opened or saved until it is restored from a backup or {env} "
        "names another file."
    ),
    "read-only": (
        "The scenario database {name} is read-only: scenarios can be opened but not saved."
    ),
    "full": (
        "The disk holding the scenario database {name} is full: nothing was saved; "
        "scenarios can still be opened. Free some space and save again."
    ),
    "unopenable": (
        "The scenario database {name} cannot be opened (its folder is missing or not "
        "readable): scenarios cannot be opened or saved."
    ),
    "unreachable": (
        "The scenario database {name} does not answer: scenarios cannot be opened or saved "
        "until it is back."
    ),
    "io": (
        "The scenario database {name} could not be read or written (disk error): nothing was saved."
    ),
}


def unavailable_error(error: BaseException, name: str) -> StoreUnavailableError | None:
    """Return the user-facing error for a database failure, ``None`` if ``error`` is not one.

    Parameters
    ----------
    error : BaseException
        What the driver or the file system raised.
    name : str
        The database's name for the user (:func:`describe`).
    """
    reason = _reason(error)
    if reason is None:
        return None
    message = _MESSAGES[reason].format(name=name, env=DB_ENV)
    return StoreUnavailableError("unreadable" if reason == "unopenable" else reason, message)


# --------------------------------------------------------------------------- schema


def _blob(dialect: str) -> str:
    return "BYTEA" if dialect == "postgresql" else "BLOB"


def _serial(dialect: str) -> str:
    if dialect == "postgresql":
        return "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    return "INTEGER PRIMARY KEY AUTOINCREMENT"


def _v1_tables(connection: Connection) -> None:
    """Create the tables of the first release (written before versions were recorded)."""
    blob = _blob(connection.dialect.name)
    statements = [
        f"""CREATE TABLE datasets (
            dataset_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            n_accounts INTEGER NOT NULL,
            n_territories INTEGER NOT NULL,
            accounts {blob} NOT NULL,
            territories {blob} NOT NULL,
            reps {blob},
            initial_assignment {blob} NOT NULL,
            account_ids {blob} NOT NULL,
            territory_ids TEXT NOT NULL,
            ids_key TEXT NOT NULL,
            params TEXT NOT NULL,
            notes TEXT NOT NULL)""",
        """CREATE TABLE scenarios (
            scenario_id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            dataset_id TEXT NOT NULL REFERENCES datasets (dataset_id),
            author TEXT,
            note TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT,
            version INTEGER NOT NULL,
            parent_id TEXT)""",
        f"""CREATE TABLE scenario_versions (
            scenario_id TEXT NOT NULL REFERENCES scenarios (scenario_id) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            saved_at TEXT NOT NULL,
            saved_by TEXT,
            note TEXT,
            n_moves INTEGER NOT NULL,
            n_changed INTEGER NOT NULL,
            base_assignment {blob} NOT NULL,
            assignment {blob} NOT NULL,
            moves {blob} NOT NULL,
            PRIMARY KEY (scenario_id, version))""",
        f"""CREATE TABLE autosaves (
            session_key TEXT PRIMARY KEY,
            dataset_id TEXT NOT NULL REFERENCES datasets (dataset_id),
            saved_at TEXT NOT NULL,
            scenario_id TEXT,
            scenario_version INTEGER,
            n_moves INTEGER NOT NULL,
            n_changed INTEGER NOT NULL,
            base_assignment {blob} NOT NULL,
            assignment {blob} NOT NULL,
            moves {blob} NOT NULL)""",
    ]
    for statement in statements:
        connection.exec_driver_sql(statement)


def _v2_status_and_owners(connection: Connection) -> None:
    """Scenarios get a workflow status; autosaves their author; lookups by age get indexes."""
    connection.exec_driver_sql(
        "ALTER TABLE scenarios ADD COLUMN status TEXT NOT NULL DEFAULT 'draft'"
    )
    connection.exec_driver_sql("ALTER TABLE autosaves ADD COLUMN author TEXT")
    connection.exec_driver_sql("CREATE INDEX autosaves_saved_at ON autosaves (saved_at)")
    connection.exec_driver_sql("CREATE INDEX scenarios_dataset ON scenarios (dataset_id)")


def _v3_workflow_and_audit(connection: Connection) -> None:
    """Proposals and reviews, comments, publications and the append-only audit log."""
    dialect = connection.dialect.name
    serial = _serial(dialect)
    statements = [
        f"""CREATE TABLE workflow_events (
            event_id {serial},
            scenario_id TEXT NOT NULL REFERENCES scenarios (scenario_id) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT NOT NULL,
            note TEXT,
            at TEXT NOT NULL)""",
        "CREATE INDEX workflow_events_scenario ON workflow_events (scenario_id, event_id)",
        f"""CREATE TABLE comments (
            comment_id {serial},
            scenario_id TEXT NOT NULL REFERENCES scenarios (scenario_id) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            move_index INTEGER,
            author TEXT NOT NULL,
            text TEXT NOT NULL,
            at TEXT NOT NULL)""",
        "CREATE INDEX comments_scenario ON comments (scenario_id, comment_id)",
        f"""CREATE TABLE publications (
            publication_id {serial},
            scenario_id TEXT NOT NULL REFERENCES scenarios (scenario_id),
            version INTEGER NOT NULL,
            effective_date TEXT NOT NULL,
            published_by TEXT NOT NULL,
            published_at TEXT NOT NULL,
            restored_from INTEGER REFERENCES publications (publication_id),
            FOREIGN KEY (scenario_id, version)
                REFERENCES scenario_versions (scenario_id, version))""",
        "CREATE INDEX publications_effective ON publications (effective_date, publication_id)",
        f"""CREATE TABLE audit_log (
            audit_id {serial},
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT,
            detail TEXT NOT NULL)""",
        "CREATE INDEX audit_log_at ON audit_log (at)",
    ]
    if dialect == "postgresql":
        statements += [
            """CREATE FUNCTION terrmap_audit_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION USING MESSAGE = 'the audit log is append-only: '
                    || TG_OP || ' refused';
            END $$ LANGUAGE plpgsql""",
            """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION terrmap_audit_append_only()""",
            """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
            FOR EACH STATEMENT EXECUTE FUNCTION terrmap_audit_append_only()""",
        ]
    else:
        statements += [
            f"""CREATE TRIGGER audit_log_no_{op.lower()} BEFORE {op} ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: {op} refused'); END"""
            for op in ("UPDATE", "DELETE")
        ]
    for statement in statements:
        connection.exec_driver_sql(statement)


def _v4_unit_layers(connection: Connection) -> None:
    """Add to data sets their unit layer and the territory definition their first plan reads."""
    blob = _blob(connection.dialect.name)
    for statement in (
        f"ALTER TABLE datasets ADD COLUMN units {blob}",
        "ALTER TABLE datasets ADD COLUMN unit_layer TEXT",
        "ALTER TABLE datasets ADD COLUMN definition TEXT",
    ):
        connection.exec_driver_sql(statement)


def _v5_sign_in_sessions(connection: Connection) -> None:
    """Sign-in sessions: what a browser's session token names, ended at sign-out."""
    connection.exec_driver_sql(
        """CREATE TABLE sign_in_sessions (
            session_id TEXT PRIMARY KEY,
            username TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            ended_at TEXT)"""
    )
    connection.exec_driver_sql(
        "CREATE INDEX sign_in_sessions_expires ON sign_in_sessions (expires_at)"
    )


@dataclass(frozen=True)
class Migration:
    """One step of the schema: its version number, what it does, how."""

    version: int
    summary: str
    apply: Callable[[Connection], None]


#: Every schema change, oldest first. Append only: a released step never changes.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "data sets, scenarios, versions, autosaves", _v1_tables),
    Migration(2, "scenario status, autosave author, indexes", _v2_status_and_owners),
    Migration(3, "workflow events, comments, publications, audit log", _v3_workflow_and_audit),
    Migration(4, "unit layers and territory definitions of data sets", _v4_unit_layers),
    Migration(5, "sign-in sessions", _v5_sign_in_sessions),
)
#: The version this code writes.
SCHEMA_VERSION = MIGRATIONS[-1].version

_VERSION_TABLE = "schema_version"


def schema_version(connection: Connection) -> int:
    """Return the schema version: 0 when empty, 1 for a database from before versions."""
    inspector = sa.inspect(connection)
    if inspector.has_table(_VERSION_TABLE):
        found = connection.exec_driver_sql(f"SELECT max(version) FROM {_VERSION_TABLE}").scalar()
        return int(found or 0)
    return 1 if inspector.has_table("scenarios") else 0


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})


def migrate(engine: Engine) -> tuple[int, int]:
    """Bring the database to :data:`SCHEMA_VERSION`, one transaction per step.

    Returns
    -------
    tuple of int
        ``(version before, version after)``.

    Raises
    ------
    sqlalchemy.exc.SQLAlchemyError
        When a step fails; that step is rolled back, earlier ones stay.
    RuntimeError
        When the database is newer than this code.
    StoreUnavailableError
        When the steps it records are not this code's (written by another
        build): named, before anything is changed.
    """
    with engine.connect() as connection:
        before = schema_version(connection)
        recorded = _recorded_steps(connection)
        connection.rollback()
    ours = {m.version: m.summary for m in MIGRATIONS}
    foreign = sorted(v for v, summary in recorded.items() if v in ours and summary != ours[v])
    if foreign:
        step = foreign[0]
        raise StoreUnavailableError(
            "unreadable",
            f"the scenario database was written by another build of terrmap: its schema step "
            f"{step} is “{recorded[step]}”, this terrmap's is “{ours[step]}”. Open another "
            "database (TERRMAP_DB) or one written by a terrmap release.",
        )
    if before > SCHEMA_VERSION:
        raise RuntimeError(
            f"the scenario database has schema version {before}, newer than this terrmap "
            f"({SCHEMA_VERSION}): upgrade terrmap"
        )
    if before == SCHEMA_VERSION:
        return before, before
    for migration in MIGRATIONS:
        with (
            engine.connect().execution_options(terrmap_write=True) as connection,
            connection.begin(),
        ):
            _lock(connection)
            current = schema_version(connection)  # another server may have upgraded meanwhile
            if migration.version <= current:
                continue
            if not sa.inspect(connection).has_table(_VERSION_TABLE):
                connection.exec_driver_sql(
                    f"CREATE TABLE {_VERSION_TABLE} (version INTEGER PRIMARY KEY,"
                    " summary TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
                if current == 1:
                    _record(connection, MIGRATIONS[0])
            migration.apply(connection)
            _record(connection, migration)
            logger.info("scenario database upgraded to schema %d", migration.version)
    return before, SCHEMA_VERSION


def _recorded_steps(connection: Connection) -> dict[int, str]:
    """Return the schema steps the database records, with their summaries (none before versions)."""
    if not sa.inspect(connection).has_table(_VERSION_TABLE):
        return {}
    rows = connection.exec_driver_sql(f"SELECT version, summary FROM {_VERSION_TABLE}")
    return {int(version): str(summary) for version, summary in rows}


def _record(connection: Connection, migration: Migration) -> None:
    connection.execute(
        sa.text(
            f"INSERT INTO {_VERSION_TABLE} (version, summary, applied_at)"
            " VALUES (:version, :summary, :at)"
        ),
        {
            "version": migration.version,
            "summary": migration.summary,
            "at": datetime.now(UTC).isoformat(),
        },
    )
