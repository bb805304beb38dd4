"""The bed-and-nurse MILP, solved for real on instances small enough to optimise by hand."""

from __future__ import annotations

import random
from datetime import date

import pytest

from knowledge.hospital import Ward
from tools.allocation import PlanCosts, PlanResult, _combine, _Outcome, _read_cbc_log, solve_plan
from tools.result import ToolError

START = date(2026, 12, 1)
SOLVERS = ["cbc", "highs"]


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


def assert_optimal(result: PlanResult, objective: float) -> None:
    assert result.status == "optimal"
    assert result.gap is not None and result.gap <= 1e-6
    assert result.objective == pytest.approx(objective, abs=1e-6)


def row(result: PlanResult, ward_id: str, day: int = 0):
    return next(r for r in result.rows if r.ward_id == ward_id and (r.date - START).days == day)


# --- optimum by hand ------------------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_surge_only_when_beds_run_out_then_unmet(solver):
    # 10 beds + 2 surge, 3 RNs x 4 patients = 12 patients per shift.
    # Day 1: 8 patients, cost 0. Day 2: 11 -> one surge bed, 10. Day 3: 14 -> two surge beds
    # and 2 patients turned away, 20 + 200. Total 230.
    result = solve_plan(
        [ward("A", beds=10, surge=2, rn=3)], {"A": [8, 11, 14]}, START, solver=solver
    )
    assert_optimal(result, 230.0)
    assert result.solver == solver
    assert [r.beds_open for r in result.rows] == [8, 10, 10]
    assert [r.surge_open for r in result.rows] == [0, 1, 2]
    assert [r.unmet for r in result.rows] == [0, 0, 2]
    assert [r.nurses["night"] for r in result.rows] == [2, 3, 3]
    assert "A is at full physical capacity (10 beds + 2 surge beds) on 2026-12-03" in result.binding
    assert any("A uses all 10 regular beds" in b and "2026-12-02" in b for b in result.binding)


@pytest.mark.parametrize("solver", SOLVERS)
def test_transfer_to_compatible_ward_instead_of_unmet(solver):
    # A has 5 beds for 7 patients; B (same type) has 7 free beds; the ICU has room but is
    # not compatible. Moving 2 patients costs 2 x 5 = 10, turning them away 200.
    wards = [ward("A", beds=5), ward("B", beds=10), ward("ICU", "icu", beds=10, ratio=2)]
    result = solve_plan(wards, {"A": [7], "B": [3], "ICU": [0]}, START, solver=solver)
    assert_optimal(result, 10.0)
    a, b, icu = row(result, "A"), row(result, "B"), row(result, "ICU")
    assert (a.transfers_out, a.unmet, a.beds_open) == (2, 0, 5)
    assert (b.transfers_in, b.beds_open, b.nurses["day"]) == (2, 5, 2)
    assert (icu.transfers_in, icu.beds_open) == (0, 0)


def test_transfer_is_preferred_to_surge_only_while_it_is_cheaper():
    wards = [ward("A", beds=5, surge=2), ward("B", beds=10)]
    demand = {"A": [7], "B": [3]}
    cheap_transfer = solve_plan(wards, demand, START)
    assert_optimal(cheap_transfer, 10.0)  # 2 transfers x 5 < 2 surge beds x 10
    assert row(cheap_transfer, "A").transfers_out == 2

    dear_transfer = solve_plan(wards, demand, START, costs=PlanCosts(transfer=50.0))
    assert_optimal(dear_transfer, 20.0)  # 2 surge beds x 10
    a = row(dear_transfer, "A")
    assert (a.surge_open, a.transfers_out, a.unmet) == (2, 0, 0)


def test_unmet_when_no_bed_is_left_anywhere():
    # A: 5 beds + 1 surge for 9 patients; B is full. 3 unmet x 100 + 1 surge x 10 = 310.
    wards = [ward("A", beds=5, surge=1), ward("B", beds=3)]
    result = solve_plan(wards, {"A": [9], "B": [3]}, START)
    assert_optimal(result, 310.0)
    a = row(result, "A")
    assert (a.beds_open, a.surge_open, a.transfers_out, a.unmet) == (5, 1, 0, 3)


