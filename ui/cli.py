"""The ``wardwise`` command line as installed: the agent's commands (``agent.cli``) plus the
front doors that live in this layer: ``up`` (model server + chat page), ``serve`` (the
OpenAI-compatible API) and ``bench load`` (concurrent conversations against ``serve``)."""

from __future__ import annotations

import json
import sys
import threading

import typer

from agent.app.history import Retention
from agent.app.queue import TurnQueue
from agent.app.settings import Settings
from agent.cli import app, bench_app, build_service, emit_rows, fail, log, open_users_for_service
from agent.servers import exit_on_signals
from ui.load import FIELDS, run_load

__all__ = ["app"]


def _retention(settings: Settings) -> Retention:
    """The chat-history purge while a front door runs: turns older than
    ``WARDWISE_HISTORY_RETENTION_DAYS`` go at start and then daily (0: kept forever)."""
    from agent.runtime import open_history  # heavy: torch, chromadb, langchain

    return Retention(open_history(settings), settings.history_retention_days, report=log).start()


def _warm(agent, server) -> None:
    """Warm the embedded server's router prefix in the background (the first question is then
    ~30 s faster); a server this process did not start is left alone."""
    if server is not None:
        threading.Thread(target=agent.warm, daemon=True, name="wardwise-warm").start()


@app.command()
def up(
    port: int = typer.Option(None, help="page port (default: WARDWISE_PORT, 7860)"),
) -> None:
    """Start the embedded model (unless WARDWISE_LLM_URL is set) and the chat page."""
    from agent.runtime import open_users  # heavy: torch, chromadb, langchain
    from ui.app import launch  # heavy: gradio

    exit_on_signals()  # SIGTERM, SIGINT, SIGHUP: stop the model server, exit 128 + n
    settings = Settings()
    users = open_users_for_service(settings, open_users, first_admin=True)
    agent, server = build_service(settings)
    _warm(agent, server)
    retention = _retention(settings)
    try:
        launch(agent, settings, port=port or settings.port, users=users)
    finally:
        retention.stop()
        if server:
            server.stop()


@app.command()
def serve(
    host: str = typer.Option(None, help="bind address (default: WARDWISE_HOST)"),
    port: int = typer.Option(8000, help="port"),
) -> None:
    """Serve the whole agent as an OpenAI-compatible API (/v1/chat/completions, /v1/models)."""
    import uvicorn

    from agent.runtime import open_users  # heavy: torch, chromadb, langchain
    from ui.serve import create_app  # heavy: fastapi

    settings = Settings()
    users = open_users_for_service(settings, open_users)
    agent, server = build_service(settings)
    _warm(agent, server)
    retention = _retention(settings)
    try:
        uvicorn.run(
            create_app(agent, users, TurnQueue.for_settings(settings)),
            host=host or settings.host,
            port=port,
            log_level=settings.log_level.lower(),
        )
    finally:
        retention.stop()
        if server:
            server.stop()


@bench_app.command("load")
def bench_load(
    sessions: int = typer.Option(20, help="concurrent conversations"),
    turns: int = typer.Option(1, help="turns per conversation (follow-ups use the history)"),
    model: str = typer.Option("fake", help="fake, embedded or an OpenAI-compatible base URL"),
    fake_delay: float = typer.Option(0.5, help="seconds per call of the fake model"),
    replicas: int = typer.Option(
        1, help="serve processes sharing the stores, each with its own turn queue"
    ),
    warmup: int | None = typer.Option(
        None,
        help="turns at once before the clock, on conversations of their own (default: "
        "--sessions with the fake model, else 0); their share is cold_overhead_share",
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help='print {"sessions", "lost", "crossed", "p50_s", "p95_s", "overhead_share", '
        '"queue_wait_p50_s", "queue_wait_p95_s", "llm_p50_s", "refused", "replicas", '
        '"own_cpu_ms_per_turn", "warmup_turns", "cold_overhead_share", "steal_share"}',
    ),
) -> None:
    """Concurrent conversations against `wardwise serve` on 127.0.0.1: lost and crossed
    answers, p50/p95 turn seconds, and Wardwise's own share of a turn's time."""
    if sessions < 1 or turns < 1 or replicas < 1:
        fail("--sessions, --turns and --replicas must be at least 1")
    if warmup is not None and warmup < 0:
        fail("--warmup must be at least 0")
    row = run_load(
        Settings(),
        sessions=sessions,
        turns=turns,
        model=model,
        fake_delay=fake_delay,
        replicas=replicas,
        warmup=warmup,
        log=log,
    )
    if as_json:
        typer.echo(json.dumps({k: row[k] for k in FIELDS}))
    else:
        emit_rows([row], False)
    if row["lost"] or row["crossed"]:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover
    """Run the command line (``python -m ui.cli``)."""
    sys.exit(app())


if __name__ == "__main__":
    main()
