"""What the command line prints: errors, progress lines and benchmark tables."""

from __future__ import annotations

import json
import shutil
from typing import NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` in red on stderr and exit with ``code`` (2: bad input)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def log(msg: str) -> None:
    """A progress line on stderr."""
    typer.echo(msg, err=True)


def emit_rows(rows: list[dict], as_json: bool) -> None:
    """A bench's rows: ``{'rows': [...]}`` as JSON with ``--json``, else a table."""
    if as_json:
        typer.echo(json.dumps({"rows": rows}, ensure_ascii=False))
        return
    if not rows:
        typer.echo("(no rows)")
        return
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    """Rows (dicts) as a plain-text table on stdout, via rich: one column per key of any row."""
    cols = list(dict.fromkeys(c for r in rows for c in r))  # every key, first-seen order
    table = Table(box=box.ASCII, show_edge=False, pad_edge=False)
    for col in cols:
        table.add_column(str(col), overflow="fold")
    for r in rows:
        table.add_row(*(str(r.get(c, "")) for c in cols))
    Console(width=max(80, shutil.get_terminal_size().columns), soft_wrap=True).print(table)
