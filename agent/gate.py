"""The turn gate: one turn's own CPU work at a time in a process, first come first served.

Python runs one thread's bytecode at a time (the GIL), switching between runnable threads
every few milliseconds. With several turns admitted together (the turn queue lets 8 run while
the model server batches them), their CPU work (routing, tools, grounding, audit, history)
used to be interleaved that way: each of 8 turns that reached the same step together finished
it only when all 8 had, about 8 times its own cost, and the switching itself cost CPU. The
gate runs those pieces one after another instead, so a turn's step finishes after those
queued before it, and no later: the same work, less waiting on average (a batch of n equal
steps: (n + 1) / 2 steps' time instead of n).

A turn holds the gate while it computes and lets go of it while it waits for something
outside the process: a model call, a tool that has run for more than :data:`TOOL_SLICE_S`
(a MILP solve or a case search must not hold up the other turns' quick work), and between the
events it hands to its reader. Nothing waits for another turn while holding it, so it cannot
deadlock: holders never wait on a thread that needs the gate (tool threads and the web
server's own threads never take it), and every database transaction begins and ends within
one held stretch.

Use::

    with gate.held():          # re-entrant in one thread; waiters are served in order
        ...
        with gate.released():  # a wait outside the process; taken back (in turn) after
            reply = model.invoke(...)
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

TOOL_SLICE_S = 0.02  # a tool still running after this lets the other turns go on
_END: Any = object()


class TurnGate:
    """A first-come-first-served lock held per thread (see the module docstring)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._busy = False
        self._waiters: deque[threading.Lock] = deque()
        self._local = threading.local()

    def holding(self) -> bool:
        """Whether the calling thread holds the gate."""
        return getattr(self._local, "held", False)

    def _acquire(self) -> None:
        with self._mutex:
            if not self._busy:
                self._busy = True
                self._local.held = True
                return
            ticket = threading.Lock()
            ticket.acquire()
            self._waiters.append(ticket)
        try:
            ticket.acquire()  # the releasing thread hands the gate over by releasing the ticket
        except BaseException:  # interrupted while waiting (Ctrl-C): leave the line
            with self._mutex:
                handed = ticket not in self._waiters
                if not handed:
                    self._waiters.remove(ticket)
            if handed:  # it was ours already: pass it on
                self._release()
            raise
        self._local.held = True

    def _release(self) -> None:
        self._local.held = False
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # still busy: now the next thread's
            else:
                self._busy = False

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the gate for the block (nothing more when this thread holds it already)."""
        if self.holding():
            yield
            return
        self._acquire()
        try:
            yield
        finally:
            self._release()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let go of the gate for the block, if this thread holds it, and take it back after
        (behind the threads that queued meanwhile)."""
        if not self.holding():
            yield
            return
        self._release()
        try:
            yield
        finally:
            self._acquire()

    def each(self, items: Iterator[T], *, holding: bool) -> Iterator[T]:
        """``items`` one by one, each taken with the gate held (``holding``) or let go of (a
        model's streamed chunks); never held across a ``yield``."""
        while True:
            with self.held() if holding else self.released():
                item = next(items, _END)
            if item is _END:
                return
            yield item


GATE = TurnGate()  # the process's gate: every agent in a process shares one interpreter
