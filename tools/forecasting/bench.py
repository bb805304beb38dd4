"""The forecasting benchmark: every method on the same hold-out, one table.

Protocol (the Monash archive's): hold out the last ``horizon`` points of every series, fit
on the rest, forecast them, and average per-series scores over series:

``mase``      mean absolute scaled error (seasonal naive scale, period ``season``);
``smape``     symmetric MAPE, percent;
``coverage``  share of held-out points inside P10..P90 (0.8 is calibrated);
``pinball``   mean pinball loss over P10, P50 and P90, divided by the MASE scale;
``seconds``   fit + predict wall time.

Rows: the statistical baselines (:mod:`tools.forecasting.baselines`), ``stats-ensemble``,
``fev-stat-ensemble`` (fev-bench's ``Stat. Ensemble``: the median of AutoETS, AutoARIMA,
DOTM and AutoCES), ``wardwise-stats`` (the mean of the statistical models ``wardwise``
uses, without the torch model: what the model adds is the gap between it and
``wardwise``), ``wardwise-nn`` (the torch model alone) and ``wardwise`` (the project's
forecaster). :mod:`tools.forecasting.windows` repeats this over several rolling windows.

The torch model is a :class:`ContextEnsemble`: for monthly data one global model per
context length (12, 18, 24 and 36 months, five seeds each), their quantiles averaged; for
daily and hourly data one context. ``wardwise`` combines it with the mean of the cheap
statistical models AutoETS, AutoTheta, DynamicOptimizedTheta and AutoCES (AutoARIMA costs
ten times their time and, measured on the Monash validation fold, adds nothing to the
combination). How is chosen on a validation fold carved from the training part only (the
last ``horizon`` points before the hold-out): the torch models are trained on the data
before it, the statistical models are fitted on it, and a
:class:`~tools.forecasting.combination.Combination` is chosen there: the model's weight
against the statistical forecast (0 to 1 in steps of 0.1) and the band factors, either one
of each (``global``: the weight by mean MASE, the P10..P90 band to 80% coverage), one per
quantile level (``quantile``), or one weight per step and level (``step-quantile``), each
level by its own scaled quantile loss; ``auto`` takes the scheme that two-fold
cross-validation across the fold's series scores best. The default is ``global``: on the
Monash windows the per-level band factors learned the validation year's common shift and
cost 0.037 SQL in the next year (docs/forecasting.md). The models are then
retrained on the whole training part and combined with the statistical forecasts of the
table as chosen. Its seconds include both trainings and all the statistical fits it uses.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from tools.forecasting import baselines
from tools.forecasting.combination import Combination, Fold
from tools.forecasting.combination import fit as fit_combination
from tools.forecasting.data import Dataset, read_series, split
from tools.forecasting.metrics import QUANTILES, coverage, mase, mase_scale, pinball, smape
from tools.forecasting.training import ContextEnsemble, ModelConfig, default_context

Q3 = (0.1, 0.5, 0.9)
I10, I50, I90 = QUANTILES.index(0.1), QUANTILES.index(0.5), QUANTILES.index(0.9)
COMBINE_WITH = ("AutoETS", "AutoTheta", "DynamicOptimizedTheta", "AutoCES")
FEV_ENSEMBLE_OF = ("AutoETS", "AutoARIMA", "DynamicOptimizedTheta", "AutoCES")


@dataclass
class Row:
    """One method's scores, averaged over series."""

    method: str
    mase: float
    smape: float
    coverage: float
    pinball: float
    seconds: float


