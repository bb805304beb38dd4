"""Plan requests: solve a plan for one demand, for several scenarios, or from a forecast.

Public entry points: :func:`solve_plan` (one demand, e.g. the newsvendor quantile of the
forecast), :func:`solve_robust` (several demand scenarios, one set of beds and rosters) and
:func:`plan_from_forecast` (what the agent tool and the CLI call). Solving and reading a
checked instance is :mod:`~tools.allocation.solve`; what-if changes are
:mod:`~tools.allocation.whatif`.
"""

from __future__ import annotations

from datetime import date

from knowledge.hospital import Ward
from tools.allocation.demand import critical_ratio, demand_at, scenarios_from
from tools.allocation.instance import (
    DEFAULT_SHIFTS,
    DEFAULT_SOLVER,
    PlanCosts,
    StaffRules,
    build_instance,
    check_solver,
)
from tools.allocation.model import Formulation
from tools.allocation.solve import PlanResult, solve_instance
from tools.allocation.solver import GAP_REL
from tools.allocation.whatif import what_if as run_what_if
from tools.forecast import ForecastDay
from tools.result import ToolError


def solve_plan(
    wards: list[Ward],
    demand: dict[str, list[int]],
    start: date,
    *,
    shifts: tuple[str, ...] = DEFAULT_SHIFTS,
    costs: PlanCosts | None = None,
    rules: StaffRules | None = None,
    compatible: dict[str, list[str]] | None = None,
    max_overtime_rn: int | None = None,
    allow_unmet: bool = True,
    solver: str = DEFAULT_SOLVER,
    time_limit: float = 30.0,
    gap_rel: float = GAP_REL,
    explain: bool = True,
    quantile: float | None = None,
    formulation: Formulation | None = None,
) -> PlanResult:
    """Plan beds, surge beds, transfers, RNs and assistants per shift at least cost.

    Args:
        wards: The wards to plan; wards without an entry in ``demand`` get zero demand but
            can receive transfers.
        demand: Patients needing a bed, per ward id, one integer per day from ``start``.
        start: Date of the first day of the plan.
        shifts: Names of the nursing shifts of a day; the ratios apply on each.
        costs: Weights of the objective; defaults to :class:`PlanCosts`.
        rules: Ratios, availability and rostering rules; defaults to :class:`StaffRules`.
        compatible: Ward id -> ward ids it may send patients to. Default: wards of the same
            ``ward_type``. An ICU never sends patients to a general ward.
        max_overtime_rn: Overrides ``rules.max_overtime_rn`` (overtime RNs per shift).
        allow_unmet: If False, every patient must get a staffed bed; an impossible instance
            raises :class:`InfeasiblePlan` naming the smallest set of requirements that
            cannot all be met.
        solver: ``"highs"`` (in-process highspy) or ``"cbc"`` (bundled with PuLP).
        time_limit: Seconds the solver may run; a stopped search reports its status and gap.
        gap_rel: Relative MIP gap at which the solver may stop and call the plan optimal.
        explain: Also find the marginal value of one more bed and one more RN by re-solving.
        quantile: The forecast quantile ``demand`` stands for, if any (for the reading).
        formulation: Tightenings to use (all on by default).

    Returns:
        The plan with its reading (summary, facts, explanation).

    Raises:
        ToolError: ``unknown_ward``, ``bad_input``, ``no_solution``, ``solver_unavailable``;
            :class:`InfeasiblePlan` (code ``infeasible``) when ``allow_unmet`` is False.
    """
    check_solver(solver)
    _check_time(time_limit)
    if max_overtime_rn is not None:
        if max_overtime_rn < 0:
            raise ToolError("bad_input", f"max_overtime_rn must be >= 0, got {max_overtime_rn}")
        rules = (rules or StaffRules()).model_copy(update={"max_overtime_rn": max_overtime_rn})
    inst = build_instance(
        wards,
        {"plan": demand},
        start,
        shifts=shifts,
        costs=costs,
        rules=rules,
        compatible=compatible,
        allow_unmet=allow_unmet,
    )
    return solve_instance(
        inst, solver, time_limit, gap_rel, explain=explain, quantile=quantile, form=formulation
    )


