"""Prompt templates (Jinja, StrictUndefined), loaded with :func:`load_prompt`.

Each ``*.j2`` file starts with a ``{# version: N #}`` comment; the version goes into every
turn's trace. ``directory`` points at another copy of the prompts (an experiment, or an eval
of a changed prompt); by default the packaged files are used.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

from jinja2 import Environment, StrictUndefined

_VERSION = re.compile(r"\{#\s*version:\s*([\w.-]+)\s*#\}")


@cache
def _env() -> Environment:
    return Environment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)


def _root(directory: Path | None):
    return Path(directory) if directory else _packaged()


@cache
def _packaged():
    """The packaged prompts' folder (a turn asks for it about ten times)."""
    return resources.files(__name__)


def prompt_names(directory: Path | None = None) -> list[str]:
    return sorted(p.name[:-3] for p in _root(directory).iterdir() if p.name.endswith(".j2"))


def prompt_source(name: str, directory: Path | None = None) -> str:
    """The text of ``<name>.j2``; read again only when the file's size or mtime changed (a
    turn reads ten of them, for their versions and to render)."""
    path = _path(name, directory)
    if not isinstance(path, Path):  # packaged in a zip: no stat to key a cache on
        return path.read_text(encoding="utf-8")
    st = path.stat()
    return _read(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=256)
def _path(name: str, directory: Path | None):
    """Where ``<name>.j2`` lies (a turn asks for ten of them: building the path cost more
    than checking the file)."""
    return _root(directory).joinpath(f"{name}.j2")


@lru_cache(maxsize=256)
def _read(path: str, mtime_ns: int, size: int) -> str:
    return Path(path).read_text(encoding="utf-8")


def prompt_version(name: str, directory: Path | None = None) -> str:
    return _version(name, prompt_source(name, directory))


@lru_cache(maxsize=256)
def _version(name: str, source: str) -> str:
    m = _VERSION.search(source)
    if not m:
        raise ValueError(f"prompt {name!r} has no '{{# version: N #}}' header")
    return f"{name}@{m.group(1)}"


@lru_cache(maxsize=256)
def _template(source: str):
    return _env().from_string(source)  # compiled once per distinct text (a turn renders 3-4)


def compile_prompt(name: str, directory: Path | None = None) -> None:
    """Compile ``<name>.j2`` now, so that its first render does not (the agent's start-up)."""
    _template(prompt_source(name, directory))


def load_prompt(name: str, directory: Path | None = None, **variables: object) -> str:
    """Render ``<name>.j2``; a missing variable raises instead of leaving a blank."""
    return _template(prompt_source(name, directory)).render(**variables).strip()
