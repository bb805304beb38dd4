"""The bed-and-nurse MILP, solved for real on instances whose optimum is known by hand."""

from __future__ import annotations

import json
import random
from datetime import date

import pytest

from agent.grounding import check
from knowledge.hospital import Ward
from tools.allocation import PlanCosts, PlanResult, StaffRules, solve_plan, solve_robust
from tools.allocation.solver import read_cbc_log
from tools.result import ToolError

START = date(2026, 12, 1)  # a Tuesday
SOLVERS = ["cbc", "highs"]
RN_ONLY = StaffRules(assistant_ratio={})  # most hand-made instances leave assistants out


def ward(
    ward_id: str,
    ward_type: str = "general",
    *,
    beds: int = 10,
    surge: int = 0,
    rn: int = 5,
    ratio: int = 4,
) -> Ward:
    return Ward(
        ward_id=ward_id,
        name_en=f"{ward_id} ward",
        name_zh=f"{ward_id}病房",
        ward_type=ward_type,
        beds=beds,
        surge_beds=surge,
        rn_per_shift=rn,
        nurse_ratio=ratio,
    )


def plan(wards, demand, **kw) -> PlanResult:
    kw.setdefault("rules", RN_ONLY)
    return solve_plan(wards, demand, START, **kw)


def assert_optimal(result: PlanResult, objective: float) -> None:
    assert result.status == "optimal"
    assert result.gap is not None and result.gap <= 1e-4
    assert result.objective == pytest.approx(objective, abs=1e-6)


def row(result: PlanResult, ward_id: str, day: int = 0):
    return next(r for r in result.rows if r.ward_id == ward_id and (r.date - START).days == day)


def assert_grounded(result) -> None:
    """Every number of the summary and the quotable sentences is one of the result's facts."""
    facts = [f.model_dump() for f in result.facts]
    text = " ".join([result.summary, *getattr(result, "explanation", [])])
    report = check(text, facts, "", [json.dumps(result.model_dump(mode="json"))])
    assert report.grounded, (report.ungrounded, text)


# --- optimum by hand ------------------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_surge_only_when_beds_run_out_then_unmet(solver):
    # 10 beds + 2 surge, 3 RNs x 4 patients = 12 patients per shift.
    # Day 1: 8 patients, cost 0. Day 2: 11 -> one surge bed, 10. Day 3: 14 -> two surge beds
    # and 2 patients turned away, 20 + 200. Total 230.
    result = plan([ward("A", beds=10, surge=2, rn=3)], {"A": [8, 11, 14]}, solver=solver)
    assert_optimal(result, 230.0)
    assert result.solver == solver
    assert [r.beds_open for r in result.rows] == [8, 10, 10]
    assert [r.surge_open for r in result.rows] == [0, 1, 2]
    assert [r.unmet for r in result.rows] == [0, 0, 2]
    assert [r.nurses["night"] for r in result.rows] == [2, 3, 3]
    assert any("A has every bed full" in s and "2026-12-03" in s for s in result.binding)
    # One more bed every day: day 2 needs no surge bed (-10); day 3 serves 13 patients with
    # 11 + 2 beds and one overtime RN per shift (20 + 60 + 100 instead of 20 + 200): -40.
    bed = next(m for m in result.marginal if m.resource == "bed")
    assert bed.ward_id == "A" and bed.saving == pytest.approx(50.0)
    assert_grounded(result)


@pytest.mark.parametrize("solver", SOLVERS)
def test_transfer_to_compatible_ward_instead_of_unmet(solver):
    # A has 5 beds for 7 patients; B (same type) has 7 free beds; the ICU has room but is
    # not compatible. Moving 2 patients costs 2 x 5 = 10, turning them away 200.
    wards = [ward("A", beds=5), ward("B", beds=10), ward("ICU", "icu", beds=10, ratio=2)]
    result = plan(wards, {"A": [7], "B": [3], "ICU": [0]}, solver=solver)
    assert_optimal(result, 10.0)
    a, b, icu = row(result, "A"), row(result, "B"), row(result, "ICU")
    assert (a.transfers_out, a.unmet, a.beds_open) == (2, 0, 5)
    assert (b.transfers_in, b.beds_open, b.nurses["day"]) == (2, 5, 2)
    assert (icu.transfers_in, icu.beds_open) == (0, 0)