def test_no_compatible_ward_means_unmet():
    wards = [ward("A", beds=5), ward("B", beds=10)]
    result = solve_plan(wards, {"A": [7], "B": [3]}, START, compatible={})
    assert_optimal(result, 200.0)
    assert row(result, "A").unmet == 2


@pytest.mark.parametrize("solver", SOLVERS)
def test_icu_ratio_two_with_nine_patients_needs_five_rns_every_shift(solver):
    # 4 rostered RNs; 9 patients at 1 RN per 2 need 5 RNs: one overtime RN on each of the
    # three shifts, 3 x 20 = 60.
    icu = ward("ICU", "icu", beds=12, rn=4, ratio=2)
    result = solve_plan([icu], {"ICU": [9]}, START, solver=solver)
    assert_optimal(result, 60.0)
    r = result.rows[0]
    assert r.nurses == {"day": 5, "evening": 5, "night": 5}
    assert r.overtime == {"day": 1, "evening": 1, "night": 1}
    assert r.unmet == 0
    assert any("ICU uses all 4 rostered RNs on every shift" in b for b in result.binding)


def test_shifts_are_configurable():
    icu = ward("ICU", "icu", beds=12, rn=4, ratio=2)
    result = solve_plan([icu], {"ICU": [9]}, START, shifts=("day", "night"))
    assert_optimal(result, 40.0)
    assert result.rows[0].nurses == {"day": 5, "night": 5}


def test_rn_cap_without_overtime_leaves_patients_unmet():
    # Only 4 RNs and no overtime: 8 patients can be nursed, the 9th is unmet (100).
    icu = ward("ICU", "icu", beds=12, rn=4, ratio=2)
    result = solve_plan([icu], {"ICU": [9]}, START, max_overtime_rn=0)
    assert_optimal(result, 100.0)
    assert result.rows[0].unmet == 1
    assert "ICU needs all 4 RNs available (no overtime allowed) on every shift on 2026-12-01" in (
        result.binding
    )


# --- infeasibility --------------------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_infeasible_beds_are_named(solver):
    wards = [ward("ICU", "icu", beds=12, rn=10, ratio=2), ward("GEN", beds=30)]
    with pytest.raises(ToolError) as err:
        solve_plan(wards, {"ICU": [10, 14], "GEN": [5, 5]}, START, allow_unmet=False, solver=solver)
    assert err.value.code == "infeasible"
    msg = err.value.message
    assert "ICU needs 14 beds on 2026-12-02 but has 12 beds + 0 surge beds" in msg
    assert "2 patient-days cannot be placed" in msg
    assert "GEN" not in msg and "2026-12-01" not in msg
    assert "allow_unmet" in err.value.hint


def test_infeasible_after_transfers_says_how_many_fit_elsewhere():
    wards = [ward("ICU", "icu", beds=12, rn=10, ratio=2), ward("ICU2", "icu", beds=6, ratio=2)]
    with pytest.raises(ToolError) as err:
        solve_plan(wards, {"ICU": [16], "ICU2": [4]}, START, allow_unmet=False)
    msg = err.value.message
    assert "(2 patient-days cannot be placed)" in msg
    assert "ICU needs 16 beds on 2026-12-01 but has 12 beds + 0 surge beds" in msg
    assert "compatible wards have room for only 2" in msg
    assert "ICU2 needs" not in msg


def test_infeasible_nurses_are_named():
    icu = ward("ICU", "icu", beds=20, rn=4, ratio=2)
    with pytest.raises(ToolError) as err:
        solve_plan([icu], {"ICU": [14]}, START, allow_unmet=False)
    assert err.value.code == "infeasible"
    msg = err.value.message
    assert "night shifts on ICU each need 7 RNs on 2026-12-01" in msg
    assert "6 are available incl. overtime" in msg
    assert "beds" not in msg


