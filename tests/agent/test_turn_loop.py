"""The agent's control flow, with a scripted fake model (no model quality is tested here)."""

import json
import os
import socket
from pathlib import Path

import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage

from agent.fake import ScriptedChatModel
from agent.graph import Agent, parse_decision
from tests.conftest import END


def route(tool, **args):
    return json.dumps({"tool": tool, **args})


def agent_with(ctx, *script, mode="route"):
    model = ScriptedChatModel(script=list(script))
    return Agent(model, ctx, dialect="llama-cpp", mode=mode, today=END), model


def facts_of(turn, i=0):
    return {f["label"]: f["value"] for f in turn.tool_calls[i].output["facts"]}


def test_route_tool_answer_grounded(ctx, forecaster):
    fc = forecaster.forecast("CARD", 7)
    p90 = {f.label: f.value for f in fc.facts}["peak P90 occupied beds, next 7 days"]
    agent, model = agent_with(
        ctx,
        route("forecast_beds", ward="心内科", days=7),
        f"Cardiology needs up to {p90} beds (P90).",
    )
    turn = agent.ask("How many beds will cardiology need?")
    assert [c.name for c in turn.tool_calls] == ["forecast_beds"]
    assert turn.tool_calls[0].arguments == {"ward": "CARD", "days": 7}  # the ward read by code
    assert turn.grounded and not turn.repaired and turn.answer.endswith("(P90).")
    assert turn.grounding == [{"number": str(p90), "fact": "peak P90 occupied beds, next 7 days"}]
    fmt = model.calls[0]["kwargs"]["response_format"]
    assert fmt["type"] == "json_object" and fmt["schema"]["anyOf"][0]["properties"]["tool"]
    # the answer call sees the facts, not the raw days
    system = model.calls[1]["messages"][0].content
    assert "peak P90 occupied beds" in system and '"p50"' not in system


def test_ungrounded_answer_is_repaired_once(ctx):
    fc = ctx.forecaster.forecast("ICU", 7)
    beds = {f.label: f.value for f in fc.facts}["physical beds on the ward"]
    agent, model = agent_with(
        ctx,
        route("forecast_beds", ward="ICU", days=7),
        "ICU needs 99 beds.",
        f"The ICU has {beds} beds.",
    )
    turn = agent.ask("ICU beds next week?")
    assert turn.repaired and not turn.replaced and turn.grounded
    assert turn.answer == f"The ICU has {beds} beds."
    assert "99" in model.calls[2]["messages"][-1].content  # the repair prompt names the number


def test_answer_that_stays_ungrounded_is_replaced_by_the_tool_summary(ctx):
    agent, _ = agent_with(ctx, route("forecast_beds", ward="ICU", days=7), "99 beds", "still 98")
    turn = agent.ask("下周ICU需要多少床？")
    assert turn.replaced and turn.grounded
    assert turn.tool_calls[0].output["summary"] in turn.answer
    assert turn.answer.startswith("以下为工具的结论")


def test_failed_tool_call_is_rerouted_with_the_error(ctx):
    agent, model = agent_with(
        ctx,
        route("forecast_beds", ward="CARD", days=90),
        route("forecast_beds", ward="CARD", days=7),
        "Cardiology forecast ready.",
    )
    turn = agent.ask("Beds for cardiology?")
    assert [c.output["ok"] for c in turn.tool_calls] == [False, True]
    assert "28" in model.calls[1]["messages"][0].content  # the error names the range


def test_max_steps_bounds_the_loop(ctx):
    bad = [route("forecast_beds", ward="CARD", days=d) for d in (90, 91, 92)]
    agent, _ = agent_with(ctx, *bad, "Sorry, I cannot forecast that far.")
    turn = agent.ask("Cardiology?")
    assert len(turn.tool_calls) == 3 and turn.grounded


