"""Bed-and-nurse plan: an exact mixed-integer programme over wards, days and shifts.

For every ward and day the model decides how many regular and surge beds to open, how
many patients to move to a compatible ward, how many to leave without a staffed bed
(``unmet``) and how many RNs each shift needs. It minimises a weighted cost
(:class:`PlanCosts`) and is solved exactly with PuLP's bundled CBC or in-process HiGHS.

Per ward and day, with ``p = demand - unmet - transfers_out + transfers_in`` patients
served::

    p <= beds_open + surge_open,  beds_open <= beds,  surge_open <= surge_beds
    unmet + transfers_out <= demand,  transfers only to compatible wards
    nurse_ratio * (rn_per_shift + overtime) >= p  on every shift,  overtime <= max_overtime_rn
    idle >= beds_open + surge_open - p

    minimise  w.shortage*unmet + w.surge*surge_open + w.transfer*transfers + w.idle*idle
              + w.overtime*len(shifts)*overtime          (w: the PlanCosts weights)

Unmet, transfers and overtime are integers, so ``p`` is too, and the cheapest split into
regular, surge and idle beds is integral without declaring it. The RNs a shift needs are
``ceil(p / nurse_ratio)``; that is what a row reports.

Days are independent (a patient-day is planned where it falls; there is no length-of-stay
coupling), so each day is solved as its own MILP: the sum of the daily optima is the
optimum of the whole plan, and B&B never multiplies the rounding choices of one day by
those of another. A transferred patient counts against the receiving ward's beds and RN
ratio. Every shift of a ward has the same roster and ratio, so one overtime count per
ward-day covers all shifts and is paid once per shift.

The solver's own status and gap are reported; PuLP's "Optimal" is not trusted, since it
also says so when a time limit stopped the search with a merely feasible plan.
"""

from __future__ import annotations

import math
import numbers
import re
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pulp
from pydantic import BaseModel, Field

from knowledge.hospital import Ward
from tools.result import Fact, ToolError, ToolResult

SOLVERS = ("cbc", "highs")


class PlanCosts(BaseModel):
    """Weights of the objective; all in the same (arbitrary) cost unit."""

    shortage: float = Field(100.0, ge=0, description="per patient-day without a staffed bed")
    surge: float = Field(10.0, ge=0, description="per surge bed opened per day")
    transfer: float = Field(5.0, ge=0, description="per patient moved to a compatible ward per day")
    idle: float = Field(1.0, ge=0, description="per opened-but-empty bed per day")
    overtime: float = Field(20.0, ge=0, description="per RN shift beyond rn_per_shift")


class PlanRow(BaseModel):
    """One ward on one day of the plan."""

    date: date
    ward_id: str
    demand: int
    beds_open: int
    surge_open: int
    transfers_in: int
    transfers_out: int
    unmet: int
    nurses: dict[str, int]  # shift -> RNs needed (ceil(patients served / nurse_ratio))
    overtime: dict[str, int] = Field(default_factory=dict)  # shift -> RNs beyond rn_per_shift


class PlanResult(ToolResult):
    """A solved plan: the solver's verdict, one row per ward and day, and its binding limits."""

    status: str
    objective: float
    gap: float | None
    solver: str
    seconds: float
    rows: list[PlanRow]
    binding: list[str]


@dataclass
class _Model:
    """One day's MILP; variables are keyed by ward index."""

    prob: pulp.LpProblem
    beds: dict[int, pulp.LpVariable]
    surge: dict[int, pulp.LpVariable]
    unmet: dict[int, pulp.LpVariable]
    transfer: dict[tuple[int, int], pulp.LpVariable]  # (from ward, to ward)


@dataclass
class _Outcome:
    status: str
    solver: str
    seconds: float
    has_solution: bool
    objective: float | None = None
    bound: float | None = None  # best proven lower bound on the objective

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None:
            return None
        return _relative_gap(self.objective, self.bound)


@dataclass
class _Cell:
    """A ward-day of a solved model, in integers."""

    demand: int
    beds_open: int
    surge_open: int
    transfers_in: int
    transfers_out: int
    unmet: int

    @property
    def served(self) -> int:
        return self.demand - self.unmet - self.transfers_out + self.transfers_in


