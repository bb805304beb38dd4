"""What-if changes: the grammar, and a re-solve that changes exactly what it should."""

from __future__ import annotations

from datetime import date

import pytest
from test_allocation import RN_ONLY, START, assert_grounded, ward

from tools.allocation import StaffRules, parse_what_if, what_if
from tools.allocation.instance import build_instance
from tools.result import ToolError


def instance(n_days: int = 7):
    wards = [ward("5B", beds=10, rn=3), ward("3A", beds=12, rn=4), ward("ICU", "icu", ratio=2)]
    demand = {"5B": [5] * n_days, "3A": [5] * n_days, "ICU": [4] * n_days}
    return build_instance(wards, {"plan": demand}, START)


@pytest.mark.parametrize(
    ("text", "kind", "ward_id", "days", "amount", "extra"),
    [
        ("close 4 beds on 5B on Friday", "close_beds", "5B", [3], 4, {}),  # 2026-12-04
        ("Close four beds on ward 5B", "close_beds", "5B", list(range(7)), 4, {}),
        ("close 2 beds on 5B from day 2 to day 4", "close_beds", "5B", [1, 2, 3], 2, {}),
        ("open 3 surge beds on 3A on 2026-12-02", "open_surge", "3A", [1], 3, {}),
        ("add 2 beds on 3A", "open_beds", "3A", list(range(7)), 2, {}),
        ("no surge beds on 3A on Mon", "no_surge", "3A", [6], 0, {}),
        (
            "two nurses call in sick on 3A",
            "sick",
            "3A",
            list(range(7)),
            2,
            {"skill": "rn", "shift": "day"},
        ),
        (
            "2 RNs call in sick on ICU night shift on Friday",
            "sick",
            "ICU",
            [3],
            2,
            {"skill": "rn", "shift": "night"},
        ),
        (
            "an assistant is off sick on the evening shift on 3A",
            "sick",
            "3A",
            list(range(7)),
            1,
            {"skill": "assistant", "shift": "evening"},
        ),
        ("3 more RNs on 5B", "more_staff", "5B", list(range(7)), 3, {"shift": None}),
        ("demand +20% on 3A on day 1", "demand_pct", "3A", [0], 20, {}),
        ("demand down 10% on 3A", "demand_pct", "3A", list(range(7)), -10, {}),
        ("5 more patients on ICU on Sunday", "demand_add", "ICU", [5], 5, {}),
        ("no transfers", "no_transfers", None, list(range(7)), 0, {}),
    ],
)
def test_what_if_grammar(text, kind, ward_id, days, amount, extra):
    (change,) = parse_what_if(text, instance())
    assert (change.kind, change.ward_id, change.days, change.amount) == (
        kind,
        ward_id,
        days,
        amount,
    )
    for key, value in extra.items():
        assert getattr(change, key) == value


def test_several_changes_are_separated_by_semicolons():
    changes = parse_what_if("close 4 beds on 5B; 2 RNs call in sick on ICU", instance())
    assert [c.kind for c in changes] == ["close_beds", "sick"]


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("close 4 beds on 9Z", "unknown_ward", "names no known ward"),
        ("two nurses call in sick", "unknown_ward", "5B"),
        ("paint the walls on 5B", "bad_what_if", "cannot read"),
        ("close 4 beds on 5B on 2027-01-01", "bad_what_if", "outside the plan"),
        ("close 4 beds on 5B on day 9", "bad_what_if", "days 1 to 7"),
        ("", "bad_what_if", "empty"),
    ],
)
def test_unreadable_what_if_says_what_to_write(text, code, words):
    with pytest.raises(ToolError) as err:
        parse_what_if(text, instance())
    assert err.value.code == code
    assert words in err.value.message + err.value.hint