def test_transfer_is_preferred_to_surge_only_while_it_is_cheaper():
    wards = [ward("A", beds=5, surge=2), ward("B", beds=10)]
    demand = {"A": [7], "B": [3]}
    cheap_transfer = plan(wards, demand)
    assert_optimal(cheap_transfer, 10.0)  # 2 transfers x 5 < 2 surge beds x 10
    assert row(cheap_transfer, "A").transfers_out == 2

    dear_transfer = plan(wards, demand, costs=PlanCosts(transfer=50.0))
    assert_optimal(dear_transfer, 20.0)  # 2 surge beds x 10
    a = row(dear_transfer, "A")
    assert (a.surge_open, a.transfers_out, a.unmet) == (2, 0, 0)


def test_unmet_when_no_bed_is_left_anywhere():
    # A: 5 beds + 1 surge for 9 patients; B is full. 3 unmet x 100 + 1 surge x 10 = 310.
    wards = [ward("A", beds=5, surge=1), ward("B", beds=3)]
    result = plan(wards, {"A": [9], "B": [3]})
    assert_optimal(result, 310.0)
    a = row(result, "A")
    assert (a.beds_open, a.surge_open, a.transfers_out, a.unmet) == (5, 1, 0, 3)
    by_label = {f.label: f.value for f in result.facts}
    assert by_label["total unmet patient-days"] == 3
    assert by_label["unmet patient-days, A"] == 3


def test_no_compatible_ward_means_unmet():
    wards = [ward("A", beds=5), ward("B", beds=10)]
    result = plan(wards, {"A": [7], "B": [3]}, compatible={})
    assert_optimal(result, 200.0)
    assert row(result, "A").unmet == 2


@pytest.mark.parametrize("solver", SOLVERS)
def test_icu_ratio_two_with_nine_patients_needs_five_rns_every_shift(solver):
    # 4 rostered RNs; 9 patients at 1 RN per 2 need 5 RNs: one overtime RN on each of the
    # three shifts, 3 x 20 = 60.
    icu = ward("ICU", "icu", beds=12, rn=4, ratio=2)
    result = plan([icu], {"ICU": [9]}, solver=solver)
    assert_optimal(result, 60.0)
    r = result.rows[0]
    assert r.nurses == {"day": 5, "evening": 5, "night": 5}
    assert r.overtime == {"day": 1, "evening": 1, "night": 1}
    assert r.unmet == 0
    assert any("ICU needs more RNs than are rostered" in s for s in result.binding)


def test_ratio_per_ward_type_is_configurable():
    # The same 9 ICU patients at 1 RN per 3 (a configured ratio) need 3 RNs: no overtime.
    icu = ward("ICU", "icu", beds=12, rn=4, ratio=2)
    rules = StaffRules(assistant_ratio={}, rn_ratio={"icu": 3})
    result = plan([icu], {"ICU": [9]}, rules=rules)
    assert_optimal(result, 0.0)
    assert result.rows[0].nurses["day"] == 3


def test_shifts_are_configurable():
    icu = ward("ICU", "icu", beds=12, rn=4, ratio=2)
    result = plan([icu], {"ICU": [9]}, shifts=("day", "night"))
    assert_optimal(result, 40.0)
    assert result.rows[0].nurses == {"day": 5, "night": 5}


def test_rn_cap_without_overtime_leaves_patients_unmet():
    # Only 4 RNs and no overtime: 8 patients can be nursed, the 9th is unmet (100).
    icu = ward("ICU", "icu", beds=12, rn=4, ratio=2)
    result = plan([icu], {"ICU": [9]}, max_overtime_rn=0)
    assert_optimal(result, 100.0)
    assert result.rows[0].unmet == 1
    assert any("ICU has every available RN on duty" in s for s in result.binding)


def test_assistants_have_their_own_ratio_and_overtime():
    # 12 patients at 1 assistant per 8 need 2 assistants each shift; 1 is available, so one
    # overtime assistant per shift: 3 x 12 = 36. RNs: 12 / 4 = 3 of 5, no overtime.
    rules = StaffRules(assistant_ratio={"general": 8}, assistants_per_shift={"A": 1})
    result = plan([ward("A", beds=14)], {"A": [12]}, rules=rules)
    assert_optimal(result, 36.0)
    r = result.rows[0]
    assert r.assistants == {"day": 2, "evening": 2, "night": 2}
    assert r.assistant_overtime == {"day": 1, "evening": 1, "night": 1}
    assert r.overtime == {"day": 0, "evening": 0, "night": 0}


