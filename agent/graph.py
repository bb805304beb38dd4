"""The agent: a bounded loop that routes a question to one tool, runs it, and answers from
the tool's labelled facts, with every number checked against those facts.

Two ways to get the tool decision from the model, chosen by ``mode``:

``route``  the model fills a small JSON schema (``{"tool": <const>, ...arguments}`` per
           tool, or ``{"tool": "none", "reply": ...}``), enforced by the server's
           schema-constrained decoding (llama.cpp grammar, vLLM guided decoding);
``tools``  native OpenAI tool calls, with a tolerant parser for calls the model writes as
           text (``<tool_call>`` tags, fenced or bare JSON), validated against the schema
           (``tolerant=False`` accepts only the server's parsed ``tool_calls``).

Either way the tool runs here, and the final answer is written by a second call that sees
only the tool's summary and facts. A failed tool call is shown to the router once more so
it can correct its arguments (``max_steps`` bounds the loop); so is a decision that is not
valid JSON (a truncated route, a tool call whose arguments do not parse).

Faults are answered, never crashed on: a dead or failing model server ends the turn with a
clear message (the history is left as it was, so the turn can be retried); a tool that runs
past ``tool_timeout`` or a case index that cannot be opened comes back as a structured error
the answer explains; a plan stopped by the solver's time limit is labelled as not proven
optimal; a turn whose audit record cannot be written is refused. Log lines carry ids, tool
names, timings and outcomes, never the question, the answer or a tool's text arguments.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from agent import grounding, policy
from agent.app.audit import AuditError, digest
from agent.entities import check_entities
from agent.entities import ungrounded as ungrounded_entities
from agent.gate import GATE, TOOL_SLICE_S, TurnGate
from agent.guard import refused_request
from agent.llm import response_format, token_limit
from agent.resolve import WardResolver, resolve_window
from knowledge.text import has_cjk
from prompts import compile_prompt, load_prompt, prompt_version
from tools.registry import MAX_DAYS, PLAN_MAX_DAYS, SCHEMAS, ToolContext, call_tool
from tools.result import ErrorResult, ToolError
from tools.roles import Caller

log = logging.getLogger("wardwise.agent")

MEMORY_TURNS = 3
ANSWER_TOKENS = 320
PROMPTS = (
    "router",
    "answer",
    "repair",
    "fallback",
    "tools_system",
    "decision_support",
    "capabilities",
    "plan_not_optimal",
    "refusal",
    "tool_error",
)
# What :meth:`Agent.prepare` runs the turn's code on at start-up (no model, no store).
WARM_QUESTIONS = ("Will ICU be full on Friday?", "下周五重症监护室需要多少床？")
MALFORMED = "(malformed)"  # a decision that was meant as JSON but does not parse
ANSWER_MODES = ("verdicts", "model")
# Example-bank labels that are refused with a fixed reply when the router chose no tool, and
# those a confident vote refuses before the router is asked. Patient-identity and unsafe
# questions are left to the router: "Mr X, MRN 123, chest pain: similar cases?" sits close to
# the identity examples but is a fair symptom search (its identifiers never reach the audit).
REFUSED = ("phi", "unsafe", "injection", "off_topic")
PRE_EMPTED = ("injection", "off_topic", "smalltalk")
OVERRIDE_CONFIDENCE = 0.75
# One example: the nearest labelled question. The examples change with every question, so no
# cache holds them; a second one cost ~35 prompt tokens (~1.2 s on 2 cores) per turn.
EXAMPLES_SHOWN = 1
CUT_OFF = "your reply was cut off before its JSON object ended: reply with one short JSON object"
# Examples written without spaces: fewer prompt tokens, and the model imitates them (fewer
# tokens to decode at ~10 tokens/s on 2 cores).
COMPACT_JSON: dict = {"ensure_ascii": False, "separators": (",", ":")}
# A tool's output as text, for grounding and for its audit digest: orjson, ~15x json.dumps
# on a forecast's 9 kB (compact; integer keys written as strings, as json.dumps writes them).
_ANY_KEYS = orjson.OPT_NON_STR_KEYS
_SORTED = orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS
# Labels whose questions code may route itself when the router chose no tool ("whatif"
# needs the model's what-if text, so it never is).
VOTE_TOOL = {"forecast": "forecast_beds", "plan": "plan_beds", "cases": "similar_cases"}


class ErrorText(str):
    """A failed tool call's summary, shown to the router for another try."""


MAX_DAYS_BY_TOOL = {"forecast_beds": MAX_DAYS, "plan_beds": PLAN_MAX_DAYS}


def detect_language(text: str) -> str:
    """ "Chinese" when the text has any CJK ideograph, else "English"."""
    return "Chinese" if has_cjk(text) else "English"


@dataclass
class Decision:
    tool: str
    arguments: dict = field(default_factory=dict)
    reply: str = ""


@dataclass
class ToolCall:
    name: str
    arguments: dict
    output: dict
    seconds: float
    cpu_ms: float = 0.0  # the turn thread's CPU during the call: the tool's own when it ran inline


