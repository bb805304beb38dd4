"""Plan and what-if verdicts from the real solver: covered or not, what the plan does, what
limits it, what a change changes; both languages; and plan_beds over a date window."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from knowledge.hospital import Ward
from tools.allocation import InfeasiblePlan, StaffRules, solve_plan, what_if
from tools.allocation.rows import totals
from tools.registry import call_tool
from tools.result import ErrorResult, Verdict

START = date(2026, 12, 1)  # a Tuesday
RN_ONLY = StaffRules(assistant_ratio={})
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def ward(ward_id: str, *, beds: int = 10, surge: int = 0, rn: int = 5) -> Ward:
    return Ward(
        ward_id=ward_id,
        name_en=f"{ward_id} ward",
        name_zh=f"{ward_id}病房",
        ward_type="general",
        beds=beds,
        surge_beds=surge,
        rn_per_shift=rn,
        nurse_ratio=4,
    )


def read(vs: list[Verdict], vid: str, language: str = "en") -> Verdict:
    (v,) = [x for x in vs if x.id == vid and x.language == language]
    return v


def test_a_plan_that_covers_everyone_says_yes_and_changes_nothing(assert_verdicts):
    r = solve_plan([ward("A")], {"A": [8, 9]}, START, rules=RN_ONLY, solver="highs")
    assert_verdicts(r.verdicts, {"A"})
    covered = read(r.verdicts, "plan.covered")
    assert covered.polarity is True and "every patient a staffed bed on its ward" in covered.text
    assert read(r.verdicts, "plan.covered", "zh").polarity is True
    assert read(r.verdicts, "plan.changes").text.startswith("Every ward manages")
    assert read(r.verdicts, "plan.binding").text.startswith("No bed or nurse limit binds")
    assert {v.id for v in r.verdicts} == {"plan.covered", "plan.changes", "plan.binding"}
    assert len(r.reading()["verdicts"]) == 6


def test_a_plan_short_of_beds_says_no_and_names_ward_surge_and_limit(assert_verdicts):
    r = solve_plan([ward("A", surge=2)], {"A": [8, 11, 14]}, START, rules=RN_ONLY, solver="highs")
    assert totals(r.rows)["unmet"] == 2
    assert_verdicts(r.verdicts, {"A"})
    covered = read(r.verdicts, "plan.covered")
    assert covered.polarity is False
    assert "2 patient-days are unmet from Tuesday 2026-12-01 to Thursday 2026-12-03" in covered.text
    assert "most on A (2)" in covered.text
    zh = read(r.verdicts, "plan.covered", "zh").text
    assert "共有2个患者日无法满足" in zh and "最多的是A（2个）" in zh
    changes = read(r.verdicts, "plan.changes")
    assert "A: 3 surge bed-days and 2 unmet patient-days" in changes.text
    assert "A开放加床3个床日和无法满足2个患者日" in read(r.verdicts, "plan.changes", "zh").text
    limit = read(r.verdicts, "plan.binding")
    assert limit.text == "What limits the plan: " + " ".join(r.binding[:3])
    assert "A has every bed full, surge beds included, on 2026-12-03" in limit.text
    assert (
        "A于 2026-12-03（星期四）床位全满（含加床）" in read(r.verdicts, "plan.binding", "zh").text
    )


def test_a_what_if_says_what_the_change_changes(assert_verdicts):
    r = what_if(
        [ward("A", surge=2), ward("B")],
        {"A": [8, 8], "B": [5, 5]},
        START,
        "close 4 beds on A on day 2",
        rules=RN_ONLY,
        solver="highs",
    )
    assert_verdicts(r.verdicts, {"A", "B"})
    ids = [v.id for v in r.verdicts if v.language == "en"]
    assert ids == ["plan.covered", "plan.changes", "plan.binding", "whatif.changes"]
    change = read(r.verdicts, "whatif.changes")
    assert change.text.startswith("With the change (4 beds closed on A on 2026-12-02): ")
    assert (
        "patient transfers 0 to 2" in change.text and "the plan changes on A and B" in change.text
    )
    zh = read(r.verdicts, "whatif.changes", "zh").text
    assert "A于 2026-12-02（星期三）关闭4张床" in zh and "转科患者日由0变为2" in zh


def test_an_idle_what_if_changes_nothing():
    r = what_if([ward("A")], {"A": [3, 3]}, START, "2 more RNs on A", rules=RN_ONLY, solver="highs")
    change = read(r.verdicts, "whatif.changes")
    assert change.polarity is None and "leaves unmet patient-days" in change.text
    assert "A每天各班次增加2名注册护士" in read(r.verdicts, "whatif.changes", "zh").text


def test_plan_beds_plans_exactly_the_window_asked(ctx, assert_verdicts):
    first = ctx.forecaster.first_day("ICU")
    start = first + timedelta(days=3)
    r = call_tool(ctx, "plan_beds", {"days": 2, "start": start.isoformat()})
    assert r.ok and sorted({row.date for row in r.rows}) == [start, start + timedelta(days=1)]
    covered = read(r.verdicts, "plan.covered")
    assert covered.polarity == (totals(r.rows)["unmet"] == 0)
    assert start.isoformat() in covered.text
    assert_verdicts(r.verdicts, {w.ward_id for w in ctx.hospital.wards})
    far = call_tool(
        ctx, "plan_beds", {"days": 7, "start": (first + timedelta(days=25)).isoformat()}
    )
    assert not far.ok and far.error == "outside_horizon"


def test_an_impossible_plan_is_explained_in_both_languages(assert_verdicts):
    with pytest.raises(InfeasiblePlan) as err:
        solve_plan([ward("A")], {"A": [14]}, START, rules=RN_ONLY, allow_unmet=False,
                   solver="highs")  # fmt: skip
    result = ErrorResult.from_error(err.value)
    assert_verdicts(result.verdicts, {"A"})
    en, zh = (
        read(result.verdicts, "plan.infeasible"),
        read(result.verdicts, "plan.infeasible", "zh"),
    )
    assert en.polarity is False and zh.polarity is False
    assert en.text.startswith("No plan gives every patient a staffed bed")
    assert err.value.problems[0] in en.text
    assert "A于 2026-12-01（星期二）需要14张床，但只有10张床和0张加床" in zh.text


def test_reading_shows_the_verdicts_of_one_language_when_asked():
    r = solve_plan([ward("A")], {"A": [8, 9]}, START, rules=RN_ONLY, solver="highs")
    both, zh = r.reading(), r.reading("zh")
    assert len(both["verdicts"]) == 2 * len(zh["verdicts"]) == 6
    assert {v["language"] for v in zh["verdicts"]} == {"zh"}
    assert zh["explanation"] == both["explanation"] and zh["facts"] == both["facts"]
