"""What binds in a solved plan and what one more bed or nurse is worth, in sentences.

Binding constraints are read from the whole-number plan (a ward full with patients still
turned away, a shift with every RN on duty, the consecutive-days limit of a ward's pool).
The marginal value of one more regular bed (every day) or one more RN (every shift) on a
ward is found by re-solving the plan with it (:func:`tools.allocation.solve.marginal_values`:
exact, unlike LP duals of a MILP); this module words it.

Every number in a sentence is also the value of one of the plan's facts, so an answer
that quotes a sentence passes the grounding check.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel

from tools.allocation.solution import Solution
from tools.numbers import plain
from tools.result import Fact


class Marginal(BaseModel):
    """What one more unit of a resource on one ward would save, found by re-solving."""

    resource: str  # "bed" (one more regular bed every day) or "rn" (one more RN every shift)
    ward_id: str
    saving: float  # plan cost without it minus plan cost with it (>= 0)


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


class Limit(BaseModel):
    """One limit the plan runs into, with what its sentence says (for every language)."""

    kind: str  # "full", "no_rn", "window", "overtime" or "surge"
    ward_id: str
    days: list[date]  # the days it binds (window: its first and last day)
    every_day: bool = False  # the days are every day of a plan of several days
    unmet: float | int | None = None  # the ward's unmet patient-days fact, when stated
    total_unmet: float | int | None = None  # the plan's, when stated beside the ward's
    amount: float | int | None = None  # overtime RN shifts or surge bed-days fact, if any
    text: str  # the English sentence, every number a fact's value


def limits(sol: Solution, facts: list[Fact], limit: int = 6) -> list[Limit]:
    """The limits the plan runs into, most costly first (see :func:`binding`)."""
    inst = sol.inst
    w = len(inst.scenarios) - 1  # the highest scenario of a robust plan
    by_label = {f.label: f.value for f in facts}
    total_unmet = by_label.get("total unmet patient-days")
    days, T, S = inst.days, inst.n_days, len(inst.shifts)
    found: list[tuple[int, int, Limit]] = []
    for i, ward in enumerate(inst.wards):
        wid = ward.ward_id

        def add(rank: int, kind: str, hit: list[date], text: str, wid=wid, **numbers) -> None:
            every = len(hit) == T and T > 1 and kind != "window"
            item = Limit(kind=kind, ward_id=wid, days=hit, every_day=every, text=text, **numbers)
            found.append((rank, 0 if kind == "window" else -len(hit), item))

        cells = [sol.cells[w, i, t] for t in range(T)]
        rn: list[Any] = [sol.staff.get((w, "rn", i, t)) for t in range(T)]
        refused = [c.unmet > 0 or c.transfers_out > 0 for c in cells]
        unmet_fact = by_label.get(f"unmet patient-days, {wid}")
        share, stated = "", {}
        if unmet_fact and total_unmet:
            share = f"; it leaves {unmet_fact} of the {total_unmet} unmet patient-days"
            stated = {"unmet": unmet_fact, "total_unmet": total_unmet}
        elif unmet_fact:
            share = f"; it leaves {unmet_fact} patient-days unmet"
            stated = {"unmet": unmet_fact}
        full = [
            days[t]
            for t in range(T)
            if refused[t]
            and inst.beds[i][t] + inst.surge[i][t] > 0
            and cells[t].served >= inst.beds[i][t] + inst.surge[i][t]
        ]
        if full:
            text = f"{wid} has every bed full, surge beds included, {days_text(full, T)}{share}."
            add(0, "full", full, text, **stated)
        no_rn = [
            days[t]
            for t in range(T)
            if refused[t]
            and rn[t] is not None
            and days[t] not in full
            and any(rn[t].need >= inst.cap["rn"][i][t][s] + inst.max_ot["rn"][i] for s in range(S))
        ]
        if no_rn:
            text = (
                f"{wid} has every available RN on duty, overtime included, "
                f"{days_text(no_rn, T)}{share if not full else ''}."
            )
            add(1, "no_rn", no_rn, text, **({} if full else stated))
        for k, i2, _c, t0, t1, lim, _ in _windows(sol):
            if k != "rn" or i2 != i:
                continue
            used = sum(sol.staff[w, "rn", i, t].pool_used for t in range(t0, t1 + 1))
            ot = sum(sum(sol.staff[w, "rn", i, t].overtime) for t in range(t0, t1 + 1))
            if used >= lim and ot > 0:
                text = (
                    f"The limit on consecutive working days binds for {wid}'s RNs "
                    f"from {days[t0].isoformat()} to {days[t1].isoformat()}: the pool cannot "
                    "cover more shifts, so overtime or bank RNs fill them."
                )
                add(2, "window", [days[t0], days[t1]], text)
                break
        ot_days = [days[t] for t in range(T) if rn[t] is not None and sum(rn[t].overtime) > 0]
        if ot_days:
            ot_fact = by_label.get(f"overtime RN shifts, {wid}")
            extra = f" ({ot_fact} overtime RN shifts)" if ot_fact else ""
            text = (
                f"{wid} needs more RNs than are rostered "
                f"{days_text(ot_days, T)}; overtime or bank RNs cover the rest{extra}."
            )
            add(3, "overtime", ot_days, text, amount=ot_fact or None)
        surge_days = [days[t] for t in range(T) if cells[t].surge_open > 0 and days[t] not in full]
        if surge_days:
            s_fact = by_label.get(f"surge bed-days, {wid}")
            extra = f" ({s_fact} surge bed-days)" if s_fact else ""
            text = (
                f"{wid} fills its regular beds and opens surge beds "
                f"{days_text(surge_days, T)}{extra}."
            )
            add(4, "surge", surge_days, text, amount=s_fact or None)
    found.sort(key=lambda x: (x[0], x[1]))
    return [item for *_, item in found[:limit]]


def binding(sol: Solution, facts: list[Fact], limit: int = 6) -> list[str]:
    """The limits the plan runs into, most costly first, as quotable sentences."""
    return [item.text for item in limits(sol, facts, limit)]


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


def marginal_label(m: Marginal) -> str:
    """The label of the fact that holds ``m.saving``."""
    if m.resource == "bed":
        return f"cost saved by one more bed on {m.ward_id}, every day"
    return f"cost saved by one more RN on every shift of {m.ward_id}"


def marginal_sentence(m: Marginal) -> str:
    """``m`` as a quotable sentence; its number is the value of the fact
    :func:`marginal_label` names."""
    if m.resource == "bed":
        what = f"One more bed on {m.ward_id}, every day,"
    else:
        what = f"One more RN on every shift of {m.ward_id}"
    if m.saving <= 1e-9:
        return f"{what} would not lower the plan cost."
    return f"{what} would cut the plan cost by {plain(m.saving)}."
