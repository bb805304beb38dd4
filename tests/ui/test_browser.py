"""The page in a real headless Chromium (Debian's), driven by Playwright: sign in, then one
question in Chinese and one in English; a tool ran and the answer's numbers match the tool's
facts. And the sign-in itself (wrong password, expired session) over a scripted agent."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from agent.grounding import check
from tests.conftest import PASSWORD, ensure_user
from tools.registry import call_tool

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def sign_in(page, name: str, password: str = PASSWORD) -> None:
    page.locator("#username input, #username textarea").first.fill(name)
    page.locator("#password input").fill(password)
    page.locator("#sign-in-button").click()


@pytest.fixture(scope="module")
def page_url(live_settings, embedded_llm, tmp_path_factory):
    from tests.conftest import free_port

    port = free_port()
    ensure_user(live_settings, "li.na", "nurse")
    env = {
        **os.environ,
        "WARDWISE_DATA_DIR": str(live_settings.data_dir),
        "WARDWISE_INDEX_DIR": str(live_settings.index_dir),
        "WARDWISE_AUDIT_DIR": str(live_settings.audit_dir),
        "WARDWISE_LLM_URL": embedded_llm.base_url,
        "WARDWISE_LLM_DIALECT": "llama-cpp",
        "WARDWISE_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        # one turn at a time, as with the embedded model `up` starts itself (8 by default
        # with WARDWISE_LLM_URL): the two-user test sees the queue
        "WARDWISE_MAX_CONCURRENT_TURNS": "1",
    }
    log = open(tmp_path_factory.mktemp("page") / "page.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "up"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 420  # a first run trains the forecaster (minutes if loaded)
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail("the page did not come up")
    yield url
    proc.terminate()
    proc.wait(20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("Debian's chromium is not installed (make browser-deps)")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=exe,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield b
        b.close()


def _turns(audit) -> int:
    return sum(1 for r in audit.rows() if r["kind"] == "turn")


def _ask(page, question: str, answers_before: int, audit, timeout: float = 900) -> str:
    """Ask and wait for the whole turn: it is over once its audit record is written (a tool's
    pending message can sit unchanged for a minute, and Gradio's pending marks change between
    versions), and then its text must hold still."""
    turns = _turns(audit)
    page.locator("#question textarea").fill(question)
    page.locator("#send").click()
    bot = page.locator("#chat .message.bot")
    deadline = time.monotonic() + timeout
    last, stable = None, 0
    while time.monotonic() < deadline:
        texts = bot.all_inner_texts()
        done = len(texts) > answers_before and _turns(audit) > turns
        if done and texts[-1] == last:
            stable += 1
            if stable >= 4:
                return texts[-1]
        else:
            stable = 0
        last = texts[-1] if texts else None
        time.sleep(0.5)
    raise AssertionError(f"no answer within {timeout} s; saw {last!r}")


def _window_args(ctx, question: str, ward: str) -> dict:
    """The forecast the page ran: the window the agent reads from the question's words."""
    from datetime import date, timedelta

    from agent.resolve import resolve_window

    last = ctx.hospital.daily["date"].max()
    first_day = (last.date() if hasattr(last, "date") else last) + timedelta(days=1)
    window = resolve_window(question, min(date.today(), first_day))
    assert window is not None
    start = max(window.start, first_day)
    return {"ward": ward, "days": window.days, "start": start.isoformat()}


def test_page_answers_in_chinese_and_english_grounded(page_url, browser, live_settings):
    from agent.runtime import build_context, open_audit

    ctx = build_context(live_settings)
    audit = open_audit(live_settings)
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(page_url)
    sign_in(page, "li.na")
    page.locator("#question textarea").wait_for(timeout=60_000)
    assert "li.na" in page.locator("#whoami").inner_text()
    asked = [
        ("下周心内科需要多少张床？", "CARD"),
        ("How many beds will the ICU need next week?", "ICU"),
    ]
    count = 0
    for question, ward in asked:
        _ask(page, question, count, audit)
        count = page.locator("#chat .message.bot").count()
        chat_text = page.locator("#chat").inner_text()
        assert "forecast_beds" in chat_text, "the tool call is shown under the answer"
        shown = page.locator("#chat .message.bot").last.inner_text()
        # The bubble also holds the collapsed tool call, titled with its duration ("(49.0ms)").
        answer = re.sub(r"\(\d+(?:\.\d+)?\s*m?s\)", "", shown)
        assert re.search(r"\d", answer)
        out = call_tool(ctx, "forecast_beds", _window_args(ctx, question, ward)).reading()
        facts = out["facts"] + [f for v in out["verdicts"] for f in v["facts"]]
        report = check(answer, facts, question, [chat_text])
        assert report.grounded, (answer, report.ungrounded)
    assert page.locator("#fan-chart").is_visible()
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)


