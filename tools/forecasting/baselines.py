"""The statistical baselines, fitted per series with statsforecast.

SeasonalNaive, AutoETS, AutoTheta, AutoARIMA, DynamicOptimizedTheta (DOTM, Fiorucci et al.
2016) and AutoCES (complex exponential smoothing), each with its nine quantiles P10..P90 read
from its 20/40/60/80% intervals (P10 and P90 are the 80% interval, P50 the point forecast;
fev-bench reads them the same way), and ``stats-ensemble``: the mean of the AutoETS,
AutoTheta and AutoARIMA forecasts (every quantile alike). Gaps are filled by linear interpolation first, since these
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
from tools.forecasting.metrics import QUANTILES

BASELINES = (
    "SeasonalNaive",
    "AutoETS",
    "AutoTheta",
    "AutoARIMA",
    "DynamicOptimizedTheta",
    "AutoCES",
)
ENSEMBLE_OF = ("AutoETS", "AutoTheta", "AutoARIMA")
LEVELS = sorted({round(abs(q - 0.5) * 200) for q in QUANTILES if q != 0.5})  # 20, 40, 60, 80


I10, I50, I90 = QUANTILES.index(0.1), QUANTILES.index(0.5), QUANTILES.index(0.9)


@dataclass
class Forecast:
    """Quantile forecasts of many series.

    Attributes:
        q: the :data:`~tools.forecasting.metrics.QUANTILES` (P10..P90), shape
            (n_series, h, 9).
        seconds: fit + predict wall time.
    """

    q: np.ndarray
    seconds: float

    @property
    def p10(self) -> np.ndarray:
        """P10, shape (n_series, h)."""
        return self.q[..., I10]

    @property
    def p50(self) -> np.ndarray:
        """P50 (the point forecast), shape (n_series, h)."""
        return self.q[..., I50]

    @property
    def p90(self) -> np.ndarray:
        """P90, shape (n_series, h)."""
        return self.q[..., I90]

    def clipped(self) -> Forecast:
        """The same forecast with negative values set to 0 (counts)."""
        return Forecast(np.maximum(self.q, 0), self.seconds)


def mean_forecast(members: list[Forecast]) -> Forecast:
    """The member-wise mean of quantile forecasts (seconds add up)."""
    return Forecast(np.mean([m.q for m in members], axis=0), sum(m.seconds for m in members))


def median_forecast(members: list[Forecast]) -> Forecast:
    """The member-wise median of quantile forecasts (seconds add up): fev-bench's
    ``Stat. Ensemble`` is this median of AutoETS, AutoARIMA, DOTM and AutoCES."""
    return Forecast(np.median([m.q for m in members], axis=0), sum(m.seconds for m in members))


def _suffix(level: float) -> str:
    """statsforecast's column suffix for quantile ``level`` (``-lo-80`` is P10)."""
    return f"-lo-{round(100 - 200 * level)}" if level < 0.5 else f"-hi-{round(200 * level - 100)}"


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
            fc = sf.forecast(df=df, h=horizon, level=LEVELS)
        fc = fc.sort_values(["unique_id", "ds"])

        def grid(col, fc=fc):
            """One forecast column as (n_series, horizon)."""
            return fc[col].to_numpy(dtype=float).reshape(len(data), horizon)

        mid = grid(name)
        cols = []
        for level in QUANTILES:
            col = name + _suffix(level)
            g = grid(col) if level != 0.5 and col in fc else mid
            cols.append(np.where(np.isfinite(g), g, mid))
        out[name] = Forecast(np.stack(cols, axis=-1), time.perf_counter() - t0)
    if all(m in out for m in ENSEMBLE_OF):
        out["stats-ensemble"] = mean_forecast([out[m] for m in ENSEMBLE_OF])
    return out