def solve_plan(
    wards: list[Ward],
    demand: dict[str, list[int]],
    start: date,
    *,
    shifts: tuple[str, ...] = ("day", "evening", "night"),
    costs: PlanCosts | None = None,
    compatible: dict[str, list[str]] | None = None,
    max_overtime_rn: int = 2,
    allow_unmet: bool = True,
    solver: str = "cbc",
    time_limit: float = 30.0,
) -> PlanResult:
    """Plan beds, surge beds, transfers and RNs per shift for each ward and day at least cost.

    Args:
        wards: The wards to plan; wards without an entry in ``demand`` get zero demand but
            can receive transfers.
        demand: Patients needing a bed, per ward id, one integer per day from ``start``;
            every list has the same length.
        start: Date of the first day of the plan.
        shifts: Names of the nursing shifts of a day; the RN ratio applies on each.
        costs: Weights of the objective; defaults to :class:`PlanCosts`.
        compatible: Ward id -> ward ids it may send patients to. Default: wards of the same
            ``ward_type``. An ICU never sends patients to a general ward.
        max_overtime_rn: Extra RN shifts a ward may add beyond ``rn_per_shift`` on one shift.
        allow_unmet: If False, every patient must get a staffed bed; an impossible instance
            raises ``ToolError("infeasible")`` naming the requirements that cannot be met.
        solver: ``"cbc"`` (bundled with PuLP) or ``"highs"`` (in-process highspy).
        time_limit: Seconds the solver may run; a stopped search reports status
            ``"time_limit"`` and its gap.

    Returns:
        The plan, with one row per ward and day, the binding constraints in words, a
        summary sentence and labelled facts.

    Raises:
        ToolError: ``unknown_ward``, ``bad_input``, ``infeasible``, ``no_solution`` or
            ``solver_unavailable``.
    """
    costs = costs or PlanCosts()
    n_days, dem, compat = _check_inputs(
        wards, demand, shifts, compatible, max_overtime_rn, solver, time_limit
    )
    days = [start + timedelta(days=t) for t in range(n_days)]

    models, daily = _solve_days(
        wards, dem, compat, shifts, costs, max_overtime_rn, allow_unmet, solver, time_limit
    )
    outcome = _combine(daily, solver)
    if outcome.status == "infeasible" and not allow_unmet:
        short = [t for t, o in enumerate(daily) if o.status == "infeasible"]
        raise _explain_infeasible(
            wards, dem, compat, days, short, shifts, costs, max_overtime_rn, solver, time_limit
        )
    if not outcome.has_solution:
        if outcome.status == "infeasible":  # cannot happen with unmet allowed: a bug
            raise RuntimeError("the plan with unmet demand allowed was reported infeasible")
        raise ToolError(
            "no_solution",
            f"The {outcome.solver} solver found no plan within {_num(time_limit)} s "
            f"(status: {outcome.status}).",
            hint="Allow a longer time_limit, or plan fewer days or wards at once.",
        )

    objective = float(outcome.objective or 0.0)
    cells = _cells(models, wards, dem)
    rows = _rows(cells, wards, days, shifts)
    binding = _binding(cells, wards, days, shifts, max_overtime_rn)
    summary, facts = _reading(rows, wards, days, shifts, objective, outcome, time_limit)
    return PlanResult(
        summary=summary,
        facts=facts,
        status=outcome.status,
        objective=objective,
        gap=outcome.gap,
        solver=outcome.solver,
        seconds=round(outcome.seconds, 3),
        rows=rows,
        binding=binding,
    )


# --- input checks -------------------------------------------------------------------------


