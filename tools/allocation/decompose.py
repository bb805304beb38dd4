"""Solve a plan day by day when that is exact.

Days are linked only by the consecutive-days windows of the nurse pools (and, in a robust
plan with the worst-case objective, by the maximum over scenarios). Dropping the window
rows leaves one independent MILP per day, which HiGHS and CBC solve far faster than the
whole block-diagonal model (the solvers do not split independent blocks themselves).
Dropping rows is a relaxation, so if the combined day plans also satisfy every window,
they are optimal for the whole model: the plan's bound is the sum of the days' bounds as
each solver reports it, and its gap is computed from those sums. If a window is violated
the caller solves the whole model instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pulp

from tools.allocation.instance import Instance
from tools.allocation.model import Formulation, build
from tools.allocation.solution import Solution, read
from tools.allocation.solver import Outcome, solve, swallow_highs_banner


@dataclass
class DayRun:
    """The day-by-day attempt: the plan if it is exact, and why not otherwise."""

    solution: Solution | None
    reason: str = ""  # "", "windows", "no_solution", "infeasible"
    seconds: float = 0.0


def decomposable(inst: Instance) -> bool:
    """Several days, and no worst-case objective tying the days together."""
    return inst.n_days > 1 and not (len(inst.scenarios) > 1 and inst.robust == "worst")


def day_instance(inst: Instance, t: int) -> Instance:
    """Day ``t`` of ``inst`` as a one-day instance (nurses off sick that day stay off)."""
    day = inst.copy()
    day.start = inst.days[t]
    day.demand = [[[row[t]] for row in scen] for scen in inst.demand]
    day.beds = [[row[t]] for row in inst.beds]
    day.surge = [[row[t]] for row in inst.surge]
    day.cap = {k: [[rows[t]] for rows in inst.cap[k]] for k in inst.cap}
    day.absences = {
        k: [[(n, frozenset({0})) for n, off in ward if t in off] for ward in inst.absences[k]]
        for k in inst.absences
    }
    return day


def solve_by_day(
    inst: Instance,
    solver: str,
    time_limit: float,
    gap_rel: float,
    form: Formulation | None = None,
    reference: Solution | None = None,
    stay_close=None,
) -> DayRun:
    """Solve every day alone; return the combined plan if it satisfies every window."""
    t_start = time.perf_counter()
    deadline = t_start + time_limit
    sols: list[Solution] = []
    outcomes: list[Outcome] = []
    variables = constraints = 0
    for t in range(inst.n_days):
        left = deadline - time.perf_counter()
        if left <= 0:
            return DayRun(None, "no_solution", time.perf_counter() - t_start)
        day = day_instance(inst, t)
        model = build(day, form, name=f"day{t}")
        out = solve(model.prob, solver, left / (inst.n_days - t), gap_rel)
        if out.status == "infeasible":
            return DayRun(None, "infeasible", time.perf_counter() - t_start)
        if not out.has_solution:
            return DayRun(None, "no_solution", time.perf_counter() - t_start)
        if reference is not None and stay_close is not None:
            stay_close(model, _DayView(reference, t), solver, deadline - time.perf_counter())
        variables += model.prob.numVariables()
        constraints += model.prob.numConstraints()
        sols.append(read(model, out))
        outcomes.append(out)
    combined = Solution(
        inst, _combine(outcomes, solver), variables=variables, constraints=constraints
    )
    for t, s in enumerate(sols):
        for (w, i, _), cell in s.cells.items():
            combined.cells[w, i, t] = cell
        for (w, k, i, _), st in s.staff.items():
            combined.staff[w, k, i, t] = st
        for (w, i, j, _), n in s.moves.items():
            combined.moves[w, i, j, t] = n
    seconds = time.perf_counter() - t_start
    if not windows_hold(combined):
        return DayRun(None, "windows", seconds)
    return DayRun(combined, "", seconds)


def _combine(outcomes: list[Outcome], solver: str) -> Outcome:
    status = next((o.status for o in outcomes if o.status != "optimal"), "optimal")
    bounds = [o.bound for o in outcomes]
    return Outcome(
        status,
        solver,
        sum(o.seconds for o in outcomes),
        True,
        objective=sum(o.objective or 0.0 for o in outcomes),
        bound=None if None in bounds else sum(b for b in bounds if b is not None),
    )


def windows_hold(sol: Solution) -> bool:
    """Can the pool nurses the day plans use be rostered within every pool's rules?"""
    inst = sol.inst
    M, T = inst.max_consecutive, inst.n_days
    for k in inst.skills():
        for i in range(len(inst.wards)):
            if inst.ratio[k][i] is None:
                continue
            used = [
                max(sol.staff[w, k, i, t].pool_used for w in range(len(inst.scenarios)))
                for t in range(T)
            ]
            head = inst.headcount[k][i]
            absent = inst.absences[k][i]
            if not absent:
                if T > M and any(sum(used[t : t + M + 1]) > M * head for t in range(T - M)):
                    return False
                continue
            if not _classes_fit(used, head, absent, M):
                return False
    return True


def _classes_fit(used: list[int], head: int, absent: list, M: int) -> bool:
    """Whether ``used[t]`` pool nurses a day can be split over the regular nurses and the
    groups off sick, each group within its own consecutive-days windows (a small LP whose
    matrix is an interval matrix, so its answer is integral)."""
    T = len(used)
    classes = [(head - sum(n for n, _ in absent), frozenset()), *absent]
    prob = pulp.LpProblem("fit", pulp.LpMinimize)
    add = getattr(prob, "add_variable", None)

    def var(name, up):
        return add(name, 0, up) if add else pulp.LpVariable(name, 0, up)

    y = {
        (c, t): var(f"y_{c}_{t}", 0 if t in off else max(n, 0))
        for c, (n, off) in enumerate(classes)
        for t in range(T)
    }
    prob += pulp.lpSum(y.values())
    for t in range(T):
        prob += pulp.lpSum(y[c, t] for c in range(len(classes))) == used[t]
    if T > M:
        for c, (n, _) in enumerate(classes):
            for t0 in range(T - M):
                prob += pulp.lpSum(y[c, t] for t in range(t0, t0 + M + 1)) <= M * n
    swallow_highs_banner()  # the first Highs object of a process prints to stdout
    prob.solve(pulp.HiGHS(msg=False))
    return prob.status == pulp.LpStatusOptimal


class _DayView:
    """A solution's day ``t`` keyed as day 0 (for the what-if's stay-close phase)."""

    def __init__(self, sol: Solution, t: int):
        self.cells = {(w, i, 0): c for (w, i, tt), c in sol.cells.items() if tt == t}
        self.moves = {(w, i, j, 0): n for (w, i, j, tt), n in sol.moves.items() if tt == t}
