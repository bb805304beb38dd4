"""What the bench assumes when a flag is not given: chosen from the data, flags override.

A user who runs ``wardwise bench forecast --data FILE`` gets the settings the benchmarks
used, without knowing the flags:

``season``       from the frequency: 12 for monthly, 7 for daily, 24 for hourly data.
``zeros``        ``missing`` when the data's zeros are not counts: most zeros sit where the
                 series' level makes a zero count implausible (a Poisson count with mean 7 or
                 more is 0 with probability below 0.1%), as in the NHS discharges file (every
                 trust reports 0 on 2022-06-19, and trusts with 50-250 discharges a day have
                 zero days); else ``keep`` (Monash's intermittent product counts, the UIHC
                 night hours with about 2 arrivals an hour, where zeros are real counts).
``holidays``     the data's country's public holidays (daily and hourly data only; monthly
                 data has no holiday features): from a ``country`` column, else from the
                 file's format (NHS England discharges: ``GB-ENG``; UIHC, Iowa: ``US``), else
                 from its name (:data:`NAME_COUNTRIES`); none when nothing says.
``max_history``  the statistical baselines' fitting history, from the frequency: 364 days
                 (52 weeks) for daily data, 2016 hours (12 weeks) for hourly data, all of it
                 for monthly data (AutoARIMA on 2.7 years of daily or 4.7 years of hourly
                 data takes many times longer; these were the benchmarks' settings).

Each choice comes back as a :class:`Choice` (value, ``flag`` or ``inferred``, and why); the
bench prints them and puts them in its JSON under ``"defaults"``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tools.forecasting.data import Dataset, detect_format, read_series

SEASONS = {"MS": 12, "W-MON": 52, "D": 7, "h": 24}
HISTORY = {"D": 364, "h": 2016}
FORMAT_COUNTRIES = {"nhs-discharges": "GB-ENG", "uihc-ed": "US"}
# file-name words that name a country (lower case), in the order they are tried
NAME_COUNTRIES = (
    ("england", "GB-ENG"),
    ("nhs", "GB-ENG"),
    ("scotland", "GB-SCT"),
    ("wales", "GB-WLS"),
    ("uihc", "US"),
    ("iowa", "US"),
)
COUNTRY_NAMES = {
    "ENGLAND": "GB-ENG",
    "UK": "GB-ENG",
    "GB": "GB-ENG",
    "UNITED KINGDOM": "GB-ENG",
    "USA": "US",
    "UNITED STATES": "US",
}
ZERO_LEVEL = 7.0  # a Poisson count of mean >= 7 is 0 with probability < 0.001
NEIGHBOURS = 4  # seasons either side whose same-phase values give a zero's level


@dataclass(frozen=True)
class Choice:
    """One setting: its value, where it came from (``flag`` or ``inferred``), and why."""

    value: Any
    source: str
    reason: str


@dataclass(frozen=True)
class Defaults:
    """The bench's data-dependent settings, each a :class:`Choice`."""

    season: Choice
    zeros: Choice
    holidays: Choice
    max_history: Choice

    def to_json(self) -> dict:
        """``{"season": {"value", "source", "reason"}, "zeros": ..., ...}``."""
        return asdict(self)

    def lines(self) -> list[str]:
        """One line per setting, for the text table."""
        return [
            f"{k}: {c.value if c.value is not None else 'none'} ({c.source}: {c.reason})"
            for k, c in (
                ("season", self.season),
                ("zeros", self.zeros),
                ("holidays", self.holidays),
                ("max_history", self.max_history),
            )
        ]


def season_for(freq: str) -> Choice:
    """The seasonal period of a frequency (``MS``, ``D``, ``h``)."""
    if freq not in SEASONS:
        raise ValueError(f"no default season for frequency {freq!r}; give --season")
    return Choice(SEASONS[freq], "inferred", f"frequency {freq}")


def max_history_for(freq: str) -> Choice:
    """How many last points the statistical baselines are fitted on, by frequency."""
    n = HISTORY.get(freq)
    why = {"D": "daily data: the last 52 weeks", "h": "hourly data: the last 12 weeks"}
    return Choice(n, "inferred", why.get(freq, f"frequency {freq}: the whole history"))


