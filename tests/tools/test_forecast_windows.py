"""Rolling-origin windows: fev's metrics by hand, the windows, nothing seen past a cutoff."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tools.forecasting import baselines, bench, windows
from tools.forecasting.data import Dataset, Series
from tools.forecasting.metrics import QUANTILES, mase, mase_scale, panel_mase, panel_sql

MONASH = Path(__file__).resolve().parents[3] / "shared/data/monash_hospital/hospital.csv"
TINY = dict(hidden=16, layers=1, steps=20, batch=32, members=1, dropout=0.0)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared CPU: one thread avoids OpenMP spin-waits
    yield
    torch.set_num_threads(n)


def _daily(n_series=3, days=84, seed=0) -> Dataset:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-01-01", periods=days, freq="D")
    series = []
    for i in range(n_series):
        y = 10 + i + 4 * (idx.dayofweek < 5) + rng.poisson(2, days)
        series.append(Series(f"u{i}", idx, y.astype(float)))
    return Dataset(series, "D")


# ---------------------------------------------------------------- metrics


def test_panel_mase_and_sql_by_hand():
    train = [np.array([1.0, 2, 3, 4]), np.array([0.0, 4, 0, 4])]  # seasonal (m=2) scales 2, 0
    scale = np.array([mase_scale(t, 2, fallback=False) for t in train])
    assert scale.tolist() == [2.0, 0.0]
    assert np.isnan(mase_scale(np.array([1.0, 2]), 2, fallback=False))  # too short: undefined
    y = np.array([[5.0, 6], [4, 4]])
    f = np.array([[4.0, 8], [1, 1]])
    # the zero-scale series drops out: (1/2 + 2/2) / 2
    assert panel_mase(y, f, scale) == pytest.approx(0.75)
    # a NaN actual drops one (series, step), not the series
    assert panel_mase(np.array([[5.0, np.nan], [4, 4]]), f, scale) == pytest.approx(0.5)
    # SQL at the single level 0.5 is MASE (the loss is counted twice)
    assert panel_sql(y, f[..., None], scale, (0.5,)) == pytest.approx(0.75)
    # level 0.1, forecast 4 for 5: 2 * 0.1 * 1; level 0.9: 2 * 0.9 * 1; per step, then mean
    q = np.array([[[4.0, 4.0], [6.0, 6.0]]])
    got = panel_sql(np.array([[5.0, 6]]), q, np.array([1.0]), (0.1, 0.9))
    assert got == pytest.approx(np.mean([(0.2 + 0.0) / 2, (1.8 + 0.0) / 2]))
    # with the Monash fallback the same series still scores as before
    assert mase(y[0], f[0], train[0], 2) == pytest.approx(0.75)


def test_panel_metrics_agree_with_fev():
    fev_metrics = pytest.importorskip("fev.metrics")
    rng = np.random.default_rng(1)
    n, h, past = 5, 4, 12
    y_past = rng.poisson(10, (n, past)).astype(float)
    y = rng.poisson(10, (n, h)).astype(float)
    q = np.sort(rng.normal(10, 3, (n, h, len(QUANTILES))), axis=-1)
    kw = dict(
        y_true=y[..., None],
        y_pred=q[..., QUANTILES.index(0.5)][..., None],
        y_past=y_past.reshape(-1, 1),
        y_past_lengths=np.full(n, past),
        q_pred=q[:, :, None, :],
        seasonality=3,
        quantile_levels=list(QUANTILES),
    )
    scale = np.array([mase_scale(t, 3, fallback=False) for t in y_past])
    assert panel_sql(y, q, scale) == pytest.approx(fev_metrics.SQL().compute(**kw))
    assert panel_mase(y, q[..., 4], scale) == pytest.approx(fev_metrics.MASE().compute(**kw))


def test_baselines_in_worker_processes_give_the_same_forecasts():
    data = _daily(4, 70)
    methods = ("AutoETS", "AutoTheta")
    one = baselines.fit_predict(data, 7, 7, methods)
    two = baselines.fit_predict(data, 7, 7, methods, n_jobs=2)  # `bench forecast --jobs 2`
    for m in methods:
        np.testing.assert_allclose(two[m].q, one[m].q)


def test_window_cpu_seconds_count_the_baseline_worker_processes():
    c0, own0 = windows.cpu_seconds(), time.process_time()
    baselines.fit_predict(_daily(4, 70), 7, 7, ("AutoETS",), n_jobs=2)
    workers = (windows.cpu_seconds() - c0) - (time.process_time() - own0)
    assert workers > 0.01  # process_time alone missed the `--jobs` workers' CPU


def test_baselines_give_nine_sorted_quantiles_around_the_point_forecast():
    data = _daily(2, 42)
    f = baselines.fit_predict(data, 7, 7, ("SeasonalNaive",))["SeasonalNaive"]
    assert f.q.shape == (2, 7, len(QUANTILES))
    assert (np.diff(f.q, axis=-1) >= 0).all()
    last_week = np.stack([s.y[-7:] for s in data.series])
    np.testing.assert_allclose(f.p50, last_week)  # seasonal naive: last week again
    assert (f.p10 < f.p50).all() and (f.p90 > f.p50).all()
    q = bench.combine(f.q, None, 1.0, 0.5)  # the band halved about P50, every quantile
    np.testing.assert_allclose(q[..., 4], f.p50)
    np.testing.assert_allclose(q[..., 8] - q[..., 4], 0.5 * (f.p90 - f.p50))


@pytest.mark.needs_shared(MONASH)
def test_windows_and_scores_match_fev_on_monash_series(tmp_path):
    """fev's own Task (cutoffs -48..-12) scores our SeasonalNaive forecasts as we do."""
    fev = pytest.importorskip("fev")
    from tools.forecasting.bench import Forecasts
    from tools.forecasting.data import read_series, split

    data = read_series(MONASH)
    data = Dataset(data.series[:25], data.freq)
    long = [
        pd.DataFrame({"id": f"{i:03d}", "timestamp": s.index, "target": s.y})
        for i, s in enumerate(data.series)
    ]
    pd.concat(long).to_parquet(tmp_path / "hospital.parquet")
    task = fev.Task(
        dataset_path=str(tmp_path / "hospital.parquet"),
        horizon=12,
        num_windows=4,
        window_step_size=12,
        seasonality=12,
        eval_metric="SQL",
        extra_metrics=["MASE"],
        quantile_levels=list(QUANTILES),
        id_column="id",
        timestamp_column="timestamp",
        target="target",
    )
    preds, ours = [], []
    for w, end in enumerate(windows.window_ends(4, 12)):
        train, test = split(windows.cut(data, end), 12, min_train=1)
        past, _ = task.get_window(w).get_input_data()
        assert [len(p["target"]) for p in past] == [len(s) for s in train.series]
        f = baselines.fit_predict(train, 12, 12, ("SeasonalNaive",))
        ours.append(windows.score_window(Forecasts(train, test, f, {}), 12)["SeasonalNaive"])
        q = f["SeasonalNaive"].q
        preds.append(
            [
                {
                    "predictions": q[i, :, 4],
                    **{str(lv): q[i, :, k] for k, lv in enumerate(QUANTILES)},
                }
                for i in range(len(train))
            ]
        )
    summary = task.evaluation_summary(preds, model_name="SeasonalNaive")
    assert summary["MASE"] == pytest.approx(np.mean([s.mase for s in ours]), abs=1e-4)
    assert summary["SQL"] == pytest.approx(np.mean([s.sql for s in ours]), abs=1e-4)