def _check_inputs(
    wards: list[Ward],
    demand: dict[str, list[int]],
    shifts: tuple[str, ...],
    compatible: dict[str, list[str]] | None,
    max_overtime_rn: int,
    solver: str,
    time_limit: float,
) -> tuple[int, list[list[int]], list[list[int]]]:
    """Validate everything; return (days, demand per ward index, transfer targets per index)."""
    if solver not in SOLVERS:
        raise ToolError(
            "bad_input", f"unknown solver {solver!r}", hint=f"use one of: {', '.join(SOLVERS)}"
        )
    if not wards:
        raise ToolError("bad_input", "no wards to plan", hint="pass at least one ward")
    ids = [w.ward_id for w in wards]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ToolError("bad_input", f"duplicate ward id(s): {', '.join(dup)}")
    for w in wards:
        for name in ("beds", "surge_beds", "rn_per_shift"):
            if getattr(w, name) < 0:
                raise ToolError(
                    "bad_input",
                    f"{w.ward_id} has negative {name} ({getattr(w, name)})",
                    hint="capacities must be zero or more",
                )
        if w.nurse_ratio < 1:
            raise ToolError(
                "bad_input", f"{w.ward_id} has nurse_ratio {w.nurse_ratio}; must be >= 1"
            )
    if not shifts or len(set(shifts)) != len(shifts) or not all(str(s).strip() for s in shifts):
        raise ToolError("bad_input", f"shifts must be distinct non-empty names, got {shifts!r}")
    if max_overtime_rn < 0:
        raise ToolError("bad_input", f"max_overtime_rn must be >= 0, got {max_overtime_rn}")
    if not time_limit > 0:
        raise ToolError("bad_input", f"time_limit must be positive, got {time_limit}")

    known = ", ".join(ids)
    index = {wid: i for i, wid in enumerate(ids)}
    if not demand:
        raise ToolError(
            "bad_input", "demand is empty", hint="give a list of daily patients per ward"
        )
    for wid in demand:
        if wid not in index:
            raise ToolError(
                "unknown_ward",
                f"unknown ward {wid!r} in demand; known wards: {known}",
                hint="use the ward ids of the hospital",
            )
    lengths = {wid: len(v) for wid, v in demand.items()}
    if len(set(lengths.values())) != 1:
        detail = ", ".join(f"{wid}: {n}" for wid, n in lengths.items())
        raise ToolError(
            "bad_input",
            f"demand lists have different lengths ({detail})",
            hint="give every ward the same number of days",
        )
    n_days = next(iter(lengths.values()))
    if n_days == 0:
        raise ToolError("bad_input", "demand covers zero days")

    dem = [[0] * n_days for _ in wards]
    for wid, values in demand.items():
        for t, v in enumerate(values):
            if (
                isinstance(v, bool)
                or not isinstance(v, numbers.Real)
                or not math.isfinite(v)
                or v != int(v)
            ):
                raise ToolError(
                    "bad_input",
                    f"demand for {wid} on day {t + 1} is {v!r}, not a whole number of patients",
                    hint="round forecast demand up to whole patients",
                )
            if v < 0:
                raise ToolError("bad_input", f"demand for {wid} on day {t + 1} is negative ({v})")
            dem[index[wid]][t] = int(v)

    if compatible is None:
        compat = [
            [j for j, v in enumerate(wards) if j != i and v.ward_type == w.ward_type]
            for i, w in enumerate(wards)
        ]
    else:
        compat = [[] for _ in wards]
        for src, targets in compatible.items():
            for wid in [src, *targets]:
                if wid not in index:
                    raise ToolError(
                        "unknown_ward",
                        f"unknown ward {wid!r} in compatible; known wards: {known}",
                        hint="use the ward ids of the hospital",
                    )
            i = index[src]
            for dst in targets:
                j = index[dst]
                if j == i or j in compat[i]:
                    continue
                if wards[i].ward_type == "icu" and wards[j].ward_type == "general":
                    raise ToolError(
                        "bad_input",
                        f"{src} is an ICU and may not send patients to general ward {dst}",
                        hint="list only ICU or step-down wards as targets of an ICU",
                    )
                compat[i].append(j)
    return n_days, dem, compat


# --- model ----------------------------------------------------------------------------------


