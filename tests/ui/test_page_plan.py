"""The page's conclusions-first answer and its plan grid and CSV, without a browser."""

from __future__ import annotations

import csv
import re
from types import SimpleNamespace

from agent.graph import Event, ToolCall, Turn
from knowledge.hospital import Ward
from knowledge.text import has_cjk
from ui.app import (
    conclusions,
    conclusions_first,
    plan_csv,
    plan_grid,
    plan_rows,
    question_language,
    turn_messages,
    ward_names,
)


def verdict(vid: str, language: str, text: str) -> dict:
    return {"id": vid, "kind": "plan", "polarity": "yes", "language": language, "text": text,
            "facts": []}  # fmt: skip


VERDICTS = [
    verdict("plan.changes", "en", "The plan opens 2 surge beds on CARD."),
    verdict("plan.covered", "en", "Every patient gets a staffed bed."),
    verdict("plan.changes", "zh", "计划在心内科加床 2 张。"),
    verdict("plan.covered", "zh", "所有患者都有配备护士的床位。"),
]


def row(day: str, ward: str, demand: int, **kw) -> dict:
    out = {"date": day, "ward_id": ward, "demand": demand, "beds_open": demand, "surge_open": 0,
           "transfers_in": 0, "transfers_out": 0, "unmet": 0,
           "nurses": {"day": 7, "evening": 7, "night": 7},
           "overtime": {"day": 0, "evening": 0, "night": 0}, "assistants": {"day": 5},
           "assistant_overtime": {"day": 0}, "empty_beds": 0, "scenario": ""}  # fmt: skip
    out.update(kw)
    return out


PLAN = {
    "ok": True,
    "summary": "Optimal plan for 2 wards over 2 days.",
    "verdicts": VERDICTS,
    "quantile": 0.8,
    "scenarios": [],
    "changes": [],
    "rows": [
        row("2026-07-01", "CARD", 36, beds_open=34, surge_open=2),
        row("2026-07-01", "ORTH", 33, beds_open=28, transfers_out=5),
        row(
            "2026-07-02",
            "CARD",
            20,
            beds_open=24,
            transfers_in=4,
            overtime={"day": 0, "evening": 1, "night": 2},
        ),  # fmt: skip
        row("2026-07-02", "ORTH", 31, beds_open=28, unmet=3),
    ],
}
NAMES = {
    "CARD": {"en": "Cardiology", "zh": "心内科", "beds": 34},
    "ORTH": {"en": "Orthopaedics", "zh": "骨科", "beds": 28},
}


def plan_events(output: dict = PLAN) -> list[Event]:
    call = ToolCall("plan_beds", {"days": 2}, output, 0.5)
    return [
        Event("tool_start", {"name": "plan_beds", "arguments": {"days": 2}}),
        Event("tool_end", call),
    ]


# ------------------------------------------------------------------ conclusions first


def test_the_verdicts_show_as_soon_as_the_tool_returns_most_decisive_first():
    msgs = turn_messages(plan_events(), "English", "Chinese")
    assert msgs[0]["metadata"]["title"] == "Tool call: plan_beds"
    assert msgs[-1] == {
        "role": "assistant",
        "content": "所有患者都有配备护士的床位。\n计划在心内科加床 2 张。",
    }
    assert conclusions(plan_events(), "English") == [
        "Every patient gets a staffed bed.",
        "The plan opens 2 surge beds on CARD.",
    ]


def test_a_model_answer_gets_the_verdicts_of_the_question_language_above_it():
    events = [*plan_events(), Event("token", "Here is "), Event("token", "the plan.")]
    answer = turn_messages(events, "中文", "English")[-1]["content"]
    assert answer == (
        "Every patient gets a staffed bed.\nThe plan opens 2 surge beds on CARD.\n\n"
        "Here is the plan."
    )
    # the finished turn says which language the question was in
    final = Turn(question="下周的床位计划？", answer="以下是计划。", language="Chinese")
    answer = turn_messages([*events, Event("final", final)], "English")[-1]["content"]
    assert answer.splitlines()[:2] == ["所有患者都有配备护士的床位。", "计划在心内科加床 2 张。"]
    assert answer.endswith("\n\n以下是计划。") and "Every patient" not in answer


