"""The bed-and-nurse MILP over wards x days x shifts, built with PuLP.

Indices: ``w`` demand scenario, ``i``/``j`` ward, ``t`` day, ``s`` shift, ``k`` skill
(``rn``, ``assistant``). One scenario is the newsvendor plan; several make the robust
plan, where beds and the roster are decided once (first stage) and transfers, unmet
patients and overtime adapt to each scenario (recourse).

Per scenario, ward and day, ``p = D - u - sum_j x[i,j] + sum_j x[j,i]`` patients are
served on the ward (``u``: turned away or boarded, ``x``: placed on a compatible ward)::

    p <= beds + surge                      (beds; one scenario: p - g <= B, 0 <= g <= G)
    r_k * q_k >= p                         (q_k: nurses of skill k each shift needs)
    N_k + O_k >= S * q_k                   (identical shifts: N pool shifts, O overtime)
      or n_ks + o_ks >= q_k per shift      (shifts that differ, e.g. after a sick call)
    N_k <= S * cap_k,  O_k <= S * max_ot   (availability per shift and day)
    sum of N_k over any max_consecutive + 1 days <= max_consecutive * headcount_k
                                           (nobody works more than max_consecutive days
                                            in a row; at most one shift a day each)

    minimise  surge*g + E_w[ shortage*u + transfer*x + overtime_k*O_k (+ idle*empty beds) ]

Exactness notes. Every shift of a ward-day has the same ratio, so with identical
availability the even split of N over the shifts is optimal for every requirement at
once: aggregating the shifts loses nothing and removes their symmetry. For identical,
interchangeable nurses the window rows are necessary and sufficient for a roster with at
most ``max_consecutive`` days in a row to exist (``tests/tools/test_allocation_model.py`` checks
this by brute force); nurses off sick form their own class with their own windows.

Tightenings (``Formulation``, measured in docs/allocation.md): aggregating identical
shifts (on); the MIR rounding of each ratio row, ``q + (u + out) * a >= ceil(D / r)``, and
its sum over a closed group of wards (valid, off: they slowed both solvers down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pulp

from tools.allocation.instance import Instance


@dataclass(frozen=True)
class Formulation:
    """Which tightenings the model uses. The default is what measured fastest
    (docs/allocation.md): identical shifts aggregated; the MIR rounding rows, valid but
    slower for both solvers on the benchmark, are off."""

    aggregate_shifts: bool = True
    rounding_cuts: bool = False
    group_cuts: bool = False


@dataclass
class Model:
    """A built MILP and handles on its variables (keys as in the module docstring)."""

    prob: pulp.LpProblem
    inst: Instance
    u: dict = field(default_factory=dict)  # (w, i, t)
    x: dict = field(default_factory=dict)  # (w, i, j, t)
    g: dict = field(default_factory=dict)  # (i, t) surge beds opened
    b: dict = field(default_factory=dict)  # (i, t) regular beds opened (several scenarios)
    q: dict = field(default_factory=dict)  # (w, k, i, t) nurses needed per shift
    roster: dict = field(default_factory=dict)  # (k, i, t) -> pool nurse shifts (expression)
    shift_n: dict = field(default_factory=dict)  # (k, i, t, s) pool nurses, per-shift form
    ot: dict = field(default_factory=dict)  # (w, k, i, t) overtime shifts, aggregate form
    shift_ot: dict = field(default_factory=dict)  # (w, k, i, t, s) per-shift form
    windows: list = field(default_factory=list)  # (k, i, class, t0, t1, limit, expression)
    slack: dict = field(default_factory=dict)  # (kind, key) -> slack variable (elastic)
    recourse: list = field(default_factory=list)  # per scenario: its cost expression
    first_stage: object = None  # cost expression of the first-stage decisions


def build(
    inst: Instance, form: Formulation | None = None, *, elastic: bool = False, name: str = "plan"
) -> Model:
    """Build the MILP of ``inst``.

    ``elastic`` builds the diagnosis model instead: unmet demand is not allowed, but each
    bed, nurse-coverage and rostering requirement may be violated at a price, and the
    objective counts the violated requirements first (then by how much).
    """
    form = form or Formulation()
    prob = pulp.LpProblem(name, pulp.LpMinimize)
    m = Model(prob, inst)
    W, n_wards, T, S = len(inst.scenarios), len(inst.wards), inst.n_days, len(inst.shifts)
    multi = W > 1
    costs = inst.costs
    allow_unmet = inst.allow_unmet and not elastic
    var = _Vars(prob)
    violations: list = []  # (slack var, upper bound) in elastic mode

    def slack(kind: str, key: tuple, ub: float):
        v = var.cont(f"e_{kind}_{_key(key)}", 0, ub)
        m.slack[kind, key] = v
        violations.append((v, ub))
        return v

    # --- beds, first stage ------------------------------------------------------------
    for i in range(n_wards):
        for t in range(T):
            if multi:
                m.b[i, t] = var.int(f"b_{i}_{t}", 0, inst.beds[i][t])
                m.g[i, t] = var.int(f"g_{i}_{t}", 0, inst.surge[i][t])
            else:
                m.g[i, t] = var.cont(f"g_{i}_{t}", 0, inst.surge[i][t])

    # --- patients per scenario ----------------------------------------------------------
    served: dict = {}
    for w in range(W):
        dem = inst.demand[w]
        for i in range(n_wards):
            for t in range(T):
                d = dem[i][t]
                m.u[w, i, t] = var.int(f"u_{w}_{i}_{t}", 0, d if allow_unmet else 0)
                for j in inst.compat[i]:
                    m.x[w, i, j, t] = var.int(f"x_{w}_{i}_{j}_{t}", 0, d)
        for i in range(n_wards):
            for t in range(T):
                terms = [(m.u[w, i, t], -1.0)]
                terms += [(m.x[w, i, j, t], -1.0) for j in inst.compat[i]]
                terms += [(m.x[w, j, i, t], 1.0) for j in range(n_wards) if i in inst.compat[j]]
                p = pulp.LpAffineExpression(terms, constant=dem[i][t])
                served[w, i, t] = p
                out = [m.x[w, i, j, t] for j in inst.compat[i]]
                if out:
                    prob += pulp.lpSum(out) + m.u[w, i, t] <= dem[i][t], f"src_{w}_{i}_{t}"
                if multi:
                    row = p - m.b[i, t] - m.g[i, t]
                    rhs = 0
                else:
                    row = p - m.g[i, t]
                    rhs = inst.beds[i][t]
                if elastic:
                    row = row - slack("beds", (w, i, t), sum(r[t] for r in dem) + 1)
                prob += row <= rhs, f"beds_{w}_{i}_{t}"

    # --- nurses ---------------------------------------------------------------------------
    for k in inst.skills():
        for i in range(n_wards):
            r = inst.ratio[k][i]
            if r is None:
                continue
            mot = inst.max_ot[k][i]
            for t in range(T):
                caps = inst.cap[k][i][t]
                aggregate = form.aggregate_shifts and len(set(caps)) == 1
                if aggregate:
                    n_var = var.int(f"N_{k}_{i}_{t}", 0, S * caps[0])
                    m.roster[k, i, t] = n_var
                else:
                    for s in range(S):
                        m.shift_n[k, i, t, s] = var.int(f"n_{k}_{i}_{t}_{s}", 0, caps[s])
                    m.roster[k, i, t] = pulp.lpSum(m.shift_n[k, i, t, s] for s in range(S))
                for w in range(W):
                    d = inst.demand[w][i][t]
                    if elastic:
                        q_ub = math.ceil(sum(row[t] for row in inst.demand[w]) / r)
                    else:
                        q_ub = math.ceil((inst.beds[i][t] + inst.surge[i][t]) / r - 1e-9)
                        q_ub = min(q_ub, min(caps) + mot)
                    q = var.int(f"q_{w}_{k}_{i}_{t}", 0, q_ub)
                    m.q[w, k, i, t] = q
                    prob += r * q - served[w, i, t] >= 0, f"ratio_{w}_{k}_{i}_{t}"
                    if form.rounding_cuts:
                        _rounding_cut(prob, m, inst, w, k, i, t, q, d, r)
                    if aggregate:
                        o = var.int(f"O_{w}_{k}_{i}_{t}", 0, S * mot)
                        m.ot[w, k, i, t] = o
                        row = m.roster[k, i, t] + o - S * q
                        if elastic:
                            row = row + S * slack("cover", (w, k, i, t, None), q_ub)
                        prob += row >= 0, f"cover_{w}_{k}_{i}_{t}"
                    else:
                        for s in range(S):
                            o = var.int(f"o_{w}_{k}_{i}_{t}_{s}", 0, mot)
                            m.shift_ot[w, k, i, t, s] = o
                            row = m.shift_n[k, i, t, s] + o - q
                            if elastic:
                                row = row + slack("cover", (w, k, i, t, s), q_ub)
                            prob += row >= 0, f"cover_{w}_{k}_{i}_{t}_{s}"
            _pool(prob, m, inst, k, i, var, elastic, slack)

    if form.group_cuts:
        _group_cuts(prob, m, inst)

    # --- objective ------------------------------------------------------------------------
    first = costs.surge * pulp.lpSum(m.g.values())
    for w in range(W):
        parts = [
            costs.shortage * pulp.lpSum(m.u[w, i, t] for i in range(n_wards) for t in range(T))
        ]
        parts.append(costs.transfer * pulp.lpSum(v for key, v in m.x.items() if key[0] == w))
        for k, price in (("rn", costs.overtime), ("assistant", costs.overtime_assistant)):
            ots = [v for key, v in m.ot.items() if key[0] == w and key[1] == k]
            ots += [v for key, v in m.shift_ot.items() if key[0] == w and key[1] == k]
            parts.append(price * pulp.lpSum(ots))
        if multi:
            empty = pulp.lpSum(
                m.b[i, t] + m.g[i, t] - served[w, i, t] for i in range(n_wards) for t in range(T)
            )
            parts.append(costs.idle * empty)
        m.recourse.append(pulp.lpSum(parts))
    m.first_stage = first
    if elastic:
        big = 1.0 + sum(ub for _, ub in violations)
        flags = []
        for n, (v, ub) in enumerate(violations):
            y = var.binary(f"y_{n}")
            prob += v <= ub * y, f"flag_{n}"
            flags.append(y)
        prob += big * pulp.lpSum(flags) + pulp.lpSum(v for v, _ in violations)
    elif multi and inst.robust == "worst":
        theta = var.cont("worst", None, None)
        for w in range(W):
            prob += theta >= m.recourse[w], f"worst_{w}"
        prob += first + theta
    else:
        prob += first + pulp.lpSum(inst.weights[w] * m.recourse[w] for w in range(W))
    return m


def _rounding_cut(prob, m: Model, inst: Instance, w, k, i, t, q, d: int, r: float) -> None:
    """MIR rounding of the ratio row ``q + (u + out)/r - in/r >= d/r`` (all integer, >= 0):
    ``q + a*(u + out) + c*in >= ceil(d/r)``; for an integer ratio ``a = 1/(d mod r)``, ``c = 0``.
    """
    beta = d / r
    f = beta - math.floor(beta)
    if d <= 0 or f < 1e-9 or f > 1 - 1e-9:
        return
    a = _mir(1.0 / r, f)
    c = _mir(-1.0 / r, f)
    terms = [(q, 1.0), (m.u[w, i, t], a)]
    terms += [(m.x[w, i, j, t], a) for j in inst.compat[i]]
    if abs(c) > 1e-12:
        terms += [(m.x[w, j, i, t], c) for j in range(len(inst.wards)) if i in inst.compat[j]]
    prob += pulp.LpAffineExpression(terms) >= math.ceil(beta), f"round_{w}_{k}_{i}_{t}"


def _closed_groups(inst: Instance) -> list[list[int]]:
    """Sets of wards no transfer leaves (the closure of each ward under ``compat``), if
    more than one ward."""
    groups = []
    seen: set[frozenset[int]] = set()
    for i in range(len(inst.wards)):
        todo, group = [i], {i}
        while todo:
            for j in inst.compat[todo.pop()]:
                if j not in group:
                    group.add(j)
                    todo.append(j)
        key = frozenset(group)
        if len(group) > 1 and key not in seen:
            seen.add(key)
            groups.append(sorted(group))
    return groups


def _group_cuts(prob, m: Model, inst: Instance) -> None:
    """MIR rounding of the ratio rows summed over a closed group of wards with one ratio:
    transfers cancel, ``sum q + a * sum u >= ceil(sum D / r)``."""
    for gi, group in enumerate(_closed_groups(inst)):
        for k in inst.skills():
            ratios = {inst.ratio[k][i] for i in group}
            if len(ratios) != 1 or None in ratios:
                continue
            (r,) = ratios
            assert r is not None  # a group with no ratio was skipped above
            for w in range(len(inst.scenarios)):
                for t in range(inst.n_days):
                    d = sum(inst.demand[w][i][t] for i in group)
                    beta = d / r
                    f = beta - math.floor(beta)
                    if d <= 0 or f < 1e-9 or f > 1 - 1e-9:
                        continue
                    a = _mir(1.0 / r, f)
                    terms = [(m.q[w, k, i, t], 1.0) for i in group]
                    terms += [(m.u[w, i, t], a) for i in group]
                    prob += (
                        pulp.LpAffineExpression(terms) >= math.ceil(beta),
                        f"group_{gi}_{w}_{k}_{t}",
                    )


def _mir(a: float, f: float) -> float:
    """MIR coefficient of an integer variable with coefficient ``a`` in a ``>=`` row whose
    right-hand side has fractional part ``f``."""
    fa = a - math.floor(a)
    if fa < 1e-12 or fa > 1 - 1e-12:
        return float(round(a))
    return math.floor(a) + min(fa, f) / f


def _pool(prob, m: Model, inst: Instance, k: str, i: int, var, elastic: bool, slack) -> None:
    """Headcount and max-consecutive-days rows of one ward's pool of one skill."""
    T, S, M = inst.n_days, len(inst.shifts), inst.max_consecutive
    head = inst.headcount[k][i]
    absent = inst.absences[k][i]
    daily_max = [sum(inst.cap[k][i][t]) for t in range(T)]
    classes: list[tuple[int, frozenset[int]]] = []
    regular = head - sum(n for n, _ in absent)
    classes.append((max(regular, 0), frozenset()))
    classes.extend(absent)
    if len(classes) == 1:
        expr = {0: [m.roster[k, i, t] for t in range(T)]}
        for t in range(T):
            if daily_max[t] > head:
                prob += m.roster[k, i, t] <= head, f"present_{k}_{i}_{t}"
    else:
        expr = {}
        for c, (n, off) in enumerate(classes):
            expr[c] = [var.int(f"y_{k}_{i}_{c}_{t}", 0, 0 if t in off else n) for t in range(T)]
        for t in range(T):
            prob += (
                pulp.lpSum(expr[c][t] for c in range(len(classes))) == m.roster[k, i, t],
                f"classes_{k}_{i}_{t}",
            )
    if T <= M:
        return
    for c, (n, _) in enumerate(classes):
        for t0 in range(T - M):
            days = range(t0, t0 + M + 1)
            if len(classes) == 1 and sum(daily_max[t] for t in days) <= M * n:
                continue  # cannot bind
            row = pulp.lpSum(expr[c][t] for t in days)
            m.windows.append((k, i, c, t0, t0 + M, M * n, row))
            if elastic:
                row = row - slack("window", (k, i, c, t0), (M + 1) * S * max(daily_max))
            prob += row <= M * n, f"window_{k}_{i}_{c}_{t0}"


def _key(key: tuple) -> str:
    return "_".join("x" if v is None else str(v) for v in key)


class _Vars:
    """Makes the model's variables (with PuLP's newer ``add_variable`` where present)."""

    def __init__(self, prob: pulp.LpProblem):
        self.prob = prob
        add = getattr(prob, "add_variable", None)  # PuLP >= 3.3: LpVariable() is deprecated
        self._add = add or (lambda n, lo, up, cat: pulp.LpVariable(n, lo, up, cat))

    def int(self, name: str, lo, up):
        """An integer variable."""
        return self._add(name, lo, up, pulp.LpInteger)

    def cont(self, name: str, lo, up):
        """A continuous variable."""
        return self._add(name, lo, up, pulp.LpContinuous)

    def binary(self, name: str):
        """A 0/1 variable."""
        return self._add(name, 0, 1, pulp.LpInteger)
