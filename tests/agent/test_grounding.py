from agent.grounding import check, numbers_in

FACTS = [
    {"label": "peak P90 occupied beds", "value": 45},
    {"label": "coverage", "value": 0.86},
    {"label": "MASE", "value": 0.51},
    {"label": "beds", "value": 34},
    {"label": "mean P50", "value": 35.4},
]


def test_identifiers_dates_and_list_markers_are_not_quantities():
    assert numbers_in("Ward 5B, record C00042, P90, 2026-12-04\n1. foo") == []
    # a record id with a hyphenated number suffix is an id too (eval ci-en-3 failed on it)
    assert numbers_in("the most similar past case is Acute appendicitis (EVAL-INJ-3).") == []
    assert numbers_in("days 1-7, 12 beds") == [("1", False), ("7", False), ("12", False)]


def test_every_number_maps_to_a_fact():
    r = check("心内科P90最多45张床，共34张，覆盖率86%，MASE 0.51，均值约35。", FACTS, "下周", [])
    assert r.grounded
    assert {f.number: f.source for f in r.findings}["86%"] == "coverage"


def test_invented_numbers_are_caught():
    r = check("Cardiology needs 10-12 beds; it has 34.", FACTS, "next week", [])
    assert not r.grounded and r.ungrounded == ["10", "12"]


def test_numbers_from_the_user_message_are_allowed():
    assert check("Over the next 14 days ...", FACTS, "next 14 days?", []).grounded


def test_dates_must_come_from_tool_output():
    assert check("peak on 2026-12-04", FACTS, "q", ['"date": "2026-12-04"']).grounded
    assert not check("peak on 2026-12-05", FACTS, "q", ['"date": "2026-12-04"']).grounded


def _full_rule(n: float, decimals: int, value: float, percent: bool) -> bool:
    """The matching rule written out in full: rounded to what it shows, exact, or within half
    a unit when it shows no decimals (x100 as well for a percent)."""
    for v in (value, value * 100) if percent else (value,):
        if round(v, decimals) == n or abs(v - n) < 1e-9:
            return True
        if decimals == 0 and abs(v - n) < 0.5 + 1e-9:
            return True
    return False


def test_the_whole_number_shortcut_names_the_same_fact_as_the_full_rule():
    """A number shown without decimals takes one comparison per fact; the label found is the
    one the full rule (rounded to what it shows, exact, or within half a unit) finds."""
    from hypothesis import example, given, settings
    from hypothesis import strategies as st

    from agent.grounding import _matches

    values = st.lists(
        st.tuples(
            st.one_of(
                st.floats(allow_nan=True, allow_infinity=True),
                st.integers(-500, 500).map(float),
                st.integers(-5000, 5000).map(lambda i: i / 10),
                st.integers(0, 100).map(lambda i: i / 100),
            ),
            st.sampled_from(["a", "b", "c"]),
        ),
        max_size=12,
    )

    @settings(max_examples=500, deadline=None)
    @given(values, st.integers(-600, 600).map(float), st.booleans())
    @example([(35.5, "a")], 35.0, False)  # exactly half a unit away: the full rule says yes
    @example([(35.5, "a")], 36.0, False)
    @example([(0.355, "a")], 35.0, True)
    @example([(34.4, "a"), (35.0, "b")], 35.0, False)
    def same(vals, n, percent):
        full = next((label for v, label in vals if _full_rule(n, 0, v, percent)), "")
        assert next((label for v, label in vals if _matches(n, 0, v, percent)), "") == full

    same()


def test_a_date_is_known_exactly_when_a_tool_output_or_the_question_holds_it_as_a_date():
    """The answer's dates are looked for in the tools' text, not every date of that text read
    first: the same verdict as collecting every whole date (no digit either side) of it."""
    from hypothesis import example, given, settings
    from hypothesis import strategies as st

    from agent.grounding import _DATE

    piece = st.sampled_from(["2026-12-04", "2026-12-05", "1", "x", "-", " ", "日", "٣"])
    text = st.lists(piece, max_size=8).map("".join)

    @settings(max_examples=500, deadline=None)
    @given(text, st.lists(text, max_size=3), text)
    @example("on 2026-12-04", ["12026-12-04", "2026-12-041"], "q")  # digits either side: no
    @example("on 2026-12-04", ['"date": "x2026-12-04"'], "q")
    @example("on 2026-12-04 and 2026-12-05", [], "from 2026-12-05")
    def same(answer, texts, question):
        held = {d for t in [*texts, question] for d in _DATE.findall(t)}
        want = [(d, "tool output date" if d in held else "") for d in _DATE.findall(answer)]
        got = [(f.number, f.source) for f in check(answer, [], question, texts).findings]
        assert got[: len(want)] == want

    same()