def test_an_answer_built_from_the_verdicts_is_not_repeated():
    composed = "Every patient gets a staffed bed.\nThe plan opens 2 surge beds on CARD."
    events = [*plan_events(), Event("token", composed), Event("token", "\n\nNot proven optimal.")]
    assert turn_messages(events, "English", "English")[-1]["content"] == (
        f"{composed}\n\nNot proven optimal."
    )
    # the agent's own choice of verdicts stays as it is
    assert (
        conclusions_first("B.\n\nNot proven optimal.", ["A.", "B."]) == "B.\n\nNot proven optimal."
    )
    # a model's text that quoted a verdict gets all of them above it, the quote not repeated
    assert conclusions_first("In short: A.\nB.\n\nCall the bed manager.", ["A.", "B."]) == (
        "A.\nB.\n\nIn short: \n\nCall the bed manager."
    )


def test_no_verdicts_above_an_error_a_failed_tool_or_a_plain_reply():
    failed = Turn(question="q", error="The language model server is not reachable.")
    events = [*plan_events(), Event("token", "draft"), Event("error", failed.error)]
    msgs = turn_messages([*events, Event("final", failed)], "English", "English")
    assert msgs[-1]["content"] == "Problem: The language model server is not reachable."
    refused = {"ok": False, "error": "forbidden", "summary": "Not allowed.", "verdicts": VERDICTS}
    assert conclusions(plan_events(refused), "English") == []
    no_verdicts = {**PLAN, "verdicts": []}
    events = [*plan_events(no_verdicts), Event("token", "Plan ready.")]
    assert turn_messages(events, "English", "English")[-1]["content"] == "Plan ready."
    assert turn_messages([Event("token", "Hello.")], "English")[-1]["content"] == "Hello."


def test_the_question_sets_the_language():
    assert question_language("下周心内科需要多少张床？") == "Chinese"
    assert question_language("Plan the beds for next week") == "English"


# ------------------------------------------------------------------ the plan grid


def _cells(grid: str) -> list[str]:
    return re.findall(r'<td class="ww-cell[^"]*".*?</td>', grid)


def test_the_grid_is_ward_by_day_in_english():
    grid = plan_grid(PLAN, "English", NAMES)
    assert grid.count("<tr>") == 3  # the header and one row per ward
    assert '<th scope="col"' in grid and ">Ward<" in grid
    assert "Wed<br>1 Jul" in grid and "Thu<br>2 Jul" in grid
    assert "Cardiology" in grid and "Orthopaedics" in grid and "CARD · 34 beds" in grid
    assert "P80" in grid and "2026-07-01 to 2026-07-02" in grid
    card1, card2, orth1, orth2 = _cells(grid)  # row by row
    assert "36 / 34" in card1 and "ww-surge" in card1 and "+2 surge" in card1
    assert "28 / 28" in orth1 and "5 out" in orth1 and "ww-full" in orth1
    assert "24 / 34" in card2 and "4 in" in card2 and "OT 3" in card2 and "ww-ok" in card2
    assert "28 / 28" in orth2 and "3 unmet" in orth2 and "ww-unmet" in orth2
    assert "demand 33" in orth1  # the tooltip holds the raw numbers
    assert not has_cjk(grid)


def test_the_grid_is_in_chinese_for_a_chinese_question():
    grid = plan_grid(PLAN, "Chinese", NAMES)
    assert ">病区<" in grid and "7月1日<br>周三" in grid and "7月2日<br>周四" in grid
    assert "心内科" in grid and "骨科" in grid and "Cardiology" not in grid
    card1, card2, orth1, orth2 = _cells(grid)  # row by row
    assert "加床 2" in card1 and "转出 5" in orth1 and "转入 4" in card2 and "加班 3" in card2
    assert "未收治 3" in orth2
    # no English word but the ward codes
    words = set(re.findall(r">[^<]*[A-Za-z]{3,}[^<]*<", grid))
    assert all(re.fullmatch(r">[A-Z]+ · \d+ 张床<|>[^<]*P80[^<]*<", w) for w in words), words


