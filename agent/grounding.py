"""Numeric grounding: every number in an answer must come from a labelled fact of a tool
output of the same turn, or from the user's own message.

Identifiers that contain digits (ward "5B", record "C00042" or "EVAL-INJ-2", quantile "P90")
are not quantities and are skipped; ISO dates must appear in a tool output; a list marker ("1.")
at the start of a line is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_DATE = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)")  # also next to Chinese characters
_IDENT = re.compile(r"(?<![0-9])(?:[A-Za-z]+[0-9][A-Za-z0-9]*|[0-9]+[A-Za-z][A-Za-z0-9]*)(?![0-9])")
# a hyphenated id that ends in digits: "EVAL-INJ-2", "syn-7" (letters first, so "1-7" stays)
_HYPHEN_IDENT = re.compile(r"(?<![A-Za-z0-9-])[A-Za-z]+(?:-[A-Za-z0-9]+)*-[0-9][A-Za-z0-9]*")
_LIST_MARK = re.compile(r"(?m)^\s*\d{1,2}[.)、]\s")
_NUMBER = re.compile(r"(?<![0-9.])\d+(?:,\d{3})*(?:\.\d+)?(?![0-9])(\s*%)?")
_UNITS_WORDS = re.compile(r"(?i)\b(?:covid|icd)-?\d+\b")


@dataclass
class Finding:
    number: str
    source: str  # a fact label, "user message", or "" when ungrounded


@dataclass
class GroundingReport:
    grounded: bool
    findings: list[Finding] = field(default_factory=list)

    @property
    def ungrounded(self) -> list[str]:
        return [f.number for f in self.findings if not f.source]


def _values(facts: list[dict]) -> list[tuple[float, str]]:
    out = []
    for f in facts:
        v = f.get("value")
        if isinstance(v, bool):
            continue
        if isinstance(v, int | float):
            out.append((float(v), f.get("label", "")))
        elif isinstance(v, str):
            for m in _NUMBER.finditer(v):
                out.append((float(m.group(0).rstrip("% ").replace(",", "")), f.get("label", "")))
    return out


def _reading(text: str) -> tuple[float, int]:
    """The quantity ``text`` writes ("1,234.5") and how many decimals it shows."""
    return float(text.replace(",", "")), len(text.split(".")[1]) if "." in text else 0


_HALF = 0.5 + 1e-9


def _matches(n: float, decimals: int, value: float, percent: bool) -> bool:
    """Whether a number written as ``n`` with ``decimals`` decimals says ``value`` (x100 for a
    percent): rounded to what it shows (or equal), or within half a unit when it shows none
    (which covers both of the others, so a whole number takes that one comparison)."""
    for v in (value, value * 100) if percent else (value,):
        if decimals == 0:
            if abs(v - n) < _HALF:
                return True
        elif round(v, decimals) == n or abs(v - n) < 1e-9:
            return True
    return False


def numbers_in(text: str) -> list[tuple[str, bool]]:
    """Quantities in ``text`` as (digits, is_percent), identifiers and dates removed."""
    text = _DATE.sub(" ", text)
    text = _UNITS_WORDS.sub(" ", text)
    text = _HYPHEN_IDENT.sub(" ", text)
    text = _IDENT.sub(" ", text)
    text = _LIST_MARK.sub(" ", text)
    return [(m.group(0).rstrip("% ").strip(), bool(m.group(1))) for m in _NUMBER.finditer(text)]


def _holds_date(text: str, date: str) -> bool:
    """Whether ``text`` writes ``date`` as a whole date, no digit either side (as :data:`_DATE`
    reads one): a search for the few dates an answer quotes, not every date of the tools'
    outputs (a forecast's JSON holds dozens)."""
    i = text.find(date)
    while i != -1:
        j = i + len(date)
        if (i == 0 or not text[i - 1].isdecimal()) and (j == len(text) or not text[j].isdecimal()):
            return True
        i = text.find(date, i + 1)
    return False


def check(
    answer: str, facts: list[dict], user_message: str, tool_texts: list[str]
) -> GroundingReport:
    """Match every number of ``answer`` to a fact (or the user's message)."""
    findings: list[Finding] = []
    dates = _DATE.findall(answer)
    if dates:
        held = "\n".join([*tool_texts, user_message])
        known = {d: _holds_date(held, d) for d in set(dates)}
        findings += [Finding(d, "tool output date" if known[d] else "") for d in dates]
    values = _values(facts)
    user_numbers = {float(n.replace(",", "")) for n, _ in numbers_in(user_message)}
    for number, percent in numbers_in(answer):
        n, decimals = _reading(number)
        source = next((label for v, label in values if _matches(n, decimals, v, percent)), "")
        if not source and n in user_numbers:
            source = "user message"
        findings.append(Finding(number + ("%" if percent else ""), source))
    return GroundingReport(all(f.source for f in findings), findings)
