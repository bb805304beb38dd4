"""What-if: change the instance in plain words, re-solve, and show the difference.

Accepted changes (case-insensitive; numbers as digits or words "one" to "twenty", "a"):

    close N beds on WARD [WHEN]                 regular beds out of use
    open N [more] beds on WARD [WHEN]           regular beds added
    open N surge beds on WARD [WHEN]            surge beds added
    no surge beds on WARD [WHEN]
    N RNs|nurses|assistants call in sick on WARD [SHIFT shift] [WHEN]
                                                the shift loses N available nurses (the day's
                                                first shift unless one is named) and N pool
                                                nurses are off those days
    N more RNs|nurses|assistants on WARD [SHIFT shift] [WHEN]
                                                N more available on the shift (every shift
                                                unless one is named); the pool grows to match
    demand +P% | -P% on WARD [WHEN]             also "demand up/down P% on WARD"
    N more patients on WARD [WHEN]              also "N fewer patients"
    no transfers [from WARD]

    WHEN:  on DAY | from DAY to DAY ; without it, every day of the plan
    DAY:   a weekday ("Friday", "fri": its first date in the plan), an ISO date
           (2026-07-03) or "day N" (1 = the first day of the plan)
    WARD:  a ward id or its English or Chinese name ("on ward 5B" also works)

Several changes go in one string separated by ";". A what-if re-solves the changed plan
and, among its optimal plans, takes the one closest to the base plan, so the difference
shows what the change forces and nothing that merely ties.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from knowledge.hospital import Ward
from tools.allocation.instance import (
    DEFAULT_SHIFTS,
    DEFAULT_SOLVER,
    SKILL_NAMES,
    Instance,
    PlanCosts,
    StaffRules,
    build_instance,
    check_solver,
)
from tools.allocation.rows import PlanRow, totals
from tools.allocation.solve import PlanResult, result_of, solve_solution
from tools.allocation.solver import GAP_REL
from tools.allocation.verdicts import whatif_verdicts
from tools.numbers import plain, value
from tools.result import Fact, ToolError

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WORDS = {
    w: n
    for n, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
WORDS.update({"a": 1, "an": 1})
MAX_AMOUNT = 1000  # beds, nurses, patients or percent in one change; more is a typo
GRAMMAR_HINT = (
    'e.g. "close 4 beds on 5B on Friday", "2 RNs call in sick on ICU night shift on '
    'day 3", "demand +20% on CARD", "3 more RNs on SURG"; separate several with ";"'
)


class Change(BaseModel):
    """One parsed what-if change."""

    kind: str  # close_beds, open_beds, open_surge, no_surge, sick, more_staff,
    # demand_pct, demand_add, no_transfers
    ward_id: str | None = None
    days: list[int] = Field(default_factory=list)  # day indices; all days when not named
    shift: str | None = None
    skill: str | None = None
    amount: float = 0
    text: str = ""  # the change in words, with dates


class RowChange(BaseModel):
    """One field of one ward-day that differs between the base and the changed plan."""

    date: date
    ward_id: str
    field: str
    before: int
    after: int


class WhatIfResult(PlanResult):
    """The changed plan (all of PlanResult) with the base plan's totals and the diff."""

    base_objective: float
    base_summary: str
    base_status: str
    diff: list[RowChange] = Field(default_factory=list)


# --- parsing -------------------------------------------------------------------------------

_NUM = r"(\d+|" + "|".join(sorted(WORDS, key=len, reverse=True)) + r")"


def _number(token: str) -> int:
    token = token.lower()
    n = int(token) if token.isdigit() else WORDS[token]
    if n > MAX_AMOUNT:
        raise ToolError("bad_what_if", f"{n} is too many for one what-if ({MAX_AMOUNT} at most)")
    return n


def parse_what_if(text: str, inst: Instance) -> list[Change]:
    """Parse ``text`` (changes separated by ";") against the wards, days and shifts of
    ``inst``.

    Raises:
        ToolError: ``bad_what_if`` (with the grammar in the hint) or ``unknown_ward``.
    """
    parts = [p.strip() for p in re.split(r";|\n", text) if p.strip()]
    if not parts:
        raise ToolError("bad_what_if", "the what-if is empty", hint=GRAMMAR_HINT)
    return [_parse_one(p, inst) for p in parts]


