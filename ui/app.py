"""The chat page (Gradio). It only adapts: :func:`turn_messages` maps agent events to chat
messages, the tools' verdicts first; :func:`plan_grid` draws a plan as a ward x day grid and
:func:`plan_csv` writes its raw rows for download (all tested without a browser);
:func:`build_page` lays out the page.

The chat is behind a sign-in form: a signed-in tab holds its session token in server-side
state, every turn resolves it to the staff member and role the tools act for, and an expired
session hides the chat and asks to sign in again (the unsent question is kept).

Questions wait in the process's turn queue (:mod:`agent.app.queue`): a waiting question shows
its place and an estimate in the chat ("⏳ 3 questions ahead of yours, about 40 s", in Chinese
for a Chinese question or page), and one beyond the queue's depth is refused at once."""

from __future__ import annotations

import atexit
import html
import logging
import re
import shutil
import tempfile
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from agent.app.auth import NO_USERS_HINT, AuthError  # noqa: E402
from agent.app.queue import Position, QueueFull, TurnQueue, announce, nothing  # noqa: E402
from agent.policy import order_verdicts  # noqa: E402
from knowledge.text import has_cjk  # noqa: E402

log = logging.getLogger("wardwise.ui")

CJK_FONTS = ["WenQuanYi Micro Hei", "Noto Sans CJK SC"]
QUEUE_POLL_S = 2.0  # a waiting question's place and estimate are refreshed this often


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
        "csv": "Plan rows (CSV)",
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
        "csv": "计划明细（CSV）",
        "diff": "假设情景：与基础计划的差异",
        "p50": "P50（中位数）",
        "band": "P10-P90 区间",
        "beds": "病区床位数",
        "error": "问题",
        "signed_in": "当前用户",
        "expired": "请重新登录",
    },
}


def question_language(question: str) -> str:
    """The page's language for a question's answer and plan: "Chinese" when the question has
    any CJK ideograph, else "English" (the agent answers in the same language)."""
    return "Chinese" if has_cjk(question) else "English"


def conclusions(events: list, language: str = "English") -> list[str]:
    """The verdict sentences of this turn's successful tool calls in ``language`` ("English"
    or "Chinese"), each tool's most decisive first (the order the agent answers in)."""
    lang = "zh" if language == "Chinese" else "en"
    lines: list[str] = []
    for ev in events:
        if ev.kind == "tool_end" and ev.data.output.get("ok"):
            chosen = order_verdicts(ev.data.name, ev.data.output.get("verdicts") or [], lang)
            lines += [v["text"] for v in chosen if v.get("text")]
    return lines


def conclusions_first(answer: str, lines: list[str]) -> str:
    """``answer`` with the verdict ``lines`` as its first lines. An answer that already starts
    with a verdict was built from them (``answer_mode=verdicts``: the agent chose which) and is
    left as it is; a model's own text gets all of them above it (so they show as soon as the
    tool returns), less any it quoted verbatim, which are not repeated below."""
    if not lines or any(answer.startswith(line) for line in lines):
        return answer
    rest = answer
    for line in lines:
        rest = rest.replace(line, "")
    rest = re.sub(r"\n{3,}", "\n\n", rest).strip()
    top = "\n".join(lines)
    return f"{top}\n\n{rest}" if rest else top


def turn_messages(
    events: list, ui_language: str = "English", language: str | None = None
) -> list[dict]:
    """Chat messages for one turn so far: a collapsible message per tool call (its
    arguments, summary and time), then the answer as it streams, whose first lines are the
    tools' verdicts in the question's ``language`` ("English" or "Chinese"; by default the
    finished turn's, else the page's). A turn that failed shows only its error."""
    labels = LABELS[ui_language]
    messages: list[dict] = []
    answer = ""
    failed = False
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
            answer, failed = f"{labels['error']}: {ev.data}", True
        elif ev.kind == "final":
            language = language or ev.data.language
            if ev.data.error:
                answer, failed = f"{labels['error']}: {ev.data.error}", True
            else:
                answer = ev.data.answer
    if not failed:
        language = language or ("Chinese" if ui_language == "中文" else "English")
        answer = conclusions_first(answer, conclusions(events, language))
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


