"""The audit trail on SQLite and on a real PostgreSQL server: hash chain, append-only,
concurrent writers that never fork the chain, no free text, and a turn refused when the
audit cannot be written (a real SQLITE_FULL)."""

import json
import threading

import pytest
import sqlalchemy as sa

from agent.app.audit import AuditError, AuditLog, digest
from agent.fake import ScriptedChatModel
from agent.graph import Agent
from tests.conftest import END


@pytest.fixture()
def audit(tmp_path):
    return AuditLog(f"sqlite:///{tmp_path / 'audit.db'}")


def test_chain_verifies_and_detects_tampering(audit, tmp_path):
    for i in range(3):
        audit.append("turn", f"s{i}", "nurse", {"i": i})
    assert audit.verify() == (True, 3, "3 records, chain intact")
    with pytest.raises(sa.exc.IntegrityError):  # append-only: the trigger refuses updates
        with audit.engine.begin() as c:
            c.exec_driver_sql("UPDATE audit SET payload='{}' WHERE id=2")
    with audit.engine.begin() as c:  # an attacker who drops the trigger is still caught
        c.exec_driver_sql("DROP TRIGGER audit_no_update")
        c.exec_driver_sql("UPDATE audit SET payload='{\"i\": 9}' WHERE id=2")
    ok, n, message = audit.verify()
    assert not ok and "record 2" in message


def test_turns_are_audited_without_free_text(ctx, audit):
    model = ScriptedChatModel(
        script=[
            json.dumps({"tool": "similar_cases", "text": "Zhang Wei, chest pain", "k": 3}),
            json.dumps({"tool": "forecast_beds", "ward": "CARD", "days": 7}),
            "Cardiology forecast ready.",
        ]
    )
    agent = Agent(model, ctx, dialect="openai", today=END, audit=audit, model_name="m")
    turn = agent.ask("Patient Zhang Wei: how many beds for cardiology?")
    rows = audit.rows()
    assert [r["kind"] for r in rows] == ["turn_start", "turn"]
    dump = json.dumps(rows, ensure_ascii=False)
    assert "Zhang Wei" not in dump and "chest pain" not in dump
    payload = json.loads(rows[1]["payload"])
    assert [c["name"] for c in payload["tool_calls"]] == [c.name for c in turn.tool_calls]
    assert audit.verify()[0]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request, tmp_path):
    """An audit URL on each backend (PostgreSQL: a fresh database on the session's server)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    server = request.getfixturevalue("postgres")
    name = f"audit_{tmp_path.name.lower().replace('-', '_')}"[:60]
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return server.rsplit("/", 1)[0] + f"/{name}"


def test_chain_and_append_only_on_both_backends(any_db):
    audit = AuditLog(any_db)
    for i in range(3):
        audit.append("turn", f"s{i}", "nurse", {"i": i})
    assert audit.verify() == (True, 3, "3 records, chain intact")
    for sql in ("UPDATE audit SET payload='{}' WHERE id=2", "DELETE FROM audit WHERE id=3"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with audit.engine.begin() as c:
                c.exec_driver_sql(sql)
    assert audit.verify()[0]
    if audit.engine.dialect.name == "postgresql":  # an owner who disables the trigger...
        with audit.engine.begin() as c:
            c.exec_driver_sql("ALTER TABLE audit DISABLE TRIGGER audit_no_change")
            c.exec_driver_sql("DELETE FROM audit WHERE id=2")
        ok, _, message = audit.verify()  # ...is still caught by the chain
        assert not ok and "record 3" in message
    audit.engine.dispose()


def test_concurrent_writers_never_fork_the_chain(any_db):
    """Two AuditLog objects (as two processes would have) append from 8 threads at once:
    each append must read the last hash under the database's write lock."""
    logs = [AuditLog(any_db), AuditLog(any_db)]
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(10):
                logs[n % 2].append("turn", f"t{n}", "nurse", {"n": n, "i": i})
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ok, n, message = logs[0].verify()
    assert ok and n == 80, message
    for log in logs:
        log.engine.dispose()


@pytest.fixture()
def small_disk(tmp_path):
    """``(folder, fill)``: a folder for the audit database and a function that makes it
    really full. A 256 KiB tmpfs filled with a file until ENOSPC where mounting is allowed
    (root outside a restricted container); else SQLite's own page limit, reached by appending
    records shaped like a turn's first one until SQLITE_FULL."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True
        ).returncode
        == 0
    )

    def fill(audit: AuditLog) -> None:
        if mounted:
            with open(disk / "filler", "wb", buffering=0) as f, pytest.raises(OSError):
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            return
        with audit.engine.connect() as c:
            pages = c.exec_driver_sql("PRAGMA page_count").scalar()
        audit.engine.dispose()  # new connections only, each with the limit
        sa.event.listen(
            audit.engine,
            "connect",
            lambda conn, _rec: conn.execute(f"PRAGMA max_page_count = {pages}"),
        )
        with pytest.raises(AuditError, match="full"):
            for _ in range(10_000):
                audit.append("filler", "s1", "staff", {"question": digest("x")})

    yield disk, fill
    if mounted:
        subprocess.run(["umount", "--lazy", str(disk)], check=False)  # even if a file is open


def _kinds(audit: AuditLog) -> list[str]:
    return [r["kind"] for r in audit.rows() if r["kind"] != "filler"]


def test_turn_is_refused_when_the_disk_is_full_before_it_starts(ctx, small_disk):
    disk, fill = small_disk
    audit = AuditLog(f"sqlite:///{disk / 'audit.db'}")
    audit.append("boot", "-", "system", {})
    fill(audit)
    model = ScriptedChatModel(script=[json.dumps({"tool": "none", "reply": "hi"})])
    agent = Agent(model, ctx, dialect="openai", today=END, audit=audit)
    turn = agent.ask("hello", "s1")
    assert turn.error and "could not be audited" in turn.answer
    assert "full" in turn.error  # the database's own reason reaches the user
    assert model.calls == []  # nothing ran unaudited
    assert _kinds(audit) == ["boot"] and audit.verify()[0]
    audit.engine.dispose()


def test_turn_is_refused_when_the_disk_fills_during_the_turn(ctx, small_disk, tmp_path):
    """The disk fills while the tool runs, so the turn's closing record cannot be written:
    the answer is withheld and the history is not extended."""
    from agent.app.history import ChatHistory

    disk, fill = small_disk
    audit = AuditLog(f"sqlite:///{disk / 'audit.db'}")
    chats = ChatHistory(f"sqlite:///{tmp_path / 'chat.db'}")
    model = ScriptedChatModel(
        script=[
            json.dumps({"tool": "forecast_beds", "ward": "CARD", "days": 7}),
            "Cardiology forecast ready.",
        ]
    )
    agent = Agent(model, ctx, dialect="openai", today=END, audit=audit, chats=chats)
    events = []
    for ev in agent.stream("Beds for cardiology next week?", "s1"):
        events.append(ev)
        if ev.kind == "tool_start":  # the disk fills up while the turn runs
            fill(audit)
    turn = events[-1].data
    assert turn.error and "could not be audited" in turn.error
    assert turn.answer == turn.error and "Cardiology forecast ready." not in turn.answer
    assert [e.kind for e in events][-2:] == ["replace", "final"]
    assert chats.recent("s1", 3) == []  # the refused turn is not remembered
    assert _kinds(audit) == ["turn_start"] and audit.verify()[0]
    audit.engine.dispose()