def test_an_unknown_ward_gets_a_question_back_naming_the_wards(ctx):
    """The question's own words decide the ward: a ward the hospital lacks runs no tool, and
    the answer asks which ward, naming them (the model's guess is not used)."""
    agent, model = agent_with(ctx, route("forecast_beds", ward="ICU", days=7))
    turn = agent.ask("Beds on the maternity ward next week?")
    assert turn.tool_calls == [] and turn.clarification and len(model.calls) == 1
    assert all(w.name_en in turn.answer for w in ctx.hospital.wards)
    turn = agent_with(ctx, route("forecast_beds", ward="CARD", days=7), "好")[0].ask("心内科下周？")
    assert turn.tool_calls[0].arguments["ward"] == "CARD" and not turn.clarification


def test_a_date_window_is_read_by_code_and_passed_to_the_tool(ctx):
    """ "This weekend" becomes an explicit start and length, whatever days the model wrote."""
    agent, _ = agent_with(ctx, route("forecast_beds", ward="ORTH", days=7), "ok")
    turn = agent.ask("Is ortho going to be tight this weekend?")
    args = turn.tool_calls[0].arguments
    assert args["ward"] == "ORTH" and args["days"] == 2
    assert turn.window and turn.window["start"] == args["start"]
    agent, _ = agent_with(ctx, route("forecast_beds", ward="ORTH", days=7))
    turn = agent.ask("骨科未来两个月的床位？")
    assert turn.tool_calls == [] and "28" in turn.answer  # past the horizon: the horizon


def test_no_tool_reply_and_ungrounded_chitchat(ctx):
    agent, _ = agent_with(ctx, route("none", reply="Hello! Ask me about beds."))
    assert agent.ask("hi").answer == "Hello! Ask me about beds."
    agent, _ = agent_with(ctx, route("none", reply="You need 17 beds."))
    turn = agent.ask("hi")
    assert turn.replaced and "17" not in turn.answer and turn.grounded


def test_native_tool_calls_and_tolerant_text_calls(ctx):
    call = AIMessage(
        content="",
        tool_calls=[{"name": "forecast_beds", "args": {"ward": "ICU", "days": 3}, "id": "1"}],
    )
    agent, model = agent_with(ctx, call, "ok", mode="tools")
    turn = agent.ask("ICU next 3 days?")
    assert {k: v for k, v in turn.tool_calls[0].arguments.items() if k != "start"} == {
        "ward": "ICU",
        "days": 3,
    }
    assert model.calls[0]["kwargs"]["tools"][0]["function"]["name"] == "forecast_beds"
    fenced = '```json\n{"name": "forecast_beds", "arguments": {"ward": "RESP", "days": 7}}\n```'
    agent, _ = agent_with(ctx, fenced, "ok", mode="tools")
    assert agent.ask("呼吸科下周？").tool_calls[0].arguments["ward"] == "RESP"


@pytest.mark.parametrize(
    "text,tool,args",
    [
        (
            '<tool_call>\n{"name": "plan_beds", "arguments": {"days": 5}}\n</tool_call>',
            "plan_beds",
            {"days": 5},
        ),
        (
            'Sure: {"tool": "forecast_beds", "ward": "PED", "days": 7}',
            "forecast_beds",
            {"ward": "PED", "days": 7},
        ),
        (
            '{"function": {"name": "similar_cases", "arguments": "{\\"text\\": \\"chest pain\\"}"}}',
            "similar_cases",
            {"text": "chest pain"},
        ),
    ],
)
def test_parse_decision_formats(text, tool, args):
    d = parse_decision(text)
    assert d.tool == tool and d.arguments == args


def test_parse_decision_rejects_unknown_tools_and_prose():
    assert parse_decision('{"name": "drop_database", "arguments": {}}') is None
    assert parse_decision("I think you need beds.") is None


def test_memory_keeps_each_session_apart(ctx):
    agent, model = agent_with(
        ctx,
        route("none", reply="Hello A"),
        route("none", reply="Hello B"),
        route("none", reply="again"),
    )
    agent.ask("I am nurse A", session_id="a")
    agent.ask("I am nurse B", session_id="b")
    agent.ask("who am I?", session_id="a")
    seen = [m.content for m in model.calls[2]["messages"]]
    assert "I am nurse A" in seen and "I am nurse B" not in seen


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dead_server_gives_a_clear_error_not_a_trace(ctx):
    from agent.app.settings import Settings
    from agent.llm import make_chat_model

    settings = Settings(llm_timeout=5, data_dir=Path("/nonexistent"))
    model = make_chat_model(settings, f"http://127.0.0.1:{_free_port()}/v1")
    agent = Agent(model, ctx, dialect="openai", today=END)
    events = list(agent.stream("How many beds will cardiology need next week?"))
    turn = events[-1].data
    assert "not reachable" in turn.error and "WARDWISE_LLM_URL" in turn.error
    assert turn.answer == turn.error and "error" in [e.kind for e in events]