QUEUED = re.compile(r"前面还有 \d+ 个问题[^\n]*|\d+ questions? ahead of yours[^\n]*")


def test_two_signed_in_users_see_the_queue(page_url, browser, live_settings):
    """One model turn at a time: while one user's question runs, the other signed-in user's
    page shows its place in the queue and an estimate (in the question's language), and then
    both get their answers."""
    from agent.runtime import open_audit

    audit = open_audit(live_settings)
    ensure_user(live_settings, "zhou.min", "bed_manager")
    ARTIFACTS.mkdir(exist_ok=True)
    pages = []
    for name in ("li.na", "zhou.min"):
        page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
        page.goto(page_url)
        sign_in(page, name)
        page.locator("#question textarea").wait_for(timeout=60_000)
        assert name in page.locator("#whoami").inner_text()
        pages.append(page)
    turns = _turns(audit)
    questions = ("Is there room on orthopaedics this Friday?", "周六心内科还有空床吗？")
    for page, question in zip(pages, questions, strict=True):
        page.locator("#question textarea").fill(question)
        page.locator("#send").click()
    seen: dict[int, str] = {}
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not seen:
        for i, page in enumerate(pages):
            found = QUEUED.search(page.locator("#chat").inner_text())
            if found and not seen:
                seen[i] = found.group(0)
                page.screenshot(path=str(ARTIFACTS / "queue-waiting.png"), full_page=True)
                other = pages[1 - i]  # the user whose question is running
                other.screenshot(path=str(ARTIFACTS / "queue-running.png"), full_page=True)
        time.sleep(0.25)
    assert seen, "neither page showed its place in the queue"
    (waiting,) = seen
    assert ("前面还有" in seen[waiting]) == (waiting == 1)  # in the question's language
    while time.monotonic() < deadline and _turns(audit) < turns + 2:
        time.sleep(0.5)
    assert _turns(audit) >= turns + 2, "both questions are answered"
    for page in pages:
        time.sleep(2)  # the last chunk reaches the page after the audit record
        assert not QUEUED.search(page.locator("#chat .message.bot").last.inner_text())


def test_sign_in_wrong_password_and_expired_session(browser, ctx, tmp_path):
    """The page over a scripted agent (no model): refused, signed in, asked, expired, back."""
    import json

    from agent.app.auth import UserStore
    from agent.fake import ScriptedChatModel
    from agent.graph import Agent
    from tests.conftest import END, free_port
    from ui.app import build_page

    class Clock:
        t = 1_000_000.0

        def __call__(self):
            return self.t

    clock = Clock()
    users = UserStore(f"sqlite:///{tmp_path / 'users.db'}", rounds=4, clock=clock)
    model = ScriptedChatModel(
        script=[json.dumps({"tool": "none", "reply": r}) for r in ("Hello, Nurse Li.", "Hi again.")]
    )
    page_app = build_page(Agent(model, ctx, dialect="openai", today=END), users)
    port = free_port()
    page_app.launch(server_port=port, prevent_thread_lock=True, show_error=True)
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        message = page.locator("#sign-in-message")
        message.get_by_text("wardwise users add").wait_for(timeout=60_000)  # no users yet
        users.add("li.na", PASSWORD, "nurse")
        sign_in(page, "li.na", "not the password")
        message.get_by_text("wrong user name or password").wait_for(timeout=30_000)
        assert not page.locator("#question textarea").is_visible()
        sign_in(page, "li.na")
        page.locator("#question textarea").wait_for(timeout=30_000)
        assert "nurse" in page.locator("#whoami").inner_text()
        page.locator("#question textarea").fill("hello")
        page.locator("#send").click()
        page.locator("#chat").get_by_text("Hello, Nurse Li.").wait_for(timeout=30_000)
        page.locator("#question textarea").fill("hello again")
        page.locator("#send").click()
        page.locator("#chat").get_by_text("Hi again.").wait_for(timeout=30_000)
        clock.t += 31 * 60  # idle past the session's 30 minutes
        page.locator("#question textarea").fill("How many beds in the ICU?")
        page.locator("#send").click()
        message.get_by_text("sign in again").wait_for(timeout=30_000)
        assert not page.locator("#question textarea").is_visible()
        assert model.script == [] and len(model.calls) == 2  # the expired turn never ran
        sign_in(page, "li.na")
        page.locator("#question textarea").wait_for(timeout=30_000)
        assert page.locator("#question textarea").input_value() == "How many beds in the ICU?"
    finally:
        page_app.close()
