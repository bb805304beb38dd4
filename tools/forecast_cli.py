"""Forecast commands for the ``wardwise`` CLI: ``bench forecast`` and ``forecast-backtest``.

:func:`register` adds them to the application (the caller owns the Typer apps)::

    wardwise bench forecast --data ../shared/data/monash_hospital/hospital.csv
    wardwise bench forecast --data daily.csv --horizon 7 --season 7 --freq D --json
    wardwise bench forecast --data ../shared/data/monash_hospital/hospital.csv --windows 4 --step 12
    wardwise forecast-backtest --data-dir ~/.wardwise/data
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _threads(threads: int) -> None:
    import torch

    if threads > 0:
        torch.set_num_threads(threads)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add the forecasting commands to ``app`` and its ``bench_app`` sub-application."""

    @bench_app.command("forecast")
    def bench_forecast(
        data: Path = typer.Option(
            ..., "--data", help="CSV: long (unique_id,ds,y), Monash wide, NHS discharges or UIHC ED"
        ),
        horizon: int = typer.Option(12, help="points held out (and forecast) per series"),
        season: int = typer.Option(
            None,
            help="seasonal period for MASE and the baselines (default: 12 monthly, 7 daily, "
            "24 hourly)",
        ),
        freq: str = typer.Option(None, help="M, D or H; needed for long CSVs"),
        device: str = typer.Option("auto", help="auto, cpu or cuda"),
        as_json: bool = typer.Option(False, "--json", help='print {"rows": [...]} as JSON'),
        zeros: str = typer.Option(
            None,
            help="keep: a zero is a count; missing: a zero is a gap (default: missing when most "
            "zeros sit where the level makes a zero count implausible)",
        ),
        holidays: str = typer.Option(
            None,
            help="holiday calendar for daily/hourly data, e.g. GB-ENG, US, or none (default: the "
            "data's country, from a country column, the file's format or its name)",
        ),
        max_history: int = typer.Option(
            None,
            min=0,
            help="fit the statistical baselines on at most this many last points, 0: all "
            "(default: 364 daily, 2016 hourly, all monthly)",
        ),
        arch: str = typer.Option("tide", help="torch architecture: tide, nbeats or gru"),
        steps: int = typer.Option(None, help="training steps per network (default: by data size)"),
        members: int = typer.Option(None, help="networks in the ensemble"),
        context: str = typer.Option(
            None,
            help="context window, or several comma-separated (one model each, averaged); "
            "default: 12,18,24,36 for monthly data, else 3 seasons and >= 2 horizons",
        ),
        seed: int = typer.Option(0, help="random seed"),
        threads: int = typer.Option(
            1, help="CPU threads for torch (1 is robust on a shared CPU; 0: torch's default)"
        ),
        jobs: int = typer.Option(
            1,
            min=1,
            help="worker processes for the statistical baselines and the torch networks "
            "(one per core to spare; the same forecasts as one)",
        ),
        fmt: str = typer.Option(
            "auto", "--format", help="auto, long, monash, nhs-discharges, uihc-ed"
        ),
        quiet: bool = typer.Option(False, help="no progress messages or bars"),
        windows: int = typer.Option(
            None,
            min=1,
            help="rolling-origin evaluation on this many windows (fev-bench's protocol: MASE, "
            "SQL, coverage per window, every choice made before each window's cutoff)",
        ),
        step: int = typer.Option(
            None, min=1, help="points between the windows' cutoffs (default: the horizon)"
        ),
        baselines: str = typer.Option(
            None,
            help="comma-separated statistical baselines to run (default: all of "
            "SeasonalNaive, AutoETS, AutoTheta, AutoARIMA, DynamicOptimizedTheta, AutoCES); "
            "wardwise combines with AutoETS, AutoTheta, DynamicOptimizedTheta and AutoCES",
        ),
        combination: str = typer.Option(
            None,
            help="how wardwise mixes the model with the statistical forecast, chosen on the "
            "validation fold: global (one weight, one band factor for 80% coverage), pooled "
            "(global's weight, the band by SQL over this and the earlier windows' folds), "
            "quantile (per level), step-quantile (per step and level), or auto (the one "
            "two-fold cross-validation across series picks on that fold); default: pooled "
            "for monthly data, global otherwise",
        ),
    ) -> None:
        """Benchmark the baselines and the wardwise forecaster on the last HORIZON points.

        With --windows N: on N rolling windows STEP points apart, the last one ending at the
        data's end, and the published fev-bench rows beside them on its hospital task.
        """
        from tools.forecasting import bench  # heavy: torch, statsforecast
        from tools.forecasting import defaults as chosen  # heavy: pandas
        from tools.forecasting.baselines import BASELINES  # heavy: statsforecast
        from tools.forecasting.combination import SCHEMES  # heavy: numpy
        from tools.forecasting.data import SeriesError  # heavy: pandas

        _threads(threads)
        log = None if quiet else (lambda m: typer.echo(m, err=True))
        try:
            if zeros is not None and zeros not in ("keep", "missing"):
                _fail(f"--zeros takes keep or missing, got {zeros!r}")
            ds, picked = chosen.read(
                data,
                freq=freq,
                fmt=fmt,
                season=season,
                zeros=zeros,
                holidays=holidays,
                max_history=max_history,
            )
            if log:
                for line in picked.lines():
                    log(line)
            season = int(picked.season.value)
            cal = picked.holidays.value
            cal = None if cal is None or str(cal).lower() == "none" else str(cal)
            over = {"seed": seed, "arch": arch, "holidays": cal}
            for k, v in (("steps", steps), ("members", members)):
                if v is not None:
                    over[k] = v
            contexts = None
            if context:
                try:
                    contexts = tuple(int(c) for c in context.split(",") if c.strip())
                except ValueError:
                    _fail(f"--context takes integers separated by commas, got {context!r}")
                if not contexts or min(contexts) < 1:
                    _fail(f"--context takes positive integers, got {context!r}")
            methods: tuple[str, ...] = BASELINES
            if baselines:
                methods = tuple(m.strip() for m in baselines.split(",") if m.strip())
                unknown = sorted(set(methods) - set(BASELINES))
                if unknown or not methods:
                    _fail(f"--baselines takes names from {', '.join(BASELINES)}; got {baselines!r}")
            if combination is not None and combination not in ("auto", *SCHEMES):
                _fail(
                    f"--combination takes auto or one of {', '.join(SCHEMES)}; got {combination!r}"
                )
            common: dict[str, Any] = dict(
                name=data.name,
                combination=combination,
                methods=methods,
                horizon=horizon,
                season=season,
                contexts=contexts,
                device=None if device == "auto" else device,
                max_history=picked.max_history.value or None,
                jobs=jobs,
                progress=not quiet,
                log=log,
            )
            if windows is None:
                if step is not None:
                    _fail("--step needs --windows")
                cfg = bench.bench_config(ds, horizon, season, **over)
                res = bench.run(ds, config=cfg, **common)
                table = bench.format_table
            else:
                from tools.forecasting import windows as rolling  # heavy: torch

                res = rolling.evaluate(ds, n_windows=windows, step=step, overrides=over, **common)
                table = rolling.format_table
        except (SeriesError, FileNotFoundError, ValueError) as e:
            _fail(str(e))
        if as_json:
            typer.echo(json.dumps({**res.to_json(), "defaults": picked.to_json()}, indent=2))
        else:
            typer.echo(table(res))
            typer.echo("\n".join(["settings:", *picked.lines()]))

    @app.command("forecast-backtest")
    def forecast_backtest(
        data_dir: Path = typer.Option(..., help="hospital data folder (wards.csv, daily.csv)"),
        checkpoint_dir: Path = typer.Option(None, help="where trained models are kept"),
        device: str = typer.Option("auto", help="auto, cpu or cuda"),
        threads: int = typer.Option(
            1, help="CPU threads for torch (1 is robust on a shared CPU; 0: torch's default)"
        ),
        as_json: bool = typer.Option(False, "--json", help="print the table as JSON"),
    ) -> None:
        """Per ward: rolling-origin MASE and P10-P90 coverage at 1, 7 and 14 days ahead."""
        from knowledge.hospital import load  # heavy: pandas
        from tools.forecast import Forecaster  # heavy: torch
        from tools.forecasting.wards import backtest_rows, format_backtest  # heavy: torch

        _threads(threads)
        try:
            hospital = load(data_dir)
        except FileNotFoundError as e:
            _fail(str(e))
        fc = Forecaster(
            hospital,
            checkpoint_dir=checkpoint_dir,
            device=None if device == "auto" else device,
            progress=True,
        )
        rows = backtest_rows(fc.models())
        if as_json:
            typer.echo(json.dumps({"rows": rows}, indent=2))
        else:
            typer.echo(format_backtest(rows))
