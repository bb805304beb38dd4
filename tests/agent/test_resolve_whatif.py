"""What-ifs read from the question's own words into the plan tool's grammar, both languages."""

import pytest

from agent.resolve.whatif import is_what_if, read_what_if
from tests.conftest import END
from tools.allocation.instance import build_instance
from tools.allocation.whatif import parse_what_if


@pytest.mark.parametrize(
    ("question", "shift", "expected"),
    [
        (
            "If three of the surgical nurses phone in sick, do we cope?",
            None,
            "3 nurses call in sick on W",
        ),
        (
            "We're short two nurses on the night shift, what then?",
            "night",
            "2 nurses call in sick on W night shift",
        ),
        ("Suppose we close six beds for refurbishment from Monday", None, "close 6 beds on W"),
        ("What if we lost a couple of beds to a flood?", None, "close 2 beds on W"),
        ("Could we open 3 escalation beds to get through it?", None, "open 3 surge beds on W"),
        ("Two bank nurses could come in on Sunday, does that fix it?", None, "2 more nurses on W"),
        ("要是三个护士同时请假，排得过来吗", None, "3 nurses call in sick on W"),
        ("夜班缺两个护士怎么办", "night", "2 nurses call in sick on W night shift"),
        ("下周一开始停用六张床会怎样", None, "close 6 beds on W"),
        ("如果加开两张临时床呢", None, "open 2 surge beds on W"),
    ],
)
def test_common_changes_are_read_in_both_languages(question, shift, expected):
    assert read_what_if(question, "W", shift) == expected


@pytest.mark.parametrize(
    "question",
    [
        "How many beds will we need next week?",
        "两个病区哪个更紧张？",
        "Are we two beds short on ICU tomorrow?",
        "下周三骨科会不会满床",
    ],
)
def test_questions_without_a_change_read_none(question):
    assert not is_what_if(question) and read_what_if(question, "W") is None


def test_no_ward_means_no_what_if():
    assert read_what_if("two nurses off sick tomorrow", None) is None


def test_what_the_reader_writes_parses_in_the_tool_grammar(hospital):
    """Each change read from staff words is one the plan tool's own grammar accepts."""
    wards = list(hospital.wards)
    demand = {w.ward_id: [w.beds // 2] * 7 for w in wards}
    inst = build_instance(wards, {"plan": demand}, END)
    ward = wards[0].ward_id
    for q in (
        "3 nurses off sick on the night shift",
        "关4张床",
        "open 2 surge beds",
        "多派两个护士",
    ):
        text = read_what_if(q, ward, "night" if "night" in q else None)
        assert text is not None
        assert [c.ward_id for c in parse_what_if(text, inst)] == [ward]
