"""Schema migrations for the three stores (audit trail, users, chat history), by Alembic.

Each store keeps its revisions in its own folder, ``agent/app/migrations/<store>/`` (package
data, one shared ``env.py``), and its version in its own table, ``alembic_version_<store>``, so
the stores may live in three databases (the default) or share one. Opening a store calls
:func:`upgrade`: under the database's write lock (``BEGIN IMMEDIATE`` on SQLite, an advisory
lock on PostgreSQL) it reads the store's version and, unless it is already the newest, runs the
missing revisions in that one transaction, so two processes (or threads) opening a store at once
migrate it once. A database made before migrations existed (the store's tables present, no version
table) is stamped at :data:`BASELINE`, the revision that reproduces that schema, and then
upgraded: a hospital's database never needs a hand edit.

A schema change is a new revision file. Change the store's tables in code, then, on a
database at head (for example a fresh SQLite file opened by the store)::

    from alembic import command
    from agent.app import audit, db

    with engine.begin() as conn:
        command.revision(db.alembic_config(audit.STORE, conn), "add x", autogenerate=True,
                         rev_id="0002")

and review the generated file (SQLite changes run in batch mode). ``alembic_config(store,
url=...)`` with ``command.upgrade(cfg, "head", sql=True)`` prints the SQL for a DBA instead.
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"  # every store's first revision: the schema as it was before migrations
# Alembic's `context` and `op` are module globals: one migration at a time in a process. Taken
# before the database's lock, never while holding it.
_IN_PROCESS = threading.Lock()
WAL_RETRY_S = 0.01  # between tries to switch a fresh SQLite file to WAL mode


def sqlite_wal(dbapi_conn, timeout: float = 30.0) -> None:
    """Put a SQLite connection's database in write-ahead-log mode, still durable.

    In WAL mode a commit appends to ``<file>-wal`` and syncs that one file (``synchronous =
    FULL``: a committed turn survives a power cut) instead of writing a rollback journal and the
    database with two or three syncs: 0.5 ms instead of 2.8 ms a commit on this disk, and readers
    no longer wait for a writer. The mode is kept in the file; an in-memory database ignores it.
    Backups: ``sqlite3 x.db ".backup ..."`` copies the log's committed pages too (docs/deploy.md).

    Switching a fresh file to WAL needs it to itself: while another connection writes (the
    first store's migration, a ``wardwise users`` command, a second replica starting), SQLite
    answers "database is locked" at once, without waiting its busy timeout. A file already in
    WAL mode is left as it is, and the switch is tried again until ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            mode = dbapi_conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                dbapi_conn.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= deadline:
                raise
            time.sleep(WAL_RETRY_S)
    dbapi_conn.execute("PRAGMA synchronous = FULL")


def sqlite_truncate_wal(engine: sa.Engine) -> None:
    """Copy a SQLite database's write-ahead log into it and empty the log file, so rows just
    deleted (and overwritten, with ``secure_delete``) leave no older copy in ``<file>-wal``.
    Nothing on other databases."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as c:
        busy = c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
    if busy and busy[0]:
        raise sa.exc.OperationalError(
            "PRAGMA wal_checkpoint(TRUNCATE)", {}, Exception("the database is busy")
        )


class MigrationError(RuntimeError):
    """A store's database cannot be brought to the schema this code needs."""


@dataclass(frozen=True)
class Store:
    """What the migrations need to know about one store.

    Attributes:
        name: the folder of its revisions under ``migrations/`` and the suffix of its version
            table.
        metadata: its tables as the code uses them (autogenerate compares a database with it).
        baseline_tables: the tables that code before migrations created; finding them without a
            version table means a database to stamp at :data:`BASELINE`.
    """

    name: str
    metadata: sa.MetaData
    baseline_tables: tuple[str, ...]

    @property
    def version_table(self) -> str:
        """The table that holds this store's revision."""
        return f"alembic_version_{self.name}"

    def include_name(self, name: str | None, type_: str, parent_names: Any) -> bool:
        """Alembic's ``include_name`` hook: autogenerate looks at this store's tables only,
        so a database shared with other stores never yields a revision dropping theirs."""
        return type_ != "table" or name in self.metadata.tables


def alembic_config(
    store: Store, connection: sa.Connection | None = None, *, url: str | None = None
) -> Config:
    """An Alembic configuration for one store, without an ``alembic.ini``.

    Args:
        store: the store whose revisions and version table to use.
        connection: the connection that ``env.py`` migrates (online mode).
        url: a database URL, used only to render SQL when there is no connection (offline mode).
    """
    cfg = Config()
    cfg.set_main_option("script_location", _option(MIGRATIONS))
    cfg.set_main_option("version_locations", _option(MIGRATIONS / store.name))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", _option(url))
    cfg.attributes.update(connection=connection, store=store)
    return cfg


def upgrade(engine: sa.Engine, store: Store) -> None:
    """Bring the store's tables in ``engine``'s database to the newest revision.

    A database with the store's tables but no version table (made before migrations existed)
    is stamped at :data:`BASELINE` first. Raises :class:`MigrationError` when the database is
    at a revision this code does not know (made by a newer Wardwise) or holds only some of the
    baseline tables, and ``sqlalchemy.exc.SQLAlchemyError`` when the database fails.
    """
    if revision(engine, store) == head(store):
        return  # the usual opening: one read, no write lock
    with _IN_PROCESS, engine.connect() as conn, conn.begin():
        _write_lock(conn, store.name)
        current = _current(conn, store)  # again: another process may have migrated meanwhile
        if current == head(store):
            return
        cfg = alembic_config(store, conn)
        if current is None and _baseline_present(conn, store):
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, "head")


