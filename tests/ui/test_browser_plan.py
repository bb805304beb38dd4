"""The plan on the page, in a real headless Chromium (Debian's) over a scripted model: a
Chinese and an English plan question each show the tools' verdicts first, the plan as a ward x
day grid in the question's language and a CSV of the raw rows to download. Screenshots go to
``tests/artifacts/plan-zh.png`` and ``plan-en.png``."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.conftest import END, PASSWORD, free_port
from tests.ui.test_browser import browser, sign_in  # noqa: F401  (the Chromium fixture)

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ROUTE = json.dumps({"tool": "plan_beds", "days": 7, "what_if": "", "apply": False})
ASKED = [  # question, page language, the model's own sentence, grid headers, a day header
    ("下周各病区的床位和护士怎么安排？", "中文", "以下是下周的床位计划。", "病区", "周一"),
    ("Plan the beds and nurses for every ward next week.", "English",
     "Here is next week's bed plan.", "Ward", "Mon"),
]  # fmt: skip


class Recording:
    """The agent, keeping each finished turn (to compare the page with the tool's output)."""

    def __init__(self, agent):
        self.agent, self.turns = agent, []

    def __getattr__(self, name):
        return getattr(self.agent, name)

    def stream(self, *args, **kwargs):
        """The agent's events, unchanged."""
        for ev in self.agent.stream(*args, **kwargs):
            if ev.kind == "final":
                self.turns.append(ev.data)
            yield ev


def test_a_plan_in_chinese_and_in_english(browser, ctx, tmp_path):  # noqa: F811
    from agent.app.auth import UserStore
    from agent.fake import ScriptedChatModel
    from agent.graph import Agent
    from agent.policy import order_verdicts
    from ui.app import build_page

    users = UserStore(f"sqlite:///{tmp_path / 'users.db'}", rounds=4)
    users.add("zhang.wei", PASSWORD, "bed_manager")
    script = [item for _, _, sentence, _, _ in ASKED for item in (ROUTE, sentence)]
    model = ScriptedChatModel(script=script)
    # answer_mode="model": the page itself puts the verdicts above the model's sentence
    agent = Recording(Agent(model, ctx, dialect="openai", today=END, answer_mode="model"))
    app = build_page(agent, users)
    port = free_port()
    app.launch(server_port=port, prevent_thread_lock=True, show_error=True)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(f"http://127.0.0.1:{port}/")
        sign_in(page, "zhang.wei")
        page.locator("#question textarea").wait_for(timeout=60_000)
        for n, (question, ui_language, sentence, ward_header, weekday) in enumerate(ASKED):
            page.locator("#ui-language").get_by_text(ui_language, exact=True).click()
            page.locator("#question textarea").fill(question)
            page.locator("#send").click()
            page.locator("#chat").get_by_text(sentence).wait_for(timeout=120_000)
            grid = page.locator("#plan-grid table.ww-grid")
            grid.wait_for(timeout=60_000)
            page.wait_for_timeout(500)  # let the last update settle before reading it
            turn = agent.turns[n]
            plan = turn.tool_calls[0].output
            lang = "zh" if ui_language == "中文" else "en"
            first = order_verdicts("plan_beds", plan["verdicts"], lang)[0]["text"]

            shown = page.locator("#chat .message.bot").last.inner_text()
            assert first in shown and shown.index(first) < shown.index(sentence), shown
            headers = grid.locator("thead th").all_inner_texts()
            assert headers[0] == ward_header and weekday in " ".join(headers), headers
            assert len(headers) == 1 + len({r["date"] for r in plan["rows"]})
            wards = grid.locator("tbody th").all_inner_texts()
            names = [w.name_zh if lang == "zh" else w.name_en for w in ctx.hospital.wards]
            assert len(wards) == len(names) and all(
                any(name in w for w in wards) for name in names
            ), wards
            assert grid.locator("td.ww-cell").count() == len(plan["rows"])

            link = page.locator("#plan-csv a[href*='.csv']").first
            link.wait_for(timeout=30_000)
            csv = httpx.get(urljoin(page.url, link.get_attribute("href")), timeout=30)
            assert csv.status_code == 200
            lines = csv.text.strip().splitlines()
            assert lines[0].startswith("date,ward_id,demand,beds_open")
            assert len(lines) == 1 + len(plan["rows"])

            page.screenshot(path=str(ARTIFACTS / f"plan-{lang}.png"), full_page=True)
        assert model.script == []
    finally:
        app.close()