# The plan grid's words, by the question's language.
GRID = {
    "English": {
        "title": "Bed plan: patients on the ward / the ward's beds, per ward and day",
        "what_if": "What-if plan ({changes}): patients on the ward / the ward's beds",
        "quantile": "planned for the forecast's P{q}",
        "scenario": "scenario {s}",
        "window": "{first} to {last}",
        "ward": "Ward",
        "beds": "{n} beds",
        "weekdays": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
        "months": (
            "Jan",
            "Feb",
            "Mar",
            "Apr",
            "May",
            "Jun",
            "Jul",
            "Aug",
            "Sep",
            "Oct",
            "Nov",
            "Dec",
        ),  # fmt: skip
        "day": "{wd}<br>{d} {mon}",
        "surge": "+{n} surge",
        "in": "{n} in",
        "out": "{n} out",
        "overtime": "OT {n}",
        "unmet": "{n} unmet",
        "changed": "changed",
        "legend": "Cell: patients on the ward / the ward's regular beds. Green: room to spare; "
        "amber: 85% full or more; orange: surge beds open; red: patients the plan cannot place; "
        "dashed: changed by the what-if. Hover a cell for its details.",
        "tip": "{ward}, {day}: demand {demand}, on the ward {served}, regular beds used {beds}, "
        "surge {surge}, transfers in {tin} / out {tout}, unmet {unmet}, RNs {rns}, "
        "overtime RN shifts {ot}",
    },
    "Chinese": {
        "title": "床位计划：各病区每日在院患者 / 病区床位",
        "what_if": "假设情景计划：各病区每日在院患者 / 病区床位",
        "quantile": "按预测 P{q} 制定",
        "scenario": "情景 {s}",
        "window": "{first} 至 {last}",
        "ward": "病区",
        "beds": "{n} 张床",
        "weekdays": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
        "months": tuple(f"{m}月" for m in range(1, 13)),
        "day": "{mon}{d}日<br>{wd}",
        "surge": "加床 {n}",
        "in": "转入 {n}",
        "out": "转出 {n}",
        "overtime": "加班 {n}",
        "unmet": "未收治 {n}",
        "changed": "有变化",
        "legend": "单元格：在院患者 / 病区常规床位。绿色：尚有余量；琥珀色：占用 85% 及以上；"
        "橙色：启用加床；红色：计划无法安置的患者；虚线框：假设情景改变之处。"
        "鼠标悬停可查看详情。",
        "tip": "{ward}，{day}：需求 {demand}，在院 {served}，使用常规床位 {beds}，加床 {surge}，"
        "转入 {tin} / 转出 {tout}，未收治 {unmet}，护士 {rns}，加班班次 {ot}",
    },
}
# Inline styles: they render the same in every Gradio version and theme (light or dark).
_CELL = {
    "ok": "#e7f4e8",  # room to spare
    "full": "#fff3cd",  # 85% of the open beds or more
    "surge": "#ffe0b2",  # surge beds open
    "unmet": "#ffcdd2",  # patients the plan cannot place
}
_TAG = {"surge": "#e65100", "in": "#1565c0", "out": "#1565c0", "overtime": "#6a1b9a",
        "unmet": "#c62828", "changed": "#37474f"}  # fmt: skip
# Installed fonts, not Gradio's web fonts: those hold only some glyphs of their bold faces, and
# a bold word then mixes two fonts.
_FONT = (
    "font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans','Helvetica Neue',Arial,"
    "'PingFang SC','Microsoft YaHei','Noto Sans CJK SC','WenQuanYi Micro Hei',sans-serif;"
)
_TH = "padding:6px 8px;border:1px solid #cfd8dc;background:#eceff1;color:#263238;"
_TD = "padding:4px 6px;border:1px solid #cfd8dc;color:#1b1b1b;vertical-align:top;min-width:74px;"


def plan_rows(plan: dict) -> list[dict]:
    """The rows the grid shows: a one-demand plan's rows, or a robust plan's highest scenario
    (the one its verdicts read)."""
    rows = plan.get("rows") or []
    scenarios = plan.get("scenarios") or []
    if len(scenarios) > 1:
        return [r for r in rows if r.get("scenario") == scenarios[-1]]
    return rows


def _day(d: str, words: dict) -> str:
    day = date.fromisoformat(str(d)[:10])
    return words["day"].format(
        wd=words["weekdays"][day.weekday()], d=day.day, mon=words["months"][day.month - 1]
    )


def _ward_label(ward_id: str, names: dict | None, language: str) -> str:
    name = (names or {}).get(ward_id, {}).get("zh" if language == "Chinese" else "en")
    return name or ward_id


def _served(row: dict) -> int:
    """Patients on the ward that day: its demand, less those turned away or moved out, plus
    those moved in."""
    return row["demand"] - row["unmet"] - row["transfers_out"] + row["transfers_in"]


