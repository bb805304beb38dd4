"""The turn gate (agent/gate.py): first come first served, re-entrant, let go of while a turn
waits for the model or a slow tool; and the agent holding it for its own work only."""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest

from agent import graph
from agent.fake import ScriptedChatModel
from agent.gate import TOOL_SLICE_S, TurnGate
from agent.graph import Agent
from tests.conftest import END


def _queue_up(gate: TurnGate, names: list[str], order: list[str]) -> list[threading.Thread]:
    """Start one thread per name, each waiting for the gate only after the one before it."""
    threads = []
    for name in names:
        waiting = len(gate._waiters)

        def take(name=name):
            with gate.held():
                order.append(name)

        t = threading.Thread(target=take)
        t.start()
        while len(gate._waiters) == waiting:  # queued behind the ones before it
            time.sleep(0.001)
        threads.append(t)
    return threads


def _held_elsewhere(gate: TurnGate) -> tuple[threading.Thread, threading.Event]:
    """A thread holding ``gate`` until the returned event is set."""
    holding, release = threading.Event(), threading.Event()

    def hold():
        with gate.held():
            holding.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    assert holding.wait(5)
    return t, release


def test_waiters_are_served_in_the_order_they_came():
    gate, order = TurnGate(), []
    with gate.held():
        threads = _queue_up(gate, ["b", "c", "d", "e"], order)
        assert order == []  # nobody gets in while it is held
    for t in threads:
        t.join(5)
    assert order == ["b", "c", "d", "e"]
    assert not gate._busy and not gate._waiters


def test_held_is_reentrant_and_released_lets_the_queue_go_first():
    gate, order = TurnGate(), []
    assert not gate.holding()
    with gate.released():  # not held: nothing to let go of
        assert not gate.holding()
    with gate.held():
        with gate.held():
            assert gate.holding()
        assert gate.holding()  # the inner block did not let go
        threads = _queue_up(gate, ["b", "c"], order)
        with gate.released():
            for t in threads:
                t.join(5)
            assert not gate.holding()
        order.append("a")  # taken back only after those that were waiting
        assert gate.holding()
    assert order == ["b", "c", "a"]
    assert not gate.holding() and not gate._busy


def test_an_error_inside_still_lets_go():
    gate = TurnGate()
    try:
        with gate.held():
            raise ValueError("boom")
    except ValueError:
        pass
    assert not gate._busy
    done = []
    t = threading.Thread(target=lambda: gate.held().__enter__() or done.append(1))
    t.start()
    t.join(5)
    assert done == [1]


def _route(tool: str, **args) -> str:
    return json.dumps({"tool": tool, **args})


class _Watching(ScriptedChatModel):
    """A scripted model that records whether its caller held the gate during each call."""

    gate: object = None
    held: list = []

    def _next(self, messages, kwargs):
        self.held.append(self.gate.holding())
        return super()._next(messages, kwargs)


def test_a_turn_holds_the_gate_for_its_own_work_but_not_for_the_model(ctx, monkeypatch):
    gate = TurnGate()
    model = _Watching(
        script=[_route("forecast_beds", ward="CARD", days=3), "CARD needs beds."],
        gate=gate,
        held=[],
    )
    agent = Agent(model, ctx, dialect="openai", today=END, gate=gate, tool_timeout=60)
    own = []
    real = graph.refused_request
    monkeypatch.setattr(graph, "refused_request", lambda q: own.append(gate.holding()) or real(q))
    events = []
    for ev in agent.stream("How many beds will CARD need in the next 3 days?", "g1"):
        events.append(ev)
        assert not gate.holding()  # never across an event handed to the reader
    assert own == [True]
    assert model.held == [False, False]  # the route call and the streamed answer
    assert events[-1].kind == "final" and events[-1].data.tool_calls
    assert not gate._busy


def test_a_slow_tool_lets_another_turn_through(ctx, monkeypatch):
    """A plan that takes half a second must not hold up a forecast asked meanwhile: past
    TOOL_SLICE_S the slow turn waits for its tool without the gate."""
    gate = TurnGate()
    started, slow_s = threading.Event(), 0.6
    real = graph.call_tool

    def call_tool(ctx, name, arguments):
        if name == "plan_beds":
            started.set()
            time.sleep(slow_s)  # a MILP solve, standing in
        return real(ctx, name, arguments)

    monkeypatch.setattr(graph, "call_tool", call_tool)
    planner = Agent(
        ScriptedChatModel(script=[_route("plan_beds", days=3), "Here is the plan."]),
        ctx,
        dialect="openai",
        today=END,
        gate=gate,
        tool_timeout=60,
    )
    asker = Agent(
        ScriptedChatModel(script=[_route("forecast_beds", ward="ICU", days=2), "ICU is fine."]),
        ctx,
        dialect="openai",
        today=END,
        gate=gate,
        tool_timeout=60,
    )
    done = {}

    def plan():
        planner.ask("Plan beds for the next 3 days")
        done["plan"] = time.perf_counter()

    t = threading.Thread(target=plan)
    t.start()
    assert started.wait(30)
    t0 = time.perf_counter()
    turn = asker.ask("How many ICU beds for the next 2 days?")
    done["ask"] = time.perf_counter()
    t.join(60)
    assert turn.tool_calls and turn.tool_calls[0].output["ok"]
    assert done["ask"] < done["plan"]  # answered while the plan was still being solved
    assert done["ask"] - t0 < slow_s - TOOL_SLICE_S


