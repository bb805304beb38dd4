"""The formulation itself: the consecutive-days rows are exact, the tightenings cut off no
plan, and the forecast's quantiles become whole patients."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import combinations_with_replacement, product

import pytest
from test_allocation import START, ward

from tools.allocation import (
    PlanCosts,
    critical_ratio,
    demand_at,
    plan_from_forecast,
    quantile_of,
    scenarios_from,
    solve_plan,
)
from tools.allocation.bench import VARIANTS, bench_instance, parse_sizes
from tools.forecast import ForecastDay


def _runs_ok(pattern: tuple[int, ...], m: int) -> bool:
    run = 0
    for bit in pattern:
        run = run + 1 if bit else 0
        if run > m:
            return False
    return True


@pytest.mark.parametrize("m", [1, 2, 3])
def test_window_rows_are_exactly_the_rosters_identical_nurses_can_work(m):
    # x[t] nurses working on day t can be rostered with h identical nurses, none working more
    # than m days in a row, if and only if every m + 1 consecutive days sum to at most m * h.
    for h in (1, 2, 3):
        for n_days in range(m + 1, 7):
            patterns = [p for p in product((0, 1), repeat=n_days) if _runs_ok(p, m)]
            reachable = {
                tuple(map(sum, zip(*combo, strict=True)))
                for combo in combinations_with_replacement(patterns, h)
            }
            for x in product(range(h + 1), repeat=n_days):
                windows = all(sum(x[t : t + m + 1]) <= m * h for t in range(n_days - m))
                assert windows == (x in reachable), (h, m, x)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_formulation_variant_finds_the_same_optimum(seed):
    wards, demand, compat, rules, _ = bench_instance(6, 7, seed=seed)
    objectives = {}
    for name, form in VARIANTS.items():
        result = solve_plan(
            wards, demand, START, rules=rules, compatible=compat, formulation=form, explain=False
        )
        assert result.status == "optimal"
        objectives[name] = result.objective
    assert len(set(objectives.values())) == 1, objectives


def test_bench_sizes_parse_and_reject_nonsense():
    assert parse_sizes("5x7, 30x14") == [(5, 7), (30, 14)]
    for bad in ("", "5by7", "0x7", "5x"):
        with pytest.raises(ValueError):
            parse_sizes(bad)


# --- demand from the forecast ---------------------------------------------------------------


def day(p10: float, p50: float, p90: float, offset: int = 0) -> ForecastDay:
    return ForecastDay(date=START + timedelta(days=offset), p10=p10, p50=p50, p90=p90)


def test_newsvendor_ratio_is_shortage_over_shortage_plus_idle():
    assert critical_ratio(PlanCosts()) == pytest.approx(100 / 125)
    assert critical_ratio(PlanCosts(shortage=100, idle=100)) == pytest.approx(0.5)
    assert critical_ratio(PlanCosts(shortage=1000, idle=0)) == 0.99  # kept inside (0, 1)


def test_quantiles_pass_through_p10_p50_p90_and_grow():
    d = day(16.0, 20.0, 26.0)
    assert quantile_of(d, 0.1) == pytest.approx(16.0)
    assert quantile_of(d, 0.5) == pytest.approx(20.0)
    assert quantile_of(d, 0.9) == pytest.approx(26.0)
    values = [quantile_of(d, q / 100) for q in range(5, 100, 5)]
    assert values == sorted(values)
    assert 20.0 < quantile_of(d, 0.8) < 26.0
    assert quantile_of(day(0.0, 1.0, 3.0), 0.01) == 0.0  # never below zero


def test_demand_is_whole_patients_and_scenarios_carry_swanson_weights():
    forecasts = {"A": [day(8.0, 10.0, 12.4), day(8.0, 10.4, 13.0, 1)]}
    assert demand_at(forecasts, 0.5) == {"A": [10, 10]}
    assert demand_at(forecasts, 0.9) == {"A": [12, 13]}
    scen, weights = scenarios_from(forecasts)
    assert list(scen) == ["P10", "P50", "P90"]
    assert weights == {"P10": 0.3, "P50": 0.4, "P90": 0.3}
    assert scen["P90"] == {"A": [12, 13]}


def test_the_plan_follows_the_forecast_quantile():
    # 10 beds; P50 is 9 patients and P90 is 13. At the default critical ratio (P80) the
    # plan serves 12; asked for the median it serves 9 and turns nobody away.
    wards = [ward("A", beds=10, surge=2, rn=3)]
    forecasts = {"A": [day(7.0, 9.0, 13.0)]}
    p80 = plan_from_forecast(wards, forecasts, explain=False)
    assert p80.quantile == pytest.approx(0.8)
    assert p80.rows[0].demand == 12 and p80.rows[0].surge_open == 2
    median = plan_from_forecast(wards, forecasts, quantile=0.5, explain=False)
    assert median.rows[0].demand == 9 and median.rows[0].unmet == 0
    robust = plan_from_forecast(wards, forecasts, robust=True)
    assert robust.scenarios == ["P10", "P50", "P90"] and robust.robust == "expected"
    assert {r.demand for r in robust.rows} == {7, 9, 13}
    beds = {(r.beds_open, r.surge_open) for r in robust.rows}
    assert len(beds) == 1  # beds are decided once for all scenarios
    assert date(2026, 12, 1) == robust.rows[0].date


# --- day by day, when exact --------------------------------------------------------------


@pytest.mark.parametrize("tight", [0.0, 0.3])
def test_day_by_day_equals_the_whole_model_and_falls_back_when_a_window_binds(tight):
    from tools.allocation.instance import build_instance
    from tools.allocation.solve import solve_solution

    wards, demand, compat, rules, names = bench_instance(6, 8, seed=3, tight_pools=tight)
    inst = build_instance(wards, {"plan": demand}, START, rules=rules, compatible=compat)
    auto = solve_solution(inst, "highs", 30)
    whole = solve_solution(inst, "highs", 30, method="whole")
    assert auto.outcome.status == whole.outcome.status == "optimal"
    assert auto.outcome.objective == pytest.approx(whole.outcome.objective, abs=1e-6)
    assert auto.cost() == pytest.approx(auto.outcome.objective, abs=1e-6)
    # pools sized to the rosters never bind; a pool 30% short does, and links the days
    assert auto.method == ("days" if tight == 0 else "whole")


def test_robust_expected_plan_also_solves_day_by_day():
    from tools.allocation import solve_robust

    wards = [ward("A", beds=10, surge=2, rn=3), ward("B", beds=8, rn=2)]
    scen = {
        "P10": {"A": [6, 7, 8], "B": [4, 5, 5]},
        "P50": {"A": [9, 10, 9], "B": [6, 7, 6]},
        "P90": {"A": [12, 13, 11], "B": [8, 9, 8]},
    }
    weights = {"P10": 0.3, "P50": 0.4, "P90": 0.3}
    days = solve_robust(wards, scen, START, weights=weights)
    assert days.method == "days" and days.status == "optimal"
    worst = solve_robust(wards, scen, START, weights=weights, objective="worst")
    assert worst.method == "whole" and worst.status == "optimal"