# ---------------------------------------------------------------- windows


def test_window_ends_and_cut_follow_fev_cutoffs():
    assert windows.window_ends(4, 12) == [36, 24, 12, 0]
    assert windows.window_ends(1, 7) == [0]
    with pytest.raises(ValueError):
        windows.window_ends(0, 7)
    data = _daily(2, 30)
    short = windows.cut(data, 5)
    assert [len(s) for s in short.series] == [25, 25]
    assert short.series[0].index[-1] == data.series[0].index[-6]


def test_no_choice_sees_the_window_targets():
    """Changing a window's targets changes no forecast and no choice made for it."""
    data = _daily(3, 84)
    kw = dict(horizon=7, season=7, contexts=(14,), methods=("SeasonalNaive",), progress=False)
    cfg = bench.bench_config(data, 7, 7, **TINY)
    a = bench.forecast_all(data, config=cfg, **kw)
    moved = Dataset(
        [replace(s, y=np.concatenate([s.y[:-7], s.y[-7:] * 3 + 50])) for s in data.series], "D"
    )
    b = bench.forecast_all(moved, config=cfg, **kw)
    assert a.notes["weight"] == b.notes["weight"]
    assert a.notes["band_factor"] == b.notes["band_factor"]
    for m in a.methods:
        np.testing.assert_array_equal(a.methods[m].q, b.methods[m].q)
    assert not np.array_equal(np.stack(a.test), np.stack(b.test))


