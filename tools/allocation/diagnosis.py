"""Why no plan exists: the smallest set of requirements that cannot all be met.

When every patient must get a staffed bed and the MILP is infeasible, an elastic copy of
the model lets each bed, nurse-coverage and consecutive-days requirement be violated,
flags each violation with a binary and minimises the number of flags first, then the size
of the violations. The flagged requirements are worded as sentences such as "the night
shift on 3A needs 6 RNs on 2026-07-03 for 17 patients, but only 4 are available, overtime
included", and every number in them is also a fact of the error result.
"""

from __future__ import annotations

import pulp

from tools.allocation.instance import SKILL_NAMES, Instance
from tools.allocation.model import build
from tools.allocation.solution import read
from tools.allocation.solver import solve
from tools.allocation.verdicts import infeasible_verdicts
from tools.result import ErrorResult, Fact, ToolError

HINT = (
    "Allow unmet demand (allow_unmet=True), or add surge beds, overtime "
    "(max_overtime_rn), nurses or compatible wards."
)


class InfeasiblePlan(ToolError):
    """No plan meets every requirement; ``problems`` are the violated ones, in words."""

    def __init__(
        self,
        message: str,
        problems: list[str],
        facts: list[Fact],
        hint: str = HINT,
        words: list[dict] | None = None,
    ):
        super().__init__("infeasible", message, hint)
        self.problems = problems
        self.facts = facts
        self.words = words or []  # each problem's template variables, for the verdicts

    def extend_result(self, result: ErrorResult) -> None:
        """Add to the error result the facts its message's numbers come from and the
        verdicts that word each violated requirement."""
        result.facts = list(self.facts)
        if self.problems:
            result.verdicts = infeasible_verdicts(self.problems, self.words, self.facts)


def diagnose(inst: Instance, solver: str, time_limit: float, shown: int = 3) -> InfeasiblePlan:
    """Solve the elastic model of a strict, infeasible ``inst`` and word what it violates."""
    model = build(inst, elastic=True, name="diagnosis")
    out = solve(model.prob, solver, time_limit, gap_rel=1e-9)
    if not out.has_solution:
        return InfeasiblePlan(
            "No plan gives every patient a staffed bed with these wards, and the search for "
            f"the smallest set of violated requirements stopped ({out.status}).",
            [],
            [],
        )
    sol = read(model, out)
    found = []
    for (kind, key), var in model.slack.items():
        if (var.varValue or 0.0) > 1e-6:
            found.append(_word(inst, sol, model, kind, key))
    found.sort(key=lambda p: p[0])
    problems = [text for _, text, _, _ in found]
    facts = [Fact(label="requirements that cannot all be met", value=len(found), unit="")]
    for _, _, own, _ in found[:shown]:
        facts += own
    minimal = "" if out.status == "optimal" else " (the search for a smaller set was stopped)"
    more = f"; and {len(found) - shown} more" if len(found) > shown else ""
    what = (
        "this requirement cannot be met"
        if len(found) == 1
        else (f"these {len(found)} requirements cannot all be met")
    )
    message = (
        f"No plan gives every patient a staffed bed; {what}{minimal}: "
        + "; ".join(problems[:shown])
        + more
        + "."
    )
    return InfeasiblePlan(message, problems, facts, words=[w for *_, w in found[:shown]])


