"""Alembic migrations of the audit, users and chat-history stores, on SQLite and a real
PostgreSQL server: a database made by the code before migrations keeps its rows (the audit
chain still verifies, users still sign in) and is brought to head; a fresh database gets the
same schema as that code made, and the code's tables match the newest revision."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from agent.app import audit, auth, db, history
from agent.app.audit import AuditError, AuditLog
from agent.app.auth import UserStore
from agent.app.history import ChatHistory
from tools.roles import Caller, Role

REPO = Path(__file__).resolve().parents[2]
STORES = (audit.STORE, auth.STORE, history.STORE)
PW = "correct horse battery"
TOKEN = "a-session-token-issued-before-the-upgrade"
NOW = 1_000_000.0

# The schema exactly as `metadata.create_all` and the audit triggers made it before migrations
# (SQLAlchemy 2.x DDL, `{serial}`: INTEGER on SQLite, SERIAL on PostgreSQL), frozen here so
# that the test keeps meaning "a database made by the old code" when the tables change.
PRE_MIGRATION_TABLES = """
CREATE TABLE audit (
    id {serial} NOT NULL, ts VARCHAR(40) NOT NULL, kind VARCHAR(40) NOT NULL,
    session VARCHAR(80) NOT NULL, role VARCHAR(40) NOT NULL, payload TEXT NOT NULL,
    prev VARCHAR(64) NOT NULL, hash VARCHAR(64) NOT NULL, PRIMARY KEY (id), UNIQUE (hash)
);
CREATE TABLE users (
    id {serial} NOT NULL, name VARCHAR(64) NOT NULL, role VARCHAR(20) NOT NULL,
    password_hash VARCHAR(100) NOT NULL, created FLOAT NOT NULL, last_sign_in FLOAT,
    failures INTEGER NOT NULL, locked_until FLOAT NOT NULL, PRIMARY KEY (id), UNIQUE (name)
);
CREATE TABLE sessions (
    token_sha256 VARCHAR(64) NOT NULL, user_id INTEGER NOT NULL, created FLOAT NOT NULL,
    expires FLOAT NOT NULL, PRIMARY KEY (token_sha256),
    FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE TABLE chat_turns (
    id {serial} NOT NULL, session VARCHAR(80) NOT NULL, ts VARCHAR(40) NOT NULL,
    question TEXT NOT NULL, answer TEXT NOT NULL, PRIMARY KEY (id)
);
CREATE INDEX ix_chat_turns_session ON chat_turns (session)
"""
PRE_MIGRATION_TRIGGERS = {
    "sqlite": [
        f"CREATE TRIGGER IF NOT EXISTS audit_no_{op.lower()} BEFORE {op} ON audit BEGIN "
        "SELECT RAISE(ABORT, 'the audit trail is append-only'); END"
        for op in ("UPDATE", "DELETE")
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$",
        "CREATE OR REPLACE TRIGGER audit_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
    ],
}


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request, tmp_path) -> Callable[[], str]:
    """Makes an empty database and returns its URL (PostgreSQL: on the session's server)."""
    made: list[str] = []

    def make() -> str:
        name = f"{tmp_path.name.lower().replace('-', '_')[:50]}_{len(made)}"
        if request.param == "sqlite":
            made.append(f"sqlite:///{tmp_path / name}.db")
            return made[-1]
        server = request.getfixturevalue("postgres")
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        made.append(server.rsplit("/", 1)[0] + f"/{name}")
        return made[-1]

    return make


def _make_pre_migration_database(url: str) -> None:
    """What the old code left: its tables and triggers, a user with a live session, a chain
    of three audit records and a chat turn; no version table."""
    engine = sa.create_engine(url)
    dialect = engine.dialect.name
    serial = "SERIAL" if dialect == "postgresql" else "INTEGER"
    with engine.begin() as c:
        for statement in PRE_MIGRATION_TABLES.format(serial=serial).split(";"):
            c.exec_driver_sql(statement)
        for statement in PRE_MIGRATION_TRIGGERS[dialect]:
            c.exec_driver_sql(statement)
        pw_hash = bcrypt.hashpw(PW.encode(), bcrypt.gensalt(4)).decode()
        c.execute(
            sa.text(
                "INSERT INTO users (name, role, password_hash, created, failures, locked_until) "
                "VALUES ('li.na', 'nurse', :h, :now, 0, 0.0)"
            ),
            {"h": pw_hash, "now": NOW},
        )
        c.execute(
            sa.text("INSERT INTO sessions VALUES (:t, 1, :now, :expires)"),
            {"t": hashlib.sha256(TOKEN.encode()).hexdigest(), "now": NOW, "expires": NOW + 600},
        )
        prev = audit.GENESIS
        for i in range(3):
            row = {
                "ts": f"2026-06-0{i + 1}T08:00:00+00:00",
                "kind": "turn",
                "session": "s1",
                "role": "nurse",
                "payload": json.dumps({"i": i}),
            }
            h = audit._hash(prev, row)
            c.execute(
                sa.text(
                    "INSERT INTO audit (ts, kind, session, role, payload, prev, hash) "
                    "VALUES (:ts, :kind, :session, :role, :payload, :prev, :hash)"
                ),
                {**row, "prev": prev, "hash": h},
            )
            prev = h
        c.execute(
            sa.text(
                "INSERT INTO chat_turns (session, ts, question, answer) "
                "VALUES ('s1', '2026-06-01T08:00:00+00:00', 'Beds in cardiology?', '34 beds.')"
            )
        )
    engine.dispose()


def _open_all(url: str) -> tuple[AuditLog, UserStore, ChatHistory]:
    return AuditLog(url), UserStore(url, rounds=4, clock=lambda: NOW + 60), ChatHistory(url)


def _revisions(url: str) -> list[str | None]:
    engine = sa.create_engine(url)
    try:
        return [db.revision(engine, store) for store in STORES]
    finally:
        engine.dispose()


def _schema(url: str) -> dict:
    """Everything about the stores' tables a migration could get wrong, names included."""
    engine = sa.create_engine(url)
    tables = [t for store in STORES for t in store.baseline_tables]
    with engine.connect() as c:
        ins = sa.inspect(c)
        found: dict = {
            t: {
                "columns": [
                    (col["name"], str(col["type"]), col["nullable"], col.get("default"))
                    for col in ins.get_columns(t)
                ],
                "pk": ins.get_pk_constraint(t)["constrained_columns"],
                "unique": sorted(
                    (u["name"] or "", u["column_names"]) for u in ins.get_unique_constraints(t)
                ),  # fmt: skip
                "indexes": sorted(
                    (i["name"] or "", i["column_names"], i["unique"]) for i in ins.get_indexes(t)
                ),  # fmt: skip
                "fks": [
                    (f["name"], f["constrained_columns"], f["referred_table"], f["options"])
                    for f in ins.get_foreign_keys(t)
                ],
            }
            for t in tables
        }
        if engine.dialect.name == "sqlite":
            triggers = c.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
            )
        else:
            triggers = c.exec_driver_sql(
                "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                "WHERE NOT tgisinternal ORDER BY tgname"
            )
        found["triggers"] = [tuple(r) for r in triggers]
    engine.dispose()
    return found


def test_a_store_made_before_migrations_keeps_its_rows_and_reaches_head(new_database):
    url = new_database()
    _make_pre_migration_database(url)
    assert _revisions(url) == [None, None, None]
    log, users, chats = _open_all(url)
    assert _revisions(url) == [db.head(store) for store in STORES]
    assert log.verify() == (True, 3, "3 records, chain intact")
    log.append("turn", "s2", "clinician", {"i": 3})  # the chain goes on from the old records
    assert log.verify() == (True, 4, "4 records, chain intact")
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with log.engine.begin() as c:
            c.exec_driver_sql("DELETE FROM audit")
    assert users.resolve(TOKEN) == Caller("li.na", Role.NURSE)  # the old session still works
    assert users.sign_in("li.na", PW).caller == Caller("li.na", Role.NURSE)
    assert chats.recent("s1", 5) == [("Beds in cardiology?", "34 beds.")]
    for store in (log, users, chats, *_open_all(url)):  # a second opening changes nothing
        store.engine.dispose()
    assert _revisions(url) == [db.head(store) for store in STORES]


def test_a_fresh_store_gets_the_old_schema_and_matches_the_code(new_database):
    old, fresh = new_database(), new_database()
    _make_pre_migration_database(old)
    opened = _open_all(fresh)
    assert _revisions(fresh) == [db.head(store) for store in STORES]
    assert _schema(fresh) == _schema(old)  # the first revision is the schema the old code made
    with opened[0].engine.connect() as c:  # and the tables in code are those at head
        for store in STORES:
            opts = {"version_table": store.version_table, "include_name": store.include_name}
            ctx = MigrationContext.configure(c, opts=opts)
            assert compare_metadata(ctx, store.metadata) == [], store.name
    for store in opened:
        store.engine.dispose()


def test_stores_opened_at_once_migrate_once(new_database):
    """Six openings of the three stores on one fresh database at once, as a service's threads
    or processes would: each migration runs under the database's lock, none fails."""
    url = new_database()
    openers = [AuditLog, ChatHistory, lambda u: UserStore(u, rounds=4)] * 2
    with ThreadPoolExecutor(len(openers)) as pool:
        opened = list(pool.map(lambda open_store: open_store(url), openers))  # re-raises
    for store in opened:
        store.engine.dispose()
    assert _revisions(url) == [db.head(store) for store in STORES]


OPEN_IN_A_CHILD = """
import pathlib, sys, time
from agent.app.audit import AuditLog
from agent.app.auth import UserStore
from agent.app.history import ChatHistory

url, go, order = sys.argv[1:]
print("ready", flush=True)
while not pathlib.Path(go).exists():
    time.sleep(0.005)
for name in order.split(","):
    {"audit": AuditLog, "history": ChatHistory, "users": UserStore}[name](url).engine.dispose()
"""


def test_processes_opening_a_fresh_database_at_once_migrate_it_once(new_database, tmp_path):
    """Two processes (say `wardwise serve` and a `wardwise users` command) open the stores
    of one fresh database in different orders at the same moment."""
    url, go = new_database(), tmp_path / "go"
    orders = ["audit,users,history", "history,users,audit"]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_IN_A_CHILD, url, str(go), order],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for order in orders
    ]
    for child in children:  # imported, waiting
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    go.touch()
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
    assert _revisions(url) == [db.head(store) for store in STORES]


