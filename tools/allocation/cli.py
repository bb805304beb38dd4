"""``wardwise allocate`` and ``wardwise bench allocate``; agent/cli.py calls :func:`register`."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import date

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from tools.allocation.bench import DEFAULT_SIZES, VARIANTS, bench_allocate, parse_sizes
from tools.allocation.instance import DEFAULT_SOLVER, SOLVERS
from tools.allocation.plan import plan_from_forecast
from tools.allocation.solve import PlanResult
from tools.allocation.whatif import GRAMMAR_HINT, WhatIfResult
from tools.result import ErrorResult, ToolError


def register(app: typer.Typer, bench_app: typer.Typer, context_factory: Callable) -> None:
    """Add ``allocate`` to ``app`` and ``allocate`` to ``bench_app``.

    ``context_factory()`` returns the agent's ``ToolContext`` (hospital and forecaster).
    """

    @app.command("allocate")
    def allocate(
        horizon: int = typer.Option(7, help="days ahead to plan, 1-28"),
        start: str = typer.Option(
            None, help="first day to plan, YYYY-MM-DD (default: tomorrow, the forecast's first)"
        ),
        what_if: list[str] = typer.Option(
            None, "--what-if", help=f"a change to test (repeatable), {GRAMMAR_HINT}"
        ),
        solver: str = typer.Option(
            None, help=f"highs or cbc (default: WARDWISE_SOLVER, else {DEFAULT_SOLVER})"
        ),
        robust: bool = typer.Option(
            False, help="one plan for the P10/P50/P90 scenarios (weights 0.3/0.4/0.3)"
        ),
        quantile: float = typer.Option(
            None, help="forecast quantile to plan for (default: the newsvendor critical ratio)"
        ),
        strict: bool = typer.Option(
            False, help="every patient must get a staffed bed; if impossible, say why"
        ),
        time_limit: float = typer.Option(30.0, "--time-limit", help="solver seconds"),
        as_json: bool = typer.Option(False, "--json", help="print the full result as JSON"),
    ) -> None:
        """Plan beds, surge beds, transfers and nurses per shift from the forecast."""
        ctx = context_factory()
        try:
            if not 1 <= horizon <= 28:
                raise ToolError("bad_horizon", f"horizon must be 1 to 28 days, got {horizon}")
            first = _iso_date(start) if start else None
            forecasts = {
                w.ward_id: (
                    ctx.forecaster.forecast(w.ward_id, horizon)
                    if first is None
                    else ctx.forecaster.window(w.ward_id, first, horizon)
                ).days
                for w in ctx.hospital.wards
            }
            result = plan_from_forecast(
                list(ctx.hospital.wards),
                forecasts,
                quantile=quantile,
                robust=robust,
                what_if=list(what_if or []),
                allow_unmet=not strict,
                solver=solver or ctx.solver,
                time_limit=time_limit,
            )
        except ToolError as e:
            if as_json:
                typer.echo(ErrorResult.from_error(e).model_dump_json(indent=2))
            else:
                typer.secho(f"error: {e.message}", fg=typer.colors.RED, err=True)
                if e.hint:
                    typer.echo(f"hint: {e.hint}", err=True)
            raise typer.Exit(2) from None
        if as_json:
            typer.echo(result.model_dump_json(indent=2))
            return
        print_plan(result)

    @bench_app.command("allocate")
    def bench(
        sizes: str = typer.Option(DEFAULT_SIZES, help="WARDSxDAYS, comma-separated"),
        solvers: str = typer.Option("highs,cbc", help="comma-separated: highs, cbc"),
        time_limit: float = typer.Option(60.0, "--time-limit", help="seconds per solve"),
        shifts: int = typer.Option(3, help="shifts per day"),
        seed: int = typer.Option(0, help="instance seed"),
        variants: str = typer.Option(
            "", help=f"formulations to compare, comma-separated: {', '.join(VARIANTS)}"
        ),
        method: str = typer.Option(
            "auto", help="auto (day by day when exact, else whole), days, or whole"
        ),
        tight_pools: float = typer.Option(
            0.0, help="make every third ward's RN pool this much short (0.15: 15%)"
        ),
        detail: bool = typer.Option(False, help="add method, cpu_seconds and objective"),
        as_json: bool = typer.Option(False, "--json", help='print {"rows": [...]}'),
    ) -> None:
        """Variables, constraints, solve seconds, status and gap per solver, growing sizes."""
        names = [s.strip() for s in solvers.split(",") if s.strip()]
        chosen = [v.strip() for v in variants.split(",") if v.strip()]
        try:
            size_list = parse_sizes(sizes)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--sizes") from None
        bad = [s for s in names if s not in SOLVERS]
        if bad or not names:
            raise typer.BadParameter(f"solvers are {', '.join(SOLVERS)}", param_hint="--solvers")
        bad = [v for v in chosen if v not in VARIANTS]
        if bad:
            raise typer.BadParameter(f"variants are {', '.join(VARIANTS)}", param_hint="--variants")
        if not 1 <= shifts <= 6:
            raise typer.BadParameter("1 to 6 shifts", param_hint="--shifts")
        if method not in ("auto", "days", "whole"):
            raise typer.BadParameter("auto, days or whole", param_hint="--method")
        if not 0 <= tight_pools < 1:
            raise typer.BadParameter("a fraction from 0 to 1", param_hint="--tight-pools")
        rows = bench_allocate(
            size_list,
            names,
            shifts=shifts,
            time_limit=time_limit,
            seed=seed,
            variants=chosen or None,
            method=method,
            tight_pools=tight_pools,
            detail=detail,
            log=lambda m: typer.echo(m, err=True),
        )
        if as_json:
            typer.echo(json.dumps({"rows": rows}))
        else:
            typer.echo(table(rows))


def table(rows: list[dict]) -> str:
    """A plain-text table of dict rows (columns from the first row), drawn by rich."""
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    grid = Table(box=box.ASCII, show_edge=False, pad_edge=False)
    for c in cols:
        grid.add_column(str(c), no_wrap=True)
    for r in rows:
        grid.add_row(*(_cell(r.get(c)) for c in cols))
    out = io.StringIO()
    Console(file=out, width=10_000, color_system=None).print(grid)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def plan_table(result: PlanResult) -> list[dict]:
    """The plan's rows as flat dicts for a table (RNs and overtime per shift)."""
    out = []
    for r in result.rows:
        row: dict[str, object] = {"date": r.date.isoformat(), "ward": r.ward_id}
        if r.scenario:
            row["scenario"] = r.scenario
        row.update(
            {
                "demand": r.demand,
                "beds": r.beds_open,
                "surge": r.surge_open,
                "in": r.transfers_in,
                "out": r.transfers_out,
                "unmet": r.unmet,
                "RNs": "/".join(str(v) for v in r.nurses.values()),
                "RN OT": "/".join(str(v) for v in r.overtime.values()),
            }
        )
        if r.assistants:
            row["asst"] = "/".join(str(v) for v in r.assistants.values())
            row["asst OT"] = "/".join(str(v) for v in r.assistant_overtime.values())
        if r.scenario:
            row["empty"] = r.empty_beds
        out.append(row)
    return out


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ToolError(
            "bad_argument", f"start must be a date as YYYY-MM-DD, got {text!r}"
        ) from None


def print_plan(result: PlanResult) -> None:
    """The plan as ``wardwise allocate`` prints it: summary, verdicts (English), table, diff,
    explanation, facts."""
    typer.echo(result.summary)
    for v in result.verdicts:
        if v.language == "en":
            typer.echo(f"* {v.text}")
    typer.echo("")
    typer.echo(table(plan_table(result)))
    if isinstance(result, WhatIfResult):
        typer.echo("")
        typer.echo(f"Changes against the base plan ({result.base_summary})")
        rows = [d.model_dump(mode="json") for d in result.diff]
        typer.echo(table(rows) if rows else "(no row changes)")
    if result.explanation:
        typer.echo("")
        for sentence in result.explanation:
            typer.echo(f"- {sentence}")
    typer.echo("")
    for f in result.facts:
        typer.echo(f"  {f.label}: {f.value} {f.unit}".rstrip())
