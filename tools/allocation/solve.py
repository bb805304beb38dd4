"""Solve a checked instance and read it: rows per ward and day, a summary sentence,
labelled facts, the binding constraints and what one more bed or nurse is worth.

This is the layer below the request handlers (:mod:`~tools.allocation.plan` and
:mod:`~tools.allocation.whatif`): it knows instances and solutions, not forecasts or
what-if wording.
"""

from __future__ import annotations

import math
import time

import pulp
from pydantic import Field

from tools.allocation.decompose import decomposable, solve_by_day
from tools.allocation.demand import quantile_name
from tools.allocation.diagnosis import diagnose
from tools.allocation.explain import Marginal, limits, marginal_label, marginal_sentence
from tools.allocation.instance import Instance
from tools.allocation.model import Formulation, build
from tools.allocation.rows import PlanRow, rows_of, totals
from tools.allocation.solution import Solution, read
from tools.allocation.solver import GAP_REL, solve
from tools.allocation.verdicts import plan_verdicts
from tools.numbers import plain, value
from tools.result import Fact, ToolError, ToolResult

MARGINAL_MAX_CELLS = 200  # ward-days up to which marginal values are found by re-solving


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

    def reading(self, language: str | None = None) -> dict:
        """Summary, facts and verdicts, with the explanation sentences the answer may quote."""
        out = super().reading(language)
        out["explanation"] = list(self.explanation)
        return out


# --- the core ------------------------------------------------------------------------------