def solve_robust(
    wards: list[Ward],
    scenarios: dict[str, dict[str, list[int]]],
    start: date,
    *,
    weights: dict[str, float] | None = None,
    objective: str = "expected",
    shifts: tuple[str, ...] = DEFAULT_SHIFTS,
    costs: PlanCosts | None = None,
    rules: StaffRules | None = None,
    compatible: dict[str, list[str]] | None = None,
    allow_unmet: bool = True,
    solver: str = DEFAULT_SOLVER,
    time_limit: float = 30.0,
    gap_rel: float = GAP_REL,
    formulation: Formulation | None = None,
) -> PlanResult:
    """One set of beds (regular and surge) and nurse rosters for several demand scenarios.

    Beds and rosters are decided once; transfers, unmet patients and overtime adapt to
    each scenario. ``objective="expected"`` minimises the weighted mean cost (empty beds
    cost ``PlanCosts.idle``), ``"worst"`` the cost of the worst scenario.

    Args:
        wards: The wards to plan.
        scenarios: Scenario name (e.g. ``"P90"``) -> demand per ward id, as in solve_plan.
        start: Date of the first day of the plan.
        weights: Scenario name -> weight (normalised); default equal.
        objective: ``"expected"`` or ``"worst"``.
        shifts: Names of the nursing shifts of a day.
        costs: Weights of the objective.
        rules: Ratios, availability and rostering rules.
        compatible: Ward id -> ward ids it may send patients to.
        allow_unmet: If False, every patient of every scenario must get a staffed bed.
        solver: ``"highs"`` or ``"cbc"``.
        time_limit: Seconds the solver may run.
        gap_rel: Relative MIP gap at which the solver may stop.
        formulation: Tightenings to use.

    Returns:
        The plan, with rows for every scenario.
    """
    check_solver(solver)
    _check_time(time_limit)
    inst = build_instance(
        wards,
        scenarios,
        start,
        weights=weights,
        shifts=shifts,
        costs=costs,
        rules=rules,
        compatible=compatible,
        allow_unmet=allow_unmet,
        robust=objective,
    )
    return solve_instance(inst, solver, time_limit, gap_rel, explain=False, form=formulation)


def plan_from_forecast(
    wards: list[Ward],
    forecasts: dict[str, list[ForecastDay]],
    *,
    costs: PlanCosts | None = None,
    rules: StaffRules | None = None,
    quantile: float | None = None,
    robust: bool = False,
    what_if: list[str] | tuple[str, ...] = (),
    allow_unmet: bool = True,
    solver: str = DEFAULT_SOLVER,
    time_limit: float = 30.0,
    explain: bool = True,
) -> PlanResult:
    """Plan from each ward's P10/P50/P90 forecast.

    Without ``robust`` the demand is the newsvendor quantile (``quantile``, default the
    critical ratio of ``costs``); with it, P10/P50/P90 are scenarios weighted 0.3/0.4/0.3.
    With ``what_if`` changes the result is a :class:`~tools.allocation.whatif.WhatIfResult`
    (the base plan, the changed plan and their difference).
    """
    costs = costs or PlanCosts()
    if not forecasts:
        raise ToolError("bad_input", "no forecasts to plan from")
    start = next(iter(forecasts.values()))[0].date
    if robust:
        if what_if:
            raise ToolError("bad_input", "what-if changes apply to the single-quantile plan")
        scen, weights = scenarios_from(forecasts)
        return solve_robust(
            wards,
            scen,
            start,
            weights=weights,
            costs=costs,
            rules=rules,
            allow_unmet=allow_unmet,
            solver=solver,
            time_limit=time_limit,
        )
    tau = critical_ratio(costs) if quantile is None else quantile
    demand = demand_at(forecasts, tau)
    if what_if:
        return run_what_if(
            wards,
            demand,
            start,
            list(what_if),
            costs=costs,
            rules=rules,
            allow_unmet=allow_unmet,
            solver=solver,
            time_limit=time_limit,
            quantile=tau,
        )
    return solve_plan(
        wards,
        demand,
        start,
        costs=costs,
        rules=rules,
        allow_unmet=allow_unmet,
        solver=solver,
        time_limit=time_limit,
        quantile=tau,
        explain=explain,
    )


def _check_time(time_limit: float) -> None:
    """A solver time limit must be above zero."""
    if not time_limit > 0:
        raise ToolError("bad_input", f"time_limit must be above zero, got {time_limit}")