def _build(
    wards: list[Ward],
    dem: list[int],
    compat: list[list[int]],
    shifts: tuple[str, ...],
    costs: PlanCosts,
    max_ot: int,
    *,
    unmet_allowed: bool,
) -> _Model:
    """The MILP of one day; ``dem[i]`` is ward ``i``'s demand that day."""
    prob = pulp.LpProblem("wardwise_plan", pulp.LpMinimize)
    integer = pulp.LpInteger
    n = len(wards)
    beds, surge, unmet, idle, transfer, overtime = {}, {}, {}, {}, {}, {}
    for i in range(n):
        for j in compat[i]:
            transfer[i, j] = _var(prob, f"x_{i}_{j}", 0, dem[i], integer)
    for i, w in enumerate(wards):
        # Served patients are integral (demand, unmet and transfers are), so the cheapest
        # bed split is integral too: beds, surge beds and idle beds need no integrality.
        beds[i] = _var(prob, f"b_{i}", 0, w.beds)
        surge[i] = _var(prob, f"g_{i}", 0, w.surge_beds)
        unmet[i] = _var(prob, f"u_{i}", 0, dem[i] if unmet_allowed else 0, integer)
        idle[i] = _var(prob, f"e_{i}", 0)
        overtime[i] = _var(prob, f"o_{i}", 0, max_ot, integer)  # extra RNs on each shift
        out = pulp.lpSum(transfer[i, j] for j in compat[i])
        inn = pulp.lpSum(transfer[k, i] for k in range(n) if i in compat[k])
        served = dem[i] - unmet[i] - out + inn
        prob += unmet[i] + out <= dem[i], f"sources_{i}"
        prob += served <= beds[i] + surge[i], f"beds_{i}"
        prob += idle[i] >= beds[i] + surge[i] - served, f"idle_{i}"
        prob += w.nurse_ratio * (w.rn_per_shift + overtime[i]) >= served, f"ratio_{i}"
    prob += (
        costs.shortage * pulp.lpSum(unmet.values())
        + costs.surge * pulp.lpSum(surge.values())
        + costs.transfer * pulp.lpSum(transfer.values())
        + costs.idle * pulp.lpSum(idle.values())
        + costs.overtime * len(shifts) * pulp.lpSum(overtime.values())
    )
    return _Model(prob, beds, surge, unmet, transfer)


def _var(
    prob: pulp.LpProblem, name: str, low: float, up: float | None = None, cat: str = "Continuous"
) -> pulp.LpVariable:
    add = getattr(prob, "add_variable", None)  # PuLP >= 3.3; LpVariable() is deprecated there
    return add(name, low, up, cat) if add else pulp.LpVariable(name, low, up, cat)


# --- solvers --------------------------------------------------------------------------------


def _solve_days(
    wards: list[Ward],
    dem: list[list[int]],
    compat: list[list[int]],
    shifts: tuple[str, ...],
    costs: PlanCosts,
    max_ot: int,
    unmet_allowed: bool,
    solver: str,
    time_limit: float,
    only: list[int] | None = None,
) -> tuple[list[_Model | None], list[_Outcome]]:
    """Solve each day (or the days in ``only``) within one overall ``time_limit``.

    Each day may use its fair share of the time left, so time an easy day does not need
    passes on to the next and every day gets a chance to find a plan.
    """
    todo = list(range(len(dem[0]))) if only is None else only
    deadline = time.perf_counter() + time_limit
    models: list[_Model | None] = []
    outcomes: list[_Outcome] = []
    for k, t in enumerate(todo):
        left = deadline - time.perf_counter()
        if left <= 0:
            outcomes.append(_Outcome("time_limit", solver, 0.0, has_solution=False))
            models.append(None)
            continue
        model = _build(
            wards,
            [row[t] for row in dem],
            compat,
            shifts,
            costs,
            max_ot,
            unmet_allowed=unmet_allowed,
        )
        models.append(model)
        outcomes.append(_solve(model.prob, solver, max(left / (len(todo) - k), 0.01)))
    return models, outcomes