def test_consecutive_days_rule_links_the_days():
    # One day shift needing 2 RNs on each of 6 days (8 patients, 1 RN per 4). The pool has
    # 2 RNs who may work at most 2 days in a row, so any 3 days hold at most 4 of their
    # shifts: days 1-3 and 4-6 give at most 8 of the 12 shifts; 4 overtime shifts, 80.
    rules = StaffRules(assistant_ratio={}, max_consecutive=2, rn_headcount={"A": 2})
    result = plan([ward("A", rn=2)], {"A": [8] * 6}, shifts=("day",), rules=rules)
    assert_optimal(result, 80.0)
    assert sum(r.overtime["day"] for r in result.rows) == 4
    assert any("consecutive working days binds for A" in s for s in result.binding)
    assert result.method == "whole"  # the window rows bind, so the days are solved together
    # without the rule (or with a big enough pool) the roster covers every shift
    roomy = plan([ward("A", rn=2)], {"A": [8] * 6}, shifts=("day",))
    assert_optimal(roomy, 0.0)


def test_plan_cost_recomputed_from_the_rows_matches_the_objective():
    wards, demand = hospital_week()
    result = solve_plan(wards, demand, START)
    c = PlanCosts()
    cost = sum(
        c.shortage * r.unmet
        + c.surge * r.surge_open
        + c.transfer * r.transfers_out
        + c.overtime * sum(r.overtime.values())
        + c.overtime_assistant * sum(r.assistant_overtime.values())
        for r in result.rows
    )
    assert result.objective == pytest.approx(cost, abs=1e-6)
    for r in result.rows:  # every shift has the nurses its ratio needs, no more
        w = next(x for x in wards if x.ward_id == r.ward_id)
        served = r.demand - r.unmet - r.transfers_out + r.transfers_in
        assert r.beds_open + r.surge_open == served
        assert r.surge_open <= w.surge_beds and r.beds_open <= w.beds
        assert all(n * w.nurse_ratio >= served for n in r.nurses.values())
        assert all((n - 1) * w.nurse_ratio < served for n in r.nurses.values() if n)


# --- robust ---------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_robust_plan_opens_the_beds_brute_force_says(solver):
    # One ward, one day; beds are opened before demand is known: 4 or 8 patients, equally
    # likely. An empty opened bed costs 25, a patient without a bed 100 (no other costs bind:
    # 5 RNs x 4 cover 20 patients). Brute force over the beds opened.
    costs = PlanCosts(idle=25.0)

    def expected(b: int) -> float:
        return sum(0.5 * (25 * max(0, b - d) + 100 * max(0, d - b)) for d in (4, 8))

    best = min(expected(b) for b in range(11))
    result = solve_robust(
        [ward("A", beds=10)],
        {"low": {"A": [4]}, "high": {"A": [8]}},
        START,
        costs=costs,
        rules=RN_ONLY,
        solver=solver,
    )
    assert_optimal(result, best)
    assert {r.scenario for r in result.rows} == {"low", "high"}
    assert all(r.beds_open == 8 for r in result.rows)  # the same beds in every scenario
    worst = solve_robust(
        [ward("A", beds=10)],
        {"low": {"A": [4]}, "high": {"A": [8]}},
        START,
        costs=costs,
        rules=RN_ONLY,
        objective="worst",
    )
    # min over b of max(25 (b - 4), 100 (8 - b) + 0) -> b = 8 costs 100
    assert_optimal(worst, min(max(25 * max(0, b - 4), 100 * max(0, 8 - b)) for b in range(11)))
    assert_grounded(result)


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"demand": {"A": [1], "NOPE": [1]}}, "unknown_ward"),
        ({"demand": {"A": [1, -2]}}, "bad_input"),
        ({"demand": {"A": [1, 2], "B": [1]}}, "bad_input"),
        ({"demand": {"A": [1.5]}}, "bad_input"),
        ({"demand": {}}, "bad_input"),
        ({"solver": "gurobi"}, "bad_input"),
        ({"max_overtime_rn": -1}, "bad_input"),
        ({"time_limit": 0}, "bad_input"),
        ({"shifts": ()}, "bad_input"),
        ({"compatible": {"A": ["ZZ"]}}, "unknown_ward"),
        ({"compatible": {"ICU": ["A"]}}, "bad_input"),  # an ICU never sends to general
        ({"rules": StaffRules(rn_ratio={"5B": 3})}, "unknown_ward"),
        ({"rules": StaffRules(rn_headcount={"A": -1})}, "bad_input"),
        ({"rules": StaffRules(rn_ratio={"icu": 0})}, "bad_input"),
    ],
)
def test_bad_input_raises_tool_error(kwargs, code):
    args = {
        "wards": [ward("A"), ward("B"), ward("ICU", "icu", ratio=2)],
        "demand": {"A": [1], "B": [1]},
        "start": START,
    }
    args.update(kwargs)
    with pytest.raises(ToolError) as err:
        solve_plan(**args)
    assert err.value.code == code
    assert err.value.message


