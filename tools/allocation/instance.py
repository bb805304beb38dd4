"""The inputs of a plan, checked once: wards, demand scenarios, costs and staffing rules.

:func:`build_instance` validates everything a caller passes and returns an
:class:`Instance`: plain per-ward, per-day and per-shift lists that the model builder,
the what-if changes and the diagnosis all read. Expected failures (unknown ward,
negative capacity, ragged demand) raise :class:`~tools.result.ToolError`.
"""

from __future__ import annotations

import copy
import math
import numbers
from dataclasses import dataclass, field
from datetime import date, timedelta

from pydantic import BaseModel, Field

from knowledge.hospital import WARD_TYPES, Ward
from tools.result import ToolError

SKILLS = ("rn", "assistant")
SKILL_NAMES = {"rn": "RN", "assistant": "assistant"}
SOLVERS = ("cbc", "highs")
DEFAULT_SOLVER = "cbc"  # the one default: the tool context, the CLI and every solve function
DEFAULT_SHIFTS = ("day", "evening", "night")


class PlanCosts(BaseModel):
    """Weights of the objective, all in one (arbitrary) cost unit."""

    shortage: float = Field(
        100.0, ge=0, description="per patient-day turned away or boarded (no staffed bed)"
    )
    surge: float = Field(10.0, ge=0, description="per surge bed opened per day")
    transfer: float = Field(5.0, ge=0, description="per patient-day placed on a compatible ward")
    idle: float = Field(
        25.0,
        ge=0,
        description="per opened, staffed bed left empty per day; with `shortage` it sets the "
        "newsvendor critical ratio, and the robust plan pays it in low scenarios",
    )
    overtime: float = Field(20.0, ge=0, description="per RN overtime or bank shift")
    overtime_assistant: float = Field(
        12.0, ge=0, description="per assistant overtime or bank shift"
    )


class StaffRules(BaseModel):
    """Nurse-to-patient ratios, availability and rostering rules.

    Keys of the dicts are a ward id or a ward type (``icu``, ``stepdown``, ``general``);
    a ward id wins over its type.
    """

    rn_ratio: dict[str, float] = Field(
        default_factory=dict,
        description="patients per RN; default: the ward's own nurse_ratio "
        "(the demo: ICU 2, step-down 3, general 5)",
    )
    assistant_ratio: dict[str, float] = Field(
        default_factory=lambda: {"icu": 8.0, "stepdown": 8.0, "general": 8.0},
        description="patients per nursing assistant; a ward with no entry needs no assistants",
    )
    assistants_per_shift: dict[str, int] = Field(
        default_factory=dict,
        description="assistants available per shift; default: enough for the patients the "
        "ward's rostered RNs can take, ceil(rn_per_shift * rn_ratio / assistant_ratio)",
    )
    rn_headcount: dict[str, int] = Field(
        default_factory=dict,
        description="RNs in the ward's pool; default: just enough to staff every shift at "
        "rn_per_shift with a day off in every max_consecutive + 1 days",
    )
    assistant_headcount: dict[str, int] = Field(default_factory=dict)
    max_consecutive: int = Field(
        5, ge=1, description="days in a row one nurse may work (one shift a day at most)"
    )
    max_overtime_rn: int = Field(2, ge=0, description="overtime or bank RNs per ward and shift")
    max_overtime_assistant: int = Field(2, ge=0)


@dataclass
class Instance:
    """A checked plan input. Indices: ``w`` scenario, ``i`` ward, ``t`` day, ``s`` shift."""

    wards: list[Ward]
    start: date
    shifts: tuple[str, ...]
    scenarios: list[str]
    weights: list[float]
    demand: list[list[list[int]]]  # [w][i][t] patients needing a bed
    beds: list[list[int]]  # [i][t] regular beds that can be opened
    surge: list[list[int]]  # [i][t] surge beds that can be opened
    ratio: dict[str, list[float | None]]  # skill -> [i] patients per nurse (None: not needed)
    cap: dict[str, list[list[list[int]]]]  # skill -> [i][t][s] pool nurses available
    headcount: dict[str, list[int]]  # skill -> [i] nurses in the ward's pool
    absences: dict[str, list[list[tuple[int, frozenset[int]]]]]  # skill -> [i] [(n, off days)]
    max_ot: dict[str, list[int]]  # skill -> [i] overtime nurses per shift
    max_consecutive: int
    compat: list[list[int]]  # [i] wards ward i may send patients to
    costs: PlanCosts
    allow_unmet: bool
    robust: str = "expected"  # with several scenarios: "expected" or "worst"
    notes: list[str] = field(default_factory=list)  # what-if changes applied, in words

    @property
    def n_days(self) -> int:
        """Days in the plan."""
        return len(self.demand[0][0])

    @property
    def days(self) -> list[date]:
        """The plan's dates, from ``start``."""
        return [self.start + timedelta(days=t) for t in range(self.n_days)]

    def index(self, ward_id: str) -> int:
        """Position of ``ward_id`` among the wards."""
        return next(i for i, w in enumerate(self.wards) if w.ward_id == ward_id)

    def copy(self) -> Instance:
        """A deep copy (what-ifs and marginal values change the copy)."""
        return copy.deepcopy(self)

    def skills(self) -> list[str]:
        """Skills some ward needs."""
        return [k for k in SKILLS if any(r is not None for r in self.ratio[k])]