def _combine(daily: list[_Outcome], solver: str) -> _Outcome:
    """One verdict for the plan: optimal only if every day is, gap from the summed bounds."""
    statuses = [o.status for o in daily]
    if "infeasible" in statuses:
        status = "infeasible"
    else:
        status = next((st for st in statuses if st != "optimal"), "optimal")
    solved = all(o.has_solution for o in daily)
    objective = sum(o.objective or 0.0 for o in daily) if solved else None
    bounds = [o.bound for o in daily]
    bound = sum(b for b in bounds if b is not None) if solved and None not in bounds else None
    return _Outcome(
        status, solver, sum(o.seconds for o in daily), solved, objective=objective, bound=bound
    )


def _solve(prob: pulp.LpProblem, solver: str, time_limit: float) -> _Outcome:
    if solver == "cbc":
        return _solve_cbc(prob, time_limit)
    return _solve_highs(prob, time_limit)


def _solve_cbc(prob: pulp.LpProblem, time_limit: float) -> _Outcome:
    with tempfile.TemporaryDirectory(prefix="wardwise-cbc-") as tmp:
        log_path = Path(tmp) / "cbc.log"
        with warnings.catch_warnings():
            # PuLP >= 3.3 deprecates its bundled CBC in favour of a separately installed one.
            warnings.filterwarnings("ignore", "PULP_CBC_CMD is deprecated", DeprecationWarning)
            cmd = pulp.PULP_CBC_CMD(
                msg=False, timeLimit=time_limit, gapRel=1e-9, logPath=str(log_path), threads=1
            )
        t0 = time.perf_counter()
        prob.solve(cmd)
        seconds = time.perf_counter() - t0
        log = log_path.read_text(errors="replace") if log_path.exists() else ""
    has_solution = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    status, bound = _read_cbc_log(log)
    if status is None:
        if prob.status == pulp.LpStatusInfeasible:
            status = "infeasible"
        elif prob.status == pulp.LpStatusUnbounded:
            status = "unbounded"
        elif seconds >= time_limit:
            status = "time_limit"
        else:
            status = "unknown"
    has_solution = has_solution and status != "infeasible"
    objective = float(pulp.value(prob.objective) or 0.0) if has_solution else None
    if bound is None and status == "optimal":
        bound = objective  # CBC proved optimality (ratio gap 1e-9) and printed no bound
    return _Outcome(status, "cbc", seconds, has_solution, objective=objective, bound=bound)


def _read_cbc_log(log: str) -> tuple[str | None, float | None]:
    """CBC's own verdict and best bound from its log: ``(status, lower bound)``."""
    bound = None
    m = re.search(r"^Lower bound:\s+(\S+)", log, re.M)
    if m:
        try:
            bound = float(m.group(1))
        except ValueError:
            bound = None
    m = re.search(r"^Result - (.+)$", log, re.M)
    if m:
        text = m.group(1).strip().lower()
        if text.startswith("optimal"):
            return "optimal", bound
        if "time" in text:
            return "time_limit", bound
        if "infeasible" in text:
            return "infeasible", bound
        if "unbounded" in text:
            return "unbounded", bound
        return re.sub(r"\W+", "_", text).strip("_"), bound
    if re.search(r"problem is infeasible|proven infeasible", log, re.I):
        return "infeasible", bound
    return None, bound


def _solve_highs(prob: pulp.LpProblem, time_limit: float) -> _Outcome:
    cmd = pulp.HiGHS(msg=False, timeLimit=time_limit, gapRel=1e-9)
    if not cmd.available():
        raise ToolError(
            "solver_unavailable", "the HiGHS solver (highspy) is not installed", hint="use cbc"
        )
    t0 = time.perf_counter()
    prob.solve(cmd)
    seconds = time.perf_counter() - t0
    highs = prob.solverModel
    model_status = highs.getModelStatus()
    info = highs.getInfo()
    names = {
        "kOptimal": "optimal",
        "kTimeLimit": "time_limit",
        "kInfeasible": "infeasible",
        "kUnboundedOrInfeasible": "infeasible",
        "kUnbounded": "unbounded",
        "kIterationLimit": "iteration_limit",
        "kSolutionLimit": "solution_limit",
        "kInterrupt": "interrupted",
    }
    status = names.get(model_status.name)
    if status is None:
        text = highs.modelStatusToString(model_status).lower()
        status = re.sub(r"\W+", "_", text).strip("_") or "unknown"
    has_solution = info.primal_solution_status == 2 and status != "infeasible"  # 2: feasible
    objective = float(pulp.value(prob.objective) or 0.0) if has_solution else None
    bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
    if bound is None and status == "optimal":
        bound = objective  # solved without branch and bound (e.g. in presolve)
    return _Outcome(status, "highs", seconds, has_solution, objective=objective, bound=bound)