def test_server_dying_after_the_tool_still_returns_the_tool_result(ctx):
    agent, _ = agent_with(
        ctx,
        route("forecast_beds", ward="CARD", days=7),
        openai.APIConnectionError(request=__import__("httpx").Request("POST", "http://x")),
    )
    turn = agent.ask("Beds for cardiology?")
    assert turn.error and turn.replaced and turn.tool_calls[0].output["summary"] in turn.answer


def test_restated_paragraphs_are_removed():
    from agent.graph import dedupe, repeats

    para = "Cardiology needs up to 36 beds (P50); P90 peak 45."
    looped = f"{para}\n\nThe forecast shows that {para}\n\n{para}\n\nThe"
    assert repeats(looped)
    assert dedupe(looped) == f"{para}\n\nThe"
    assert not repeats("One.\n\nTwo different things.\n\nThree")
    items = "- Day shift: 7 RNs\n\n- Evening shift: 7 RNs\n\n- Night shift: 7 RNs\n\nx"
    assert not repeats(items) and dedupe(items) == items


def test_a_looping_answer_is_cut_and_replaced(ctx):
    para = "The ICU forecast is ready for the next seven days."
    agent, _ = agent_with(ctx, route("forecast_beds", ward="ICU", days=7), "\n\n".join([para] * 6))
    events = list(agent.stream("ICU?"))
    turn = events[-1].data
    assert turn.answer == para and "replace" in [e.kind for e in events]


def test_tool_payload_sends_no_strict_field():
    """vLLM rejects OpenAI-only fields such as `strict` in tool schemas."""
    from langchain_core.messages import HumanMessage
    from langchain_openai import ChatOpenAI

    from tools.registry import SCHEMAS

    model = ChatOpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", model="m")
    tools = [{"type": "function", "function": s} for s in SCHEMAS.values()]
    bound = model.bind_tools(tools, tool_choice="auto")
    payload = model._get_request_payload([HumanMessage("hi")], **bound.kwargs)
    assert payload["tools"] and "strict" not in json.dumps(payload)


def test_apply_needs_the_users_own_words_and_a_refusal_is_not_retried(ctx, tmp_path):
    import dataclasses

    from tools.plan_store import PlanStore
    from tools.roles import Caller, Role

    store = PlanStore(tmp_path / "plans")
    manager = Caller("bm.lee", Role.BED_MANAGER)
    base = dataclasses.replace(ctx, plan_store=store, plan_time_limit=60.0)
    # the model sets apply on a plain planning question: it stays a preview
    agent, _ = agent_with(base, route("plan_beds", days=2, what_if="", apply=True), "Plan ready.")
    turn = agent.ask("Plan beds and nurses for the next 2 days.", caller=manager)
    assert turn.tool_calls[0].arguments["apply"] is False and store.current() is None
    # asked in so many words, a bed manager stores it
    agent, _ = agent_with(base, route("plan_beds", days=2, what_if="", apply=True), "Applied.")
    turn = agent.ask("Plan the next 2 days and apply it as the current plan.", caller=manager)
    assert turn.tool_calls[0].arguments["apply"] is True and store.current() is not None
    # a nurse asking the same is refused once: the model asking again changes nothing
    nurse = Caller("li.na", Role.NURSE)
    again = route("plan_beds", days=2, what_if="", apply=True)
    agent, model = agent_with(base, again, again, again, "You may not apply plans.")
    turn = agent.ask("Apply a 2-day plan as the current plan.", caller=nurse)
    assert [c.name for c in turn.tool_calls] == ["plan_beds"]
    assert turn.tool_calls[0].output["error"] == "forbidden"