def test_a_database_that_is_not_a_store_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'users.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as c:  # someone else's `users` table, no `sessions`
        c.exec_driver_sql("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    engine.dispose()
    with pytest.raises(db.MigrationError, match=r"'users'\] but not \['sessions'\]"):
        UserStore(url, rounds=4)


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    AuditLog(url).engine.dispose()
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("UPDATE alembic_version_audit SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(AuditError, match="revision 9999, which this Wardwise does not know"):
        AuditLog(url)


def test_the_upgrade_can_be_printed_as_sql_for_a_dba(capsys):
    cfg = db.alembic_config(audit.STORE, url="postgresql://dba@hospital/wardwise")
    command.upgrade(cfg, "head", sql=True)
    sql = capsys.readouterr().out
    assert "CREATE TABLE audit" in sql and "CREATE OR REPLACE TRIGGER audit_no_change" in sql
    assert "INSERT INTO alembic_version_audit (version_num) VALUES ('0001')" in sql


def test_a_fresh_sqlite_file_reaches_wal_mode_while_another_connection_writes(tmp_path):
    """SQLite refuses the switch to WAL at once ("database is locked", no busy wait) while
    another connection holds a write transaction: the stores' first openings at once did fail
    so under load. The switch waits for the writer instead, and fails only after its timeout."""
    import sqlite3
    import threading

    path = tmp_path / "fresh.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (1)")
    threading.Timer(0.3, lambda: writer.execute("COMMIT")).start()
    other = sqlite3.connect(path, isolation_level=None)
    db.sqlite_wal(other)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.sqlite_wal(other)  # already WAL: nothing to switch

    stuck = tmp_path / "stuck.db"
    writer = sqlite3.connect(stuck, isolation_level=None)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        db.sqlite_wal(sqlite3.connect(stuck, isolation_level=None), timeout=0.2)
