"""``wardwise history``: the chat-history store (conversation text, PHI) on the host.

``wardwise history purge --older-than 30d`` deletes the turns older than that in every
session; the audit trail (digests only) is not touched, so ``wardwise audit verify`` still
passes. ``WARDWISE_HISTORY_RETENTION_DAYS`` applies the same purge daily while ``wardwise up``
or ``wardwise serve`` runs."""

from __future__ import annotations

import typer

from agent.app.history import parse_age
from agent.app.settings import Settings
from agent.cli.output import fail

history_app = typer.Typer(
    no_args_is_help=True, help="The chat history (conversation text): retention."
)


@history_app.command("purge")
def history_purge(
    older_than: str = typer.Option(..., "--older-than", help="an age: 30d (days) or 12h (hours)"),
) -> None:
    """Delete chat-history turns older than --older-than, in every session (not the audit)."""
    from agent.runtime import open_history  # heavy: torch, chromadb

    try:
        age = parse_age(older_than)
    except ValueError as e:
        fail(str(e))
    history = open_history(Settings())
    n = history.purge(age)
    left = history.count()
    history.engine.dispose()
    typer.echo(f"removed {n} turns older than {older_than.strip()}; {left} turns kept")


def register(app: typer.Typer) -> None:
    """Add ``wardwise history`` to the command line."""
    app.add_typer(history_app, name="history")