@dataclass
class Turn:
    question: str
    answer: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    grounded: bool = True
    ungrounded: list[str] = field(default_factory=list)
    grounding: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    language: str = "English"
    mode: str = "route"
    repaired: bool = False
    replaced: bool = False
    error: str | None = None
    llm_calls: list[dict] = field(default_factory=list)
    prompt_versions: list[str] = field(default_factory=list)
    malformed: int = 0  # decisions that were not valid JSON and were asked again
    role: str = ""
    window: dict | None = None  # the date window read from the question by code
    answer_verdicts: list[str] = field(default_factory=list)  # verdict ids in the answer
    ungrounded_entities: list[str] = field(default_factory=list)
    clarification: bool = False  # the turn asked back (which ward?) instead of running a tool
    route: dict = field(default_factory=dict)  # the example bank's vote and who decided
    # Wardwise's own CPU for the turn, ms: the CPU of the turn's steps less that of its model
    # calls and tool calls (each one's ``cpu_ms``), on whatever thread ran them
    cpu_ms: float = 0.0

    def to_json(self) -> dict:
        """The turn as JSON types. Top-level lists and dicts are copies; what they hold (a
        tool's output, an LLM call's record) is the turn's own, not deep-copied: ``asdict``
        copying a forecast's output cost more CPU than the rest of serving the reply."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v
        out["tool_calls"] = [
            {
                "name": c.name,
                "arguments": c.arguments,
                "output": c.output,
                "seconds": c.seconds,
                "cpu_ms": c.cpu_ms,
            }
            for c in self.tool_calls
        ]
        return out


@dataclass
class Event:
    """One step of a turn, for the page and the CLI: ``kind`` is ``tool_start``,
    ``tool_end``, ``token``, ``replace`` (the streamed text was replaced), ``error`` or
    ``final``."""

    kind: str
    data: Any = None


def router_tools(schemas: dict[str, dict]) -> list[dict]:
    """The tools as the router prompt lists them: without the arguments code sets (dates), so
    the prompt names exactly the fields :func:`route_schema` lets the model write."""
    out = []
    for s in schemas.values():
        props = {k: v for k, v in s["parameters"]["properties"].items() if k not in policy.CODE_SET}
        out.append({**s, "parameters": {**s["parameters"], "properties": props}})
    return out


def route_schema(schemas: dict[str, dict]) -> dict:
    """One object per tool, ``tool`` first as a constant, plus the ``none`` reply."""
    variants = []
    for name, s in schemas.items():
        props = {"tool": {"const": name}}
        props.update(
            {
                k: {"type": v["type"]}
                for k, v in s["parameters"]["properties"].items()
                if k not in policy.CODE_SET  # dates are read by code, never by the model
            }
        )
        variants.append(
            {"type": "object", "properties": props, "required": ["tool", *props.keys() - {"tool"}]}
        )
    variants.append(
        {
            "type": "object",
            "properties": {"tool": {"const": "none"}, "reply": {"type": "string"}},
            "required": ["tool", "reply"],
        }
    )
    for v in variants:
        v["required"] = ["tool"] + sorted(r for r in v["required"] if r != "tool")
    return {"anyOf": variants}


_TAGGED = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.S)
_FENCED = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)


def _json_objects(text: str) -> list[dict]:
    found = [m.group(1) for m in _TAGGED.finditer(text)] or [
        m.group(1) for m in _FENCED.finditer(text)
    ]
    if not found:
        dec = json.JSONDecoder()
        i = text.find("{")
        while i != -1:
            try:
                obj, end = dec.raw_decode(text[i:])
                found.append(json.dumps(obj))
                i = text.find("{", i + end)
            except json.JSONDecodeError:
                i = text.find("{", i + 1)
    out = []
    for s in found:
        try:
            obj = json.loads(s)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def looks_like_call(text: str) -> bool:
    """True when the text was meant as a JSON decision or tool call (so a failed parse is
    a malformed call, not a plain reply)."""
    t = (text or "").strip()
    return t.startswith(("{", "[", "```")) or "<tool_call>" in t


def parse_decision(text: str) -> Decision | None:
    """A tool decision from model text: route JSON, ``{"name", "arguments"}`` in tags,
    fenced or bare JSON. Unknown tool names are rejected (None)."""
    for obj in _json_objects(text or ""):
        name = obj.get("tool") or obj.get("name") or (obj.get("function") or {}).get("name")
        if name == "none":
            return Decision("none", {}, str(obj.get("reply", "")))
        if name in SCHEMAS:
            fn = obj.get("function") or {}
            args = obj.get("arguments") or obj.get("parameters") or fn.get("arguments") or {}
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except json.JSONDecodeError:
                    args = {}
            if not args:
                args = {
                    k: v for k, v in obj.items() if k in SCHEMAS[name]["parameters"]["properties"]
                }
            return Decision(name, dict(args))
    return None


_PARAGRAPHS = re.compile(r"\n\s*\n")
_MIN_REPEAT = 40  # characters: short list items legitimately look alike


def _previous_questions(history: list[BaseMessage]) -> list[str]:
    """The staff member's earlier messages in the conversation, the latest first."""
    return [
        str(m.content)
        for m in reversed(history)
        if isinstance(m, HumanMessage) and str(m.content).strip()
    ]


