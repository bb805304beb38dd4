"""Rolling-origin evaluation over several windows: fev-bench's protocol, choices nested.

Window ``w`` of ``n`` (1 = oldest) forecasts the ``horizon`` points after its cutoff, which
lies ``horizon + (n - w) * step`` points before each series' end (fev's integer cutoffs: for
Monash hospital, h = 12, 4 windows 12 apart, the cutoffs are at -48, -36, -24 and -12
months). Each window is one :func:`tools.forecasting.bench.forecast_all` on the series cut
just after that window, so everything wardwise chooses (the context cap, the model weight,
the band factors, the combination scheme) is chosen on its validation fold, the ``horizon``
points before the cutoff (with ``pooled``, the band on it and the earlier windows' folds):
no window's targets are seen before they are scored.

Scores per window, fev's definitions (:func:`~tools.forecasting.metrics.panel_mase`,
:func:`~tools.forecasting.metrics.panel_sql`), then averaged over windows as fev-bench does:

``mase``      of P50, per-series seasonal scale from the whole history before the cutoff;
``sql``       scaled quantile loss over P10..P90 (fev-bench's eval metric);
``coverage``  share of held-out points inside P10..P90 (0.8 is calibrated);
``seconds``   fit + predict wall time, summed over windows.

The statistical baselines are scored as statsforecast gives them (fev-bench does not clip
them at 0); wardwise's rows are clipped. On the Monash hospital task the published fev-bench
rows (``fev_bench_hospital.csv``, from autogluon/fev ``benchmarks/fev_bench/results``) are
shown beside the run's, with ``source: published``.
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tools.forecasting.bench import Forecasts, forecast_all
from tools.forecasting.combination import Fold
from tools.forecasting.data import Dataset, Series
from tools.forecasting.metrics import QUANTILES, coverage, mase_scale, panel_mase, panel_sql

PUBLISHED = Path(__file__).with_name("fev_bench_hospital.csv")
# fev-bench's `hospital` task: what a run must match for its published rows to apply.
FEV_HOSPITAL = {"name": "hospital", "freq": "MS", "horizon": 12, "season": 12, "windows": 4}
FEV_HOSPITAL_SERIES = 767


@dataclass
class WindowScore:
    """One method's scores on one window."""

    first_target: str
    mase: float
    sql: float
    coverage: float
    seconds: float


@dataclass
class WindowRow:
    """One method's scores averaged over windows, and each window's."""

    method: str
    mase: float
    sql: float
    coverage: float | None
    seconds: float | None
    source: str = "run"
    windows: list[WindowScore] = field(default_factory=list)


@dataclass
class WindowsResult:
    """The multi-window table, and what it was measured on.

    Attributes:
        rows: the run's rows, then the published ones (if the data is their task).
        n_series: series scored per window.
        notes: per window, the choices made before its cutoff and its wall/CPU seconds.
    """

    rows: list[WindowRow]
    data: str
    n_series: list[int]
    horizon: int
    season: int
    n_windows: int
    step: int
    wall_seconds: float = 0.0
    skipped: list[int] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        """``{"rows": [...], "data", "n_windows", ...}``: what ``--json`` prints."""
        return {**asdict(self), "wall_seconds": round(self.wall_seconds, 1)}


