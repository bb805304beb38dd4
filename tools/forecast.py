"""Daily census forecasts per ward with P10/P50/P90 and an honest backtest.

The skeleton's model is statsforecast's AutoETS with a weekly season, fitted on the ward's
last year of daily census; the P10..P90 band is its 80% prediction interval. The backtest
holds out the last ``days`` observed days, refits on what came before, and scores MASE
(seasonal naive, period 7) and the share of held-out days inside P10..P90.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from pydantic import BaseModel

from knowledge.hospital import Hospital
from tools.result import Fact, ToolError, ToolResult

MAX_DAYS = 28
MIN_HISTORY = 8 * 7
FIT_WINDOW = 365


class ForecastDay(BaseModel):
    date: date
    p10: float
    p50: float
    p90: float


class Backtest(BaseModel):
    horizon: int
    mase: float
    coverage: float


class ForecastResult(ToolResult):
    ward_id: str
    ward_name: str
    ward_name_zh: str
    beds: int
    days: list[ForecastDay]
    backtest: Backtest


def mase(actual: np.ndarray, forecast: np.ndarray, train: np.ndarray, season: int) -> float:
    """Mean absolute scaled error against the in-sample seasonal-naive error."""
    scale = np.mean(np.abs(train[season:] - train[:-season]))
    if not np.isfinite(scale) or scale == 0:
        scale = np.mean(np.abs(np.diff(train))) or 1.0
    return float(np.mean(np.abs(actual - forecast)) / scale)


def coverage(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of actual values inside [lo, hi]."""
    return float(np.mean((actual >= lo) & (actual <= hi)))


def _ets(y: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from statsforecast.models import AutoETS

    model = AutoETS(season_length=7)
    out = model.forecast(y=y.astype(float), h=h, level=[80])
    mean = np.asarray(out["mean"], dtype=float)
    return out["lo-80"].astype(float), mean, out["hi-80"].astype(float)


class Forecaster:
    """Fits per-ward census models on demand and caches them for the process."""

    def __init__(self, hospital: Hospital):
        self.hospital = hospital
        self._cache: dict[tuple[str, int], ForecastResult] = {}

    def forecast(self, ward: str, days: int = 7) -> ForecastResult:
        """Forecast the ward's daily occupied beds for the next ``days`` days.

        Raises:
            ToolError: unknown ward, horizon out of range, or too little history.
        """
        if not 1 <= days <= MAX_DAYS:
            raise ToolError(
                "bad_horizon",
                f"days must be between 1 and {MAX_DAYS}, got {days}",
                "ask for at most four weeks ahead",
            )
        try:
            w = self.hospital.ward(ward)
        except KeyError as e:
            raise ToolError("unknown_ward", str(e.args[0]), "use one of the known wards") from e
        key = (w.ward_id, days)
        if key in self._cache:
            return self._cache[key]
        series = self.hospital.history(w.ward_id)
        if len(series) < MIN_HISTORY + days:
            raise ToolError(
                "short_history",
                f"{w.ward_id} has {len(series)} days of history; at least "
                f"{MIN_HISTORY + days} are needed",
            )
        y = series.to_numpy()[-FIT_WINDOW:]
        lo, mid, hi = _ets(y, days)
        train, test = y[:-days], y[-days:]
        blo, bmid, bhi = _ets(train, days)
        bt = Backtest(
            horizon=days,
            mase=round(mase(test, bmid, train, 7), 2),
            coverage=round(coverage(test, blo, bhi), 2),
        )
        start = series.index[-1] + pd.Timedelta(days=1)
        out_days = [
            ForecastDay(
                date=(start + pd.Timedelta(days=i)).date(),
                p10=round(max(0.0, lo[i]), 1),
                p50=round(max(0.0, mid[i]), 1),
                p90=round(max(0.0, hi[i]), 1),
            )
            for i in range(days)
        ]
        result = _reading(w.ward_id, w.name_en, w.name_zh, w.beds, out_days, bt)
        self._cache[key] = result
        return result


def _reading(ward_id, name_en, name_zh, beds, days: list[ForecastDay], bt: Backtest):
    p50 = [round(d.p50) for d in days]
    p90 = [round(d.p90) for d in days]
    p10 = [round(d.p10) for d in days]
    n = len(days)
    peak90 = max(p90)
    peak_day = days[p90.index(peak90)].date
    over = sum(1 for v in p90 if v > beds)
    facts = [
        Fact(label=f"peak P50 occupied beds, next {n} days", value=max(p50), unit="beds"),
        Fact(label=f"peak P90 occupied beds, next {n} days", value=peak90, unit="beds"),
        Fact(label=f"lowest P10 occupied beds, next {n} days", value=min(p10), unit="beds"),
        Fact(
            label=f"mean P50 occupied beds, next {n} days", value=round(sum(p50) / n), unit="beds"
        ),
        Fact(label="physical beds on the ward", value=beds, unit="beds"),
        Fact(
            label=f"days where P90 exceeds the ward's beds, next {n} days", value=over, unit="days"
        ),
        Fact(label=f"backtest MASE, {bt.horizon}-day horizon", value=bt.mase, unit=""),
        Fact(label="backtest share of days inside P10-P90", value=bt.coverage, unit=""),
        Fact(label="forecast horizon", value=n, unit="days"),
    ]
    summary = (
        f"{name_en} ({ward_id}, {name_zh}) needs a median of up to {max(p50)} occupied beds per "
        f"day over the next {n} days (P90 peak {peak90} on {peak_day.isoformat()}); "
        f"the ward has {beds} beds. Backtest MASE {bt.mase}, P10-P90 coverage {bt.coverage}."
    )
    return ForecastResult(
        summary=summary,
        facts=facts,
        ward_id=ward_id,
        ward_name=name_en,
        ward_name_zh=name_zh,
        beds=beds,
        days=days,
        backtest=bt,
    )
