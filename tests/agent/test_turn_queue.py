"""The turn queue (agent/app/queue.py): slots and FIFO order, positions and their estimate
(from a moving average of turn durations, on a test clock), refusal beyond the depth, and a
turn that fails or a waiter that leaves never blocking the queue. No wall-clock timings."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agent.app.queue import Position, QueueFull, TurnQueue
from agent.app.settings import Settings


class Clock:
    t = 100.0

    def __call__(self) -> float:
        return self.t


def test_slots_then_fifo_positions():
    q = TurnQueue(max_concurrent=2, max_depth=5)
    a, b, c, d = (q.enter() for _ in range(4))
    assert a.running and b.running and not c.running and not d.running
    assert [q.position(t).ahead for t in (c, d)] == [2, 3]
    assert (c.ahead_at_entry, d.ahead_at_entry) == (2, 3)
    q.release(b)
    assert c.running and not d.running and q.position(d).ahead == 2
    q.release(a)
    assert d.running
    assert q.snapshot() | {"turn_s": 0} == {
        "running": 2, "waiting": 0, "max_concurrent": 2, "max_depth": 5, "turn_s": 0,
        "refused": 0,
    }  # fmt: skip


def test_threads_get_their_slots_in_arrival_order():
    q = TurnQueue(max_concurrent=1, max_depth=10)
    first = q.enter()
    tickets = [q.enter() for _ in range(5)]
    order: list[int] = []
    lock = threading.Lock()

    def run(t):
        assert q.wait(t)
        with lock:
            order.append(t.id)
        q.release(t)

    threads = [threading.Thread(target=run, args=(t,)) for t in reversed(tickets)]
    for th in threads:
        th.start()
    q.release(first)
    for th in threads:
        th.join(timeout=30)
    assert order == [t.id for t in tickets]
    assert q.snapshot()["running"] == 0


def test_beyond_the_depth_a_turn_is_refused_at_once():
    q = TurnQueue(max_concurrent=1, max_depth=1, initial_turn_s=40)
    q.enter()
    q.enter()
    with pytest.raises(QueueFull) as refused:
        q.enter()
    e = refused.value
    assert (e.running, e.waiting, e.retry_after_s) == (1, 1, 40)
    assert e.message() == (
        "Wardwise is busy: 2 questions are being answered or waiting, and the queue is full. "
        "Please ask again in about 40 s."
    )
    assert (
        e.message("Chinese")
        == "Wardwise 正忙：已有 2 个问题在回答或排队，队列已满。请约 40 秒后再问。"
    )
    assert q.snapshot()["refused"] == 1
    with pytest.raises(QueueFull):  # depth 0: run at once or be refused
        busy = TurnQueue(max_concurrent=1, max_depth=0)
        busy.enter()
        busy.enter()


def test_a_failed_turn_releases_its_slot_and_is_not_in_the_estimate():
    clock = Clock()
    q = TurnQueue(max_concurrent=1, max_depth=3, initial_turn_s=10, clock=clock)
    with pytest.raises(RuntimeError):
        with q.turn():
            clock.t += 500
            raise RuntimeError("the tool crashed")
    assert q.snapshot()["running"] == 0 and q.turn_s == 10
    with q.turn() as t:  # the next turn runs at once
        assert t.running
        clock.t += 20
    assert q.turn_s == 20


def test_a_waiter_that_leaves_gives_up_its_place():
    q = TurnQueue(max_concurrent=1, max_depth=3)
    a, b, c = q.enter(), q.enter(), q.enter()
    q.release(b)  # the client went away while waiting
    q.release(b)  # twice is harmless
    assert not q.wait(b, timeout=0) and q.position(b) == Position(0, 0.0)
    assert q.position(c).ahead == 1
    q.release(a)
    assert c.running and q.snapshot()["waiting"] == 0


def test_a_waiting_generator_closed_early_releases(tmp_path):
    """What the API and the page do: a generator that waits, closed by the framework."""
    q = TurnQueue(max_concurrent=1, max_depth=3)
    a = q.enter()

    def stream():
        t = q.enter()
        try:
            while not q.wait(t, timeout=0):
                yield q.position(t).message()
        finally:
            q.release(t, ok=False)

    gen = stream()
    assert next(gen) == "1 question ahead of yours, about 30 s"
    assert q.snapshot()["waiting"] == 1
    gen.close()
    assert q.snapshot()["waiting"] == 0
    q.release(a)
    assert q.snapshot()["running"] == 0


def test_estimate_is_a_moving_average_of_recent_turns():
    clock = Clock()
    q = TurnQueue(max_concurrent=1, max_depth=9, window=2, initial_turn_s=15, clock=clock)
    for seconds in (100, 10, 30):  # the window keeps the last two: 10 and 30
        t = q.enter()
        clock.t += seconds
        q.release(t)
    assert q.turn_s == 20
    running = q.enter()
    waiting = [q.enter() for _ in range(3)]
    clock.t += 5
    assert q.position(running) == Position(0, 15.0, running=True)
    # the third waiter: 3 turns end before it starts (20 s each), then its own
    assert q.position(waiting[2]) == Position(3, 80.0)
    assert q.position(waiting[2]).message() == "3 questions ahead of yours, about 80 s"
    assert q.position(waiting[2]).message("Chinese") == "前面还有 3 个问题，约 80 秒"
    assert q.position(waiting[0]).to_json() == {"ahead": 1, "eta_s": 40, "running": False}
    assert Position(12, 300).message() == "12 questions ahead of yours, about 5 min"
    assert Position(12, 300).message("Chinese") == "前面还有 12 个问题，约 5 分钟"
    two = TurnQueue(max_concurrent=2, max_depth=9, initial_turn_s=20)
    two.enter(), two.enter()
    w = [two.enter() for _ in range(2)]
    assert [two.position(t).eta_s for t in w] == [30.0, 40.0]


def test_async_waiters_never_block_the_loop():
    q = TurnQueue(max_concurrent=1, max_depth=3)
    first = q.enter()

    async def main():
        t = q.enter()
        assert not await q.wait_async(t, timeout=0)
        q.release(first)
        assert await q.wait_async(t)
        q.release(t)

    asyncio.run(main())
    assert q.snapshot()["running"] == 0


def test_settings_choose_the_size():
    q = TurnQueue.for_settings(Settings(llm_url=None, max_queue_depth=4))
    assert (q.max_concurrent, q.max_depth) == (1, 4)
    q = TurnQueue.for_settings(Settings(llm_url="http://gpu:8000/v1"))
    assert (q.max_concurrent, q.max_depth) == (8, 32)
    q = TurnQueue.for_settings(Settings(max_concurrent_turns=3))
    assert q.max_concurrent == 3
    with pytest.raises(ValueError):
        TurnQueue(max_concurrent=0)


def test_a_freed_slot_wakes_only_the_turn_that_takes_it():
    """Twelve turns waiting: a release wakes the next one, not all twelve to re-check (a
    thundering herd of threads taking the lock and the GIL at every turn's end)."""
    q = TurnQueue(max_concurrent=1, max_depth=20)
    first = q.enter()
    waiting = [q.enter() for _ in range(12)]
    woken = []
    threads = [
        threading.Thread(target=lambda t=t: woken.append((t.id, q.wait(t, timeout=5))))
        for t in waiting
    ]
    for t in threads:
        t.start()
    q.release(first)
    threads[0].join(timeout=5)
    assert woken == [(waiting[0].id, True)]
    assert [t.moved.is_set() for t in waiting] == [True] + [False] * 11
    q.release(waiting[5])  # one that gives up its place: its own waiter returns, not running
    threads[5].join(timeout=5)
    assert woken[-1] == (waiting[5].id, False)
    for t in waiting:
        q.release(t)
    for t in threads:
        t.join(timeout=5)
    assert len(woken) == 12