def test_the_grid_is_well_formed_html_with_its_own_fonts():
    """Every style survives the parser (a quote inside a style attribute once ended it early,
    and the grid fell back to Gradio's web fonts, whose bold faces miss glyphs)."""
    from html.parser import HTMLParser

    class Styles(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags: list[tuple[str, dict]] = []

        def handle_starttag(self, tag, attrs):
            self.tags.append((tag, dict(attrs)))

    parser = Styles()
    parser.feed(plan_grid(PLAN, "Chinese", NAMES))
    tag, attrs = parser.tags[0]
    assert tag == "div" and attrs["lang"] == "zh"
    assert "WenQuanYi Micro Hei" in attrs["style"] and "overflow-x:auto" in attrs["style"]
    known = {"class", "style", "title", "lang", "scope"}
    assert all(set(a) <= known for _, a in parser.tags), [a for _, a in parser.tags]
    assert all(a["style"].rstrip(";").count(":") >= 1 for _, a in parser.tags if "style" in a)


def test_a_what_if_grid_marks_the_changed_ward_days_and_names_fall_back_to_ids():
    what_if = {**PLAN, "changes": ["4 beds closed on CARD on 2026-07-02"],
               "diff": [{"date": "2026-07-02", "ward_id": "CARD", "field": "beds_open",
                         "before": 24, "after": 20}]}  # fmt: skip
    grid = plan_grid(what_if, "English")
    assert "What-if plan (4 beds closed on CARD on 2026-07-02)" in grid
    cells = _cells(grid)
    assert ["changed" in c for c in cells] == [False, True, False, False]
    assert "CARD · 34 beds" in grid  # without the hospital: the most regular beds filled
    assert "ORTH" in grid and "假设" in plan_grid(what_if, "Chinese")
    assert plan_grid({"rows": []}) == ""


def test_a_robust_plan_shows_its_highest_scenario():
    robust = {**PLAN, "scenarios": ["P10", "P50", "P90"],
              "rows": [row("2026-07-01", "CARD", n, scenario=s)
                       for n, s in ((30, "P10"), (33, "P50"), (38, "P90"))]}  # fmt: skip
    assert [r["demand"] for r in plan_rows(robust)] == [38]
    grid = plan_grid(robust, "English", NAMES)
    assert "38 / 34" in grid and "scenario P90" in grid


def test_ward_names_come_from_the_hospital():
    ward = Ward(ward_id="CARD", name_en="Cardiology", name_zh="心内科", ward_type="general",
                beds=34, surge_beds=4, rn_per_shift=7, nurse_ratio=5)  # fmt: skip
    agent = SimpleNamespace(ctx=SimpleNamespace(hospital=SimpleNamespace(wards=[ward])))
    assert ward_names(agent) == {"CARD": {"en": "Cardiology", "zh": "心内科", "beds": 34}}
    assert ward_names(None) == {}


# ------------------------------------------------------------------ the CSV download


def test_the_csv_holds_every_raw_row_and_field(tmp_path):
    path = plan_csv(PLAN, tmp_path)
    assert path.parent == tmp_path and path.name.startswith("wardwise-plan-2026-07-01-2026-07-02")
    with path.open(newline="", encoding="utf-8") as f:
        got = list(csv.DictReader(f))
    assert len(got) == len(PLAN["rows"])
    assert {"date", "ward_id", "demand", "beds_open", "surge_open", "transfers_in",
            "transfers_out", "unmet", "nurses_day", "nurses_night", "overtime_night",
            "assistants_day", "empty_beds"} <= set(got[0])  # fmt: skip
    assert got[2]["overtime_night"] == "2" and got[3]["unmet"] == "3"
    assert plan_csv(PLAN, tmp_path) != path  # a new file per turn
    assert plan_csv({"rows": []}, tmp_path) is None


def test_a_real_plan_renders_every_ward_and_day(ctx, tmp_path):
    from tools.registry import call_tool

    plan = call_tool(ctx, "plan_beds", {"days": 7}).model_dump(mode="json")
    wards = ward_names(SimpleNamespace(ctx=ctx))
    grid = plan_grid(plan, "Chinese", wards)
    assert grid.count("<tr>") == 1 + len(ctx.hospital.wards)
    assert len(_cells(grid)) == len(plan["rows"]) == 7 * len(ctx.hospital.wards)
    assert all(w["zh"] in grid for w in wards.values())
    with plan_csv(plan, tmp_path).open(encoding="utf-8") as f:
        assert sum(1 for _ in f) == 1 + len(plan["rows"])
