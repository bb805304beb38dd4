"""Date windows and shifts read from questions, English and Chinese, against fixed days."""

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from agent.resolve import DateWindow, parse_number, resolve_shift, resolve_window

TUE = date(2026, 12, 1)  # a Tuesday
FRI = date(2026, 12, 4)
SAT = date(2026, 12, 5)
SUN = date(2026, 12, 6)


def d(day: int, month: int = 12, year: int = 2026) -> date:
    return date(year, month, day)


def window(text: str, today: date = TUE, **kw) -> DateWindow:
    w = resolve_window(text, today, **kw)
    assert w is not None, text
    return w


# (question, first day, last day) on Tuesday 2026-12-01
TUESDAY_CASES = [
    # single days
    ("How many beds will ICU need today?", d(1), d(1)),
    ("Will cardiology be full tomorrow?", d(2), d(2)),
    ("and the day after tomorrow?", d(3), d(3)),
    ("day after tomorrow", d(3), d(3)),
    ("Friday", d(4), d(4)),
    ("Are we short on Friday?", d(4), d(4)),
    ("this Friday", d(4), d(4)),
    ("this coming Friday", d(4), d(4)),
    ("Tuesday", d(1), d(1)),  # a weekday that is today means today
    ("on Monday", d(7), d(7)),
    ("next Friday", d(11), d(11)),  # Friday of next week, not the coming Friday
    ("Friday next week", d(11), d(11)),
    ("next Monday", d(7), d(7)),
    ("in 3 days", d(4), d(4)),
    ("3 days from now", d(4), d(4)),
    ("on 2026-12-10", d(10), d(10)),
    ("Dec 24th", d(24), d(24)),
    ("on 25 December", d(25), d(25)),
    ("the 5th", d(5), d(5)),
    ("明天", d(2), d(2)),
    ("后天", d(3), d(3)),
    ("大后天", d(4), d(4)),
    ("今天", d(1), d(1)),
    ("周五", d(4), d(4)),
    ("星期五", d(4), d(4)),
    ("礼拜五", d(4), d(4)),
    ("这周五", d(4), d(4)),
    ("周日", d(6), d(6)),
    ("星期天", d(6), d(6)),
    ("下周五", d(11), d(11)),
    ("下下周一", d(14), d(14)),
    ("三天后", d(4), d(4)),
    ("12月25日", d(25), d(25)),
    # weekends, weeks, months
    ("Will we have enough beds this weekend?", d(5), d(6)),
    ("over the weekend", d(5), d(6)),
    ("at the weekend", d(5), d(6)),
    ("next weekend", d(12), d(13)),
    ("这个周末", d(5), d(6)),
    ("周末够不够床", d(5), d(6)),
    ("下周末", d(12), d(13)),
    ("next week", d(7), d(13)),
    ("this week", d(1), d(6)),
    ("the rest of the week", d(1), d(6)),
    ("the week after next", d(14), d(20)),
    ("下周", d(7), d(13)),
    ("下个星期", d(7), d(13)),
    ("下礼拜", d(7), d(13)),
    ("本周", d(1), d(6)),
    ("这周", d(1), d(6)),
    ("下下周", d(14), d(20)),
    # spans from today
    ("the next 5 days", d(1), d(5)),
    ("next 10 days", d(1), d(10)),
    ("over the next fortnight", d(1), d(14)),
    ("next two weeks", d(1), d(14)),
    ("the next week", d(1), d(7)),  # "the next week" is 7 days, "next week" the calendar week
    ("within 3 days", d(1), d(3)),
    ("the next few days", d(1), d(3)),
    ("the next couple of days", d(1), d(2)),
    ("next 48 hours", d(1), d(3)),
    ("a 10-day forecast", d(1), d(10)),
    ("未来两周", d(1), d(14)),
    ("未来10天", d(1), d(10)),
    ("未来十天", d(1), d(10)),
    ("接下来三天", d(1), d(3)),
    ("未来十四天", d(1), d(14)),
    ("未来二十天", d(1), d(20)),
    ("未来一周", d(1), d(7)),
    ("两周内", d(1), d(14)),
    ("未来几天", d(1), d(3)),
    ("这两天", d(1), d(2)),
    ("未来半个月", d(1), d(15)),
    # ranges and open starts
    ("Friday to Sunday", d(4), d(6)),
    ("from Friday through Sunday", d(4), d(6)),
    ("between Thursday and Saturday", d(3), d(5)),
    ("Saturday to Monday", d(5), d(7)),
    ("today and tomorrow", d(1), d(2)),
    ("周五到周日", d(4), d(6)),
    ("从明天到周五", d(2), d(4)),
    ("今明两天", d(1), d(2)),
    ("from tomorrow for 3 days", d(2), d(4)),
    ("明天起三天", d(2), d(4)),
]