def check_solver(solver: str) -> None:
    """Raise ``ToolError("bad_input")`` unless ``solver`` is one of :data:`SOLVERS`."""
    if solver not in SOLVERS:
        raise ToolError(
            "bad_input", f"unknown solver {solver!r}", hint=f"use one of: {', '.join(SOLVERS)}"
        )


def _lookup(table: dict, ward: Ward):
    if ward.ward_id in table:
        return table[ward.ward_id]
    return table.get(ward.ward_type)


def _check_keys(table: dict, ids: set[str], name: str) -> None:
    for key in table:
        if key not in ids and key not in WARD_TYPES:
            raise ToolError(
                "unknown_ward",
                f"{name} names {key!r}, which is neither a ward id nor a ward type",
                hint=f"ward ids: {', '.join(sorted(ids))}; types: {', '.join(WARD_TYPES)}",
            )


def _demand_lists(
    demand: dict[str, list[int]], wards: list[Ward], label: str = "demand"
) -> list[list[int]]:
    ids = [w.ward_id for w in wards]
    if not demand:
        raise ToolError("bad_input", f"no {label} given", hint="one list of integers per ward")
    for key in demand:
        if key not in ids:
            raise ToolError(
                "unknown_ward",
                f"{label} names unknown ward {key!r}",
                hint=f"known wards: {', '.join(ids)}",
            )
    lengths = {len(v) for v in demand.values()}
    if len(lengths) != 1:
        raise ToolError(
            "bad_input",
            f"every ward's {label} must cover the same days (lengths {sorted(lengths)})",
        )
    (n_days,) = lengths
    if n_days == 0:
        raise ToolError("bad_input", f"{label} covers no days", hint="give at least one day")
    out = []
    for w in wards:
        row = list(demand.get(w.ward_id, [0] * n_days))
        for v in row:
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise ToolError(
                    "bad_input",
                    f"{label} of {w.ward_id} must be whole patients, got {v!r}",
                    hint="round the forecast first (see demand_at)",
                )
            if v < 0:
                raise ToolError("bad_input", f"{label} of {w.ward_id} is negative ({v})")
        out.append([int(v) for v in row])
    return out


def default_headcount(cap: int, n_shifts: int, max_consecutive: int) -> int:
    """Nurses a pool needs to staff ``cap`` per shift every day with a day off in every
    ``max_consecutive + 1`` days (one shift a day per nurse)."""
    return math.ceil(cap * n_shifts * (max_consecutive + 1) / max_consecutive)


