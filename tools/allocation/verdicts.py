"""A plan's verdicts: is every patient covered, what the plan does beyond each ward's own
beds and rostered nurses, what limits it, and (for a what-if) what the change changes.

Each is rendered in English and Chinese from the templates of :mod:`tools.verdicts`; every
number in a sentence is the value of one of the verdict's facts.
"""

from __future__ import annotations

from datetime import date

from tools.allocation.explain import Limit
from tools.allocation.rows import PlanRow, totals
from tools.result import Fact, Verdict
from tools.verdicts import verdicts

MAX_WARDS = 5  # wards a "what changes" sentence names at most (the most affected first)
QUANTITIES = ("unmet", "surge", "transfers", "overtime")
LABELS = {
    "unmet": ("unmet patient-days", "patient-days"),
    "surge": ("surge bed-days", "bed-days"),
    "transfers": ("patient transfers", "patient-days"),
    "overtime": ("overtime RN shifts", "RN shifts"),
}


def _by_ward(rows: list[PlanRow], wards: list[str]) -> dict[str, dict[str, int]]:
    out = {}
    for wid in wards:
        t = totals([r for r in rows if r.ward_id == wid])
        out[wid] = {k: t[k] for k in QUANTITIES}
    return out


def plan_verdicts(
    rows: list[PlanRow], wards: list[str], days: list[date], found: list[Limit]
) -> list[Verdict]:
    """``plan.covered``, ``plan.changes`` and ``plan.binding`` of a plan's rows (a robust
    plan: the rows of its highest scenario)."""
    first, last = days[0], days[-1]
    t = totals(rows)
    per = _by_ward(rows, wards)
    out: list[Verdict] = []

    # covered or not
    facts = [
        Fact(label="wards planned", value=len(wards), unit="wards"),
        Fact(label="total unmet patient-days", value=t["unmet"], unit="patient-days"),
    ]
    worst = min(wards, key=lambda w: (-per[w]["unmet"], wards.index(w)))
    if t["unmet"]:
        facts.append(
            Fact(
                label=f"unmet patient-days, {worst}",
                value=per[worst]["unmet"],
                unit="patient-days",
            )
        )
    out += verdicts(
        "plan.covered",
        "yes_no",
        facts,
        polarity=t["unmet"] == 0,
        wards=len(wards),
        unmet=t["unmet"],
        worst=worst,
        worst_unmet=per[worst]["unmet"],
        first=first,
        last=last,
    )

    # what the plan does beyond each ward's own beds and nurses
    busy = [w for w in wards if any(per[w].values())]
    busy.sort(key=lambda w: tuple(-per[w][k] for k in QUANTITIES) + (wards.index(w),))
    listed = [{"ward": w, **per[w]} for w in busy[:MAX_WARDS]]
    facts = [
        Fact(label=f"{'patient transfers out' if k == 'transfers' else LABELS[k][0]}, {w['ward']}",
             value=w[k], unit=LABELS[k][1])
        for w in listed
        for k in QUANTITIES
        if w[k]
    ]  # fmt: skip
    out += verdicts("plan.changes", "changes", facts, wards=listed, more=len(busy) > len(listed))

    # what limits it
    facts = []
    for item in found[:3]:
        if item.unmet is not None:
            facts.append(
                Fact(
                    label=f"unmet patient-days, {item.ward_id}",
                    value=item.unmet,
                    unit="patient-days",
                )
            )
        if item.total_unmet is not None:
            facts.append(
                Fact(label="total unmet patient-days", value=item.total_unmet, unit="patient-days")
            )
        if item.amount is not None:
            label, unit = LABELS["overtime" if item.kind == "overtime" else "surge"]
            facts.append(Fact(label=f"{label}, {item.ward_id}", value=item.amount, unit=unit))
    out += verdicts("plan.binding", "limits", _unique(facts), limits=found[:3])
    return out


def whatif_verdicts(
    notes: list[str],
    changes: list[dict],
    before: list[PlanRow],
    after: list[PlanRow],
    changed_wards: list[str],
) -> list[Verdict]:
    """``whatif.changes``: the change in words and what it changes against the base plan.

    ``changes``: one dict per parsed change (``kind``, ``ward``, ``amount``, ``skill``,
    ``shift``, ``days``, ``every_day``), for the Chinese wording of the change.
    """
    a, b = totals(before), totals(after)
    moved = [k for k in QUANTITIES if a[k] != b[k]]
    facts = []
    for k in moved:
        label, unit = LABELS[k]
        facts.append(Fact(label=f"{label} without the change", value=a[k], unit=unit))
        facts.append(Fact(label=f"{label} with the change", value=b[k], unit=unit))
    facts += [
        Fact(label=f"what-if: {note}", value=abs(c["amount"]))
        for note, c in zip(notes, changes, strict=True)
        if c["amount"]
    ]
    return verdicts(
        "whatif.changes",
        "changes",
        facts,
        notes=notes,
        changes=changes,
        moved=[{"key": k, "before": a[k], "after": b[k]} for k in moved],
        wards=changed_wards,
    )


def _unique(facts: list[Fact]) -> list[Fact]:
    seen, out = set(), []
    for f in facts:
        if f.label not in seen:
            seen.add(f.label)
            out.append(f)
    return out


def infeasible_verdicts(problems: list[str], words: list[dict], facts: list[Fact]) -> list[Verdict]:
    """``plan.infeasible`` (polarity False: no plan gives every patient a staffed bed) with
    the (at most three) requirements that cannot all be met; ``words`` are their template
    variables (see :func:`tools.allocation.diagnosis.diagnose`)."""
    return verdicts(
        "plan.infeasible",
        "infeasible",
        facts,
        polarity=False,
        n=int(facts[0].value) if facts else len(problems),
        problems=problems[: len(words)],
        words=words,
    )
