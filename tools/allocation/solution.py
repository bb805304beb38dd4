"""A solved model read back in whole numbers: patients, beds and nurses per ward and day.

The model's free quantities are normalised on the way out so that rows say what a bed
manager would do: surge beds are opened only when the regular beds are full, a shift is
staffed with exactly the nurses its ratio needs, the pool's nurses are spread evenly over
identical shifts and overtime covers the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tools.allocation.instance import SKILLS, Instance
from tools.allocation.model import Model
from tools.allocation.solver import Outcome


@dataclass
class Cell:
    """One ward on one day of one scenario."""

    demand: int
    unmet: int
    transfers_out: int
    transfers_in: int
    beds_open: int
    surge_open: int
    empty: int = 0

    @property
    def served(self) -> int:
        """Patients in a bed on the ward: demand, less unmet and sent out, plus received."""
        return self.demand - self.unmet - self.transfers_out + self.transfers_in


@dataclass
class Staff:
    """One skill on one ward-day of one scenario: nurses per shift and overtime among them."""

    need: int  # nurses each shift needs (ceil(served / ratio))
    roster: list[int]  # pool nurses rostered per shift (first stage)
    overtime: list[int]  # overtime or bank nurses per shift

    @property
    def pool_used(self) -> int:
        """Pool nurses actually needed over the day's shifts (rostered beyond need is idle)."""
        return sum(min(n, self.need) for n in self.roster)


@dataclass
class Solution:
    """A solved instance in whole numbers: cells, staff and moves by scenario, ward, day."""

    inst: Instance
    outcome: Outcome
    cells: dict = field(default_factory=dict)  # (w, i, t) -> Cell
    staff: dict = field(default_factory=dict)  # (w, k, i, t) -> Staff
    moves: dict = field(default_factory=dict)  # (w, i, j, t) -> patients, only > 0
    variables: int = 0
    constraints: int = 0
    method: str = "whole"  # "whole": one MILP; "days": one MILP per day (exact, see decompose)

    def cost_of(self, w: int) -> float:
        """Recourse cost of scenario ``w`` recomputed from the rows."""
        c = self.inst.costs
        total = 0.0
        for (sw, _i, _t), cell in self.cells.items():
            if sw != w:
                continue
            total += c.shortage * cell.unmet + c.transfer * cell.transfers_out
            if len(self.inst.scenarios) > 1:
                total += c.idle * cell.empty
        for (sw, k, _i, _t), st in self.staff.items():
            if sw == w:
                price = c.overtime if k == "rn" else c.overtime_assistant
                total += price * sum(st.overtime)
        return total

    def cost(self) -> float:
        """Plan cost recomputed from the rows (what the objective says, in whole numbers)."""
        first = self.inst.costs.surge * sum(
            cell.surge_open for (w, _, _), cell in self.cells.items() if w == 0
        )
        per = [self.cost_of(w) for w in range(len(self.inst.scenarios))]
        if len(per) > 1 and self.inst.robust == "worst":
            return first + max(per)
        return first + sum(wt * v for wt, v in zip(self.inst.weights, per, strict=True))


def _int(v) -> int:
    return int(round(v.varValue or 0.0)) if v is not None else 0


def read(model: Model, outcome: Outcome) -> Solution:
    """Whole-number plan from a solved model (its variables must hold a solution)."""
    inst = model.inst
    sol = Solution(
        inst,
        outcome,
        variables=model.prob.numVariables(),
        constraints=model.prob.numConstraints(),
    )
    W, n_wards, T, S = len(inst.scenarios), len(inst.wards), inst.n_days, len(inst.shifts)
    multi = W > 1
    for (w, i, j, t), v in model.x.items():
        n = _int(v)
        if n:
            sol.moves[w, i, j, t] = n
    for w in range(W):
        for i in range(n_wards):
            for t in range(T):
                out = sum(sol.moves.get((w, i, j, t), 0) for j in inst.compat[i])
                inn = sum(sol.moves.get((w, j, i, t), 0) for j in range(n_wards))
                d = inst.demand[w][i][t]
                u = _int(model.u[w, i, t])
                served = d - u - out + inn
                if multi:
                    surge = _int(model.g[i, t])
                    beds = _int(model.b[i, t])
                    empty = beds + surge - served
                else:
                    surge = max(0, served - inst.beds[i][t])
                    beds, empty = served - surge, 0
                sol.cells[w, i, t] = Cell(d, u, out, inn, beds, surge, empty)
    for k in SKILLS:
        for i in range(n_wards):
            r = inst.ratio[k][i]
            if r is None:
                continue
            for t in range(T):
                if (k, i, t, 0) in model.shift_n:
                    roster = [_int(model.shift_n[k, i, t, s]) for s in range(S)]
                else:
                    roster = _even(_int(model.roster[k, i, t]), S)
                for w in range(W):
                    served = sol.cells[w, i, t].served
                    need = math.ceil(served / r - 1e-9) if served > 0 else 0
                    ot = [max(0, need - n) for n in roster]
                    sol.staff[w, k, i, t] = Staff(need, roster, ot)
    return sol


def _even(total: int, parts: int) -> list[int]:
    base, extra = divmod(max(total, 0), parts)
    return [base + (1 if s < extra else 0) for s in range(parts)]
