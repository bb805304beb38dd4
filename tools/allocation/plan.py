"""Solve a plan and read it: rows per ward and day, a summary sentence, labelled facts and
quotable sentences on what binds and what one more bed or nurse is worth.

Public entry points: :func:`solve_plan` (one demand, e.g. the newsvendor quantile of the
forecast), :func:`solve_robust` (several demand scenarios, one set of beds and rosters) and
:func:`plan_from_forecast` (what the agent tool and the CLI call).
"""

from __future__ import annotations

import time
from datetime import date

import pulp
from pydantic import BaseModel, Field

from knowledge.hospital import Ward
from tools.allocation.instance import (
    DEFAULT_SHIFTS,
    PlanCosts,
    StaffRules,
    build_instance,
    check_solver,
)
from tools.allocation.model import Formulation, build
from tools.allocation.solution import Solution, read
from tools.allocation.solver import GAP_REL, solve
from tools.forecast import ForecastDay
from tools.result import Fact, ToolError, ToolResult


class PlanRow(BaseModel):
    """One ward on one day (of one scenario, in a robust plan)."""

    date: date
    ward_id: str
    demand: int
    beds_open: int
    surge_open: int
    transfers_in: int
    transfers_out: int
    unmet: int  # turned away or boarded
    nurses: dict[str, int]  # shift -> RNs on the shift (the ratio's requirement)
    overtime: dict[str, int] = Field(default_factory=dict)  # shift -> of those, overtime/bank
    assistants: dict[str, int] = Field(default_factory=dict)  # shift -> assistants on shift
    assistant_overtime: dict[str, int] = Field(default_factory=dict)
    empty_beds: int = 0  # robust plans: opened beds this scenario leaves empty
    scenario: str = ""  # robust plans: "P10", "P50", ...


class Marginal(BaseModel):
    """What one more unit of a resource on one ward would save, found by re-solving."""

    resource: str  # "bed" (one more regular bed every day) or "rn" (one more RN every shift)
    ward_id: str
    saving: float  # plan cost without it minus plan cost with it (>= 0)


class PlanResult(ToolResult):
    """A solved plan: the solver's own verdict, the rows, and its reading."""

    status: str  # the solver's: "optimal" means proven within the relative gap below
    objective: float
    gap: float | None
    solver: str
    seconds: float
    rows: list[PlanRow]
    binding: list[str] = Field(default_factory=list)  # binding constraints, in words
    marginal: list[Marginal] = Field(default_factory=list)
    explanation: list[str] = Field(default_factory=list)  # sentences the agent may quote
    quantile: float | None = None  # forecast quantile planned for (newsvendor)
    scenarios: list[str] = Field(default_factory=list)
    weights: list[float] = Field(default_factory=list)
    robust: str = ""  # "", "expected" or "worst"
    changes: list[str] = Field(default_factory=list)  # what-if changes applied, in words
    variables: int = 0
    constraints: int = 0
    method: str = "whole"  # "days" when solved day by day (exact: no window binds)

    def reading(self) -> dict:
        out = super().reading()
        out["explanation"] = list(self.explanation)
        return out


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
    solver: str = "highs",
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
    solver: str = "highs",
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
    solver: str = "highs",
    time_limit: float = 30.0,
    explain: bool = True,
) -> PlanResult:
    """Plan from each ward's P10/P50/P90 forecast.

    Without ``robust`` the demand is the newsvendor quantile (``quantile``, default the
    critical ratio of ``costs``); with it, P10/P50/P90 are scenarios weighted 0.3/0.4/0.3.
    With ``what_if`` changes the result is a :class:`~tools.allocation.whatif.WhatIfResult`
    (the base plan, the changed plan and their difference).
    """
    from tools.allocation.demand import critical_ratio, demand_at, scenarios_from
    from tools.allocation.whatif import what_if as run_what_if

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
    if not time_limit > 0:
        raise ToolError("bad_input", f"time_limit must be above zero, got {time_limit}")


# --- the core ------------------------------------------------------------------------------


def solve_instance(
    inst,
    solver: str,
    time_limit: float,
    gap_rel: float = GAP_REL,
    *,
    explain: bool = False,
    quantile: float | None = None,
    form: Formulation | None = None,
    reference: Solution | None = None,
) -> PlanResult:
    """Solve a checked instance and read it. ``reference``: stay as close to that plan as
    the optimum allows (what-if plans differ from the base only where they must)."""
    sol = solve_solution(inst, solver, time_limit, gap_rel, form=form, reference=reference)
    return result_of(sol, time_limit, explain=explain, quantile=quantile, gap_rel=gap_rel)


