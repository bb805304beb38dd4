"""The audit trail: hash chain, append-only, no free text, and a turn refused when the audit
cannot be written."""

import json

import pytest
import sqlalchemy as sa

from agent.audit import AuditError, AuditLog
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


class _FullDisk:
    def append(self, *a, **k):
        raise AuditError("database or disk is full")


def test_turn_is_refused_when_the_audit_cannot_be_written(ctx):
    model = ScriptedChatModel(script=[json.dumps({"tool": "none", "reply": "hi"})])
    agent = Agent(model, ctx, dialect="openai", today=END, audit=_FullDisk())
    turn = agent.ask("hello")
    assert turn.error and "could not be audited" in turn.answer
    assert model.calls == []  # nothing ran unaudited
