"""The load bench: concurrent conversations against a real ``wardwise serve`` and the fake
model server; no answer lost or crossed. Timings are reported, never asserted."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ui.cli import app
from ui.load import (
    FIELDS,
    Ask,
    Outcome,
    classify,
    overhead_share,
    plan_questions,
    plan_warmup,
    read_steal,
    steal_between,
)


def test_bench_load_cli_loses_and_crosses_nothing(serve_home, monkeypatch):
    """Two serve processes on one set of stores: each follow-up goes to the other replica
    than the question before it, and still answers from the session's own history."""
    for key in ("WARDWISE_DATA_DIR", "WARDWISE_INDEX_DIR", "WARDWISE_HOME"):
        monkeypatch.setenv(key, serve_home[key])
    args = ["bench", "load", "--sessions", "6", "--turns", "2", "--fake-delay", "0.2"]
    r = CliRunner().invoke(app, [*args, "--replicas", "2", "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout.strip().splitlines()[-1])
    assert list(row) == list(FIELDS)
    assert row["sessions"] == 6 and row["lost"] == 0 and row["crossed"] == 0
    assert row["replicas"] == 2
    assert 0 < row["p50_s"] <= row["p95_s"] and 0 < row["overhead_share"] < 1
    assert row["own_cpu_ms_per_turn"] > 0  # the turns' own CPU, reported by serve
    # the fake model's default warm-up round: as many turns as sessions, reported apart
    assert row["warmup_turns"] == 6 and 0 < row["cold_overhead_share"] < 1
    assert row["steal_share"] is None or 0 <= row["steal_share"] < 1  # None off Linux


def test_steal_share_is_the_steal_ticks_share_between_two_readings():
    assert steal_between((10, 1000), (40, 1600)) == 0.05
    assert steal_between(None, (40, 1600)) is None and steal_between((1, 9), (1, 9)) is None
    now = read_steal()  # this machine's /proc/stat (Linux), read the way the bench reads it
    assert now is None or 0 <= now[0] <= now[1]


def test_the_warm_up_round_asks_nothing_a_measured_turn_asks():
    """Its (ward, days) pairs are outside the plan's, so it caches no measured forecast; its
    sessions are numbered after the plan's, so its conversations are its own."""
    wards = ["ICU", "CARD", "PED"]
    plan = plan_questions(wards, sessions=10, turns=4)
    taken = {(a.ward, a.days) for s in plan for a in s}
    warm = plan_warmup(wards, 10, taken, first=10)
    pairs = [(a.ward, a.days) for a in warm]
    assert len(warm) == 10 and len(set(pairs)) == 10 and not set(pairs) & taken
    assert [a.session for a in warm] == list(range(10, 20))
    assert all(1 <= d <= 28 for _, d in pairs)
    assert len(plan_warmup(["ICU"], 100, taken, first=1)) == 28 - len(
        {d for w, d in taken if w == "ICU"}
    )  # no more than the free pairs
    assert plan_warmup(wards, 0, taken, first=10) == []


def test_overhead_share_is_the_turns_time_outside_queue_and_model():
    a = plan_questions(["ICU"], sessions=1, turns=1)[0][0]
    turns = [Outcome(a, seconds=2.0, queue_seconds=0.5, llm_seconds=1.0),
             Outcome(a, seconds=1.0, queue_seconds=0.0, llm_seconds=1.2)]  # fmt: skip
    assert overhead_share(turns) == round(0.5 / 3.0, 4)  # the second's negative rest counts 0
    assert overhead_share([]) is None


def _answered(ask: Ask, ward: str, days: int, question: str | None = None) -> Outcome:
    body = {
        "choices": [{"message": {"content": "an answer"}}],
        "wardwise": {
            "question": question or ask.question,
            "tool_calls": [
                {
                    "name": "forecast_beds",
                    "output": {"ok": True, "ward_id": ward, "days": [{}] * days},
                }
            ],
        },
    }
    return Outcome(ask, seconds=1.0, status=200, body=body)


def test_classify_tells_crossed_from_lost_and_misrouted():
    plan = plan_questions(["ICU", "CARD", "PED"], sessions=4, turns=2)
    asks = [a for s in plan for a in s]
    mine, other = plan[0][1], plan[1][1]
    assert len({(a.ward, a.days, a.turn) for a in asks}) == len(asks)  # pairs are unique
    assert classify(_answered(mine, mine.ward, mine.days), asks) == "ok"
    assert classify(_answered(mine, other.ward, other.days), asks) == "crossed"
    first, others_first = plan[0][0], plan[1][0]  # first questions are unique texts
    assert classify(_answered(first, first.ward, first.days, others_first.question), asks) == (
        "crossed"
    )
    assert classify(_answered(mine, "ORTH", 3), asks) == "misrouted"
    assert classify(Outcome(mine, status=503), asks) == "lost"
    assert classify(Outcome(mine, error="ReadTimeout"), asks) == "lost"
