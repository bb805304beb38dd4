"""A what-if read from the question's own words, in the plan tool's grammar.

Staff say what-ifs as they happen ("two of the cardio nurses called in sick", "骨科关4张床",
"ICU is down one nurse on the night shift"); the plan tool reads a small English grammar
(:mod:`tools.allocation.whatif`). A small model translating between them drops the ward,
writes the grammar in Chinese or copies the example ward, so the common changes are read here
by code: staff off or added, beds closed or opened. The ward comes from the ward resolver and
the days from the date window, so a change read here names only its kind, amount and ward
(and the shift, when the question names one); it applies on every day of the plan's window.

``read_what_if("心内科明天有两个护士请病假", "CARD")`` gives ``"2 nurses call in sick on CARD"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from agent.resolve.dates import parse_number

__all__ = ["is_what_if", "read_what_if"]

_EN_NUM = (
    r"(\d+|a couple of|a few|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
)
_ZH_NUM = r"([0-9]+|[一二两兩三四五六七八九十几]+)"
_STAFF_EN = r"(?:nurses?|rns?|registered nurses?|staff nurses?|nursing staff)"
_GAP = r"(?:[\w'-]+\s+){0,3}?"  # "of the cardio", "of our", "ICU": a few words between
_ZH_CL = r"\s*(?:个|名|位)?\s*"

# (pattern, kind) in the order tried; kind is one of: sick, more_staff, close_beds, open_beds,
# open_surge. The count is the pattern's first group.
_RULES: list[tuple[re.Pattern[str], str]] = [
    # staff off: "two of the cardio nurses have called in sick", "3 RNs off sick",
    # "ICU is down one nurse", "two nurses short", "short of 2 nurses", "lose 2 nurses"
    (
        re.compile(
            rf"\b{_EN_NUM}\s+{_GAP}{_STAFF_EN}\b[^.?!;]{{0,30}}?"
            r"\b(?:sick|off|absent|short|missing|out|unavailable|down|isolating)\b",
            re.I,
        ),
        "sick",
    ),
    (
        re.compile(
            rf"\b(?:down|short|lose|losing|lost|minus|without)\s+(?:of\s+|by\s+)?{_EN_NUM}\s+"
            rf"{_GAP}{_STAFF_EN}\b",
            re.I,
        ),
        "sick",
    ),
    (re.compile(rf"\b{_EN_NUM}\s+fewer\s+{_GAP}{_STAFF_EN}\b", re.I), "sick"),
    # staff added: "3 extra nurses", "two agency RNs"
    (
        re.compile(
            rf"\b{_EN_NUM}\s+(?:more|extra|additional|agency|bank)\s+{_GAP}{_STAFF_EN}\b", re.I
        ),
        "more_staff",
    ),
    # surge beds: "open 4 surge beds", "add two escalation beds"
    (
        re.compile(
            rf"\b(?:open|opening|add|adding|put up)\s+{_EN_NUM}\s+(?:more\s+|extra\s+)?"
            r"(?:surge|escalation|overflow|temporary|extra)\s+beds?\b",
            re.I,
        ),
        "open_surge",
    ),
    # beds closed: "shut 4 beds", "lose 3 respiratory beds", "closes 5 beds"
    (
        re.compile(
            rf"\b(?:shut|shuts|shutting|close|closes|closing|closed|lose|loses|losing|lost"
            rf"|take out|taking out|block|blocking|blocked)\s+{_GAP}{_EN_NUM}\s+{_GAP}beds?\b",
            re.I,
        ),
        "close_beds",
    ),
    (
        re.compile(
            rf"\b{_EN_NUM}\s+{_GAP}beds?\s+(?:are\s+|get\s+|being\s+)?"
            r"(?:closed|shut|out of use|out of action|blocked|lost|down)\b",
            re.I,
        ),
        "close_beds",
    ),
    # beds opened: "open 4 more beds", "add two beds"
    (
        re.compile(
            rf"\b(?:open|opens|opening|add|adds|adding)\s+{_EN_NUM}\s+(?:more\s+|extra\s+)?"
            r"(?:regular\s+)?beds?\b",
            re.I,
        ),
        "open_beds",
    ),
    # Chinese: staff off ("两个护士请病假", "少一个护士", "护士缺两个")
    (
        re.compile(
            rf"{_ZH_NUM}{_ZH_CL}护士\s*(?:都|要|会|已经|又|同时|一起|突然|全|临时)*\s*"
            r"(?:请病假|请假|病假|生病|病了|缺勤|休假|来不了|不能来|没法来|隔离)"
        ),
        "sick",
    ),
    (re.compile(rf"(?:少|缺|减少|少了|缺了|差){_ZH_NUM}{_ZH_CL}护士"), "sick"),
    (re.compile(rf"护士\s*(?:少|缺|差)了?\s*{_ZH_NUM}\s*(?:个|名|位)"), "sick"),
    # Chinese: staff added ("多派两个护士", "增加3名护士")
    (
        re.compile(rf"(?:多|加|增加|增派|多派|加派|调来|支援){_ZH_NUM}{_ZH_CL}护士"),
        "more_staff",
    ),
    # Chinese: surge beds ("加开4张临时床", "开3张加床")
    (
        re.compile(
            rf"(?:加开|多开|增开|开|加|增加){_ZH_NUM}\s*张\s*(?:临时|应急|加)\s*(?:床|病床|床位)"
        ),
        "open_surge",
    ),
    # Chinese: beds closed ("关4张床", "停用3张床", "3张床要停用")
    (
        re.compile(
            rf"(?:关|关闭|关掉|停用|停掉|停|封|封闭|减少|少|撤|撤掉|占用)了?\s*{_ZH_NUM}\s*张\s*"
            r"(?:床|病床|床位)"
        ),
        "close_beds",
    ),
    (
        re.compile(rf"{_ZH_NUM}\s*张\s*(?:床|病床|床位)\s*(?:要|会|得)?\s*(?:停用|关闭|关掉|封)"),
        "close_beds",
    ),
    # Chinese: beds opened ("加开4张床", "多开两张床")
    (
        re.compile(rf"(?:加开|多开|增开|新开|开放|增加|加){_ZH_NUM}\s*张\s*(?:床|病床|床位)"),
        "open_beds",
    ),
]

_TEMPLATES: dict[str, Callable[[int, str], str]] = {
    "sick": lambda n, w: (
        f"{n} nurse calls in sick on {w}" if n == 1 else f"{n} nurses call in sick on {w}"
    ),
    "more_staff": lambda n, w: f"{n} more nurses on {w}",
    "close_beds": lambda n, w: f"close {n} beds on {w}",
    "open_beds": lambda n, w: f"open {n} beds on {w}",
    "open_surge": lambda n, w: f"open {n} surge beds on {w}",
}


def _count(token: str) -> int | None:
    value = parse_number(token)
    if value is None or value < 1 or value != int(value):
        return None
    return int(value)


def _changes(question: str) -> list[tuple[str, int]]:
    """Every (kind, count) the question states, in the order of the rules, each kind once."""
    found: list[tuple[str, int]] = []
    kinds: set[str] = set()
    for pattern, kind in _RULES:
        if kind in kinds:
            continue
        m = pattern.search(question)
        if m and (n := _count(m.group(1))) is not None:
            found.append((kind, n))
            kinds.add(kind)
    if "open_surge" in kinds:  # "open 4 surge beds" also reads as "open 4 beds"
        found = [c for c in found if c[0] != "open_beds"]
    return found


def is_what_if(question: str) -> bool:
    """True when the question states a change the plan tool can apply (staff off or added,
    beds closed or opened), whether or not it names the ward."""
    return bool(_changes(question))


def read_what_if(question: str, ward_id: str | None, shift: str | None = None) -> str | None:
    """The what-if the question states, in the plan tool's grammar, or None.

    Args:
        question: the staff question, English or Chinese.
        ward_id: the ward the question is about (from the ward resolver); None: no what-if
            can be written (the grammar needs a ward for every change read here).
        shift: the shift the question names ("day", "evening", "night"), for staff changes.

    Returns:
        The changes joined by "; " (for example ``"2 nurses call in sick on ICU night
        shift"``), or None when the question states none or names no ward.
    """
    if not ward_id:
        return None
    parts = []
    for kind, n in _changes(question):
        text = _TEMPLATES[kind](n, ward_id)
        if shift and kind in ("sick", "more_staff"):
            text = f"{text} {shift} shift"
        parts.append(text)
    return "; ".join(parts) or None