def structural_zeros(data: Dataset, season: int) -> tuple[int, int]:
    """How many zeros ``data`` has, and how many of them are implausible as counts.

    A zero's level is the median of the positive values at the same phase (``season``
    apart) up to :data:`NEIGHBOURS` seasons either side, or, if fewer than two of those are
    positive, of the positive values within one season either side. A zero is implausible
    when that level is at least :data:`ZERO_LEVEL`.

    Returns:
        ``(zeros, implausible)``.
    """
    zeros = implausible = 0
    offsets = [k * season for k in range(-NEIGHBOURS, NEIGHBOURS + 1) if k]
    for s in data.series:
        y = s.y
        at = np.flatnonzero(y == 0)
        zeros += len(at)
        for t in at:
            same = [y[t + o] for o in offsets if 0 <= t + o < len(y)]
            pos = [v for v in same if np.isfinite(v) and v > 0]
            if len(pos) < 2:
                near = y[max(t - season, 0) : t + season + 1]
                pos = list(near[np.isfinite(near) & (near > 0)])
            if pos and float(np.median(pos)) >= ZERO_LEVEL:
                implausible += 1
    return zeros, implausible


def zeros_for(data: Dataset, season: int) -> Choice:
    """``missing`` if at least half of ``data``'s zeros are implausible counts, else ``keep``.

    ``data`` must have been read with its zeros kept.
    """
    n, bad = structural_zeros(data, season)
    if n == 0:
        return Choice("keep", "inferred", "no zeros")
    share = bad / n
    why = (
        f"{bad} of {n} zeros ({share:.0%}) sit where the series' level is >= "
        f"{ZERO_LEVEL:g} (a zero count is implausible there)"
    )
    return Choice("missing" if share >= 0.5 else "keep", "inferred", why)


def _country_column(path: Path) -> str | None:
    head = pd.read_csv(path, nrows=0).columns
    col = next((c for c in head if c.strip().lower() in ("country", "country_code")), None)
    if col is None:
        return None
    values = pd.read_csv(path, usecols=[col])[col].dropna().astype(str).str.strip().unique()
    if len(values) != 1:
        return None
    v = values[0]
    return COUNTRY_NAMES.get(v.upper(), v.upper() if len(v) <= 6 else None)


def holidays_for(path: str | Path, fmt: str, freq: str) -> Choice:
    """The holiday calendar of the data's country (daily and hourly data), or none.

    Args:
        path: the CSV (a ``country`` column with one value, else its name, may say).
        fmt: its format as :func:`tools.forecasting.data.read_series` detected it.
        freq: its frequency; monthly data gets no holiday features, so none.
    """
    if freq not in ("D", "h"):
        return Choice(None, "inferred", f"frequency {freq}: no holiday features")
    path = Path(path)
    code = _country_column(path)
    if code:
        return Choice(code, "inferred", "the file's country column")
    if fmt in FORMAT_COUNTRIES:
        return Choice(FORMAT_COUNTRIES[fmt], "inferred", f"{fmt} data")
    name = path.name.lower()
    for word, code in NAME_COUNTRIES:
        if word in name:
            return Choice(code, "inferred", f"'{word}' in the file name")
    return Choice(None, "inferred", "no country in the data; give --holidays")


def flag(value: Any) -> Choice:
    """A setting the user gave."""
    return Choice(value, "flag", "given")


def read(
    path: str | Path,
    *,
    freq: str | None = None,
    fmt: str = "auto",
    season: int | None = None,
    zeros: str | None = None,
    holidays: str | None = None,
    max_history: int | None = None,
) -> tuple[Dataset, Defaults]:
    """Read ``path`` and choose every setting not given (None) from the data.

    Args:
        path: the CSV (see :func:`tools.forecasting.data.read_series`).
        freq: ``M``, ``D`` or ``H``; needed for long files.
        fmt: the file's format, or ``auto``.
        season: seasonal period, or None to infer it from the frequency.
        zeros: ``keep`` or ``missing``, or None to infer it (:func:`zeros_for`).
        holidays: a holiday calendar code, or None to infer it (:func:`holidays_for`).
        max_history: the baselines' history, or None to infer it (:func:`max_history_for`).

    Returns:
        The data (zeros as gaps if so chosen) and the settings with their sources.
    """
    fmt = detect_format(path) if fmt == "auto" else fmt
    data = read_series(path, freq=freq, fmt=fmt, zeros=zeros or "keep")
    s = flag(season) if season is not None else season_for(data.freq)
    if zeros is not None:
        z = flag(zeros)
    else:
        z = zeros_for(data, int(s.value))
        if z.value == "missing":
            data = read_series(path, freq=freq, fmt=fmt, zeros="missing")
    h = flag(holidays) if holidays is not None else holidays_for(path, fmt, data.freq)
    m = flag(max_history) if max_history is not None else max_history_for(data.freq)
    return data, Defaults(s, z, h, m)