def _cell(row: dict, beds: int, changed: bool, words: dict, tip: str) -> str:
    """One ward-day: patients on the ward against its ``beds``, and what the plan does there."""
    served = _served(row)
    counts = {
        "surge": row["surge_open"],
        "in": row["transfers_in"],
        "out": row["transfers_out"],
        "overtime": sum((row.get("overtime") or {}).values()),
        "unmet": row["unmet"],
    }
    tags = [(kind, n) for kind, n in counts.items() if n]
    state = (
        "unmet" if row["unmet"] else "surge" if row["surge_open"] else
        "full" if beds and served >= 0.85 * beds else "ok"
    )  # fmt: skip
    badges = "".join(
        f'<span class="ww-tag ww-{kind}" style="display:inline-block;margin:2px 2px 0 0;'
        f"padding:0 4px;border-radius:3px;font-size:11px;line-height:16px;color:#fff;"
        f'background:{_TAG[kind]};">{html.escape(words[kind].format(n=n))}</span>'
        for kind, n in tags
    )
    if changed:
        badges += (
            f'<span class="ww-tag ww-changed" style="display:inline-block;margin:2px 2px 0 0;'
            f"padding:0 4px;border-radius:3px;font-size:11px;line-height:16px;"
            f'color:{_TAG["changed"]};border:1px dashed {_TAG["changed"]};">'
            f"{html.escape(words['changed'])}</span>"
        )
    border = "outline:2px dashed #37474f;outline-offset:-3px;" if changed else ""
    return (
        f'<td class="ww-cell ww-{state}" title="{html.escape(tip)}" '
        f'style="{_TD}background:{_CELL[state]};{border}">'
        f'<div class="ww-occ" style="font-weight:600;font-size:14px;">{served} / {beds}</div>'
        f"{badges}</td>"
    )


def plan_grid(plan: dict, language: str = "English", names: dict | None = None) -> str:
    """The plan as an HTML ward x day grid in ``language`` ("English" or "Chinese"): each cell
    shows the patients on the ward (demand less unmet and transfers out, plus transfers in)
    against the ward's regular beds, marks surge beds, transfers in and out, overtime RN
    shifts and unmet demand, and (for a what-if) the ward-days it changed.

    ``names`` maps a ward id to ``{"en": ..., "zh": ..., "beds": ...}`` (from the hospital); a
    ward without one is shown by its id against the most regular beds the plan fills on it.
    An empty string when the plan has no rows."""
    words = GRID[language]
    rows = plan_rows(plan)
    if not rows:
        return ""
    wards = list(dict.fromkeys(r["ward_id"] for r in rows))
    days = sorted({str(r["date"]) for r in rows})
    cell = {(r["ward_id"], str(r["date"])): r for r in rows}
    changed = {(c["ward_id"], str(c["date"])) for c in plan.get("diff") or []}
    notes = [words["window"].format(first=days[0], last=days[-1])]
    if plan.get("quantile"):
        notes.append(words["quantile"].format(q=round(100 * plan["quantile"])))
    if len(plan.get("scenarios") or []) > 1:
        notes.append(words["scenario"].format(s=plan["scenarios"][-1]))
    title = words["title"]
    if plan.get("changes"):
        title = words["what_if"].format(changes="; ".join(plan["changes"]))
    head = "".join(
        f'<th scope="col" style="{_TH}text-align:center;font-weight:600;">{_day(d, words)}</th>'
        for d in days
    )
    body = []
    for w in wards:
        label = html.escape(_ward_label(w, names, language))
        beds = (names or {}).get(w, {}).get("beds") or max(
            (cell[w, d]["beds_open"] for d in days if (w, d) in cell), default=0
        )
        sub = f"{html.escape(w)} · {html.escape(words['beds'].format(n=beds))}"
        cells = []
        for d in days:
            r = cell.get((w, d))
            if r is None:
                cells.append(f'<td style="{_TD}"></td>')
                continue
            tip = words["tip"].format(
                ward=_ward_label(w, names, language),
                day=d,
                demand=r["demand"],
                served=_served(r),
                beds=r["beds_open"],
                surge=r["surge_open"],
                tin=r["transfers_in"],
                tout=r["transfers_out"],
                unmet=r["unmet"],
                rns="/".join(str(n) for n in (r.get("nurses") or {}).values()) or "-",
                ot=sum((r.get("overtime") or {}).values()),
            )
            cells.append(_cell(r, beds, (w, d) in changed, words, tip))
        body.append(
            f'<tr><th scope="row" class="ww-ward" style="{_TH}text-align:left;">'
            f'{label}<div style="font-weight:400;font-size:11px;color:#546e7a;">{sub}</div></th>'
            f"{''.join(cells)}</tr>"
        )
    lang = "zh" if language == "Chinese" else "en"
    return (
        f'<div class="ww-plan" lang="{lang}" style="{_FONT}overflow-x:auto;padding:2px;">'
        f'<div class="ww-plan-title" style="font-weight:600;font-size:15px;margin:4px 0;">'
        f"{html.escape(title)}</div>"
        f'<div class="ww-plan-notes" style="font-size:12px;margin-bottom:6px;opacity:0.8;">'
        f"{html.escape(' · '.join(notes))}</div>"
        f'<table class="ww-grid" style="border-collapse:collapse;font-size:13px;">'
        f'<thead><tr><th scope="col" style="{_TH}text-align:left;">{words["ward"]}</th>{head}'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f'<div class="ww-legend" style="font-size:12px;margin-top:6px;opacity:0.8;">'
        f"{html.escape(words['legend'])}</div></div>"
    )