def _parse_one(text: str, inst: Instance) -> Change:
    low = " " + re.sub(r"\s+", " ", text.strip().lower()) + " "
    shift = None
    names = "|".join(re.escape(s.lower()) for s in inst.shifts)
    m = re.search(rf"\b(?:on |in )?(?:the )?({names}) shifts?\b", low)
    if m:
        shift = next(s for s in inst.shifts if s.lower() == m.group(1))
        low = low[: m.start()] + " " + low[m.end() :]
    days, low = _parse_when(low, inst)
    ward = _find_ward(low, inst.wards)

    def need_ward() -> str:
        if ward is None:
            known = ", ".join(w.ward_id for w in inst.wards)
            raise ToolError(
                "unknown_ward",
                f"the what-if {text!r} names no known ward",
                hint=f"name one of: {known}",
            )
        return ward.ward_id

    def change(kind: str, **kw) -> Change:
        return Change(kind=kind, days=days, text=text.strip(), **kw)

    if m := re.search(rf"\bclose {_NUM} (?:regular )?beds?\b", low):
        return change("close_beds", ward_id=need_ward(), amount=_number(m.group(1)))
    if m := re.search(rf"\b(?:open|add) {_NUM} (?:more |extra )?surge beds?\b", low):
        return change("open_surge", ward_id=need_ward(), amount=_number(m.group(1)))
    if m := re.search(rf"\b(?:open|add) {_NUM} (?:more |extra |regular )?beds?\b", low):
        return change("open_beds", ward_id=need_ward(), amount=_number(m.group(1)))
    if re.search(r"\bno surge\b", low):
        return change("no_surge", ward_id=need_ward())
    staff = r"(rns?|registered nurses?|nurses?|assistants?|nursing assistants?|hcas?)"
    if m := re.search(
        rf"\b{_NUM} {staff} (?:calls? in sick|(?:are |is )?(?:off )?sick|(?:are |is )?absent"
        rf"|(?:are |is )?off)\b",
        low,
    ):
        return change(
            "sick",
            ward_id=need_ward(),
            amount=_number(m.group(1)),
            skill=_skill(m.group(2)),
            shift=shift or inst.shifts[0],
        )
    if m := re.search(rf"\b{_NUM} (?:more|extra|additional|agency) {staff}\b", low):
        return change(
            "more_staff",
            ward_id=need_ward(),
            amount=_number(m.group(1)),
            skill=_skill(m.group(2)),
            shift=shift,
        )
    if m := re.search(r"\bdemand (?:(up|down) |([+-]) ?)(\d+(?:\.\d+)?) ?%", low) or re.search(
        r"([+-])(\d+(?:\.\d+)?) ?% demand\b", low
    ):
        groups = [g for g in m.groups() if g]
        sign = -1 if groups[0] in ("down", "-") else 1
        pct = float(groups[-1])
        if pct > MAX_AMOUNT:
            raise ToolError("bad_what_if", f"demand cannot change by more than {MAX_AMOUNT}%")
        return change("demand_pct", ward_id=need_ward(), amount=sign * pct)
    if m := re.search(rf"\b{_NUM} (more|extra|fewer|less) patients?\b", low):
        sign = -1 if m.group(2) in ("fewer", "less") else 1
        return change("demand_add", ward_id=need_ward(), amount=sign * _number(m.group(1)))
    if re.search(r"\bno transfers?\b", low):
        return change("no_transfers", ward_id=ward.ward_id if ward else None)
    raise ToolError("bad_what_if", f"cannot read the what-if {text!r}", hint=GRAMMAR_HINT)


def _skill(token: str) -> str:
    return "assistant" if token.startswith(("assistant", "nursing assistant", "hca")) else "rn"


def _parse_when(low: str, inst: Instance) -> tuple[list[int], str]:
    day = (
        r"(\d{4}-\d{2}-\d{2}|day \d+|"
        + "|".join(WEEKDAYS)
        + r"|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)"
    )
    m = re.search(rf"\bfrom {day} (?:to|until|through|-) {day}\b", low)
    if m:
        a, b = _day_index(m.group(1), inst), _day_index(m.group(2), inst)
        if b < a:
            raise ToolError("bad_what_if", f"{m.group(0).strip()!r} ends before it starts")
        return list(range(a, b + 1)), low[: m.start()] + " " + low[m.end() :]
    m = re.search(rf"\b(?:on|for) {day}\b", low)
    if m:
        return [_day_index(m.group(1), inst)], low[: m.start()] + " " + low[m.end() :]
    m = re.search(r"\b(\d{4}-\d{2}-\d{2})\b", low)
    if m:
        return [_day_index(m.group(1), inst)], low[: m.start()] + " " + low[m.end() :]
    return list(range(inst.n_days)), low


