"""PHI stays out of the logs and the audit: a name, a medical record number and a symptom
phrase are planted in a case record and in the questions; a real ``wardwise serve`` (every
logger at DEBUG) answers them through the fake model server, one turn failing on a dead
model server; then every log file and the audit database are searched for them."""

from __future__ import annotations

import pytest

from agent.bench.fakeserver import FakeServer
from tests.conftest import END, Serve, free_port

NAME, MRN, SYMPTOM = "Quackenbush Wilhelmina", "MRN 0047731", "larkspur-scented vomiting"
PLANTED = ["Quackenbush", "Wilhelmina", "0047731", "larkspur"]


def _planted_index(index_dir, data_dir) -> None:
    from knowledge.cases_demo import generate_cases
    from knowledge.records import CaseRecord, write_cases
    from knowledge.store import CaseIndex

    records = generate_cases(60, end=END)
    records.append(
        CaseRecord(
            record_id="C77777",
            lang="en",
            ward_id="CARD",
            age_band="40-49",
            sex="F",
            admitted=END,
            los_days=3,
            diagnosis="Acute gastritis",
            icd10="K29.1",
            text=f"{NAME}, {MRN}, presented with {SYMPTOM} and epigastric pain.",
            outcome="discharged home",
        )
    )
    write_cases(data_dir / "cases.jsonl", records)
    CaseIndex(index_dir).build(records)


def _bytes(paths) -> str:
    return b"".join(p.read_bytes() for p in paths if p.is_file()).decode("utf-8", "replace")


def test_no_planted_identifier_reaches_a_log_or_the_audit(serve_home, tmp_path):
    from pathlib import Path

    home = Path(serve_home["WARDWISE_HOME"])
    _planted_index(home / "index", Path(serve_home["WARDWISE_DATA_DIR"]))
    model = FakeServer(free_port(), log_path=tmp_path / "model-server.log").__enter__()
    env = {**serve_home, "WARDWISE_LLM_URL": model.base_url, "WARDWISE_LOG_LEVEL": "DEBUG"}
    serve = Serve(env, tmp_path / "serve.log").start()
    try:
        status, cases = serve.ask(f"Patient {NAME}, {MRN}, has {SYMPTOM}: similar cases?", "s")
        _, beds = serve.ask(f"How many beds will CARD need for {NAME} in the next 5 days?", "s")
        model.kill()  # a failing turn takes the error paths too
        failed, _ = serve.ask(f"{NAME} ({MRN}): {SYMPTOM} again, similar cases?", "s")
    finally:
        serve.kill()
        model.kill()
    # the turns really carried the identifiers: the planted record was retrieved
    assert status == 200 and failed == 503
    hits = cases["wardwise"]["tool_calls"][0]["output"]["hits"]
    assert "C77777" in [h["record_id"] for h in hits]
    assert beds["wardwise"]["tool_calls"][0]["output"]["ward_id"] == "CARD"
    # positive control: the chat history holds the conversation (by design, not a log)
    assert NAME in _bytes((home / "history").iterdir())

    logs = [
        *(home / "logs").iterdir(),
        tmp_path / "serve.log",
        tmp_path / "model-server.log",
        *(home / "audit").iterdir(),
    ]
    text = _bytes(logs)
    assert "turn session=" in text and "POST /v1/chat/completions" in text  # logs were written
    for planted in PLANTED:
        assert planted not in text, f"{planted!r} leaked into a log or the audit"


@pytest.mark.slow
def test_embedded_model_server_log_has_no_planted_identifier(embedded_llm, live_settings, ctx):
    """The embedded llama.cpp server's own log, after a real turn with a planted question."""
    from agent.graph import Agent
    from agent.llm import make_chat_model

    model = make_chat_model(live_settings, embedded_llm.base_url)
    agent = Agent(model, ctx, dialect="llama-cpp", today=END)
    turn = agent.ask(f"Patient {NAME}, {MRN}, has {SYMPTOM}. Beds for cardiology next week?")
    assert turn.answer
    text = embedded_llm.log_path.read_text(errors="replace")
    assert text.strip()
    for planted in PLANTED:
        assert planted not in text, f"{planted!r} leaked into the model server's log"
