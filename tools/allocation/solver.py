"""Run CBC or HiGHS on a PuLP model and report the solver's own verdict and gap.

PuLP's ``LpStatus == "Optimal"`` is never trusted: PuLP says so also when a time limit
stopped the search with a merely feasible plan. CBC's verdict and bound are read from its
log; HiGHS's from its model status and ``mip_dual_bound``/``mip_gap``.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pulp

from tools.result import ToolError

GAP_REL = 1e-4  # relative MIP gap at which a plan counts as proven optimal


@dataclass
class Outcome:
    """What the solver said about one model."""

    status: str  # "optimal" (proven within the gap), "time_limit", "infeasible", ...
    solver: str
    seconds: float
    has_solution: bool
    objective: float | None = None
    bound: float | None = None  # best proven lower bound on the objective

    @property
    def gap(self) -> float | None:
        """Relative gap between the plan's cost and the proven bound (None: unknown)."""
        if self.objective is None or self.bound is None:
            return None
        return relative_gap(self.objective, self.bound)


def relative_gap(objective: float, bound: float) -> float:
    """``(objective - bound) / |objective|``, 0 when the bound meets the objective."""
    diff = max(0.0, objective - bound)
    if diff <= 1e-9:
        return 0.0
    return diff / max(abs(objective), 1e-9)


def solve(
    prob: pulp.LpProblem, solver: str, time_limit: float, gap_rel: float = GAP_REL
) -> Outcome:
    """Solve ``prob`` in place (variables get their values) and return the verdict.

    A constant term of the objective is taken out before the solver sees it (HiGHS would
    drop it from its bound) and added back to the objective and the bound.
    """
    if solver not in ("cbc", "highs"):
        raise ValueError(f"unknown solver {solver!r}")
    offset = float(prob.objective.constant or 0.0)
    prob.objective.constant = 0.0
    try:
        if solver == "cbc":
            out = _solve_cbc(prob, time_limit, gap_rel)
        else:
            out = _solve_highs(prob, time_limit, gap_rel)
    finally:
        prob.objective.constant = offset
    if out.objective is not None:
        out.objective += offset
    if out.bound is not None:
        out.bound += offset
    return out


def _solve_cbc(prob: pulp.LpProblem, time_limit: float, gap_rel: float) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="wardwise-cbc-") as tmp:
        log_path = Path(tmp) / "cbc.log"
        with warnings.catch_warnings():
            # PuLP >= 3.3 deprecates its bundled CBC in favour of a separately installed one.
            warnings.filterwarnings("ignore", "PULP_CBC_CMD is deprecated", DeprecationWarning)
            cmd = pulp.PULP_CBC_CMD(
                msg=False,
                timeLimit=max(time_limit, 0.01),
                gapRel=gap_rel,
                logPath=str(log_path),
                # no `threads`: CBC's own default is serial. Passing threads=1 switches on its
                # parallel code with one thread, which was 8x slower on small models here and
                # stalled about 10 s now and then on a loaded CPU.
            )
        t0 = time.perf_counter()
        prob.solve(cmd)
        seconds = time.perf_counter() - t0
        log = log_path.read_text(errors="replace") if log_path.exists() else ""
    has_solution = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    status, bound = read_cbc_log(log)
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
        bound = objective  # solved at the root or in preprocessing: no bound printed
    return Outcome(status, "cbc", seconds, has_solution, objective=objective, bound=bound)


def read_cbc_log(log: str) -> tuple[str | None, float | None]:
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


_HIGHS_STATUS = {
    "kOptimal": "optimal",
    "kTimeLimit": "time_limit",
    "kInfeasible": "infeasible",
    "kUnboundedOrInfeasible": "infeasible",
    "kUnbounded": "unbounded",
    "kIterationLimit": "iteration_limit",
    "kSolutionLimit": "solution_limit",
    "kInterrupt": "interrupted",
}


_banner_done = False


def swallow_highs_banner() -> None:
    """HiGHS prints a copyright banner to the C-level stdout the first time a ``Highs``
    object is made in a process, whatever its options; it would corrupt ``--json`` output.
    Make that first object with file descriptor 1 pointed at /dev/null."""
    global _banner_done
    if _banner_done:
        return
    import highspy  # heavy: highspy (optional, imported once HiGHS is known available)

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _banner_done = True


def _solve_highs(prob: pulp.LpProblem, time_limit: float, gap_rel: float) -> Outcome:
    cmd = pulp.HiGHS(msg=False, timeLimit=max(time_limit, 0.01), gapRel=gap_rel)
    if not cmd.available():
        raise ToolError(
            "solver_unavailable", "the HiGHS solver (highspy) is not installed", hint="use cbc"
        )
    swallow_highs_banner()
    t0 = time.perf_counter()
    prob.solve(cmd)
    seconds = time.perf_counter() - t0
    highs = prob.solverModel
    model_status = highs.getModelStatus()
    info = highs.getInfo()
    status = _HIGHS_STATUS.get(model_status.name)
    if status is None:
        text = highs.modelStatusToString(model_status).lower()
        status = re.sub(r"\W+", "_", text).strip("_") or "unknown"
    has_solution = info.primal_solution_status == 2 and status != "infeasible"  # 2: feasible
    objective = float(pulp.value(prob.objective) or 0.0) if has_solution else None
    bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
    if bound is None and status == "optimal":
        bound = objective  # solved without branch and bound (e.g. in presolve)
    return Outcome(status, "highs", seconds, has_solution, objective=objective, bound=bound)