def _relative_gap(objective: float, bound: float) -> float:
    diff = max(0.0, objective - bound)
    if diff <= 1e-9:
        return 0.0
    return diff / max(abs(objective), 1e-9)


# --- reading the solution -----------------------------------------------------------------


def _int(var: pulp.LpVariable) -> int:
    return int(round(var.varValue or 0.0))


def _cells(
    models: list[_Model | None], wards: list[Ward], dem: list[list[int]]
) -> list[list[_Cell]]:
    """Solved values per ward index and day (``models[t]`` is day ``t``)."""
    n = len(wards)
    cells: list[list[_Cell]] = [[] for _ in wards]
    for t, model in enumerate(models):
        assert model is not None, "cells of a day that was not solved"
        moved = {k: _int(v) for k, v in model.transfer.items()}
        for i in range(n):
            cells[i].append(
                _Cell(
                    demand=dem[i][t],
                    beds_open=_int(model.beds[i]),
                    surge_open=_int(model.surge[i]),
                    transfers_in=sum(moved.get((k, i), 0) for k in range(n)),
                    transfers_out=sum(moved.get((i, j), 0) for j in range(n)),
                    unmet=_int(model.unmet[i]),
                )
            )
    return cells


def _rns_needed(ward: Ward, served: int) -> int:
    return math.ceil(served / ward.nurse_ratio) if served > 0 else 0


def _rows(
    cells: list[list[_Cell]], wards: list[Ward], days: list[date], shifts: tuple[str, ...]
) -> list[PlanRow]:
    rows = []
    for t, day in enumerate(days):
        for i, w in enumerate(wards):
            c = cells[i][t]
            need = _rns_needed(w, c.served)
            rows.append(
                PlanRow(
                    date=day,
                    ward_id=w.ward_id,
                    demand=c.demand,
                    beds_open=c.beds_open,
                    surge_open=c.surge_open,
                    transfers_in=c.transfers_in,
                    transfers_out=c.transfers_out,
                    unmet=c.unmet,
                    nurses={s: need for s in shifts},
                    overtime={s: max(0, need - w.rn_per_shift) for s in shifts},
                )
            )
    return rows


def _num(x: float) -> str:
    """A number as a person writes it: no exponent, no trailing zeros."""
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}".rstrip("0").rstrip(".")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _days_text(hit: list[date], n_days: int) -> str:
    if len(hit) == 1:
        return f"on {hit[0].isoformat()}"
    if len(hit) == n_days:
        return f"on all {n_days} days"
    shown = ", ".join(d.isoformat() for d in hit[:3]) + (", ..." if len(hit) > 3 else "")
    return f"on {len(hit)} of {n_days} days ({shown})"


def _shifts_text(shifts: tuple[str, ...]) -> str:
    if len(shifts) == 1:
        return f"the {shifts[0]} shift"
    return "the " + ", ".join(shifts[:-1]) + f" and {shifts[-1]} shifts"


