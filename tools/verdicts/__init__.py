"""Verdicts: the conclusions a tool draws, rendered from templates in English and Chinese.

The templates are package data, one YAML file per language (``en.yaml``, ``zh.yaml``), each a
mapping from a verdict id (``forecast.exceeds_beds``) to a Jinja template rendered with
``StrictUndefined``: a variable a template needs and the code did not pass is an error,
never a blank. The code decides (compares, ranks, dates); a template only words the decision.

Filters every template may use (each in its file's language): ``num`` (a number as a person
writes it), ``day`` (an ISO date with its weekday), ``days`` (several of them as a list),
``listing`` (strings as a list: "a, b and c" / "a、b和c"), ``when`` (the days of a limit or
a change), ``change`` (one what-if change), ``word`` (a shift or staff name). Keys that start
with ``_`` are such parts, not verdicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import yaml
from jinja2 import Environment, StrictUndefined, Template

from tools.numbers import plain
from tools.result import LANGUAGES, Fact, Verdict

WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "zh": ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"),
}


def listing(items: Iterable[str], language: str) -> str:
    """``items`` as a list in running text: "a, b and c" or "a、b和c"."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    if language == "zh":
        return "、".join(items[:-1]) + "和" + items[-1]
    return ", ".join(items[:-1]) + " and " + items[-1]


def day_text(d: date, language: str) -> str:
    """An ISO date with its weekday: "Saturday 2026-07-04" or " 2026-07-04（星期六）".

    In Chinese the date is set off from the characters before it by a space (as mixed
    Chinese and Latin text usually is), so that a date reads as a date to a ``\\b`` regex.
    """
    name = WEEKDAYS[language][d.weekday()]
    return f" {d.isoformat()}（{name}）" if language == "zh" else f"{name} {d.isoformat()}"


def days_text(days: Iterable[date], language: str) -> str:
    """Several dates with weekdays: "A, B and C" or " A、B、C"."""
    if language == "zh":
        return " " + "、".join(day_text(d, language).strip() for d in days)
    return listing((day_text(d, language) for d in days), language)


@cache
def _env(language: str) -> Environment:
    env = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.filters["num"] = plain
    env.filters["day"] = lambda d: day_text(d, language)
    env.filters["days"] = lambda ds: days_text(ds, language)
    env.filters["listing"] = lambda xs: listing(xs, language)
    env.filters["when"] = lambda x: _part(language, "_when", x=x)
    env.filters["change"] = lambda c: _part(language, f"_change.{c['kind']}", c=c)
    env.filters["word"] = lambda w: templates(language)["_words"].get(w or "", w or "")
    return env


@cache
def _template(language: str, key: str) -> Template:
    """The template ``key`` of ``language``, compiled once per process (compiling is most of
    a render's cost)."""
    return _env(language).from_string(templates(language)[key])


def _part(language: str, key: str, **variables: Any) -> str:
    """A part of a sentence (``_when``, ``_change.<kind>``), rendered in ``language``."""
    return _template(language, key).render(**variables).strip()


@cache
def templates(language: str) -> dict[str, Any]:
    """The verdict templates of one language, by id (read once from the package)."""
    text = resources.files(__name__).joinpath(f"{language}.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


def compile_all() -> int:
    """Compile every template of every language now (a server calls it at start-up, so no
    question pays for a compile); returns how many."""
    n = 0
    for language in LANGUAGES:
        for key, text in templates(language).items():
            if isinstance(text, str):
                _template(language, key)
                n += 1
    return n


def render(language: str, verdict_id: str, **variables: Any) -> str:
    """The sentence of ``verdict_id`` in ``language``; a missing variable raises."""
    text = _template(language, verdict_id).render(language=language, **variables)
    text = " ".join(text.split())
    return text.replace("（ ", "（") if language == "zh" else text


def verdicts(
    verdict_id: str,
    kind: str,
    facts: list[Fact],
    polarity: bool | None = None,
    **variables: Any,
) -> list[Verdict]:
    """One verdict in every language: the same id, kind, polarity and facts, each sentence
    rendered from its language's template with ``variables`` (``polarity`` included)."""
    return [
        Verdict(
            id=verdict_id,
            kind=kind,
            polarity=polarity,
            language=language,
            text=render(language, verdict_id, polarity=polarity, **variables),
            facts=facts,
        )
        for language in LANGUAGES
    ]