def build_instance(
    wards: list[Ward],
    scenarios: dict[str, dict[str, list[int]]],
    start: date,
    *,
    weights: dict[str, float] | None = None,
    shifts: tuple[str, ...] = DEFAULT_SHIFTS,
    costs: PlanCosts | None = None,
    rules: StaffRules | None = None,
    compatible: dict[str, list[str]] | None = None,
    allow_unmet: bool = True,
    robust: str = "expected",
) -> Instance:
    """Check every input and lay it out per ward, day and shift.

    Raises:
        ToolError: ``unknown_ward`` or ``bad_input`` with what to fix.
    """
    costs = costs or PlanCosts()
    rules = rules or StaffRules()
    wards = list(wards)
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
        if w.ward_type not in WARD_TYPES:
            raise ToolError("bad_input", f"{w.ward_id} has unknown ward_type {w.ward_type!r}")
    shifts = tuple(shifts)
    if not shifts or len(set(shifts)) != len(shifts) or not all(shifts):
        raise ToolError(
            "bad_input", "shifts must be distinct, non-empty names", hint="e.g. day, night"
        )
    if robust not in ("expected", "worst"):
        raise ToolError("bad_input", f"robust must be 'expected' or 'worst', got {robust!r}")
    if not scenarios:
        raise ToolError("bad_input", "no demand given", hint="one list of integers per ward")
    names = list(scenarios)
    demand = [_demand_lists(scenarios[n], wards) for n in names]
    n_days = {len(d[0]) for d in demand}
    if len(n_days) != 1:
        raise ToolError("bad_input", "every demand scenario must cover the same days")
    weights = weights or {n: 1.0 / len(names) for n in names}
    if set(weights) != set(names) or any(v < 0 for v in weights.values()):
        raise ToolError("bad_input", "give one non-negative weight per demand scenario")
    total = sum(weights.values())
    if total <= 0:
        raise ToolError("bad_input", "scenario weights must not all be zero")
    wlist = [weights[n] / total for n in names]

    id_set = set(ids)
    for name in ("rn_ratio", "assistant_ratio", "assistants_per_shift"):
        _check_keys(getattr(rules, name), id_set, name)
    for name in ("rn_headcount", "assistant_headcount"):
        for key, v in getattr(rules, name).items():
            if key not in id_set:
                raise ToolError(
                    "unknown_ward", f"{name} names unknown ward {key!r}", hint=", ".join(ids)
                )
            if v < 0:
                raise ToolError("bad_input", f"{name} of {key} is negative ({v})")
    for name in ("rn_ratio", "assistant_ratio"):
        for key, v in getattr(rules, name).items():
            if not v > 0:
                raise ToolError("bad_input", f"{name} of {key} must be above zero, got {v}")
    for key, v in rules.assistants_per_shift.items():
        if v < 0:
            raise ToolError("bad_input", f"assistants_per_shift of {key} is negative ({v})")

    n_t = n_days.pop()
    n_s = len(shifts)
    m = rules.max_consecutive
    rn_ratio = [float(_lookup(rules.rn_ratio, w) or w.nurse_ratio) for w in wards]
    an_ratio = [_lookup(rules.assistant_ratio, w) for w in wards]
    an_ratio = [float(r) if r else None for r in an_ratio]
    rn_cap = [w.rn_per_shift for w in wards]
    an_cap = []
    for i, w in enumerate(wards):
        given = _lookup(rules.assistants_per_shift, w)
        if given is not None:
            an_cap.append(int(given))
        elif an_ratio[i] is None:
            an_cap.append(0)
        else:
            an_cap.append(math.ceil(w.rn_per_shift * rn_ratio[i] / an_ratio[i] - 1e-9))
    heads = {
        "rn": [
            rules.rn_headcount.get(w.ward_id, default_headcount(rn_cap[i], n_s, m))
            for i, w in enumerate(wards)
        ],
        "assistant": [
            rules.assistant_headcount.get(w.ward_id, default_headcount(an_cap[i], n_s, m))
            for i, w in enumerate(wards)
        ],
    }
    compat = _compat(wards, compatible)
    return Instance(
        wards=wards,
        start=start,
        shifts=shifts,
        scenarios=names,
        weights=wlist,
        demand=demand,
        beds=[[w.beds] * n_t for w in wards],
        surge=[[w.surge_beds] * n_t for w in wards],
        ratio={"rn": list(rn_ratio), "assistant": an_ratio},
        cap={
            "rn": [[[rn_cap[i]] * n_s for _ in range(n_t)] for i in range(len(wards))],
            "assistant": [[[an_cap[i]] * n_s for _ in range(n_t)] for i in range(len(wards))],
        },
        headcount=heads,
        absences={k: [[] for _ in wards] for k in SKILLS},
        max_ot={
            "rn": [rules.max_overtime_rn] * len(wards),
            "assistant": [rules.max_overtime_assistant] * len(wards),
        },
        max_consecutive=m,
        compat=compat,
        costs=costs,
        allow_unmet=allow_unmet,
        robust=robust,
    )


def _compat(wards: list[Ward], compatible: dict[str, list[str]] | None) -> list[list[int]]:
    ids = [w.ward_id for w in wards]
    pos = {wid: i for i, wid in enumerate(ids)}
    if compatible is None:
        return [
            [j for j, v in enumerate(wards) if j != i and v.ward_type == w.ward_type]
            for i, w in enumerate(wards)
        ]
    out: list[list[int]] = [[] for _ in wards]
    for src, targets in compatible.items():
        if src not in pos:
            raise ToolError(
                "unknown_ward", f"compatible names unknown ward {src!r}", hint=", ".join(ids)
            )
        for dst in targets:
            if dst not in pos:
                raise ToolError(
                    "unknown_ward", f"compatible names unknown ward {dst!r}", hint=", ".join(ids)
                )
            a, b = wards[pos[src]], wards[pos[dst]]
            if a.ward_type == "icu" and b.ward_type == "general":
                raise ToolError(
                    "bad_input",
                    f"{src} is an ICU and cannot send patients to general ward {dst}",
                )
            if pos[dst] != pos[src] and pos[dst] not in out[pos[src]]:
                out[pos[src]].append(pos[dst])
    return out
