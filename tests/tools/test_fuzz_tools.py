"""Property-based tests of what the model (or a user) hands the tool layer: the what-if
grammar and tool arguments as arbitrary JSON.

The property: any input gives a valid result or a :class:`~tools.result.ToolError` with a
code and a message, never another exception. Examples are derandomized so CI sees the
same ones.
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_allocation import START, ward

from tools.allocation import parse_what_if
from tools.allocation.instance import build_instance
from tools.allocation.whatif import WEEKDAYS, apply_changes
from tools.registry import SCHEMAS, call_tool, validate_arguments
from tools.result import ToolError

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _instance(n_days: int = 7):
    wards = [ward("5B", beds=10, rn=3), ward("3A", beds=12, rn=4), ward("ICU", "icu", ratio=2)]
    demand = {"5B": [5] * n_days, "3A": [5] * n_days, "ICU": [4] * n_days}
    return build_instance(wards, {"plan": demand}, START)


INST = _instance()

# ------------------------------------------------------------------ the what-if grammar

_number = st.one_of(
    st.integers(0, 30).map(str),
    st.integers(0, 10**40).map(str),
    st.sampled_from(["a", "an", "one", "twenty", "zero", "-3", "2.5"]),
)
_day = st.one_of(
    st.sampled_from([*WEEKDAYS, "fri", "tues", "thurs", "sun"]),
    st.integers(-2, 10**30).map(lambda n: f"day {n}"),
    st.dates().map(date.isoformat),
    st.sampled_from(["2026-13-45", "2026-02-30", "0000-00-00", "9999-99-99"]),
)
_when = st.one_of(
    st.just(""),
    _day.map(lambda d: f"on {d}"),
    st.tuples(_day, _day).map(lambda ab: f"from {ab[0]} to {ab[1]}"),
    _day,
)
_ward = st.sampled_from(["5B", "3A", "ICU", "ward 5B", "Ward-5B", "XYZ", "icu", ""])
_shift = st.sampled_from(["", "day shift", "night shift", "on the evening shift", "late shift"])
_staff = st.sampled_from(["RNs", "nurses", "assistants", "HCAs", "registered nurse"])
_pct = st.one_of(
    st.integers(0, 10**400).map(str),
    st.floats(0, 1e6, allow_nan=False).map(lambda f: f"{f:.3f}"),
)
_change = st.one_of(
    st.tuples(_number, _ward, _when).map(lambda t: f"close {t[0]} beds on {t[1]} {t[2]}"),
    st.tuples(_number, _ward, _when).map(lambda t: f"open {t[0]} more beds on {t[1]} {t[2]}"),
    st.tuples(_number, _ward, _when).map(lambda t: f"open {t[0]} surge beds on {t[1]} {t[2]}"),
    st.tuples(_ward, _when).map(lambda t: f"no surge beds on {t[0]} {t[1]}"),
    st.tuples(_number, _staff, _ward, _shift, _when).map(
        lambda t: f"{t[0]} {t[1]} call in sick on {t[2]} {t[3]} {t[4]}"
    ),
    st.tuples(_number, _staff, _ward, _shift, _when).map(
        lambda t: f"{t[0]} more {t[1]} on {t[2]} {t[3]} {t[4]}"
    ),
    st.tuples(st.sampled_from(["+", "-", "up ", "down "]), _pct, _ward, _when).map(
        lambda t: f"demand {t[0]}{t[1]}% on {t[2]} {t[3]}"
    ),
    st.tuples(_number, st.sampled_from(["more", "fewer"]), _ward, _when).map(
        lambda t: f"{t[0]} {t[1]} patients on {t[2]} {t[3]}"
    ),
    st.tuples(_ward).map(lambda t: f"no transfers from {t[0]}"),
    st.text(max_size=40),
)
_what_if = st.lists(_change, min_size=0, max_size=3).map("; ".join)


@FUZZ
@given(text=_what_if)
def test_what_if_text_parses_and_applies_or_says_why_not(text):
    try:
        changes = parse_what_if(text, INST)
        changed = apply_changes(INST, changes)
    except ToolError as e:
        assert e.code in {"bad_what_if", "unknown_ward"} and e.message
        return
    assert changes and len(changed.notes) == len(INST.notes) + len(changes)
    for c in changes:
        assert c.days and all(0 <= t < INST.n_days for t in c.days)
    for i in range(len(INST.wards)):
        for t in range(INST.n_days):
            assert changed.beds[i][t] >= 0 and changed.surge[i][t] >= 0


# ------------------------------------------------------------------ tool arguments

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10),
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3)
    ),
    max_leaves=8,
)
_plausible = {
    "ward": st.sampled_from(["CARD", "Cardiology", "心内科", "card", "ICU", "", " ", "x" * 300]),
    "days": st.one_of(st.integers(-5, 40), st.sampled_from(["7", "7.0", "7.9", "1e3", "seven"])),
    "start": st.one_of(
        st.dates().map(date.isoformat),
        st.integers(-3, 40).map(lambda n: (date(2026, 7, 1) + timedelta(days=n)).isoformat()),
        st.sampled_from(["9999-12-31", "0001-01-01", "2026-02-30", "tomorrow", "2026-07-01T10"]),
    ),
    "text": st.text(max_size=30),
    "k": st.one_of(st.integers(-3, 30), st.sampled_from(["5", "5.5", True])),
    "what_if": st.text(max_size=20),
    "apply": st.one_of(st.booleans(), st.sampled_from(["yes", "no", "maybe", 2])),
}


@st.composite
def _arguments(draw):
    """Arguments as a model might send them: plausible or any JSON per key, or not a dict."""
    keys = draw(
        st.lists(st.one_of(st.sampled_from(sorted(_plausible)), st.text(max_size=5)), max_size=5)
    )
    args = {k: draw(st.one_of(_plausible.get(k, _json), _json)) for k in keys}
    return draw(st.one_of(st.just(args), _json))


_names = st.one_of(st.sampled_from(sorted(SCHEMAS)), st.text(max_size=12))


@FUZZ
@given(name=_names, arguments=_arguments())
def test_tool_arguments_validate_or_say_which_is_wrong(name, arguments):
    try:
        args = validate_arguments(name, arguments)
    except ToolError as e:
        assert e.code in {"unknown_tool", "bad_argument"} and e.message
        return
    props = SCHEMAS[name]["parameters"]["properties"]
    assert set(args) <= set(props)
    assert set(SCHEMAS[name]["parameters"]["required"]) <= set(args)


@settings(FUZZ, max_examples=60)
@given(
    arguments=st.fixed_dictionaries(
        {"ward": _plausible["ward"]},
        optional={"days": _plausible["days"], "start": _plausible["start"]},
    )
)
def test_forecast_tool_answers_or_says_why_not(ctx, arguments):
    result = call_tool(ctx, "forecast_beds", arguments)
    if not result.ok:
        assert result.error and result.summary  # an ErrorResult: code and sentence
        return
    assert result.facts and result.summary


@settings(FUZZ, max_examples=30)
@given(name=st.sampled_from(["similar_cases", "plan_beds"]), arguments=_arguments())
def test_tools_without_their_dependencies_say_so(ctx, name, arguments):
    """No case index, no plan store, a nurse's role: refused with a code, never a crash
    (plan_beds is only called when it would be refused before any solving)."""
    if name == "plan_beds":
        arguments = {**(arguments if isinstance(arguments, dict) else {}), "apply": True}
    result = call_tool(ctx, name, arguments)
    assert not result.ok and result.summary
