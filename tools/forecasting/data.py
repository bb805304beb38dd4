"""Series for the forecaster: loading CSVs onto a regular calendar, cleaning and splitting.

Formats read by :func:`read_series` (``fmt="auto"`` picks by the header):

``long``
    ``unique_id, ds, y`` (the statsforecast convention). Any further numeric column is a
    covariate known in advance (a holiday or game-day flag), used by the torch model only.
``monash``
    The Monash archive's wide CSV: identifier columns, then one column per period
    (``Month1 2000``, ``Month2 2000``, ...; other headers are numbered periods from 2000-01).
``nhs-discharges``
    NHS England's daily discharges per trust (``nhs_trust22_code, date, discharged_total``).
``uihc-ed``
    University of Iowa hourly ED arrivals (``Date, Hour, Arrivals`` and holiday/game-day flags,
    which become known covariates; ``temp`` is left out since it is not known in advance).

Every series is put on a regular calendar: a missing period becomes NaN (a gap), leading and
trailing gaps are trimmed. Negative values are an error (counts cannot be negative). With
``zeros="missing"`` zero values count as gaps, for sources where a zero is a day nobody
reported (the NHS file: every trust reports 0 on 2022-06-19).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

FREQS = {"M": "MS", "MS": "MS", "D": "D", "H": "h", "h": "h", "W": "W-MON"}
UIHC_FLAGS = ("xmas", "xmas2", "nye", "nyd", "thx", "thx1", "ind", "game_day")


class SeriesError(ValueError):
    """The input series cannot be forecast as given (negative counts, duplicates, too short)."""


@dataclass
class Series:
    """One series on a regular calendar.

    Attributes:
        uid: identifier.
        index: regular timestamps, shape (T,).
        y: values, shape (T,); NaN marks a gap.
        exog: known-in-advance covariates, shape (T + f, E), or None; the ``f`` rows past
            the series' end are known future values (a hold-out keeps them).
    """

    uid: str
    index: pd.DatetimeIndex
    y: np.ndarray
    exog: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)

    def head(self, n: int) -> Series:
        """The first ``n`` points (``n`` may be negative, as in slicing); covariates are kept
        whole, since they are known in advance."""
        return Series(self.uid, self.index[:n], self.y[:n], self.exog)


@dataclass
class Dataset:
    """Series sharing one frequency (a pandas alias: ``MS``, ``D``, ``h``)."""

    series: list[Series]
    freq: str
    exog_names: tuple[str, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.series)


def pandas_freq(freq: str) -> str:
    """``M``/``D``/``H`` (or a pandas alias) as the pandas alias used here."""
    if freq in FREQS:
        return FREQS[freq]
    raise SeriesError(f"unknown frequency {freq!r}; use one of M, D, H")


def regularize(
    uid: str, ds: pd.Series, y: pd.Series, freq: str, exog: pd.DataFrame | None = None
) -> Series | None:
    """Put one series on its regular calendar; None if it has no observed value.

    Raises:
        SeriesError: duplicate timestamps or a negative value.
    """
    idx = pd.DatetimeIndex(pd.to_datetime(ds))
    if idx.has_duplicates:
        dup = idx[idx.duplicated()][0]
        raise SeriesError(f"series {uid!r} has more than one value at {dup}")
    vals = pd.to_numeric(pd.Series(np.asarray(y), index=idx), errors="coerce").astype(float)
    if (vals < 0).any():
        bad = vals[vals < 0].index[0]
        raise SeriesError(
            f"series {uid!r} has a negative count ({vals[bad]:g} at {bad.date()}); "
            "counts cannot be negative: fix the source"
        )
    vals = vals.sort_index()
    ok = vals.dropna()
    if ok.empty:
        return None
    full = pd.date_range(ok.index[0], ok.index[-1], freq=freq)
    if len(full) and not ok.index.isin(full).all():
        raise SeriesError(f"series {uid!r} has timestamps off its {freq} calendar")
    out = vals.reindex(full)
    ex = None
    if exog is not None and exog.shape[1]:
        e = exog.copy()
        e.index = idx
        ex = e.sort_index().reindex(full).fillna(0.0).to_numpy(dtype=np.float32)
    return Series(str(uid), full, out.to_numpy(dtype=float), ex)


def _detect(header: list[str]) -> str:
    h = {c.strip() for c in header}
    if {"unique_id", "ds", "y"} <= h:
        return "long"
    if {"nhs_trust22_code", "date", "discharged_total"} <= h:
        return "nhs-discharges"
    if {"Date", "Hour", "Arrivals"} <= h:
        return "uihc-ed"
    if sum(bool(re.match(r"^Month\d+ \d{4}$", c)) for c in h) >= 2:
        return "monash"
    raise SeriesError(
        "unrecognised CSV header; expected unique_id,ds,y (long), a Monash wide file, "
        "the NHS discharges file or the UIHC ED arrivals file"
    )


def detect_format(path: str | Path) -> str:
    """The format of a CSV from its header: ``long``, ``monash``, ``nhs-discharges``, ``uihc-ed``.

    Raises:
        SeriesError: an unrecognised header.
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    return _detect(pd.read_csv(path, nrows=0).columns.tolist())


