"""Command-line entry points of the case knowledge: ``ingest-cases``, ``ingest-adt`` and
``bench retrieval``. :func:`register` adds them to the ``wardwise`` Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from agent.app.settings import Settings
from agent.cli.output import fail, print_table


def _need(settings: Settings | None) -> Settings:
    """The settings read above whenever a path they give is needed."""
    assert settings is not None
    return settings


def ingest_cases(
    paths: list[Path] = typer.Argument(
        None, help="FHIR R4 bundle files or folders (*.json), or flat CSV files (*.csv)"
    ),
    sql: str = typer.Option(None, "--sql", help="SQLAlchemy URL to read case rows from"),
    query: str = typer.Option(None, "--query", help="SQL query returning the case columns"),
    demo: int = typer.Option(0, "--demo", help="also ingest N generated demo records"),
    index_dir: Path = typer.Option(None, help="index folder (default: WARDWISE_INDEX_DIR)"),
    chroma_url: str = typer.Option(
        None, envvar="WARDWISE_CHROMA_URL", help="Chroma server URL instead of the folder"
    ),
    key_file: Path = typer.Option(
        None, help="de-identification key (default: <data dir>/deid.key, created if missing)"
    ),
    chunk: int = typer.Option(512, help="records de-identified and upserted per step"),
    tune: bool = typer.Option(True, help="re-learn the hybrid fusion weights afterwards"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """De-identify case records and upsert them into the case index (idempotent)."""
    from rich.progress import Progress

    from knowledge.deid import Deidentifier, load_key  # heavy: cryptography
    from knowledge.fhir import bundle_files, read_bundle  # heavy: pandas
    from knowledge.ingest import count_rows, demo_sources, ingest, read_csv  # heavy: chromadb
    from knowledge.store import CaseIndex  # heavy: chromadb

    paths = list(paths or [])
    if bool(sql) != bool(query):
        fail("--sql and --query go together")
    if not paths and not sql and not demo:
        fail("give FHIR bundles or CSV files, --sql URL --query Q, or --demo N")
    missing = [p for p in paths if not p.exists()]
    if missing:
        fail(f"not found: {', '.join(str(p) for p in missing)}")
    settings = Settings() if key_file is None or (index_dir is None and not chroma_url) else None
    key_path = key_file or Path(_need(settings).data_dir) / "deid.key"
    deid = Deidentifier(load_key(key_path))
    if chroma_url:
        index = CaseIndex(server_url=chroma_url)
    else:
        index = CaseIndex(index_dir or Path(_need(settings).index_dir))

    csvs = [p for p in paths if p.is_file() and p.suffix.lower() == ".csv"]
    bundles = bundle_files([p for p in paths if p not in csvs])
    total = sum(count_rows(p) for p in csvs) or None

    def sources():
        for n, b in enumerate(bundles, start=1):
            yield from read_bundle(b, label=f"bundle {n}/{len(bundles)}")
        for c in csvs:
            yield from read_csv(c)
        if sql:
            from knowledge.sql import read_cases  # heavy: sqlalchemy, pandas

            yield from read_cases(sql, query, chunk=chunk)
        if demo:
            yield from demo_sources(demo)

    with Progress(transient=True, disable=as_json) as bar:
        task = bar.add_task("ingesting", total=total if not bundles and not sql else None)
        report = ingest(
            sources(), index, deid, chunk=chunk, progress=lambda n: bar.update(task, completed=n)
        )
    tuned = index.tune() if tune and index.count() else None
    if as_json:
        out = report.model_dump(mode="json")
        out["alpha"] = tuned.fusion.alpha if tuned else index.fusion.alpha
        out["count"] = index.count()
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        typer.echo(
            f"read {report.read} records: {report.embedded} new or changed, "
            f"{report.unchanged} unchanged, {report.flagged} with an injected instruction "
            f"removed; {len(report.problems)} skipped. The index holds {index.count()} records."
        )
        for p in report.problems[:50]:
            typer.echo(f"  skipped {p}", err=True)
        if len(report.problems) > 50:
            typer.echo(f"  ... and {len(report.problems) - 50} more", err=True)
        if tuned:
            typer.echo(f"hybrid fusion re-learned: alpha={tuned.fusion.alpha}")
    if report.read and not report.indexed:
        raise typer.Exit(2)


def ingest_adt(
    sql: str = typer.Option(..., "--sql", help="SQLAlchemy URL of the ADT database"),
    query: str = typer.Option(
        ...,
        "--query",
        help="query returning event_time, event_type, ward_id, from_ward_id, patient_id",
    ),
    out: Path = typer.Option(None, help="daily.csv to write (default: <data dir>/daily.csv)"),
) -> None:
    """Turn admission/discharge/transfer events into the daily ward rows the forecaster uses."""
    from knowledge.sql import read_adt, write_daily  # heavy: sqlalchemy, pandas

    result = read_adt(sql, query)
    for p in result.problems[:50]:
        typer.echo(f"  skipped {p}", err=True)
    if not result.rows:
        fail("no usable ADT events")
    path = out or Path(Settings().data_dir) / "daily.csv"
    n = write_daily(result.rows, path)
    typer.echo(
        f"{result.events} events -> {n} daily rows in {path} ({len(result.problems)} skipped)"
    )


def bench_retrieval(
    cases: Path = typer.Option(None, help="patient CSV in the DDXPlus layout (default: validate)"),
    conditions: Path = typer.Option(None, help="release_conditions.json (default: next to cases)"),
    query_cases: Path = typer.Option(
        None, help="query with this file's patients and index all of --cases"
    ),
    query_evidences: int = typer.Option(2, help="evidences besides the initial one per query"),
    k: int = typer.Option(20, "-k", help="retrieved cases per query feeding the differential"),
    seed: int = typer.Option(0, help="seed of the split and the evidence draws"),
    sizes: str = typer.Option("10000,100000", help="index sizes for latency/recall ('' = none)"),
    latency_queries: int = typer.Option(200, help="queries timed at each size"),
    tune: bool = typer.Option(True, help="learn the fusion weights on the indexed half"),
    cross_lingual: bool = typer.Option(True, help="also ask the queries in Chinese"),
    limit: int = typer.Option(0, help="only the first N queries (0: all)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Differential top-1/3/5 (BM25, dense, hybrid, TF-IDF anchor), recall@10, latency."""
    from knowledge.bench import DEFAULT_CASES  # heavy: chromadb
    from knowledge.bench import bench_retrieval as run  # heavy: chromadb

    cases = cases or DEFAULT_CASES
    if not cases.exists():
        fail(f"no patient file at {cases}")
    try:
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        fail(f"--sizes must be comma-separated integers, got {sizes!r}")
    result = run(
        cases=cases,
        conditions=conditions,
        query_cases=query_cases,
        query_evidences=query_evidences,
        k=k,
        seed=seed,
        sizes=size_list,
        latency_queries=latency_queries,
        tune=tune,
        cross_lingual=cross_lingual,
        limit=limit,
        log=lambda m: typer.echo(m, err=True),
    )
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    print_table(result["rows"])
    for key, value in result.items():
        if key not in ("rows", "tuning"):
            typer.echo(f"{key}: {value}")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add ``ingest-cases`` and ``ingest-adt`` to ``app`` and ``retrieval`` to ``bench_app``."""
    app.command("ingest-cases")(ingest_cases)
    app.command("ingest-adt")(ingest_adt)
    bench_app.command("retrieval")(bench_retrieval)
