"""Date windows and shifts read from a staff question, in English and Chinese.

``resolve_window("will cardiology cope this weekend?", today)`` returns the explicit days the
question is about (``start`` to ``end``, both inclusive) and the shift it names, so a tool answers
for exactly those days and the model never counts days itself.

Conventions (the choices a hospital user's words leave open):

- Weeks run Monday to Sunday. "this week" / "本周" is today to Sunday; "next week" / "下周" is
  next Monday to Sunday (on a Sunday that starts tomorrow).
- A bare weekday ("Friday", "on Friday", "this Friday", "周五", "本周五") is its next occurrence,
  today included. "next Friday" / "下周五" / "Friday next week" is the Friday of next week: on a
  Tuesday that is 10 days away, not the coming Friday (staff say "this Friday" or "Friday" for
  that one, and "next" marks the other). On a Saturday or Sunday both readings agree.
- "this weekend" / "周末" is the coming Saturday and Sunday, or today to Sunday when today is a
  Saturday or a Sunday; "next weekend" / "下周末" is the weekend of next week.
- "the next N days" starts today (day 1 of a forecast whose history ends yesterday); "the next
  week" / "the coming month" (with "the") are 7 / 30 days from today, while bare "next month" /
  "下个月" is the next calendar month. A fortnight is 14 days, a month 30, "a few" days 3,
  "N hours" the days those hours touch (24 hours: today and tomorrow).
- "from Wednesday" / "周三起" starts on that day and runs ``default_days`` days
  (``open_ended=True``: the user gave no end).
- A window that reaches past ``today + max_days - 1`` is returned whole with
  ``beyond_horizon=True`` and ``horizon_end``, never shrunk, so the caller can tell the user how far
  the tools see.
- "tonight" / "今晚" is today's night shift, "tomorrow night" / "明晚" tomorrow's. A shift named
  without a day ("the night shift") gives no window: :func:`resolve_shift` reads it alone.
- Several expressions in one question: the longest one wins ("the day after tomorrow" over
  "tomorrow", "下周五" over "下周").
- Past and recurring days are not windows: "last Friday", "every weekend", "上周五", "每周五",
  "yesterday" give none. An explicit date ("2026-11-20") is read as written; ``past`` says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

Shift = Literal["day", "evening", "night"]

__all__ = ["DateWindow", "Shift", "parse_number", "resolve_shift", "resolve_window"]


class DateWindow(BaseModel):
    """Explicit days (and optionally one shift) that a question is about.

    Attributes:
        start: first day of the window.
        end: last day of the window (inclusive).
        shift: the shift the question names, or None for whole days.
        phrase: the words of the question the window was read from.
        today: the reference day the window was resolved against.
        open_ended: the user gave a start but no end ("from Wednesday"); ``end`` is the default.
        beyond_horizon: the window ends after ``horizon_end``; it is not shrunk.
        horizon_end: the last day the tools can answer for (today + max_days - 1).
    """

    model_config = ConfigDict(frozen=True)

    start: date
    end: date
    shift: Shift | None = None
    phrase: str
    today: date
    open_ended: bool = False
    beyond_horizon: bool = False
    horizon_end: date

    @property
    def days(self) -> int:
        """Number of days in the window, both ends included."""
        return (self.end - self.start).days + 1

    @property
    def horizon(self) -> int:
        """Days ahead a forecast must reach to cover the window (today is day 1)."""
        return (self.end - self.today).days + 1

    @property
    def offset(self) -> int:
        """Days from today to the window's first day (0 when it starts today)."""
        return (self.start - self.today).days

    @property
    def past(self) -> bool:
        """The window starts before today (only an explicit date such as "2026-11-20" does)."""
        return self.start < self.today

    def dates(self) -> list[date]:
        """Every day of the window, in order."""
        return [self.start + timedelta(days=k) for k in range(self.days)]


# ---------------------------------------------------------------- numbers

_EN_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "couple": 2,
    "couple of": 2,
    "few": 3,
    "several": 3,
}
_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6}
_CN_DIGITS |= {"七": 7, "八": 8, "九": 9}


_SPACES = re.compile(r"\s+")


