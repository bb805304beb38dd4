"""Two ``wardwise serve`` replicas on two ports, sharing one PostgreSQL database (users and
sign-in sessions, chat history, audit trail) and one Chroma server (``chroma run``, the case
index), with the scripted fake model server: all real processes, started and stopped here.

The test signs in on one replica and continues the conversation on the other, runs 20
concurrent conversations whose turns alternate between the replicas, then SIGKILLs one
replica while turns are in flight on it (each has its ``turn_start`` audit record, none its
answer), asks those turns again on the survivor, and shows: no answered turn lost (each is in
the shared history and the audit, once), no conversation crossed, tokens valid on both
replicas, and one audit chain, written by both processes at once, that ``wardwise audit
verify`` accepts."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from agent.app.audit import AuditLog, digest
from agent.app.audit import records as audit_records
from agent.app.auth import UserStore
from agent.app.history import ChatHistory
from agent.bench.fakeserver import FakeServer
from tests.conftest import PASSWORD, SERVE_USER, Serve, free_port
from ui.load import Ask, Outcome, classify, plan_questions

pytestmark = pytest.mark.slow

# seconds per call of the fake model: a turn stays in flight at least this long after its
# ``turn_start`` record, long enough to kill a replica mid-turn
DELAY = 1.5
SESSIONS, TURNS = 20, 2
WARDS = ["ICU", "HDU", "CARD", "RESP", "SURG", "ORTH", "PED"]  # the demo hospital's
CHEST = "Find similar cases: crushing chest pain radiating to the left arm, sweating"


# --------------------------------------------------------------------------- the servers


class Chroma:
    """A real Chroma server (``chroma run``) on a free port, its data in ``folder``; started
    first and waited for last, so it boots while the other servers do."""

    def __init__(self, folder: Path):
        exe = Path(sys.executable).with_name("chroma")
        if not exe.exists():
            exe = Path(shutil.which("chroma") or "chroma")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with (folder / "chroma.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [str(exe), "run", "--path", str(folder / "chroma"), "--host", "127.0.0.1",
                 "--port", str(port)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def wait(self, timeout: float = 240) -> str:
        """Its URL once its heartbeat answers (a loaded 2-core machine takes a minute)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=2).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, "chroma run exited"
            assert time.monotonic() < deadline, "chroma run did not start"
            time.sleep(0.3)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture()
def chroma(tmp_path_factory):
    """:class:`Chroma`, started (not yet waited for)."""
    server = Chroma(tmp_path_factory.mktemp("chroma"))
    yield server
    server.stop()


@pytest.fixture()
def shared_db(postgres):
    """A fresh database in the throwaway cluster, shared by the users, history and audit."""
    name = f"replicas_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return postgres.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture()
def replicas(chroma, serve_home, shared_db, tmp_path):
    """Two ``wardwise serve`` processes on one environment (started together), and it."""
    from agent.app.settings import Settings
    from agent.runtime import build_index
    from knowledge.cases_demo import generate_cases
    from knowledge.records import write_cases

    fake = FakeServer(free_port(), delay=DELAY, log_path=tmp_path / "fake.log")
    llm_url = fake.start()
    a, b = Serve({}, tmp_path / "a.log"), Serve({}, tmp_path / "b.log")
    try:
        chroma_url = chroma.wait()
        data = Path(serve_home["WARDWISE_DATA_DIR"])
        write_cases(data / "cases.jsonl", generate_cases(60, seed=3, end=date(2025, 6, 30)))
        build_index(Settings(data_dir=data, chroma_url=chroma_url), log=lambda _: None)
        users = UserStore(shared_db, rounds=4)
        users.add(SERVE_USER, PASSWORD, "clinician")
        users.engine.dispose()
        env = {
            **serve_home,
            "WARDWISE_USERS_URL": shared_db,
            "WARDWISE_HISTORY_URL": shared_db,
            "WARDWISE_AUDIT_URL": shared_db,
            "WARDWISE_CHROMA_URL": chroma_url,
            "WARDWISE_LLM_URL": llm_url,
            "WARDWISE_LLM_DIALECT": "openai",
        }
        a.env = b.env = env
        with ThreadPoolExecutor(2) as pool:  # both open (and migrate) the stores at once
            for started in [pool.submit(s.start, 600) for s in (a, b)]:
                started.result()
        yield a, b, env
    finally:
        a.kill()
        b.kill()
        fake.kill()


# --------------------------------------------------------------------------- the client