def cut(data: Dataset, n: int, horizon: int | None = None) -> Dataset:
    """``data`` ending ``n`` periods before its last timestamp, every series on one date.

    The window's last target is the data's last timestamp minus ``n`` periods of its
    frequency (months, days or hours), the same date for every series, so a window's
    targets are the same days in every series even where a series' trailing gap was trimmed.
    A series that ends up to ``horizon`` periods early is padded with gaps (NaN) to that
    date; one that ends earlier than that is left out of the window (listed in
    ``skipped``). When every series ends on the same date (Monash hospital) this is fev's
    integer cutoff: each series without its last ``n`` points. Covariates are kept whole.

    Args:
        data: the series.
        n: periods between the window's last target and the data's last timestamp.
        horizon: the window's length (default: no padding; a series ending early is left out).
    """
    last = max(s.index[-1] for s in data.series)
    end = last - n * pd.tseries.frequencies.to_offset(data.freq)
    pad = horizon or 0
    kept, skipped = [], dict(data.skipped)
    for s in data.series:
        if s.index[-1] >= end:
            k = int(np.searchsorted(s.index, end, side="right"))
            if k > 0:
                kept.append(s.head(k))
                continue
        short = len(pd.date_range(s.index[-1], end, freq=data.freq)) - 1
        if short > pad or short < 0:
            skipped[s.uid] = f"ends {s.index[-1]}, before the window ending {end}"
            continue
        idx = pd.date_range(s.index[0], end, freq=data.freq)
        y = np.concatenate([s.y, np.full(short, np.nan)])
        kept.append(Series(s.uid, idx, y, s.exog))
    return Dataset(kept, data.freq, data.exog_names, skipped)


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children (``--jobs`` workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def window_ends(n_windows: int, step: int) -> list[int]:
    """Per window, oldest first: how many points after its targets each series is cut by."""
    if n_windows < 1 or step < 1:
        raise ValueError(f"windows and step must be positive, got {n_windows} and {step}")
    return [(n_windows - 1 - w) * step for w in range(n_windows)]


def score_window(fc: Forecasts, season: int) -> dict[str, WindowScore]:
    """fev's MASE and SQL, and the P10-P90 coverage, of every method of one window."""
    y = np.stack(fc.test)
    scale = np.array([mase_scale(s.y, season, fallback=False) for s in fc.train.series])
    firsts = pd.Series([s.index[-1] for s in fc.train.series])
    first = pd.date_range(firsts.mode()[0], periods=2, freq=fc.train.freq)[1]
    out = {}
    for method, f in fc.methods.items():
        cov = np.mean([coverage(t, f.p10[i], f.p90[i]) for i, t in enumerate(fc.test)])
        out[method] = WindowScore(
            str(first.date()),
            round(panel_mase(y, f.p50, scale), 4),
            round(panel_sql(y, f.q, scale, QUANTILES), 4),
            round(float(cov), 4),
            round(f.seconds, 1),
        )
    return out


def evaluate(
    data: Dataset,
    *,
    name: str,
    horizon: int,
    season: int,
    n_windows: int = 4,
    step: int | None = None,
    **options,
) -> WindowsResult:
    """Every method on ``n_windows`` rolling windows ``step`` points apart.

    Args:
        data: the series.
        name: the data's name for the table (its stem picks the published rows).
        horizon: points forecast per window and series.
        season: seasonal period for MASE, SQL and the baselines.
        n_windows: how many windows; the last one ends at each series' end.
        step: points between consecutive cutoffs (default: ``horizon``).
        **options: the other arguments of :func:`tools.forecasting.bench.forecast_all`
            (overrides, contexts, device, methods, max_history, min_train, progress, log),
            applied to every window; the torch config is chosen per window by
            :func:`tools.forecasting.bench.bench_config` on that window's training part.
    """
    t_start = time.perf_counter()
    say = options.get("log") or (lambda m: None)
    step = step or horizon
    per_method: dict[str, list[WindowScore]] = {}
    n_series, skipped, notes = [], [], []
    folds: list[Fold] = []  # earlier windows' validation folds: all before a later cutoff
    for w, end in enumerate(window_ends(n_windows, step), start=1):
        say(f"{name}: window {w}/{n_windows} (each series cut by {end} points)")
        t0, c0 = time.perf_counter(), cpu_seconds()
        fc = forecast_all(
            cut(data, end, horizon),
            horizon=horizon,
            season=season,
            earlier_folds=tuple(folds),
            **options,
        )
        if fc.fold is not None:
            folds.append(fc.fold)
        scores = score_window(fc, season)
        for method, sc in scores.items():
            per_method.setdefault(method, []).append(sc)
        n_series.append(len(fc.train))
        skipped.append(len(fc.train.skipped))
        keys = ("contexts", "weight", "band_factor", "nn_band_factor", "combination")
        note = {k: fc.notes[k] for k in keys}
        note["first_target"] = next(iter(scores.values())).first_target
        note["wall_seconds"] = round(time.perf_counter() - t0, 1)
        note["cpu_seconds"] = round(cpu_seconds() - c0, 1)
        note["device"] = fc.notes["device"]
        notes.append(note)
        say(
            f"window {w} ({note['wall_seconds']:.0f} s wall, {note['cpu_seconds']:.0f} s CPU, "
            f"{note['device']}): " + ", ".join(f"{m} {s.mase:.4f}" for m, s in scores.items())
        )
    rows = [
        WindowRow(
            method,
            round(float(np.mean([s.mase for s in ws])), 4),
            round(float(np.mean([s.sql for s in ws])), 4),
            round(float(np.mean([s.coverage for s in ws])), 4),
            round(float(sum(s.seconds for s in ws)), 1),
            "run",
            ws,
        )
        for method, ws in per_method.items()
    ]
    task = {
        "name": Path(name).stem,
        "freq": data.freq,
        "horizon": horizon,
        "season": season,
        "windows": n_windows,
    }
    if task == FEV_HOSPITAL and step == horizon and set(n_series) == {FEV_HOSPITAL_SERIES}:
        rows += published_rows()
    return WindowsResult(
        rows,
        name,
        n_series,
        horizon,
        season,
        n_windows,
        step,
        time.perf_counter() - t_start,
        skipped,
        notes,
    )


def published_rows(path: Path = PUBLISHED) -> list[WindowRow]:
    """fev-bench's published rows for its ``hospital`` task, labelled ``published``."""
    with open(path, newline="") as fh:
        return [
            WindowRow(r["model"], float(r["mase"]), float(r["sql"]), None, None, "published")
            for r in csv.DictReader(fh)
        ]


def format_table(result: WindowsResult) -> str:
    """The result as a fixed-width text table: means, then each window's MASE / SQL."""
    n = result.n_windows
    head = f"{'method':<24}{'MASE':>8}{'SQL':>8}{'P10-P90':>9}{'seconds':>9}  "
    head += "".join(f"{f'w{w + 1} MASE/SQL':>16}" for w in range(n))
    firsts = [note["first_target"] for note in result.notes]
    series = sorted(set(result.n_series))
    lines = [
        f"{result.data}: {'-'.join(map(str, series))} series, horizon {result.horizon}, "
        f"season {result.season}, {n} windows {result.step} apart "
        f"(first targets {', '.join(firsts)})",
        head,
        "-" * len(head),
    ]
    for i, r in enumerate(result.rows):
        if r.source == "published" and (i == 0 or result.rows[i - 1].source != "published"):
            lines += ["", "published (fev-bench, autogluon/fev benchmarks/fev_bench/results):"]
        cov = f"{r.coverage:>9.3f}" if r.coverage is not None else f"{'':>9}"
        sec = f"{r.seconds:>9.1f}" if r.seconds is not None else f"{'':>9}"
        per = "".join(f"{f'{s.mase:.3f}/{s.sql:.3f}':>16}" for s in r.windows)
        lines.append(f"{r.method:<24}{r.mase:>8.4f}{r.sql:>8.4f}{cov}{sec}  {per}".rstrip())
    lines.append(f"wall time {result.wall_seconds:.0f} s")
    for w, note in enumerate(result.notes, start=1):
        lines.append(
            f"window {w}: {note['combination']['scheme']} combination, model weight (P50) "
            f"{note['weight']}, P10/P90 band factor {note['band_factor']}, "
            f"contexts {note['contexts']}, {note['wall_seconds']:.0f} s wall, "
            f"{note['cpu_seconds']:.0f} s CPU ({note['device']})"
        )
    return "\n".join(lines)