def plan_csv(plan: dict, directory: Path) -> Path | None:
    """Write the plan's raw rows (every field; per-shift counts as ``nurses_day`` ...) to a
    new CSV file under ``directory`` and return its path; None when there are no rows."""
    rows = plan.get("rows") or []
    if not rows:
        return None
    days = sorted({str(r["date"]) for r in rows})
    kind = "what-if" if plan.get("changes") else "plan"
    path = Path(directory) / f"wardwise-{kind}-{days[0]}-{days[-1]}-{uuid.uuid4().hex[:8]}.csv"
    pd.json_normalize(rows, sep="_").to_csv(path, index=False)
    return path


def ward_names(agent) -> dict[str, dict]:
    """Ward id -> ``{"en": name, "zh": name, "beds": regular beds}`` from the agent's
    hospital (empty without one)."""
    hospital = getattr(getattr(agent, "ctx", None), "hospital", None)
    return {
        w.ward_id: {"en": w.name_en, "zh": w.name_zh, "beds": w.beds}
        for w in getattr(hospital, "wards", [])
    }


def diff_table(plan: dict) -> pd.DataFrame:
    """A what-if's changes against the base plan: one row per changed field of a ward-day."""
    cols = ["date", "ward_id", "field", "before", "after"]
    return pd.DataFrame([{k: c[k] for k in cols} for c in plan.get("diff") or []], columns=cols)


def _whoami(caller, ui_language: str) -> str:
    role = caller.role.value.replace("_", " ")
    return f"{LABELS[ui_language]['signed_in']} **{caller.user}** ({role})"


def queue_message(where: Position, language: str) -> dict:
    """The chat message of a question waiting in the turn queue: its place and estimate
    ("⏳ 3 questions ahead of yours, about 40 s", "⏳ 前面还有 3 个问题，约 40 秒")."""
    return {"role": "assistant", "content": f"⏳ {where.message(language)}"}