@pytest.mark.parametrize(("text", "start", "end"), TUESDAY_CASES)
def test_window_on_a_tuesday(text, start, end):
    w = window(text)
    assert (w.start, w.end) == (start, end)
    assert w.days == (end - start).days + 1
    assert not w.open_ended
    assert not w.beyond_horizon


@pytest.mark.parametrize(
    "text", ["from Wednesday", "starting Wednesday", "Wednesday onwards", "周三起", "从周三开始"]
)
def test_from_a_day_runs_the_default_length_and_says_it_is_open(text):
    w = window(text)
    assert (w.start, w.end) == (d(2), d(8))
    assert w.open_ended


def test_from_a_day_uses_the_default_days_given():
    w = window("from Friday", default_days=3)
    assert (w.start, w.end, w.days) == (d(4), d(6), 3)


# Saturday 2026-12-05 and Sunday 2026-12-06: the weekend is already here
WEEKEND_CASES = [
    (SAT, "this weekend", d(5), d(6)),
    (SAT, "这个周末", d(5), d(6)),
    (SAT, "next weekend", d(12), d(13)),
    (SAT, "下周末", d(12), d(13)),
    (SAT, "Friday", d(11), d(11)),
    (SAT, "next Friday", d(11), d(11)),
    (SAT, "周五", d(11), d(11)),
    (SAT, "this week", d(5), d(6)),
    (SAT, "next week", d(7), d(13)),
    (SAT, "tomorrow", d(6), d(6)),
    (SUN, "this weekend", d(6), d(6)),
    (SUN, "over the weekend", d(6), d(6)),
    (SUN, "周末", d(6), d(6)),
    (SUN, "next weekend", d(12), d(13)),
    (SUN, "next week", d(7), d(13)),
    (SUN, "下周", d(7), d(13)),
    (SUN, "this week", d(6), d(6)),
    (SUN, "本周", d(6), d(6)),
    (SUN, "next Monday", d(7), d(7)),
    (SUN, "Sunday", d(6), d(6)),
    (FRI, "next Friday", d(11), d(11)),
    (FRI, "Friday", d(4), d(4)),
    (FRI, "this weekend", d(5), d(6)),
]


@pytest.mark.parametrize(("today", "text", "start", "end"), WEEKEND_CASES)
def test_window_near_and_on_a_weekend(today, text, start, end):
    w = window(text, today)
    assert (w.start, w.end) == (start, end)


def test_a_date_months_away_is_read_and_flagged():
    w = window("on May 3")
    assert (w.start, w.end, w.beyond_horizon) == (date(2027, 5, 3), date(2027, 5, 3), True)


def test_an_explicit_past_date_is_kept_and_says_so():
    w = window("what happened on 2026-11-20")
    assert w.start == date(2026, 11, 20) and w.past
    assert not window("tomorrow").past


def test_dates_roll_over_the_year():
    w = window("下周", date(2026, 12, 30))
    assert (w.start, w.end) == (date(2027, 1, 4), date(2027, 1, 10))
    assert window("Jan 2nd", date(2026, 12, 30)).start == date(2027, 1, 2)
    assert window("1月2日", date(2026, 12, 30)).start == date(2027, 1, 2)


@pytest.mark.parametrize(
    ("text", "shift", "start"),
    [
        ("tonight", "night", d(1)),
        ("who is on tonight's night shift?", "night", d(1)),
        ("tomorrow night", "night", d(2)),
        ("tomorrow's day shift", "day", d(2)),
        ("Friday evening shift", "evening", d(4)),
        ("this evening", "evening", d(1)),
        ("今晚", "night", d(1)),
        ("明天夜班", "night", d(2)),
        ("明晚", "night", d(2)),
        ("明天白班", "day", d(2)),
        ("明天晚班", "evening", d(2)),
        ("明天小夜班", "evening", d(2)),  # not the night shift although it contains 夜班
        ("周五大夜班", "night", d(4)),
    ],
)
def test_shift_with_its_day(text, shift, start):
    w = window(text)
    assert (w.shift, w.start, w.end) == (shift, start, start)


def test_phrase_holds_the_matched_words():
    assert window("Will cardiology cope this weekend?").phrase == "this weekend"
    assert window("2 RNs off on tonight's night shift").phrase == "tonight's night shift"
    assert window("下周心内科需要多少张床？").phrase == "下周"
    assert window("明天夜班缺几个护士").phrase == "明天夜班"
    assert window("night shift cover, tomorrow please").phrase == "tomorrow … night shift"


