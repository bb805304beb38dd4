"""The turn queue: admission control in front of one model server.

A model server answers only so many turns at once (the embedded llama.cpp server one, a vLLM
GPU a batch); the rest used to wait unseen in the web server's thread pool. A
:class:`TurnQueue` lets ``max_concurrent`` turns run and up to ``max_depth`` more wait, first
come first served; a turn beyond that is refused at once (:class:`QueueFull`, HTTP 429 with
``Retry-After`` on the API) instead of waiting minutes behind a spinner. A waiting turn can ask
for its :class:`Position`: how many turns are ahead of it and about how long until its answer,
estimated from a moving average of recent turns' durations, worded in English or Chinese
("3 questions ahead of yours, about 40 s" / "前面还有 3 个问题，约 40 秒").

One queue serves one process (``wardwise serve`` or ``wardwise up``) and its model server:
replicas sharing a model server each admit ``max_concurrent`` turns, so size that setting per
replica. Use::

    ticket = queue.enter()          # QueueFull beyond the depth
    try:
        while not queue.wait(ticket, timeout=2.0):
            show(queue.position(ticket).message(language))
        ... run the turn ...
    finally:
        queue.release(ticket)       # also when the turn failed or the client went away

(:meth:`TurnQueue.turn` does the same without the position messages.) Every method is
thread-safe; asyncio code waits with :meth:`TurnQueue.wait_async`. Pure Python: no web
framework, no model client.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from agent.app.settings import Settings

EMBEDDED_CONCURRENCY = 1  # llama.cpp on the host's CPU: one turn at a time
SERVER_CONCURRENCY = 8  # an external server (vLLM) batches concurrent requests
INITIAL_TURN_S = 15.0  # the estimate before any turn has finished


def _duration(seconds: float, language: str) -> str:
    """``about 40 s`` / ``约 40 秒`` (minutes from 90 s on), rounded to 5 s."""
    zh = language == "Chinese"
    if seconds >= 90:
        minutes = round(seconds / 60)
        return f"约 {minutes} 分钟" if zh else f"about {minutes} min"
    s = max(5, 5 * round(seconds / 5))
    return f"约 {s} 秒" if zh else f"about {s} s"


class QueueFull(Exception):
    """A turn refused at once: ``waiting`` turns already wait (the queue's depth) behind
    ``running`` ones. ``retry_after_s`` is the estimated wait until a place frees."""

    def __init__(self, running: int, waiting: int, retry_after_s: int):
        self.running, self.waiting, self.retry_after_s = running, waiting, retry_after_s
        super().__init__(self.message())

    def message(self, language: str = "English") -> str:
        """The refusal for the user, in ``language`` ("English" or "Chinese")."""
        n = self.running + self.waiting
        when = _duration(self.retry_after_s, language)
        if language == "Chinese":
            return f"Wardwise 正忙：已有 {n} 个问题在回答或排队，队列已满。请{when}后再问。"
        noun = "question is" if n == 1 else "questions are"
        return (
            f"Wardwise is busy: {n} {noun} being answered or waiting, and the queue is full. "
            f"Please ask again in {when}."
        )


@dataclass(eq=False)
class Ticket:
    """One turn's place: when it entered, started (got a slot) and ended (was released), and
    how many turns were ahead of it when it entered. Times are the queue's clock."""

    id: int
    entered: float
    ahead_at_entry: int = 0
    started: float | None = None
    ended: float | None = None
    # set once the ticket gets a slot or leaves: only its own waiter wakes, not every waiter
    moved: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def running(self) -> bool:
        """Whether the turn holds a slot now."""
        return self.started is not None and self.ended is None

    @property
    def wait_s(self) -> float:
        """Seconds it waited for its slot, or in the queue before it left (0 while waiting)."""
        end = self.started if self.started is not None else self.ended
        return (end if end is not None else self.entered) - self.entered


@dataclass(frozen=True)
class Position:
    """Where a turn stands: ``ahead`` turns before it (running or waiting in front), and
    ``eta_s``, the estimated seconds until its answer (0 when it is done or was cancelled)."""

    ahead: int
    eta_s: float
    running: bool = False

    def message(self, language: str = "English") -> str:
        """ "3 questions ahead of yours, about 40 s" or "前面还有 3 个问题，约 40 秒"."""
        when = _duration(self.eta_s, language)
        if language == "Chinese":
            if self.running:
                return f"正在回答你的问题，{when}"
            return f"前面还有 {self.ahead} 个问题，{when}"
        if self.running:
            return f"Answering your question, {when}"
        noun = "question" if self.ahead == 1 else "questions"
        return f"{self.ahead} {noun} ahead of yours, {when}"

    def to_json(self) -> dict:
        """``{"ahead", "eta_s", "running"}`` with the estimate rounded to a second."""
        return {"ahead": self.ahead, "eta_s": round(self.eta_s), "running": self.running}


class TurnQueue:
    """FIFO admission for one model server: ``max_concurrent`` turns at once, up to
    ``max_depth`` more waiting, the estimate from the last ``window`` finished turns.

    Args:
        max_concurrent: turns that run at once (at least 1).
        max_depth: turns that may wait; one more is refused with :class:`QueueFull` (0: none
            waits, a turn runs at once or is refused).
        window: how many recent turn durations the moving average keeps.
        initial_turn_s: the estimated turn duration until a turn has finished.
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        max_concurrent: int = 1,
        max_depth: int = 32,
        window: int = 20,
        initial_turn_s: float = INITIAL_TURN_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        if max_concurrent < 1 or max_depth < 0:
            raise ValueError("max_concurrent must be at least 1 and max_depth at least 0")
        self.max_concurrent, self.max_depth = max_concurrent, max_depth
        self.initial_turn_s = initial_turn_s
        self.clock = clock
        self._lock = threading.Lock()
        self._waiting: deque[Ticket] = deque()
        self._running: set[Ticket] = set()
        self._durations: deque[float] = deque(maxlen=window)
        self._ids = itertools.count(1)
        self.refused = 0  # turns refused since start

    @classmethod
    def for_settings(cls, settings: Settings) -> TurnQueue:
        """The queue ``settings`` ask for: ``WARDWISE_MAX_CONCURRENT_TURNS`` (unset: 1 with the
        embedded model, 8 with ``WARDWISE_LLM_URL``) and ``WARDWISE_MAX_QUEUE_DEPTH``."""
        default = SERVER_CONCURRENCY if settings.llm_url else EMBEDDED_CONCURRENCY
        return cls(settings.max_concurrent_turns or default, settings.max_queue_depth)

    # ----------------------------------------------------------------------------- entering

    def enter(self) -> Ticket:
        """Take a place: a slot now if one is free and nobody waits, else a place at the back
        of the queue. Raises :class:`QueueFull` when ``max_depth`` turns already wait."""
        with self._lock:
            free = len(self._running) < self.max_concurrent and not self._waiting
            if not free and len(self._waiting) >= self.max_depth:
                self.refused += 1
                raise QueueFull(len(self._running), len(self._waiting), self._retry_after())
            now = self.clock()
            ticket = Ticket(next(self._ids), now, len(self._running) + len(self._waiting))
            if free:
                ticket.started = now
                self._running.add(ticket)
                ticket.moved.set()
            else:
                self._waiting.append(ticket)
            return ticket

    def wait(self, ticket: Ticket, timeout: float | None = None) -> bool:
        """Block until ``ticket`` holds a slot (``True``) or ``timeout`` seconds pass, or it was
        released while waiting (``False``)."""
        ticket.moved.wait(timeout)
        with self._lock:
            return ticket.running

    async def wait_async(self, ticket: Ticket, timeout: float = 1.0) -> bool:
        """:meth:`wait` for asyncio code, on a worker thread for at most ``timeout`` seconds
        (call it again while it returns ``False``); the event loop is never blocked."""
        return await asyncio.to_thread(self.wait, ticket, timeout)

    def release(self, ticket: Ticket, ok: bool = True) -> None:
        """End a turn, or give up a place in the queue: the next waiting turn gets the slot.
        Safe to call twice. A finished turn's duration feeds the estimate when ``ok`` (a
        failed turn's says little about the next one)."""
        with self._lock:
            if ticket.ended is not None:
                return
            ticket.ended = self.clock()
            ticket.moved.set()
            if ticket in self._running:
                self._running.discard(ticket)
                if ok and ticket.started is not None:
                    self._durations.append(ticket.ended - ticket.started)
            else:
                try:
                    self._waiting.remove(ticket)
                except ValueError:
                    pass
            while self._waiting and len(self._running) < self.max_concurrent:
                nxt = self._waiting.popleft()
                nxt.started = self.clock()
                self._running.add(nxt)
                nxt.moved.set()

    @contextmanager
    def turn(self) -> Iterator[Ticket]:
        """Enter, wait for a slot, run the block, release (on an exception too, then as a
        failed turn). Raises :class:`QueueFull` without running the block."""
        ticket = self.enter()
        ok = False
        try:
            self.wait(ticket)
            yield ticket
            ok = True
        finally:
            self.release(ticket, ok=ok)

    # ----------------------------------------------------------------------------- reading

    @property
    def turn_s(self) -> float:
        """The estimated duration of one turn: the mean of the recent ones."""
        with self._lock:
            return self._turn_s()

    def position(self, ticket: Ticket) -> Position:
        """Where ``ticket`` stands now, and about how long until its answer."""
        with self._lock:
            t = self._turn_s()
            if ticket.ended is not None:
                return Position(0, 0.0)
            if ticket.started is not None:
                return Position(0, max(0.0, t - (self.clock() - ticket.started)), running=True)
            i = self._waiting.index(ticket)
            # i + 1 turns must end before this one starts, max_concurrent of them at a time
            eta = (i + 1) / self.max_concurrent * t + t
            return Position(len(self._running) + i, eta)

    def snapshot(self) -> dict:
        """``{"running", "waiting", "max_concurrent", "max_depth", "turn_s", "refused"}``."""
        with self._lock:
            return {
                "running": len(self._running),
                "waiting": len(self._waiting),
                "max_concurrent": self.max_concurrent,
                "max_depth": self.max_depth,
                "turn_s": round(self._turn_s(), 3),
                "refused": self.refused,
            }

    def _turn_s(self) -> float:
        if not self._durations:
            return self.initial_turn_s
        return sum(self._durations) / len(self._durations)

    def _retry_after(self) -> int:
        """Whole seconds until a place in the queue is likely free: the next turn's end."""
        return max(1, math.ceil(self._turn_s() / self.max_concurrent))


def nothing() -> None:
    """A withdrawal with nothing to withdraw."""


def announce(agent, question: str) -> Callable[[], None]:
    """Announce a question that waits in the queue to the agent (:meth:`Agent.expect`: the
    turns running meanwhile embed it with theirs), and return its withdrawal, which does
    something only the first time it is called."""
    expect = getattr(agent, "expect", None)
    if expect is None:
        return nothing
    expect(question)
    done = False

    def withdraw() -> None:
        nonlocal done
        if not done:
            done = True
            agent.unexpect(question)

    return withdraw