def parse_number(word: str) -> float | None:
    """Read a count written in digits, English words or Chinese numerals.

    Args:
        word: "10", "ten", "a couple of", "十四", "两", "二十八", "几" (a few: 3) or "半" (0.5).

    Returns:
        The number, or None when ``word`` is not one.
    """
    w = _SPACES.sub(" ", word.strip().lower())
    if w.startswith("a ") and w != "a":
        w = w[2:]
    if not w:
        return None
    if w.isdigit():
        return float(int(w))
    if w in _EN_NUMBERS:
        return float(_EN_NUMBERS[w])
    if w in ("几", "幾"):
        return 3.0
    if w == "半":
        return 0.5
    if w.startswith("廿"):
        rest = parse_number(w[1:]) if len(w) > 1 else 0.0
        return None if rest is None else 20.0 + rest
    if w.startswith("一") and len(w) > 1 and w[1] == "十":
        w = w[1:]
    if "十" in w:
        tens, _, ones = w.partition("十")
        if "十" in ones:
            return None
        t = 1 if not tens else _CN_DIGITS.get(tens)
        o = 0 if not ones else _CN_DIGITS.get(ones)
        if t is None or o is None:
            return None
        return float(t * 10 + o)
    if len(w) == 1 and w in _CN_DIGITS:
        return float(_CN_DIGITS[w])
    return None


# ---------------------------------------------------------------- points