def test_closing_more_beds_than_exist_is_refused():
    with pytest.raises(ToolError) as err:
        what_if([ward("5B", beds=3)], {"5B": [1]}, START, "close 4 beds on 5B", rules=RN_ONLY)
    assert err.value.code == "bad_what_if" and "3 regular beds" in err.value.message


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_closing_beds_changes_exactly_that_ward_day_and_its_receiver(solver):
    # 5B is full (10 of 10 beds) every day, 3A has room. Closing 4 beds on 5B on day 2
    # sends 4 patients to 3A that day (4 x 5 = 20) and changes nothing else.
    wards = [ward("5B", beds=10, rn=3), ward("3A", beds=10, rn=3)]
    demand = {"5B": [10, 10, 10], "3A": [5, 5, 5]}
    result = what_if(
        wards, demand, START, "close 4 beds on 5B on day 2", rules=RN_ONLY, solver=solver
    )
    assert result.base_objective == 0 and result.objective == 20
    day2 = date(2026, 12, 2)
    assert {(d.date, d.ward_id) for d in result.diff} == {(day2, "5B"), (day2, "3A")}
    changed = {(d.ward_id, d.field): (d.before, d.after) for d in result.diff}
    assert changed == {
        ("5B", "beds_open"): (10, 6),
        ("5B", "transfers_out"): (0, 4),
        ("5B", "RNs, day shift"): (3, 2),
        ("5B", "RNs, evening shift"): (3, 2),
        ("5B", "RNs, night shift"): (3, 2),
        ("3A", "beds_open"): (5, 9),
        ("3A", "transfers_in"): (0, 4),
        ("3A", "RNs, day shift"): (2, 3),
        ("3A", "RNs, evening shift"): (2, 3),
        ("3A", "RNs, night shift"): (2, 3),
    }
    assert result.changes == ["4 beds closed on 5B on 2026-12-02"]
    by_label = {f.label: f.value for f in result.facts}
    assert by_label["plan cost increase from the change"] == 20
    assert by_label["patient transfers with the change"] == 4
    assert by_label["ward-days that change"] == 2
    assert "raises the plan cost by 20" in result.summary
    assert_grounded(result)


def test_sick_nurses_on_one_shift_cost_overtime_on_that_shift_only():
    # ICU: 8 patients at 1 RN per 2 need 4 RNs; 4 are rostered. Two call in sick on the
    # night shift on Friday: 2 overtime RNs that night, 2 x 20 = 40.
    icu = ward("ICU", "icu", beds=10, rn=4, ratio=2)
    result = what_if(
        [icu],
        {"ICU": [8] * 7},
        START,
        "2 RNs call in sick on ICU night shift on Friday",
        rules=RN_ONLY,
    )
    assert result.objective - result.base_objective == 40
    friday = date(2026, 12, 4)
    assert [(d.date, d.field, d.before, d.after) for d in result.diff] == [
        (friday, "overtime RNs, night shift", 0, 2)
    ]


def test_sick_nurses_bind_through_the_consecutive_days_rule():
    # One shift a day, 2 RNs needed on each of 6 days, 3 RNs available per shift, and a pool
    # of 3 RNs who may work at most 2 days in a row: exactly enough (each works 4 of the 6
    # days). One RN off sick on days 2 and 3 can then work at most 3 days; brute force over
    # every roster of the three nurses gives the overtime shifts the plan must pay.
    rules = StaffRules(assistant_ratio={}, max_consecutive=2, rn_headcount={"A": 3})
    result = what_if(
        [ward("A", rn=3)],
        {"A": [8] * 6},
        START,
        "1 RN calls in sick on A from day 2 to day 3",
        shifts=("day",),
        rules=rules,
    )
    assert result.base_objective == 0
    best = _brute_force_overtime(3, 6, 2, need=2, off={0: {1, 2}})
    assert best > 0
    assert result.objective == 20 * best
    assert_grounded(result)


def _brute_force_overtime(nurses: int, days: int, m: int, need: int, off: dict) -> int:
    from itertools import product

    def ok(pattern, who):
        run = 0
        for t, bit in enumerate(pattern):
            if bit and t in off.get(who, set()):
                return False
            run = run + 1 if bit else 0
            if run > m:
                return False
        return True

    patterns = [p for p in product((0, 1), repeat=days)]
    best = None
    options = [[p for p in patterns if ok(p, n)] for n in range(nurses)]
    for combo in product(*options):
        ot = sum(max(0, need - sum(p[t] for p in combo)) for t in range(days))
        best = ot if best is None else min(best, ot)
    return best


def test_what_if_with_no_effect_says_so():
    result = what_if([ward("A", beds=10)], {"A": [3, 3]}, START, "close 2 beds on A", rules=RN_ONLY)
    assert result.diff == [] and result.objective == result.base_objective == 0
    assert "leaves the plan cost at 0" in result.summary
    assert_grounded(result)
