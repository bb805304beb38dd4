"""Forecast accuracy: MASE, sMAPE, P10-P90 coverage and pinball loss, NaN-aware.

Conventions (the Monash archive's): MASE divides the forecast's mean absolute error by the
in-sample mean absolute error of the seasonal naive forecast with period ``season``; if the
training part is too short for that period, or that error is zero, the one-step naive error
is used, and if that is zero too, 1. Missing actuals (NaN) are left out of every metric.
"""

from __future__ import annotations

import numpy as np

QUANTILES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def mase_scale(train: np.ndarray, season: int) -> float:
    """In-sample mean absolute error of the seasonal naive forecast (period ``season``)."""
    y = np.asarray(train, dtype=float)
    for m in (season, 1):
        if 0 < m < len(y):
            d = np.abs(y[m:] - y[:-m])
            d = d[np.isfinite(d)]
            if d.size and d.mean() > 0:
                return float(d.mean())
    return 1.0


def mase(actual: np.ndarray, forecast: np.ndarray, train: np.ndarray, season: int) -> float:
    """Mean absolute scaled error of ``forecast`` against ``actual``.

    Args:
        actual: held-out values, shape (h,); NaN entries are ignored.
        forecast: point forecast, shape (h,).
        train: the series before the held-out part, used for the scale.
        season: seasonal period of the naive scale (12 monthly, 7 daily, 24 hourly).
    """
    err = np.abs(np.asarray(actual, dtype=float) - np.asarray(forecast, dtype=float))
    return float(np.nanmean(err) / mase_scale(train, season))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent, ``200 |y - f| / (|y| + |f|)``; 0/0 counts as 0."""
    y = np.asarray(actual, dtype=float)
    f = np.asarray(forecast, dtype=float)
    den = np.abs(y) + np.abs(f)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, 200.0 * np.abs(y - f) / den, 0.0)
    r[~np.isfinite(y)] = np.nan
    return float(np.nanmean(r))


def coverage(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of (non-missing) actual values inside ``[lo, hi]``."""
    y = np.asarray(actual, dtype=float)
    ok = np.isfinite(y)
    inside = (y >= np.asarray(lo, dtype=float)) & (y <= np.asarray(hi, dtype=float))
    return float(np.mean(inside[ok]))


def pinball(actual: np.ndarray, quantiles: np.ndarray, levels: tuple[float, ...]) -> float:
    """Mean pinball (quantile) loss over the horizon and the given levels.

    Args:
        actual: held-out values, shape (h,).
        quantiles: forecast quantiles, shape (h, len(levels)).
        levels: the quantile levels, e.g. (0.1, 0.5, 0.9).
    """
    y = np.asarray(actual, dtype=float)[:, None]
    q = np.asarray(quantiles, dtype=float)
    tau = np.asarray(levels, dtype=float)[None, :]
    diff = y - q
    loss = np.maximum(tau * diff, (tau - 1) * diff)
    return float(np.nanmean(loss))


def scaled_pinball(
    actual: np.ndarray,
    quantiles: np.ndarray,
    levels: tuple[float, ...],
    train: np.ndarray,
    season: int,
) -> float:
    """Pinball loss divided by the MASE scale, so it averages across series like MASE."""
    return pinball(actual, quantiles, levels) / mase_scale(train, season)