def solve_solution(
    inst,
    solver: str,
    time_limit: float,
    gap_rel: float = GAP_REL,
    *,
    form: Formulation | None = None,
    reference: Solution | None = None,
    method: str = "auto",
) -> Solution:
    """Build, solve and read one instance; expected failures raise ToolError.

    ``method``: ``"auto"`` solves day by day when that is exact (see
    :mod:`~tools.allocation.decompose`) and otherwise the whole model; ``"days"`` and
    ``"whole"`` force one or the other (``"days"`` still falls back when a window binds).
    """
    from tools.allocation.decompose import decomposable, solve_by_day

    t0 = time.perf_counter()
    if method != "whole" and decomposable(inst):
        run = solve_by_day(
            inst, solver, time_limit, gap_rel, form, reference=reference, stay_close=_stay_close
        )
        if run.solution is not None:
            run.solution.method = "days"
            return run.solution
        if run.reason == "infeasible" and not inst.allow_unmet:
            from tools.allocation.diagnosis import diagnose

            raise diagnose(inst, solver, max(time_limit - (time.perf_counter() - t0), 1.0))
    left = time_limit - (time.perf_counter() - t0)
    if left <= 0.01:
        raise ToolError(
            "no_solution",
            f"The {solver} solver found no plan within {_num(time_limit)} s (status: time_limit).",
            hint="Allow a longer time_limit, or plan fewer days or wards at once.",
        )
    model = build(inst, form)
    outcome = solve(model.prob, solver, left, gap_rel)
    if outcome.status == "infeasible" and not inst.allow_unmet:
        from tools.allocation.diagnosis import diagnose

        left = max(time_limit - (time.perf_counter() - t0), 1.0)
        raise diagnose(inst, solver, left)
    if not outcome.has_solution:
        if outcome.status == "infeasible":  # unmet demand is always feasible: a bug
            raise RuntimeError("the plan with unmet demand allowed was reported infeasible")
        raise ToolError(
            "no_solution",
            f"The {solver} solver found no plan within {_num(time_limit)} s "
            f"(status: {outcome.status}).",
            hint="Allow a longer time_limit, or plan fewer days or wards at once.",
        )
    if reference is not None:
        left = time_limit - (time.perf_counter() - t0)
        _stay_close(model, reference, solver, left)
    sol = read(model, outcome)
    sol.method = "whole"
    return sol


def _stay_close(model, reference: Solution, solver: str, time_left: float) -> None:
    """Second phase of a what-if: among the optimal plans, take one that moves as few
    patients, surge beds and unmet patient-days as possible away from ``reference``."""
    if time_left < 0.5:
        return
    prob = model.prob
    cost = prob.objective
    best = float(pulp.value(cost))
    keep = {v.name: v.varValue for v in prob.variables()}
    prob += cost <= best + 1e-6 * max(1.0, abs(best)), "stay_optimal"
    terms = []
    n = 0
    for key, v in list(model.u.items()) + list(model.x.items()):
        if key[0] != 0:
            continue
        old = _ref_value(reference, key, is_unmet=key in model.u)
        terms.append(_abs_dev(prob, v, old, f"d{n}"))
        n += 1
    for (i, t), v in model.g.items():
        old = reference.cells[0, i, t].surge_open
        terms.append(_abs_dev(prob, v, old, f"d{n}"))
        n += 1
    prob.setObjective(pulp.lpSum(terms))
    out = solve(prob, solver, time_left)
    if not out.has_solution:  # keep the first phase's optimal plan
        for v in prob.variables():
            v.varValue = keep.get(v.name, v.varValue)
    prob.setObjective(cost)


def _ref_value(reference: Solution, key: tuple, is_unmet: bool) -> int:
    if is_unmet:
        return reference.cells[key].unmet
    return reference.moves.get(key, 0)


def _abs_dev(prob, v, old: float, name: str):
    add = getattr(prob, "add_variable", None)  # PuLP >= 3.3: LpVariable() is deprecated
    d = add(name, 0) if add else pulp.LpVariable(name, 0)
    prob += d >= v - old
    prob += d >= old - v
    return d


# --- reading ---------------------------------------------------------------------------------