def _binding(
    cells: list[list[_Cell]],
    wards: list[Ward],
    days: list[date],
    shifts: tuple[str, ...],
    max_ot: int,
    limit: int = 8,
) -> list[str]:
    """Limits the plan runs into, worded and aggregated over days, most important first."""
    found: list[tuple[int, int, int, str]] = []  # (priority, -days, ward index, sentence)
    n_days = len(days)
    on_every = "on every shift" if len(shifts) > 1 else f"on the {shifts[0]} shift"
    for i, w in enumerate(wards):
        served = [cells[i][t].served for t in range(n_days)]
        need = [_rns_needed(w, p) for p in served]
        cap_beds = w.beds + w.surge_beds
        cap_rn = w.rn_per_shift + max_ot
        full = [days[t] for t in range(n_days) if cap_beds > 0 and served[t] >= cap_beds]
        regular_full = [
            days[t]
            for t in range(n_days)
            if w.beds > 0 and w.surge_beds > 0 and w.beds <= served[t] < cap_beds
        ]
        rn_cap = [days[t] for t in range(n_days) if cap_rn > 0 and need[t] >= cap_rn]
        roster = [
            days[t]
            for t in range(n_days)
            if w.rn_per_shift > 0 and w.rn_per_shift <= need[t] < cap_rn
        ]
        if full:
            what = (
                f"{w.beds} beds + {w.surge_beds} surge beds"
                if w.surge_beds
                else f"{w.beds} beds, no surge beds"
            )
            sentence = (
                f"{w.ward_id} is at full physical capacity ({what}) {_days_text(full, n_days)}"
            )
            found.append((0, -len(full), i, sentence))
        if rn_cap:
            extra = f"incl. {max_ot} overtime" if max_ot else "no overtime allowed"
            sentence = (
                f"{w.ward_id} needs all {cap_rn} RNs available ({extra}) {on_every} "
                f"{_days_text(rn_cap, n_days)}"
            )
            found.append((1, -len(rn_cap), i, sentence))
        if regular_full:
            sentence = (
                f"{w.ward_id} uses all {w.beds} regular beds and opens surge beds "
                f"{_days_text(regular_full, n_days)}"
            )
            found.append((2, -len(regular_full), i, sentence))
        if roster:
            sentence = (
                f"{w.ward_id} uses all {w.rn_per_shift} rostered RNs {on_every} "
                f"{_days_text(roster, n_days)}"
            )
            found.append((3, -len(roster), i, sentence))
    found.sort()
    return [s for *_, s in found[:limit]]


def _reading(
    rows: list[PlanRow],
    wards: list[Ward],
    days: list[date],
    shifts: tuple[str, ...],
    objective: float,
    outcome: _Outcome,
    time_limit: float,
) -> tuple[str, list[Fact]]:
    unmet = sum(r.unmet for r in rows)
    surge = sum(r.surge_open for r in rows)
    moved = sum(r.transfers_out for r in rows)
    overtime = sum(sum(r.overtime.values()) for r in rows)
    cost = round(objective, 2)
    facts = [
        Fact(label="total plan cost", value=cost, unit="cost units"),
        Fact(label="total unmet patient-days", value=unmet, unit="patient-days"),
        Fact(label="surge bed-days opened, total", value=surge, unit="bed-days"),
        Fact(label="patient transfers, total", value=moved, unit="patient-days"),
        Fact(label="overtime RN shifts, total", value=overtime, unit="RN shifts"),
        Fact(label="wards planned", value=len(wards), unit="wards"),
        Fact(label="days planned", value=len(days), unit="days"),
    ]
    if outcome.status != "optimal" and outcome.gap is not None:
        facts.append(Fact(label="optimality gap", value=round(100 * outcome.gap, 2), unit="%"))
    for w in wards:
        mine = [r for r in rows if r.ward_id == w.ward_id]
        ward_unmet = sum(r.unmet for r in mine)
        if ward_unmet:
            facts.append(
                Fact(
                    label=f"unmet patient-days, {w.ward_id}", value=ward_unmet, unit="patient-days"
                )
            )
        peak_surge = max(r.surge_open for r in mine)
        if peak_surge:
            facts.append(
                Fact(
                    label=f"surge beds opened, {w.ward_id}, peak day", value=peak_surge, unit="beds"
                )
            )
        for s in shifts:
            facts.append(
                Fact(
                    label=f"RNs needed, {s} shift, {w.ward_id}, peak",
                    value=max(r.nurses[s] for r in mine),
                    unit="RNs",
                )
            )
    span = f"{days[0].isoformat()} to {days[-1].isoformat()}"
    scope = f"{_count(len(wards), 'ward')} over {_count(len(days), 'day')}"
    if outcome.status == "optimal":
        head = f"Optimal plan ({outcome.solver}) for {scope}"
    elif outcome.status == "time_limit":
        gap = "unknown gap" if outcome.gap is None else f"gap {100 * outcome.gap:.2f}%"
        head = (
            f"Best plan found by {outcome.solver} before the {_num(time_limit)} s time limit "
            f"({gap}) for {scope}"
        )
    else:
        head = f"Plan ({outcome.solver}, status {outcome.status}) for {scope}"
    summary = (
        f"{head} ({span}): {unmet} unmet patient-days, {surge} surge bed-days, "
        f"{moved} patient transfers and {overtime} overtime RN shifts, total cost {_num(cost)}."
    )
    return summary, facts