def _monash(path: Path) -> tuple[pd.DataFrame, str]:
    wide = pd.read_csv(path)
    periods = [c for c in wide.columns if re.match(r"^Month\d+ \d{4}$", c)]
    ids = [c for c in wide.columns if c not in periods]
    dates = []
    for c in periods:
        found = re.match(r"^Month(\d+) (\d{4})$", c)
        assert found is not None, c
        m, y = found.groups()
        dates.append(pd.Timestamp(int(y), int(m), 1))
    uid = wide[ids].astype(str).agg("/".join, axis=1) if ids else wide.index.astype(str)
    long = wide[periods].set_axis(dates, axis=1).assign(unique_id=uid.to_numpy())
    long = long.melt(id_vars="unique_id", var_name="ds", value_name="y")
    return long, "MS"


def read_series(
    path: str | Path, *, freq: str | None = None, fmt: str = "auto", zeros: str = "keep"
) -> Dataset:
    """Read a CSV of one or many series into a :class:`Dataset`.

    Args:
        path: the CSV file.
        freq: ``M``, ``D`` or ``H``; needed for long files, known for the others.
        fmt: ``auto``, ``long``, ``monash``, ``nhs-discharges`` or ``uihc-ed``.
        zeros: ``keep`` (a zero is a real count) or ``missing`` (a zero is a gap).

    Raises:
        SeriesError: unreadable layout, negative counts, duplicates, no usable series.
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if zeros not in ("keep", "missing"):
        raise SeriesError(f"zeros must be 'keep' or 'missing', got {zeros!r}")
    header = pd.read_csv(path, nrows=0).columns.tolist()
    fmt = _detect(header) if fmt == "auto" else fmt
    exog_names: tuple[str, ...] = ()
    if fmt == "monash":
        long, f = _monash(path)
    elif fmt == "nhs-discharges":
        raw = pd.read_csv(path)
        long = raw.rename(
            columns={"nhs_trust22_code": "unique_id", "date": "ds", "discharged_total": "y"}
        )[["unique_id", "ds", "y"]]
        f = "D"
    elif fmt == "uihc-ed":
        raw = pd.read_csv(path)
        ds = pd.to_datetime(raw["Date"]) + pd.to_timedelta(raw["Hour"], unit="h")
        exog_names = tuple(c for c in UIHC_FLAGS if c in raw.columns)
        long = pd.DataFrame({"unique_id": "UIHC-ED", "ds": ds, "y": raw["Arrivals"]})
        for c in exog_names:
            long[c] = raw[c].astype(float)
        f = "h"
    elif fmt == "long":
        long = pd.read_csv(path)
        extra = [c for c in long.columns if c not in ("unique_id", "ds", "y")]
        exog_names = tuple(c for c in extra if pd.api.types.is_numeric_dtype(long[c]))
        if freq is None:
            raise SeriesError("a long CSV needs --freq (M, D or H)")
        f = pandas_freq(freq)
    else:
        raise SeriesError(f"unknown format {fmt!r}")
    if freq is not None and pandas_freq(freq) != f:
        raise SeriesError(f"{path.name} is {f}-frequency data, but --freq {freq} was given")
    long = long.copy()
    long["y"] = pd.to_numeric(long["y"], errors="coerce")
    if zeros == "missing":
        long.loc[long["y"] == 0, "y"] = np.nan
    series = []
    skipped: dict[str, str] = {}
    for uid, g in long.groupby("unique_id", sort=True):
        ex = g[list(exog_names)] if exog_names else None
        s = regularize(str(uid), g["ds"], g["y"], f, ex)
        if s is None:
            skipped[str(uid)] = "no observed values"
            continue
        series.append(s)
    if not series:
        raise SeriesError(f"{path.name} holds no usable series")
    return Dataset(series, f, exog_names, skipped)


def split(data: Dataset, horizon: int, *, min_train: int) -> tuple[Dataset, list[np.ndarray]]:
    """Hold out the last ``horizon`` points of every series.

    Series with fewer than ``min_train`` observed training points, or with no observed
    held-out value, are skipped (listed in the returned dataset's ``skipped``).

    Returns:
        The training part of each kept series, and each one's held-out values (shape (h,)).
    """
    train, test = [], []
    skipped = dict(data.skipped)
    for s in data.series:
        if len(s) <= horizon:
            skipped[s.uid] = f"only {len(s)} points"
            continue
        tr, te = s.head(len(s) - horizon), s.y[-horizon:]
        if np.isfinite(tr.y).sum() < min_train:
            skipped[s.uid] = f"fewer than {min_train} observed training points"
            continue
        if not np.isfinite(te).any():
            skipped[s.uid] = "no observed value in the held-out part"
            continue
        train.append(tr)
        test.append(te)
    if not train:
        raise SeriesError(f"no series has enough history for a {horizon}-step hold-out")
    return Dataset(train, data.freq, data.exog_names, skipped), test


def fill_gaps(y: np.ndarray) -> np.ndarray:
    """Linear interpolation over gaps (the statistical baselines need gap-free input)."""
    s = pd.Series(y, dtype=float)
    if s.isna().any():
        s = s.interpolate(limit_direction="both")
    return s.to_numpy()


def future_index(index: pd.DatetimeIndex, freq: str, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` timestamps after ``index``."""
    return pd.date_range(index[-1], periods=horizon + 1, freq=freq)[1:]
