"""What binds in a solved plan and what one more bed or nurse is worth, in sentences.

Binding constraints are read from the whole-number plan (a ward full with patients still
turned away, a shift with every RN on duty, the consecutive-days limit of a ward's pool).
The marginal value of one more regular bed (every day) or one more RN (every shift) on a
ward is found by re-solving the plan with it: exact, unlike LP duals of a MILP.

Every number in a sentence is also the value of one of the plan's facts, so an answer
that quotes a sentence passes the grounding check.
"""

from __future__ import annotations

import math
import time
from datetime import date

from tools.allocation.solution import Solution
from tools.result import Fact

MARGINAL_MAX_CELLS = 200  # ward-days up to which marginal values are found by re-solving


def _num(x: float) -> str:
    x = round(float(x), 2)
    return str(int(x)) if x.is_integer() else f"{x:.2f}".rstrip("0").rstrip(".")


def days_text(hit: list[date], n_days: int) -> str:
    """Dates as words without counts (a count would be an unlabelled number)."""
    if len(hit) == n_days and n_days > 1:
        return "on every day of the plan"
    iso = [d.isoformat() for d in hit]
    if len(iso) == 1:
        return f"on {iso[0]}"
    if len(iso) <= 3:
        return "on " + ", ".join(iso[:-1]) + f" and {iso[-1]}"
    return "on " + ", ".join(iso[:3]) + " and other days"


def binding(sol: Solution, facts: list[Fact], limit: int = 6) -> list[str]:
    """The limits the plan runs into, most costly first, as quotable sentences."""
    inst = sol.inst
    w = len(inst.scenarios) - 1  # the highest scenario of a robust plan
    by_label = {f.label: f.value for f in facts}
    total_unmet = by_label.get("total unmet patient-days")
    days, T, S = inst.days, inst.n_days, len(inst.shifts)
    found: list[tuple[int, int, str]] = []
    for i, ward in enumerate(inst.wards):
        wid = ward.ward_id
        cells = [sol.cells[w, i, t] for t in range(T)]
        rn = [sol.staff.get((w, "rn", i, t)) for t in range(T)]
        refused = [c.unmet > 0 or c.transfers_out > 0 for c in cells]
        unmet_fact = by_label.get(f"unmet patient-days, {wid}")
        share = ""
        if unmet_fact and total_unmet:
            share = f"; it leaves {unmet_fact} of the {total_unmet} unmet patient-days"
        elif unmet_fact:
            share = f"; it leaves {unmet_fact} patient-days unmet"
        full = [
            days[t]
            for t in range(T)
            if refused[t]
            and inst.beds[i][t] + inst.surge[i][t] > 0
            and cells[t].served >= inst.beds[i][t] + inst.surge[i][t]
        ]
        if full:
            found.append(
                (
                    0,
                    -len(full),
                    f"{wid} has every bed full, surge beds included, {days_text(full, T)}{share}.",
                )
            )
        no_rn = [
            days[t]
            for t in range(T)
            if refused[t]
            and rn[t] is not None
            and days[t] not in full
            and any(rn[t].need >= inst.cap["rn"][i][t][s] + inst.max_ot["rn"][i] for s in range(S))
        ]
        if no_rn:
            found.append(
                (
                    1,
                    -len(no_rn),
                    f"{wid} has every available RN on duty, overtime included, "
                    f"{days_text(no_rn, T)}{share if not full else ''}.",
                )
            )
        for k, i2, _c, t0, t1, lim, _ in _windows(sol):
            if k != "rn" or i2 != i:
                continue
            used = sum(sol.staff[w, "rn", i, t].pool_used for t in range(t0, t1 + 1))
            ot = sum(sum(sol.staff[w, "rn", i, t].overtime) for t in range(t0, t1 + 1))
            if used >= lim and ot > 0:
                found.append(
                    (
                        2,
                        0,
                        f"The limit on consecutive working days binds for {wid}'s RNs "
                        f"from {days[t0].isoformat()} to {days[t1].isoformat()}: the pool cannot "
                        "cover more shifts, so overtime or bank RNs fill them.",
                    )
                )
                break
        ot_days = [days[t] for t in range(T) if rn[t] is not None and sum(rn[t].overtime) > 0]
        if ot_days:
            ot_fact = by_label.get(f"overtime RN shifts, {wid}")
            extra = f" ({ot_fact} overtime RN shifts)" if ot_fact else ""
            found.append(
                (
                    3,
                    -len(ot_days),
                    f"{wid} needs more RNs than are rostered "
                    f"{days_text(ot_days, T)}; overtime or bank RNs cover the rest{extra}.",
                )
            )
        surge_days = [days[t] for t in range(T) if cells[t].surge_open > 0 and days[t] not in full]
        if surge_days:
            s_fact = by_label.get(f"surge bed-days, {wid}")
            extra = f" ({s_fact} surge bed-days)" if s_fact else ""
            found.append(
                (
                    4,
                    -len(surge_days),
                    f"{wid} fills its regular beds and opens surge beds "
                    f"{days_text(surge_days, T)}{extra}.",
                )
            )
    found.sort(key=lambda x: (x[0], x[1]))
    return [s for *_, s in found[:limit]]


def _windows(sol: Solution):
    """The max-consecutive-days windows of the regular pool classes, as the model has them."""
    inst = sol.inst
    M, T = inst.max_consecutive, inst.n_days
    if T <= M:
        return []
    out = []
    for k in inst.skills():
        for i in range(len(inst.wards)):
            if inst.ratio[k][i] is None or inst.absences[k][i]:
                continue
            head = inst.headcount[k][i]
            for t0 in range(T - M):
                out.append((k, i, 0, t0, t0 + M, M * head, None))
    return out


def marginal_values(sol: Solution, time_limit: float, gap_rel: float) -> list:
    """Re-solve with one more bed on the ward that most needs one, and one more RN on every
    shift of the ward that most needs one; report what each saves. Skipped when the plan is
    not proven optimal or has more than ``MARGINAL_MAX_CELLS`` ward-days (each re-solve
    costs as much as the plan), and within half the time limit."""
    from tools.allocation.plan import Marginal, solve_solution

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


def marginal_sentence(m) -> str:
    if m.resource == "bed":
        what = f"One more bed on {m.ward_id}, every day,"
    else:
        what = f"One more RN on every shift of {m.ward_id}"
    if m.saving <= 1e-9:
        return f"{what} would not lower the plan cost."
    return f"{what} would cut the plan cost by {_num(m.saving)}."
