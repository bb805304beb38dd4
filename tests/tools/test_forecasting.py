"""The forecasting package: metrics by hand, a tiny model that learns, checkpoints, bad input."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tools.forecasting import metrics
from tools.forecasting.data import Dataset, Series, SeriesError, read_series, split
from tools.forecasting.training import GlobalModel, ModelConfig
from tools.result import ToolError

TINY = dict(hidden=32, layers=1, steps=150, batch=64, members=1, dropout=0.0)


@pytest.fixture(autouse=True)
def _two_threads():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared CPU: one thread avoids OpenMP spin-waits
    yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------- metrics


def test_mase_scale_by_hand_and_fallbacks():
    train = np.array([1.0, 2, 3, 4, 5, 6])
    assert metrics.mase_scale(train, 2) == pytest.approx(2.0)  # |3-1|, |4-2|, ... all 2
    assert metrics.mase_scale(train, 12) == pytest.approx(1.0)  # too short: one-step scale
    assert metrics.mase_scale(np.array([5.0, 5, 5]), 1) == 1.0  # zero scale: 1
    assert metrics.mase(np.array([7.0, 8]), np.array([6.0, 10]), train, 2) == pytest.approx(0.75)
    # a gap in the held-out part is left out; one in the training part drops its pairs
    assert metrics.mase(np.array([7.0, np.nan]), np.array([6.0, 0]), train, 2) == pytest.approx(0.5)
    gappy = np.array([1.0, np.nan, 3, 5, 5, 9])
    # seasonal (m=2) pairs: (3,1)=2, (5,nan)=-, (5,3)=2, (9,5)=4 -> 8/3
    assert metrics.mase_scale(gappy, 2) == pytest.approx(8 / 3)


def test_smape_coverage_and_pinball_by_hand():
    assert metrics.smape(np.array([100.0, 0]), np.array([50.0, 0])) == pytest.approx(
        (200 * 50 / 150 + 0) / 2
    )
    y = np.array([1.0, 5, 9, np.nan])
    lo, hi = np.array([0.0, 6, 8, 0]), np.array([2.0, 7, 10, 1])
    assert metrics.coverage(y, lo, hi) == pytest.approx(2 / 3)
    # q=0.1 forecast 2 for actual 1: (0.1-1)*(1-2) = 0.9; q=0.9 forecast 2: 0.9*... = 0.1*1
    q = np.array([[2.0, 2.0]])
    assert metrics.pinball(np.array([1.0]), q, (0.1, 0.9)) == pytest.approx((0.9 + 0.1) / 2)
    assert metrics.pinball(np.array([3.0]), q, (0.1, 0.9)) == pytest.approx((0.1 + 0.9) / 2)


def test_old_import_path_keeps_working():
    from tools.forecast import coverage, mase

    assert mase is metrics.mase and coverage is metrics.coverage


# ------------------------------------------------------------------ data


def _write(tmp_path, rows, name="s.csv"):
    p = tmp_path / name
    pd.DataFrame(rows).to_csv(p, index=False)
    return p


def test_long_csv_gaps_become_nan_and_zeros_can_be_gaps(tmp_path):
    p = _write(
        tmp_path,
        {
            "unique_id": ["a"] * 4 + ["b"] * 2,
            "ds": [
                "2024-01-01",
                "2024-01-02",
                "2024-01-04",
                "2024-01-05",
                "2024-01-01",
                "2024-01-02",
            ],
            "y": [3, 0, 5, 6, 1, 2],
        },
    )
    d = read_series(p, freq="D")
    a = d.series[0]
    assert a.uid == "a" and len(a) == 5 and np.isnan(a.y[2]) and a.y[1] == 0
    d2 = read_series(p, freq="D", zeros="missing")
    assert np.isnan(d2.series[0].y[1])


@pytest.mark.parametrize(
    "rows,freq,match",
    [
        (
            {"unique_id": ["a", "a"], "ds": ["2024-01-01", "2024-01-02"], "y": [1, -2]},
            "D",
            "negative",
        ),
        (
            {"unique_id": ["a", "a"], "ds": ["2024-01-01", "2024-01-01"], "y": [1, 2]},
            "D",
            "more than one",
        ),
        (
            {"unique_id": ["a", "a"], "ds": ["2024-01-01", "2024-01-02"], "y": [1, 2]},
            None,
            "--freq",
        ),
        ({"id": [1], "when": [2], "value": [3]}, "D", "unrecognised"),
        ({"unique_id": ["a"], "ds": ["2024-01-01"], "y": [None]}, "D", "no usable series"),
    ],
)
def test_bad_series_files_are_clear_errors(tmp_path, rows, freq, match):
    with pytest.raises(SeriesError, match=match):
        read_series(_write(tmp_path, rows), freq=freq)


def test_monash_wide_file_and_short_series_are_skipped(tmp_path):
    cols = {"SKU": ["x", "y"], "root": ["r", "r"]}
    for i in range(30):
        cols[f"Month{i % 12 + 1} {2000 + i // 12}"] = [i, (i % 12) if i >= 20 else None]
    d = read_series(_write(tmp_path, cols))
    assert d.freq == "MS" and [s.uid for s in d.series] == ["x/r", "y/r"]
    assert d.series[0].index[0] == pd.Timestamp("2000-01-01") and len(d.series[1]) == 10
    train, test = split(d, 6, min_train=12)
    assert [s.uid for s in train.series] == ["x/r"] and "y/r" in train.skipped
    assert test[0].tolist() == list(range(24, 30))


# ----------------------------------------------------------------- model


def _seasonal(n_series=12, T=140, period=7, seed=0) -> Dataset:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2023-01-02", periods=T, freq="D")
    out = []
    for i in range(n_series):
        base = 20 + 5 * i
        amp = base * 0.5
        y = base + amp * np.sin(2 * np.pi * np.arange(T) / period + i) + rng.normal(0, 1, T)
        out.append(Series(f"s{i}", idx, np.maximum(y, 0)))
    return Dataset(out, "D")


def test_model_learns_a_seasonal_series_far_better_than_naive():
    data = _seasonal()
    H = 7
    train, test = split(data, H, min_train=20)
    cfg = ModelConfig(horizon=H, season=7, freq="D", context=28, **TINY)
    model = GlobalModel.fit(train, cfg, device="cpu", progress=False)
    q = model.predict(train)
    assert q.shape == (len(train), H, len(metrics.QUANTILES))
    assert np.all(np.diff(q, axis=2) >= 0)
    mm = np.mean([metrics.mase(test[i], q[i, :, 4], s.y, 7) for i, s in enumerate(train.series)])
    naive = np.mean(
        [metrics.mase(test[i], np.repeat(s.y[-1], H), s.y, 7) for i, s in enumerate(train.series)]
    )
    assert mm < 0.5 * naive, (mm, naive)
    cov = np.mean([metrics.coverage(test[i], q[i, :, 0], q[i, :, 8]) for i in range(len(test))])
    assert 0.4 < cov <= 1.0


def test_training_is_seeded_and_checkpoints_round_trip(tmp_path):
    from tools.forecasting import checkpoint

    data = _seasonal(n_series=4, T=80)
    cfg = ModelConfig(horizon=5, season=7, freq="D", context=14, **{**TINY, "steps": 20})
    a = GlobalModel.fit(data, cfg, device="cpu", progress=False)
    b = GlobalModel.fit(data, cfg, device="cpu", progress=False)
    qa = a.predict(data)
    assert np.array_equal(qa, b.predict(data))
    path = checkpoint.save(tmp_path / "m.pt", {"m": a}, {"note": "x", "n": [1, 2]})
    models, meta = checkpoint.load(path, "cpu")
    assert meta == {"note": "x", "n": [1, 2]}
    assert models["m"].config == a.config
    assert np.array_equal(models["m"].predict(data), qa)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError):
        checkpoint.load(tmp_path / "junk.pt")


def test_networks_trained_in_worker_processes_equal_those_trained_in_one():
    from dataclasses import replace

    from tools.forecasting.training import ContextEnsemble

    data = _seasonal(n_series=4, T=80)
    cfg = ModelConfig(horizon=5, season=7, freq="D", context=14, **{**TINY, "steps": 20})
    cfg = replace(cfg, members=2, seed=3)
    one = ContextEnsemble.fit(data, cfg, (7, 14), device="cpu", progress=False)
    two = ContextEnsemble.fit(data, cfg, (7, 14), device="cpu", progress=False, jobs=2)
    assert [m.config for m in two.models] == [m.config for m in one.models]
    assert [len(m.nets) for m in two.models] == [2, 2]
    assert np.array_equal(two.predict(data), one.predict(data))
    # and a series too short for any context fails the same way in a worker
    short = Dataset([s.head(5) for s in data.series], data.freq)
    with pytest.raises(ValueError, match="no training window"):
        ContextEnsemble.fit(short, cfg, (14,), device="cpu", progress=False, jobs=2)


def test_a_failed_checkpoint_write_keeps_the_old_one_and_leaves_no_partial_file(
    tmp_path, monkeypatch
):
    from tools.forecasting import checkpoint

    data = _seasonal(n_series=2, T=40)
    cfg = ModelConfig(horizon=5, season=7, freq="D", context=14, **{**TINY, "steps": 2})
    m = GlobalModel.fit(data, cfg, device="cpu", progress=False)
    path = checkpoint.save(tmp_path / "m.pt", {"m": m}, {"n": 1})

    def full_disk(blob, f):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    with pytest.raises(OSError, match="No space"):
        checkpoint.save(path, {"m": m}, {"n": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
    assert checkpoint.load(path, "cpu")[1] == {"n": 1}


@pytest.mark.parametrize("arch", ["nbeats", "gru"])
def test_other_architectures_train_and_predict(arch):
    data = _seasonal(n_series=3, T=60)
    cfg = ModelConfig(horizon=4, season=7, freq="D", context=14, arch=arch, **{**TINY, "steps": 5})
    q = GlobalModel.fit(data, cfg, device="cpu", progress=False).predict(data)
    assert q.shape == (3, 4, 9) and np.isfinite(q).all()


def test_calendar_features_mark_holidays_and_their_neighbours():
    from tools.forecasting.calendar import calendar_features, n_features

    idx = pd.date_range("2024-12-20", "2025-01-03", freq="D")
    f = calendar_features(idx, "D", "GB-ENG")
    assert f.shape == (len(idx), n_features("D", "GB-ENG"))
    is_h = f[:, -3]
    assert [d.day for d, h in zip(idx, is_h, strict=True) if h] == [25, 26, 1]
    assert f[list(idx).index(pd.Timestamp("2024-12-28")), -2] > 0  # near the last holiday
    with pytest.raises(ValueError, match="holiday calendar"):
        calendar_features(idx, "D", "XX")


# ----------------------------------------------------- length of stay, census


def test_length_of_stay_is_recovered_from_daily_counts():
    from tools.forecasting.los import fit_los, mean_stay, simulate_census

    rng = np.random.default_rng(3)
    T, stay = 500, 4  # every patient stays exactly four nights
    adm = rng.poisson(6, T).astype(float)
    census = np.array([adm[max(0, t - stay + 1) : t + 1].sum() for t in range(T)])
    p = fit_los(adm, census)
    assert mean_stay(p) == pytest.approx(stay, abs=0.2)
    adm_q = np.tile(np.quantile(rng.poisson(6, 5000), metrics.QUANTILES), (10, 1))
    q = simulate_census(p, adm, census[-1], adm_q, metrics.QUANTILES, n_sims=500)
    assert q.shape == (10, 9) and np.all(np.diff(q, axis=1) >= 0)
    # after four days every patient is new: the census is about 4 days of admissions
    assert q[-1, 4] == pytest.approx(24, abs=3)


# ------------------------------------------------------------ the forecaster


@pytest.fixture(scope="module")
def small_hospital(tmp_path_factory):
    from knowledge.demo import generate
    from knowledge.hospital import load

    return load(generate(tmp_path_factory.mktemp("h"), years=1, end=date(2026, 3, 31)))


@pytest.fixture(scope="module")
def tiny_ward_config():
    from tools.forecasting.wards import WardConfig

    return WardConfig(hidden=32, layers=1, steps=40, members=1, backtest_days=35, n_sims=100)


def test_forecaster_checkpoint_is_reused_until_the_data_changes(
    tmp_path, small_hospital, tiny_ward_config, monkeypatch
):
    from knowledge.hospital import Hospital
    from tools.forecast import Forecaster
    from tools.forecasting.wards import WardConfig

    f1 = Forecaster(small_hospital, checkpoint_dir=tmp_path, config=tiny_ward_config)
    r1 = f1.forecast("CARD", 14)
    assert f1.trained_now and (tmp_path / "ward-forecaster.pt").exists()
    assert len(r1.days) == 14 and len(r1.admissions) == 14
    assert all(0 <= d.p10 <= d.p50 <= d.p90 for d in r1.days)
    assert r1.backtest.origins > 0 and r1.backtest.method in ("flow", "direct")
    labels = {f.label for f in r1.facts}
    assert {"estimated mean length of stay", "backtest MASE, 14-day horizon"} <= labels

    f2 = Forecaster(small_hospital, checkpoint_dir=tmp_path, config=tiny_ward_config)
    r2 = f2.forecast("CARD", 14)
    assert not f2.trained_now and r2 == r1  # fresh checkpoint: no retraining

    # one more day of data keeps it fresh; a changed past does not
    daily = small_hospital.daily
    last = daily[daily.date == daily.date.max()].copy()
    last["date"] = last["date"] + pd.Timedelta(days=1)
    newer = Hospital(small_hospital.wards, pd.concat([daily, last], ignore_index=True))
    f3 = Forecaster(newer, checkpoint_dir=tmp_path, config=tiny_ward_config)
    assert f3.checkpoint_is_fresh()
    changed = daily.copy()
    changed.loc[changed.index[5], "admissions"] += 3
    f4 = Forecaster(
        Hospital(small_hospital.wards, changed), checkpoint_dir=tmp_path, config=tiny_ward_config
    )
    assert not f4.checkpoint_is_fresh()
    much_later = Forecaster(newer, checkpoint_dir=tmp_path, config=tiny_ward_config, max_age_days=0)
    assert not much_later.checkpoint_is_fresh()
    other = Forecaster(small_hospital, checkpoint_dir=tmp_path, config=WardConfig(steps=41))
    assert not other.checkpoint_is_fresh()
    # other training code (or another torch): the same data and configuration make new models
    from tools.forecasting import checkpoint

    monkeypatch.setattr(checkpoint, "code_digest", lambda: "another-version")
    assert not f3.checkpoint_is_fresh()


def test_the_code_digest_covers_every_module_ward_training_imports():
    """``TRAINING_CODE`` is a hand-kept list: a module that ward training comes to import and
    the list misses would let a checkpoint outlive a change to it."""
    import subprocess
    import sys

    from tools.forecasting import checkpoint

    probe = (
        "import sys, tools.forecasting.wards, tools.forecasting.checkpoint\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('tools.'))))"
    )
    root = Path(checkpoint.__file__).parents[2]
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=root, check=True
    ).stdout.split()
    imported = {
        m.removeprefix("tools.forecasting.") + ".py" for m in out if m != "tools.forecasting"
    }
    assert imported == set(checkpoint.TRAINING_CODE), out


def test_the_code_digest_follows_the_training_code_and_torch(tmp_path, monkeypatch):
    import shutil

    from tools.forecasting import checkpoint

    package = Path(checkpoint.__file__).parent
    for name in checkpoint.TRAINING_CODE:
        shutil.copy(package / name, tmp_path / name)
    before = checkpoint.code_digest.__wrapped__(tmp_path)
    assert before == checkpoint.code_digest.__wrapped__(tmp_path)  # stable
    assert before == checkpoint.code_digest()  # the package's own
    with open(tmp_path / "training.py", "a", encoding="utf-8") as f:
        f.write("\n# a changed line\n")
    assert checkpoint.code_digest.__wrapped__(tmp_path) != before
    shutil.copy(package / "training.py", tmp_path / "training.py")
    assert checkpoint.code_digest.__wrapped__(tmp_path) == before
    monkeypatch.setattr(torch, "__version__", "0.0.1")
    assert checkpoint.code_digest.__wrapped__(tmp_path) != before


def _with(hospital, frame):
    from knowledge.hospital import Hospital

    return Hospital(hospital.wards, frame.reset_index(drop=True))


@pytest.mark.parametrize(
    "edit,ward,days,code",
    [
        (None, "Narnia", 7, "unknown_ward"),
        (None, "ICU", 29, "bad_horizon"),
        (None, "ICU", 0, "bad_horizon"),
        ("negative", "ICU", 7, "bad_data"),
        ("gappy", "ICU", 7, "gappy_history"),
        ("stale", "ICU", 7, "stale_history"),
        ("short", "ICU", 7, "short_history"),
    ],
)
def test_bad_forecast_requests_are_clear_errors(
    small_hospital, tiny_ward_config, edit, ward, days, code
):
    from tools.forecast import Forecaster

    d = small_hospital.daily.copy()
    icu = d.ward_id == "ICU"
    if edit == "negative":
        d.loc[d.index[icu][-3], "census"] = -1
    elif edit == "gappy":
        d = d[~icu | (d.date.dt.day % 3 != 0)]
    elif edit == "stale":
        d = d[~icu | (d.date < d.date.max() - pd.Timedelta(days=20))]
    elif edit == "short":
        d = d[~icu | (d.date > d.date.max() - pd.Timedelta(days=40))]
    f = Forecaster(_with(small_hospital, d), config=tiny_ward_config)
    with pytest.raises(ToolError) as e:
        f.forecast(ward, days)
    assert e.value.code == code
    assert f._models is None  # refused before any training


def test_small_gaps_are_a_documented_fallback(small_hospital, tiny_ward_config):
    from tools.forecast import Forecaster

    d = small_hospital.daily
    holes = (d.ward_id == "SURG") & d.date.isin(d.date.drop_duplicates().sample(20, random_state=1))
    holes &= d.date < d.date.max()
    f = Forecaster(_with(small_hospital, d[~holes]), config=tiny_ward_config)
    r = f.forecast("SURG", 7)
    assert all(np.isfinite([x.p10, x.p50, x.p90]).all() for x in r.days)


# ------------------------------------------------------------------- CLI


def test_bench_forecast_command_prints_json_rows(tmp_path):
    import typer
    from typer.testing import CliRunner

    from tools.forecast_cli import register

    rng = np.random.default_rng(0)
    rows = []
    for i in range(4):
        for ds in pd.date_range("2024-01-01", periods=70, freq="D"):
            y = 10 + i + 4 * (ds.dayofweek < 5) + rng.poisson(2)
            rows.append({"unique_id": f"u{i}", "ds": ds.date().isoformat(), "y": int(y)})
    path = _write(tmp_path, rows, "long.csv")
    app, bench_app = typer.Typer(), typer.Typer()
    app.add_typer(bench_app, name="bench")
    register(app, bench_app)
    args = ["bench", "forecast", "--data", str(path), "--horizon", "7", "--season", "7"]
    args += [
        "--freq",
        "D",
        "--steps",
        "20",
        "--members",
        "1",
        "--context",
        "14,21",
        "--json",
        "--quiet",
        "--threads",
        "1",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    methods = [r["method"] for r in out["rows"]]
    assert methods[-3:] == ["wardwise-stats", "wardwise-nn", "wardwise"]
    assert {"stats-ensemble", "DynamicOptimizedTheta", "AutoCES"} <= set(methods)
    assert set(out["rows"][0]) == {"method", "mase", "smape", "coverage", "pinball", "seconds"}
    assert out["notes"]["contexts"] == [14, 21]
    assert out["defaults"]["season"] == {"value": 7, "source": "flag", "reason": "given"}
    assert out["defaults"]["zeros"]["value"] == "keep"  # no zeros in it
    assert out["defaults"]["max_history"]["value"] == 364
    assert out["notes"]["max_history"] == 364
    worse = CliRunner().invoke(app, [*args[:-8], "--context", "14,x"])
    assert worse.exit_code == 2 and "--context takes integers" in worse.output
    bad = CliRunner().invoke(app, ["bench", "forecast", "--data", str(tmp_path / "nope.csv")])
    assert bad.exit_code == 2 and "no such file" in bad.output


# -------------------------------------------------------------- defaults


def _counts(days=84, level=60.0, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-01-01", periods=days, freq="D")
    return rng.poisson(level * (1 - 0.3 * (idx.dayofweek >= 5))).astype(float)


def test_zeros_are_gaps_where_a_zero_count_is_implausible():
    from tools.forecasting import defaults

    idx = pd.date_range("2024-01-01", periods=84, freq="D")
    busy = _counts()
    busy[[10, 40, 41]] = 0  # unreported days of a trust with ~60 discharges a day
    sundays = _counts(seed=1)
    sundays[idx.dayofweek == 6] = 0  # a trust that never reports on Sundays
    z = defaults.zeros_for(Dataset([Series("a", idx, busy), Series("b", idx, sundays)], "D"), 7)
    assert z.value == "missing" and z.source == "inferred" and "15 of 15 zeros" in z.reason

    quiet = np.random.default_rng(2).poisson(1.5, 84).astype(float)  # real zero counts
    assert (quiet == 0).sum() > 5
    z = defaults.zeros_for(Dataset([Series("q", idx, quiet)], "D"), 7)
    assert z.value == "keep"
    assert defaults.zeros_for(Dataset([Series("a", idx, _counts())], "D"), 7).reason == "no zeros"

    # hourly arrivals, ~2 an hour at night and ~9 by day: night zeros are counts
    hours = pd.date_range("2024-01-01", periods=24 * 28, freq="h")
    lam = np.where((hours.hour >= 8) & (hours.hour < 22), 9.0, 2.0)
    ed = np.random.default_rng(3).poisson(lam).astype(float)
    assert defaults.zeros_for(Dataset([Series("ed", hours, ed)], "h"), 24).value == "keep"


def test_holidays_season_and_history_come_from_the_data(tmp_path):
    from tools.forecasting import defaults

    nhs = _write(tmp_path, {"nhs_trust22_code": ["X"], "date": ["2024-01-01"]}, "any.csv")
    assert defaults.holidays_for(nhs, "nhs-discharges", "D").value == "GB-ENG"
    assert defaults.holidays_for(nhs, "uihc-ed", "h").value == "US"
    assert defaults.holidays_for(nhs, "long", "D").value is None  # nothing says
    named = _write(tmp_path, {"unique_id": ["a"], "ds": ["2024-01-01"], "y": [1]}, "england_x.csv")
    h = defaults.holidays_for(named, "long", "D")
    assert (h.value, h.reason) == ("GB-ENG", "'england' in the file name")
    col = _write(tmp_path, {"unique_id": ["a", "b"], "country": ["USA", "USA"]}, "c.csv")
    assert defaults.holidays_for(col, "long", "h").value == "US"
    assert defaults.holidays_for(named, "long", "MS").value is None  # monthly: no holidays

    assert [defaults.season_for(f).value for f in ("MS", "D", "h")] == [12, 7, 24]
    assert [defaults.max_history_for(f).value for f in ("MS", "D", "h")] == [None, 364, 2016]


def test_read_infers_what_no_flag_gives_and_flags_override(tmp_path):
    from tools.forecasting import defaults

    idx = pd.date_range("2024-01-01", periods=84, freq="D")
    rows = []
    for i in range(3):
        y = _counts(seed=i)
        y[[20, 50]] = 0  # every trust reports 0 on the same two days
        rows += [
            {"nhs_trust22_code": f"T{i}", "date": d.date().isoformat(), "discharged_total": v}
            for d, v in zip(idx, y, strict=True)
        ]
    path = _write(tmp_path, rows, "discharges.csv")
    data, picked = defaults.read(path)
    flagged = read_series(path, zeros="missing")
    for a, b in zip(data.series, flagged.series, strict=True):
        np.testing.assert_array_equal(a.y, b.y)
    assert np.isnan(data.series[0].y[20])
    got = {k: (v["value"], v["source"]) for k, v in picked.to_json().items()}
    assert got == {
        "season": (7, "inferred"),
        "zeros": ("missing", "inferred"),
        "holidays": ("GB-ENG", "inferred"),
        "max_history": (364, "inferred"),
    }
    data, picked = defaults.read(path, zeros="keep", holidays="none", max_history=0, season=14)
    assert data.series[0].y[20] == 0
    assert [c.source for c in (picked.season, picked.zeros, picked.holidays)] == ["flag"] * 3
    assert picked.max_history.value == 0 and picked.holidays.value == "none"


def test_monash_defaults_are_the_published_settings(tmp_path):
    """Monthly data gets what the Monash table was made with: season 12, zeros kept, all
    history, no holidays (so its default path is unchanged)."""
    from tools.forecasting import defaults

    cols = {"SKU": ["x"], "root": ["r"]}
    for i in range(30):
        cols[f"Month{i % 12 + 1} {2000 + i // 12}"] = [i % 5]
    _, picked = defaults.read(_write(tmp_path, cols))
    assert (picked.season.value, picked.zeros.value) == (12, "keep")
    assert picked.holidays.value is None and picked.max_history.value is None
