"""Admission control on the API (ui/serve.py) over the fake model server (a real HTTP server):
with one turn at a time and one waiting place, three concurrent questions: the first runs,
the second (streamed) is told its place in the queue and then answered, the third is refused
at once with 429 and ``Retry-After``, in the question's language. The order is made by
watching the queue, never by timing; no timing is asserted."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
import uvicorn

from agent.app.auth import UserStore
from agent.app.queue import TurnQueue
from agent.app.settings import Settings
from agent.bench.fakeserver import FakeServer
from agent.graph import Agent
from agent.llm import make_chat_model
from tests.conftest import END, free_port
from tools.roles import Role
from ui.serve import create_app

PW = "correct horse battery"


def until(condition, what: str, limit: float = 120.0) -> None:
    """Wait for a state of the queue (a generous limit against a hung test, not a timing)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.01)


@pytest.fixture()
def api(ctx, tmp_path):
    """The API on a free port (uvicorn in a thread) with a queue of 1 running + 1 waiting,
    over the fake model server spending a few seconds per call; yields (url, token, queue)."""
    model_server = FakeServer(free_port(), delay=5.0, chunks=10).__enter__()
    users = UserStore(f"sqlite:///{tmp_path / 'users.db'}", rounds=4)
    users.add("li.na", PW, Role.NURSE)
    model = make_chat_model(Settings(llm_timeout=120), model_server.base_url)
    agent = Agent(model, ctx, dialect="openai", today=END, answer_mode="verdicts")
    queue = TurnQueue(max_concurrent=1, max_depth=1)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(agent, users, queue), "127.0.0.1", port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    until(lambda: server.started, "the API started")
    url = f"http://127.0.0.1:{port}"
    r = httpx.post(f"{url}/v1/login", json={"username": "li.na", "password": PW})
    announced: list[tuple[str, str]] = []  # what the API announces to the agent, in order
    agent.expect = lambda q: announced.append(("expect", q))  # type: ignore[method-assign]
    agent.unexpect = lambda q: announced.append(("unexpect", q))  # type: ignore[method-assign]
    queue.announced = announced  # type: ignore[attr-defined]
    try:
        yield url, r.json()["token"], queue
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        model_server.kill()


def test_one_runs_one_waits_with_its_place_one_is_refused(api):
    url, token, queue = api
    headers = {"Authorization": f"Bearer {token}"}
    results: dict[str, object] = {}

    def ask(question: str) -> dict:
        return {"messages": [{"role": "user", "content": question}]}

    def first():
        r = httpx.post(
            f"{url}/v1/chat/completions",
            headers=headers,
            json=ask("How many beds will CARD need in the next 5 days?"),
            timeout=300,
        )
        results["first"] = (r.status_code, r.json())

    def second():
        chunks = []
        body = {**ask("How many beds will ICU need in the next 3 days?"), "stream": True}
        with httpx.stream(
            "POST", f"{url}/v1/chat/completions", headers=headers, json=body, timeout=300
        ) as r:
            results["second_status"] = r.status_code
            for line in r.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    chunks.append(json.loads(line[len("data: ") :]))
                elif line == "data: [DONE]":
                    chunks.append("DONE")
        results["second"] = chunks

    a = threading.Thread(target=first)
    a.start()
    until(lambda: queue.snapshot()["running"] == 1, "the first question runs")
    b = threading.Thread(target=second)
    b.start()
    until(lambda: queue.snapshot()["waiting"] == 1, "the second question waits")

    refused = httpx.post(
        f"{url}/v1/chat/completions",
        headers=headers,
        json=ask("How many beds will SURG need in the next 4 days?"),
        timeout=60,
    )
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    error = refused.json()["error"]
    assert error["code"] == "queue_full" and "the queue is full" in error["message"]
    zh = httpx.post(
        f"{url}/v1/chat/completions",
        headers=headers,
        json=ask("外科未来4天需要多少床位？"),
        timeout=60,
    )
    assert zh.status_code == 429 and "队列已满" in zh.json()["error"]["message"]
    assert queue.snapshot()["refused"] == 2

    a.join(timeout=300)
    b.join(timeout=300)
    status, body = results["first"]
    assert status == 200 and body["choices"][0]["message"]["content"]
    assert body["wardwise"]["queue"]["ahead"] == 0

    assert results["second_status"] == 200
    chunks = results["second"]
    assert chunks[-1] == "DONE"
    places = [c["wardwise"]["queue"] for c in chunks[:-1] if "wardwise" in c]
    assert places and places[0]["ahead"] == 1 and not places[0]["running"]
    assert places[0]["message"].startswith("1 question ahead of yours, about ")
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    assert "ICU" in text and "ahead of yours" not in text  # the place is not in the answer
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    # only the question that waited was announced (for the running turns to embed it with
    # theirs), and withdrawn once, when its turn started
    icu = "How many beds will ICU need in the next 3 days?"
    assert queue.announced == [("expect", icu), ("unexpect", icu)]
    # both slots are free again
    assert queue.snapshot() | {"turn_s": 0} == {
        "running": 0, "waiting": 0, "max_concurrent": 1, "max_depth": 1, "turn_s": 0,
        "refused": 2,
    }  # fmt: skip