def test_evaluate_scores_every_window_and_labels_published_rows():
    data = _daily(3, 84)
    res = windows.evaluate(data, **{**_three_daily_windows(), "name": "tiny.csv"})
    methods = [r.method for r in res.rows]
    assert methods == ["SeasonalNaive", "wardwise-nn", "wardwise"]
    assert res.n_series == [3, 3, 3]
    firsts = [n["first_target"] for n in res.notes]
    assert firsts == ["2024-03-04", "2024-03-11", "2024-03-18"]  # 84 days from 1 Jan
    for r in res.rows:
        assert len(r.windows) == 3 and r.source == "run"
        assert r.mase == pytest.approx(np.mean([w.mase for w in r.windows]), abs=1e-4)
        assert r.sql == pytest.approx(np.mean([w.sql for w in r.windows]), abs=1e-4)
        assert 0 < r.sql < r.mase * 2 and 0 <= r.coverage <= 1
    assert all(n["weight"] == 1.0 for n in res.notes)  # nothing to combine with
    out = res.to_json()
    assert set(out["rows"][0]) == {
        "method",
        "mase",
        "sql",
        "coverage",
        "seconds",
        "source",
        "windows",
    }
    assert "published" not in windows.format_table(res)  # not fev-bench's hospital task

    res.rows += windows.published_rows()
    pub = {r.method: r for r in res.rows if r.source == "published"}
    assert pub["AutoETS"].mase == 0.908 and pub["Seasonal Naive"].sql == 0.8075
    assert pub["TabPFN-TS-3"].mase == 0.8526 and pub["TabPFN-TS-3"].coverage is None
    table = windows.format_table(res)
    assert table.count("published (fev-bench") == 1 and "Chronos-2" in table


def test_bench_forecast_windows_command(tmp_path):
    import typer
    from typer.testing import CliRunner

    from tools.forecast_cli import register

    rows = []
    for s in _daily(3, 70).series:
        rows += [
            {"unique_id": s.uid, "ds": d.date().isoformat(), "y": v}
            for d, v in zip(s.index, s.y, strict=True)
        ]
    path = tmp_path / "long.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    app, bench_app = typer.Typer(), typer.Typer()
    app.add_typer(bench_app, name="bench")
    register(app, bench_app)
    args = ["bench", "forecast", "--data", str(path), "--horizon", "7", "--season", "7"]
    args += ["--freq", "D", "--steps", "20", "--members", "1", "--context", "14"]
    args += ["--quiet", "--jobs", "2", "--windows", "2", "--step", "7"]
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["n_windows"] == 2 and out["step"] == 7
    methods = [r["method"] for r in out["rows"]]
    assert methods[-3:] == ["wardwise-stats", "wardwise-nn", "wardwise"]
    assert {"AutoETS", "AutoARIMA", "stats-ensemble", "fev-stat-ensemble"} <= set(methods)
    assert all(len(r["windows"]) == 2 for r in out["rows"])
    bad = CliRunner().invoke(app, [*args[:-4], "--step", "7"])
    assert bad.exit_code == 2 and "--step needs --windows" in bad.output
    bad = CliRunner().invoke(app, [*args, "--baselines", "AutoETS,Prophet"])
    assert bad.exit_code == 2 and "--baselines takes names from" in bad.output
    bad = CliRunner().invoke(app, [*args, "--combination", "best"])
    assert bad.exit_code == 2 and "--combination takes auto or one of" in bad.output


