"""Prompt templates (Jinja, StrictUndefined), loaded with :func:`load_prompt`.

Each ``*.j2`` file starts with a ``{# version: N #}`` comment; the version goes into every
audit record and turn trace.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from jinja2 import Environment, StrictUndefined

_VERSION = re.compile(r"\{#\s*version:\s*([\w.-]+)\s*#\}")


@cache
def _env() -> Environment:
    return Environment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)


def prompt_names() -> list[str]:
    return sorted(
        p.name[:-3] for p in resources.files(__name__).iterdir() if p.name.endswith(".j2")
    )


def prompt_source(name: str) -> str:
    return resources.files(__name__).joinpath(f"{name}.j2").read_text(encoding="utf-8")


def prompt_version(name: str) -> str:
    m = _VERSION.search(prompt_source(name))
    if not m:
        raise ValueError(f"prompt {name!r} has no '{{# version: N #}}' header")
    return f"{name}@{m.group(1)}"


def load_prompt(name: str, **variables: object) -> str:
    """Render ``prompts/<name>.j2``; a missing variable raises instead of leaving a blank."""
    return _env().from_string(prompt_source(name)).render(**variables).strip()