def _day_index(token: str, inst: Instance) -> int:
    days = inst.days
    last = days[-1].isoformat()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", token):
        try:
            d = date.fromisoformat(token)
        except ValueError:
            raise ToolError("bad_what_if", f"{token} is not a date", hint=GRAMMAR_HINT) from None
        if not days[0] <= d <= days[-1]:
            raise ToolError(
                "bad_what_if",
                f"{token} is outside the plan ({days[0].isoformat()} to {last})",
            )
        return (d - days[0]).days
    if token.startswith("day "):
        n = int(token[4:])
        if not 1 <= n <= inst.n_days:
            raise ToolError("bad_what_if", f"the plan has days 1 to {inst.n_days}, not {n}")
        return n - 1
    wd = next(i for i, name in enumerate(WEEKDAYS) if name.startswith(token[:3]))
    for t, d in enumerate(days):
        if d.weekday() == wd:
            return t
    raise ToolError(
        "bad_what_if", f"no {WEEKDAYS[wd].title()} in the plan ({days[0].isoformat()} to {last})"
    )


def _find_ward(low: str, wards: list[Ward]) -> Ward | None:
    tokens = re.findall(r"\b(?:on|at|in|for|from|of|to) (?:ward )?([\w-]+)", low)
    tokens += re.findall(r"\bward ([\w-]+)", low)
    for tok in tokens:
        for w in wards:
            if tok == w.ward_id.lower():
                return w
    best = None
    for w in wards:
        for name in (w.name_en.lower(), w.name_zh, w.ward_id.lower()):
            if len(name) >= 2 and re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", low):
                if best is None or len(name) > best[0]:
                    best = (len(name), w)
    return best[1] if best else None


# --- applying ----------------------------------------------------------------------------


def apply_changes(inst: Instance, changes: list[Change]) -> Instance:
    """A copy of ``inst`` with ``changes`` applied; each adds a worded note.

    Raises:
        ToolError: ``bad_what_if`` when a change is impossible (closing more beds than exist).
    """
    out = inst.copy()
    for c in changes:
        _apply(out, c)
    return out


def _when(inst: Instance, days: list[int]) -> str:
    if len(days) == inst.n_days:
        return "every day"
    d = [inst.days[t].isoformat() for t in days]
    return f"on {d[0]}" if len(d) == 1 else f"from {d[0]} to {d[-1]}"


def _apply(inst: Instance, c: Change) -> None:
    n: Any = int(c.amount) if float(c.amount).is_integer() else c.amount
    when = _when(inst, c.days)
    if c.kind == "no_transfers":
        if c.ward_id is None:
            inst.compat = [[] for _ in inst.wards]
            inst.notes.append("no transfers between wards")
        else:
            inst.compat[inst.index(c.ward_id)] = []
            inst.notes.append(f"no transfers from {c.ward_id}")
        return
    assert c.ward_id is not None  # the parser names a ward for every other kind
    i = inst.index(c.ward_id)
    if c.kind == "close_beds":
        for t in c.days:
            if n > inst.beds[i][t]:
                raise ToolError(
                    "bad_what_if",
                    f"{c.ward_id} has {inst.beds[i][t]} regular beds on "
                    f"{inst.days[t].isoformat()}; cannot close {n}",
                )
            inst.beds[i][t] -= n
        inst.notes.append(f"{n} beds closed on {c.ward_id} {when}")
    elif c.kind == "open_beds":
        for t in c.days:
            inst.beds[i][t] += n
        inst.notes.append(f"{n} more beds on {c.ward_id} {when}")
    elif c.kind == "open_surge":
        for t in c.days:
            inst.surge[i][t] += n
        inst.notes.append(f"{n} more surge beds on {c.ward_id} {when}")
    elif c.kind == "no_surge":
        for t in c.days:
            inst.surge[i][t] = 0
        inst.notes.append(f"no surge beds on {c.ward_id} {when}")
    elif c.kind in ("sick", "more_staff"):
        _apply_staff(inst, c, i, n, when)
    elif c.kind == "demand_pct":
        for scen in inst.demand:
            for t in c.days:
                scen[i][t] = max(0, int(math.floor(scen[i][t] * (1 + c.amount / 100) + 0.5)))
        sign = "+" if c.amount >= 0 else "-"
        inst.notes.append(f"demand {sign}{abs(n)}% on {c.ward_id} {when}")
    elif c.kind == "demand_add":
        for scen in inst.demand:
            for t in c.days:
                scen[i][t] = max(0, scen[i][t] + n)
        word = "more" if n >= 0 else "fewer"
        inst.notes.append(f"{abs(n)} {word} patients on {c.ward_id} {when}")
    else:  # pragma: no cover - the parser makes only the kinds above
        raise ValueError(c.kind)