def test_whole_days_have_no_shift():
    assert window("next week").shift is None
    assert window("明天").shift is None


@pytest.mark.parametrize(
    "text",
    [
        "How many beds does cardiology have?",
        "心内科有多少张床？",
        "Find similar cases: fever and cough",
        "what limits the plan",
        "the night shift is short",  # a shift without a day
        "夜班缺人",
        "weekends are quieter",  # a habit, not a window
        "our fortnightly meeting",
        "what happened last Friday",
        "every weekend is quiet",
        "over the past weekend",
        "yesterday",
        "上周五收了几个病人",
        "每周五查房",
        "we may 3 times have asked",  # "may" the verb, not the month
        "fever and cough for 3 days",  # a symptom's duration is not a window
        "",
    ],
)
def test_no_time_expression_gives_none(text):
    assert resolve_window(text, TUE) is None


def test_shift_alone():
    assert resolve_shift("the night shift is short") == "night"
    assert resolve_shift("夜班缺人") == "night"
    assert resolve_shift("白班") == "day"
    assert resolve_shift("小夜班") == "evening"
    assert resolve_shift("day shift and night shift") is None  # two shifts: not one
    assert resolve_shift("a fortnight") is None
    assert resolve_shift("how many beds") is None


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("the coming month", 30),
        ("next month", 31),
        ("下个月", 31),
        ("未来一个月", 30),
        ("next 6 weeks", 42),
    ],
)
def test_beyond_the_horizon_is_flagged_not_shrunk(text, days):
    w = window(text)
    assert w.days == days
    assert w.beyond_horizon
    assert w.start == TUE or w.start == date(2027, 1, 1)
    assert w.horizon_end == d(28)
    assert w.end > w.horizon_end


def test_horizon_edge():
    assert not window("the next 28 days").beyond_horizon
    assert window("the next 29 days").beyond_horizon
    assert window("next fortnight", max_days=14).beyond_horizon is False
    assert window("next week", max_days=7).beyond_horizon  # Dec 7-13 ends past Dec 7
    w = window("下个月")
    assert (w.start, w.end) == (date(2027, 1, 1), date(2027, 1, 31))


def test_window_helpers():
    w = window("next week")
    assert w.today == TUE
    assert w.offset == 6
    assert w.horizon == 13  # a forecast of 13 days from today covers Dec 7-13
    assert w.dates() == [d(7) + timedelta(days=k) for k in range(7)]


def test_longest_expression_wins():
    assert window("the day after tomorrow").start == d(3)
    assert window("next weekend or next week").start == d(12)
    assert window("下周五和下周").start == d(11)


def test_window_is_frozen():
    w = window("tomorrow")
    with pytest.raises(ValidationError):
        w.start = d(3)


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("10", 10),
        ("ten", 10),
        ("two", 2),
        ("a couple of", 2),
        ("一", 1),
        ("两", 2),
        ("十", 10),
        ("十四", 14),
        ("二十", 20),
        ("二十八", 28),
        ("一十五", 15),
        ("廿一", 21),
        ("几", 3),
        ("半", 0.5),
        ("many", None),
        ("十十", None),
    ],
)
def test_parse_number(word, value):
    assert parse_number(word) == value


def test_the_point_prefilter_skips_only_what_could_not_match(monkeypatch):
    """A text with no day named as a point skips the expressions that need one; each case
    and fuzzed text resolves to the same window as with every expression scanned."""
    import re

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    import agent.resolve.dates as dates

    def both(text: str, today: date) -> tuple:
        fast = resolve_window(text, today)
        with monkeypatch.context() as m:
            m.setattr(dates, "_POINT_ANYWHERE", re.compile(""))  # finds a point in every text
            full = resolve_window(text, today)
        return fast, full

    cases = [t for t, *_ in TUESDAY_CASES] + [t for _, t, *_ in WEEKEND_CASES]
    cases += ["next week", "the next 7 days", "未来两周", "这个周末", "from Monday to Friday"]
    for text in cases:
        fast, full = both(text, TUE)
        assert fast == full, text
    words = "from to between and on onwards next this the in days week weekend Friday fri"
    words += " tomorrow today Dec 5th 2026-12-05 12月5日 周五 下周 明天 从 到 起 3 two"
    pieces = [*words.split(), " "]
    texts = st.lists(st.sampled_from(pieces), max_size=8).map(" ".join)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(texts, st.sampled_from([str, str.upper, str.title]))
    def same(text, case):
        fast, full = both(case(text), TUE)
        assert fast == full

    same()
    assert dates._POINT_ANYWHERE.search("How many beds will CARD need in the next 7 days?") is None
