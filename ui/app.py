"""The chat page (Gradio). It only adapts: :func:`turn_messages` maps agent events to chat
messages (tested without a browser); :func:`build_page` lays out the page.

The chat is behind a sign-in form: a signed-in tab holds its session token in server-side
state, every turn resolves it to the staff member and role the tools act for, and an expired
session hides the chat and asks to sign in again (the unsent question is kept)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from agent.app.auth import NO_USERS_HINT, AuthError  # noqa: E402

log = logging.getLogger("wardwise.ui")

CJK_FONTS = ["WenQuanYi Micro Hei", "Noto Sans CJK SC"]


def _register_cjk_fonts() -> None:
    """Make sure matplotlib knows an installed CJK font, even when its font cache was built
    before the font was installed (Chinese titles and legends are boxes otherwise)."""
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    if known.intersection(CJK_FONTS):
        return
    for path in font_manager.findSystemFonts():
        if any(k in path.lower() for k in ("wqy", "notosanscjk", "noto-cjk")):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                log.warning("could not load the font file %s", path)


_register_cjk_fonts()
plt.rcParams["font.sans-serif"] = [*CJK_FONTS, "DejaVu Sans"]
plt.rcParams["axes.unicode_minus"] = False

LABELS = {
    "English": {
        "title": "## Wardwise: hospital operations assistant",
        "placeholder": "Ask about beds, staffing or similar cases, e.g. How many beds will "
        "cardiology need next week?",
        "send": "Send",
        "trace": "Tool call",
        "chart": "Forecast (occupied beds)",
        "table": "Bed and nurse plan",
        "diff": "What-if: changes against the base plan",
        "p50": "P50 (median)",
        "band": "P10-P90",
        "beds": "beds on ward",
        "error": "Problem",
        "signed_in": "Signed in as",
        "expired": "Please sign in again",
    },
    "中文": {
        "title": "## Wardwise 医院运营助手",
        "placeholder": "询问床位、排班或相似病例，例如：下周心内科需要多少张床？",
        "send": "发送",
        "trace": "工具调用",
        "chart": "预测（占用床位）",
        "table": "床位与护士计划",
        "diff": "假设情景：与基础计划的差异",
        "p50": "P50（中位数）",
        "band": "P10-P90 区间",
        "beds": "病区床位数",
        "error": "问题",
        "signed_in": "当前用户",
        "expired": "请重新登录",
    },
}


def turn_messages(events: list, ui_language: str = "English") -> list[dict]:
    """Chat messages for one turn so far: a collapsible message per tool call (its
    arguments, summary and time), then the answer text as it streams."""
    labels = LABELS[ui_language]
    messages: list[dict] = []
    answer = ""
    for ev in events:
        if ev.kind == "tool_start":
            messages.append(
                {
                    "role": "assistant",
                    "content": f"`{ev.data['name']}({_args(ev.data['arguments'])})`",
                    "metadata": {
                        "title": f"{labels['trace']}: {ev.data['name']}",
                        "status": "pending",
                    },
                }
            )
        elif ev.kind == "tool_end":
            c = ev.data
            messages[-1] = {
                "role": "assistant",
                "content": f"`{c.name}({_args(c.arguments)})`\n\n{c.output.get('summary', '')}",
                "metadata": {
                    "title": f"{labels['trace']}: {c.name}",
                    "status": "done",
                    "duration": c.seconds,
                },
            }
        elif ev.kind == "token":
            answer += ev.data
        elif ev.kind == "replace":
            answer = ev.data
        elif ev.kind == "error":
            answer = f"{labels['error']}: {ev.data}"
        elif ev.kind == "final":
            answer = ev.data.answer if not ev.data.error else f"{labels['error']}: {ev.data.error}"
    if answer:
        messages.append({"role": "assistant", "content": answer})
    return messages


def transcript_messages(turns: list[tuple[str, str]]) -> list[dict]:
    """A stored conversation (``(question, answer)`` pairs) as chat messages, for a page that
    was reloaded or whose server was restarted."""
    return [
        m
        for q, a in turns
        for m in ({"role": "user", "content": q}, {"role": "assistant", "content": a})
    ]


def _args(arguments: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in arguments.items())


def tool_output(events: list, name: str) -> dict | None:
    """The last successful output of tool ``name`` in this turn, if it ran."""
    for ev in reversed(events):
        if ev.kind == "tool_end" and ev.data.name == name and ev.data.output.get("ok"):
            return ev.data.output
    return None


def fan_chart(forecast: dict, ui_language: str = "English"):
    """Matplotlib figure: P10-P90 band, P50 line, the ward's beds."""
    labels = LABELS[ui_language]
    days = forecast["days"]
    x = [d["date"] for d in days]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.fill_between(
        x, [d["p10"] for d in days], [d["p90"] for d in days], alpha=0.3, label=labels["band"]
    )
    ax.plot(x, [d["p50"] for d in days], marker="o", label=labels["p50"])
    ax.axhline(forecast["beds"], color="red", linestyle="--", label=labels["beds"])
    name = forecast["ward_name_zh"] if ui_language == "中文" else forecast["ward_name"]
    ax.set_title(f"{name} ({forecast['ward_id']})")
    ax.tick_params(axis="x", rotation=45)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def plan_table(plan: dict) -> pd.DataFrame:
    rows = []
    for r in plan.get("rows", []):
        row = {
            k: r[k]
            for k in (
                "date",
                "ward_id",
                "demand",
                "beds_open",
                "surge_open",
                "transfers_in",
                "transfers_out",
                "unmet",
            )
            if k in r
        }
        row.update({f"RN {s}": n for s, n in (r.get("nurses") or {}).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def diff_table(plan: dict) -> pd.DataFrame:
    """A what-if's changes against the base plan: one row per changed field of a ward-day."""
    cols = ["date", "ward_id", "field", "before", "after"]
    return pd.DataFrame([{k: c[k] for k in cols} for c in plan.get("diff") or []], columns=cols)


def _whoami(caller, ui_language: str) -> str:
    role = caller.role.value.replace("_", " ")
    return f"{LABELS[ui_language]['signed_in']} **{caller.user}** ({role})"


def build_page(agent, users) -> Any:
    """The page over ``agent``; ``users`` (an :class:`agent.app.auth.UserStore`) signs staff in."""
    import gradio as gr

    hidden, shown = gr.update(visible=False), gr.update(visible=True)

    def sign_in(name: str, password: str, ui_language: str, browser_id: str | None):
        try:
            s = users.sign_in(name, password)
        except AuthError as e:
            hint = "" if users.count() else f"\n\n{NO_USERS_HINT}"
            msg = f"{LABELS[ui_language]['error']}: {e}.{hint}"
            return "", gr.update(), shown, hidden, msg, "", gr.update(), gr.update()
        who = _whoami(s.caller, ui_language)
        conversation = f"page:{s.caller.user}:{browser_id or uuid.uuid4().hex}"[:80]
        shown_before = transcript_messages(agent.transcript(conversation))
        return s.token, conversation, hidden, shown, "", "", who, shown_before

    def sign_out(token: str):
        users.sign_out(token)
        return "", shown, hidden, "", []

    def no_users_hint() -> str:
        return "" if users.count() else NO_USERS_HINT

    def respond(message: str, history: list, session: str, token: str, ui_language: str):
        stay = gr.update(), gr.update(), gr.update()  # sign-in form, chat, sign-in message
        try:
            caller = users.resolve(token)
        except AuthError as e:
            msg = f"{LABELS[ui_language]['expired']}: {e}."
            yield history, message, gr.update(), gr.update(), gr.update(), shown, hidden, msg
            return
        history = list(history or []) + [{"role": "user", "content": message}]
        events: list = []
        chart, table, changes = gr.update(), gr.update(), gr.update()
        try:
            for ev in agent.stream(message, session, caller=caller):
                events.append(ev)
                if ev.kind == "tool_end":
                    fc = tool_output(events, "forecast_beds")
                    if fc:
                        chart = gr.update(value=fan_chart(fc, ui_language), visible=True)
                    pl = tool_output(events, "plan_beds")
                    if pl:
                        table = gr.update(value=plan_table(pl), visible=True)
                        changes = gr.update(value=diff_table(pl), visible="diff" in pl)
                msgs = history + turn_messages(events, ui_language)
                yield msgs, "", chart, table, changes, *stay
        except Exception as e:  # a bug: keep the page alive, say so plainly, log the trace
            log.exception("turn failed")
            msg = {"role": "assistant", "content": f"{LABELS[ui_language]['error']}: {e}"}
            msgs = history + turn_messages(events, ui_language) + [msg]
            yield msgs, "", chart, table, changes, *stay

    def relabel(ui_language: str):
        lb = LABELS[ui_language]
        return (
            gr.update(value=lb["title"]),
            gr.update(placeholder=lb["placeholder"]),
            gr.update(value=lb["send"]),
            gr.update(label=lb["chart"]),
            gr.update(label=lb["table"]),
            gr.update(label=lb["diff"]),
        )

    with gr.Blocks(title="Wardwise") as page:
        # The browser keeps an id; the conversation (in the history store) is keyed by the
        # signed-in user and that id, and is shown again after signing in: a reloaded page or a
        # restarted server continues where it was, and nobody else's conversation is shown.
        browser = gr.BrowserState(None, storage_key="wardwise-session")
        session = gr.State("")
        token = gr.State("")  # server-side: never sent to the browser
        with gr.Row():
            title = gr.Markdown(LABELS["English"]["title"])
            ui_language = gr.Radio(
                ["English", "中文"], value="English", label="Language / 语言", elem_id="ui-language"
            )
        with gr.Column(visible=True, elem_id="sign-in") as login_box:
            username = gr.Textbox(label="User name / 用户名", elem_id="username", max_lines=1)
            password = gr.Textbox(
                label="Password / 密码", type="password", elem_id="password", max_lines=1
            )
            sign_in_btn = gr.Button("Sign in / 登录", variant="primary", elem_id="sign-in-button")
            login_msg = gr.Markdown("", elem_id="sign-in-message")
        with gr.Column(visible=False, elem_id="main") as main:
            with gr.Row():
                whoami = gr.Markdown("", elem_id="whoami")
                sign_out_btn = gr.Button("Sign out / 退出", size="sm", scale=0, elem_id="sign-out")
            chat, box, send, chart, table, changes = _chat_area(gr)
        inputs = [box, chat, session, token, ui_language]
        outputs = [chat, box, chart, table, changes, login_box, main, login_msg]
        box.submit(respond, inputs, outputs)
        send.click(respond, inputs, outputs)
        signed = [token, session, login_box, main, login_msg, password, whoami, chat]
        sign_in_btn.click(sign_in, [username, password, ui_language, browser], signed)
        password.submit(sign_in, [username, password, ui_language, browser], signed)
        sign_out_btn.click(sign_out, token, [token, login_box, main, login_msg, chat])
        page.load(no_users_hint, None, login_msg)
        ui_language.change(relabel, ui_language, [title, box, send, chart, table, changes])
        page.load(lambda b: b or uuid.uuid4().hex, browser, browser)
    return page


def _chat_area(gr):
    """The chat, the question box and the tool panels (inside the signed-in column)."""
    chat = gr.Chatbot(height=480, elem_id="chat", label="Wardwise")
    with gr.Row():
        box = gr.Textbox(
            placeholder=LABELS["English"]["placeholder"],
            show_label=False,
            scale=8,
            elem_id="question",
        )
        send = gr.Button(LABELS["English"]["send"], variant="primary", scale=1, elem_id="send")
    chart = gr.Plot(label=LABELS["English"]["chart"], visible=False, elem_id="fan-chart")
    table = gr.Dataframe(label=LABELS["English"]["table"], visible=False, elem_id="plan")
    changes = gr.Dataframe(label=LABELS["English"]["diff"], visible=False, elem_id="what-if")
    return chat, box, send, chart, table, changes


def launch(agent, settings, port: int, users) -> None:
    page = build_page(agent, users)
    page.queue(default_concurrency_limit=2).launch(
        server_name=settings.host, server_port=port, show_error=True, inbrowser=False
    )
