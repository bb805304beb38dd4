"""Forecast accuracy: MASE, sMAPE, P10-P90 coverage, pinball and scaled quantile loss.

Conventions (the Monash archive's): MASE divides the forecast's mean absolute error by the
in-sample mean absolute error of the seasonal naive forecast with period ``season``; if the
training part is too short for that period, or that error is zero, the one-step naive error
is used, and if that is zero too, 1. Missing actuals (NaN) are left out of every metric.

:func:`panel_mase` and :func:`panel_sql` are fev's definitions (autogluon/fev,
``src/fev/metrics.py``, the metrics of fev-bench): one seasonal scale per series with no
fallback (a series whose scale is undefined or zero drops out), errors averaged over every
(series, step) of the panel at once, and the quantile loss counted twice
(``2 |(y - q)(1{y <= q} - tau)|``), so SQL at a single level 0.5 equals MASE.
"""

from __future__ import annotations

import numpy as np

QUANTILES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def mase_scale(train: np.ndarray, season: int, *, fallback: bool = True) -> float:
    """In-sample mean absolute error of the seasonal naive forecast (period ``season``).

    Args:
        train: the series before the forecast, shape (T,); NaN pairs are left out.
        season: the seasonal period.
        fallback: if the seasonal error is undefined or zero, use the one-step error, then 1
            (the Monash convention). Without it (fev's convention) an undefined error is NaN
            and a zero one is 0.
    """
    y = np.asarray(train, dtype=float)
    for m in (season, 1) if fallback else (season,):
        if 0 < m < len(y):
            d = np.abs(y[m:] - y[:-m])
            d = d[np.isfinite(d)]
            if d.size and (d.mean() > 0 or not fallback):
                return float(d.mean())
    return 1.0 if fallback else float("nan")


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


def _safemean(a: np.ndarray, axis=None):
    """Mean over finite entries (fev's ``_safemean``: NaN and +-inf are left out)."""
    with np.errstate(invalid="ignore"):
        return np.nanmean(np.where(np.isfinite(a), a, np.nan), axis=axis)


def _scaled(err: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``err`` (N, H, ...) divided by each series' ``scale`` (N,); 0 scale gives inf/NaN."""
    s = np.asarray(scale, dtype=float).reshape((-1,) + (1,) * (err.ndim - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return err / s


def panel_mase(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> float:
    """fev's MASE of a panel of forecasts.

    Args:
        actual: held-out values, shape (N, H); NaN entries are left out.
        forecast: point forecasts, shape (N, H).
        scale: per series, ``mase_scale(train, season, fallback=False)``, shape (N,).

    Returns:
        The mean of ``|actual - forecast| / scale`` over every finite (series, step).
    """
    err = np.abs(np.asarray(actual, dtype=float) - np.asarray(forecast, dtype=float))
    return float(_safemean(_scaled(err, scale)))


def panel_sql(
    actual: np.ndarray,
    quantiles: np.ndarray,
    scale: np.ndarray,
    levels: tuple[float, ...] = QUANTILES,
) -> float:
    """fev's scaled quantile loss (SQL) of a panel of quantile forecasts.

    Args:
        actual: held-out values, shape (N, H); NaN entries are left out.
        quantiles: forecast quantiles, shape (N, H, len(levels)).
        scale: per series, ``mase_scale(train, season, fallback=False)``, shape (N,).
        levels: the quantile levels (fev-bench: P10..P90).

    Returns:
        Per level, the mean of ``2 |(y - q)(1{y <= q} - tau)| / scale`` over every finite
        (series, step); then the mean over levels.
    """
    y = np.asarray(actual, dtype=float)[..., None]
    q = np.asarray(quantiles, dtype=float)
    tau = np.asarray(levels, dtype=float)
    with np.errstate(invalid="ignore"):
        loss = 2 * np.abs((y - q) * ((y <= q) - tau))
    return float(np.mean(_safemean(_scaled(loss, scale), axis=(0, 1))))
