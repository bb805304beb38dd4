"""The load bench behind ``wardwise bench load``: concurrent conversations against a real
``wardwise serve`` on 127.0.0.1.

Each session is one client thread with its own conversation id (the endpoint's ``user``),
started together. Session ``i`` asks about its own ward and horizon, a pair no other session
uses; follow-up turns name no ward, so they are answered from the session's stored history.
An answer is

- **lost** when the request fails, times out, is not a 200 or carries no answer;
- **crossed** when it belongs to another session: the turn echoes another question, or its
  forecast is for the (ward, days) pair another session asked for.

Turn time is measured by the client, on a connection the session opened before the clock
started (as a page's or an API client's kept-alive connection is): 20 connections opened at
once by one load generator on the server's own 2 cores are not a turn's work. ``serve``
admits turns through its turn queue (:mod:`agent.app.queue`), and each answer reports how
long it waited there: queue wait (``queue_wait_p50_s``, ``queue_wait_p95_s``) is reported
apart from model time (``llm_p50_s``, seconds inside LLM calls as the turn reports them).
``overhead_share`` = (turn time - queue wait - model time) / turn time, summed over all
answered turns: the share of a turn spent in Wardwise itself (HTTP, routing, tools,
grounding, audit, history) rather than waiting for the model or for its turn.
``own_cpu_ms_per_turn`` is the mean of the turns' own ``cpu_ms``: the CPU of a turn's own
code in the serve process (the CPU of its steps less that of its model calls and tool
calls), which other jobs on the machine slow but do not add to.
``steal_share`` is the share of the machine's CPU time that the hypervisor gave to other
guests while the sessions ran (``/proc/stat``'s steal; absent elsewhere): on a shared virtual
machine the runs with more of it are the slow ones, so it says when a run was disturbed.
``serve_cpu_ms_per_turn`` is the CPU the serve process used while the sessions ran
(``/proc``; absent elsewhere), per answered turn: the turns' own work, the tools, the model
client, HTTP and sign-in.
Before the clock, one warm-up round (``warmup`` turns at once, by default as many as
``--sessions`` with the fake model and none with any other) asks on conversations of its own
about (ward, days) pairs that no measured turn asks, so no measured forecast is cached by it:
the first concurrent burst after start-up costs more than later ones (worker threads and
connections made, caches filled; docs/operations.md, "Fifteenth pass"), which is start-up,
not a turn's work. That round is not hidden: its share is ``cold_overhead_share``, and its
lost or crossed answers count in ``lost`` and ``crossed``.
The queue takes ``WARDWISE_MAX_CONCURRENT_TURNS`` from the environment
(``--model embedded``: 1 unless set) and, unless set, a depth of ``--sessions`` so that the
bench measures waiting, not refusal; refused turns (429) count as lost and as ``refused``.
The serve process writes its audit and history to a temporary folder (the bench never
touches the real audit trail); the chain is verified at the end.
``--replicas N`` starts N serve processes on N ports sharing those stores (one queue each, as
replicas behind a proxy have), and a session's follow-up goes to another replica than its
question: its history, token and audit chain are the shared ones.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from agent.app.audit import AuditLog
from agent.app.auth import UserStore
from agent.app.settings import Settings
from agent.llm import connect
from agent.servers import ServerUnavailable, answers, spawn_server
from tools.forecast import MAX_DAYS

FIELDS = (
    "sessions",
    "lost",
    "crossed",
    "p50_s",
    "p95_s",
    "overhead_share",
    "queue_wait_p50_s",
    "queue_wait_p95_s",
    "llm_p50_s",
    "refused",
    "replicas",
    "own_cpu_ms_per_turn",
    "warmup_turns",
    "cold_overhead_share",
    "steal_share",
)


@dataclass
class Ask:
    """One question of a session: turn ``turn`` asks about ``ward`` over ``days`` days."""

    session: int
    turn: int
    question: str
    ward: str
    days: int


@dataclass
class Outcome:
    """What the client saw for one ask: status, body, client, queue-wait and LLM seconds,
    or an error."""

    ask: Ask
    seconds: float = 0.0
    llm_seconds: float = 0.0
    queue_seconds: float = 0.0
    own_cpu_ms: float = 0.0
    status: int = 0
    body: dict = field(default_factory=dict)
    error: str = ""


def plan_questions(ward_ids: list[str], sessions: int, turns: int) -> list[list[Ask]]:
    """Session ``i`` asks about ward ``i mod W`` over ``2 + i div W`` days, then follow-ups
    5 days longer each: every (ward, days) pair of a turn belongs to one session only."""
    w = len(ward_ids)
    if sessions > w * 20:
        raise ValueError(f"at most {w * 20} sessions have distinct questions")
    out = []
    for i in range(sessions):
        ward, days = ward_ids[i % w], 2 + i // w
        asks = [Ask(i, 0, f"How many beds will {ward} need in the next {days} days?", ward, days)]
        for t in range(1, turns):
            d = min(days + 5 * t, 28)
            asks.append(Ask(i, t, f"And for the next {d} days?", ward, d))
        out.append(asks)
    return out


def plan_warmup(
    ward_ids: list[str], turns: int, taken: set[tuple[str, int]], first: int
) -> list[Ask]:
    """``turns`` one-turn sessions (numbered from ``first``) asking about (ward, days) pairs
    not in ``taken``, the longest horizons first: the warm-up round fills no cache entry a
    measured turn would read (as many as there are free pairs)."""
    free = [(w, d) for d in range(MAX_DAYS, 0, -1) for w in ward_ids if (w, d) not in taken]
    return [
        Ask(first + i, 0, f"How many beds will {w} need in the next {d} days?", w, d)
        for i, (w, d) in enumerate(free[:turns])
    ]


def classify(o: Outcome, asks: list[Ask]) -> str:
    """``ok``, ``lost``, ``crossed`` or ``misrouted`` (the model chose another forecast, one
    that no other session asked for: a model error, not a crossed answer)."""
    if o.error or o.status != 200 or not o.body.get("choices"):
        return "lost"
    answer = o.body["choices"][0]["message"].get("content") or ""
    turn = o.body.get("wardwise") or {}
    if not answer.strip():
        return "lost"
    if turn.get("question") != o.ask.question:
        return "crossed"
    got = None
    for c in turn.get("tool_calls") or []:
        out = c.get("output") or {}
        if c.get("name") == "forecast_beds" and out.get("ok"):
            got = (out.get("ward_id"), len(out.get("days") or []))
    if got is None or got == (o.ask.ward, o.ask.days):
        return "ok" if got else "misrouted"
    others = {(a.ward, a.days) for a in asks if a.session != o.ask.session}
    return "crossed" if got in others else "misrouted"


def _session(
    urls: list[str],
    asks: list[Ask],
    start: threading.Barrier,
    timeout: float,
    out: list,
    token: str,
):
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=timeout, headers=headers) as client:
        for url in urls:  # the session's connections are open before the clock starts, as a
            client.get(f"{url}/v1/models")  # page's or an API client's kept-alive ones are
        start.wait()
        for a in asks:
            o = Outcome(a)
            url = urls[(a.session + a.turn) % len(urls)]
            t0 = time.perf_counter()
            try:
                r = client.post(
                    f"{url}/v1/chat/completions",
                    json={
                        "model": "wardwise",
                        "user": f"load-{a.session}",
                        "messages": [{"role": "user", "content": a.question}],
                    },
                )
                o.status = r.status_code
                o.body = r.json() if r.headers.get("content-type", "").startswith("app") else {}
            except httpx.HTTPError as e:
                o.error = type(e).__name__
            o.seconds = time.perf_counter() - t0
            turn = o.body.get("wardwise") or {}
            o.llm_seconds = sum(c.get("seconds") or 0.0 for c in turn.get("llm_calls") or [])
            o.queue_seconds = float((turn.get("queue") or {}).get("wait_s") or 0.0)
            o.own_cpu_ms = float(turn.get("cpu_ms") or 0.0)
            out.append(o)


def _round(urls: list[str], plan: list[list[Ask]], timeout: float, out: list, token: str):
    """One thread per session of ``plan``, started together; returns when all have finished."""
    start = threading.Barrier(len(plan))
    threads = [
        threading.Thread(target=_session, args=(urls, asks, start, timeout, out, token))
        for asks in plan
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def overhead_share(answered: list[Outcome]) -> float | None:
    """(turn time - queue wait - model time) / turn time, summed over ``answered``."""
    total = sum(o.seconds for o in answered)
    overhead = sum(max(0.0, o.seconds - o.queue_seconds - o.llm_seconds) for o in answered)
    return round(overhead / total, 4) if total else None


def _why_lost(outcomes: list[Outcome], kinds: list[str]) -> str:
    """The reasons for lost turns, counted: ``503 x3; ReadTimeout x1`` (``-`` if none)."""
    why: Counter[str] = Counter()
    for o, k in zip(outcomes, kinds, strict=False):
        if k == "lost":
            err = (o.body.get("error") or {}).get("message", "") if o.body else ""
            why[o.error or f"{o.status} {err[:60]}".strip()] += 1
    return "; ".join(f"{k} x{n}" for k, n in why.most_common()) or "-"


def _bench_user(users_url: str) -> str:
    """A nurse account in the run's private users store, signed in: the API needs a token."""
    users = UserStore(users_url, rounds=4)
    password = secrets.token_urlsafe(16)
    users.add("load-bench", password, "nurse")
    token = users.sign_in("load-bench", password).token
    users.engine.dispose()
    return token


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_steal() -> tuple[int, int] | None:
    """(steal, all) CPU ticks of the whole machine so far (Linux ``/proc/stat``), else None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
        ticks = [int(x) for x in fields[1:9]]  # user .. steal (guest time is inside user)
    except (OSError, ValueError):
        return None
    return (ticks[7], sum(ticks)) if fields[0] == "cpu" and len(ticks) == 8 else None


def steal_between(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The steal ticks' share of all ticks between two :func:`read_steal` readings."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 4)


def _cpu_total(serves: list) -> float | None:
    """The CPU seconds of all the serve processes together, or None off Linux."""
    parts = [_cpu_seconds(s.pid) for s in serves]
    return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_ready(url: str, token: str) -> Callable[[], bool]:
    """The health check of ``wardwise serve``: ``/v1/models`` answers the bench user."""
    return lambda: answers(f"{url}/v1/models", {"Authorization": f"Bearer {token}"})


def run_load(
    settings: Settings,
    sessions: int = 20,
    turns: int = 1,
    model: str = "fake",
    fake_delay: float = 0.5,
    timeout: float = 1800.0,
    replicas: int = 1,
    warmup: int | None = None,
    log=print,
) -> dict:
    """Start the model server (``fake``, ``embedded`` or a base URL) and ``replicas``
    ``wardwise serve`` processes sharing one set of stores, run the warm-up round (``warmup``
    turns at once; default: ``sessions`` with the fake model, else 0) and then the sessions,
    and return the table's row (``FIELDS`` first). Session ``i`` asks its turn ``t`` of replica
    ``(i + t) mod replicas``: a follow-up goes to another replica than the question before it."""
    from agent.bench.fakeserver import FakeServer  # heavy: fastapi
    from agent.runtime import ensure_demo  # heavy: pandas, langchain
    from knowledge.hospital import load as load_hospital  # heavy: pandas

    ensure_demo(settings, log=log)
    wards = [w.ward_id for w in load_hospital(Path(settings.data_dir)).wards]
    plan = plan_questions(wards, sessions, turns)
    if warmup is None:
        warmup = sessions if model == "fake" else 0
    if warmup < 0:
        raise ValueError("warmup must be at least 0")
    taken = {(a.ward, a.days) for asks in plan for a in asks}
    warm = [[a] for a in plan_warmup(wards, warmup, taken, first=sessions)]
    stop_model: Callable[[], None] | None = None
    if model == "fake":
        fake = FakeServer(_free_port(), delay=fake_delay)
        base_url, dialect, stop_model = fake.start(), "openai", fake.kill
    elif model == "embedded":
        base_url, dialect, embedded = connect(settings.model_copy(update={"llm_url": None}))
        stop_model = embedded.stop if embedded else None
    else:
        base_url, dialect = model, settings.llm_dialect
    if replicas < 1:
        raise ValueError("replicas must be at least 1")
    tmp = Path(tempfile.mkdtemp(prefix="wardwise-load-"))
    ports = [_free_port() for _ in range(replicas)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    env = {
        **os.environ,
        "WARDWISE_LLM_URL": base_url,
        "WARDWISE_LLM_DIALECT": dialect,
        "WARDWISE_LLM_TIMEOUT": str(timeout),
        "WARDWISE_DATA_DIR": str(settings.data_dir),
        "WARDWISE_INDEX_DIR": str(settings.index_dir),
        "WARDWISE_AUDIT_DIR": str(tmp / "audit"),
        "WARDWISE_AUDIT_URL": "",
        "WARDWISE_HISTORY_DIR": str(tmp / "history"),
        "WARDWISE_HISTORY_URL": "",
        "WARDWISE_LOG_DIR": str(tmp / "logs"),
        "WARDWISE_USERS_URL": f"sqlite:///{tmp / 'users.db'}",
    }
    if model == "embedded":  # reached by URL, but it is the one-at-a-time embedded server
        env.setdefault("WARDWISE_MAX_CONCURRENT_TURNS", "1")
    env.setdefault("WARDWISE_MAX_QUEUE_DEPTH", str(sessions))
    token = _bench_user(env["WARDWISE_USERS_URL"])
    env = {k: v for k, v in env.items() if v != ""}
    outcomes: list[Outcome] = []
    warm_outcomes: list[Outcome] = []
    serves: list = []
    cpu: list[float | None] = [None, None]
    steal: list[tuple[int, int] | None] = [None, None]
    try:
        cmd = [sys.executable, "-m", "ui.cli", "serve", "--host", "127.0.0.1"]
        for port, url in zip(ports, urls, strict=True):
            log(f"starting wardwise serve on {url} (model: {model}) ...")
            serve_log = tmp / f"serve-{port}.log"
            try:
                serves.append(
                    spawn_server(
                        [*cmd, "--port", str(port)],
                        name="wardwise serve",
                        ready_url=f"{url}/v1/models",
                        port=port,
                        env=env,
                        log_path=serve_log,
                        timeout=900,
                        ready=_serve_ready(url, token),
                    )
                )
            except ServerUnavailable as e:
                tail = serve_log.read_text(errors="replace")[-2000:] if serve_log.exists() else ""
                raise RuntimeError(f"{e}:\n{tail}") from None
            # one turn first so the forecaster's models are loaded before the clock runs
            httpx.post(
                f"{url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {token}"},
                json={"messages": [{"role": "user", "content": f"{wards[0]} next 28 days?"}]},
                timeout=timeout,
            )
        if warm:
            log(f"warm-up: {len(warm)} turns at once on conversations of their own ...")
            _round(urls, warm, timeout, warm_outcomes, token)
        log(f"{sessions} sessions x {turns} turns on {replicas} serve process(es) ...")
        cpu[0], steal[0] = _cpu_total(serves), read_steal()
        _round(urls, plan, timeout, outcomes, token)
        cpu[1], steal[1] = _cpu_total(serves), read_steal()
    finally:
        for serve in serves:
            serve.stop(grace=30)
        if stop_model is not None:
            stop_model()
    all_asks = [a for asks in plan for a in asks]
    kinds = [classify(o, all_asks) for o in outcomes]
    kinds += ["lost"] * (len(all_asks) - len(outcomes))
    answered = [o for o, k in zip(outcomes, kinds, strict=False) if k != "lost"]
    warm_asks = [a for asks in warm for a in asks]
    warm_kinds = [classify(o, warm_asks) for o in warm_outcomes]
    warm_kinds += ["lost"] * (len(warm_asks) - len(warm_outcomes))
    warm_answered = [o for o, k in zip(warm_outcomes, warm_kinds, strict=False) if k != "lost"]
    secs = np.array([o.seconds for o in answered]) if answered else np.array([np.nan])
    waits = np.array([o.queue_seconds for o in answered]) if answered else np.array([np.nan])
    audit = AuditLog(f"sqlite:///{tmp / 'audit' / 'audit.db'}")
    audit_ok, records, _ = audit.verify()
    audit.engine.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "sessions": sessions,
        "replicas": replicas,
        "lost": kinds.count("lost") + warm_kinds.count("lost"),
        "crossed": kinds.count("crossed") + warm_kinds.count("crossed"),
        "p50_s": round(float(np.percentile(secs, 50)), 3),
        "p95_s": round(float(np.percentile(secs, 95)), 3),
        "overhead_share": overhead_share(answered),
        "queue_wait_p50_s": round(float(np.percentile(waits, 50)), 3),
        "queue_wait_p95_s": round(float(np.percentile(waits, 95)), 3),
        "model": model,
        "turns": len(all_asks),
        "misrouted": kinds.count("misrouted"),
        "llm_p50_s": round(float(np.median([o.llm_seconds for o in answered] or [np.nan])), 3),
        "refused": sum(1 for o in outcomes if o.status == 429),
        "own_cpu_ms_per_turn": (
            round(float(np.mean([o.own_cpu_ms for o in answered])), 2) if answered else None
        ),
        "serve_cpu_ms_per_turn": (
            round(1000 * (cpu[1] - cpu[0]) / len(answered), 1)
            if cpu[0] is not None and cpu[1] is not None and answered
            else None
        ),
        "steal_share": steal_between(steal[0], steal[1]),
        "warmup_turns": len(warm_asks),
        "cold_overhead_share": overhead_share(warm_answered),
        "lost_why": _why_lost(
            outcomes + warm_outcomes, kinds[: len(outcomes)] + warm_kinds[: len(warm_outcomes)]
        ),
        "audit_records": records,
        "audit_chain": "intact" if audit_ok else "BROKEN",
    }
