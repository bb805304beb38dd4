"""Bed-and-nurse allocation: an exact MILP over wards x days x shifts, driven by the forecast.

One concept per module:

- :mod:`~tools.allocation.instance`: the checked inputs (costs, staffing rules, instance)
- :mod:`~tools.allocation.demand`: forecast quantiles, the newsvendor ratio, scenarios
- :mod:`~tools.allocation.model`: the MILP formulation (PuLP)
- :mod:`~tools.allocation.solver`: CBC / HiGHS and their own status and gap
- :mod:`~tools.allocation.solution`: the solved model in whole numbers
- :mod:`~tools.allocation.rows`: its rows per ward and day, and their totals
- :mod:`~tools.allocation.explain`: binding constraints and marginal values in words
- :mod:`~tools.allocation.verdicts`: covered or not, what the plan does, what limits it
- :mod:`~tools.allocation.solve`: solve a checked instance and read it (summary, facts, rows)
- :mod:`~tools.allocation.whatif`: what-if changes in plain words and the plan diff
- :mod:`~tools.allocation.plan`: plan requests: one demand, scenarios, or a forecast
- :mod:`~tools.allocation.diagnosis`: the smallest set of requirements that cannot be met
- :mod:`~tools.allocation.bench`: the growing-size benchmark
- :mod:`~tools.allocation.cli`: ``wardwise allocate`` and ``wardwise bench allocate``

See docs/allocation.md for the formulation and its measured tightenings.
"""

from tools.allocation.demand import critical_ratio, demand_at, quantile_of, scenarios_from
from tools.allocation.diagnosis import InfeasiblePlan
from tools.allocation.explain import Marginal
from tools.allocation.instance import DEFAULT_SOLVER, SOLVERS, PlanCosts, StaffRules
from tools.allocation.model import Formulation
from tools.allocation.plan import plan_from_forecast, solve_plan, solve_robust
from tools.allocation.solve import PlanResult, PlanRow
from tools.allocation.whatif import RowChange, WhatIfResult, parse_what_if, what_if

__all__ = [
    "DEFAULT_SOLVER",
    "SOLVERS",
    "Formulation",
    "InfeasiblePlan",
    "Marginal",
    "PlanCosts",
    "PlanResult",
    "PlanRow",
    "RowChange",
    "StaffRules",
    "WhatIfResult",
    "critical_ratio",
    "demand_at",
    "parse_what_if",
    "plan_from_forecast",
    "quantile_of",
    "scenarios_from",
    "solve_plan",
    "solve_robust",
    "what_if",
]
