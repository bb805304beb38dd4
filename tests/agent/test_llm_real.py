"""The agent against the real embedded model over HTTP (slow: the model runs on the CPU).

These check the path works end to end and the answer is grounded in the tool's facts;
they never assert on the model's prose.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from agent.graph import Agent
from agent.llm import make_chat_model
from agent.runtime import build_context
from knowledge.text import has_cjk

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def agent(live_settings, embedded_llm):
    model = make_chat_model(live_settings, embedded_llm.base_url)
    return Agent(model, build_context(live_settings), dialect="llama-cpp")


@pytest.mark.parametrize(
    "question,ward",
    [
        ("How many beds will cardiology need next week?", "CARD"),
        ("下周呼吸科需要多少张床？", "RESP"),
    ],
)
def test_bed_question_calls_the_forecast_and_answers_grounded(agent, question, ward):
    turn = agent.ask(question, session_id=question)
    assert turn.error is None
    assert [c.name for c in turn.tool_calls][-1] == "forecast_beds"
    assert turn.tool_calls[-1].output["ward_id"] == ward
    assert turn.grounded, turn.ungrounded
    assert re.search(r"\d", turn.answer), "a bed question is answered with numbers"
    assert all(g["fact"] for g in turn.grounding)
    if has_cjk(question):
        assert has_cjk(turn.answer), "answered in Chinese"


def test_similar_cases_are_cited_and_labelled(agent):
    turn = agent.ask(
        "Find similar past cases: crushing chest pain radiating to the left arm, sweating.",
        session_id="cases",
    )
    assert [c.name for c in turn.tool_calls] == ["similar_cases"]
    assert "Decision support for a clinician" in turn.answer
    assert turn.grounded, turn.ungrounded


def test_cli_ask_json_starts_the_embedded_model_itself(live_settings, tmp_path):
    from tests.conftest import free_port

    env = {
        **os.environ,
        "WARDWISE_DATA_DIR": str(live_settings.data_dir),
        "WARDWISE_INDEX_DIR": str(live_settings.index_dir),
        "WARDWISE_AUDIT_DIR": str(live_settings.audit_dir),
        "WARDWISE_EMBEDDED_PORT": str(free_port()),
        "WARDWISE_CONFIG": str(tmp_path / "none.toml"),
    }
    env.pop("WARDWISE_LLM_URL", None)
    out = subprocess.run(
        [sys.executable, "-m", "ui.cli", "ask", "How many beds will cardiology need next week?",
         "--json"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    turn = json.loads(out.stdout)
    assert set(turn) >= {"answer", "tool_calls", "grounded", "ungrounded", "seconds"}
    assert {"name", "arguments", "output", "seconds"} <= set(turn["tool_calls"][0])
    assert turn["grounded"] is True and turn["ungrounded"] == []