def test_the_same_failing_call_is_not_run_twice(ctx):
    bad = route("forecast_beds", ward="CARD", days=99)
    agent, _ = agent_with(ctx, bad, bad, "That is too far ahead.")
    turn = agent.ask("How many beds will cardiology need?")
    assert [c.name for c in turn.tool_calls] == ["forecast_beds"]


def test_a_patients_identity_is_refused_before_any_model_call(ctx):
    """Code refuses a request for a patient's details whatever the router would choose."""
    agent, model = agent_with(ctx, route("forecast_beds", ward="ICU", days=7))
    turn = agent.ask("Who is in bed 4 on ICU right now?")
    assert turn.tool_calls == [] and model.calls == []
    assert turn.route["label"] == "phi" and turn.route["by"] == "code"
    assert "cannot" in turn.answer


def test_a_what_if_sent_to_the_forecast_runs_the_plan_with_the_questions_change(ctx):
    """The router chose a ward forecast for a what-if: code runs the plan, with the change
    read from the question's words (not the model's wording)."""
    agent, _ = agent_with(ctx, route("forecast_beds", ward="ICU", days=7), "ok")
    turn = agent.ask("If three ortho nurses phone in sick on Saturday, do we cope?")
    call = turn.tool_calls[0]
    assert call.name == "plan_beds"
    assert call.arguments["what_if"] == "3 nurses call in sick on ORTH"
    assert call.arguments["days"] == 1 and call.arguments["start"] == turn.window["start"]


def test_a_question_across_wards_naming_none_runs_the_plan(ctx):
    agent, _ = agent_with(ctx, route("forecast_beds", days=7), "ok")
    turn = agent.ask("Which wards will be tight over the weekend?")
    assert [c.name for c in turn.tool_calls] == ["plan_beds"]
    assert "what_if" not in turn.tool_calls[0].arguments


def test_a_what_if_the_model_invents_for_a_plain_plan_question_is_dropped(ctx):
    agent, _ = agent_with(ctx, route("plan_beds", days=7, what_if="close 4 beds on 5B"), "ok")
    turn = agent.ask("Can you work out next week's beds and nurses for everyone?")
    assert "what_if" not in turn.tool_calls[0].arguments


def test_a_follow_up_keeps_the_ward_and_the_days_asked_about_before(ctx):
    """ "And Sunday?" after an ortho question is about ortho; "what about paeds?" after a
    Saturday question is about Saturday, whatever ward or days the model wrote."""
    history = [
        HumanMessage("Will ortho cope on Saturday?"),
        AIMessage("I checked orthopaedics for Saturday."),
    ]
    agent, _ = agent_with(ctx, route("forecast_beds", ward="ICU", days=7), "ok")
    turn = agent.ask("And Sunday?", history=history)
    assert turn.tool_calls[0].arguments["ward"] == "ORTH"
    assert turn.tool_calls[0].arguments["days"] == 1
    agent, _ = agent_with(ctx, route("forecast_beds", ward="PED", days=7), "ok")
    turn = agent.ask("What about paeds?", history=history)
    args = turn.tool_calls[0].arguments
    assert args["ward"] == "PED" and args["days"] == 1
    assert args["start"] == turn.window["start"]


def test_a_tool_error_is_answered_by_code_in_the_questions_language(ctx):
    """With verdict answers, a failure no retry fixed is told in Chinese to a Chinese
    question (code's words, no model call), and nothing was changed."""
    bad = route("plan_beds", days=7, what_if="rearrange the ward somehow")
    model = ScriptedChatModel(script=[bad, bad, bad])
    agent = Agent(model, ctx, dialect="llama-cpp", today=END, answer_mode="verdicts")
    turn = agent.ask("如果心内科换个排法呢？")
    assert turn.tool_calls and turn.tool_calls[-1].output["error"] == "bad_what_if"
    assert "没能读懂" in turn.answer and "rearrange" not in turn.answer
    assert all(c["purpose"] == "route" for c in turn.llm_calls)


