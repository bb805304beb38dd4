"""The lean chat client sends what ``ChatOpenAI`` sends and fails as the ``openai`` SDK fails."""

import json

import httpx
import openai
import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from agent.chat_client import LeanChatOpenAI
from agent.graph import route_schema
from agent.llm import response_format, token_limit
from tools.registry import SCHEMAS

MSGS = [SystemMessage("Wards: ICU"), HumanMessage("ICU?"), AIMessage("ok"), HumanMessage("周五呢")]


def reply(content="{}", finish="stop"):
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }


def model(cls, handler):
    return cls(
        base_url="http://llm/v1",
        api_key="k",
        model="m",
        temperature=0,
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


CALLS = {
    "route": lambda m: m.invoke(
        MSGS, response_format=response_format(route_schema(SCHEMAS), "openai"), **token_limit(256)
    ),
    "plain": lambda m: m.invoke(MSGS, **token_limit(64)),
    "tools": lambda m: m.bind_tools(
        [{"type": "function", "function": SCHEMAS["forecast_beds"]}], tool_choice="auto"
    ).invoke(MSGS, **token_limit(8)),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_the_request_and_the_message_are_the_sdks(call):
    sent: dict[str, list] = {}

    def recorder(name):
        def handle(request):
            sent.setdefault(name, []).append((request.url, request.headers, request.content))
            return httpx.Response(200, json=reply('{"tool": "none"}'))

        return handle

    got = {
        cls: CALLS[call](model(cls, recorder(cls.__name__))) for cls in (ChatOpenAI, LeanChatOpenAI)
    }
    (url_a, head_a, body_a), (url_b, head_b, body_b) = (
        sent["ChatOpenAI"][0],
        sent["LeanChatOpenAI"][0],
    )
    assert url_a == url_b and head_a["authorization"] == head_b["authorization"] == "Bearer k"
    assert json.loads(body_a) == json.loads(body_b)
    a, b = got[ChatOpenAI], got[LeanChatOpenAI]
    assert a.content == b.content == '{"tool": "none"}'
    assert a.usage_metadata == b.usage_metadata
    assert b.response_metadata["finish_reason"] == "stop"
    # invoke's quick way (no handler, no config) gives the message its full way gives
    full = CALLS[call](_Configured(model(LeanChatOpenAI, recorder("full"))))
    assert b.model_dump(exclude={"id"}) == full.model_dump(exclude={"id"})
    assert b.id.startswith("lc_run-") and full.id.startswith("lc_run-")


class _Configured:
    """A model whose calls all carry a config, so ``invoke`` takes LangChain's full way."""

    def __init__(self, m):
        self.m = m

    def invoke(self, msgs, **kw):
        return self.m.invoke(msgs, {"tags": ["full"]}, **kw)

    def bind_tools(self, *a, **k):
        return self.m.bind_tools(*a, **k)


def test_an_unobserved_call_skips_the_run_bookkeeping(monkeypatch):
    """No handler, cache or config: invoke is _generate, not BaseChatModel.generate."""
    m = model(LeanChatOpenAI, lambda r: httpx.Response(200, json=reply('{"tool": "none"}')))

    def generate(*a, **k):
        raise AssertionError("the full run bookkeeping was taken")

    monkeypatch.setattr(BaseChatModel, "generate", generate)
    assert CALLS["route"](m).content == '{"tool": "none"}'


def test_a_handler_or_a_cache_gets_the_full_way():
    class Seen(BaseCallbackHandler):
        def __init__(self):
            self.events = []

        def on_chat_model_start(self, *a, **k):
            self.events.append("start")

        def on_llm_end(self, *a, **k):
            self.events.append("end")

    ok = lambda r: httpx.Response(200, json=reply('{"tool": "none"}'))  # noqa: E731
    by_config, on_model = Seen(), Seen()
    model(LeanChatOpenAI, ok).invoke(MSGS, {"callbacks": [by_config]})
    m = model(LeanChatOpenAI, ok)
    m.callbacks = [on_model]
    m.invoke(MSGS)
    assert by_config.events == on_model.events == ["start", "end"]

    calls = []

    def counted(r):
        calls.append(r)
        return ok(r)

    cached = model(LeanChatOpenAI, counted)
    cached.cache = InMemoryCache()
    assert cached.invoke(MSGS).content == cached.invoke(MSGS).content == '{"tool": "none"}'
    assert len(calls) == 1  # the second answer came from the cache


@pytest.mark.parametrize(
    ("respond", "error"),
    [
        (
            lambda r: httpx.Response(500, json={"error": {"message": "boom"}}),
            openai.InternalServerError,
        ),
        (
            lambda r: httpx.Response(401, json={"error": {"message": "no"}}),
            openai.AuthenticationError,
        ),
        (
            lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused", request=r)),
            openai.APIConnectionError,
        ),
        (
            lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=r)),
            openai.APITimeoutError,
        ),
        (
            lambda r: httpx.Response(
                200, json=reply('{"tool": "forecast_beds", "ward": "IC', "length")
            ),
            openai.LengthFinishReasonError,
        ),
    ],
)
def test_failures_raise_what_the_sdk_raises(respond, error):
    for cls in (ChatOpenAI, LeanChatOpenAI):
        with pytest.raises(error):
            CALLS["route"](model(cls, respond))


def test_a_plain_reply_cut_at_the_limit_is_returned_as_the_sdk_returns_it():
    m = model(
        LeanChatOpenAI, lambda r: httpx.Response(200, json=reply("Beds on ICU are", "length"))
    )
    msg = CALLS["plain"](m)
    assert msg.content == "Beds on ICU are" and msg.response_metadata["finish_reason"] == "length"


def test_a_call_imports_nothing_that_start_up_did_not():
    """The first call after start-up does no import of its own (a fresh interpreter: here,
    other tests may have imported everything already)."""
    import subprocess
    import sys
    from pathlib import Path

    child = """
import json, sys, httpx
from langchain_core.messages import HumanMessage
from agent.chat_client import LeanChatOpenAI
reply = json.loads(sys.argv[1])
m = LeanChatOpenAI(base_url="http://llm/v1", api_key="k", model="m", max_retries=0,
    http_client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=reply))))
before = set(sys.modules)
assert m.invoke([HumanMessage("ICU?")]).content == "{}"
print(sorted(set(sys.modules) - before))
"""
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-c", child, json.dumps(reply())],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"