def revision(engine: sa.Engine, store: Store) -> str | None:
    """The store's revision in ``engine``'s database (``None``: never migrated)."""
    with engine.connect() as conn:
        return _current(conn, store)


def head(store: Store) -> str:
    """The newest revision of the store's schema."""
    rev = _script(store.name).get_current_head()
    assert rev is not None, f"no revisions in {MIGRATIONS / store.name}"
    return rev


def _current(conn: sa.Connection, store: Store) -> str | None:
    ctx = MigrationContext.configure(conn, opts={"version_table": store.version_table})
    current = ctx.get_current_revision()
    if current is not None:
        try:
            _script(store.name).get_revision(current)
        except CommandError:
            raise MigrationError(
                f"the {store.name} database is at revision {current}, which this Wardwise "
                f"does not know (newest: {head(store)}); it was made by a newer version"
            ) from None
    return current


def _baseline_present(conn: sa.Connection, store: Store) -> bool:
    """Whether the pre-migration tables are there: all of them (stamp), none (create)."""
    names = set(sa.inspect(conn).get_table_names())
    present = [t for t in store.baseline_tables if t in names]
    if present and len(present) < len(store.baseline_tables):
        missing = sorted(set(store.baseline_tables) - names)
        raise MigrationError(
            f"the {store.name} database has the tables {present} but not {missing}, and no "
            f"{store.version_table}: it was not made by Wardwise, or only in part"
        )
    return bool(present)


def _write_lock(conn: sa.Connection, name: str) -> None:
    """Serialise migrations: SQLite's write lock, or a PostgreSQL transaction advisory lock."""
    if conn.dialect.name == "sqlite":
        driver = conn.connection.driver_connection
        if not getattr(driver, "in_transaction", False):  # the audit engine has begun already
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"wardwise:{name}".encode()).digest()[:8], "big")
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key - (1 << 63)})


@functools.cache
def _script(name: str) -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS), version_locations=[str(MIGRATIONS / name)])


def _option(value: str | Path) -> str:
    return str(value).replace("%", "%%")  # the config is a ConfigParser: % interpolates