def test_the_page_shows_the_place_and_refuses_beyond_the_depth(ctx, tmp_path):
    """The page's question handler over a queue whose one slot another question holds: the
    waiting question shows its place (in Chinese for a Chinese question), a third is refused
    and kept in the box, and once the slot frees the waiting one is answered."""
    from agent.fake import ScriptedChatModel
    from ui.app import build_page

    users = UserStore(f"sqlite:///{tmp_path / 'users.db'}", rounds=4)
    users.add("li.na", PW, Role.NURSE)
    token = users.sign_in("li.na", PW).token
    route = json.dumps({"tool": "forecast_beds", "ward": "ICU", "days": 3})
    agent = Agent(
        ScriptedChatModel(script=[route]), ctx, dialect="openai", today=END, answer_mode="verdicts"
    )
    announced: list[tuple[str, str]] = []
    agent.expect = lambda q: announced.append(("expect", q))  # type: ignore[method-assign]
    agent.unexpect = lambda q: announced.append(("unexpect", q))  # type: ignore[method-assign]
    queue = TurnQueue(max_concurrent=1, max_depth=1)
    page = build_page(agent, users, queue)
    respond = next(f.fn for f in page.fns.values() if getattr(f.fn, "__name__", "") == "respond")

    other = queue.enter()  # another nurse's question is being answered
    waiting = respond("重症监护室未来3天需要多少床位？", [], "tab-1", token, "English")
    chat, box, *_ = next(waiting)
    assert chat[-1]["content"].startswith("⏳ 前面还有 1 个问题，约 ")
    assert box == "" and queue.snapshot()["waiting"] == 1

    refused = respond("How many beds will CARD need?", [], "tab-2", token, "English")
    chat, box, *_ = next(refused)
    assert "the queue is full" in chat[-1]["content"] and box == "How many beds will CARD need?"
    assert list(refused) == []

    queue.release(other)
    *_, (chat, box, *_) = waiting  # the rest of the turn, to its answer
    answer = chat[-1]["content"]
    assert answer and not answer.startswith(("⏳", "Problem"))
    assert [m["content"] for m in chat if m["role"] == "user"] == [
        "重症监护室未来3天需要多少床位？"
    ]
    assert queue.snapshot()["running"] == 0 and queue.snapshot()["waiting"] == 0

    queue.enter()  # a tab closed while its question waits gives its place up
    gone = respond("How many beds will ICU need in the next 3 days?", [], "tab-3", token, "中文")
    chat, *_ = next(gone)
    assert chat[-1]["content"].startswith("⏳ 前面还有 1 个问题")
    gone.close()
    assert queue.snapshot()["waiting"] == 0
    # a waiting question is announced, and withdrawn as its turn starts or its tab closes
    zh, en = "重症监护室未来3天需要多少床位？", "How many beds will ICU need in the next 3 days?"
    assert announced == [("expect", zh), ("unexpect", zh), ("expect", en), ("unexpect", en)]
