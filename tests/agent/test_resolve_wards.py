"""The ward resolver on the demo hospital and on a hospital whose wards are not the demo's."""

import pytest
from pydantic import ValidationError

from agent.resolve import (
    WardResolution,
    WardResolver,
    clarifying_question,
    load_synonyms,
    question_language,
    resolve_ward,
    ward_names,
)
from knowledge.demo import WARDS
from knowledge.hospital import WARD_COLUMNS, Ward

DEMO = [Ward(**dict(zip(WARD_COLUMNS, row[:8], strict=True))) for row in WARDS]


def ward(ward_id: str, name_en: str, name_zh: str, ward_type: str = "general") -> Ward:
    return Ward(
        ward_id=ward_id,
        name_en=name_en,
        name_zh=name_zh,
        ward_type=ward_type,
        beds=20,
        surge_beds=2,
        rn_per_shift=4,
        nurse_ratio=5,
    )


OTHER = [
    ward("W1", "Critical care unit", "综合重症", "icu"),
    ward("W2", "Acute medical unit", "综合内科"),
    ward("W3", "Cardiothoracic surgery", "心胸外科"),
    ward("W4", "Stroke unit", "卒中单元"),
    ward("W5", "Maternity", "产科"),
    ward("W6", "Emergency department", "急诊科"),
]


@pytest.mark.parametrize(
    ("text", "ward_id"),
    [
        ("How many beds will ICU need next week?", "ICU"),
        ("icu beds tomorrow", "ICU"),
        ("Will intensive care cope?", "ICU"),
        ("critical care occupancy", "ICU"),
        ("重症下周要几张床", "ICU"),
        ("重症监护室明天", "ICU"),
        ("HDU this weekend", "HDU"),
        ("the step-down unit", "HDU"),
        ("高依赖病房", "HDU"),
        ("Will cardiology have enough beds this weekend?", "CARD"),
        ("cardio", "CARD"),
        ("cardiac ward", "CARD"),
        ("the CARD ward", "CARD"),
        ("下周心内科需要多少张床？", "CARD"),
        ("心脏科", "CARD"),
        ("心血管内科", "CARD"),
        ("respiratory ward next week", "RESP"),
        ("呼吸科", "RESP"),
        ("surgery beds on Friday", "SURG"),
        ("general surgery", "SURG"),
        ("普外科", "SURG"),
        ("外科", "SURG"),
        ("ortho", "ORTH"),
        ("Orthopaedics", "ORTH"),
        ("orthopedic beds", "ORTH"),
        ("骨科周五", "ORTH"),
        ("peds", "PED"),
        ("the children's ward", "PED"),
        ("儿科", "PED"),
        ("Paediatrics", "PED"),
        ("ICUs", "ICU"),  # a plural still names the ward
    ],
)
def test_question_names_one_ward(text, ward_id):
    r = resolve_ward(text, DEMO)
    assert (r.status, r.ward_id, r.source) == ("resolved", ward_id, "question")
    assert r.mentioned and not r.unknown


def test_the_question_beats_a_different_model_choice():
    r = resolve_ward("下周心内科需要多少张床？", DEMO, model_choice="ICU")
    assert (r.status, r.ward_id, r.source) == ("resolved", "CARD", "question")
    assert r.overridden
    assert r.mentioned == ("心内科",)
    assert r.model_choice == "ICU"
    r = resolve_ward("If 2 RNs call in sick in cardiology", DEMO, model_choice="ICU")
    assert (r.ward_id, r.overridden) == ("CARD", True)


def test_model_agreeing_with_the_question_is_not_overridden():
    r = resolve_ward("ICU tomorrow", DEMO, model_choice="icu")
    assert (r.ward_id, r.source, r.overridden) == ("ICU", "question", False)
    r = resolve_ward("cardio next week", DEMO, model_choice="Cardiology")
    assert (r.ward_id, r.overridden) == ("CARD", False)


@pytest.mark.parametrize("choice", ["CARD", "card", "Cardiology", "心内科", "cardiology ward"])
def test_question_without_a_ward_keeps_a_valid_model_choice(choice):
    r = resolve_ward("How many beds next week?", DEMO, model_choice=choice)
    assert (r.status, r.ward_id, r.source) == ("resolved", "CARD", "model")
    assert not r.overridden
    assert r.mentioned == ()


