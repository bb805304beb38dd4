"""Entity grounding: an answer may name a ward, service, diagnosis, code, record id or drug
only when a tool output of the same turn holds it, and never states a diagnosis as the
patient's own.

The numeric check (:mod:`agent.grounding`) cannot see a made-up ICD code, a ward the hospital
does not have or a drug no record mentions; this module does, from the hospital's own ward list
and a lexicon shipped as package data (``agent/lexicon/entities.yaml``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

import yaml

from knowledge.hospital import Ward
from knowledge.text import fold_ascii, has_cjk

Kind = Literal["ward", "service", "diagnosis", "drug", "code", "record", "assertion"]

# An ICD-10 code ("I21.9", "J18"); a record id with a hyphen or a long digit run
# ("EVAL-INJ-2", "C00042", "syn-7" is lower case and left to the record check below).
_ICD = re.compile(r"(?<![\w.-])[A-TV-Z][0-9]{2}(?:\.[0-9A-Z]{1,4})?(?![\w-])")
_RECORD = re.compile(
    r"(?<![\w-])(?:[A-Za-z]+(?:-[A-Za-z0-9]+)*-[0-9][A-Za-z0-9]*|[A-Z]{1,4}[0-9]{3,})(?![\w-])"
)
_NOT_CODES = {"P10", "P50", "P90", "COVID-19", "SpO2", "CO2", "O2", "FiO2", "NT-proBNP"}
_WORD_DASH_NUMBER = re.compile(r"[A-Za-z]+-[0-9]+")  # "COVID-19", "covid-2019"


@dataclass(frozen=True)
class Entity:
    """One name found in an answer: what it is, and whether a tool output holds it."""

    text: str
    kind: Kind
    grounded: bool


@dataclass(frozen=True)
class Lexicon:
    """Names by kind and language, and the patterns that state a diagnosis as a fact."""

    names: dict[str, dict[str, tuple[str, ...]]]
    assertions: tuple[re.Pattern[str], ...]


@cache
def load_lexicon() -> Lexicon:
    """The packaged lexicon (``agent/lexicon/entities.yaml``), read once."""
    text = (resources.files("agent") / "lexicon" / "entities.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    names = {
        kind: {lang: tuple(str(x) for x in data[kind][lang]) for lang in ("en", "zh")}
        for kind in ("services", "diagnoses", "drugs")
    }
    patterns = tuple(re.compile(p, re.I) for lang in ("en", "zh") for p in data["assertions"][lang])
    return Lexicon(names=names, assertions=patterns)


@cache  # not left to ``re``'s cache of 512, which the serve process's other patterns turn over
def _pattern(name: str) -> re.Pattern[str]:
    if has_cjk(name):
        return re.compile(re.escape(name))
    flags = 0 if name.isupper() else re.I  # "ER", "ED", "TB": acronyms only in capitals
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])", flags)


def _needle(name: str) -> tuple[str, bool] | None:
    """A substring any match of ``_pattern(name)`` must contain: ``(name, False)`` in the
    text as it is, ``(name.lower(), True)`` in the folded text; None when there is no
    cheap one (a case-insensitive name with letters outside ASCII)."""
    if has_cjk(name) or name.isupper():
        return name, False
    if name.isascii():
        return name.lower(), True
    return None


@cache
def _compiled(
    names: tuple[str, ...],
) -> tuple[tuple[str, re.Pattern[str], tuple[str, bool] | None], ...]:
    return tuple((n, _pattern(n), _needle(n)) for n in sorted(names, key=len, reverse=True))


def _spans(text: str, names: Iterable[str]) -> list[tuple[int, int, str]]:
    """Non-overlapping matches of ``names`` in ``text``, longest names first.

    A name whose needle is not in the text cannot match and is not searched for: hundreds of
    lexicon names, each a regex scan of the answer, were most of a turn's own CPU.
    """
    taken: list[tuple[int, int, str]] = []
    folded = fold_ascii(text)
    for name, pat, needle in _compiled(tuple(names)):
        if needle is not None and needle[0] not in (folded if needle[1] else text):
            continue
        for m in pat.finditer(text):
            if not any(m.start() < e and s < m.end() for s, e, _ in taken):
                taken.append((m.start(), m.end(), name))
    return sorted(taken)


def _held(name: str, tool_text: str) -> bool:
    return bool(_pattern(name).search(tool_text))


def ward_mentions(text: str, wards: Sequence[Ward]) -> dict[str, str]:
    """The hospital's wards that ``text`` names (by code, English or Chinese name):
    ``{ward_id: the words used}``."""
    names = {}
    for w in wards:
        for n in (w.ward_id, w.name_en, w.name_zh):
            if n:
                names[n] = w.ward_id
    found: dict[str, str] = {}
    for _, _, name in _spans(text, names):
        found.setdefault(names[name], name)
    return found


def check_entities(
    answer: str,
    *,
    wards: Sequence[Ward],
    tool_texts: Sequence[str],
    lexicon: Lexicon | None = None,
) -> list[Entity]:
    """Every entity ``answer`` names, each marked grounded when a tool output holds it.

    Args:
        answer: the text to check.
        wards: the hospital's wards (their codes and names are entities too).
        tool_texts: the tool outputs of the turn, as text (JSON dumps).
        lexicon: services, diagnoses, drugs and assertion patterns (default: the packaged one).
    """
    lex = lexicon or load_lexicon()
    held = "\n".join(tool_texts)
    out: list[Entity] = []
    ward_words: set[str] = set()
    for ward_id, words in ward_mentions(answer, wards).items():
        w = next(x for x in wards if x.ward_id == ward_id)
        ok = any(_held(n, held) for n in (w.ward_id, w.name_en, w.name_zh) if n)
        out.append(Entity(words, "ward", ok))
        ward_words.update(n.lower() for n in (w.ward_id, w.name_en, w.name_zh) if n)
    kinds: list[tuple[str, Kind]] = [
        ("services", "service"),
        ("diagnoses", "diagnosis"),
        ("drugs", "drug"),
    ]
    for key, kind in kinds:
        names = lex.names[key]["en"] + lex.names[key]["zh"]
        for _, _, name in _spans(answer, names):
            if name.lower() in ward_words:
                continue  # the hospital's own ward of that name
            out.append(Entity(name, kind, _held(name, held)))
    for m in _ICD.finditer(answer):
        if m.group(0) not in _NOT_CODES:
            out.append(Entity(m.group(0), "code", m.group(0) in held))
    for m in _RECORD.finditer(answer):
        token = m.group(0)
        if token in _NOT_CODES or _ICD.fullmatch(token) or token.lower() in ward_words:
            continue
        if _WORD_DASH_NUMBER.fullmatch(token) and token.split("-")[0].upper() == "COVID":
            continue
        out.append(Entity(token, "record", token in held))
    for pat in lex.assertions:
        for m in pat.finditer(answer):
            out.append(Entity(m.group(0), "assertion", False))
    return out


def ungrounded(entities: Iterable[Entity]) -> list[str]:
    """The names of the entities no tool output holds (and every diagnosis assertion)."""
    return [f"{e.kind}: {e.text}" for e in entities if not e.grounded]
