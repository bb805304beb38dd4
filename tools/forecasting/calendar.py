"""Calendar features known in advance: month, weekday, hour of day, public holidays.

One row of features per timestamp; the model sees them for its context and its horizon.

- monthly (``MS``): month of year, one-hot (12).
- daily (``D``): weekday one-hot (7), day of year as 4 sine/cosine pairs (8), and, with a
  holiday calendar, whether the day is a public holiday and how close the nearest holidays
  before and after are (so the quiet days between Christmas and New Year stand out).
- hourly (``h``): hour one-hot (24), weekday one-hot (7), day of year (4), holidays as daily.

``holidays`` is a country code for the ``holidays`` package, optionally with a subdivision
after a dash: ``GB-ENG`` (England), ``US``, ``CN``. Covariates given in the data (the UIHC
file's holiday and game-day flags) are appended to these columns by the caller.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

NEAR = 7  # days: how far the distance-to-holiday features look


@lru_cache(maxsize=32)
def _holiday_days(code: str, first_year: int, last_year: int) -> np.ndarray:
    import holidays as hol

    country, _, subdiv = code.partition("-")
    try:
        cal = hol.country_holidays(
            country, subdiv=subdiv or None, years=range(first_year, last_year + 1)
        )
    except NotImplementedError as e:
        raise ValueError(f"unknown holiday calendar {code!r}: {e}") from e
    return np.array(sorted(np.datetime64(d, "D") for d in cal), dtype="datetime64[D]")


def holiday_features(days: pd.DatetimeIndex, code: str) -> np.ndarray:
    """Per day: is a holiday, days since the last and until the next one (scaled to 0..1)."""
    d = days.values.astype("datetime64[D]")
    hd = _holiday_days(code, int(days.year.min()) - 1, int(days.year.max()) + 1)
    if hd.size == 0:
        return np.zeros((len(d), 3), dtype=np.float32)
    pos = np.searchsorted(hd, d, side="left")
    is_h = (pos < hd.size) & (hd[np.minimum(pos, hd.size - 1)] == d)
    nxt = hd[np.minimum(pos, hd.size - 1)]
    until = (nxt - d).astype(int)
    until[pos >= hd.size] = NEAR
    prev_pos = np.searchsorted(hd, d, side="right") - 1
    prev = hd[np.maximum(prev_pos, 0)]
    since = (d - prev).astype(int)
    since[prev_pos < 0] = NEAR
    since = np.where(is_h, 0, since)
    near = lambda x: 1.0 - np.clip(x, 0, NEAR) / NEAR  # noqa: E731
    return np.stack([is_h.astype(float), near(since), near(until)], axis=1).astype(np.float32)


def _one_hot(values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((len(values), n), dtype=np.float32)
    out[np.arange(len(values)), values] = 1.0
    return out


def _year_cycle(index: pd.DatetimeIndex, k: int = 4) -> np.ndarray:
    t = (index.dayofyear.to_numpy() - 1 + index.hour.to_numpy() / 24.0) / 365.25
    cols = []
    for j in range(1, k + 1):
        cols += [np.sin(2 * np.pi * j * t), np.cos(2 * np.pi * j * t)]
    return np.stack(cols, axis=1).astype(np.float32)


def n_features(freq: str, holidays: str | None) -> int:
    """How many calendar columns :func:`calendar_features` returns."""
    n = {"MS": 12, "D": 7 + 8, "h": 24 + 7 + 8, "W-MON": 8}[freq]
    if holidays and freq in ("D", "h"):
        n += 3
    return n


def calendar_features(index: pd.DatetimeIndex, freq: str, holidays: str | None) -> np.ndarray:
    """Calendar features for ``index``, shape (len(index), :func:`n_features`)."""
    if freq == "MS":
        return _one_hot(index.month.to_numpy() - 1, 12)
    if freq == "W-MON":
        return _year_cycle(index)
    parts = []
    if freq == "h":
        parts.append(_one_hot(index.hour.to_numpy(), 24))
    parts += [_one_hot(index.dayofweek.to_numpy(), 7), _year_cycle(index)]
    if holidays:
        parts.append(holiday_features(index.normalize(), holidays))
    return np.concatenate(parts, axis=1)