@pytest.mark.parametrize("choice", [None, "", "ED", "Emergency", "WARD9"])
def test_no_ward_anywhere_is_absent(choice):
    r = resolve_ward("How many beds will we need next week?", DEMO, model_choice=choice)
    assert (r.status, r.ward_id, r.source) == ("absent", None, "none")
    assert r.overridden == bool(choice)


@pytest.mark.parametrize(
    "text",
    ["the medical ward next week", "medical wards", "med beds", "内科下周", "内科病房够不够"],
)
def test_umbrella_word_matching_several_wards_is_ambiguous(text):
    r = resolve_ward(text, DEMO)
    assert (r.status, r.ward_id, r.source) == ("ambiguous", None, "none")
    assert r.candidates == ("CARD", "RESP")


def test_an_umbrella_word_stays_ambiguous_whatever_the_model_guessed():
    """ "The medical ward" is cardiology or respiratory: the model's pick is a guess, so the
    staff member is asked which."""
    r = resolve_ward("the medical ward next week", DEMO, model_choice="RESP")
    assert (r.status, r.ward_id) == ("ambiguous", None)
    assert r.candidates == ("CARD", "RESP")
    r = resolve_ward("the medical ward next week", DEMO, model_choice="ICU")
    assert (r.status, r.overridden) == ("ambiguous", True)


def test_two_wards_named_is_ambiguous_unless_the_model_chose_one():
    r = resolve_ward("move two nurses from ICU to cardiology", DEMO)
    assert (r.status, r.candidates) == ("ambiguous", ("ICU", "CARD"))
    r = resolve_ward("move two nurses from ICU to cardiology", DEMO, model_choice="CARD")
    assert (r.status, r.ward_id, r.source) == ("resolved", "CARD", "model")


def test_a_specific_ward_beats_an_umbrella_word():
    r = resolve_ward("the medical wards, cardiology in particular", DEMO)
    assert (r.status, r.ward_id) == ("resolved", "CARD")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("move nurses to the emergency department", ("emergency department",)),
        ("Will A&E cope this weekend?", ("A&E",)),
        ("ED beds", ("ED",)),
        ("operating theatre staffing", ("operating theatre",)),
        ("产科下周需要几张床", ("产科",)),
        ("急诊科明天", ("急诊科",)),
        ("手术室", ("手术室",)),
        ("NICU beds", ("NICU",)),
        ("新生儿重症监护", ("新生儿重症监护",)),
        ("the stroke unit", ("stroke unit",)),
        (
            "send nurses to the emergency department and the operating theatre",
            ("emergency department", "operating theatre"),
        ),
    ],
)
def test_a_service_the_hospital_lacks_is_unknown(text, words):
    r = resolve_ward(text, DEMO, model_choice="ICU")
    assert (r.status, r.ward_id, r.source) == ("unknown", None, "none")
    assert r.unknown == words
    assert r.overridden  # the model's ICU is not used for a question about another service


def test_unknown_service_beside_a_known_ward_is_still_reported():
    r = resolve_ward("Can we move nurses from ICU to ED?", DEMO)
    assert (r.status, r.ward_id) == ("resolved", "ICU")
    assert r.unknown == ("ED",)
    assert r.mentioned == ("ICU", "ED")


@pytest.mark.parametrize(
    "text",
    [
        "Find similar cases: upper respiratory infection with cough",
        "patient with 呼吸困难 and chest pain",
        "heart rate 120, what could it be",
        "how many emergency admissions tomorrow",
        "急诊入院的人数",
        "the patient had a cardiac arrest",
        "how do I enter a what-if",  # "ED"/"ER"/"OR" match only in capitals
        "or should we wait",
        "is there a card for this",  # a ward code matches only as written
        "",
    ],
)
def test_symptoms_and_ordinary_words_name_no_ward(text):
    r = resolve_ward(text, DEMO)
    assert r.status == "absent"
    assert r.mentioned == ()


