"""PHI retention of the chat history: ``wardwise history purge --older-than`` deletes the old
turns' text (gone from the SQLite file, not only from the table), keeps the recent ones, and
leaves the audit trail (digests only) whole, so ``wardwise audit verify`` still passes. The
daily purge of ``wardwise up``/``serve`` is the same call on a thread."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from agent.app.audit import AuditLog
from agent.app.history import ChatHistory, Retention, parse_age, turns
from agent.cli import app
from agent.fake import ScriptedChatModel
from agent.graph import Agent
from tests.conftest import END

OLD_Q = "Bed 12 patient Zhang Wei-OLDTURN: how many beds will CARD need in the next 5 days?"
NEW_Q = "Li Na-NEWTURN asks: how many beds will ICU need in the next 3 days?"


def route(ward: str, days: int) -> str:
    return json.dumps({"tool": "forecast_beds", "ward": ward, "days": days})


def test_ages_in_days_or_hours():
    assert parse_age("30d") == timedelta(days=30)
    assert parse_age(" 12H ") == timedelta(hours=12)
    assert parse_age("1.5d") == timedelta(hours=36)
    for bad in ("30", "0d", "-3d", "30m", "d", ""):
        with pytest.raises(ValueError, match="30d"):
            parse_age(bad)


def test_purge_removes_old_text_keeps_new_and_the_audit_chain(ctx, tmp_path, monkeypatch):
    chat_db, audit_db = tmp_path / "chat.db", tmp_path / "audit.db"
    audit = AuditLog(f"sqlite:///{audit_db}")
    chats = ChatHistory(f"sqlite:///{chat_db}")
    model = ScriptedChatModel(script=[route("CARD", 5), route("ICU", 3)])
    agent = Agent(
        model, ctx, dialect="openai", today=END, audit=audit, chats=chats, answer_mode="verdicts"
    )
    old = agent.ask(OLD_Q, "ward-a")
    with chats.engine.begin() as c:  # the first turn was answered 40 days ago
        old_ts = (datetime.now(UTC) - timedelta(days=40)).isoformat()
        c.execute(turns.update().where(turns.c.question == OLD_Q).values(ts=old_ts))
    chats.append(
        "ward-b", "An 11-day-old question", "an answer", ts=datetime.now(UTC) - timedelta(days=11)
    )
    new = agent.ask(NEW_Q, "ward-a")
    assert old.error is None and new.error is None
    audit_before = audit.rows()
    wal = chat_db.with_name("chat.db-wal")  # SQLite in WAL mode: new pages land in the log first
    assert wal.exists()
    assert len(audit_before) == 4 and OLD_Q.encode() in chat_db.read_bytes() + wal.read_bytes()

    monkeypatch.setenv("WARDWISE_HISTORY_URL", f"sqlite:///{chat_db}")
    monkeypatch.setenv("WARDWISE_AUDIT_URL", f"sqlite:///{audit_db}")
    run = CliRunner().invoke
    r = run(app, ["history", "purge", "--older-than", "30d"])
    assert r.exit_code == 0, r.output
    assert "removed 1 turns older than 30d; 2 turns kept" in r.output

    # the old turn's text is gone from the rows and from the bytes of the database and its log
    assert chats.recent("ward-a", 10) == [(NEW_Q, new.answer)]
    raw = chat_db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert b"OLDTURN" not in raw and old.answer.encode() not in raw
    assert b"NEWTURN" in raw
    # the audit trail is untouched and its chain verifies, by the command and by the function
    assert audit.rows() == audit_before and audit.verify()[0]
    r = run(app, ["audit", "verify"])
    assert r.exit_code == 0 and "4 records, chain intact" in r.output

    r = run(app, ["history", "purge", "--older-than", "10d"])  # hours or days
    assert r.exit_code == 0 and "removed 1 turns" in r.output
    r = run(app, ["history", "purge", "--older-than", "a month"])
    assert r.exit_code == 2 and "30d" in r.output
    assert chats.count() == 1


def test_retention_purges_at_start_and_never_when_off(tmp_path):
    chats = ChatHistory(f"sqlite:///{tmp_path / 'chat.db'}")
    now = datetime.now(UTC)
    for days in (45, 31, 29, 0):
        chats.append("s", f"q{days}", "a", ts=now - timedelta(days=days))
    Retention(chats, days=0).start().stop()  # off: nothing deleted, no thread
    assert chats.count() == 4
    said: list[str] = []
    keeper = Retention(chats, days=30, report=said.append).start()
    try:
        assert [q for q, _ in chats.recent("s", 10)] == ["q29", "q0"]
        assert keeper.purged == 2 and said == ["chat history: removed 2 turns older than 30 days"]
    finally:
        keeper.stop()


def test_a_failed_purge_is_logged_not_raised(tmp_path):
    chats = ChatHistory(f"sqlite:///{tmp_path / 'chat.db'}")
    with chats.engine.begin() as c:
        c.execute(sa.text("DROP TABLE chat_turns"))
    assert Retention(chats, days=30).run_once() == 0