def test_a_nurse_question_sent_to_the_forecast_runs_the_plan(ctx):
    """The forecast counts beds only: a question about nurses or a shift is the plan's."""
    agent, _ = agent_with(ctx, route("forecast_beds", ward="ICU", days=7), "ok")
    turn = agent.ask("Will there be enough nurses on ICU on Sunday's day shift?")
    assert [c.name for c in turn.tool_calls] == ["plan_beds"]


def test_a_forecast_for_a_ward_nobody_named_runs_the_plan(ctx):
    """No ward in the question nor the one before: the model's ward is its own guess, and the
    plan answers for every ward."""
    agent, _ = agent_with(ctx, route("forecast_beds", ward="ICU", days=7), "ok")
    turn = agent.ask("What's going to be the sticking point over the next few days?")
    assert [c.name for c in turn.tool_calls] == ["plan_beds"]


@pytest.mark.parametrize(
    ("question", "tool"),
    [
        ("Is there still room on cardiology come Tuesday?", "forecast_beds"),
        ("周二心内科还有床吗", "forecast_beds"),
        ("Plan the beds for cardiology next week", "plan_beds"),  # the plan asked for
        ("Cardiology is down two nurses tomorrow", "plan_beds"),  # staff
        ("心内科和骨科周二还有床吗", "plan_beds"),  # two wards: the plan answers for both
    ],
)
def test_a_plan_for_one_wards_beds_runs_the_forecast(ctx, question, tool):
    """The plan answers for every ward at once: a question about one ward's beds that asks
    for no change, no staff and nothing the plan does is the forecast's."""
    agent, _ = agent_with(ctx, route("plan_beds", days=7), "ok")
    turn = agent.ask(question)
    assert [c.name for c in turn.tool_calls] == [tool]


def test_router_prompts_share_one_prefix_across_languages_and_name_only_schema_fields(ctx):
    """The embedded server reuses the KV cache of the longest common prompt prefix: the
    question's language and its nearest examples come after everything that stays the same,
    and the tool list names no argument the route schema leaves to code (the dates)."""
    agent, model = agent_with(ctx, route("none", reply="Hello."), route("none", reply="你好。"))
    agent.ask("hi there")
    agent.ask("你好")
    en, zh = (str(c["messages"][0].content) for c in model.calls)
    assert "Today is" in en and "Write any reply in English" in en and "Chinese" in zh
    shared = len(os.path.commonprefix([en, zh]))
    assert en.index("Today is") < shared and shared > 0.9 * len(en.split("Write any reply")[0])
    assert "start (" not in en and "    days (integer)" in en


def test_warming_sends_the_router_prefix_once_and_survives_a_dead_server(ctx):
    agent, model = agent_with(ctx, "ok", route("none", reply="Hello."))
    agent.warm()
    agent.ask("hi there")
    warm, first = (str(c["messages"][0].content) for c in model.calls)
    assert model.calls[0]["kwargs"]["max_tokens"] == 1
    assert os.path.commonprefix([warm, first]) == warm  # same prompt, same language
    dead, _ = agent_with(ctx, ConnectionError("refused"))
    dead.warm()  # logged, not raised


def test_a_follow_up_about_one_wards_beds_sent_to_the_plan_runs_the_forecast(ctx):
    agent, _ = agent_with(
        ctx, route("forecast_beds", ward="ORTH", days=7), "ok", route("plan_beds", days=14), "ok"
    )
    agent.ask("Is orthopaedics going to be busy next week?", session_id="s")
    turn = agent.ask("And the same for the next 14 days?", session_id="s")
    assert [c.name for c in turn.tool_calls] == ["forecast_beds"]
    assert turn.tool_calls[0].arguments["ward"] == "ORTH"


def test_a_greeting_gets_what_wardwise_can_do_without_a_model_call(ctx):
    from agent.runtime import example_bank

    model = ScriptedChatModel(script=[])
    agent = Agent(model, ctx, dialect="llama-cpp", today=END, examples=example_bank())
    for question, marker in (("Good morning! What can you do?", "forecast"), ("谢谢你", "预测")):
        turn = agent.ask(question)
        assert marker in turn.answer and not turn.tool_calls and not model.calls
        assert turn.route["by"] == "code"