def _three_daily_windows(**extra) -> dict:
    """``windows.evaluate``'s arguments for 3 weekly windows of tiny networks."""
    return dict(
        name="daily.csv",
        horizon=7,
        season=7,
        n_windows=3,
        step=7,
        overrides=TINY,
        contexts=(14,),
        methods=("SeasonalNaive",),  # cheap; the weight's choice: test_no_choice_sees...
        progress=False,
        **extra,
    )


def test_daily_windows_cut_on_dates_and_no_choice_sees_past_its_cutoff(monkeypatch):
    """Daily data, 3 windows stepped 7 days: every series cut on the same dates (a series
    ending 2 days early is padded with gaps, one that stopped long before is left out), each
    window's forecasts and choices get nothing after its last target, and changing a later
    window's targets moves nothing chosen or scored for an earlier one."""
    data = _daily(3, 84)  # 2024-01-01 .. 2024-03-24
    early = data.series[1].head(-2)  # last reported 2024-03-22
    gone = data.series[2].head(30)  # stopped reporting on 2024-01-30
    data = Dataset([data.series[0], early, gone], "D")
    assert [len(s) for s in windows.cut(data, 0, 7).series] == [84, 84]
    w2 = windows.cut(data, 7, 7)
    assert [s.index[-1] for s in w2.series] == [pd.Timestamp("2024-03-17")] * 2
    assert np.isfinite(w2.series[1].y).all() and "u2" in w2.skipped
    last = windows.cut(data, 0, 7).series[1]
    assert np.isnan(last.y[-2:]).all() and np.isfinite(last.y[:-2]).all()

    seen = []

    def spy(d, **kw):
        seen.append(max(s.index[-1] for s in d.series))
        return bench.forecast_all(d, **kw)

    monkeypatch.setattr(windows, "forecast_all", spy)
    kw = _three_daily_windows()
    a = windows.evaluate(data, **kw)
    assert seen == [pd.Timestamp(d) for d in ("2024-03-10", "2024-03-17", "2024-03-24")]
    assert [n["first_target"] for n in a.notes] == ["2024-03-04", "2024-03-11", "2024-03-18"]
    assert a.n_series == [2, 2, 2]

    # the last window's targets (the days after the second window's last target) changed
    def later(s):
        return replace(s, y=np.where(s.index >= pd.Timestamp("2024-03-18"), s.y * 3 + 40, s.y))

    moved = Dataset([later(s) for s in data.series], "D")
    b = windows.evaluate(moved, **kw)
    for w in (0, 1):
        for k in ("weight", "band_factor", "nn_band_factor", "contexts"):
            assert a.notes[w][k] == b.notes[w][k]
        for ra, rb in zip(a.rows, b.rows, strict=True):
            assert (ra.windows[w].mase, ra.windows[w].sql) == (
                rb.windows[w].mase,
                rb.windows[w].sql,
            )
    wardwise = {r.method: r for r in b.rows}["wardwise"]
    assert wardwise.windows[2].mase != {r.method: r for r in a.rows}["wardwise"].windows[2].mase


def test_pooled_windows_pass_each_window_only_the_earlier_folds(monkeypatch):
    """With ``pooled`` each window gets the validation folds of the windows before it (all
    before its cutoff), and changing the last window's targets moves no band chosen."""
    data = _daily(3, 84)
    earlier, folds = [], []

    def spy(d, **kw):
        earlier.append(kw["earlier_folds"])
        fc = bench.forecast_all(d, **kw)
        folds.append(fc.fold)
        return fc

    monkeypatch.setattr(windows, "forecast_all", spy)
    kw = _three_daily_windows(combination="pooled")
    a = windows.evaluate(data, **kw)
    assert [len(e) for e in earlier] == [0, 1, 2]
    assert earlier[2][0] is folds[0] and earlier[2][1] is folds[1]
    assert all(n["combination"]["scheme"] == "pooled" for n in a.notes)

    def later(s):
        return replace(s, y=np.where(s.index >= pd.Timestamp("2024-03-18"), s.y * 3 + 40, s.y))

    b = windows.evaluate(Dataset([later(s) for s in data.series], "D"), **kw)
    for k in ("weight", "band_factor", "nn_band_factor"):
        assert [n[k] for n in a.notes] == [n[k] for n in b.notes]
