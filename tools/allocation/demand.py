"""From the forecaster's P10/P50/P90 to whole patients to plan for.

The newsvendor picks one quantile: with ``c_u`` the cost of a patient-day without a
staffed bed (``PlanCosts.shortage``) and ``c_o`` the cost of an opened, staffed bed left
empty (``PlanCosts.idle``), the critical ratio ``c_u / (c_u + c_o)`` is the quantile of
demand to plan for (0.8 with the default costs). The robust plan instead takes several
quantiles as scenarios, weighted by Swanson's rule (P10 0.3, P50 0.4, P90 0.3) unless told.

Between and beyond the three quantiles the forecast is read as normal on each side of the
median: ``P50 + (P90 - P50) * z(tau) / z(0.9)`` above it, the same with P10 below, never
below zero. Values are rounded to the nearest whole patient.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from tools.allocation.instance import PlanCosts
from tools.forecast import ForecastDay
from tools.result import ToolError

Z90 = NormalDist().inv_cdf(0.9)
SWANSON = {0.1: 0.3, 0.5: 0.4, 0.9: 0.3}


def critical_ratio(costs: PlanCosts) -> float:
    """Newsvendor critical ratio ``shortage / (shortage + idle)``, kept inside [0.01, 0.99]."""
    total = costs.shortage + costs.idle
    if total <= 0:
        return 0.5
    return min(0.99, max(0.01, costs.shortage / total))


def quantile_name(tau: float) -> str:
    """``0.8`` -> ``"P80"``."""
    pct = 100 * tau
    return f"P{round(pct)}" if abs(pct - round(pct)) < 1e-6 else f"P{pct:.1f}"


def quantile_of(day: ForecastDay, tau: float) -> float:
    """The forecast's ``tau`` quantile for one day, from its P10/P50/P90."""
    if not 0 < tau < 1:
        raise ToolError("bad_input", f"a quantile must be between 0 and 1, got {tau}")
    z = NormalDist().inv_cdf(tau) / Z90
    spread = (day.p90 - day.p50) if z >= 0 else (day.p50 - day.p10)
    return max(0.0, day.p50 + spread * z)


def _whole(x: float) -> int:
    return int(math.floor(x + 0.5))


def demand_at(forecasts: dict[str, list[ForecastDay]], tau: float) -> dict[str, list[int]]:
    """Whole patients per ward and day at quantile ``tau`` of each day's forecast."""
    return {ward: [_whole(quantile_of(d, tau)) for d in days] for ward, days in forecasts.items()}


def scenarios_from(
    forecasts: dict[str, list[ForecastDay]],
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9),
    weights: tuple[float, ...] | None = None,
) -> tuple[dict[str, dict[str, list[int]]], dict[str, float]]:
    """Demand scenarios ``{"P10": {...}, ...}`` and their weights (Swanson's for P10/50/90,
    else equal unless ``weights`` are given)."""
    if not quantiles:
        raise ToolError("bad_input", "give at least one quantile for the robust plan")
    if weights is None:
        if set(quantiles) == set(SWANSON):
            weights = tuple(SWANSON[q] for q in quantiles)
        else:
            weights = tuple(1.0 / len(quantiles) for _ in quantiles)
    if len(weights) != len(quantiles):
        raise ToolError("bad_input", "give one weight per quantile")
    scen = {quantile_name(q): demand_at(forecasts, q) for q in quantiles}
    return scen, {quantile_name(q): w for q, w in zip(quantiles, weights, strict=True)}