def test_strict_plan_uses_a_compatible_ward_with_room():
    wards = [ward("ICU", "icu", beds=12, rn=10, ratio=2), ward("ICU2", "icu", beds=6, ratio=2)]
    result = solve_plan(wards, {"ICU": [14], "ICU2": [2]}, START, allow_unmet=False)
    assert_optimal(result, 10.0)
    assert row(result, "ICU").transfers_out == 2
    assert sum(r.unmet for r in result.rows) == 0


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


def test_week_of_seven_wards_is_fast_and_reads_well():
    wards, demand = hospital_week()
    result = solve_plan(wards, demand, START, solver="cbc")
    assert result.status == "optimal" and result.gap is not None and result.gap <= 1e-6
    assert result.seconds < 2.0
    assert len(result.rows) == 7 * 7
    assert 0 < len(result.binding) <= 8

    assert result.summary.count(". ") == 0 and result.summary.endswith(".")
    labels = {f.label for f in result.facts}
    assert {
        "total plan cost",
        "total unmet patient-days",
        "surge bed-days opened, total",
        "RNs needed, night shift, ICU, peak",
    } <= labels

    # every fact is a number drawn from the rows or the objective
    fields = ("demand", "beds_open", "surge_open", "transfers_in", "transfers_out", "unmet")
    allowed = {round(result.objective, 2), len(wards), 7}
    for name in fields:
        values = [getattr(r, name) for r in result.rows]
        allowed |= set(values) | {sum(values)}
        for w in wards:
            mine = [getattr(r, name) for r in result.rows if r.ward_id == w.ward_id]
            allowed |= {sum(mine), max(mine)}
    for r in result.rows:
        allowed |= set(r.nurses.values()) | set(r.overtime.values())
    allowed.add(sum(sum(r.overtime.values()) for r in result.rows))
    for fact in result.facts:
        assert isinstance(fact.value, int | float), fact
        assert fact.value in allowed, fact

    by_label = {f.label: f.value for f in result.facts}
    assert by_label["total unmet patient-days"] == sum(r.unmet for r in result.rows)
    assert by_label["RNs needed, night shift, ICU, peak"] == max(
        r.nurses["night"] for r in result.rows if r.ward_id == "ICU"
    )


def test_cbc_and_highs_agree_on_the_week():
    wards, demand = hospital_week()
    cbc = solve_plan(wards, demand, START, solver="cbc")
    highs = solve_plan(wards, demand, START, solver="highs")
    assert highs.status == "optimal"
    assert highs.objective == pytest.approx(cbc.objective, abs=1e-6)


def test_cbc_log_time_limit_is_not_optimal():
    log = """
Result - Stopped on time limit

Objective value:                4743.00000000
Lower bound:                    4662.339
Gap:                            0.02
Enumerated nodes:               1
"""
    assert _read_cbc_log(log) == ("time_limit", 4662.339)
    assert _read_cbc_log("Result - Optimal solution found\n") == ("optimal", None)
    assert _read_cbc_log("Problem is infeasible - 0.00 seconds\n") == ("infeasible", None)


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_spent_time_limit_is_reported_not_passed_off_as_a_plan(solver):
    wards, demand = hospital_week()
    with pytest.raises(ToolError) as err:
        solve_plan(wards, demand, START, solver=solver, time_limit=1e-6)
    assert err.value.code == "no_solution"
    assert "time_limit" in err.value.message and err.value.hint


def test_days_stopped_by_the_time_limit_make_the_plan_not_optimal():
    daily = [
        _Outcome("optimal", "cbc", 0.1, True, objective=50.0, bound=50.0),
        _Outcome("time_limit", "cbc", 0.2, True, objective=100.0, bound=90.0),
    ]
    plan = _combine(daily, "cbc")
    assert plan.status == "time_limit" and plan.has_solution
    assert plan.objective == 150.0
    assert plan.gap == pytest.approx(10.0 / 150.0)
    no_bound = _combine([*daily, _Outcome("time_limit", "cbc", 0.1, True, objective=5.0)], "cbc")
    assert no_bound.gap is None
