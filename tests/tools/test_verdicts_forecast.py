"""Forecast verdicts: polarity on constructed forecasts, the chance per day from the
quantiles, both languages, every number a fact; and the real forecaster over a date window."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from tools.forecast import ForecastDay
from tools.registry import call_tool
from tools.result import Verdict
from tools.verdicts.forecast import chance_above, forecast_verdicts

START = date(2026, 7, 1)  # a Wednesday
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def days(*p90: float, p50_gap: float = 4, p10_gap: float = 8) -> list[ForecastDay]:
    return [
        ForecastDay(date=START + timedelta(days=i), p10=v - p10_gap, p50=v - p50_gap, p90=v)
        for i, v in enumerate(p90)
    ]


def read(vs: list[Verdict], vid: str, language: str = "en") -> Verdict:
    (v,) = [x for x in vs if x.id == vid and x.language == language]
    return v


def numbers(text: str) -> list[float]:
    return [float(n) for n in _NUMBER.findall(_DATE.sub(" ", text))]


def verdicts_for(fc: list[ForecastDay], beds: int = 34) -> list[Verdict]:
    return forecast_verdicts(
        "CARD", "Cardiology", "心内科", beds, fc, mae=1.74, mase=0.82, coverage=0.83
    )


def test_p90_below_the_beds_every_day_says_no(assert_verdicts):
    vs = verdicts_for(days(30, 31, 33, 34, 32))
    assert_verdicts(vs, {"CARD"})
    en, zh = read(vs, "forecast.exceeds_beds"), read(vs, "forecast.exceeds_beds", "zh")
    assert en.polarity is False and zh.polarity is False
    assert "stays within its 34 beds" in en.text and "P90 peak 34" in en.text
    assert "不会超出其34张床位" in zh.text


def test_p90_above_the_beds_says_yes_on_exactly_those_days_and_by_how_much(assert_verdicts):
    vs = verdicts_for(days(30, 36, 33, 41, 32))
    assert_verdicts(vs, {"CARD"})
    en = read(vs, "forecast.exceeds_beds")
    assert en.polarity is True
    assert "on Thursday 2026-07-02 and Saturday 2026-07-04" in en.text
    assert "by up to 7 beds" in en.text
    assert "2026-07-01" not in en.text and "2026-07-03" not in en.text
    zh = read(vs, "forecast.exceeds_beds", "zh")
    assert (
        "在 2026-07-02（星期四）、2026-07-04（星期六）可能超出" in zh.text
        and "最多超出7张" in zh.text
    )
    facts = {f.label: f.value for f in en.facts}
    assert facts["days where P90 exceeds the ward's beds, 2026-07-01 to 2026-07-05"] == 2


def test_many_days_over_are_counted_not_listed(assert_verdicts):
    vs = verdicts_for(days(*[40] * 4, 30, *[40] * 5))
    en, zh = read(vs, "forecast.exceeds_beds"), read(vs, "forecast.exceeds_beds", "zh")
    assert "on 9 of the 10 days, from Wednesday 2026-07-01 to Friday 2026-07-10" in en.text
    assert "的10天中有9天" in zh.text
    assert_verdicts(vs, {"CARD"})


def test_every_day_over_says_so_once(assert_verdicts):
    """All days over: the window is named once ("every day from ... to ..."), not as a count
    followed by the same dates again."""
    vs = verdicts_for(days(*[40] * 10))
    en, zh = read(vs, "forecast.exceeds_beds"), read(vs, "forecast.exceeds_beds", "zh")
    assert "on every day from Wednesday 2026-07-01 to Friday 2026-07-10, by up to 6" in en.text
    assert "每天都可能超出其34张床位" in zh.text
    for v in (en, zh):
        assert v.text.count("2026-07-01") == 1 and v.text.count("2026-07-10") == 1
    assert_verdicts(vs, {"CARD"})


def test_the_chance_per_day_passes_through_the_quantiles():
    d = ForecastDay(date=START, p10=20, p50=26, p90=30)
    assert chance_above(d, 25) == pytest.approx(1 - 0.5 + 0.0, abs=0.5)  # sanity
    assert chance_above(ForecastDay(date=START, p10=20, p50=26.5, p90=30), 26) == pytest.approx(0.5)
    assert chance_above(ForecastDay(date=START, p10=20, p50=26, p90=30.5), 30) == pytest.approx(0.1)
    assert chance_above(ForecastDay(date=START, p10=19.5, p50=26, p90=30), 19) == pytest.approx(0.9)
    # the P90 test and the chance agree: P90 rounding above the beds <=> chance above 10%
    for p90 in (33.4, 34.4, 34.5, 34.6, 35.5, 36.0):
        day = ForecastDay(date=START, p10=p90 - 10, p50=p90 - 5, p90=p90)
        assert (round(p90) > 34) == (chance_above(day, 34) > 0.1 + 1e-12), p90
    assert chance_above(ForecastDay(date=START, p10=30, p50=30, p90=30), 34) == 0.0
    assert chance_above(ForecastDay(date=START, p10=40, p50=40, p90=40), 34) == 1.0


def test_chances_busiest_day_range_and_accuracy_in_both_languages(assert_verdicts):
    vs = verdicts_for(days(30, 36, 33, 41, 32))
    assert_verdicts(vs, {"CARD"})
    chance = read(vs, "forecast.overflow_chance")
    pct = {f.label.rsplit(", ", 1)[1]: f.value for f in chance.facts if f.unit == "%"}
    assert list(pct) == [(START + timedelta(days=i)).isoformat() for i in range(5)]
    assert pct["2026-07-04"] == max(pct.values()) and pct["2026-07-01"] < 10
    assert f"Saturday 2026-07-04 {pct['2026-07-04']}%" in chance.text
    busiest = read(vs, "forecast.busiest_day")
    assert "is Saturday 2026-07-04: a median of 37 occupied beds, up to 41 at P90" in busiest.text
    assert "2026-07-04（星期六）" in read(vs, "forecast.busiest_day", "zh").text
    rng = read(vs, "forecast.expected_range")
    assert "26 to 37 occupied beds a day" in rng.text and "22 to 41" in rng.text
    acc, acc_zh = read(vs, "forecast.accuracy"), read(vs, "forecast.accuracy", "zh")
    assert (
        "off by about 2 beds a day (backtest MASE 0.82), better than" in acc.text
        and "83% of days" in acc.text
    )
    assert "偏差约2张床" in acc_zh.text and "更准" in acc_zh.text


def test_a_long_window_lists_the_days_with_the_highest_chance():
    vs = verdicts_for(days(*([30] * 10 + [38, 39] + [30] * 10)))
    chance = read(vs, "forecast.overflow_chance")
    assert "on the days it is highest" in chance.text
    assert len([f for f in chance.facts if f.unit == "%"]) == 7
    assert "2026-07-11" in chance.text and "2026-07-12" in chance.text


# --------------------------------------------------------------- the real forecaster, a window


def test_forecast_beds_answers_for_exactly_the_window_asked(ctx, assert_verdicts):
    first = ctx.forecaster.first_day("CARD")
    friday = first + timedelta(days=(4 - first.weekday()) % 7 or 7)
    r = call_tool(ctx, "forecast_beds", {"ward": "CARD", "days": 3, "start": friday.isoformat()})
    assert r.ok and [d.date for d in r.days] == [friday + timedelta(days=i) for i in range(3)]
    full = ctx.forecaster.forecast("CARD", (friday - first).days + 3)
    assert r.days == full.days[-3:]
    busiest = read(r.verdicts, "forecast.busiest_day")
    assert any(d.date.isoformat() in busiest.text for d in r.days)
    over = read(r.verdicts, "forecast.exceeds_beds")
    assert over.polarity == any(round(d.p90) > r.beds for d in r.days)
    assert_verdicts(r.verdicts, {"CARD"})
    assert "verdicts" in r.reading() and len(r.reading()["verdicts"]) == len(r.verdicts)
    assert any(f.label.endswith(f"{friday.isoformat()} to {r.days[-1].date.isoformat()}")
               for f in r.facts)  # fmt: skip


def test_a_window_beyond_the_horizon_is_a_clear_error(ctx):
    first = ctx.forecaster.first_day("ICU")
    late = first + timedelta(days=26)
    r = call_tool(ctx, "forecast_beds", {"ward": "ICU", "days": 3, "start": late.isoformat()})
    assert not r.ok and r.error == "outside_horizon"
    assert (first + timedelta(days=27)).isoformat() in r.summary
    r = call_tool(ctx, "forecast_beds", {"ward": "ICU", "start": first - timedelta(days=1)})
    assert not r.ok and r.error == "outside_horizon"
    r = call_tool(ctx, "forecast_beds", {"ward": "ICU", "start": "next friday"})
    assert not r.ok and r.error == "bad_argument" and "YYYY-MM-DD" in r.summary


def test_compiling_every_template_up_front_leaves_nothing_for_a_question():
    """Start-up compiles every template of both languages, so a question only renders."""
    from tools.verdicts import _template, compile_all, templates

    assert compile_all() == sum(
        isinstance(t, str) for language in ("en", "zh") for t in templates(language).values()
    )
    misses = _template.cache_info().misses
    verdicts_for(days(30, 36, 40, 29))
    verdicts_for(days(20, 21, 22, 23), beds=10)
    assert _template.cache_info().misses == misses