@dataclass
class BenchResult:
    """The table, and what it was measured on."""

    rows: list[Row]
    data: str
    n_series: int
    horizon: int
    season: int
    skipped: dict[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0
    notes: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """``{"rows": [...], "data", "n_series", ...}``: what ``--json`` prints."""
        return {
            "rows": [asdict(r) for r in self.rows],
            "data": self.data,
            "n_series": self.n_series,
            "horizon": self.horizon,
            "season": self.season,
            "skipped": len(self.skipped),
            "wall_seconds": round(self.wall_seconds, 1),
            "notes": self.notes,
        }


@dataclass
class Forecasts:
    """Every method's quantile forecasts of one hold-out, in table order.

    Attributes:
        train: the training part of each kept series.
        test: each kept series' held-out values, shape (h,) each.
        methods: ``{method: Forecast}``; the statistical baselines as statsforecast gave
            them (not clipped), the wardwise rows clipped at 0.
        notes: the choices made on the validation fold, and the model's config.
        fold: the validation fold's forecasts and actuals (a later window's ``pooled``
            band choice uses them).
    """

    train: Dataset
    test: list[np.ndarray]
    methods: dict[str, baselines.Forecast]
    notes: dict
    fold: Fold | None = None


def score(
    method: str, train: Dataset, test: list[np.ndarray], f: baselines.Forecast, season: int
) -> Row:
    """Mean per-series scores of one method's quantile forecast ``f`` (n_series, h, 9)."""
    m, s, c, p = [], [], [], []
    for i, y in enumerate(test):
        tr = train.series[i].y
        m.append(mase(y, f.p50[i], tr, season))
        s.append(smape(y, f.p50[i]))
        c.append(coverage(y, f.p10[i], f.p90[i]))
        qs = np.stack([f.p10[i], f.p50[i], f.p90[i]], axis=1)
        p.append(pinball(y, qs, Q3) / mase_scale(tr, season))
    return Row(
        method,
        round(float(np.mean(m)), 4),
        round(float(np.mean(s)), 3),
        round(float(np.mean(c)), 4),
        round(float(np.mean(p)), 4),
        round(f.seconds, 1),
    )


def combine(
    nn_q: np.ndarray, stats: baselines.Forecast | None, weight: float, width: float
) -> np.ndarray:
    """``weight`` * model + (1 - weight) * stats, every quantile; the band scaled by ``width``.

    Args:
        nn_q: the torch model's quantiles, shape (n_series, h, 9).
        stats: the statistical forecast to mix in, or None (the model alone).
        weight: the model's weight, 0..1.
        width: each quantile's distance from P50 is multiplied by it (lower ones clipped at 0).

    Returns:
        The combined quantiles, shape (n_series, h, 9), sorted.
    """
    comb = Combination.constant(nn_q.shape[1], weight, width)
    return comb.apply(nn_q, None if stats is None or weight >= 1 else stats.q)


def _scales(train: Dataset, season: int) -> np.ndarray:
    """Per series, the MASE scale of its training part (the Monash fallbacks)."""
    return np.array([mase_scale(s.y, season) for s in train.series])


def _band(comb: Combination) -> float:
    """The P10/P90 band factor (their mean when they differ), the one number a table shows."""
    return round(float((comb.width[I10] + comb.width[I90]) / 2), 3)


def holdout(data: Dataset, horizon: int) -> Dataset:
    """``data`` without each series' last ``horizon`` points."""
    return Dataset([s.head(len(s) - horizon) for s in data.series], data.freq, data.exog_names)


def forecast_all(
    data: Dataset,
    *,
    horizon: int,
    season: int,
    config: ModelConfig | None = None,
    overrides: dict | None = None,
    contexts: tuple[int, ...] | None = None,
    device: str | None = None,
    methods: tuple[str, ...] = baselines.BASELINES,
    max_history: int | None = None,
    min_train: int | None = None,
    combination: str | None = None,
    jobs: int = 1,
    earlier_folds: tuple[Fold, ...] = (),
    progress: bool = True,
    log=None,
) -> Forecasts:
    """Every method's forecast of ``data``'s last ``horizon`` points, from the data before them.

    Nothing here looks at the held-out points: the wardwise choices (model weight, band
    factor) are made on a validation fold, the last ``horizon`` points before the hold-out,
    with the torch models trained on the data before that fold.

    Args:
        data: the series; each one's last ``horizon`` points are held out.
        horizon: points held out per series (and forecast).
        season: seasonal period for MASE and the baselines.
        config: the torch model's config (default: :func:`bench_config` of the training part).
        overrides: fields of that default config to replace (when ``config`` is not given).
        contexts: one torch model per context length, averaged (default:
            :func:`bench_contexts`; ``config.context`` is then not used).
        device: ``cpu``, ``cuda`` or None (automatic).
        methods: which baselines to run.
        max_history: fit the statistical models on at most this many last points.
        min_train: fewest observed training points a series needs (default: 2 * horizon).
        combination: how the validation fold combines the model with the statistical
            forecast (:data:`tools.forecasting.combination.SCHEMES`, or ``auto``: the scheme
            that two-fold cross-validation across the fold's series picks); by default
            :func:`default_combination` of the data.
        jobs: worker processes: statsforecast's for the baselines, and the torch networks
            trained side by side (the same forecasts as one process gives).
        earlier_folds: earlier windows' validation folds (:attr:`Forecasts.fold`), all
            before this cutoff, for the ``pooled`` band choice.
        progress: show training progress bars.
        log: optional callable for progress messages.
    """
    say = log or (lambda m: None)
    min_train = min_train or 2 * horizon
    train, test = split(data, horizon, min_train=min_train)
    cfg = config or bench_config(train, horizon, season, **(overrides or {}))
    contexts = tuple(contexts or bench_contexts(train, horizon, season))
    combination = combination or default_combination(train)

    stats = baselines.fit_predict(
        train, horizon, season, methods, max_history=max_history, n_jobs=jobs, log=say
    )
    out = dict(stats)
    if all(m in stats for m in FEV_ENSEMBLE_OF):
        out["fev-stat-ensemble"] = baselines.median_forecast([stats[m] for m in FEV_ENSEMBLE_OF])

    # validation fold: the last `horizon` points of the training part
    t0 = time.perf_counter()
    vtrain_full = holdout(data, horizon)
    vtrain, vtest = split(vtrain_full, horizon, min_train=min(min_train, horizon + 1))
    say(
        f"validation fold: training the {cfg.arch} model (contexts {contexts}) on {len(vtrain)} series"
    )
    vmodel = ContextEnsemble.fit(vtrain, cfg, contexts, device=device, progress=progress, jobs=jobs)
    vq = vmodel.predict(vtrain)
    vstats = None
    if all(m in methods for m in COMBINE_WITH):
        vfits = baselines.fit_predict(
            vtrain, horizon, season, COMBINE_WITH, max_history=max_history, n_jobs=jobs, log=say
        )
        vstats = baselines.mean_forecast([vfits[m] for m in COMBINE_WITH]).clipped()
    vy, vscale = np.stack(vtest), _scales(vtrain, season)
    fold = Fold(vq, None if vstats is None else vstats.q, vy, vscale)
    alone = tuple(replace(f, stats_q=None) for f in earlier_folds)
    comb = fit_combination(vq, fold.stats_q, vy, vscale, combination, earlier_folds)
    nn_comb = fit_combination(vq, None, vy, vscale, combination, alone)
    val_seconds = time.perf_counter() - t0
    say(
        f"validation: {comb.scheme} combination, model weight (P50) {comb.mean_weight}, "
        f"band factors {comb.to_json()['width_by_level']}"
    )

    t1 = time.perf_counter()
    say(f"training the {cfg.arch} model (contexts {contexts}) on {len(train)} series")
    model = ContextEnsemble.fit(train, cfg, contexts, device=device, progress=progress, jobs=jobs)
    q = model.predict(train)
    nn_seconds = time.perf_counter() - t1
    ens = None
    if all(m in stats for m in COMBINE_WITH):
        ens = baselines.mean_forecast([stats[m] for m in COMBINE_WITH]).clipped()
        out["wardwise-stats"] = ens
    out["wardwise-nn"] = baselines.Forecast(nn_comb.apply(q, None), nn_seconds)
    used_stats = ens is not None and bool((comb.weight < 1).any())
    sec = nn_seconds + val_seconds + (ens.seconds if used_stats and ens is not None else 0.0)
    out["wardwise"] = baselines.Forecast(comb.apply(q, None if ens is None else ens.q), sec)
    notes = {
        "model": cfg.to_dict(),
        "contexts": list(contexts),
        "device": str(model.device),
        "weight": comb.mean_weight,
        "band_factor": _band(comb),
        "nn_band_factor": _band(nn_comb),
        "combination": comb.to_json(),
        "max_history": max_history,
    }
    return Forecasts(train, test, out, notes, fold)


def default_combination(train: Dataset) -> str:
    """The combination scheme a bench uses unless told: ``pooled`` for monthly data (its
    band by SQL over every validation fold before the cutoff: on the four Monash windows
    SQL 0.6828 -> 0.6735, docs/forecasting.md, fifth round), ``global`` for the rest (the
    rule its NHS and UIHC numbers were measured with; on the four NHS windows ``pooled``
    lost 0.0135 SQL at h=7, Christmas week, and gained 0.0007 at h=28).
    """
    return "pooled" if train.freq == "MS" else "global"


def run(data: Dataset, *, name: str, horizon: int, season: int, **options) -> BenchResult:
    """Benchmark the baselines and the wardwise forecaster on ``data``'s last ``horizon`` points.

    Args:
        data: the series.
        name: the data's name for the table.
        horizon: points held out per series (and forecast).
        season: seasonal period for MASE and the baselines.
        **options: the other arguments of :func:`forecast_all` (config, contexts, device,
            methods, max_history, min_train, progress, log).
    """
    t_start = time.perf_counter()
    if options.get("log"):
        options["log"](f"{name}: horizon {horizon}, season {season}")
    fc = forecast_all(data, horizon=horizon, season=season, **options)
    rows = [score(k, fc.train, fc.test, f.clipped(), season) for k, f in fc.methods.items()]
    return BenchResult(
        rows,
        name,
        len(fc.train),
        horizon,
        season,
        fc.train.skipped,
        time.perf_counter() - t_start,
        fc.notes,
    )


def bench_config(train: Dataset, horizon: int, season: int, **overrides) -> ModelConfig:
    """The torch model's default config for a benchmark of this shape.

    Monthly data (short, noisy series): a one-season context and five networks of hidden
    size 256 trained for 1000 steps (each change was better on the Monash validation fold
    of the second round; together, with five networks, they gained 0.0056 MASE and
    0.0039 SQL over 128 and 500 on the four fev windows: docs/forecasting.md, fifth
    round). Daily and hourly data: a context of at least three seasons and two horizons,
    five networks of hidden size 128 and 1000 steps (on the NHS h=28 folds five such
    networks beat two of 600 steps by 6%).
    """
    steps = 1000
    hidden = 256 if train.freq == "MS" else 128
    if train.freq == "MS":
        context = max(season, horizon)
    else:
        context = default_context(horizon, season, train.freq)
    context = min(context, _context_cap(train, horizon))
    base = ModelConfig(
        horizon=horizon,
        season=season,
        freq=train.freq,
        context=context,
        exog=train.exog_names,
        hidden=hidden,
        steps=steps,
        lr=5e-4,
        members=5,
    )
    return replace(base, **overrides)


def bench_contexts(train: Dataset, horizon: int, season: int) -> tuple[int, ...]:
    """The context lengths of the bench's torch models.

    Monthly data: one, one and a half, two and three seasons (12, 18, 24, 36 months; on the
    Monash folds the best single context moved from 12 to 36 months as the history grew by a
    year, and their average beat each, docs/forecasting.md), at most the longest series
    minus two horizons. Daily and hourly data: :func:`default_context` alone.
    """
    cap = _context_cap(train, horizon)
    wanted: tuple[int, ...]
    if train.freq == "MS":
        wanted = (season, (3 * season) // 2, 2 * season, 3 * season)
    else:
        wanted = (default_context(horizon, season, train.freq),)
    return tuple(dict.fromkeys(min(c, cap) for c in wanted))


def _context_cap(train: Dataset, horizon: int) -> int:
    """The longest context worth training: the longest series minus two horizons (>= 4)."""
    return max(max(len(s) for s in train.series) - 2 * horizon, 4)


def format_table(result: BenchResult) -> str:
    """The result as a fixed-width text table."""
    head = f"{'method':<22}{'MASE':>8}{'sMAPE%':>9}{'P10-P90':>9}{'pinball':>9}{'seconds':>9}"
    lines = [
        f"{result.data}: {result.n_series} series, horizon {result.horizon}, "
        f"season {result.season}"
        + (f", {len(result.skipped)} series skipped" if result.skipped else ""),
        head,
        "-" * len(head),
    ]
    for r in result.rows:
        lines.append(
            f"{r.method:<22}{r.mase:>8.3f}{r.smape:>9.2f}{r.coverage:>9.3f}"
            f"{r.pinball:>9.3f}{r.seconds:>9.1f}"
        )
    lines.append(f"wall time {result.wall_seconds:.0f} s")
    return "\n".join(lines)


def run_file(path: str, *, horizon: int, season: int, freq: str | None = None, **kw):
    """Read ``path`` (see :func:`tools.forecasting.data.read_series`) and :func:`run` it."""
    zeros = kw.pop("zeros", "keep")
    fmt = kw.pop("fmt", "auto")
    data = read_series(path, freq=freq, fmt=fmt, zeros=zeros)
    from pathlib import Path

    return run(data, name=Path(path).name, horizon=horizon, season=season, **kw)
