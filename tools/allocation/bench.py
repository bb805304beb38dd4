"""The growing-size benchmark behind ``wardwise bench allocate``.

Instances are generated from a seed: wards cycle through ICU, step-down and four general
wards (ratios 2, 3, 5 patients per RN), 8 to 40 beds with about 10% surge beds, rosters
that cover 80-95% of the beds, demand at 80-105% of the beds with a weekday pattern and
noise, and transfers to up to three neighbouring wards of the same type. Nurse pools are
sized to their rosters (every shift can be staffed at ``rn_per_shift`` with a day off in
every six); ``tight_pools=0.15`` makes every third ward's RN pool 15% short, so the
consecutive-days rule binds and links the days.
"""

from __future__ import annotations

import math
import random
import resource
import time
from datetime import date

from knowledge.hospital import Ward
from tools.allocation.instance import StaffRules, build_instance, default_headcount
from tools.allocation.model import Formulation, build
from tools.allocation.solve import solve_solution
from tools.allocation.solver import GAP_REL
from tools.result import ToolError

START = date(2026, 1, 5)  # a Monday
TYPES = ("icu", "stepdown", "general", "general", "general", "general")
RATIO = {"icu": 2, "stepdown": 3, "general": 5}
VARIANTS = {
    "naive": Formulation(aggregate_shifts=False, rounding_cuts=False),
    "rounding": Formulation(aggregate_shifts=False, rounding_cuts=True),
    "aggregate": Formulation(aggregate_shifts=True, rounding_cuts=False),  # the default
    "aggregate+rounding": Formulation(aggregate_shifts=True, rounding_cuts=True),
    "aggregate+rounding+group": Formulation(
        aggregate_shifts=True, rounding_cuts=True, group_cuts=True
    ),
}
DEFAULT_SIZES = "5x7,10x7,15x14,30x14,45x21,60x28"


def bench_instance(
    n_wards: int, n_days: int, n_shifts: int = 3, seed: int = 0, tight_pools: float = 0.0
):
    """A seeded instance: ``(wards, demand, compatible, rules, shifts)``."""
    rng = random.Random(f"{seed}-{n_wards}-{n_days}")
    wards: list[Ward] = []
    demand: dict[str, list[int]] = {}
    heads: dict[str, int] = {}
    for i in range(n_wards):
        typ = TYPES[i % len(TYPES)]
        r = RATIO[typ]
        lo, hi = {"icu": (8, 16), "stepdown": (12, 22), "general": (20, 40)}[typ]
        beds = rng.randint(lo, hi)
        rn = math.ceil(beds * rng.uniform(0.8, 0.95) / r)
        w = Ward(
            ward_id=f"W{i:02d}",
            name_en=f"Ward {i}",
            name_zh=f"病区{i}",
            ward_type=typ,
            beds=beds,
            surge_beds=max(1, beds // 10),
            rn_per_shift=rn,
            nurse_ratio=r,
        )
        wards.append(w)
        level = rng.uniform(0.8, 1.05) * beds
        demand[w.ward_id] = [
            max(0, round(level * (1.08 if t % 7 < 5 else 0.85) + rng.gauss(0, 0.08 * beds)))
            for t in range(n_days)
        ]
        if tight_pools and i % 3 == 0:
            heads[w.ward_id] = math.floor((1 - tight_pools) * default_headcount(rn, n_shifts, 5))
    by_type: dict[str, list[str]] = {}
    for w in wards:
        by_type.setdefault(w.ward_type, []).append(w.ward_id)
    compatible = {}
    for ids in by_type.values():
        for a, wid in enumerate(ids):
            compatible[wid] = [ids[(a + b) % len(ids)] for b in range(1, min(4, len(ids)))]
    shifts = ("day", "evening", "night", "late", "early", "twilight")[:n_shifts]
    return wards, demand, compatible, StaffRules(rn_headcount=heads), shifts


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"5x7,30x14"`` -> ``[(5, 7), (30, 14)]``."""
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        a, _, b = part.partition("x")
        if not (a.isdigit() and b.isdigit()) or int(a) < 1 or int(b) < 1:
            raise ValueError(f"size {part!r} is not WARDSxDAYS, e.g. 30x14")
        out.append((int(a), int(b)))
    if not out:
        raise ValueError("no sizes given")
    return out


def bench_allocate(
    sizes: list[tuple[int, int]],
    solvers: list[str],
    *,
    shifts: int = 3,
    time_limit: float = 60.0,
    gap_rel: float = GAP_REL,
    seed: int = 0,
    variants: list[str] | None = None,
    method: str = "auto",
    tight_pools: float = 0.0,
    detail: bool = False,
    log=None,
) -> list[dict]:
    """One row per size x solver (x formulation variant, when asked for):
    ``{solver, wards, days, shifts, variables, constraints, seconds, status, gap}``.

    ``seconds`` is the wall time of solving (day by day or whole, model building and
    hand-over included); ``status`` and ``gap`` are the solver's own (summed over the days
    when solved day by day). ``detail`` adds ``method``, ``cpu_seconds`` (this process and
    its solver children) and ``objective``.
    """
    rows = []
    for n_wards, n_days in sizes:
        wards, demand, compat, rules, names = bench_instance(
            n_wards, n_days, shifts, seed, tight_pools
        )
        inst = build_instance(
            wards, {"plan": demand}, START, shifts=names, rules=rules, compatible=compat
        )
        for variant in variants or ["aggregate"]:
            for solver in solvers:
                form = VARIANTS[variant]
                whole = build(inst, form)
                cpu0 = _cpu()
                t0 = time.perf_counter()
                try:
                    sol = solve_solution(
                        inst, solver, time_limit, gap_rel, form=form, method=method
                    )
                    out, how = sol.outcome, sol.method
                except ToolError:
                    out, how = None, method
                seconds = time.perf_counter() - t0
                row = {
                    "solver": solver,
                    "wards": n_wards,
                    "days": n_days,
                    "shifts": shifts,
                    "variables": whole.prob.numVariables(),
                    "constraints": whole.prob.numConstraints(),
                    "seconds": round(seconds, 2),
                    "status": out.status if out else "no_solution",
                    "gap": None if out is None or out.gap is None else round(out.gap, 6),
                }
                if variants:
                    row = {"variant": variant, **row}
                if detail:
                    row["method"] = how
                    row["cpu_seconds"] = round(_cpu() - cpu0, 2)
                    row["objective"] = None if out is None else round(out.objective or 0, 2)
                if log:
                    obj = "-" if out is None else f"{out.objective:.0f}, bound {out.bound}"
                    log(f"{variant} {solver} {n_wards}x{n_days} ({how}): {seconds:.2f} s, {obj}")
                rows.append(row)
    return rows


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (CBC runs as a child)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
