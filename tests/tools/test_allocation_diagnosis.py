"""Infeasible plans: the diagnosis names the requirement that cannot be met, with facts."""

from __future__ import annotations

import pytest
from test_allocation import RN_ONLY, START, ward

from agent.grounding import check
from tools.allocation import InfeasiblePlan, StaffRules, solve_plan, what_if
from tools.result import ErrorResult


def strict(wards, demand, **kw):
    kw.setdefault("rules", RN_ONLY)
    kw.setdefault("solver", "highs")  # which of several minimal sets is named is the solver's
    return solve_plan(wards, demand, START, allow_unmet=False, **kw)


def assert_grounded_error(err: InfeasiblePlan) -> None:
    result = ErrorResult.from_error(err)
    assert isinstance(result, ErrorResult) and not result.ok
    assert result.error == "infeasible" and result.hint
    facts = [f.model_dump() for f in result.facts]
    report = check(result.summary, facts, "", [result.summary])
    assert report.grounded, (report.ungrounded, result.summary)


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_too_few_beds_are_named(solver):
    wards = [ward("ICU", "icu", beds=12, rn=10, ratio=2), ward("GEN", beds=30)]
    with pytest.raises(InfeasiblePlan) as err:
        strict(wards, {"ICU": [10, 14], "GEN": [5, 5]}, solver=solver)
    msg = err.value.message
    assert err.value.code == "infeasible"
    assert "this requirement cannot be met" in msg
    assert "ICU needs 14 beds on 2026-12-02 but has 12 beds + 0 surge beds" in msg
    assert "no compatible ward to send patients to" in msg
    assert "GEN" not in msg and "2026-12-01" not in msg
    assert "allow_unmet" in err.value.hint
    assert_grounded_error(err.value)


def test_beds_after_transfers_say_how_many_fit_elsewhere():
    wards = [ward("ICU", "icu", beds=12, rn=10, ratio=2), ward("ICU2", "icu", beds=6, ratio=2)]
    with pytest.raises(InfeasiblePlan) as err:
        strict(wards, {"ICU": [16], "ICU2": [4]})
    msg = err.value.message
    assert "ICU needs 16 beds on 2026-12-01 but has 12 beds + 0 surge beds" in msg
    assert "compatible wards have room for only 2 of them" in msg
    assert "ICU2 needs" not in msg
    assert_grounded_error(err.value)


def test_night_shift_short_of_rns_is_named():
    # "night shift on 3A needs 6 RNs, 4 are available": 3A has 6 RNs on each shift and may
    # add 2 overtime; 4 call in sick on the night shift. 12 patients at 1 RN per 2 need 6.
    w3a = ward("3A", "stepdown", beds=14, rn=6, ratio=2)
    with pytest.raises(InfeasiblePlan) as err:
        what_if(
            [w3a],
            {"3A": [12, 12]},
            START,
            "4 RNs call in sick on 3A night shift on day 2",
            rules=RN_ONLY,
            allow_unmet=False,
        )
    msg = err.value.message
    assert (
        "the night shift on 3A needs 6 RNs on 2026-12-02 for 12 patients, but only 4 are "
        "available, overtime included" in msg
    )
    assert "day shift" not in msg and "2026-12-01" not in msg
    facts = {f.label: f.value for f in err.value.facts}
    assert facts["RNs needed, night shift, 3A, 2026-12-02"] == 6
    assert facts["RNs available incl. overtime, night shift, 3A, 2026-12-02"] == 4
    assert_grounded_error(err.value)


def test_every_shift_short_of_rns_is_named_without_beds():
    icu = ward("ICU", "icu", beds=20, rn=4, ratio=2)
    with pytest.raises(InfeasiblePlan) as err:
        strict([icu], {"ICU": [14]})
    msg = err.value.message
    assert "every shift on ICU needs 7 RNs on 2026-12-01 for 14 patients" in msg
    assert "only 6 are available, overtime included" in msg
    assert "beds" not in msg


def test_consecutive_days_rule_is_named():
    # 2 RNs needed each of 4 days, 1 shift a day, no overtime, a pool of 2 RNs who may work
    # 2 days in a row: days 1-3 need 6 shifts, the pool can cover 4.
    rules = StaffRules(
        assistant_ratio={}, max_consecutive=2, rn_headcount={"A": 2}, max_overtime_rn=0
    )
    with pytest.raises(InfeasiblePlan) as err:
        strict([ward("A", rn=2)], {"A": [8, 8, 8, 8]}, shifts=("day",), rules=rules)
    # The smallest set is one day short, not the two 3-day windows: the sentence blames the
    # consecutive-days rule, since the roster itself has the 2 RNs.
    msg = err.value.message
    assert "this requirement cannot be met" in msg
    assert "every shift on A needs 2 RNs on" in msg
    assert "with nobody working more than 2 days in a row its pool of 2 RNs can staff" in msg
    assert_grounded_error(err.value)


def test_smallest_set_is_reported_not_every_short_ward_day():
    # Two wards short on different days; the ICU's nurses are fine. Exactly two requirements.
    wards = [ward("A", beds=5), ward("B", beds=5), ward("ICU", "icu", beds=10, ratio=2)]
    with pytest.raises(InfeasiblePlan) as err:
        strict(wards, {"A": [7, 5], "B": [5, 8], "ICU": [2, 2]})
    assert len(err.value.problems) == 2
    assert "these 2 requirements cannot all be met" in err.value.message
    assert {f.value for f in err.value.facts if "cannot" in f.label} == {2}