def _word(inst: Instance, sol, model, kind: str, key: tuple) -> tuple[tuple, str, list[Fact], dict]:
    """One violated requirement: its sort key, its sentence, its facts and its words (the
    template variables of the Chinese sentence)."""
    days = inst.days
    scen = f" ({inst.scenarios[key[0]]} scenario)" if len(inst.scenarios) > 1 else ""
    if kind == "beds":
        w, i, t = key
        ward, cell = inst.wards[i], sol.cells[w, i, t]
        when = days[t].isoformat()
        beds, surge = inst.beds[i][t], inst.surge[i][t]
        if cell.transfers_out:
            elsewhere = f"compatible wards have room for only {cell.transfers_out} of them"
            extra = [
                Fact(
                    label=f"patients compatible wards can take, {ward.ward_id}, {when}",
                    value=cell.transfers_out,
                    unit="patients",
                )
            ]
        elif inst.compat[i]:
            elsewhere, extra = "no compatible ward has room", []
        else:
            elsewhere, extra = "no compatible ward to send patients to", []
        need = cell.demand + cell.transfers_in
        text = (
            f"{ward.ward_id} needs {need} beds on {when}{scen} but has {beds} beds + "
            f"{surge} surge beds and {elsewhere}"
        )
        facts = [
            Fact(label=f"beds needed, {ward.ward_id}, {when}", value=need, unit="beds"),
            Fact(label=f"regular beds, {ward.ward_id}, {when}", value=beds, unit="beds"),
            Fact(label=f"surge beds, {ward.ward_id}, {when}", value=surge, unit="beds"),
            *extra,
        ]
        words = dict(
            kind="beds",
            ward=ward.ward_id,
            day=days[t],
            scenario=inst.scenarios[key[0]] if scen else "",
            need=need,
            beds=beds,
            surge=surge,
            room=cell.transfers_out if cell.transfers_out else (-1 if inst.compat[i] else -2),
        )
        return (0, t, i), text, facts, words
    if kind == "cover":
        w, k, i, t, s = key
        ward = inst.wards[i]
        when = days[t].isoformat()
        need = int(round(model.q[w, k, i, t].varValue or 0))
        served = sol.cells[w, i, t].served
        caps = inst.cap[k][i][t]
        avail = (caps[0] if s is None else caps[s]) + inst.max_ot[k][i]
        name = SKILL_NAMES[k] + "s"
        which = "every shift" if s is None else f"the {inst.shifts[s]} shift"
        shift = "every shift" if s is None else f"{inst.shifts[s]} shift"
        needed = [
            Fact(label=f"{name} needed, {shift}, {ward.ward_id}, {when}", value=need, unit=name),
            Fact(label=f"patients, {ward.ward_id}, {when}", value=served, unit="patients"),
        ]
        if need > avail:
            text = (
                f"{which} on {ward.ward_id} needs {need} {name} on {when}{scen} for {served} "
                f"patients, but only {avail} are available, overtime included"
            )
            facts = needed + [
                Fact(
                    label=f"{name} available incl. overtime, {shift}, {ward.ward_id}, {when}",
                    value=avail,
                    unit=name,
                )
            ]
        else:  # enough on the roster, but the pool's consecutive-days rule leaves too few
            M, head = inst.max_consecutive, inst.headcount[k][i]
            staffed = int(round(pulp.value(model.roster[k, i, t]) or 0))
            text = (
                f"{which} on {ward.ward_id} needs {need} {name} on {when}{scen} for {served} "
                f"patients, but with nobody working more than {M} days in a row its pool of "
                f"{head} {name} can staff only {staffed} shifts that day"
            )
            facts = needed + [
                Fact(label=f"{name} in the pool, {ward.ward_id}", value=head, unit=name),
                Fact(
                    label=f"{name} shifts the pool can staff, {ward.ward_id}, {when}",
                    value=staffed,
                    unit="shifts",
                ),
                Fact(label="most days in a row one nurse may work", value=M, unit="days"),
            ]
        words = dict(
            kind="cover" if need > avail else "pool",
            ward=ward.ward_id,
            day=days[t],
            scenario=inst.scenarios[key[0]] if scen else "",
            shift=None if s is None else inst.shifts[s],
            skill=k,
            need=need,
            served=served,
            available=avail,
            days_in_row=inst.max_consecutive,
            pool=inst.headcount[k][i],
            staffed=int(round(pulp.value(model.roster[k, i, t]) or 0)) if need <= avail else 0,
        )
        return (1, t, i), text, facts, words
    # a consecutive-days window of one pool class
    k, i, c, t0 = key
    ward = inst.wards[i]
    M = inst.max_consecutive
    row = next(r for r in model.windows if r[:4] == (k, i, c, t0))
    cover = row[5]
    shifts_needed = int(round(pulp.value(row[6]) or 0))
    name = SKILL_NAMES[k]
    span = f"from {days[t0].isoformat()} to {days[t0 + M].isoformat()}"
    text = (
        f"{span} {ward.ward_id} needs {shifts_needed} {name} shifts from its pool, but with nobody "
        f"working more than {M} days in a row the pool can cover only {cover}"
    )
    facts = [
        Fact(
            label=f"{name} shifts needed, {ward.ward_id}, {span}",
            value=shifts_needed,
            unit="shifts",
        ),
        Fact(label=f"{name} shifts the pool can cover, {ward.ward_id}, {span}", value=cover),
        Fact(label="most days in a row one nurse may work", value=M, unit="days"),
    ]
    words = dict(
        kind="window",
        ward=ward.ward_id,
        first=days[t0],
        last=days[t0 + M],
        skill=k,
        need=shifts_needed,
        limit=cover,
        days_in_row=M,
    )
    return (2, t0, i), text, facts, words