def _ward_context(earlier: list[str], resolver: WardResolver) -> str | None:
    """The earlier question a follow-up's ward comes from: the latest that names a ward, so
    "and for 12 days?" after "and for 7 days?" after "ICU next 2 days?" is still about ICU;
    the previous question when none does."""
    for text in earlier:
        if resolver.resolve(text).mentioned:
            return text
    return earlier[0] if earlier else None


def _similar(a: str, b: str) -> bool:
    a, b = a.strip().lower(), b.strip().lower()
    if min(len(a), len(b)) < _MIN_REPEAT:
        return False
    return a in b or b in a or SequenceMatcher(None, a, b).ratio() > 0.85


def repeats(text: str) -> bool:
    """True when the last finished paragraph restates an earlier one."""
    paras = [p for p in _PARAGRAPHS.split(text)[:-1] if p.strip()]
    return len(paras) >= 2 and any(_similar(paras[-1], p) for p in paras[:-1])


def dedupe(text: str) -> str:
    """Drop paragraphs that restate an earlier one; small models loop."""
    kept: list[str] = []
    for p in _PARAGRAPHS.split(text):
        if p.strip() and not any(_similar(p, k) for k in kept):
            kept.append(p.strip())
    return "\n\n".join(kept)


class _Timed:
    """An iterator's items as they come; ``seconds`` adds up the time spent waiting for them
    (a streamed answer's model time, without the turn's own work or its reader between) and
    ``cpu`` this thread's CPU meanwhile (the model client's)."""

    def __init__(self, items: Iterator):
        self.items, self.seconds, self.cpu = items, 0.0, 0.0

    def __iter__(self) -> _Timed:
        return self

    def __next__(self):
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return next(self.items)
        finally:
            self.seconds += time.perf_counter() - t0
            self.cpu += time.thread_time() - c0

    def close(self) -> None:
        """Close the wrapped generator (a reader that stopped early)."""
        close = getattr(self.items, "close", None)
        if close is not None:
            close()


