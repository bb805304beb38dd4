"""The audit trail: one append-only, hash-chained table of turns and tool calls.

Each record's ``hash`` is the SHA-256 of the previous record's hash and this record's
canonical JSON, so changing, deleting or reordering any record breaks every hash after it;
``verify`` walks the chain. Free text (questions, answers, tool text arguments) is stored as a
digest and a length, never verbatim: the audit proves what happened without holding PHI.
SQLite by default (``sqlite:///...``); any SQLAlchemy URL (PostgreSQL) works.

Append-only is enforced by the database too: triggers refuse ``UPDATE`` and ``DELETE`` (and
``TRUNCATE`` on PostgreSQL); they are part of the schema, made by the store's migrations
(:mod:`agent.app.db`, revisions in ``migrations/audit/``). Appends are serialised (a lock in
the process, and the database's write lock taken *before* the last hash is read: ``BEGIN
IMMEDIATE`` on SQLite, ``LOCK TABLE`` on PostgreSQL), so concurrent turns, or two processes on
one database, never fork the chain.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from datetime import UTC, datetime

import sqlalchemy as sa

from agent.app import db

GENESIS = "0" * 64
_meta = sa.MetaData()
records = sa.Table(
    "audit",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("session", sa.String(80), nullable=False),
    sa.Column("role", sa.String(40), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("prev", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
)
STORE = db.Store("audit", _meta, baseline_tables=("audit",))
# built once: a statement built per append (values inlined) cost more CPU than the insert
_LAST_HASH = sa.select(records.c.hash).order_by(records.c.id.desc()).limit(1)
_INSERT = records.insert()
# the same two statements in SQLite's own words, for the driver-level append on SQLite
_LAST_HASH_SQL = "SELECT hash FROM audit ORDER BY id DESC LIMIT 1"
_INSERT_SQL = (
    "INSERT INTO audit (ts, kind, session, role, payload, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class AuditError(RuntimeError):
    """The audit could not be written; the action must not proceed unaudited."""


def digest(text: str) -> dict:
    """A stand-in for free text: its SHA-256 prefix and length."""
    return {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()[:16], "chars": len(text)}


def _canonical(row: dict) -> str:
    keys = ("ts", "kind", "session", "role", "payload")
    return json.dumps({k: row[k] for k in keys}, sort_keys=True, ensure_ascii=False)


def _row(kind: str, session: str, role: str, payload: dict) -> dict:
    """A record's columns before its chain: ts, kind, session, role, payload (in that order)."""
    return {
        "ts": datetime.now(UTC).isoformat(),
        "kind": kind,
        "session": session,
        "role": role,
        "payload": json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str),
    }


def _hash(prev: str, row: dict) -> str:
    return hashlib.sha256((prev + _canonical(row)).encode("utf-8")).hexdigest()


def _sqlite_engine(url: str) -> sa.Engine:
    """SQLite with transactions begun by us: ``BEGIN IMMEDIATE`` takes the write lock first;
    in WAL mode (:func:`agent.app.db.sqlite_wal`)."""
    engine = sa.create_engine(url, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # the driver must not BEGIN on its own
        db.sqlite_wal(dbapi_conn)

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _reason(e: Exception) -> str:
    """The database's own words (``database or disk is full``), without the SQL or its values."""
    if isinstance(e, db.MigrationError):
        return str(e)
    if isinstance(e, sqlite3.Error):  # the driver's own (the SQLite append): no SQL in it
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    orig = getattr(e, "orig", None)
    return str(orig).splitlines()[0] if orig is not None else type(e).__name__


class AuditLog:
    """The audit table on one database (``url``: any SQLAlchemy URL)."""

    def __init__(self, url: str):
        self.url = url
        sqlite = url.startswith("sqlite")
        self.engine = _sqlite_engine(url) if sqlite else sa.create_engine(url)
        self._lock = threading.Lock()
        try:
            db.upgrade(self.engine, STORE)
        except (sa.exc.SQLAlchemyError, db.MigrationError) as e:
            raise AuditError(f"the audit trail could not be opened: {_reason(e)}") from e

    def append(self, kind: str, session: str, role: str, payload: dict) -> str:
        """Add one record; raise :class:`AuditError` if it cannot be written."""
        try:
            with self._lock:
                if self.engine.dialect.name == "sqlite":
                    return self._append_sqlite(kind, session, role, payload)
                with self.engine.begin() as c:
                    if self.engine.dialect.name == "postgresql":
                        c.exec_driver_sql("LOCK TABLE audit IN SHARE ROW EXCLUSIVE MODE")
                    prev = c.execute(_LAST_HASH).scalar() or GENESIS
                    row = _row(kind, session, role, payload)
                    h = _hash(prev, row)
                    c.execute(_INSERT, {**row, "prev": prev, "hash": h})
                    return h
        except (sa.exc.SQLAlchemyError, sqlite3.Error) as e:
            raise AuditError(f"the audit trail could not be written: {_reason(e)}") from e

    def _append_sqlite(self, kind: str, session: str, role: str, payload: dict) -> str:
        """The append on SQLite's driver: the same transaction (``BEGIN IMMEDIATE``, the last
        hash, the insert, the commit) on a connection of the engine's pool, without
        SQLAlchemy's statement handling around it, which cost as much CPU as the rest (a turn
        appends twice)."""
        conn = self.engine.raw_connection()  # set up by the engine's connect hook (WAL, ...)
        try:
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                last = cur.execute(_LAST_HASH_SQL).fetchone()
                prev = last[0] if last and last[0] else GENESIS
                row = _row(kind, session, role, payload)
                h = _hash(prev, row)
                cur.execute(_INSERT_SQL, (*row.values(), prev, h))
                cur.execute("COMMIT")
                return h
            except BaseException:
                driver = conn.driver_connection
                if driver is not None and driver.in_transaction:
                    cur.execute("ROLLBACK")
                raise
        finally:
            conn.close()  # back to the pool

    def verify(self) -> tuple[bool, int, str]:
        """Walk the chain: ``(ok, records checked, message)``."""
        prev = GENESIS
        n = 0
        with self.engine.connect() as c:
            for row in c.execute(sa.select(records).order_by(records.c.id)).mappings():
                n += 1
                if row["prev"] != prev or _hash(prev, dict(row)) != row["hash"]:
                    return False, n, f"record {row['id']} does not match the chain"
                prev = row["hash"]
        return True, n, f"{n} records, chain intact"

    def rows(self) -> list[dict]:
        """Every record, oldest first, as a dict of its columns."""
        with self.engine.connect() as c:
            return [
                dict(r) for r in c.execute(sa.select(records).order_by(records.c.id)).mappings()
            ]