_WEEKDAYS_EN = {
    "monday": 0,
    "tuesday": 1,
    "tues": 1,
    "wednesday": 2,
    "weds": 2,
    "thursday": 3,
    "thurs": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
_WEEKDAYS_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEKDAYS_ZH |= {str(k + 1): k for k in range(7)}
_MONTHS_EN = {
    m: i + 1
    for i, names in enumerate(
        [
            "january jan",
            "february feb",
            "march mar",
            "april apr",
            "may",
            "june jun",
            "july jul",
            "august aug",
            "september sept sep",
            "october oct",
            "november nov",
            "december dec",
        ]
    )
    for m in names.split()
}

_WD_EN = r"(?:monday|tuesday|tues|wednesday|weds|thursday|thurs|friday|saturday|sunday)"
_MONTH_EN = r"(?:" + "|".join(sorted(_MONTHS_EN, key=len, reverse=True)) + r")\.?"
_ORD = r"(?:st|nd|rd|th)?"
_WEEK_ZH = r"(?:周|週|星期|礼拜|禮拜)"
_WD_ZH = _WEEK_ZH + r"[一二三四五六日天1-7]"

_POINT_EN = (
    r"(?:the\s+)?day\s+after\s+tomorrow|tomorrow|today|tonight|this\s+(?:morning|afternoon|evening)"
    r"|(?:(?:this|next|coming|this\s+coming|the\s+coming)\s+)?" + _WD_EN + r"(?:\s+(?:of\s+)?"
    r"(?:this|next)\s+week)?"
    r"|\d{4}-\d{1,2}-\d{1,2}"
    r"|" + _MONTH_EN + r"\s+\d{1,2}" + _ORD + r"(?!\d)"
    r"|(?:the\s+)?\d{1,2}" + _ORD + r"\s+(?:of\s+)?" + _MONTH_EN + r"(?![a-z])"
    r"|the\s+\d{1,2}(?:st|nd|rd|th)"
)
_POINT_ZH = (
    r"大后天|大後天|后天|後天|明天|明日|明晚|明早|今天|今日|今晚|今夜|今早"
    r"|(?:本|这|這|这个|這個|下下个?|下下個|下个|下個|下一个|下一個|下)?"
    + _WD_ZH
    + r"|\d{1,2}月\d{1,2}[日号號]"
)
_POINT = r"(?:" + _POINT_EN + r"|" + _POINT_ZH + r")"


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _next_weekday(today: date, weekday: int, weeks_ahead: int) -> date:
    """``weeks_ahead=0``: next occurrence, today included; ``n>0``: that day of the week n on."""
    if weeks_ahead == 0:
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    return _monday(today) + timedelta(days=7 * weeks_ahead + weekday)


def _month_day(today: date, month: int, day: int) -> date | None:
    for year in (today.year, today.year + 1):
        try:
            d = date(year, month, day)
        except ValueError:
            return None
        if d >= today:
            return d
    return None


# Compiled once (the serve process's other code pushes patterns given as text out of
# ``re``'s cache of 512, and a turn would compile them again).
_MAY_VERB = re.compile(r"(?<![A-Za-z])may\b")
_DAY_AFTER_TOMORROW = re.compile(r"(?:the )?day after tomorrow")
_WEEKDAY_EN = re.compile(
    r"(?:(this|next|coming|this coming|the coming) )?(" + _WD_EN + r")"
    r"(?: (?:of )?(this|next) week)?"
)
_WEEKDAY_ZH = re.compile(
    r"(本|这|這|这个|這個|下下个?|下下個|下个|下個|下一个|下一個|下)?" + _WD_ZH
)
_ISO_DAY = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_MONTH_DAY_ZH = re.compile(r"(\d{1,2})月(\d{1,2})[日号號]")
_MONTH_DAY_EN = re.compile(r"(" + _MONTH_EN + r") (\d{1,2})" + _ORD)
_DAY_MONTH_EN = re.compile(r"(?:the )?(\d{1,2})" + _ORD + r" (?:of )?(" + _MONTH_EN + r")")
_THE_NTH = re.compile(r"the (\d{1,2})(?:st|nd|rd|th)")


def _parse_point(text: str, today: date) -> date | None:
    """The day a point expression ("Friday", "明天", "12月5日") names, or None."""
    if _MAY_VERB.search(text):  # the verb; the month is written "May"
        return None
    s = _SPACES.sub(" ", text.strip().lower())
    fixed = {
        "today": 0,
        "tonight": 0,
        "this morning": 0,
        "this afternoon": 0,
        "this evening": 0,
        "今天": 0,
        "今日": 0,
        "今晚": 0,
        "今夜": 0,
        "今早": 0,
        "tomorrow": 1,
        "明天": 1,
        "明日": 1,
        "明晚": 1,
        "明早": 1,
        "后天": 2,
        "後天": 2,
        "大后天": 3,
        "大後天": 3,
    }
    if s in fixed:
        return today + timedelta(days=fixed[s])
    if _DAY_AFTER_TOMORROW.fullmatch(s):
        return today + timedelta(days=2)
    m = _WEEKDAY_EN.fullmatch(s)
    if m:
        mod, wd, week = m.groups()
        weeks = 1 if (mod == "next" or week == "next") else 0
        return _next_weekday(today, _WEEKDAYS_EN[wd], weeks)
    m = _WEEKDAY_ZH.fullmatch(s)
    if m:
        mod = m.group(1) or ""
        weeks = 2 if mod.startswith("下下") else 1 if mod.startswith("下") else 0
        return _next_weekday(today, _WEEKDAYS_ZH[s[-1]], weeks)
    m = _ISO_DAY.fullmatch(s)
    if m:
        try:
            return date(*(int(g) for g in m.groups()))
        except ValueError:
            return None
    m = _MONTH_DAY_ZH.fullmatch(s)
    if m:
        return _month_day(today, int(m.group(1)), int(m.group(2)))
    m = _MONTH_DAY_EN.fullmatch(s)
    if m:
        return _month_day(today, _MONTHS_EN[m.group(1).rstrip(".")], int(m.group(2)))
    m = _DAY_MONTH_EN.fullmatch(s)
    if m:
        return _month_day(today, _MONTHS_EN[m.group(2).rstrip(".")], int(m.group(1)))
    m = _THE_NTH.fullmatch(s)
    if m:
        day = int(m.group(1))
        d = _month_day(today, today.month, day)
        if d is not None and d.month == today.month:
            return d
        nxt = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
        return _month_day(nxt, nxt.month, day)
    return None


# ---------------------------------------------------------------- expressions

_NUM_EN = (
    r"(?:\d{1,3}|a\s+couple\s+of|couple\s+of|a\s+few|few|several|"
    + "|".join(sorted((k for k in _EN_NUMBERS if " " not in k), key=len, reverse=True))
    + r")"
)
_NUM_ZH = r"(?:\d{1,3}|[一二两兩三四五六七八九十廿]{1,3}|几|幾|半)"
_UNIT_EN = r"(?:days?|weeks?|fortnights?|months?|hours?)"
_UNIT_ZH = r"(?:天|日|周|週|星期|礼拜|禮拜|个月|個月|月|小时|小時)"

Span = tuple[date, date, bool]  # start, end, open_ended
Handler = Callable[[re.Match[str], date, int], Span | None]


def _unit_days(unit: str, n: float) -> int:
    u = unit.lower()
    if u.startswith(("hour", "小时", "小時")):
        return math.ceil(n / 24) + 1
    if u.startswith("fortnight"):
        per = 14
    elif u.startswith(("week", "周", "週", "星期", "礼拜", "禮拜")):
        per = 7
    elif u.startswith(("month", "个月", "個月", "月")):
        per = 30
    else:
        per = 1
    return max(1, round(n * per))


def _count(m: re.Match[str]) -> float:
    n = m.groupdict().get("n")
    if not n:
        return 1.0
    value = parse_number(n)
    return 1.0 if value is None else value


def _span(today: date, days: int) -> Span:
    return today, today + timedelta(days=days - 1), False


def _h_point(m: re.Match[str], today: date, default_days: int) -> Span | None:
    d = _parse_point(m.group(0), today)
    return None if d is None else (d, d, False)


def _h_range(m: re.Match[str], today: date, default_days: int) -> Span | None:
    a = _parse_point(m.group("a"), today)
    b = _parse_point(m.group("b"), today)
    if a is None or b is None:
        return None
    if b < a:  # "Saturday to Monday": the Monday after that Saturday
        b = _parse_point(m.group("b"), a)
        if b is None or b < a:
            return None
    return a, b, False


def _h_pair(m: re.Match[str], today: date, default_days: int) -> Span | None:
    """ "today and tomorrow": a range only when the two days are consecutive."""
    span = _h_range(m, today, default_days)
    if span is None or (span[1] - span[0]).days != 1:
        return None
    return span


def _h_from(m: re.Match[str], today: date, default_days: int) -> Span | None:
    a = _parse_point(m.group("a"), today)
    if a is None:
        return None
    if m.groupdict().get("u"):
        return a, a + timedelta(days=_unit_days(m.group("u"), _count(m)) - 1), False
    return a, a + timedelta(days=default_days - 1), True


def _h_next_n(m: re.Match[str], today: date, default_days: int) -> Span | None:
    unit = m.group("u").lower()
    bare = not m.groupdict().get("n") and m.group(0).lower().startswith("next")
    if bare and unit in ("week", "month"):  # "next week" is the calendar week: see _h_week
        return None
    if unit == "day" and not m.groupdict().get("n"):  # "the next day" is tomorrow
        d = today + timedelta(days=1)
        return d, d, False
    return _span(today, _unit_days(unit, _count(m)))


def _h_in_n(m: re.Match[str], today: date, default_days: int) -> Span | None:
    days = _unit_days(m.group("u"), _count(m))
    if m.group("u").lower().startswith(("hour", "小时", "小時")):
        return None
    d = today + timedelta(days=days)
    return d, d, False


def _h_fixed(days: int) -> Handler:
    return lambda m, today, default_days: _span(today, days)


def _h_offsets(first: int, last: int) -> Handler:
    return lambda m, today, default_days: (
        today + timedelta(days=first),
        today + timedelta(days=last),
        False,
    )


def _h_weekend(weeks: int) -> Handler:
    def handler(m: re.Match[str], today: date, default_days: int) -> Span:
        sat = _monday(today) + timedelta(days=5 + 7 * weeks)
        sun = sat + timedelta(days=1)
        return max(sat, today), sun, False

    return handler


def _h_week(weeks: int) -> Handler:
    def handler(m: re.Match[str], today: date, default_days: int) -> Span:
        mon = _monday(today) + timedelta(days=7 * weeks)
        return max(mon, today), mon + timedelta(days=6), False

    return handler


def _h_month(months: int) -> Handler:
    def handler(m: re.Match[str], today: date, default_days: int) -> Span:
        first = today.replace(day=1)
        for _ in range(months):
            first = (first + timedelta(days=32)).replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        return max(first, today), last, False

    return handler


def _h_zh_month(m: re.Match[str], today: date, default_days: int) -> Span | None:
    return _h_month(1 if m.group(0).startswith("下") else 0)(m, today, default_days)


def _h_zh_days(m: re.Match[str], today: date, default_days: int) -> Span:
    return _span(today, 2 if ("两" in m.group(0) or "兩" in m.group(0)) else 3)


def _h_in_n_en(m: re.Match[str], today: date, default_days: int) -> Span | None:
    n, u = (m.group("n"), m.group("u")) if m.group("u") else (m.group("n2"), m.group("u2"))
    value = parse_number(n)
    d = today + timedelta(days=_unit_days(u, 1.0 if value is None else value))
    return d, d, False


_FROM_EN = r"(?:from|starting(?:\s+(?:from|on))?|beginning(?:\s+(?:from|on))?|as\s+of|effective)"
_FOR_N_EN = (
    r"\s+for\s+(?:the\s+(?:next|following)\s+)?(?P<n>" + _NUM_EN + r")\s+(?P<u>" + _UNIT_EN + ")"
)
_NEXT_EN = r"(?:next|coming|following|upcoming)"
_B = r"(?<![a-z0-9])"  # an English word starts here
_E = r"(?![a-z0-9])"  # and ends here

_EXPRESSIONS: list[tuple[str, Handler]] = [
    # ranges between two days
    (_B + r"between\s+(?P<a>" + _POINT + r")\s+and\s+(?P<b>" + _POINT + r")", _h_range),
    (
        r"(?:(?:from|从|自|由)\s*)?(?P<a>" + _POINT + r")\s*"
        r"(?:to|until|till|through|thru|-|–|—|~|～|到|至|－)\s*(?P<b>" + _POINT + r")",
        _h_range,
    ),
    (r"(?P<a>" + _POINT + r")\s*(?:and|&|和|与|及)\s*(?P<b>" + _POINT + r")", _h_pair),
    (r"今明(?:两|兩)?[天日]?", _h_offsets(0, 1)),
    (r"明后(?:两|兩)?[天日]", _h_offsets(1, 2)),
    # a start and no end, or a start and a length
    (_B + _FROM_EN + r"\s+(?P<a>" + _POINT + r")" + _FOR_N_EN, _h_from),
    (_B + _FROM_EN + r"\s+(?P<a>" + _POINT + r")(?:\s+on(?:wards?)?" + _E + r")?", _h_from),
    (r"(?P<a>" + _POINT + r")\s+on(?:wards?)?" + _E, _h_from),
    (
        r"(?:从|自|由)?(?P<a>" + _POINT + r")(?:起|开始|開始)(?:的|往后|往後|之后|之後)?"
        r"(?P<n>" + _NUM_ZH + r")(?:个|個)?(?P<u>" + _UNIT_ZH + r")",
        _h_from,
    ),
    (r"(?:从|自|由)(?P<a>" + _POINT + r")(?:起|开始|開始)?", _h_from),
    (r"(?P<a>" + _POINT + r")(?:起|开始|開始)", _h_from),
    # weekends, weeks, months
    (
        _B + r"(?:(?:this|this\s+coming|the|over\s+the|on\s+the|at\s+the)\s+)?weekend(?!s)" + _E,
        _h_weekend(0),
    ),
    (
        _B + r"(?:(?:the\s+)?(?:next|following)\s+weekend|the\s+weekend\s+after\s+next)",
        _h_weekend(1),
    ),
    (r"(?:这个|這個|这|這|本)?(?:周末|週末)", _h_weekend(0)),
    (r"下(?:个|個|一个|一個)?(?:周末|週末)", _h_weekend(1)),
    (r"下下(?:个|個)?(?:周末|週末)", _h_weekend(2)),
    (
        _B + r"(?:this\s+week|(?:the\s+)?rest\s+of\s+(?:this|the)\s+week|later\s+this\s+week)" + _E,
        _h_week(0),
    ),
    (_B + r"next\s+week" + _E, _h_week(1)),
    (_B + r"the\s+week\s+after\s+next" + _E, _h_week(2)),
    (r"(?:本|这个|這個|这|這)" + _WEEK_ZH + r"|本周内|这周内", _h_week(0)),
    (r"下(?:个|個|一个|一個|一)?" + _WEEK_ZH, _h_week(1)),
    (r"下下(?:个|個)?" + _WEEK_ZH, _h_week(2)),
    (_B + r"(?:this\s+month|(?:the\s+)?rest\s+of\s+(?:this|the)\s+month)" + _E, _h_month(0)),
    (_B + r"next\s+month" + _E, _h_month(1)),
    (r"本月|这个月|這個月|下(?:个|個)?月", _h_zh_month),
    # spans from today
    (
        _B
        + r"(?:the\s+)?"
        + _NEXT_EN
        + r"\s+(?:(?P<n>"
        + _NUM_EN
        + r")\s+)?(?P<u>"
        + _UNIT_EN
        + r")"
        r"(?!\s+(?:of|after))" + _E,
        _h_next_n,
    ),
    (
        _B + r"within\s+(?:the\s+next\s+)?(?P<n>" + _NUM_EN + r")\s+(?P<u>" + _UNIT_EN + r")" + _E,
        _h_next_n,
    ),
    (_B + r"(?:(?:this|a)\s+)fortnight" + _E, _h_fixed(14)),
    (
        r"(?<![0-9])(?P<n>\d{1,2})[-\s](?P<u>day)\s+(?:forecast|outlook|window|horizon|plan)",
        _h_next_n,
    ),
    (
        r"(?:未来|未來|接下来|接下來|今后|今後|往后|往後|之后|之後|随后|隨後|后面|後面|以后|以後)的?"
        r"(?P<n>" + _NUM_ZH + r")(?:个|個)?(?P<u>" + _UNIT_ZH + r")",
        _h_next_n,
    ),
    (
        r"(?P<n>" + _NUM_ZH + r")(?:个|個)?(?P<u>" + _UNIT_ZH + r")(?:内|內|以内|以內|之内|之內)",
        _h_next_n,
    ),
    (r"这两天|這兩天|这几天|這幾天|近几天|近幾天", _h_zh_days),
    # single days
    (
        _B
        + r"in\s+(?P<n>"
        + _NUM_EN
        + r")\s+(?P<u>days?|weeks?)(?:'?\s*time)?"
        + _E
        + r"|"
        + _B
        + r"(?P<n2>"
        + _NUM_EN
        + r")\s+(?P<u2>days?|weeks?)\s+from\s+(?:now|today)",
        _h_in_n_en,
    ),
    (
        r"(?P<n>"
        + _NUM_ZH
        + r")(?:个|個)?(?P<u>天|周|週|星期|礼拜|个月|個月)(?:后|後|以后|以後|之后|之後)",
        _h_in_n,
    ),
    (r"(?<![a-z])(?:" + _POINT_EN + r")" + _E + r"|" + _POINT_ZH, _h_point),
]


_COMPILED = [(re.compile(p, re.IGNORECASE), h) for p, h in _EXPRESSIONS]
# A day named as a point ("Friday", "tomorrow", "明天", "12月5日"): every match of the
# expressions marked True holds one, so a text with none skips them. They are most of the
# scan's cost (a 40-way alternation tried at every character), and most questions ("next
# week", "the next 7 days", "这个周末") name no such day.
_POINT_ANYWHERE = re.compile(_POINT, re.IGNORECASE)
_NEEDS_POINT = [
    f"(?P<a>{_POINT})" in p or p.startswith(f"(?<![a-z])(?:{_POINT_EN})") for p, _ in _EXPRESSIONS
]
# "last Friday", "every weekend", "上周五", "每周五": a past or recurring day, not a window
_NOT_AHEAD = re.compile(
    r"(?:(?<![a-z])(?:last|previous|past|every|each)\s+|[上每])$", re.IGNORECASE
)

# ---------------------------------------------------------------- shifts

_SHIFTS: list[tuple[str, Shift]] = [
    (r"小夜班|小夜|晚班|中班|傍晚|今天傍晚", "evening"),
    (_B + r"(?:evenings?|late\s+shifts?|lates)(?:\s+shifts?)?" + _E, "evening"),
    (r"大夜班|夜班|大夜|夜间|夜間|夜里|夜裡|今晚|明晚|今夜|晚上|夜晚|通宵", "night"),
    (
        _B + r"(?:night(?:s|\s+shifts?)?|overnight|tonight(?:'s)?|night-?time)" + _E,
        "night",
    ),
    (r"白班|白天|早班|日班|明早|今早|上午|早上", "day"),
    (
        _B
        + r"(?:day\s*shifts?|days\s+shift|daytime|early\s+shifts?|mornings?(?:\s+shifts?)?)"
        + _E,
        "day",
    ),
]
_SHIFTS_COMPILED = [(re.compile(p, re.IGNORECASE), s) for p, s in _SHIFTS]


def _find_shift(text: str) -> tuple[Shift | None, tuple[int, int] | None]:
    """The one shift the text names and where (first to last mention), or (None, None)."""
    found = [
        (m.start(), m.end(), shift)
        for pattern, shift in _SHIFTS_COMPILED
        for m in pattern.finditer(text)
    ]
    kept: list[tuple[int, int, Shift]] = []
    for a, b, shift in sorted(found, key=lambda t: (-(t[1] - t[0]), t[0])):
        if all(b <= ka or a >= kb for ka, kb, _ in kept):  # longest of overlapping matches
            kept.append((a, b, shift))
    kept.sort()
    if len({s for *_, s in kept}) != 1:
        return None, None
    return kept[0][2], (kept[0][0], kept[-1][1])


def resolve_shift(text: str) -> Shift | None:
    """The shift a question names, with or without a day.

    Args:
        text: the staff question, English or Chinese.

    Returns:
        "day", "evening" or "night"; None when no shift is named or several different ones are.
    """
    return _find_shift(text)[0]


def resolve_window(
    text: str, today: date, *, default_days: int = 7, max_days: int = 28
) -> DateWindow | None:
    """Read the days (and shift) a question is about as an explicit window.

    Args:
        text: the staff question, English or Chinese.
        today: the day the question is asked (the reference for "tomorrow", "Friday", ...).
        default_days: length of an open window ("from Wednesday") in days.
        max_days: how many days ahead the tools can answer, today being day 1; a window that
            ends later is returned whole with ``beyond_horizon=True``.

    Returns:
        The window, or None when the question has no time expression (a shift alone, such as
        "the night shift", is not one: see :func:`resolve_shift`).
    """
    found: list[tuple[int, int, Span]] = []
    no_point = _POINT_ANYWHERE.search(text) is None
    for (pattern, handler), needs_point in zip(_COMPILED, _NEEDS_POINT, strict=True):
        if needs_point and no_point:
            continue
        for m in pattern.finditer(text):
            if _NOT_AHEAD.search(text, 0, m.start()):
                continue
            span = handler(m, today, default_days)
            if span is not None and m.end() > m.start():
                found.append((m.start(), m.end(), span))
    if not found:
        return None
    a, b, payload = max(found, key=lambda t: (t[1] - t[0], -t[0]))
    start, end, open_ended = payload
    shift, shift_at = _find_shift(text)
    phrase = text[a:b].strip()
    if shift_at is not None and not (a <= shift_at[0] and shift_at[1] <= b):
        lo, hi = min(a, shift_at[0]), max(b, shift_at[1])
        gap = (shift_at[0] - b) if shift_at[0] >= b else (a - shift_at[1])
        if gap <= 4:
            phrase = text[lo:hi].strip()
        else:
            phrase = f"{phrase} … {text[shift_at[0] : shift_at[1]].strip()}"
    horizon_end = today + timedelta(days=max_days - 1)
    return DateWindow(
        start=start,
        end=end,
        shift=shift,
        phrase=phrase,
        today=today,
        open_ended=open_ended,
        beyond_horizon=end > horizon_end,
        horizon_end=horizon_end,
    )