# --- infeasibility --------------------------------------------------------------------------


def _explain_infeasible(
    wards: list[Ward],
    dem: list[list[int]],
    compat: list[list[int]],
    days: list[date],
    short: list[int],
    shifts: tuple[str, ...],
    costs: PlanCosts,
    max_ot: int,
    solver: str,
    time_limit: float,
) -> ToolError:
    """Re-solve the ``short`` days with unmet demand allowed but penalised above everything
    else, and word the shortfalls.

    The penalty makes the elastic model minimise unmet patient-days first, so the ward-days
    it leaves short are the smallest set of requirements that cannot be met.
    """
    per_patient = costs.transfer + costs.surge + costs.idle + len(shifts) * costs.overtime
    heavy = costs.model_copy(
        update={"shortage": costs.shortage + 10.0 * (1.0 + len(wards) * per_patient)}
    )
    models, outcomes = _solve_days(
        wards, dem, compat, shifts, heavy, max_ot, True, solver, time_limit, only=short
    )
    hint = (
        "Allow unmet demand (allow_unmet=True), or add surge beds, overtime "
        "(max_overtime_rn) or compatible wards."
    )
    if not all(o.has_solution for o in outcomes):
        return ToolError(
            "infeasible", "No plan gives every patient a staffed bed with these wards.", hint
        )
    problems: list[str] = []
    short_total = 0
    for t, model in zip(short, models, strict=True):
        day = days[t]
        cells = _cells([model], wards, [[row[t]] for row in dem])
        for i, w in enumerate(wards):
            c = cells[i][0]
            if c.unmet <= 0:
                continue
            short_total += c.unmet
            stay = c.served + c.unmet  # patients who could not be placed anywhere else
            cap_beds = w.beds + w.surge_beds
            cap_rn = w.rn_per_shift + max_ot
            if c.transfers_out:
                elsewhere = f"compatible wards have room for only {c.transfers_out} of them"
            elif compat[i]:
                elsewhere = "no compatible ward with room"
            else:
                elsewhere = "no compatible ward to send patients to"
            when = day.isoformat()
            if cap_beds <= cap_rn * w.nurse_ratio:
                problems.append(
                    f"{w.ward_id} needs {c.demand + c.transfers_in} beds on {when} but has "
                    f"{w.beds} beds + {w.surge_beds} surge beds and {elsewhere}"
                )
            else:
                verb = "needs" if len(shifts) == 1 else "each need"
                problems.append(
                    f"{_shifts_text(shifts)} on {w.ward_id} {verb} {_rns_needed(w, stay)} RNs "
                    f"on {when} ({stay} patients at 1 RN per {w.nurse_ratio}), but {cap_rn} are "
                    f"available incl. overtime ({w.rn_per_shift} rostered + {max_ot} overtime) "
                    f"and {elsewhere}"
                )
    if not problems:  # the strict model was infeasible yet the elastic one meets all demand
        return ToolError(
            "infeasible", "No plan gives every patient a staffed bed with these wards.", hint
        )
    shown = problems[:5]
    more = f"; and {len(problems) - 5} more ward-days are short" if len(problems) > 5 else ""
    message = (
        f"No plan gives every patient a staffed bed ({short_total} patient-days cannot be "
        f"placed): " + "; ".join(shown) + more + "."
    )
    return ToolError("infeasible", message, hint)
