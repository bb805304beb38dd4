"""`wardwise allocate`, `wardwise bench allocate` and the agent tool, on a fake forecaster."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from knowledge.demo import WARDS
from knowledge.hospital import Hospital, Ward
from tools.allocation.cli import register
from tools.forecast import ForecastDay
from tools.registry import SCHEMAS, ToolContext, call_tool

FIRST = date(2026, 7, 1)


class FakeForecast:
    def __init__(self, days):
        self.days = days


class FakeForecaster:
    """Each ward's P50 at ``level`` of its beds (less at weekends), P10/P90 at -/+15%."""

    def __init__(self, hospital: Hospital, level: float = 0.9):
        self.hospital, self.level = hospital, level

    def forecast(self, ward: str, days: int = 7) -> FakeForecast:
        w = self.hospital.ward(ward)
        out = []
        for t in range(days):
            d = FIRST + timedelta(days=t)
            p50 = w.beds * self.level * (0.9 if d.weekday() >= 5 else 1.05)
            out.append(ForecastDay(date=d, p10=0.85 * p50, p50=p50, p90=1.15 * p50))
        return FakeForecast(out)


def demo_hospital() -> Hospital:
    wards = tuple(
        Ward(
            ward_id=w[0],
            name_en=w[1],
            name_zh=w[2],
            ward_type=w[3],
            beds=w[4],
            surge_beds=w[5],
            rn_per_shift=w[6],
            nurse_ratio=w[7],
        )
        for w in WARDS
    )
    return Hospital(wards, pd.DataFrame())


def context(level: float = 0.9, solver: str = "cbc") -> ToolContext:
    h = demo_hospital()
    return ToolContext(hospital=h, forecaster=FakeForecaster(h, level), solver=solver)


def cli(level: float = 0.9) -> typer.Typer:
    app, bench_app = typer.Typer(), typer.Typer()

    @app.callback()
    def main() -> None:
        """Test root."""

    app.add_typer(bench_app, name="bench")
    register(app, bench_app, lambda: context(level))
    return app


runner = CliRunner()