def test_a_waiter_interrupted_in_line_leaves_it():
    """Ctrl-C while waiting for the gate: the waiter leaves the line, and the gate ends free
    when its holder lets go (not handed to a thread that is gone)."""
    gate = TurnGate()
    t, release = _held_elsewhere(gate)

    class Interrupted(Exception):
        pass

    def on_alarm(signum, frame):
        raise Interrupted

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        with pytest.raises(Interrupted), gate.held():
            pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert not gate._waiters and not gate.holding()
    release.set()
    t.join(5)
    assert not gate._busy
    with gate.held():  # and it can be taken again at once
        assert gate.holding()


def test_a_reader_done_at_the_final_event_does_not_wait_for_the_gate_again(ctx):
    """The API stops reading at the final event: letting go of the turn then must not queue
    for the gate behind other turns (nothing of the turn is left to run)."""
    gate = TurnGate()
    model = ScriptedChatModel(script=[_route("forecast_beds", ward="CARD", days=3), "Fine."])
    agent = Agent(model, ctx, dialect="openai", today=END, gate=gate, tool_timeout=60)
    run = agent.stream("How many beds will CARD need in the next 3 days?", "g2")
    assert any(ev.kind == "final" for ev in run)  # any() stops at the final event
    t, release = _held_elsewhere(gate)
    closer = threading.Thread(target=run.close)
    closer.start()
    closer.join(2)
    done = not closer.is_alive()
    release.set()
    t.join(5)
    closer.join(5)
    assert done


class _Taking(ScriptedChatModel):
    """A scripted model during whose call number ``at`` (0: the first) another thread takes
    the gate and holds it for ``hold_s`` (a turn that computes meanwhile)."""

    gate: object = None
    hold_s: float = 0.0
    at: int = 0
    threads: list = []

    def _next(self, messages, kwargs):
        if not self.threads and len(self.calls) == self.at:
            taken = threading.Event()

            def take():
                with self.gate.held():
                    taken.set()
                    time.sleep(self.hold_s)

            self.threads.append(threading.Thread(target=take))
            self.threads[0].start()
            assert taken.wait(5)
        return super()._next(messages, kwargs)


def test_model_seconds_leave_out_the_wait_for_the_gate_after_the_call(ctx):
    """The load bench counts a turn's model seconds as the model's and the rest as Wardwise's:
    waiting for the gate while another turn computes is Wardwise's, not the model's."""
    gate = TurnGate()
    model = _Taking(
        script=[_route("forecast_beds", ward="CARD", days=3), "ok"],
        gate=gate,
        hold_s=0.4,
        threads=[],
    )
    agent = Agent(model, ctx, dialect="openai", today=END, gate=gate, tool_timeout=60)
    t0 = time.perf_counter()
    turn = agent.ask("How many beds will CARD need in the next 3 days?", "g1")
    assert time.perf_counter() - t0 >= 0.4  # the turn did wait for the other one
    route = turn.llm_calls[0]
    assert route["purpose"] == "route" and route["seconds"] < 0.2
    model.threads[0].join(5)


def test_a_streamed_answers_model_seconds_leave_out_the_wait_for_the_gate(ctx):
    """The same for an answer the model writes (``answer_mode="model"``), streamed: the
    seconds are the stream's, not the turn's wait for the gate between its chunks."""
    gate = TurnGate()
    model = _Taking(
        script=[_route("forecast_beds", ward="CARD", days=3), "CARD needs beds."],
        gate=gate,
        hold_s=0.4,
        at=1,
        threads=[],
    )
    agent = Agent(
        model, ctx, dialect="openai", today=END, gate=gate, tool_timeout=60, answer_mode="model"
    )
    t0 = time.perf_counter()
    turn = agent.ask("How many beds will CARD need in the next 3 days?", "g1")
    assert time.perf_counter() - t0 >= 0.4 and model.threads  # it did wait for the other
    answer = turn.llm_calls[-1]
    assert answer["purpose"] == "answer" and answer["seconds"] < 0.2
    model.threads[0].join(5)


def _burn(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class _Burning(ScriptedChatModel):
    """A scripted model whose every call spends CPU on the caller's thread, as a client
    building a request and parsing a reply does."""

    burn_s: float = 0.0

    def _next(self, messages, kwargs):
        _burn(self.burn_s)
        return super()._next(messages, kwargs)


@pytest.mark.parametrize("tool_timeout", [60, 0])  # the tool on a pool thread, or inline
def test_a_turns_own_cpu_leaves_out_its_model_calls_and_its_tools(ctx, monkeypatch, tool_timeout):
    """``Turn.cpu_ms`` is Wardwise's own CPU for the turn (the load bench's
    ``own_cpu_ms_per_turn``): the model client's CPU and a tool's are counted apart."""
    model = _Burning(
        script=[_route("forecast_beds", ward="CARD", days=3), "CARD needs beds."], burn_s=0.15
    )
    real = graph.call_tool
    monkeypatch.setattr(graph, "call_tool", lambda *a: _burn(0.15) or real(*a))
    agent = Agent(
        model, ctx, dialect="openai", today=END, gate=TurnGate(), tool_timeout=tool_timeout
    )
    agent.ask("How many beds will CARD need in the next 3 days?", "warm")  # first-use costs
    model.script = [_route("forecast_beds", ward="CARD", days=4), "CARD needs beds."]
    t0 = time.thread_time()
    turn = agent.ask("How many beds will CARD need in the next 4 days?", "c1")
    spent = 1000 * (time.thread_time() - t0)
    calls = [c["cpu_ms"] for c in turn.llm_calls]
    assert len(calls) == 2 and all(c >= 150 for c in calls)  # route, streamed answer
    tool = turn.tool_calls[0].cpu_ms
    assert tool >= 150 if tool_timeout == 0 else tool < 100  # counted where it ran
    assert 0 < turn.cpu_ms < 100  # without both, it would be over 300
    if tool_timeout == 0:  # everything ran on this thread: the parts add up to it
        assert turn.cpu_ms + sum(calls) + tool <= spent + 1