def result_of(
    sol: Solution,
    time_limit: float,
    *,
    explain: bool = False,
    quantile: float | None = None,
    gap_rel: float = GAP_REL,
) -> PlanResult:
    from tools.allocation import explain as explaining

    inst = sol.inst
    rows = rows_of(sol)
    marginal: list[Marginal] = []
    if explain and len(inst.scenarios) == 1:
        marginal = explaining.marginal_values(sol, time_limit, gap_rel)
    facts = _facts(sol, rows, quantile, marginal)
    binding = explaining.binding(sol, facts)
    explanation = binding[:3] + [explaining.marginal_sentence(m) for m in marginal]
    return PlanResult(
        summary=_summary(sol, rows, quantile, time_limit),
        facts=facts,
        status=sol.outcome.status,
        objective=round(float(sol.outcome.objective or 0.0), 6),
        gap=sol.outcome.gap,
        solver=sol.outcome.solver,
        seconds=round(sol.outcome.seconds, 3),
        rows=rows,
        binding=binding,
        marginal=marginal,
        explanation=explanation,
        quantile=quantile,
        scenarios=list(inst.scenarios) if len(inst.scenarios) > 1 else [],
        weights=list(inst.weights) if len(inst.scenarios) > 1 else [],
        robust=inst.robust if len(inst.scenarios) > 1 else "",
        changes=list(inst.notes),
        variables=sol.variables,
        constraints=sol.constraints,
        method=sol.method,
    )


def rows_of(sol: Solution) -> list[PlanRow]:
    inst = sol.inst
    multi = len(inst.scenarios) > 1
    rows = []
    for w, name in enumerate(inst.scenarios):
        for t, day in enumerate(inst.days):
            for i, ward in enumerate(inst.wards):
                c = sol.cells[w, i, t]
                rn = sol.staff.get((w, "rn", i, t))
                an = sol.staff.get((w, "assistant", i, t))
                rows.append(
                    PlanRow(
                        date=day,
                        ward_id=ward.ward_id,
                        demand=c.demand,
                        beds_open=c.beds_open,
                        surge_open=c.surge_open,
                        transfers_in=c.transfers_in,
                        transfers_out=c.transfers_out,
                        unmet=c.unmet,
                        nurses={s: rn.need if rn else 0 for s in inst.shifts},
                        overtime={
                            s: rn.overtime[n] if rn else 0 for n, s in enumerate(inst.shifts)
                        },
                        assistants={s: an.need for s in inst.shifts} if an else {},
                        assistant_overtime=(
                            {s: an.overtime[n] for n, s in enumerate(inst.shifts)} if an else {}
                        ),
                        empty_beds=c.empty,
                        scenario=name if multi else "",
                    )
                )
    return rows


def _num(x: float) -> str:
    """A number as a person writes it: no exponent, no trailing zeros."""
    x = float(x)
    return str(int(round(x))) if abs(x - round(x)) < 1e-9 else f"{x:.2f}".rstrip("0").rstrip(".")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _value(x: float) -> float | int:
    x = round(float(x), 2)
    return int(x) if x.is_integer() else x


def totals(rows: list[PlanRow]) -> dict[str, int]:
    return {
        "unmet": sum(r.unmet for r in rows),
        "surge": sum(r.surge_open for r in rows),
        "transfers": sum(r.transfers_out for r in rows),
        "overtime": sum(sum(r.overtime.values()) for r in rows),
        "assistant_overtime": sum(sum(r.assistant_overtime.values()) for r in rows),
        "empty": sum(r.empty_beds for r in rows),
    }


def _facts(
    sol: Solution, rows: list[PlanRow], quantile: float | None, marginal: list[Marginal]
) -> list[Fact]:
    inst = sol.inst
    facts: list[Fact] = []
    cost = _value(sol.outcome.objective or 0.0)
    multi = len(inst.scenarios) > 1
    if multi:
        label = "worst-scenario plan cost" if inst.robust == "worst" else "expected plan cost"
        facts.append(Fact(label=label, value=cost, unit="cost units"))
        by = {n: [r for r in rows if r.scenario == n] for n in inst.scenarios}
        first = by[inst.scenarios[0]]
        facts.append(
            Fact(
                label="surge bed-days opened, total",
                value=sum(r.surge_open for r in first),
                unit="bed-days",
            )
        )
        for name in inst.scenarios:
            t = totals(by[name])
            facts.append(
                Fact(
                    label=f"unmet patient-days, {name} scenario",
                    value=t["unmet"],
                    unit="patient-days",
                )
            )
        low, high = inst.scenarios[0], inst.scenarios[-1]
        facts.append(
            Fact(
                label=f"overtime RN shifts, {high} scenario",
                value=totals(by[high])["overtime"],
                unit="RN shifts",
            )
        )
        facts.append(
            Fact(
                label=f"empty bed-days, {low} scenario",
                value=totals(by[low])["empty"],
                unit="bed-days",
            )
        )
        worst_rows = by[high]
    else:
        t = totals(rows)
        facts += [
            Fact(label="total plan cost", value=cost, unit="cost units"),
            Fact(label="total unmet patient-days", value=t["unmet"], unit="patient-days"),
            Fact(label="surge bed-days opened, total", value=t["surge"], unit="bed-days"),
            Fact(label="patient transfers, total", value=t["transfers"], unit="patient-days"),
            Fact(label="overtime RN shifts, total", value=t["overtime"], unit="RN shifts"),
        ]
        if any(r.assistants for r in rows):
            facts.append(
                Fact(
                    label="overtime assistant shifts, total",
                    value=t["assistant_overtime"],
                    unit="assistant shifts",
                )
            )
        worst_rows = rows
    facts.append(Fact(label="wards planned", value=len(inst.wards), unit="wards"))
    facts.append(Fact(label="days planned", value=inst.n_days, unit="days"))
    if quantile is not None:
        facts.append(
            Fact(label="forecast quantile planned for", value=round(quantile, 2), unit="quantile")
        )
    if sol.outcome.status != "optimal" and sol.outcome.gap is not None:
        facts.append(Fact(label="optimality gap", value=round(100 * sol.outcome.gap, 2), unit="%"))
    facts += shortfall_facts(worst_rows, inst)
    for m in marginal:
        facts.append(Fact(label=marginal_label(m), value=_value(m.saving), unit="cost units"))
    return facts