def _apply_staff(inst: Instance, c: Change, i: int, n: int, when: str) -> None:
    k = c.skill or "rn"
    name = SKILL_NAMES[k] + ("s" if n != 1 else "")
    if inst.ratio[k][i] is None:
        raise ToolError("bad_what_if", f"{c.ward_id} has no {SKILL_NAMES[k]}s to change")
    shifts = range(len(inst.shifts)) if c.shift is None else [inst.shifts.index(c.shift)]
    where = "every shift" if c.shift is None else f"the {c.shift} shift"
    if c.kind == "sick":
        for t in c.days:
            for s in shifts:
                have = inst.cap[k][i][t][s]
                if n > have:
                    raise ToolError(
                        "bad_what_if",
                        f"{c.ward_id} has {have} {SKILL_NAMES[k]}s on {where} on "
                        f"{inst.days[t].isoformat()}; {n} cannot call in sick",
                    )
                inst.cap[k][i][t][s] -= n
        regular = inst.headcount[k][i] - sum(a for a, _ in inst.absences[k][i])
        if n > regular:
            raise ToolError("bad_what_if", f"{c.ward_id}'s pool has only {regular} {name}")
        inst.absences[k][i].append((n, frozenset(c.days)))
        inst.notes.append(f"{n} {name} off sick on {c.ward_id}, {where}, {when}")
    else:
        for t in c.days:
            for s in shifts:
                inst.cap[k][i][t][s] += n
        S, M = len(inst.shifts), inst.max_consecutive
        inst.headcount[k][i] += math.ceil(n * len(shifts) * (M + 1) / M) if S else n
        inst.notes.append(f"{n} more {name} on {c.ward_id}, {where}, {when}")


# --- solving and the difference ----------------------------------------------------------------


def what_if(
    wards: list[Ward],
    demand: dict[str, list[int]],
    start: date,
    changes: list[str] | str,
    *,
    shifts: tuple[str, ...] = DEFAULT_SHIFTS,
    costs: PlanCosts | None = None,
    rules: StaffRules | None = None,
    compatible: dict[str, list[str]] | None = None,
    allow_unmet: bool = True,
    solver: str = DEFAULT_SOLVER,
    time_limit: float = 30.0,
    gap_rel: float = GAP_REL,
    quantile: float | None = None,
) -> WhatIfResult:
    """Solve the base plan, apply ``changes`` (strings in the module's grammar), re-solve,
    and report the changed plan with its difference from the base.

    Raises:
        ToolError: bad input or a what-if that cannot be read or applied;
            ``InfeasiblePlan`` when ``allow_unmet`` is False and the changed plan is impossible.
    """
    check_solver(solver)
    inst = build_instance(
        wards,
        {"plan": demand},
        start,
        shifts=shifts,
        costs=costs,
        rules=rules,
        compatible=compatible,
        allow_unmet=allow_unmet,
    )
    texts = [changes] if isinstance(changes, str) else list(changes)
    parsed = [c for text in texts for c in parse_what_if(text, inst)]
    changed = apply_changes(inst, parsed)
    base = solve_solution(inst, solver, time_limit, gap_rel)
    new = solve_solution(changed, solver, time_limit, gap_rel, reference=base)
    before = result_of(base, time_limit, quantile=quantile)
    after = result_of(new, time_limit, quantile=quantile)
    amounts = [abs(c.amount) for c in parsed]
    result = _compare(before, after, list(zip(changed.notes, amounts, strict=True)))
    words = [_words(c, note, inst) for c, note in zip(parsed, changed.notes, strict=True)]
    order = [w.ward_id for w in wards]
    touched = sorted({d.ward_id for d in result.diff}, key=order.index)
    more = whatif_verdicts(changed.notes, words, before.rows, after.rows, touched)
    return result.model_copy(update={"verdicts": after.verdicts + more})


def _words(c: Change, note: str, inst: Instance) -> dict:
    """A parsed change as the verdict templates word it (the English note is ``note``)."""
    n = int(c.amount) if float(c.amount).is_integer() else c.amount
    return {
        "kind": c.kind,
        "note": note,
        "ward": c.ward_id or "",
        "amount": n,
        "skill": c.skill or "",
        "shift": c.shift or "",
        "days": [inst.days[t] for t in c.days],
        "every_day": len(c.days) == inst.n_days,
    }