def build_page(agent, users, queue: TurnQueue | None = None) -> Any:
    """The page over ``agent``; ``users`` (an :class:`agent.app.auth.UserStore`) signs staff in;
    ``queue`` (when given) admits the turns: a waiting question shows its place and estimate,
    one beyond the queue's depth is refused at once and stays in the box to send again."""
    import gradio as gr

    hidden, shown = gr.update(visible=False), gr.update(visible=True)
    names = ward_names(agent)
    downloads = Path(tempfile.mkdtemp(prefix="wardwise-plans-"))  # one CSV per plan turn
    atexit.register(shutil.rmtree, downloads, ignore_errors=True)  # not left behind in /tmp

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
            keep = (gr.update(),) * 4
            yield history, message, *keep, shown, hidden, msg
            return
        history = list(history or []) + [{"role": "user", "content": message}]
        language = question_language(message)  # the answer's and the plan grid's
        events: list = []
        panels = [gr.update(), gr.update(), gr.update(), gr.update()]  # chart, grid, csv, diff
        said = "Chinese" if language == "Chinese" or ui_language == "中文" else "English"
        ticket = None
        if queue is not None:
            try:
                ticket = queue.enter()
            except QueueFull as e:  # refused at once; the question stays in the box
                busy = {"role": "assistant", "content": f"⏳ {e.message(said)}"}
                yield history + [busy], message, *panels, *stay
                return
        ok = False
        waits = ticket is not None and not ticket.running  # the turns running embed it too
        withdraw = announce(agent, message) if waits else nothing
        try:
            placed = None
            while ticket is not None and queue is not None and not ticket.running:
                where = queue.position(ticket)
                if (where.ahead, round(where.eta_s)) != placed:
                    placed = (where.ahead, round(where.eta_s))
                    yield history + [queue_message(where, said)], "", *panels, *stay
                queue.wait(ticket, timeout=QUEUE_POLL_S)
            withdraw()  # the turn announces its own question as it starts
            for ev in agent.stream(message, session, caller=caller):
                events.append(ev)
                if ev.kind == "tool_end":
                    panels = _panels(events, panels, ui_language, language)
                msgs = history + turn_messages(events, ui_language, language)
                yield msgs, "", *panels, *stay
            ok = True
        except Exception as e:  # a bug: keep the page alive, say so plainly, log the trace
            log.exception("turn failed")
            msg = {"role": "assistant", "content": f"{LABELS[ui_language]['error']}: {e}"}
            msgs = history + turn_messages(events, ui_language, language) + [msg]
            yield msgs, "", *panels, *stay
        finally:  # also when the tab was closed while waiting: the place goes to the next
            withdraw()
            if ticket is not None and queue is not None:
                queue.release(ticket, ok=ok)

    def _panels(events: list, panels: list, ui_language: str, language: str) -> list:
        """The chart, plan grid, plan CSV and what-if panels after a tool returned."""
        chart, grid, csv, changes = panels
        fc = tool_output(events, "forecast_beds")
        if fc:
            chart = gr.update(value=fan_chart(fc, ui_language), visible=True)
        pl = tool_output(events, "plan_beds")
        if pl:
            grid = gr.update(value=plan_grid(pl, language, names), visible=True)
            path = plan_csv(pl, downloads)
            csv = gr.update(value=str(path) if path else None, visible=path is not None)
            changes = gr.update(value=diff_table(pl), visible="diff" in pl)
        return [chart, grid, csv, changes]

    def relabel(ui_language: str):
        lb = LABELS[ui_language]
        return (
            gr.update(value=lb["title"]),
            gr.update(placeholder=lb["placeholder"]),
            gr.update(value=lb["send"]),
            gr.update(label=lb["chart"]),
            gr.update(label=lb["csv"]),
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
            chat, box, send, chart, grid, csv, changes = _chat_area(gr)
        inputs = [box, chat, session, token, ui_language]
        outputs = [chat, box, chart, grid, csv, changes, login_box, main, login_msg]
        # every question reaches the turn queue, which orders, shows and refuses them
        turns = {"concurrency_id": "turn", "concurrency_limit": _turn_threads(queue)}
        box.submit(respond, inputs, outputs, **turns)
        send.click(respond, inputs, outputs, **turns)
        signed = [token, session, login_box, main, login_msg, password, whoami, chat]
        sign_in_btn.click(sign_in, [username, password, ui_language, browser], signed)
        password.submit(sign_in, [username, password, ui_language, browser], signed)
        sign_out_btn.click(sign_out, token, [token, login_box, main, login_msg, chat])
        page.load(no_users_hint, None, login_msg)
        ui_language.change(relabel, ui_language, [title, box, send, chart, csv, changes])
        page.load(lambda b: b or uuid.uuid4().hex, browser, browser)
    return page


def _chat_area(gr):
    """The chat, the question box and the tool panels (inside the signed-in column): the
    forecast chart, the plan grid with its CSV download, and a what-if's changes."""
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
    grid = gr.HTML(visible=False, elem_id="plan-grid")
    csv = gr.File(
        label=LABELS["English"]["csv"], visible=False, interactive=False, elem_id="plan-csv"
    )
    changes = gr.Dataframe(label=LABELS["English"]["diff"], visible=False, elem_id="what-if")
    return chat, box, send, chart, grid, csv, changes


def _turn_threads(queue: TurnQueue | None) -> int:
    """Gradio's limit for the question handlers: with a turn queue, room for every turn it
    runs or holds and one to refuse (so Gradio's own, silent queue never holds one)."""
    return 2 if queue is None else queue.max_concurrent + queue.max_depth + 1


def launch(agent, settings, port: int, users) -> None:
    """Serve the page over ``agent`` on ``settings.host``:``port`` (blocks until stopped), its
    questions admitted by a turn queue sized by ``settings`` (see :mod:`agent.app.queue`)."""
    queue = TurnQueue.for_settings(settings)
    page = build_page(agent, users, queue)
    page.queue(default_concurrency_limit=2).launch(
        server_name=settings.host,
        server_port=port,
        show_error=True,
        inbrowser=False,
        max_threads=max(40, _turn_threads(queue) + 8),
    )