def test_a_chain_of_follow_ups_keeps_the_ward_first_named(ctx):
    """ "And for 12 days?" after "and for 7 days?" after an ICU question is still about ICU:
    the ward comes from the latest earlier question that names one, not only the last."""
    agent, _ = agent_with(
        ctx,
        *[r for d in (2, 7, 12) for r in (route("forecast_beds", ward="ICU", days=d), "ok")],
    )
    for question in (
        "How many beds will ICU need in the next 2 days?",
        "And for the next 7 days?",
        "And for the next 12 days?",
    ):
        turn = agent.ask(question, session_id="s")
        assert [c.name for c in turn.tool_calls] == ["forecast_beds"], question
        assert turn.tool_calls[0].arguments["ward"] == "ICU"
    assert turn.tool_calls[0].arguments["days"] == 12


def test_a_turns_json_is_what_asdict_gives(ctx):
    """``Turn.to_json`` builds the reply's JSON without deep-copying the tools' outputs; it
    holds the same values as the dataclass's own ``asdict``."""
    from dataclasses import asdict

    agent, _ = agent_with(ctx, route("forecast_beds", ward="ICU", days=3), "ok")
    turn = agent.ask("How many beds will ICU need in the next 3 days?")
    assert turn.tool_calls and turn.llm_calls
    assert json.dumps(turn.to_json(), sort_keys=True) == json.dumps(asdict(turn), sort_keys=True)
    turn.to_json()["llm_calls"].append({})  # the top-level containers are copies
    assert {} not in turn.llm_calls


def _bank_agent(ctx, *script):
    from agent.runtime import example_bank

    model = ScriptedChatModel(script=list(script))
    return Agent(model, ctx, dialect="llama-cpp", today=END, examples=example_bank())


@pytest.mark.parametrize(
    ("earlier", "question", "ward"),
    [
        ("周六呼吸科大概住多少人", "儿科也帮我看一下", "PED"),
        ("How many beds will cardiology need this weekend?", "And ICU?", "ICU"),
    ],
)
def test_a_follow_up_naming_only_a_ward_runs_the_earlier_questions_tool(
    ctx, earlier, question, ward
):
    """The router chose no tool, and the question's weak vote is an identity request's (it
    sits near no labelled question): it names a ward and the earlier question is a forecast, so
    the forecast runs for that ward over the earlier days; before, the PHI refusal came back."""
    agent = _bank_agent(
        ctx, route("forecast_beds", days=2), "ok", route("none", reply="好的"), "fine"
    )
    first = agent.ask(earlier, session_id="s")
    label, confidence = agent.examples.vote(question)
    assert label == "phi" and confidence < 0.75  # what made it a refusal
    turn = agent.ask(question, session_id="s")
    assert [c.name for c in turn.tool_calls] == ["forecast_beds"]
    assert turn.tool_calls[0].arguments["ward"] == ward
    assert turn.window == first.window  # the earlier question's days
    assert turn.route["by"] == "code" and turn.route["follow_up"] == "forecast_beds"


def test_a_confident_identity_vote_naming_a_ward_is_still_refused_after_a_forecast(ctx):
    agent = _bank_agent(ctx, route("forecast_beds", days=2), "ok", route("none", reply="好的"))
    agent.ask("How many beds will ICU need in the next 2 days?", session_id="s")
    turn = agent.ask(
        "查一下ICU张三的病历", session_id="s"
    )  # the guard misses it; the vote does not
    assert not turn.tool_calls and turn.route["label"] == "phi" and turn.route["by"] == "code"
    assert turn.answer == agent._prompt("refusal", kind="phi", language="Chinese")


def test_a_ward_named_without_an_earlier_question_gets_no_tool_from_the_vote(ctx):
    agent = _bank_agent(ctx, route("none", reply="好的"))
    turn = agent.ask("儿科也帮我看一下", session_id="s")
    assert not turn.tool_calls and "follow_up" not in turn.route


