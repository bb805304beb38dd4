"""The page's adapter functions, without a browser."""

from agent.graph import Event, ToolCall, Turn
from ui.app import (
    LABELS,
    diff_table,
    fan_chart,
    plan_grid,
    tool_output,
    transcript_messages,
    turn_messages,
)

FC = {
    "ok": True,
    "summary": "Cardiology needs up to 36 beds.",
    "ward_id": "CARD",
    "ward_name": "Cardiology",
    "ward_name_zh": "心内科",
    "beds": 34,
    "days": [{"date": "2026-07-01", "p10": 30, "p50": 34, "p90": 38}],
}


def test_events_become_a_collapsible_tool_message_then_the_answer():
    call = ToolCall("forecast_beds", {"ward": "CARD"}, FC, 1.25)
    events = [
        Event("tool_start", {"name": "forecast_beds", "arguments": {"ward": "CARD"}}),
        Event("tool_end", call),
        Event("token", "Cardiology "),
        Event("token", "needs 36."),
    ]
    msgs = turn_messages(events, "中文")
    assert msgs[0]["metadata"] == {
        "title": f"{LABELS['中文']['trace']}: forecast_beds",
        "status": "done",
        "duration": 1.25,
    }
    assert "Cardiology needs up to 36 beds." in msgs[0]["content"]
    assert msgs[1] == {"role": "assistant", "content": "Cardiology needs 36."}
    replaced = turn_messages([*events, Event("replace", "Checked answer.")])
    assert replaced[-1]["content"] == "Checked answer."
    assert tool_output(events, "forecast_beds") is FC and tool_output(events, "plan_beds") is None


def test_errors_are_shown_as_a_plain_message():
    turn = Turn(question="q", answer="x", error="The language model server is not reachable.")
    msgs = turn_messages([Event("error", turn.error), Event("final", turn)])
    assert msgs == [
        {"role": "assistant", "content": "Problem: The language model server is not reachable."}
    ]


def test_chart_plan_and_what_if_tables():
    fig = fan_chart(FC, "中文")
    assert fig.axes[0].get_title() == "心内科 (CARD)"
    plan = {
        "rows": [
            {"date": "2026-07-01", "ward_id": "CARD", "demand": 38, "beds_open": 34, "surge_open": 4,
             "transfers_in": 0, "transfers_out": 0, "unmet": 0, "nurses": {"day": 8, "night": 8}}
        ],
        "diff": [{"date": "2026-07-03", "ward_id": "CARD", "field": "beds_open", "before": 34, "after": 30}],
    }  # fmt: skip
    grid = plan_grid(plan, "English")
    assert "38 / 34" in grid and "+4 surge" in grid  # the grid itself: tests/ui/test_page_plan.py
    d = diff_table(plan)
    assert d.to_dict("records") == [plan["diff"][0]]
    assert diff_table({"rows": []}).empty


def test_chinese_chart_labels_have_glyphs():
    import warnings

    fig = fan_chart(FC, "中文")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, f"no CJK font (make system-deps installs fonts-wqy-microhei): {missing[:2]}"


def test_the_page_builds(tmp_path):
    from agent.app.auth import UserStore
    from ui.app import build_page

    users = UserStore(f"sqlite:///{tmp_path / 'users.db'}", rounds=4)
    page = build_page(agent=None, users=users)
    assert type(page).__name__ == "Blocks"
    ids = {getattr(b, "elem_id", None) for b in page.blocks.values()}
    assert {"username", "password", "sign-in-button", "main", "chat", "sign-out"} <= ids
    assert {"plan-grid", "plan-csv", "what-if", "fan-chart"} <= ids


def test_a_stored_conversation_is_shown_again_after_a_restart(ctx, tmp_path):
    import json

    from agent.app.history import ChatHistory
    from agent.fake import ScriptedChatModel
    from agent.graph import Agent
    from tests.conftest import END

    url = f"sqlite:///{tmp_path / 'chat.db'}"
    model = ScriptedChatModel(script=[json.dumps({"tool": "none", "reply": "Hello, nurse."})])
    Agent(model, ctx, dialect="openai", today=END, chats=ChatHistory(url)).ask("hi", "tab-1")
    restarted = Agent(ScriptedChatModel(), ctx, dialect="openai", chats=ChatHistory(url))
    assert transcript_messages(restarted.transcript("tab-1")) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello, nurse."},
    ]
    assert restarted.transcript("another-tab") == []
