"""The statistical baselines, fitted per series with statsforecast.

SeasonalNaive, AutoETS, AutoTheta, AutoARIMA, DynamicOptimizedTheta (DOTM, Fiorucci et al.
2016) and AutoCES (complex exponential smoothing), each with its 80% interval as P10..P90,
and ``stats-ensemble``: the mean of the AutoETS, AutoTheta and AutoARIMA forecasts (point
and interval bounds alike). Gaps are filled by linear interpolation first, since these
models need gap-free input. AutoETS has no seasonal form beyond a period of 24
(statsforecast's limit), so with a longer ``season`` it is fitted non-seasonal (AutoCES too).
A series a model cannot fit (AutoCES refuses an exactly periodic one) gets SeasonalNaive's
forecast for that model instead of failing the whole run.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tools.forecasting.data import Dataset, fill_gaps

BASELINES = (
    "SeasonalNaive",
    "AutoETS",
    "AutoTheta",
    "AutoARIMA",
    "DynamicOptimizedTheta",
    "AutoCES",
)
ENSEMBLE_OF = ("AutoETS", "AutoTheta", "AutoARIMA")


@dataclass
class Forecast:
    """Quantile forecasts of many series.

    Attributes:
        p10, p50, p90: arrays of shape (n_series, h).
        seconds: fit + predict wall time.
    """

    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray
    seconds: float

    def clipped(self) -> Forecast:
        """The same forecast with negative values set to 0 (counts)."""
        c = np.maximum
        return Forecast(c(self.p10, 0), c(self.p50, 0), c(self.p90, 0), self.seconds)


def _model(name: str, season: int):
    from statsforecast.models import (
        AutoARIMA,
        AutoCES,
        AutoETS,
        AutoTheta,
        DynamicOptimizedTheta,
        SeasonalNaive,
    )

    if name == "SeasonalNaive":
        return SeasonalNaive(season_length=season)
    if name == "AutoETS":
        return AutoETS(season_length=season if season <= 24 else 1)
    if name == "AutoTheta":
        return AutoTheta(season_length=season)
    if name == "AutoARIMA":
        return AutoARIMA(season_length=season)
    if name == "DynamicOptimizedTheta":
        return DynamicOptimizedTheta(season_length=season, alias=name)
    if name == "AutoCES":
        return AutoCES(season_length=season if season <= 24 else 1, alias=name)
    raise ValueError(f"unknown baseline {name!r}")


def long_frame(data: Dataset, max_history: int | None = None) -> pd.DataFrame:
    """The training series as a gap-free long frame (``unique_id, ds, y``), in data order."""
    parts = []
    for i, s in enumerate(data.series):
        y = fill_gaps(s.y)
        idx = s.index
        if max_history:
            y, idx = y[-max_history:], idx[-max_history:]
        parts.append(pd.DataFrame({"unique_id": f"{i:06d}", "ds": idx, "y": y}))
    return pd.concat(parts, ignore_index=True)


def fit_predict(
    data: Dataset,
    horizon: int,
    season: int,
    methods: tuple[str, ...] = BASELINES,
    *,
    max_history: int | None = None,
    n_jobs: int = 1,
    log=None,
) -> dict[str, Forecast]:
    """Fit each baseline on every series and forecast ``horizon`` steps.

    Args:
        data: the training series.
        horizon: steps ahead.
        season: seasonal period.
        methods: which of :data:`BASELINES`.
        max_history: fit on at most this many last points of each series.
        n_jobs: statsforecast worker processes.
        log: optional callable for progress messages.

    Returns:
        ``{method: Forecast}``, plus ``stats-ensemble`` when its three members are present.
    """
    from statsforecast import StatsForecast

    df = long_frame(data, max_history)
    out: dict[str, Forecast] = {}
    for name in methods:
        if log:
            log(f"fitting {name} on {len(data)} series")
        t0 = time.perf_counter()
        sf = StatsForecast(
            models=[_model(name, season)],
            freq=data.freq,
            n_jobs=n_jobs,
            fallback_model=_model("SeasonalNaive", season),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = sf.forecast(df=df, h=horizon, level=[80])
        fc = fc.sort_values(["unique_id", "ds"])
        alias = name

        def grid(col, fc=fc):
            return fc[col].to_numpy(dtype=float).reshape(len(data), horizon)

        mid = grid(alias)
        lo = grid(f"{alias}-lo-80") if f"{alias}-lo-80" in fc else mid
        hi = grid(f"{alias}-hi-80") if f"{alias}-hi-80" in fc else mid
        lo, hi = np.where(np.isfinite(lo), lo, mid), np.where(np.isfinite(hi), hi, mid)
        out[name] = Forecast(lo, mid, hi, time.perf_counter() - t0)
    if all(m in out for m in ENSEMBLE_OF):
        members = [out[m] for m in ENSEMBLE_OF]
        out["stats-ensemble"] = Forecast(
            np.mean([m.p10 for m in members], axis=0),
            np.mean([m.p50 for m in members], axis=0),
            np.mean([m.p90 for m in members], axis=0),
            sum(m.seconds for m in members),
        )
    return out
