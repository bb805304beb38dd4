"""Faults survived, each against real pieces: a model server killed mid-stream, malformed
tool calls, a tool past its timeout, a Chroma store that cannot be opened, the MILP stopped
by its time limit, and a restart (SIGKILL) of ``wardwise serve`` during a conversation.
A full disk under the audit trail is in tests/agent/test_audit.py. The scripted model only drives
control flow; the fake OpenAI server (agent/fakeserver.py) is a real HTTP server."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage

from agent.app.audit import AuditLog
from agent.app.history import ChatHistory
from agent.bench.fakeserver import FakeServer
from agent.fake import ScriptedChatModel
from agent.graph import Agent
from tests.conftest import END, Serve, free_port
from tools.registry import ToolContext

Q = "How many beds will CARD need in the next 6 days?"


def route(tool, **args):
    return json.dumps({"tool": tool, **args})


def stores(tmp_path):
    return (
        AuditLog(f"sqlite:///{tmp_path / 'audit.db'}"),
        ChatHistory(f"sqlite:///{tmp_path / 'chat.db'}"),
    )


# ------------------------------------------------------------------ model server dies mid-turn


def test_model_server_killed_mid_stream_then_the_turn_is_retried(ctx, tmp_path):
    from agent.app.settings import Settings
    from agent.llm import make_chat_model
    from ui.app import turn_messages

    audit, chats = stores(tmp_path)
    port = free_port()
    settings = Settings(llm_timeout=30)
    model = make_chat_model(settings, f"http://127.0.0.1:{port}/v1")
    agent = Agent(model, ctx, dialect="openai", today=END, audit=audit, chats=chats)

    server = FakeServer(port, delay=4.0, chunks=40)  # 0.1 s between streamed chunks
    server.start()
    events = []
    try:
        for ev in agent.stream(Q, "ward-sister"):
            events.append(ev)
            if ev.kind == "token" and server.proc.poll() is None:
                server.kill()  # the model server dies while the answer streams
    finally:
        server.kill()
    kinds = [e.kind for e in events]
    turn = events[-1].data
    assert "token" in kinds and kinds.index("token") < kinds.index("replace")
    assert turn.error and "language model server" in turn.error and "WARDWISE_LLM_URL" in turn.error
    # the cut-off draft is replaced by the tool's own words, and the page shows the message
    draft = "".join(e.data for e in events if e.kind == "token")
    assert turn.replaced and turn.answer != draft
    assert turn.tool_calls[0].output["summary"] in turn.answer
    assert "language model server" in turn_messages(events, "English")[-1]["content"]
    # nothing lost: the failed turn is audited, the history is untouched so it can be retried
    assert [r["kind"] for r in audit.rows()] == ["turn_start", "turn"]
    assert json.loads(audit.rows()[1]["payload"])["error"] is True
    assert chats.recent("ward-sister", 3) == []

    with FakeServer(port, delay=0.0):  # the server is back: the same question again
        retry = agent.ask(Q, "ward-sister")
    assert retry.error is None and retry.grounded and not retry.replaced
    assert {k: retry.tool_calls[0].arguments[k] for k in ("ward", "days")} == {
        "ward": "CARD",
        "days": 6,
    }
    assert chats.recent("ward-sister", 3) == [(Q, retry.answer)]
    assert audit.verify() == (True, 4, "4 records, chain intact")


# ------------------------------------------------------------------ malformed tool-call JSON


def _cut_off_by_the_token_limit():
    """What the OpenAI client raises instead of returning JSON that ran into the token limit
    (seen with the 1.5B model: a string field that never closed)."""
    import openai
    from openai.types import CompletionUsage

    usage = CompletionUsage(completion_tokens=256, prompt_tokens=572, total_tokens=828)
    return openai.LengthFinishReasonError(completion=type("C", (), {"usage": usage})())


@pytest.mark.parametrize(
    ("bad", "told"),
    [
        ('{"tool": "forecast_beds", "ward": "CARD", "da', "not one valid JSON object"),
        (_cut_off_by_the_token_limit(), "cut off"),
    ],
    ids=["truncated-json", "token-limit"],
)
def test_a_truncated_route_is_asked_again_with_the_reason(ctx, bad, told):
    model = ScriptedChatModel(
        script=[bad, route("forecast_beds", ward="CARD", days=7), "Cardiology forecast ready."]
    )
    turn = Agent(model, ctx, dialect="openai", today=END).ask("Cardiology next week?")
    assert turn.malformed == 1 and turn.error is None
    assert [c.name for c in turn.tool_calls] == ["forecast_beds"]
    assert told in model.calls[1]["messages"][0].content
    assert turn.answer == "Cardiology forecast ready."


def test_tool_call_with_unparseable_arguments_is_asked_again(ctx):
    bad = AIMessage(
        content="",
        invalid_tool_calls=[
            {
                "name": "forecast_beds",
                "args": '{"ward": "CARD", days: 7',
                "id": "call_1",
                "error": "Expecting property name",
                "type": "invalid_tool_call",
            }
        ],
    )
    good = AIMessage(
        content="",
        tool_calls=[{"name": "forecast_beds", "args": {"ward": "CARD", "days": 7}, "id": "c2"}],
    )
    model = ScriptedChatModel(script=[bad, good, "Cardiology forecast ready."])
    agent = Agent(model, ctx, dialect="openai", mode="tools", today=END)
    turn = agent.ask("Cardiology next week?")
    assert turn.malformed == 1 and [c.name for c in turn.tool_calls] == ["forecast_beds"]
    assert "not valid JSON" in model.calls[1]["messages"][0].content


def test_a_model_that_never_produces_valid_json_gets_a_plain_reply(ctx):
    model = ScriptedChatModel(script=['{"tool": "forecast_beds", "ward": 7, "days": '] * 3)
    turn = Agent(model, ctx, dialect="openai", today=END, max_steps=3).ask("Cardiology?")
    assert turn.malformed == 3 and turn.tool_calls == [] and turn.replaced
    assert turn.answer.startswith("I can forecast") and "{" not in turn.answer


def test_an_empty_answer_is_replaced_by_the_tools_own_words(ctx):
    model = ScriptedChatModel(script=[route("forecast_beds", ward="CARD", days=7), ""])
    turn = Agent(model, ctx, dialect="openai", today=END).ask("Cardiology next week?")
    assert turn.replaced and turn.grounded
    assert turn.tool_calls[0].output["summary"] in turn.answer


@pytest.mark.slow
def test_the_embedded_server_queues_concurrent_streams_instead_of_cutting_them(embedded_llm):
    """llama-cpp-python's server interrupts a streaming request when another arrives unless
    started with ``--interrupt_requests False``: both concurrent answers must arrive whole."""
    import threading

    import openai

    client = openai.OpenAI(base_url=embedded_llm.base_url, api_key="x")
    texts: list[str] = []

    def ask(n: int) -> None:
        stream = client.chat.completions.create(
            model=embedded_llm.alias,
            messages=[{"role": "user", "content": f"Count from 1 to {n + 5}, comma-separated."}],
            max_tokens=24,
            temperature=0,
            stream=True,
        )
        texts.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(texts) == 2 and all(t.strip() for t in texts), texts


# ------------------------------------------------------------------ tool timeout


def test_a_tool_past_its_timeout_is_reported_not_waited_for(ctx):
    model = ScriptedChatModel(
        script=[route("plan_beds", days=7), "The plan took too long; ask again later."]
    )
    agent = Agent(model, ctx, dialect="openai", today=END, tool_timeout=0.001)
    turn = agent.ask("Plan beds for next week")
    out = turn.tool_calls[0].output
    assert out["ok"] is False and out["error"] == "timeout" and "0.001 seconds" in out["summary"]
    assert len(turn.tool_calls) == 1 and len(model.calls) == 2  # not retried: answered at once
    assert turn.error is None and turn.answer.startswith("The plan took too long")


# ------------------------------------------------------------------ Chroma unavailable


def _index_ctx(ctx, how: str, tmp_path) -> ToolContext:
    from knowledge.store import CaseIndex

    path = tmp_path / "index"
    if how == "damaged":  # the store's database file is not a database any more
        path.mkdir()
        (path / "chroma.sqlite3").write_bytes(b"not a database " * 512)
        factory = lambda: CaseIndex(path)  # noqa: E731
    elif how == "not_a_folder":  # the index folder's disk is gone / replaced
        path.write_text("x")
        factory = lambda: CaseIndex(path)  # noqa: E731
    else:  # a Chroma server that is down
        url = f"http://127.0.0.1:{free_port()}"
        factory = lambda: CaseIndex(server_url=url)  # noqa: E731
    return ToolContext(hospital=ctx.hospital, forecaster=ctx.forecaster, case_index_factory=factory)


@pytest.mark.parametrize("how", ["damaged", "not_a_folder", "server_down"])
def test_unavailable_case_index_is_an_answer_not_a_crash(ctx, tmp_path, how):
    model = ScriptedChatModel(
        script=[
            route("similar_cases", text="chest pain and sweating", k=3),
            "The case index is not available right now.",
        ]
    )
    agent = Agent(model, ctx=_index_ctx(ctx, how, tmp_path), dialect="openai", today=END)
    turn = agent.ask("Similar cases to chest pain and sweating?")
    out = turn.tool_calls[0].output
    assert out["error"] == "index_unavailable" and "wardwise index" in out["hint"]
    assert len(turn.tool_calls) == 1 and turn.error is None
    assert "Decision support" not in turn.answer  # no cases were shown


def test_the_index_is_opened_again_once_it_is_back(ctx, tmp_path):
    from knowledge.cases_demo import generate_cases
    from knowledge.store import CaseIndex

    c = _index_ctx(ctx, "damaged", tmp_path)
    q = route("similar_cases", text="chest pain and sweating", k=3)
    model = ScriptedChatModel(script=[q, "Unavailable.", q, "Unavailable.", q, "Found some."])
    agent = Agent(model, c, dialect="openai", today=END)
    for _ in range(2):  # the same clear error each time, not Chroma's cached half-open client
        assert agent.ask("Similar cases?").tool_calls[0].output["error"] == "index_unavailable"
    (tmp_path / "index" / "chroma.sqlite3").unlink()  # restored from the backup
    CaseIndex(tmp_path / "index").build(generate_cases(40, end=END))
    turn = agent.ask("Similar cases?")
    assert turn.tool_calls[0].output["ok"] and "Decision support" in turn.answer


# ------------------------------------------------------------------ solver time limit


class ByPurpose(ScriptedChatModel):
    """Routes to the same call every time it is asked to route, and answers with one text
    (a plan that is not found in time is routed again before the turn gives up)."""

    route: str = ""
    answer: str = ""

    def _next(self, messages, kwargs):
        self.script = [self.route if "response_format" in kwargs else self.answer]
        return super()._next(messages, kwargs)


def test_a_plan_stopped_by_the_time_limit_is_labelled_best_so_far(ctx, monkeypatch):
    """The real MILP on a large instance (30 wards x 14 days, nurse pools short on every third
    ward) with a 2 s limit (longer if no plan was found at all): the best plan found so far
    comes back, and the answer says it is
    not proven optimal whatever the model wrote."""
    from tools import registry
    from tools.allocation import solve_plan
    from tools.allocation.bench import START, bench_instance

    def big_plan(c: ToolContext, days: int = 7, what_if: str = "", apply: bool = False, start=None):
        wards, demand, compat, rules, _ = bench_instance(30, 14, tight_pools=0.15)
        return solve_plan(wards, demand, START, rules=rules, compatible=compat,
                          solver="highs", time_limit=c.plan_time_limit, explain=False)  # fmt: skip

    monkeypatch.setitem(registry.BY_NAME, "plan_beds", big_plan)
    for limit in (2, 5, 15):  # a loaded machine may find no plan at all in 2 s
        c = ToolContext(hospital=ctx.hospital, forecaster=ctx.forecaster, plan_time_limit=limit)
        model = ByPurpose(route=route("plan_beds", days=14), answer="Here is the plan.")
        turn = Agent(model, c, dialect="openai", today=END).ask("Plan the next two weeks")
        out = turn.tool_calls[0].output
        if out["ok"]:
            break
        assert out["error"] == "no_solution" and "time_limit" in out["summary"]
    assert out["ok"] and out["status"] == "time_limit" and out["rows"]
    assert out["summary"].startswith(f"Best plan found by highs before the {limit} s time limit")
    assert turn.answer.startswith("Here is the plan.")
    assert "not proven optimal" in turn.answer
    if out["gap"] is not None:
        assert f"gap {round(100 * out['gap'], 2)}%" in turn.answer


# ------------------------------------------------------------------ restart mid-conversation


def test_a_new_process_continues_the_conversation(ctx, tmp_path):
    """In-process: new Agent, audit and history objects over the same files."""
    model = ScriptedChatModel(script=[route("forecast_beds", ward="ICU", days=5), "ICU ready."])
    first = Agent(model, ctx, dialect="openai", today=END, chats=stores(tmp_path)[1])
    first.ask("ICU beds for the next 5 days?", "night-shift")
    del first
    model = ScriptedChatModel(script=[route("forecast_beds", ward="ICU", days=9), "ICU again."])
    second = Agent(model, ctx, dialect="openai", today=END, chats=stores(tmp_path)[1])
    second.ask("And for 9 days?", "night-shift")
    seen = [m.content for m in model.calls[0]["messages"]]
    assert "ICU beds for the next 5 days?" in seen and "ICU ready." in seen


def test_serve_killed_mid_conversation_continues_it_after_restart(serve_home, tmp_path):
    """A real ``wardwise serve`` is SIGKILLed between two turns of a conversation; the
    restarted server answers the follow-up (which names no ward) from the stored history,
    and the audit chain written by both processes verifies."""
    with FakeServer(free_port()) as model:
        env = {**serve_home, "WARDWISE_LLM_URL": model.base_url}
        serve = Serve(env, tmp_path / "serve.log").start()
        try:
            status, first = serve.ask("How many beds will PED need in the next 4 days?", "conv")
            assert status == 200 and first["wardwise"]["tool_calls"][0]["output"]["ok"]
            serve.kill()
            serve = Serve(env, tmp_path / "serve.log").start()
            status, follow = serve.ask("And for the next 11 days?", "conv")
            _, other = serve.ask("And for the next 11 days?", "another-conversation")
        finally:
            serve.kill()
    assert status == 200
    out = follow["wardwise"]["tool_calls"][0]["output"]
    assert out["ward_id"] == "PED" and len(out["days"]) == 11
    assert other["wardwise"]["tool_calls"] == []  # a new conversation has no ward to go on
    audit = AuditLog(f"sqlite:///{tmp_path / 'audit' / 'audit.db'}")
    assert audit.verify() == (True, 6, "6 records, chain intact")