def shortfall_facts(rows: list[PlanRow], inst, top: int = 3) -> list[Fact]:
    """The (at most) three wards that fall shortest: unmet patient-days first, then
    overtime RN shifts, then surge bed-days."""
    scored = []
    for w in inst.wards:
        mine = [r for r in rows if r.ward_id == w.ward_id]
        unmet = sum(r.unmet for r in mine)
        ot = sum(sum(r.overtime.values()) for r in mine)
        surge = sum(r.surge_open for r in mine)
        if unmet or ot or surge:
            scored.append(((-unmet, -ot, -surge, w.ward_id), w.ward_id, unmet, ot, surge))
    scored.sort()
    facts = []
    for _, wid, unmet, ot, surge in scored[:top]:
        if unmet:
            facts.append(Fact(label=f"unmet patient-days, {wid}", value=unmet, unit="patient-days"))
        elif ot:
            facts.append(Fact(label=f"overtime RN shifts, {wid}", value=ot, unit="RN shifts"))
        else:
            facts.append(Fact(label=f"surge bed-days, {wid}", value=surge, unit="bed-days"))
    return facts


def marginal_label(m: Marginal) -> str:
    if m.resource == "bed":
        return f"cost saved by one more bed on {m.ward_id}, every day"
    return f"cost saved by one more RN on every shift of {m.ward_id}"


def _summary(sol: Solution, rows: list[PlanRow], quantile: float | None, time_limit) -> str:
    from tools.allocation.demand import quantile_name

    inst, out = sol.inst, sol.outcome
    days = inst.days
    span = days[0].isoformat() if len(days) == 1 else f"{days[0]} to {days[-1]}"
    scope = f"{_count(len(inst.wards), 'ward')} over {_count(inst.n_days, 'day')} ({span})"
    if out.status == "optimal":
        head = f"Optimal plan ({out.solver})"
    elif out.status == "time_limit":
        gap = "unknown gap" if out.gap is None else f"gap {100 * out.gap:.2f}%"
        head = f"Best plan found by {out.solver} before the {_num(time_limit)} s time limit ({gap})"
    else:
        head = f"Plan ({out.solver}, status {out.status})"
    cost = _num(round(out.objective or 0.0, 2))
    if len(inst.scenarios) > 1:
        first = [r for r in rows if r.scenario == inst.scenarios[0]]
        unmet = ", ".join(
            f"{totals([r for r in rows if r.scenario == n])['unmet']} in {n}"
            for n in inst.scenarios
        )
        kind = "worst-scenario" if inst.robust == "worst" else "expected"
        return (
            f"{head} for {scope}, robust over {'/'.join(inst.scenarios)}: "
            f"{sum(r.surge_open for r in first)} surge bed-days opened, unmet patient-days "
            f"{unmet}, {kind} cost {cost}."
        )
    t = totals(rows)
    at = f" at the forecast's {quantile_name(quantile)}" if quantile is not None else ""
    return (
        f"{head} for {scope}{at}: {t['unmet']} unmet patient-days, {t['surge']} surge "
        f"bed-days, {t['transfers']} patient transfers and {t['overtime']} overtime RN "
        f"shifts, total cost {cost}."
    )