def diff_rows(before: list[PlanRow], after: list[PlanRow]) -> list[RowChange]:
    """Every field of every ward-day that differs, nurses per shift included."""
    old = {(r.date, r.ward_id, r.scenario): r for r in before}
    out = []
    for r in after:
        b = old.get((r.date, r.ward_id, r.scenario))
        if b is None:
            continue
        for name in (
            "demand",
            "beds_open",
            "surge_open",
            "transfers_in",
            "transfers_out",
            "unmet",
            "empty_beds",
        ):
            x, y = getattr(b, name), getattr(r, name)
            if x != y:
                out.append(RowChange(date=r.date, ward_id=r.ward_id, field=name, before=x, after=y))
        for name, label in (
            ("nurses", "RNs"),
            ("overtime", "overtime RNs"),
            ("assistants", "assistants"),
            ("assistant_overtime", "overtime assistants"),
        ):
            x, y = getattr(b, name), getattr(r, name)
            for s in y:
                if x.get(s, 0) != y[s]:
                    out.append(
                        RowChange(
                            date=r.date,
                            ward_id=r.ward_id,
                            field=f"{label}, {s} shift",
                            before=x.get(s, 0),
                            after=y[s],
                        )
                    )
    return out


def _compare(before: PlanResult, after: PlanResult, notes: list[tuple[str, float]]) -> WhatIfResult:
    diff = diff_rows(before.rows, after.rows)
    a, b = totals(before.rows), totals(after.rows)
    cost_a, cost_b = round(before.objective, 2), round(after.objective, 2)
    delta = round(cost_b - cost_a, 2)
    changed_cells = len({(d.date, d.ward_id) for d in diff})

    facts = [
        Fact(label="plan cost without the change", value=value(cost_a), unit="cost units"),
        Fact(label="plan cost with the change", value=value(cost_b), unit="cost units"),
    ]
    if delta:
        word = "increase" if delta > 0 else "decrease"
        facts.append(Fact(label=f"plan cost {word} from the change", value=value(abs(delta))))
    for key, label, unit in (
        ("unmet", "unmet patient-days", "patient-days"),
        ("surge", "surge bed-days", "bed-days"),
        ("transfers", "patient transfers", "patient-days"),
        ("overtime", "overtime RN shifts", "RN shifts"),
    ):
        facts.append(Fact(label=f"{label} without the change", value=a[key], unit=unit))
        facts.append(Fact(label=f"{label} with the change", value=b[key], unit=unit))
    facts.append(Fact(label="ward-days that change", value=changed_cells, unit="ward-days"))
    for note, amount in notes[:3]:
        facts.append(Fact(label=f"what-if: {note}", value=value(amount, None)))
    if delta > 0:
        effect = f"raises the plan cost by {plain(abs(delta))} ({plain(cost_a)} to {plain(cost_b)})"
    elif delta < 0:
        effect = f"lowers the plan cost by {plain(abs(delta))} ({plain(cost_a)} to {plain(cost_b)})"
    else:
        effect = f"leaves the plan cost at {plain(cost_a)}"
    summary = (
        f"What-if ({'; '.join(n for n, _ in notes)}): it {effect}; unmet patient-days {a['unmet']} to "
        f"{b['unmet']}, overtime RN shifts {a['overtime']} to {b['overtime']}, patient "
        f"transfers {a['transfers']} to {b['transfers']}; {changed_cells} "
        f"{'ward-day changes' if changed_cells == 1 else 'ward-days change'}."
    )
    if after.status != "optimal" or before.status != "optimal":
        summary = summary[:-1] + f" (solver status {before.status} / {after.status})."
    data = after.model_dump(exclude={"summary", "facts", "ok"})
    data["changes"] = [n for n, _ in notes]
    # only sentences whose numbers are all facts of this result (dates aside)
    data["explanation"] = [
        s for s in after.binding if not re.search(r"\d", re.sub(r"\d{4}-\d{2}-\d{2}", "", s))
    ][:3]
    return WhatIfResult(
        summary=summary,
        facts=facts,
        base_objective=before.objective,
        base_summary=before.summary,
        base_status=before.status,
        diff=diff,
        **{k: val for k, val in data.items() if k not in ("base_objective", "diff")},
    )