class Agent:
    """Routes, runs tools, answers, checks numbers. One instance serves many sessions."""

    def __init__(
        self,
        model,
        ctx: ToolContext,
        *,
        dialect: str = "openai",
        mode: str = "route",
        max_steps: int = 3,
        today: date | None = None,
        tolerant: bool = True,
        prompt_dir: Path | None = None,
        audit=None,
        model_name: str = "",
        chats=None,
        tool_timeout: float | None = None,
        examples=None,
        answer_mode: str = "model",
        gate: TurnGate | None = None,
    ):
        if mode not in ("route", "tools"):
            raise ValueError(f"mode must be 'route' or 'tools', got {mode!r}")
        if answer_mode not in ANSWER_MODES:
            raise ValueError(f"answer_mode must be one of {ANSWER_MODES}, got {answer_mode!r}")
        self.model = model
        self.ctx = ctx
        self.dialect = dialect
        self.mode = mode
        self.max_steps = max_steps
        self.today = today
        self.tolerant = tolerant
        self.prompt_dir = prompt_dir
        self.audit = audit
        self.model_name = model_name
        self.chats = chats  # a ChatHistory: memory that survives a restart
        self.tool_timeout = tool_timeout
        self.examples = examples  # an ExampleBank: nearest labelled questions for the router
        self.answer_mode = answer_mode
        self.gate = gate or GATE  # turns' CPU work one after another (agent.gate)
        self.memory: dict[str, list[BaseMessage]] = {}
        self._schema = route_schema(SCHEMAS)
        self._tools = router_tools(SCHEMAS)
        self._resolver: WardResolver | None = None
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="wardwise-tool")

    def _prompt(self, name: str, **variables) -> str:
        return load_prompt(name, self.prompt_dir, **variables)

    # -- model calls ------------------------------------------------------------------
    def _context(self) -> dict:
        return {
            "wards": [w.model_dump() for w in self.ctx.hospital.wards],
            "today": self._today().isoformat(),
        }

    def _today(self) -> date:
        return self.today or date.today()

    def _first_day(self) -> date:
        """The first day the tools answer for: the day after the last day of history."""
        last = self.ctx.hospital.last_day
        return self._today() if last is None else last + timedelta(days=1)

    def _ward_resolver(self) -> WardResolver:
        """The ward resolver of the hospital's wards, compiled once (again if they change)."""
        wards = tuple(self.ctx.hospital.wards)
        if self._resolver is None or self._resolver.wards != wards:
            self._resolver = WardResolver(wards)
        return self._resolver

    def _examples_for(self, turn: Turn) -> list[dict]:
        """The labelled questions nearest to this one, for the router to imitate."""
        if self.examples is None:
            return []
        return [
            {"text": n.text, "decision": json.dumps(n.decision(), **COMPACT_JSON)}
            for n in self.examples.nearest(turn.question, EXAMPLES_SHOWN)
        ]

    def _timed(self, turn: Turn, purpose: str, fn):
        t0 = time.perf_counter()
        with self.gate.released():  # the model server's time: other turns go on
            c0 = time.thread_time()
            msg = fn()
            cpu = time.thread_time() - c0  # the model client's CPU (request, HTTP, reply)
            seconds = time.perf_counter() - t0  # not the wait for the gate after it
        usage = getattr(msg, "usage_metadata", None) or {}
        turn.llm_calls.append(
            {
                "purpose": purpose,
                "seconds": round(seconds, 3),
                "cpu_ms": round(1000 * cpu, 3),
                "tokens": usage.get("total_tokens"),
                "prompt_tokens": usage.get("input_tokens"),
            }
        )
        return msg

    def prepare(self) -> None:
        """Do now, at start-up, what the first turn would otherwise do while every other turn
        waits for the gate (~2 s of CPU): load the example bank's encoder and embed its
        examples, compile the ward resolver, load the entity lexicon and compile the prompts.
        No model call (:meth:`warm` is the model's side)."""
        for name in PROMPTS:
            compile_prompt(name, self.prompt_dir)
        resolver = self._ward_resolver()
        for question in WARM_QUESTIONS:  # the code side of a turn, in both languages
            refused_request(question)
            resolve_window(question, self._today(), max_days=MAX_DAYS)
            resolver.resolve(question)
            policy.reroute("forecast_beds", question, resolver, question)
            if self.examples is not None:  # the encoder, its tokenizer, the bank's matrix
                self.examples.vote(question)
            grounding.check(question, [], question, [])
            check_entities(question, wards=self.ctx.hospital.wards, tool_texts=[])

    def warm(self) -> None:
        """Evaluate the router prompt's shared prefix once, so the first staff question pays
        only for its own tokens (the embedded server keeps the last prompt's KV cache; a cold
        prefix costs ~30 s on 2 cores). A failure is only logged: a turn reports a dead server."""
        if self.mode != "route":
            return
        turn = Turn(question="hello")
        system = self._router_prompt(turn, None)
        try:
            self.model.invoke(
                [SystemMessage(system), HumanMessage(turn.question)], **token_limit(1)
            )
        except Exception as e:  # noqa: BLE001 - warming is best effort
            log.warning("warming the router prompt failed: %s", type(e).__name__)

    def _router_prompt(self, turn: Turn, error: str | None) -> str:
        """The router's system prompt for this turn (shared prefix first, see router.j2)."""
        return self._prompt(
            "router",
            tools=self._tools,
            error=error,
            language=turn.language,
            examples=self._examples_for(turn),
            **self._context(),
        )

    def decide(self, turn: Turn, history: list[BaseMessage], error: str | None) -> Decision:
        if self.mode == "route":
            system = self._router_prompt(turn, error)
            msgs = [SystemMessage(system), *history, HumanMessage(turn.question)]
            fmt = response_format(self._schema, self.dialect)
            try:
                msg = self._timed(
                    turn,
                    "route",
                    lambda: self.model.invoke(msgs, response_format=fmt, **token_limit(256)),
                )
            except openai.LengthFinishReasonError:
                # a small model can run on inside a string field until the token limit: the
                # client refuses to parse the cut-off JSON; asked again with the reason
                return Decision(MALFORMED, reply=CUT_OFF)
            text = str(msg.content)
            parsed = parse_decision(text)
            if parsed is None and (looks_like_call(text) or not text.strip()):
                return Decision(MALFORMED, reply="your reply was not one valid JSON object")
            return parsed or Decision("none", reply=text)
        system = self._prompt("tools_system", **self._context())
        if error:
            system += f"\nThe previous tool call failed: {error}"
        tools = [{"type": "function", "function": s} for s in SCHEMAS.values()]
        msgs = [SystemMessage(system), *history, HumanMessage(turn.question)]
        bound = self.model.bind_tools(tools, tool_choice="auto")
        msg = self._timed(turn, "tools", lambda: bound.invoke(msgs, **token_limit(256)))
        for call in getattr(msg, "tool_calls", None) or []:
            if call["name"] in SCHEMAS:
                return Decision(call["name"], dict(call["args"]))
        text = str(msg.content)
        parsed = parse_decision(text) if self.tolerant else None
        if parsed is None and (
            getattr(msg, "invalid_tool_calls", None) or (self.tolerant and looks_like_call(text))
        ):
            return Decision(MALFORMED, reply="the tool call's arguments were not valid JSON")
        return parsed or Decision("none", reply=text)

    def _answer_messages(self, turn: Turn, history, results: list[dict]) -> list[BaseMessage]:
        system = self._prompt("answer", language=turn.language, results=results)
        return [SystemMessage(system), *history, HumanMessage(turn.question)]

    # -- the turn ---------------------------------------------------------------------
    def expect(self, question: str) -> None:
        """Announce a question whose turn will start soon (it waits in the turn queue): the
        turns running meanwhile embed it with their own, in one cheaper encoder call
        (:meth:`ExampleBank.expect`). Withdraw it with :meth:`unexpect` when its turn starts
        (the turn announces its own question) or is given up."""
        if self.examples is not None:
            self.examples.expect(question)

    def unexpect(self, question: str) -> None:
        """Withdraw one :meth:`expect` of ``question``."""
        if self.examples is not None:
            self.examples.unexpect(question)

    def stream(
        self,
        question: str,
        session_id: str = "default",
        history: list[BaseMessage] | None = None,
        caller: Caller | None = None,
    ) -> Iterator[Event]:
        """Run one turn, yielding events; the last event is ``final`` with the :class:`Turn`.

        ``history`` replaces the session's memory for a stateless caller (the OpenAI-compatible
        endpoint, an eval case); it is not stored. ``caller`` is the signed-in staff member the
        tools act for (their role decides what the tools allow); default: the context's own.
        The turn's own work runs holding the gate (:mod:`agent.gate`), never across an event
        handed to the reader (who may take their time, or read from another thread).
        """
        steps = _Timed(self._turn(question, session_id, history, caller))
        done = False  # nothing of the turn runs after its final event
        if self.examples is not None:  # turns running together embed their questions together
            self.examples.expect(question)
        try:
            for event in self.gate.each(steps, holding=True):
                done = event.kind == "final"
                if done:  # every step has run: the turn's CPU less its model calls' and tools'
                    turn = event.data
                    others = sum(c.get("cpu_ms") or 0.0 for c in turn.llm_calls)
                    others += sum(c.cpu_ms for c in turn.tool_calls)
                    turn.cpu_ms = round(max(0.0, 1000 * steps.cpu - others), 3)
                yield event
        finally:
            if self.examples is not None:
                self.examples.unexpect(question)
            if not done:  # a reader that stopped early: the turn's own clean-up, now
                with self.gate.held():
                    steps.close()

    def _turn(
        self,
        question: str,
        session_id: str,
        history: list[BaseMessage] | None,
        caller: Caller | None,
    ) -> Generator[Event, None, None]:
        t0 = time.perf_counter()
        ctx = self.ctx.for_caller(caller) if caller else self.ctx
        turn = Turn(
            question=question,
            language=detect_language(question),
            mode=self.mode,
            prompt_versions=[prompt_version(p, self.prompt_dir) for p in PROMPTS],
            role=ctx.role.value,
        )
        stateless = history is not None
        history = list(history) if history is not None else self.history(session_id)
        results: list[dict] = []
        tried: set[tuple[str, str]] = set()
        lang = "zh" if turn.language == "Chinese" else "en"
        # "tomorrow", "Friday", "next week" count from today; with a stale history (it ends
        # before yesterday: an old export, a fixed demo) from the first day the tools answer for
        first_day = self._first_day()
        origin = min(self._today(), first_day)
        earlier = _previous_questions(history)
        previous = earlier[0] if earlier else None
        window = resolve_window(question, origin, max_days=MAX_DAYS)
        if window is None and previous:  # "what about ortho?": the days asked about before
            window = resolve_window(previous, origin, max_days=MAX_DAYS)
        if window is not None:
            turn.window = {
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
                "shift": window.shift,
            }
        about = _ward_context(earlier, self._ward_resolver())  # a follow-up's ward
        vote = self.examples.vote(question) if self.examples is not None else None
        if vote is not None:
            turn.route = {"label": vote[0], "confidence": round(vote[1], 3), "by": "model"}
        if not self._audit(
            ctx, turn, session_id, "turn_start", {"user": ctx.user, "question": digest(question)}
        ):
            turn.answer = turn.error or ""
            yield Event("error", turn.error)
            yield Event("final", turn)
            return
        try:
            decision = None
            error = None
            answer: str | None = None  # code's own reply: a refusal or a question back
            if refused := refused_request(question):  # a patient's identity, a dose: never a tool's
                answer = self._prompt("refusal", kind=refused, language=turn.language)
                turn.route = {"label": refused, "confidence": 1.0, "by": "code"}
            elif vote is not None and vote[0] in PRE_EMPTED and vote[1] >= OVERRIDE_CONFIDENCE:
                kind = vote[0]  # a greeting or thanks gets what Wardwise can do
                answer = (
                    self._prompt("capabilities", language=turn.language)
                    if kind == "smalltalk"
                    else self._prompt("refusal", kind=kind, language=turn.language)
                )
                turn.route["by"] = "code"
            for _ in range(self.max_steps if answer is None else 0):
                decision = self.decide(turn, history, error)
                if decision.tool == MALFORMED:
                    turn.malformed += 1
                    error = decision.reply
                    continue
                if decision.tool == "none":
                    break
                outcome = yield from self._call(
                    ctx, turn, decision, (window, first_day, about), lang, tried, results
                )
                if isinstance(outcome, ErrorText):
                    error = str(outcome)
                    continue
                if isinstance(outcome, str):
                    answer = outcome  # a question back or the horizon: no tool ran
                break
            if decision is not None and decision.tool == MALFORMED:
                decision = Decision("none")  # never parsed: say what Wardwise can do
            if answer is None and not results and vote is not None:
                answer = yield from self._by_vote(
                    ctx, turn, vote, (window, first_day, about), lang, results, previous
                )
            if answer is not None and not results:
                turn.replaced = True  # code's own words (a template): nothing to check
                yield Event("token", answer)
            elif results:
                answer = yield from self._write_answer(turn, history, results)
            else:
                answer = decision.reply if decision else ""
                self._check(turn, answer, results)
                if not turn.grounded or not answer.strip():
                    answer = self._prompt("capabilities", language=turn.language)
                    turn.replaced = True
                    self._check(turn, answer, results)
                    yield Event("replace", answer)
        except (openai.APIError, httpx.HTTPError) as e:
            answer = self._server_failure(turn, e, results)
            yield Event("replace", answer)  # drop a draft cut off mid-stream
            yield Event("error", turn.error)
        for label in self._labels(turn) if not turn.error else []:
            if label not in answer:
                answer = f"{answer}\n\n{label}"
                yield Event("token", f"\n\n{label}")
        turn.answer = answer
        turn.seconds = round(time.perf_counter() - t0, 3)
        if not self._audit(ctx, turn, session_id, "turn", self._audit_payload(ctx, turn)):
            turn.answer = turn.error or ""
            yield Event("replace", turn.answer)
        if not turn.error and not stateless:
            self._remember(session_id, history, question, answer)
        self._log(turn, session_id)
        yield Event("final", turn)

    def _call(self, ctx, turn: Turn, decision: Decision, when, lang: str, tried, results):
        """Prepare (:mod:`agent.policy`), run and record one tool call, yielding its events.

        Returns an :class:`ErrorText` to show the router for another try, a plain ``str``
        when code answers instead of the tool (which ward? past the horizon?), or ``None``
        to stop (a result, a final error, the same call twice). ``when`` is the question's
        date window (or None), the first day the tools answer for and the earlier question a
        follow-up's ward comes from (:func:`_ward_context`).
        """
        window, first_day, about = when
        decision.tool = policy.reroute(decision.tool, turn.question, self._ward_resolver(), about)
        prepared = policy.prepare(
            decision.tool,
            decision.arguments,
            turn.question,
            wards=self.ctx.hospital.wards,
            resolver=self._ward_resolver(),
            previous=about,
            first_day=first_day,
            window=window,
            language=lang,
            max_days=MAX_DAYS_BY_TOOL,
        )
        if prepared.message is not None:
            turn.clarification = prepared.ward is not None and prepared.ward.status != "resolved"
            return prepared.message
        decision.arguments = prepared.arguments
        key = (decision.tool, json.dumps(decision.arguments, sort_keys=True, default=str))
        if key in tried:  # the same failing call again: answer from what we have
            return None
        tried.add(key)
        yield Event("tool_start", {"name": decision.tool, "arguments": decision.arguments})
        t1, c1 = time.perf_counter(), time.thread_time()
        result = self._run_tool(ctx, decision.tool, decision.arguments)
        call = ToolCall(
            decision.tool,
            decision.arguments,
            result.model_dump(mode="json"),
            round(time.perf_counter() - t1, 3),
            round(1000 * (time.thread_time() - c1), 3),
        )
        turn.tool_calls.append(call)
        results.append({"name": decision.tool, **result.reading()})
        yield Event("tool_end", call)
        if not isinstance(result, ErrorResult) or result.error in policy.FINAL_ERRORS:
            return None
        return ErrorText(result.summary)

    def _by_vote(self, ctx, turn: Turn, vote, when, lang: str, results, previous=None):
        """When the router chose no tool: a refused class gets its fixed reply, and a question
        the nearest labelled questions confidently route to a tool runs that tool with the
        arguments code reads from the question (ward, window, symptom text).

        A short follow-up that only names another ward ("儿科也帮我看一下", "and ICU?") sits
        near no labelled question and its weak vote is often an identity request's: when no
        label is confident, it names one of the hospital's wards (and the guard found nothing
        to refuse), it runs the tool the earlier question confidently routes to
        (:meth:`_follow_up_tool`)."""
        label, confidence = vote
        confident = confidence >= OVERRIDE_CONFIDENCE
        follow = None if confident else self._follow_up_tool(turn, previous)
        if follow is None and label in REFUSED:
            turn.route["by"] = "code"
            return self._prompt("refusal", kind=label, language=turn.language)
        tool = follow or (VOTE_TOOL.get(label) if confident else None)
        if tool is None:
            return None
        turn.route["by"] = "code"
        if follow is not None:
            turn.route["follow_up"] = follow
        outcome = yield from self._call(ctx, turn, Decision(tool), when, lang, set(), results)
        if isinstance(outcome, str) and not isinstance(outcome, ErrorText):
            return outcome
        return None

    def _follow_up_tool(self, turn: Turn, previous: str | None) -> str | None:
        """The tool of the earlier question (by its confident vote) when this one names one of
        the hospital's wards and no unknown one; ``None`` otherwise."""
        if not previous or self.examples is None:
            return None
        found = self._ward_resolver().resolve(turn.question)
        if not found.mentioned or found.unknown:
            return None
        label, confidence = self.examples.vote(previous)
        return VOTE_TOOL.get(label) if confidence >= OVERRIDE_CONFIDENCE else None

    def history(self, session_id: str) -> list[BaseMessage]:
        """The session's last turns as messages (from the chat store when there is one)."""
        if self.chats is None:
            return self.memory.setdefault(session_id, [])
        out: list[BaseMessage] = []
        for q, a in self.chats.recent(session_id, MEMORY_TURNS):
            out += [HumanMessage(q), AIMessage(a)]
        return out

    def transcript(self, session_id: str, n: int = 50) -> list[tuple[str, str]]:
        """The session's last ``n`` answered turns as ``(question, answer)``, oldest first."""
        if self.chats is not None:
            return self.chats.recent(session_id, n)
        msgs = self.memory.get(session_id, [])
        return [
            (str(q.content), str(a.content)) for q, a in zip(msgs[::2], msgs[1::2], strict=False)
        ]

    def _remember(self, session_id: str, history: list, question: str, answer: str) -> None:
        if self.chats is not None:
            self.chats.append(session_id, question, answer)
            return
        history.extend([HumanMessage(question), AIMessage(answer)])
        del history[: -2 * MEMORY_TURNS]

    def _run_tool(self, ctx: ToolContext, name: str, arguments: dict):
        """Run a tool for the turn's caller, giving up after ``tool_timeout`` seconds (the
        thread finishes on its own; its result is dropped). A tool still running after
        :data:`~agent.gate.TOOL_SLICE_S` (a MILP solve, a case search) runs without the
        turn holding the gate; a quick one keeps it, as the turn's own work."""
        if not self.tool_timeout:
            with self.gate.released():
                return call_tool(ctx, name, arguments)
        future = self._pool.submit(call_tool, ctx, name, arguments)
        try:
            try:
                return future.result(timeout=min(TOOL_SLICE_S, self.tool_timeout))
            except FutureTimeout:
                with self.gate.released():
                    return future.result(timeout=max(0.0, self.tool_timeout - TOOL_SLICE_S))
        except FutureTimeout:
            return ErrorResult.from_error(
                ToolError(
                    "timeout",
                    f"The {name} tool did not finish within {self.tool_timeout:g} seconds.",
                    hint="ask again later, or for fewer days or wards",
                )
            )

    def _labels(self, turn: Turn) -> list[str]:
        """Labels an answer must carry whatever the model wrote (see :mod:`agent.policy`)."""
        return [
            self._prompt(name, language=turn.language, **variables)
            for name, variables in policy.required_labels(turn.tool_calls)
        ]

    def _log(self, turn: Turn, session_id: str) -> None:
        """One line per turn: no question, answer or tool text, only what happened."""
        log.info(
            "turn session=%s language=%s tools=%s malformed=%d grounded=%s repaired=%s "
            "replaced=%s error=%s seconds=%.3f llm_seconds=%.3f",
            digest(session_id)["sha256"][:8],
            turn.language,
            ",".join(
                f"{c.name}:{'ok' if c.output.get('ok') else c.output.get('error')}"
                for c in turn.tool_calls
            )
            or "-",
            turn.malformed,
            turn.grounded,
            turn.repaired,
            turn.replaced,
            bool(turn.error),
            turn.seconds,
            sum(c["seconds"] for c in turn.llm_calls),
        )

    def ask(
        self,
        question: str,
        session_id: str = "default",
        history: list[BaseMessage] | None = None,
        caller: Caller | None = None,
    ) -> Turn:
        """Run one turn to the end and return it."""
        final = None
        for ev in self.stream(question, session_id, history, caller):
            if ev.kind == "final":
                final = ev.data
        assert final is not None
        return final

    def _from_verdicts(self, turn: Turn) -> str | None:
        """The answer built by code from the verdicts of the turn's result (its last call: the
        tries before it failed) in the question's language, the most decisive first; None when
        it has none."""
        if not turn.tool_calls:
            return None
        lang = "zh" if turn.language == "Chinese" else "en"
        call = turn.tool_calls[-1]
        chosen = policy.order_verdicts(call.name, call.output.get("verdicts") or [], lang)
        turn.answer_verdicts.extend(v["id"] for v in chosen)
        return "\n".join(v["text"] for v in chosen) or None

    def _from_error(self, turn: Turn) -> str | None:
        """The last tool's expected failure in the question's language, written by code; None
        when the last call succeeded or its error carries verdicts (an infeasible plan)."""
        if not turn.tool_calls:
            return None
        out = turn.tool_calls[-1].output
        if out.get("ok") or out.get("verdicts"):
            return None
        return self._prompt(
            "tool_error",
            code=out.get("error", ""),
            summary=out.get("summary", ""),
            hint=out.get("hint", ""),
            wards=self.ctx.hospital.wards,
            language=turn.language,
        )

    def _write_answer(self, turn: Turn, history, results: list[dict]):
        if self.answer_mode == "verdicts":
            failed = self._from_error(turn)
            if failed is not None:  # code's own words: the failure, nothing half-applied
                turn.replaced = True
                yield Event("token", failed)
                return failed
            composed = self._from_verdicts(turn)
            if composed is not None:
                yield Event("token", composed)  # the conclusions first, as soon as they exist
                self._check(turn, composed, results)
                if not turn.grounded:  # a template that quotes a number no fact holds: a bug
                    log.warning("verdict answer failed its own check: %s", turn.ungrounded)
                return composed
        msgs = self._answer_messages(turn, history, results)
        parts: list[str] = []
        tokens = prompt_tokens = None
        looped = False
        chunks = _Timed(self.model.stream(msgs, **token_limit(ANSWER_TOKENS)))
        for chunk in self.gate.each(chunks, holding=False):  # the model's time: others go on
            text = str(chunk.content or "")
            if text:
                parts.append(text)
                yield Event("token", text)
                if "\n" in text and repeats("".join(parts)):
                    looped = True  # a small model restating itself: stop generating
                    break
            usage = getattr(chunk, "usage_metadata", None)
            if usage:
                tokens = usage.get("total_tokens")
                prompt_tokens = usage.get("input_tokens")
        turn.llm_calls.append(
            {
                "purpose": "answer",
                "seconds": round(chunks.seconds, 3),  # not the reader's, nor the gate's
                "cpu_ms": round(1000 * chunks.cpu, 3),
                "tokens": tokens,
                "prompt_tokens": prompt_tokens,
            }
        )
        answer = dedupe("".join(parts))
        if not answer.strip():  # the model said nothing: give the tools' own words
            answer = self._prompt("fallback", language=turn.language, results=results)
            turn.replaced = True
            yield Event("replace", answer)
            self._check(turn, answer, results)
            return answer
        if looped:
            yield Event("replace", answer)
        self._check(turn, answer, results)
        if not turn.grounded:
            repair = self._prompt(
                "repair",
                numbers=turn.ungrounded + turn.ungrounded_entities,
                language=turn.language,
            )
            msg = self._timed(
                turn,
                "repair",
                lambda: self.model.invoke(
                    [*msgs, AIMessage(answer), HumanMessage(repair)], **token_limit(ANSWER_TOKENS)
                ),
            )
            answer = dedupe(str(msg.content))
            turn.repaired = True
            self._check(turn, answer, results)
            if not turn.grounded:
                answer = self._prompt("fallback", language=turn.language, results=results)
                turn.replaced = True
                self._check(turn, answer, results)
            yield Event("replace", answer)
        return answer

    def _audit(
        self, ctx: ToolContext, turn: Turn, session_id: str, kind: str, payload: dict
    ) -> bool:
        """Write one audit record (with the caller's role; the staff member's name is in the
        payload); on failure the turn is refused, never left unaudited."""
        if self.audit is None:
            return True
        try:
            self.audit.append(kind, session_id, ctx.role.value, payload)
            return True
        except AuditError as e:
            turn.error = f"The turn was refused because it could not be audited ({e})."
            return False

    def _audit_payload(self, ctx: ToolContext, turn: Turn) -> dict:
        return {
            "user": ctx.user,
            "model": self.model_name,
            "mode": self.mode,
            "prompts": turn.prompt_versions,
            "tool_calls": [
                {
                    "name": c.name,
                    "arguments": policy.audit_arguments(c.name, c.arguments, digest),
                    "ok": c.output.get("ok"),
                    "output": digest(orjson.dumps(c.output, default=str, option=_SORTED).decode()),
                    "seconds": c.seconds,
                }
                for c in turn.tool_calls
            ],
            "answer": digest(turn.answer),
            "grounded": turn.grounded,
            "replaced": turn.replaced,
            "error": bool(turn.error),
            "malformed": turn.malformed,
            "seconds": turn.seconds,
        }

    def _check(self, turn: Turn, answer: str, results: list[dict]) -> None:
        facts = [f for r in results for f in r.get("facts", [])]
        facts += [f for r in results for v in r.get("verdicts", []) for f in v.get("facts", [])]
        texts = [
            orjson.dumps(c.output, default=str, option=_ANY_KEYS).decode() for c in turn.tool_calls
        ]
        report = grounding.check(answer, facts, turn.question, texts)
        entities = check_entities(answer, wards=self.ctx.hospital.wards, tool_texts=texts)
        turn.ungrounded_entities = ungrounded_entities(entities)
        turn.grounded = report.grounded and not turn.ungrounded_entities
        turn.ungrounded = report.ungrounded
        turn.grounding = [{"number": f.number, "fact": f.source} for f in report.findings]

    def _server_failure(self, turn: Turn, e: Exception, results: list[dict]) -> str:
        kind = (
            "timed out"
            if isinstance(e, openai.APITimeoutError | httpx.TimeoutException)
            else (
                "is not reachable"
                if isinstance(e, openai.APIConnectionError | httpx.ConnectError)
                else f"returned an error ({type(e).__name__})"
            )
        )
        turn.error = (
            f"The language model server {kind}. Check that it is running (`wardwise up`) "
            "or point WARDWISE_LLM_URL at a working server."
        )
        if results:  # the tools ran: give their own words rather than nothing
            answer = self._prompt("fallback", language=turn.language, results=results)
            turn.replaced = True
            self._check(turn, answer, results)
            return answer
        turn.grounded, turn.ungrounded, turn.grounding = True, [], []
        turn.ungrounded_entities = []
        return turn.error
