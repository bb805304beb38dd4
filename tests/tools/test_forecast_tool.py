import numpy as np
import pytest

from tools.forecast import coverage, mase
from tools.result import ToolError


def test_mase_and_coverage_by_hand():
    train = np.array([1.0, 2, 3, 4, 5, 6])
    # seasonal naive (m=2) errors: |3-1|,|4-2|,|5-3|,|6-4| -> scale 2
    assert mase(np.array([7.0, 8]), np.array([6.0, 10]), train, 2) == pytest.approx(1.5 / 2)
    assert coverage(np.array([1.0, 5, 9]), np.array([0.0, 6, 8]), np.array([2.0, 7, 10])) == (
        pytest.approx(2 / 3)
    )


def test_forecast_has_ordered_quantiles_facts_and_backtest(forecaster):
    r = forecaster.forecast("心内科", 7)
    assert r.ward_id == "CARD" and len(r.days) == 7
    for d in r.days:
        assert 0 <= d.p10 <= d.p50 <= d.p90
    labels = {f.label: f.value for f in r.facts}
    assert labels["physical beds on the ward"] == 34
    assert labels["peak P90 occupied beds, next 7 days"] == max(round(d.p90) for d in r.days)
    assert 0 < r.backtest.mase < 2 and 0 <= r.backtest.coverage <= 1
    assert str(labels["peak P90 occupied beds, next 7 days"]) in r.summary


def test_forecast_is_better_than_a_flat_guess(hospital, forecaster):
    s = hospital.history("SURG").to_numpy()
    r = forecaster.forecast("SURG", 7)
    assert abs(np.mean([d.p50 for d in r.days]) - s[-28:].mean()) < 0.25 * s[-28:].mean()


@pytest.mark.parametrize(
    "ward,days,code",
    [("Narnia", 7, "unknown_ward"), ("ICU", 0, "bad_horizon"), ("ICU", 60, "bad_horizon")],
)
def test_bad_requests_are_clear_errors(forecaster, ward, days, code):
    with pytest.raises(ToolError) as e:
        forecaster.forecast(ward, days)
    assert e.value.code == code


def test_short_history_is_refused(hospital):
    from knowledge.hospital import Hospital
    from tools.forecast import Forecaster

    short = Hospital(hospital.wards, hospital.daily.groupby("ward_id").tail(20))
    with pytest.raises(ToolError) as e:
        Forecaster(short).forecast("ICU", 7)
    assert e.value.code == "short_history"


def test_forecast_carries_admissions_length_of_stay_and_an_honest_backtest(forecaster):
    r = forecaster.forecast("ICU", 14)
    assert r.method in ("flow", "direct") and r.backtest.method == r.method
    assert r.backtest.origins >= 28  # rolling origins in weeks the models never saw
    assert len(r.admissions) == 14 and all(d.p10 <= d.p50 <= d.p90 for d in r.admissions)
    labels = {f.label: f.value for f in r.facts}
    assert 3 < labels["estimated mean length of stay"] < 10  # the demo ICU's mean stay is ~6
    assert r.days[0].date > forecaster.hospital.daily.date.max().date()


def test_a_shorter_horizon_is_the_start_of_a_longer_one_on_every_ward(forecaster):
    """Asked about the next 7 days and then the next 28, a ward gets the same first week
    (a census-flow ward's simulation is run once over the whole horizon and sliced)."""
    models = forecaster.models()
    assert "flow" in models.method.values()  # the demo has census-flow wards to check
    for ward in models.wards:
        week, month = forecaster.forecast(ward, 7), forecaster.forecast(ward, 28)
        assert week.days == month.days[:7], ward
        assert week.admissions == month.admissions[:7], ward


def test_warming_computes_each_flow_wards_simulation_once(hospital, forecaster, monkeypatch):
    import tools.forecast as F

    calls = []
    real = F.simulate_census
    monkeypatch.setattr(F, "simulate_census", lambda *a, **k: calls.append(1) or real(*a, **k))
    fresh = F.Forecaster(hospital, checkpoint_dir=forecaster.checkpoint_dir)
    fresh.warm()
    flows = sum(m == "flow" for m in fresh.models().method.values())
    assert len(calls) == flows
    reads = []
    history = type(fresh.hospital).history  # a frozen dataclass: patched on its class
    monkeypatch.setattr(
        type(fresh.hospital), "history", lambda *a, **k: reads.append(a) or history(*a, **k)
    )
    fresh.forecast("HDU", 5), fresh.forecast("PED", 21), fresh.forecast("ICU", 9)
    for ward in fresh.models().wards:
        fresh.first_day(ward), fresh.forecast(ward, 3)
    assert len(calls) == flows  # questions slice the warmed simulations
    assert reads == []  # and each ward's scale, first day and history checks are warm too
