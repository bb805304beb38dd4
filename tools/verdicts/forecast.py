"""A ward forecast's verdicts: will it exceed its beds, how likely on each day, the busiest
day, the expected range, and how far off this ward's forecasts have been.

Probability that occupancy exceeds the beds, from the day's P10/P50/P90: a two-piece normal
(one spread below the median, another above) passes exactly through the three quantiles,
``sigma_low = (P50 - P10) / z`` and ``sigma_high = (P90 - P50) / z`` with ``z = 1.2816``
(the standard normal's 90th percentile). Occupancy is a count, so "more patients than beds"
is read as above ``beds + 0.5``: ``P = 1 - Phi((beds + 0.5 - P50) / sigma_high)`` above the
median, ``1 - Phi((beds + 0.5 - P50) / sigma_low)`` below it. It agrees with the P90 test: a
day whose P90 rounds above the beds has a chance above 10%, and one whose P90 rounds to the
beds or below has 10% or less. A day with no spread on that side has 0 or 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from statistics import NormalDist
from typing import Any, Protocol

from tools.numbers import value
from tools.result import Fact, Verdict
from tools.verdicts import verdicts

Z90 = NormalDist().inv_cdf(0.9)
MAX_LISTED = 7  # days a chance-per-day sentence lists at most (the highest, in date order)
_PHI = NormalDist().cdf


class Quantiles(Protocol):
    """One forecast day (``tools.forecast.ForecastDay`` is one)."""

    date: date
    p10: float
    p50: float
    p90: float


def chance_above(day: Quantiles, beds: int) -> float:
    """Probability that occupancy exceeds ``beds`` (at least ``beds + 1`` patients) on
    ``day``, from its quantiles (see the module docstring)."""
    x = beds + 0.5
    m = day.p50
    spread = (day.p90 - m) if x >= m else (m - day.p10)
    if spread <= 0:
        return 0.0 if x >= m else 1.0
    return 1.0 - _PHI((x - m) / (spread / Z90))


def forecast_verdicts(
    ward_id: str,
    name_en: str,
    name_zh: str,
    beds: int,
    days: Sequence[Quantiles],
    *,
    mae: float | None,
    mase: float,
    coverage: float,
) -> list[Verdict]:
    """Every forecast verdict in both languages (see :mod:`tools.verdicts`)."""
    first, last = days[0].date, days[-1].date
    span = f"{first.isoformat()} to {last.isoformat()}" if len(days) > 1 else first.isoformat()
    names: dict[str, Any] = dict(
        ward=ward_id, name_en=name_en, name_zh=name_zh, first=first, last=last, n=len(days)
    )
    p10 = [round(d.p10) for d in days]
    p50 = [round(d.p50) for d in days]
    p90 = [round(d.p90) for d in days]
    beds_fact = Fact(label="physical beds on the ward", value=beds, unit="beds")
    out: list[Verdict] = []

    # will it exceed its beds (at P90)
    over = [d.date for d, v in zip(days, p90, strict=True) if v > beds]
    peak90 = max(p90)
    facts = [
        beds_fact,
        Fact(label=f"peak P90 occupied beds, {span}", value=peak90, unit="beds"),
        Fact(label=f"days where P90 exceeds the ward's beds, {span}", value=len(over), unit="days"),
        Fact(label="days in the window", value=len(days), unit="days"),
    ]
    excess = peak90 - beds
    if over:
        facts.append(
            Fact(label=f"most beds over capacity at P90, {span}", value=excess, unit="beds")
        )
    out += verdicts(
        "forecast.exceeds_beds",
        "yes_no",
        facts,
        polarity=bool(over),
        beds=beds,
        over=over,
        excess=excess,
        peak90=peak90,
        **names,
    )

    # the chance of more patients than beds, per day
    chances = [(d.date, round(100 * chance_above(d, beds))) for d in days]
    listed = chances
    if len(chances) > MAX_LISTED:
        top = sorted(chances, key=lambda c: (-c[1], c[0]))[:MAX_LISTED]
        listed = sorted(top)
    facts = [beds_fact] + [
        Fact(label=f"chance of more patients than beds, {d.isoformat()}", value=p, unit="%")
        for d, p in listed
    ]
    out += verdicts(
        "forecast.overflow_chance",
        "probability",
        facts,
        beds=beds,
        chances=listed,
        all_listed=len(listed) == len(chances),
        near_zero=max(p for _, p in chances) == 0,
        **names,
    )

    # the busiest day: highest median, then highest P90, then earliest
    k = min(range(len(days)), key=lambda i: (-p50[i], -p90[i], i))
    facts = [
        Fact(label=f"busiest day's P50 occupied beds, {span}", value=p50[k], unit="beds"),
        Fact(label=f"busiest day's P90 occupied beds, {span}", value=p90[k], unit="beds"),
    ]
    out += verdicts(
        "forecast.busiest_day",
        "ranking",
        facts,
        day=days[k].date,
        p50=p50[k],
        p90=p90[k],
        **names,
    )

    # the expected range over the window
    facts = [
        Fact(label=f"lowest P50 occupied beds, {span}", value=min(p50), unit="beds"),
        Fact(label=f"peak P50 occupied beds, {span}", value=max(p50), unit="beds"),
        Fact(label=f"lowest P10 occupied beds, {span}", value=min(p10), unit="beds"),
        Fact(label=f"peak P90 occupied beds, {span}", value=peak90, unit="beds"),
    ]
    out += verdicts(
        "forecast.expected_range",
        "range",
        facts,
        lo50=min(p50),
        hi50=max(p50),
        lo10=min(p10),
        hi90=peak90,
        **names,
    )

    # how far off this ward's forecasts have been
    if mae is not None and mae == mae:
        off = value(round(mae) if mae >= 1 else round(mae, 1))
        facts = [
            Fact(label="backtest mean error of the median forecast", value=off, unit="beds a day"),
            Fact(label="backtest MASE", value=mase, unit=""),
            Fact(label="backtest share of days inside P10-P90", value=coverage, unit=""),
        ]
        out += verdicts(
            "forecast.accuracy",
            "accuracy",
            facts,
            off=off,
            mase=mase,
            better=mase < 1,
            inside=round(100 * coverage),
            **names,
        )
    return out