def _login(replica: Serve) -> str:
    r = httpx.post(
        f"{replica.url}/v1/login", json={"username": SERVE_USER, "password": PASSWORD}, timeout=60
    )
    assert r.status_code == 200, r.text
    return r.json()["token"]


def _valid(replica: Serve, token: str) -> bool:
    r = httpx.get(
        f"{replica.url}/v1/models", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def _ask(replica: Serve, token: str, ask: Ask, user: str) -> Outcome:
    """One turn of conversation ``user`` on ``replica``, as the client saw it."""
    o = Outcome(ask)
    t0 = time.perf_counter()
    try:
        r = httpx.post(
            f"{replica.url}/v1/chat/completions",
            json={"user": user, "messages": [{"role": "user", "content": ask.question}]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=300,
        )
        o.status = r.status_code
        o.body = r.json() if r.headers.get("content-type", "").startswith("app") else {}
    except httpx.HTTPError as e:  # a replica killed mid-turn: the connection drops
        o.error = type(e).__name__
    o.seconds = time.perf_counter() - t0
    return o


def _forecast(o: Outcome) -> tuple[str, int] | None:
    for c in (o.body.get("wardwise") or {}).get("tool_calls") or []:
        out = c.get("output") or {}
        if c.get("name") == "forecast_beds" and out.get("ok"):
            return out.get("ward_id"), len(out.get("days") or [])
    return None


def _answer(o: Outcome) -> str:
    return o.body["choices"][0]["message"]["content"]


def _session(user: str) -> str:
    return f"api:{SERVE_USER}:{user}"[:80]  # the id ``wardwise serve`` keeps a conversation by


# --------------------------------------------------------------------------- the test


def test_two_replicas_share_sessions_history_cases_and_one_audit_chain(replicas, tmp_path):
    a, b, env = replicas
    db = env["WARDWISE_AUDIT_URL"]
    answered: dict[str, list[tuple[str, str]]] = {}  # conversation -> its answered turns

    def keep(user: str, o: Outcome) -> None:
        if o.status == 200:
            answered.setdefault(_session(user), []).append((o.ask.question, _answer(o)))

    # 1. sign in on A, continue on B: the token and the conversation are the shared stores'
    token = _login(a)
    assert _valid(b, token) and _valid(a, b.token)
    first = Ask(0, 0, "How many beds will ICU need in the next 3 days?", "ICU", 3)
    o = _ask(a, token, first, "handover")
    keep("handover", o)
    assert o.status == 200 and _forecast(o) == ("ICU", 3), o.body
    follow = Ask(0, 1, "And for the next 8 days?", "ICU", 8)  # names no ward: B needs A's turn
    o = _ask(b, token, follow, "handover")
    keep("handover", o)
    assert o.status == 200 and _forecast(o) == ("ICU", 8), o.body
    # the case index is the shared Chroma server
    o = _ask(b, token, Ask(0, 0, CHEST, "", 0), "cases")
    keep("cases", o)
    calls = o.body["wardwise"]["tool_calls"]
    assert [c["name"] for c in calls] == ["similar_cases"] and calls[0]["output"]["ok"], o.body
    # signing out on B ends the session on A too
    other = _login(a)
    assert _valid(b, other)
    r = httpx.post(f"{b.url}/v1/logout", headers={"Authorization": f"Bearer {other}"}, timeout=60)
    assert r.status_code == 200 and not _valid(a, other) and not _valid(b, other)

    # 2. 20 concurrent conversations, turn t of conversation i on replica (i + t) mod 2
    plan = plan_questions(WARDS, SESSIONS, TURNS)
    outcomes: list[Outcome] = []
    start = threading.Barrier(SESSIONS)

    refused: list[str] = []  # 503: the turn's model call failed; the user asks again

    def converse(asks: list[Ask]) -> None:
        start.wait()
        for ask in asks:
            user = f"load-{ask.session}"
            o = _ask((a, b)[(ask.session + ask.turn) % 2], token, ask, user)
            if o.status == 503:
                refused.append(o.body["error"]["message"])
                o = _ask((a, b)[(ask.session + ask.turn + 1) % 2], token, ask, user)
            keep(user, o)
            outcomes.append(o)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=converse, args=(asks,)) for asks in plan]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load_s = time.perf_counter() - t0
    all_asks = [x for asks in plan for x in asks]
    kinds = [classify(o, all_asks) for o in outcomes]
    assert len(outcomes) == SESSIONS * TURNS
    assert kinds.count("ok") == len(kinds), [
        (o.ask.question, o.status, o.error, o.body, k)
        for o, k in zip(outcomes, kinds, strict=True)
        if k != "ok"
    ]
    print(f"{SESSIONS} sessions x {TURNS} turns over two replicas: {load_s:.1f} s; refused")
    print(f"and asked again: {len(refused)} {sorted(set(refused))}")

    # 3. SIGKILL B while turns are in flight on it: started (their ``turn_start`` audit
    #    record written), not answered
    victims = [Ask(100 + j, 0, f"How many beds will {w} need in the next 4 days?", w, 4)
               for j, w in enumerate(WARDS[:4])]  # fmt: skip
    survivors = [Ask(200 + j, 0, f"How many beds will {w} need in the next 6 days?", w, 6)
                 for j, w in enumerate(WARDS[:3])]  # fmt: skip
    flight: dict[int, Outcome] = {}

    def fly(replica: Serve, ask: Ask) -> None:
        user = f"kill-{ask.session}"
        o = _ask(replica, token, ask, user)
        keep(user, o)
        flight[ask.session] = o

    threads = [threading.Thread(target=fly, args=(b, x)) for x in victims]
    threads += [threading.Thread(target=fly, args=(a, x)) for x in survivors]
    for t in threads:
        t.start()
    audit = sa.create_engine(db)
    on_b = [_session(f"kill-{x.session}") for x in victims]
    started_q = sa.select(audit_records.c.session).where(
        audit_records.c.kind == "turn_start", audit_records.c.session.in_(on_b)
    )
    deadline = time.monotonic() + 300
    with audit.connect() as c:
        # all four started, or one already answered (a loaded machine staggers them)
        while len(started := set(c.execute(started_q).scalars())) < len(victims):
            if any(x.session in flight for x in victims):
                break
            assert time.monotonic() < deadline, "the turns on B never started"
            time.sleep(0.05)
            c.rollback()
    b.kill()  # SIGKILL: no shutdown handler runs
    for t in threads:
        t.join()
    assert all(flight[x.session].status == 200 for x in survivors)
    dropped = [x for x in victims if flight[x.session].status != 200]
    cut = [x for x in dropped if flight[x.session].error]  # a dropped connection, no reply
    refused += [flight[x.session].body["error"]["message"] for x in dropped if x not in cut]
    mid_turn = [x for x in cut if _session(f"kill-{x.session}") in started]
    assert mid_turn, [flight[x.session] for x in victims]  # killed with a turn in flight
    assert all(flight[x.session].status == 503 for x in dropped if x not in cut)
    # the user asks again; the survivor answers, with the same token
    assert _valid(a, token) and _valid(a, b.token)
    for x in dropped:
        o = _ask(a, token, x, f"kill-{x.session}")
        keep(f"kill-{x.session}", o)
        assert o.status == 200 and _forecast(o) == (x.ward, x.days), o.body
    print(f"killed B with {len(mid_turn)} turns in flight; asked again on A; refused: {refused}")

    # 4. no answered turn lost, none crossed: the shared history holds every answered turn
    #    of each conversation, in order, once, and nothing of the killed attempts
    history = ChatHistory(db)
    for session, turns in answered.items():
        assert history.recent(session, 50) == turns, session
    history.engine.dispose()

    # 5. one audit chain, written by both replicas at once: every answered turn is in it
    log = AuditLog(db)
    rows = log.rows()
    done = {(r["session"], r["payload"]) for r in rows if r["kind"] == "turn"}
    audited = [
        (session, digest(answer)["sha256"])
        for session, turns in answered.items()
        for _, answer in turns
    ]
    assert all(any(s == session and sha in p for s, p in done) for session, sha in audited)
    for x in victims:  # a killed attempt has its ``turn_start`` only; every answer its ``turn``
        session = _session(f"kill-{x.session}")
        kinds = [r["kind"] for r in rows if r["session"] == session]
        if x in dropped and x not in cut:  # refused (503): audited as a failed turn
            assert kinds == ["turn_start", "turn", "turn_start", "turn"], kinds
            continue
        attempts = {2} if x in mid_turn else {1, 2} if x in cut else {1}
        assert kinds.count("turn_start") in attempts and kinds.count("turn") == 1, kinds
    ok, n, message = log.verify()
    assert ok and n == len(rows), message
    log.engine.dispose()
    audit.dispose()
    verify = subprocess.run(
        [sys.executable, "-m", "ui.cli", "audit", "verify"],
        env={**env, "WARDWISE_AUDIT_URL": db},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"{n} records, chain intact" in verify.stdout