def solve_instance(
    inst: Instance,
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
    inst: Instance,
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
    t0 = time.perf_counter()
    if method != "whole" and decomposable(inst):
        run = solve_by_day(
            inst, solver, time_limit, gap_rel, form, reference=reference, stay_close=_stay_close
        )
        if run.solution is not None:
            run.solution.method = "days"
            return run.solution
        if run.reason == "infeasible" and not inst.allow_unmet:
            raise diagnose(inst, solver, max(time_limit - (time.perf_counter() - t0), 1.0))
    left = time_limit - (time.perf_counter() - t0)
    if left <= 0.01:
        raise ToolError(
            "no_solution",
            f"The {solver} solver found no plan within {plain(time_limit)} s (status: time_limit).",
            hint="Allow a longer time_limit, or plan fewer days or wards at once.",
        )
    model = build(inst, form)
    t_solve = time.perf_counter()
    outcome = solve(model.prob, solver, left, gap_rel)
    if outcome.status == "infeasible" and not inst.allow_unmet:
        left = max(time_limit - (time.perf_counter() - t0), 1.0)
        raise diagnose(inst, solver, left)
    if not outcome.has_solution:
        status = outcome.status
        if status == "infeasible":  # unmet demand is always feasible
            if time.perf_counter() - t_solve < 0.9 * left:
                raise RuntimeError("the plan with unmet demand allowed was reported infeasible")
            status = "time_limit"  # CBC stopped by a near-spent limit may say "infeasible"
        raise ToolError(
            "no_solution",
            f"The {solver} solver found no plan within {plain(time_limit)} s (status: {status}).",
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
    """Read a solved plan: rows, summary, facts, binding constraints and (with ``explain``,
    for a single-scenario plan) the marginal values of one more bed and one more RN."""
    inst = sol.inst
    rows = rows_of(sol)
    marginal: list[Marginal] = []
    if explain and len(inst.scenarios) == 1:
        marginal = marginal_values(sol, time_limit, gap_rel)
    facts = _facts(sol, rows, quantile, marginal)
    found = limits(sol, facts)
    bound = [item.text for item in found]
    explanation = bound[:3] + [marginal_sentence(m) for m in marginal]
    worst = [
        r for r in rows if r.scenario == (inst.scenarios[-1] if len(inst.scenarios) > 1 else "")
    ]
    return PlanResult(
        summary=_summary(sol, rows, quantile, time_limit),
        facts=facts,
        verdicts=plan_verdicts(worst, [w.ward_id for w in inst.wards], inst.days, found),
        status=sol.outcome.status,
        objective=round(float(sol.outcome.objective or 0.0), 6),
        gap=sol.outcome.gap,
        solver=sol.outcome.solver,
        seconds=round(sol.outcome.seconds, 3),
        rows=rows,
        binding=bound,
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


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _facts(
    sol: Solution, rows: list[PlanRow], quantile: float | None, marginal: list[Marginal]
) -> list[Fact]:
    inst = sol.inst
    facts: list[Fact] = []
    cost = value(sol.outcome.objective or 0.0)
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
        facts.append(Fact(label=marginal_label(m), value=value(m.saving), unit="cost units"))
    return facts


def shortfall_facts(rows: list[PlanRow], inst: Instance, top: int = 3) -> list[Fact]:
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


def _summary(sol: Solution, rows: list[PlanRow], quantile: float | None, time_limit) -> str:
    inst, out = sol.inst, sol.outcome
    days = inst.days
    span = days[0].isoformat() if len(days) == 1 else f"{days[0]} to {days[-1]}"
    scope = f"{_count(len(inst.wards), 'ward')} over {_count(inst.n_days, 'day')} ({span})"
    if out.status == "optimal":
        head = f"Optimal plan ({out.solver})"
    elif out.status == "time_limit":
        gap = "unknown gap" if out.gap is None else f"gap {100 * out.gap:.2f}%"
        head = (
            f"Best plan found by {out.solver} before the {plain(time_limit)} s time limit ({gap})"
        )
    else:
        head = f"Plan ({out.solver}, status {out.status})"
    cost = plain(out.objective or 0.0)
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


def marginal_values(sol: Solution, time_limit: float, gap_rel: float) -> list[Marginal]:
    """Re-solve with one more bed on the ward that most needs one, and one more RN on every
    shift of the ward that most needs one; report what each saves. Skipped when the plan is
    not proven optimal or has more than ``MARGINAL_MAX_CELLS`` ward-days (each re-solve
    costs as much as the plan), and within half the time limit."""
    inst, out = sol.inst, sol.outcome
    if out.status != "optimal" or len(inst.wards) * inst.n_days > MARGINAL_MAX_CELLS:
        return []
    base = float(out.objective or 0.0)
    found = []
    deadline = time.perf_counter() + time_limit / 2
    for resource, i in _candidates(sol):
        left = deadline - time.perf_counter()
        if left <= 0.5:
            break
        more = inst.copy()
        if resource == "bed":
            more.beds[i] = [b + 1 for b in more.beds[i]]
        else:
            S, M = len(inst.shifts), inst.max_consecutive
            more.cap["rn"][i] = [[c + 1 for c in day] for day in more.cap["rn"][i]]
            more.headcount["rn"][i] += math.ceil(S * (M + 1) / M)
        try:
            new = solve_solution(more, out.solver, left, gap_rel)
        except Exception:  # noqa: BLE001 - a marginal value is optional; the plan stands
            continue
        if new.outcome.status != "optimal":
            continue
        saving = max(0.0, base - float(new.outcome.objective or 0.0))
        found.append(Marginal(resource=resource, ward_id=inst.wards[i].ward_id, saving=saving))
    return found


def _candidates(sol: Solution) -> list[tuple[str, int]]:
    inst = sol.inst
    T = inst.n_days
    bed_score, rn_score = [], []
    for i in range(len(inst.wards)):
        cells = [sol.cells[0, i, t] for t in range(T)]
        cap = [inst.beds[i][t] + inst.surge[i][t] for t in range(T)]
        refused = sum(c.unmet + c.transfers_out for t, c in enumerate(cells) if c.served >= cap[t])
        surge = sum(c.surge_open for c in cells)
        if refused or surge:
            bed_score.append((refused, surge, -i))
        st = [sol.staff.get((0, "rn", i, t)) for t in range(T)]
        ot = sum(sum(s.overtime) for s in st if s is not None)
        short = sum(
            c.unmet + c.transfers_out
            for t, c in enumerate(cells)
            if st[t] is not None and c.served < cap[t]
        )
        if ot or short:
            rn_score.append((short, ot, -i))
    out = []
    if bed_score:
        out.append(("bed", -max(bed_score)[2]))
    if rn_score:
        out.append(("rn", -max(rn_score)[2]))
    return out
