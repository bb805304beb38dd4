"""The OpenAI-compatible endpoint over the agent (scripted model: control flow only)."""

import json

import openai
from fastapi.testclient import TestClient

from agent.fake import ScriptedChatModel
from agent.graph import Agent
from agent.serve import create_app
from tests.conftest import END


def client(ctx, *script):
    model = ScriptedChatModel(script=list(script))
    return TestClient(create_app(Agent(model, ctx, dialect="openai", today=END))), model


def test_models_lists_the_agent(ctx):
    c, _ = client(ctx)
    assert c.get("/v1/models").json()["data"][0]["id"] == "wardwise"


def test_completion_carries_the_answer_and_the_turn(ctx):
    c, model = client(
        ctx, json.dumps({"tool": "forecast_beds", "ward": "ICU", "days": 7}), "ICU ready."
    )
    r = c.post(
        "/v1/chat/completions",
        json={
            "model": "wardwise",
            "messages": [
                {"role": "system", "content": "ignored"},
                {"role": "user", "content": "Cardiology next week?"},
                {"role": "assistant", "content": "About 36 beds."},
                {"role": "user", "content": [{"type": "text", "text": "And the ICU?"}]},
            ],
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert body["choices"][0]["message"]["content"] == "ICU ready."
    assert body["wardwise"]["tool_calls"][0]["name"] == "forecast_beds"
    seen = [m.content for m in model.calls[0]["messages"]]
    assert "Cardiology next week?" in seen and "About 36 beds." in seen and "ignored" not in seen
    assert model.calls[0]["kwargs"]["response_format"]["type"] == "json_schema"


def test_streaming_sends_chunks_then_done(ctx):
    c, _ = client(ctx, json.dumps({"tool": "none", "reply": "Hello there, how can I help?"}))
    with c.stream(
        "POST",
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}], "stream": True},
    ) as r:
        lines = [ln for ln in r.iter_lines() if ln.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    text = "".join(
        json.loads(ln[6:])["choices"][0]["delta"].get("content", "") for ln in lines[:-1]
    )
    assert text == "Hello there, how can I help?"


def test_bad_request_and_dead_model(ctx):
    import httpx

    c, _ = client(ctx, openai.APIConnectionError(request=httpx.Request("POST", "http://x")))
    assert (
        c.post(
            "/v1/chat/completions", json={"messages": [{"role": "assistant", "content": "x"}]}
        ).status_code
        == 400
    )
    r = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 503 and "not reachable" in r.json()["error"]["message"]