def test_allocate_prints_the_plan_table_and_its_reading():
    out = runner.invoke(cli(), ["allocate", "--horizon", "3", "--solver", "highs"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("Optimal plan (highs) for 7 wards over 3 days")
    assert "date" in out.output and "RN OT" in out.output and "CARD" in out.output
    assert "total unmet patient-days" in out.output


def test_allocate_json_is_the_full_result():
    out = runner.invoke(cli(), ["allocate", "--horizon", "3", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["ok"] and data["status"] == "optimal" and data["solver"] == "cbc"
    assert len(data["rows"]) == 7 * 3
    assert data["quantile"] == pytest.approx(0.8)
    assert data["explanation"]


def test_allocate_what_if_shows_the_diff():
    out = runner.invoke(
        cli(1.0),
        [
            "allocate",
            "--horizon",
            "3",
            "--what-if",
            "close 6 beds on CARD on day 2",
            "--what-if",
            "2 RNs call in sick on ICU night shift",
        ],
    )
    assert out.exit_code == 0, out.output
    assert out.output.startswith("What-if (6 beds closed on CARD on 2026-07-02; 2 RNs off sick")
    assert "Changes against the base plan" in out.output
    assert "transfers_out" in out.output or "surge_open" in out.output


def test_allocate_errors_are_clear():
    out = runner.invoke(cli(), ["allocate", "--what-if", "close 2 beds on NOPE"])
    assert out.exit_code == 2
    assert "names no known ward" in out.output and "hint:" in out.output
    out = runner.invoke(cli(), ["allocate", "--horizon", "40"])
    assert out.exit_code == 2 and "1 to 28" in out.output
    out = runner.invoke(cli(1.6), ["allocate", "--horizon", "2", "--strict", "--json"])
    assert out.exit_code == 2
    err = json.loads(out.output)
    assert err["error"] == "infeasible" and "cannot" in err["summary"] and err["facts"]


def test_bench_allocate_json_rows():
    out = runner.invoke(
        cli(),
        # A generous limit: on a busy CPU one CBC call of this tiny model sometimes stalls about
        # 10 s (seen under load, never alone), which the default per-day share (60 s / 7) trips.
        ["bench", "allocate", "--sizes", "3x7", "--solvers", "highs,cbc", "--json"]
        + ["--time-limit", "600"],
    )
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)["rows"]
    assert [r["solver"] for r in rows] == ["highs", "cbc"]
    for r in rows:
        assert list(r) == [
            "solver",
            "wards",
            "days",
            "shifts",
            "variables",
            "constraints",
            "seconds",
            "status",
            "gap",
        ]
        assert (r["wards"], r["days"], r["shifts"]) == (3, 7, 3)
        assert r["status"] == "optimal" and r["gap"] <= 1e-4 and r["variables"] > 0


def test_bench_allocate_compares_formulations_in_a_table():
    out = runner.invoke(
        cli(),
        [
            "bench",
            "allocate",
            "--sizes",
            "3x7",
            "--solvers",
            "highs",
            "--variants",
            "naive,aggregate",
        ],
    )
    assert out.exit_code == 0, out.output
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    assert lines[0].split(" | ")[0].strip() == "variant"
    assert lines[2].startswith("naive") and lines[3].startswith("aggregate")
    bad = runner.invoke(cli(), ["bench", "allocate", "--solvers", "gurobi"])
    assert bad.exit_code == 2


# --- the agent tool ------------------------------------------------------------------------


def test_plan_beds_schema_documents_what_if():
    props = SCHEMAS["plan_beds"]["parameters"]["properties"]
    assert props["what_if"]["type"] == "string" and props["what_if"]["default"] == ""
    assert "close 4 beds" in props["what_if"]["description"]
    assert SCHEMAS["plan_beds"]["parameters"]["required"] == []


def test_plan_beds_tool_plans_from_the_forecast():
    result = call_tool(context(), "plan_beds", {"days": 3, "what_if": ""})
    assert result.ok and result.status == "optimal" and len(result.rows) == 21
    reading = result.reading()
    assert reading["explanation"] and len(reading["facts"]) <= 15


def test_plan_beds_tool_runs_a_what_if_and_reports_bad_ones():
    result = call_tool(context(1.0), "plan_beds", {"days": 3, "what_if": "close 6 beds on CARD"})
    assert result.ok and result.diff and result.changes == ["6 beds closed on CARD every day"]
    bad = call_tool(context(), "plan_beds", {"days": 3, "what_if": "repaint ICU"})
    assert not bad.ok and bad.error == "bad_what_if" and "close 4 beds" in bad.hint
    far = call_tool(context(), "plan_beds", {"days": 20})
    assert not far.ok and far.error == "bad_argument" and "from 1 to 14" in far.summary


def test_allocate_prints_the_verdicts_and_plans_from_a_start_day():
    app = cli()
    out = runner.invoke(app, ["allocate", "--horizon", "2", "--solver", "highs"])
    assert out.exit_code == 0, out.output
    assert (
        "* The plan " in out.output
        and "* What limits the plan" in out.output
        or ("* No bed or nurse limit binds" in out.output)
    )
    bad = runner.invoke(app, ["allocate", "--start", "friday"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_the_solver_banner_never_reaches_stdout():
    """HiGHS prints a banner to the C-level stdout on a process's first ``Highs`` object; the
    day-by-day windows check makes one too, and its banner broke ``wardwise eval --json``."""
    import subprocess
    import sys

    code = (
        "from tools.allocation.decompose import _classes_fit\n"
        "print('fits' if _classes_fit([2, 2, 2], 3, [], 2) else 'no')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in ("fits", "no") and "HiGHS" not in out.stdout, out.stdout
