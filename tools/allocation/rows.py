"""A solved plan as rows: one per ward and day (and scenario), and their totals."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from tools.allocation.solution import Solution


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


def rows_of(sol: Solution) -> list[PlanRow]:
    """One row per scenario, day and ward of a solved plan."""
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


def totals(rows: list[PlanRow]) -> dict[str, int]:
    """Unmet patient-days, surge bed-days, transfers, overtime and empty bed-days of ``rows``."""
    return {
        "unmet": sum(r.unmet for r in rows),
        "surge": sum(r.surge_open for r in rows),
        "transfers": sum(r.transfers_out for r in rows),
        "overtime": sum(sum(r.overtime.values()) for r in rows),
        "assistant_overtime": sum(sum(r.assistant_overtime.values()) for r in rows),
        "empty": sum(r.empty_beds for r in rows),
    }