def test_preparing_leaves_the_first_turn_only_its_own_work(ctx):
    """Start-up does what the first question did while the other turns waited for the gate
    (~2 s of CPU): the example bank's embeddings, the ward resolver, the lexicon's patterns."""
    from unittest.mock import patch

    from agent import entities
    from agent.examples import ExampleBank
    from agent.resolve import WardResolver
    from knowledge.store import RecentQueries

    queries = RecentQueries()
    bank = ExampleBank.load(queries)
    model = ScriptedChatModel(script=[route("forecast_beds", ward="ICU", days=3), "ok"])
    agent = Agent(model, ctx, dialect="llama-cpp", today=END, examples=bank)
    entities._compiled.cache_clear()
    agent.prepare()
    assert bank._matrix is not None and model.calls == []  # no model call at start-up
    compiled = entities._compiled.cache_info().misses
    with patch.object(WardResolver, "__init__", side_effect=AssertionError("built in a turn")):
        with patch.object(queries, "encode", wraps=queries.encode) as encode:
            turn = agent.ask("How many beds will ICU need in the next 3 days?")
    assert [c.name for c in turn.tool_calls] == ["forecast_beds"]
    assert [len(c.args[0]) for c in encode.call_args_list] == [1, 1]  # the question, twice
    assert entities._compiled.cache_info().misses == compiled


def test_turns_that_start_together_embed_their_questions_in_one_call(ctx):
    """Each turn announces its question as it starts; the first to reach the example bank's
    vote embeds every announced question in one encoder call (cheaper than one by one), the
    others find theirs embedded. No announcement outlives its turn, even one stopped early."""
    import threading
    import time

    from agent.examples import ExampleBank
    from knowledge.store import RecentQueries, default_encoder

    calls: list[list[str]] = []

    class Recording:
        def encode(self, texts):
            if len(texts) < 50:  # not the bank's own examples
                calls.append(list(texts))
            return default_encoder().encode(texts)

    queries = RecentQueries(Recording())
    bank = ExampleBank.load(queries)
    questions = [
        "How many beds will ICU need in the next 3 days?",
        "How many beds will CARD need in the next 5 days?",
    ]
    script = [
        route("forecast_beds", ward=w, days=d) for w, d in (("ICU", 3), ("CARD", 5), ("ORTH", 4))
    ]
    agent = Agent(
        ScriptedChatModel(script=[*script, "ok", "ok", "ok"]),
        ctx,
        dialect="llama-cpp",
        today=END,
        examples=bank,
    )
    agent.prepare()  # embeds questions of its own
    calls.clear()
    turns = {}
    with agent.gate.held():  # both turns start, announce their questions and wait for the gate
        threads = [
            threading.Thread(target=lambda q=q: turns.setdefault(q, agent.ask(q, session_id=q)))
            for q in questions
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(queries._expected) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    for t in threads:
        t.join(30)
    assert len(turns) == 2
    assert len(calls) == 1 and sorted(calls[0]) == sorted(questions)
    assert queries._expected == {}
    run = agent.stream("And ORTH for the next 4 days?", session_id="early")
    next(run)
    run.close()
    assert queries._expected == {}


def test_a_turn_compiles_no_pattern_of_its_own_after_prepare(ctx, monkeypatch):
    """What :meth:`Agent.prepare` compiles stays compiled: a turn's own patterns are not left
    to ``re``'s cache of 512, which the serve process's other code turns over (before this,
    the first question after start-up compiled the refusal guard's patterns again, ~27 ms)."""
    import re
    import traceback

    agent, _ = agent_with(
        ctx,
        *[route("forecast_beds", ward="CARD", days=1), "ok"] * 2,
    )
    agent.prepare()
    re.purge()  # as if 512 other patterns had been compiled since
    ours = []
    real = re._compiler.compile

    def spy(pattern, flags=0):
        caller = next(
            f for f in reversed(traceback.extract_stack()[:-1]) if "/re/" not in f.filename
        )
        if "/agent/" in caller.filename and "/tests/" not in caller.filename:
            ours.append(f"{Path(caller.filename).name}:{caller.lineno}")
        return real(pattern, flags)

    monkeypatch.setattr(re._compiler, "compile", spy)
    for question in [
        "Will cardiology have a bed for a transfer on Friday?",
        "心内科周五床位够吗？",
    ]:
        turn = agent.ask(question)
        assert turn.tool_calls and turn.tool_calls[0].output["ok"], question
    assert ours == []