def test_negative_capacity_is_bad_input():
    broken = ward("A").model_copy(update={"beds": -3})
    with pytest.raises(ToolError) as err:
        solve_plan([broken], {"A": [1]}, START)
    assert err.value.code == "bad_input"
    assert "A" in err.value.message and "beds" in err.value.message


# --- reading: summary, facts, speed --------------------------------------------------------


def hospital_week() -> tuple[list[Ward], dict[str, list[int]]]:
    wards = [
        ward("ICU", "icu", beds=12, surge=2, rn=6, ratio=2),
        ward("ICU2", "icu", beds=8, rn=4, ratio=2),
        ward("SD", "stepdown", beds=20, surge=4, rn=5),
        ward("CARD", beds=34, surge=4, rn=6, ratio=6),
        ward("MED", beds=40, surge=6, rn=7, ratio=6),
        ward("SURG", beds=30, surge=4, rn=5, ratio=6),
        ward("ORTH", beds=24, surge=2, rn=4, ratio=6),
    ]
    rng = random.Random(0)
    demand = {
        w.ward_id: [rng.randint(int(w.beds * 0.7), int(w.beds * 1.3)) for _ in range(7)]
        for w in wards
    }
    return wards, demand


def test_week_of_seven_wards_reads_well_in_few_grounded_facts():
    wards, demand = hospital_week()
    result = solve_plan(wards, demand, START, solver="cbc", quantile=0.8)
    assert result.status == "optimal" and result.gap is not None and result.gap <= 1e-4
    assert len(result.rows) == 7 * 7
    assert 0 < len(result.explanation) <= 5

    assert result.summary.count(". ") == 0 and result.summary.endswith(".")
    assert "P80" in result.summary
    assert len(result.facts) <= 15
    labels = {f.label for f in result.facts}
    assert {
        "total plan cost",
        "total unmet patient-days",
        "surge bed-days opened, total",
        "overtime RN shifts, total",
        "forecast quantile planned for",
    } <= labels
    by_label = {f.label: f.value for f in result.facts}
    assert by_label["total unmet patient-days"] == sum(r.unmet for r in result.rows)
    shortfall = [f for f in result.facts if f.label.startswith("unmet patient-days, ")]
    assert 1 <= len(shortfall) <= 3
    worst = max(wards, key=lambda w: sum(r.unmet for r in result.rows if r.ward_id == w.ward_id))
    assert shortfall[0].label == f"unmet patient-days, {worst.ward_id}"
    assert any(f.label.startswith("cost saved by one more") for f in result.facts)
    assert result.reading()["explanation"] == result.explanation
    assert_grounded(result)


def test_cbc_and_highs_agree_on_the_week():
    wards, demand = hospital_week()
    cbc = solve_plan(wards, demand, START, solver="cbc", explain=False)
    highs = solve_plan(wards, demand, START, solver="highs", explain=False)
    assert cbc.status == highs.status == "optimal"
    assert highs.objective == pytest.approx(cbc.objective, abs=1e-6)


def test_cbc_log_time_limit_is_not_optimal():
    log = """
Result - Stopped on time limit

Objective value:                4743.00000000
Lower bound:                    4662.339
Gap:                            0.02
Enumerated nodes:               1
"""
    assert read_cbc_log(log) == ("time_limit", 4662.339)
    assert read_cbc_log("Result - Optimal solution found\n") == ("optimal", None)
    assert read_cbc_log("Problem is infeasible - 0.00 seconds\n") == ("infeasible", None)


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_spent_time_limit_is_never_passed_off_as_optimal(solver):
    from tools.allocation.bench import bench_instance

    wards, demand, compat, rules, _ = bench_instance(30, 14)
    try:
        result = solve_plan(
            wards,
            demand,
            START,
            rules=rules,
            compatible=compat,
            solver=solver,
            time_limit=0.2,
            explain=False,
        )
    except ToolError as err:
        assert err.code == "no_solution"
        assert "status" in err.message and err.hint
    else:
        assert result.status != "optimal"
        assert "time limit" in result.summary