def test_other_hospital_resolves_by_its_own_names():
    assert resolve_ward("ICU beds", OTHER).ward_id == "W1"
    assert resolve_ward("重症", OTHER).ward_id == "W1"
    assert resolve_ward("the stroke unit", OTHER).ward_id == "W4"
    assert resolve_ward("neurology", OTHER).ward_id == "W4"
    assert resolve_ward("产科", OTHER).ward_id == "W5"
    assert resolve_ward("the maternity ward", OTHER).ward_id == "W5"
    assert resolve_ward("the emergency department", OTHER).ward_id == "W6"
    assert resolve_ward("A&E", OTHER).ward_id == "W6"
    assert resolve_ward("cardiothoracic", OTHER).ward_id == "W3"
    assert resolve_ward("W2 next week", OTHER).ward_id == "W2"
    assert resolve_ward("the medical unit", OTHER).ward_id == "W2"
    r = resolve_ward("cardiology", OTHER)
    assert (r.status, r.unknown) == ("unknown", ("cardiology",))
    r = resolve_ward("Orthopaedics", OTHER)
    assert r.status == "unknown"


def test_resolver_built_once_answers_like_the_function():
    resolver = WardResolver(DEMO)
    for text, choice in [("重症", "CARD"), ("内科", None), ("产科", "ICU"), ("beds?", "ORTH")]:
        assert resolver.resolve(text, choice) == resolve_ward(text, DEMO, choice)


def test_resolution_is_frozen():
    r = resolve_ward("ICU", DEMO)
    assert isinstance(r, WardResolution)
    with pytest.raises(ValidationError):
        r.ward_id = "CARD"


def test_question_language():
    assert question_language("下周心内科需要多少张床？") == "zh"
    assert question_language("ICU明天") == "zh"
    assert question_language("How many beds in ICU?") == "en"


def test_ward_names_in_both_languages():
    assert ward_names(DEMO, "en", ["CARD", "RESP"]) == ["Cardiology (CARD)", "Respiratory (RESP)"]
    assert ward_names(DEMO, "zh", ["RESP", "CARD"]) == ["心内科（CARD）", "呼吸科（RESP）"]
    assert len(ward_names(DEMO, "en")) == len(DEMO)


def test_clarifying_question_for_an_ambiguous_ward():
    r = resolve_ward("the medical ward next week", DEMO)
    q = clarifying_question(r, DEMO, "en")
    assert q == "Which ward do you mean: Cardiology (CARD) or Respiratory (RESP)?"
    r = resolve_ward("内科下周", DEMO)
    q = clarifying_question(r, DEMO, question_language("内科下周"))
    assert q == "请问您指的是哪个病房：心内科（CARD）还是呼吸科（RESP）？"


def test_clarifying_question_for_an_unknown_service_names_every_ward():
    r = resolve_ward("send nurses to the emergency department and the operating theatre", DEMO)
    q = clarifying_question(r, DEMO, "en")
    assert q is not None
    assert q.startswith("This hospital has no emergency department or operating theatre.")
    for w in DEMO:
        assert f"{w.name_en} ({w.ward_id})" in q
    assert "Paediatrics (PED)" in q.split(" and ")[-1]
    q = clarifying_question(resolve_ward("产科下周", DEMO), DEMO, "zh")
    assert q is not None and q.startswith("本院没有产科。")
    for w in DEMO:
        assert f"{w.name_zh}（{w.ward_id}）" in q
    assert not any(c.isascii() and c.isalpha() and c.islower() for c in q)


def test_clarifying_question_when_no_ward_is_named():
    r = resolve_ward("how many beds next week", DEMO)
    q = clarifying_question(r, DEMO, "en")
    assert q is not None and q.startswith("Which ward do you mean?")
    q = clarifying_question(resolve_ward("下周要几张床", DEMO), DEMO, "zh")
    assert q is not None and q.startswith("请问是哪个病房？")


def test_no_clarifying_question_when_resolved():
    assert clarifying_question(resolve_ward("ICU", DEMO), DEMO, "en") is None


