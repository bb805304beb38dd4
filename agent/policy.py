"""What the turn loop knows about each tool, in one place: how a tool's arguments are set
from the question by code, which outputs need a label, which errors end the turn, and which
verdicts answer a question first.

The loop (:mod:`agent.graph`) stays generic: it asks this module to prepare a call, to order
the verdicts of a result and to name the labels an answer must carry.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from agent.resolve import (
    DateWindow,
    WardResolution,
    WardResolver,
    clarifying_question,
    resolve_shift,
)
from agent.resolve.whatif import is_what_if, read_what_if
from knowledge.hospital import Ward

# Errors that another try with other arguments cannot fix (a refused role, a dead store).
FINAL_ERRORS = frozenset({"timeout", "index_unavailable", "forbidden"})
# Storing a plan changes what every ward works from: ``apply`` only when the staff member's
# own words ask for it (small models set it on "plan beds for next week").
APPLY_INTENT = re.compile(
    r"\b(apply|adopt|save|store|commit|make it (the )?current)\b|采用|应用|保存|生效|设为当前",
    re.I,
)
# Arguments only code sets (the router's schema leaves them out; a model's value is dropped).
CODE_SET = frozenset({"start"})
# Free-text arguments that may carry patient details: only their digest goes to the audit.
TEXT_ARGUMENTS = {"similar_cases": ("text",)}
# How many similar records the differential is built from (the model asked for k=1 once).
CASES_K = 10
# The verdicts that answer a question first, per tool; others follow in the tool's order.
VERDICT_ORDER = {
    "forecast_beds": (
        "forecast.exceeds_beds",
        "forecast.busiest_day",
        "forecast.overflow_chance",
        "forecast.expected_range",
        "forecast.accuracy",
    ),
    "plan_beds": ("plan.infeasible", "plan.covered", "plan.changes", "plan.binding"),
    "similar_cases": ("cases.close_match", "cases.differential"),
}
# The request words before the symptoms ("Find similar cases: ...", "有类似病例吗：...").
_REQUEST = re.compile(
    r"^\s*(?:(?:please|can you|could you|any|are there|find|show|search|look up|get)\b[^:：?？]*?"
    r"(?:cases?|records?|patients?)\b[^:：]*[:：]|[^:：]{0,24}(?:病例|案例|病人|患者)[^:：]{0,12}[:：])\s*",
    re.I,
)


# Nurses and shifts: the forecast counts beds only, the plan staffs them.
STAFFING = re.compile(
    r"\b(?:nurses?|nursing|staff|staffing|staffed|rns?|rota|shifts?)\b|护士|人手|排班|班次|夜班|白班|晚班",
    re.I,
)
# Words that make a what-if of the model's own plausible: a question without any of them
# states no change, and a what-if the model adds (copied from the tool's description) is dropped.
_CHANGE_HINT = re.compile(
    r"\b(?:if|what if|suppose|supposing|assume|assuming|say|imagine|were to|demand|more patients"
    r"|fewer patients|surge|transfers?|sick|off|close|closes|closed|shut|open|opens|lose|down|short"
    r"|extra|agency|%)\b|%|如果|假如|要是|假设|万一|关|停用|加开|病假|请假|少|缺|多|转|增加|减少",
    re.I,
)


# Words that ask for what only the hospital-wide plan does (besides changes and staff).
_PLAN_WORDS = re.compile(
    r"\b(?:plans?|planning|transfers?|surge|allocat\w*|apply|adopt|bottlenecks?|limit\w*|short"
    r"|hospital|everywhere|across|all wards|every ward)\b"
    r"|计划|方案|调配|转|瓶颈|限制|全院|医院|各病区|所有病区|缺",
    re.I,
)


def reroute(tool: str, question: str, resolver: WardResolver, previous: str | None = None) -> str:
    """The tool a question needs when the router chose the other of the two bed tools.

    A ward forecast goes to the plan for what only the plan answers: a change to try (staff
    off, beds closed), nurses or shifts (the forecast counts beds only), or a question about no
    ward at all ("what's the bottleneck this weekend?", "where are we short?": neither it nor
    the previous question names one, so a ward the model wrote is its own guess, and the plan
    answers for every ward). The plan goes to the forecast for a question about one ward's beds
    that asks for no change, no staff and nothing the plan does ("room on cardio Friday to
    Sunday?"): the plan answers for every ward at once and says nothing of that ward's days.
    """
    if tool == "plan_beds":
        if not _asks_no_plan(question):
            return tool
        found = resolver.resolve(question)
        if _names_one_ward(found):
            return "forecast_beds"
        if previous and not found.mentioned and _one_wards_beds(previous, resolver):
            return "forecast_beds"  # "same question for the next 14 days", after one ward's
        return tool
    if tool != "forecast_beds":
        return tool
    if is_what_if(question) or STAFFING.search(question):
        return "plan_beds"
    if resolver.resolve(question).mentioned:
        return tool
    if previous and resolver.resolve(previous).mentioned:
        return tool  # a follow-up ("and on Friday?") about the ward asked about before
    return "plan_beds"


def _names_one_ward(found: WardResolution) -> bool:
    """The question's own words name exactly one ward."""
    return (
        found.status == "resolved" and found.source == "question" and len(set(found.mentioned)) == 1
    )


def _one_wards_beds(question: str, resolver: WardResolver) -> bool:
    """The question names exactly one ward and asks nothing only the plan answers."""
    return _asks_no_plan(question) and _names_one_ward(resolver.resolve(question))


def _asks_no_plan(question: str) -> bool:
    """No change to try, no staff and nothing else only the plan answers."""
    asks_plan = (STAFFING, _CHANGE_HINT, _PLAN_WORDS)
    words = question.replace("多少", "")  # "how many": not 多 (more) nor 少 (fewer)
    return not (is_what_if(question) or any(p.search(words) for p in asks_plan))


@dataclass
class Prepared:
    """A tool call made ready by code: the arguments to run with, or a message back."""

    arguments: dict
    message: str | None = None  # a question back (which ward?) or the horizon; no tool runs
    ward: WardResolution | None = None
    notes: list[str] = field(default_factory=list)


def symptom_text(question: str) -> str:
    """The question minus its request words: what the similar-case search should read."""
    text = _REQUEST.sub("", question, count=1).strip()
    return text or question.strip()


def _window_args(window: DateWindow, first_day: date, max_days: int) -> dict:
    """``start`` and ``days`` for a window. A window that starts before the first day the tools
    answer for ("the next 3 days" asked before today's census is in) moves to that day whole,
    keeping its length."""
    start = max(window.start, first_day)
    return {"start": start.isoformat(), "days": min(window.days, max_days)}


def horizon_message(window: DateWindow, last_day: date, language: str) -> str:
    """The reply to a window past what the tools can answer for."""
    if language == "zh":
        return (
            f"我最多只能回答到 {last_day.isoformat()}（今天起 {(last_day - window.today).days} 天）。"
            f"您问的时间段到 {window.end.isoformat()}，请缩短到这个范围内再问。"
        )
    return (
        f"I can answer up to {last_day.isoformat()} ({(last_day - window.today).days} days from "
        f"today). The period you asked about runs to {window.end.isoformat()}; please ask for "
        "days within that range."
    )


def prepare(
    tool: str,
    arguments: dict,
    question: str,
    *,
    wards: Sequence[Ward],
    resolver: WardResolver | None = None,
    previous: str | None = None,
    first_day: date,
    window: DateWindow | None,
    language: str,
    max_days: dict[str, int],
) -> Prepared:
    """Set the arguments code reads better than the model: the ward from the question's own
    words, the date window, the symptom text and ``k``; refuse an unasked ``apply``.

    Args:
        tool: the tool the model chose.
        arguments: the model's arguments.
        question: the staff member's message.
        wards: the hospital's wards.
        resolver: a :class:`WardResolver` built once for ``wards`` (None: one is built here).
        previous: the staff member's earlier message a follow-up's ward comes from (the
            latest that names a ward, else the previous one), if any: a
            follow-up that names no ward ("and on Friday?") is about the ward it named.
        first_day: the first day the tools answer for (the day after the last day of history).
        window: the date window read from the question, if any.
        language: "en" or "zh", for a message back.
        max_days: the most days each tool answers for.
    """
    args = {k: v for k, v in arguments.items() if k not in CODE_SET}
    resolver = resolver or WardResolver(wards)
    out = Prepared(args)
    limit = max_days.get(tool, 28)
    if window is not None and tool in ("forecast_beds", "plan_beds"):
        last_day = first_day + timedelta(days=limit - 1)
        if max(window.start, first_day) + timedelta(days=window.days - 1) > last_day:
            out.message = horizon_message(window, last_day, language)
            return out
        args.update(_window_args(window, first_day, limit))
        out.notes.append(f"window {args['start']} +{args['days']}d")
    if tool == "forecast_beds":
        model_ward = str(args.get("ward") or "") or None
        res = resolver.resolve(question, model_ward)
        if previous and not res.mentioned:  # a follow-up naming no ward: the one asked about
            before = resolver.resolve(previous, model_ward)
            if before.status == "resolved" and before.source == "question":
                res = before
        out.ward = res
        if res.status != "resolved" or res.ward_id is None:
            out.message = clarifying_question(res, wards, "zh" if language == "zh" else "en")
            return out
        args["ward"] = res.ward_id
    elif tool == "plan_beds":
        args["apply"] = bool(args.get("apply")) and bool(APPLY_INTENT.search(question))
        what_if = str(args.get("what_if") or "")
        res = resolver.resolve(question, None)
        out.ward = res
        shift = resolve_shift(question)
        read = read_what_if(question, res.ward_id if res.status == "resolved" else None, shift)
        if read:  # the question's own change, read by code, wins over the model's wording
            args["what_if"] = read
            out.notes.append(f"what-if read from the question: {read}")
            return out
        if what_if and not _CHANGE_HINT.search(question):
            args.pop("what_if", None)  # the question states no change: the model invented one
            out.notes.append(f"dropped the model's what-if {what_if!r}")
            return out
        if what_if and res.status == "resolved" and res.ward_id:
            # the model copies the description's example ward: the question's ward wins
            codes = {w.ward_id for w in wards}
            args["what_if"] = re.sub(
                r"\b(" + "|".join(map(re.escape, sorted(codes))) + r")\b", res.ward_id, what_if
            )
        if what_if and shift and not re.search(r"\b(day|evening|night)\b", args["what_if"]):
            args["what_if"] = f"{args['what_if']} {shift} shift"
    elif tool == "similar_cases":
        args["text"] = symptom_text(question)
        args["k"] = CASES_K
    return out


def order_verdicts(tool: str, verdicts: list[dict], language: str) -> list[dict]:
    """The verdicts of one result in the question's language, the most decisive first."""
    lang = "zh" if language == "zh" else "en"
    mine = [v for v in verdicts if v.get("language") == lang]
    order = VERDICT_ORDER.get(tool, ())
    rank = {vid: i for i, vid in enumerate(order)}
    return sorted(mine, key=lambda v: rank.get(v.get("id", ""), len(order)))


def audit_arguments(tool: str, arguments: dict, digest) -> dict:
    """The arguments as the audit keeps them: free text only as its digest."""
    hidden = TEXT_ARGUMENTS.get(tool, ())
    return {k: digest(v) if k in hidden and isinstance(v, str) else v for k, v in arguments.items()}


def required_labels(calls: Sequence) -> list[tuple[str, dict]]:
    """The labels an answer must carry whatever the model wrote, as ``(prompt, variables)``:
    decision support for similar cases, and "not proven optimal" for a plan stopped early."""
    out: list[tuple[str, dict]] = []
    if any(c.name == "similar_cases" and c.output.get("ok") for c in calls):
        out.append(("decision_support", {}))
    for c in calls:
        status = c.output.get("status")
        if c.name == "plan_beds" and c.output.get("ok") and status not in (None, "optimal"):
            gap = c.output.get("gap")
            out.append(("plan_not_optimal", {"gap": None if gap is None else round(100 * gap, 2)}))
    return out