def test_packaged_synonyms_are_complete():
    table = load_synonyms()
    assert {"icu", "stepdown"} <= {s.ward_type for s in table.services.values()}
    for service in table.services.values():
        assert service.say, service
        assert service.ward_type or service.names, service
    for lang in ("en", "zh"):
        for key in ("ambiguous", "unknown", "absent", "or", "and", "also", "separator", "ward"):
            assert key in table.clarify[lang]
    # every demo ward is reached by at least one synonym besides its own names, and every
    # synonym names itself whole (no longer synonym or not_wards phrase swallows it)
    resolver = WardResolver(DEMO)
    reached = set()
    for service in table.services.values():
        for word in service.say:
            r = resolver.resolve(word)
            assert r.mentioned == (word,), word
            reached.add(r.ward_id)
    assert {w.ward_id for w in DEMO} <= reached


def test_a_custom_synonyms_file(tmp_path):
    path = tmp_path / "syn.yaml"
    path.write_text(
        "services:\n"
        "  cardiology:\n"
        "    names: [cardio]\n"
        "    say: [ticker ward]\n"
        "clarify:\n"
        "  en: {ambiguous: 'x', unknown: 'x', absent: 'x', or: ' or ', and: ' and ',"
        " also: ' or ', separator: ', ', ward: '{name_en}'}\n",
        encoding="utf-8",
    )
    table = load_synonyms(str(path))
    assert resolve_ward("the ticker ward", DEMO, synonyms=table).ward_id == "CARD"
    assert resolve_ward("cardio", DEMO, synonyms=table).status == "absent"


def _all_mentions(text, matchers):
    """The mentions without the needle test: every pattern run (the reference)."""
    import agent.resolve.wards as W

    return W._mentions(text, [(p, ids, "", folded) for p, ids, _, folded in matchers])


def test_folding_covers_every_code_point_that_a_case_insensitive_ascii_letter_matches():
    """A needle is tested against ``fold_ascii(text)``: every character outside ASCII that
    re.IGNORECASE matches to an ASCII letter folds to that letter, and no other one's
    lowercase holds ASCII."""
    import re
    import sys

    from knowledge.text import fold_ascii

    letter = re.compile("[a-z]", re.IGNORECASE)
    for c in map(chr, range(128, sys.maxunicode + 1)):
        if letter.fullmatch(c):
            assert re.fullmatch(fold_ascii(c), c, re.IGNORECASE), c
        else:
            assert not any(ord(x) < 128 for x in fold_ascii(c)), c


@pytest.mark.parametrize("hospital", [DEMO, OTHER], ids=["demo", "other"])
def test_the_needle_test_finds_what_every_pattern_finds(hospital):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from agent.resolve.wards import _mentions

    matchers = WardResolver(hospital)._matchers
    words = [w for ward in hospital for w in (ward.ward_id, ward.name_en, ward.name_zh)]
    words += ["cardiac", "CCU", "heart", "KİD", "ıcu", "ſurgery", "心脏", "内科", "ER", "-", " "]
    pieces = st.one_of(st.sampled_from(words), st.text(max_size=6))
    texts = st.lists(pieces, max_size=8).map(" ".join)
    for text in ["Cardiology next week", "ICU", "ıcu and ſurgery", "下周心内科", "The CCU"]:
        assert _mentions(text, matchers) == _all_mentions(text, matchers)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(texts, st.sampled_from([str, str.upper, str.lower, str.title]))
    def same(text, case):
        t = case(text)
        assert _mentions(t, matchers) == _all_mentions(t, matchers)

    same()


def test_a_text_is_scanned_once_however_often_it_is_resolved(monkeypatch):
    import agent.resolve.wards as wards_module

    scans = []
    real = wards_module._mentions
    monkeypatch.setattr(wards_module, "_mentions", lambda *a: scans.append(a[0]) or real(*a))
    resolver = WardResolver(DEMO)
    question = "Will cardiology have a bed for her on Friday?"
    first = resolver.resolve(question)
    again = [resolver.resolve(question, model_choice=m) for m in (None, "CARD", "ORTH")]
    assert scans == [question]
    assert first.ward_id == "CARD" and again[0] == first and again[1].ward_id == "CARD"
    assert again[2].ward_id == "CARD"  # the question's own ward still wins over the model's
