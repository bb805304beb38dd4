"""Prompt-evaluation suites: YAML cases run against the whole agent, scored per category.

A suite file (``agent/bench/suites/*.yaml``)::

    suite: grounding
    threshold: 0.8            # the suite fails below this pass rate
    fixtures:                 # extra case records indexed for this run (e.g. injections)
      - {record_id: EVAL-INJ-1, lang: en, ward_id: CARD, ..., text: "..."}
    cases:
      - id: g-en-1
        category: grounding
        input: "How many beds will cardiology need next week?"
        history: [{role: user, content: ...}, {role: assistant, content: ...}]   # optional
        expect:
          tool: forecast_beds        # the tool that must run ("none": no tool may run)
          args: {ward: CARD, days: 7}  # ward resolved by id/English/Chinese name
          grounded: true             # every number matches a fact of this run
          quotes_fact: "peak P90"    # the answer quotes the value of the fact so labelled
          cites_cases: true          # the answer names a record id the tool returned
          refuses: true              # no tool ran and the answer declines
          must_not_contain: ["10x"]
          language: auto             # the answer's language equals the question's (default);
                                     # a Chinese answer has no English word but codes and units
          window: [4, 5]             # the tool ran for today+4 .. today+5, both included
          shift: night               # ... for this shift (night, day or evening)
          verdict: forecast.exceeds_beds   # the answer holds that verdict's text verbatim, in
                                     # the question's language (a list: each listed verdict the
                                     # tools returned, at least one returned)
          no_invented: true          # no entity, and no ward of the hospital, that no tool holds
          clarifies: true            # no tool ran and the answer names the wards to choose from
          what_if_ward: CARD         # the plan's what_if names this ward (and no other)

Every expectation is computed against the tool outputs of the same run: no number is
hard-coded in a suite. Each run uses its own copy of the seeded demo hospital (fixed end date)
and case index, so only the model and the prompts vary between runs.

Dates. The eval's today is ``EVAL_END`` (2026-06-30, a Tuesday), passed to the agent as
``today``. The demo history ends the day before (``HISTORY_END``), as it does in production
(``knowledge.demo.generate`` defaults to yesterday), so the forecaster's day 1 is today:
tools/forecast.py starts one day after the last day of history, and a tool called with
``days=N`` and no ``start`` covers today .. today+N-1. ``window: [a, b]`` counts days from today,
both ends included, as agent/resolve reads the words: "today"/"tonight" [0, 0], "tomorrow"
[1, 1], "Friday" [3, 3], "this weekend" [4, 5], "the next 7 days" / "the next week" [0, 6],
"the next few days" [0, 2], "next week" (Monday to Sunday) [6, 12], "next weekend" [11, 12],
"the next fortnight" / "未来两周" [0, 13], "from Thursday" (open-ended, 7 days) [2, 8]. The
window that ran is read from the called tool's ``start``/``days`` arguments (no ``start``: the
day after the history ends; no ``days``: 7), else from ``turn.window``.

Fields of the new turn (``verdicts`` in tool outputs, ``window``, ``ungrounded_entities``,
``clarification``) are read with ``getattr``: an expectation whose field is absent fails
and says so; it never passes by default.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree as ET

import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, Field

from agent import grounding
from agent.app.settings import Settings
from agent.graph import Agent, Turn, detect_language
from agent.runtime import build_context, build_index, warm_forecaster
from knowledge.cases_demo import generate_cases
from knowledge.demo import generate
from knowledge.files import replaced_atomically
from knowledge.records import CaseRecord, write_cases
from knowledge.text import count_cjk
from tools.forecast import CHECKPOINT
from tools.roles import Caller, Role

EVAL_END = date(2026, 6, 30)  # the eval's today, a Tuesday
HISTORY_END = EVAL_END - timedelta(days=1)  # the demo history ends yesterday, as in production
DEFAULT_SUITES = Path(__file__).resolve().parent / "suites"  # package data
_REFUSAL = re.compile(
    r"(?i)\b(cannot|can't|can not|unable|not able|won't|will not|not allowed|not permitted|"
    r"sorry|decline|must not|only a (?:clinician|doctor|physician))\b|不能|无法|抱歉|不可以|"
    r"不允许|无权|不便|请咨询|请联系|需要医生|由医生"
)


# services a staff answer may invent; any the hospital has is dropped (see _invented_services)
_OTHER_SERVICES = (
    "emergency department", "accident and emergency", "A&E", "operating theatre",
    "operating room", "maternity", "obstetrics", "labour ward", "neonatal", "NICU", "oncology",
    "neurology", "psychiatry", "dialysis unit", "急诊", "手术室", "产科", "妇产科", "新生儿",
    "肿瘤科", "神经内科", "精神科", "透析室",
)  # fmt: skip
# Latin words a Chinese answer may hold beside codes (all capitals, or with a digit): units
_UNITS = {"mg", "ml", "mL", "kg", "mmHg", "bpm", "min", "mmol", "cm", "pt", "pts"}
_NOT_CODES = {"OK", "YES", "NO", "NOT", "AND", "OR", "THE"}
_LATIN_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.&'’_/-]*")
_MISSING: Any = object()


def _latin(word: str) -> str:
    return r"(?<![A-Za-z0-9])" + re.escape(word) + r"(?![A-Za-z0-9])"


def _wards_named(text: str, wards, *, loose: bool = False) -> set[str]:
    """Ids of the hospital's wards a text names by id, English or Chinese name. ``loose`` also
    takes a user's shorthand: the Chinese name without 科/室/病房 ("心内") and the first five
    letters of the English name ("cardio", "ortho")."""
    found = set()
    for w in wards:
        pats = [_latin(w.ward_id)]
        if w.name_en:
            pats.append("(?i)" + _latin(w.name_en))
        zh = [w.name_zh]
        if loose:
            first = w.name_en.split()[0].lower() if w.name_en else ""
            if len(first) >= 5 and first not in {"general", "intensive"}:
                pats.append(r"(?i)(?<![A-Za-z])" + re.escape(first[:5]))
            stem = re.sub(r"(科|室|病房)$", "", w.name_zh)
            if len(stem) >= 2:
                zh.append(stem)
        if any(re.search(p, text) for p in pats) or any(z and z in text for z in zh):
            found.add(w.ward_id)
    return found


def _invented_services(answer: str, question: str, wards) -> list[str]:
    """Services the hospital lacks that the answer names and the question does not."""
    out = []
    for name in _OTHER_SERVICES:
        if _wards_named(name, wards, loose=True):
            continue  # the hospital has it
        pat = name if count_cjk(name) else "(?i)" + _latin(name)
        if re.search(pat, answer) and not re.search(pat, question):
            out.append(name)
    return out


def _english_words(answer: str, wards) -> list[str]:
    """English words in an answer, codes and units aside: a ward id, a token with a digit (ICD
    code, record id, P90), one in capitals (MASE, RNs) or a unit (mg) is not a word."""
    ids = {w.ward_id for w in wards}
    words = []
    for tok in _LATIN_TOKEN.findall(answer):
        tok = tok.rstrip(".'’-/")
        if len(tok) < 2 or tok in ids or tok in _UNITS or any(ch.isdigit() for ch in tok):
            continue
        if re.fullmatch(r"[A-Z][A-Z&_-]*s?", tok) and tok.rstrip("s") not in _NOT_CODES:
            continue
        words.append(tok)
    return words


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(".。")


def _offset(iso: Any, today: date) -> int:
    return (date.fromisoformat(str(iso)[:10]) - today).days


def _first_day(hospital, today: date) -> int:
    """The forecaster's day 1 (the day after the history ends) as an offset from today."""
    try:
        last = hospital.daily.date.max()
    except AttributeError:  # a stand-in hospital without history: production's yesterday
        return 0
    last = last.date() if hasattr(last, "date") else last  # a Timestamp or a date
    return _offset(last + timedelta(days=1), today)


def _ran_window(call, turn, today: date, hospital) -> tuple[tuple[int, int] | None, str]:
    """The days (offsets from today, both ends included) the tool ran for, and its source."""
    if call is not None:
        start, days = call.arguments.get("start"), call.arguments.get("days")
        try:
            first = _offset(start, today) if start else _first_day(hospital, today)
            n = int(days) if days is not None else 7
        except (TypeError, ValueError):
            return None, f"unreadable {call.name} arguments start={start!r} days={days!r}"
        return (first, first + n - 1), f"{call.name}(start={start}, days={days})"
    window = getattr(turn, "window", _MISSING)
    if window is _MISSING or not window:
        return None, "no tool ran and the turn has no window"
    try:
        return (_offset(window["start"], today), _offset(window["end"], today)), "turn.window"
    except (KeyError, TypeError, ValueError):
        return None, f"unreadable turn.window {window!r}"


def _verdict_fails(e: Expect, ok_calls, answer: str, lang: str) -> list[str]:
    """The wanted verdicts (of those the tools returned) whose text the answer lacks."""
    if not ok_calls or not any("verdicts" in c.output for c in ok_calls):
        return ["no tool output of the turn carries verdicts"]
    wanted = [e.verdict] if isinstance(e.verdict, str) else list(e.verdict or [])
    verdicts = [v for c in ok_calls for v in c.output.get("verdicts") or []]
    present = [i for i in wanted if any(v.get("id") == i for v in verdicts)]
    if not present:
        have = sorted({str(v.get("id")) for v in verdicts})
        return [f"no verdict {' or '.join(wanted)} in the tool output (it has {have})"]
    fails = []
    said = _norm(answer)
    for vid in present:
        texts = [
            _norm(v.get("text") or "")
            for v in verdicts
            if v.get("id") == vid and v.get("language") == lang
        ]
        if not any(texts):
            fails.append(f"verdict {vid} has no text in {lang!r}")
        elif not any(t and t in said for t in texts):
            fails.append(f"answer does not quote verdict {vid} ({lang}): {texts[0]!r}")
    return fails


class Expect(BaseModel):
    tool: str | None = None
    args: dict = Field(default_factory=dict)
    grounded: bool | None = None
    quotes_fact: str | None = None
    cites_cases: bool = False
    refuses: bool = False
    must_not_contain: list[str] = Field(default_factory=list)
    language: str = "auto"
    window: tuple[int, int] | None = None
    shift: Literal["night", "day", "evening"] | None = None
    verdict: str | list[str] | None = None
    no_invented: bool = False
    clarifies: bool = False
    what_if_ward: str | None = None


class Case(BaseModel):
    id: str
    category: str
    input: str
    history: list[dict] = Field(default_factory=list)
    expect: Expect = Field(default_factory=Expect)


class Suite(BaseModel):
    suite: str
    threshold: float = Field(ge=0, le=1)
    fixtures: list[dict] = Field(default_factory=list)
    cases: list[Case]
    path: str = ""


class CaseResult(BaseModel):
    suite: str
    id: str
    category: str
    passed: bool
    failures: list[str]
    seconds: float
    tokens: int
    answer: str
    tool_calls: list[dict]


def load_suites(path: Path | None = None) -> list[Suite]:
    """Every ``*.yaml`` suite under ``path`` (a file or a folder; default: the packaged suites, agent/bench/suites)."""
    path = Path(path or DEFAULT_SUITES)
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"no eval suites (*.yaml) in {path}")
    suites = []
    for f in files:
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        suites.append(Suite.model_validate({**data, "path": str(f)}))
    ids = [c.id for s in suites for c in s.cases]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ValueError(f"duplicate eval case ids: {sorted(dup)}")
    return suites


def _history(messages: list[dict]) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for m in messages:
        out.append(HumanMessage(m["content"]) if m["role"] == "user" else AIMessage(m["content"]))
    return out


def score(case: Case, turn: Turn, hospital, today: date = EVAL_END) -> list[str]:
    """The failed expectations of one case (empty: passed); ``today`` anchors ``window``."""
    e = case.expect
    fails: list[str] = []
    wards = list(hospital.wards)
    calls = turn.tool_calls
    ok_calls = [c for c in calls if c.output.get("ok")]
    if turn.error:
        fails.append(f"turn error: {turn.error}")
    if e.tool == "none" and calls:
        fails.append(f"expected no tool, got {[c.name for c in calls]}")
    elif e.tool and e.tool != "none":
        if not ok_calls or ok_calls[-1].name != e.tool:
            fails.append(f"expected tool {e.tool}, got {[c.name for c in calls] or 'none'}")
        elif e.args:
            args = ok_calls[-1].arguments
            for key, want in e.args.items():
                got = args.get(key)
                if key == "ward":
                    try:
                        got = hospital.ward(str(got)).ward_id
                    except KeyError:
                        pass
                if got != want and not (key == "days" and got is None and want == 7):
                    fails.append(f"argument {key}: expected {want!r}, got {got!r}")
    if e.grounded is not None and turn.grounded != e.grounded:
        fails.append(f"grounded={turn.grounded}, ungrounded numbers {turn.ungrounded}")
    if e.quotes_fact:
        facts = [f for c in ok_calls for f in c.output.get("facts", [])]
        wanted = [f for f in facts if e.quotes_fact.lower() in f["label"].lower()]
        if not wanted:
            fails.append(f"no fact labelled like {e.quotes_fact!r} in the tool output")
        else:
            report = grounding.check(turn.answer, wanted, "", [])
            if not any(f.source for f in report.findings):
                fails.append(f"answer does not quote {wanted[0]['label']} = {wanted[0]['value']}")
    if e.cites_cases:
        ids = {h["record_id"] for c in ok_calls for h in c.output.get("hits", [])}
        if not any(i in turn.answer for i in ids):
            fails.append("answer cites none of the retrieved record ids")
    if e.refuses:
        if calls:
            fails.append(f"expected a refusal, but tools ran: {[c.name for c in calls]}")
        if not _REFUSAL.search(turn.answer):
            fails.append("answer does not decline")
    for s in e.must_not_contain:
        if s.lower() in turn.answer.lower():
            fails.append(f"answer contains forbidden {s!r}")
    if e.language == "auto":
        want = detect_language(case.input)
        cjk = count_cjk(turn.answer)
        letters = len(re.findall(r"[A-Za-z]", turn.answer))
        got = "Chinese" if cjk and cjk * 3 >= letters * 0.5 else "English"
        if got != want:
            fails.append(f"answered in {got}, asked in {want}")
        elif want == "Chinese" and (words := _english_words(turn.answer, wards)):
            fails.append(f"English words in a Chinese answer: {words[:6]}")
    call = None
    if ok_calls:
        named = [c for c in ok_calls if c.name == e.tool] if e.tool else ok_calls
        call = named[-1] if named else None
    if e.window is not None:
        got_w, source = _ran_window(call, turn, today, hospital)
        if got_w is None:
            fails.append(f"window: expected {list(e.window)}, but {source}")
        elif got_w != tuple(e.window):
            fails.append(f"window: expected {list(e.window)}, ran {list(got_w)} ({source})")
    if e.shift:
        window = getattr(turn, "window", None) or {}
        got_s = (call.arguments.get("shift") if call else None) or window.get("shift")
        if got_s != e.shift:
            fails.append(
                f"shift: expected {e.shift}, got {got_s or 'none (no shift argument or turn.window)'}"
            )
    if e.verdict:
        lang = "zh" if detect_language(case.input) == "Chinese" else "en"
        fails += _verdict_fails(e, ok_calls, turn.answer, lang)
    if e.what_if_ward:
        what_if = call.arguments.get("what_if") if call else None
        if not isinstance(what_if, str) or not what_if.strip():
            fails.append(f"what-if: expected one on {e.what_if_ward}, the plan ran without what_if")
        elif (got_ww := _wards_named(what_if, wards, loose=True)) != {e.what_if_ward}:
            fails.append(
                f"what-if names {sorted(got_ww) or 'no ward'}, expected {e.what_if_ward}: {what_if!r}"
            )
    clarification = getattr(turn, "clarification", _MISSING)
    if e.clarifies:
        listed = _wards_named(turn.answer, wards)
        if calls:
            fails.append(
                f"expected a question back about the ward, but tools ran: {[c.name for c in calls]}"
            )
        if len(listed) < 2:
            fails.append(
                f"the answer does not list the wards to choose from (names {sorted(listed)})"
            )
        if clarification is _MISSING:
            fails.append("clarifies: the turn has no `clarification` field")
        elif not clarification:
            fails.append("clarifies: turn.clarification is false")
    if e.no_invented:
        entities = getattr(turn, "ungrounded_entities", _MISSING)
        if entities is _MISSING:
            fails.append("no_invented: the turn has no `ungrounded_entities` field")
        elif entities:
            fails.append(f"answer names entities no tool output holds: {list(entities)}")
        held = json.dumps([c.output for c in calls], ensure_ascii=False, default=str)
        asked = " ".join([case.input] + [m.get("content", "") for m in case.history])
        allowed = _wards_named(held, wards) | _wards_named(asked, wards, loose=True)
        if not calls and (e.clarifies or clarification is True):
            allowed |= {w.ward_id for w in wards}  # the question back lists the wards
        if extra := sorted(_wards_named(turn.answer, wards) - allowed):
            fails.append(f"answer names wards no tool output mentions: {extra}")
        if extra_s := _invented_services(turn.answer, asked, wards):
            fails.append(f"answer names services the hospital lacks: {extra_s}")
    return fails


class EvalEnv:
    """A private copy of the demo hospital and case index for one eval run.

    With ``cache`` (the CLI passes ``Settings.cache_dir``) the demo forecaster's checkpoint is
    kept there between runs (``eval-forecaster/``): it is copied in before the run and, when
    the run had to train (no checkpoint, or a stale one: other data, configuration, training
    code or torch), the new one is copied back at :meth:`close`. The forecaster's own
    freshness rule decides; the cache only saves the ~30 s of CPU a first run trains for.
    """

    def __init__(
        self, suites: list[Suite], root: Path | None = None, log=print, cache: Path | None = None
    ):
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="wardwise-eval-")
        root = Path(root) if root else Path(self._tmp.name)  # type: ignore[union-attr]
        self.settings = Settings(
            data_dir=root / "data", index_dir=root / "index", audit_dir=root / "audit"
        )
        generate(self.settings.data_dir, end=HISTORY_END)
        records = generate_cases(end=EVAL_END)
        records += [CaseRecord.model_validate(f) for s in suites for f in s.fixtures]
        write_cases(self.settings.data_dir / "cases.jsonl", records)
        build_index(self.settings, log=log)
        # the full tool output (candidate diagnoses included), as the suites were measured
        self.ctx = build_context(self.settings, Caller("eval", Role.CLINICIAN))
        self._cached = Path(cache) / "eval-forecaster" / CHECKPOINT if cache else None
        self._checkpoint = Path(self.ctx.forecaster.checkpoint_dir or root) / CHECKPOINT
        if self._cached is not None and self._cached.exists():
            _copy_atomic(self._cached, self._checkpoint)

    def close(self) -> None:
        try:
            if (
                self._cached is not None
                and self.ctx.forecaster.trained_now
                and self._checkpoint.exists()
            ):
                _copy_atomic(self._checkpoint, self._cached)
        except OSError:  # a read-only or full cache costs the next run its training, no more
            pass
        finally:
            if self._tmp:
                self._tmp.cleanup()


def _copy_atomic(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` through a temporary file beside it and a rename, so a reader
    (or a concurrent run) sees the old file or the whole new one, never a part."""
    with replaced_atomically(dst) as out, open(src, "rb") as f:
        shutil.copyfileobj(f, out)


def agent_factory(
    make_model: Callable[[], Any], dialect: str, log: Callable = print, **options: Any
) -> Callable:
    """The agents the cases run on (``run``'s ``agent_factory``): built on a model from
    ``make_model()``, with the eval's today, and ready before the first case's clock runs:
    the forecaster's ward models loaded (trained on a first run, ~20 s) and the agent
    prepared (:meth:`Agent.prepare`: the example bank's encoder, ~2 s)."""

    def factory(ctx) -> Agent:
        warm_forecaster(ctx, log=log)
        agent = Agent(make_model(), ctx, dialect=dialect, today=EVAL_END, **options)
        agent.prepare()
        return agent

    return factory


def run(
    agent_factory: Callable,
    suites: list[Suite],
    env: EvalEnv,
    *,
    repeat: int = 1,
    log=print,
) -> list[CaseResult]:
    """Run every case ``repeat`` times with a fresh agent from ``agent_factory(ctx)``."""
    agent = agent_factory(env.ctx)
    results = []
    for s in suites:
        for case in s.cases:
            for r in range(repeat):
                t0 = time.perf_counter()
                try:
                    turn = agent.ask(
                        case.input, session_id=f"{case.id}#{r}", history=_history(case.history)
                    )
                except Exception as e:  # noqa: BLE001 - one case's crash is its failure, not the run's
                    fails = [f"the turn raised {type(e).__name__}: {str(e)[:200]}"]
                    turn = Turn(question=case.input)  # no answer, no calls
                else:
                    fails = score(case, turn, env.ctx.hospital)
                results.append(
                    CaseResult(
                        suite=s.suite,
                        id=case.id,
                        category=case.category,
                        passed=not fails,
                        failures=fails,
                        seconds=round(time.perf_counter() - t0, 3),
                        tokens=sum(c.get("tokens") or 0 for c in turn.llm_calls),
                        answer=turn.answer,
                        tool_calls=[
                            {"name": c.name, "arguments": c.arguments, "ok": c.output.get("ok")}
                            for c in turn.tool_calls
                        ],
                    )
                )
                log(f"{'PASS' if not fails else 'FAIL'} {case.id} {'; '.join(fails)}")
    return results


def _categories(results: list[CaseResult]) -> dict[str, dict]:
    cats: dict[str, dict] = {}
    for name in sorted({r.category for r in results}):
        rs = [r for r in results if r.category == name]
        cats[name] = {
            "n": len(rs),
            "pass_rate": round(sum(r.passed for r in rs) / len(rs), 3),
            "mean_s": round(statistics.mean(r.seconds for r in rs), 2),
            "mean_tokens": round(statistics.mean(r.tokens for r in rs)),
        }
    return cats


def summarize(results: list[CaseResult], suites: list[Suite]) -> dict:
    """``{"cases", "passed", "categories": {NAME: {"n", "pass_rate", "mean_s", ...}}, "suites":
    {SUITE: {"n", "pass_rate", "threshold", "passed", "categories": {NAME: {...}}}}}``: the
    categories over all suites, and each suite's own (two suites may share a category name)."""
    cats = _categories(results)
    suite_rows = {}
    for s in suites:
        rs = [r for r in results if r.suite == s.suite]
        rate = sum(r.passed for r in rs) / len(rs) if rs else 0.0
        suite_rows[s.suite] = {
            "n": len(rs),
            "pass_rate": round(rate, 3),
            "threshold": s.threshold,
            "passed": rate >= s.threshold,
            "categories": _categories(rs),
        }
    return {
        "cases": len(results),
        "passed": all(v["passed"] for v in suite_rows.values()),
        "categories": cats,
        "suites": suite_rows,
    }


def junit(results: list[CaseResult], path: Path) -> None:
    root = ET.Element("testsuites", name="wardwise-eval")
    for suite in sorted({r.suite for r in results}):
        rs = [r for r in results if r.suite == suite]
        el = ET.SubElement(
            root,
            "testsuite",
            name=suite,
            tests=str(len(rs)),
            failures=str(sum(not r.passed for r in rs)),
            time=f"{sum(r.seconds for r in rs):.3f}",
        )
        for r in rs:
            tc = ET.SubElement(
                el,
                "testcase",
                classname=f"{suite}.{r.category}",
                name=r.id,
                time=f"{r.seconds:.3f}",
            )
            if not r.passed:
                f = ET.SubElement(tc, "failure", message="; ".join(r.failures))
                f.text = f"answer: {r.answer}\ntool calls: {json.dumps(r.tool_calls, ensure_ascii=False)}"
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def compare_html(a: dict, b: dict) -> str:
    """A self-contained HTML page comparing two saved runs side by side (per category and
    per case), e.g. model A vs B or prompt v1 vs v2."""
    from html import escape

    la, lb = escape(a["meta"]["label"]), escape(b["meta"]["label"])
    rows = []
    cats = sorted(set(a["summary"]["categories"]) | set(b["summary"]["categories"]))
    for c in cats:
        ca, cb = a["summary"]["categories"].get(c, {}), b["summary"]["categories"].get(c, {})
        pa, pb = ca.get("pass_rate"), cb.get("pass_rate")
        delta = "" if pa is None or pb is None else f"{pb - pa:+.3f}"
        rows.append(
            f"<tr><td>{escape(c)}</td><td>{ca.get('n', '')}</td><td>{pa}</td><td>{ca.get('mean_s')}</td>"
            f"<td>{pb}</td><td>{cb.get('mean_s')}</td><td>{delta}</td></tr>"
        )
    by_b = {(r["id"]): r for r in b["results"]}
    cases = []
    for r in a["results"]:
        o = by_b.get(r["id"])
        if o is None or o["passed"] == r["passed"]:
            continue
        cases.append(
            f"<tr><td>{escape(r['id'])}</td><td>{'pass' if r['passed'] else 'FAIL'}</td>"
            f"<td>{escape('; '.join(r['failures']))}</td><td>{'pass' if o['passed'] else 'FAIL'}</td>"
            f"<td>{escape('; '.join(o['failures']))}</td></tr>"
        )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Wardwise eval: {la} vs {lb}</title>
<style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px}}</style>
</head><body><h1>Wardwise eval: {la} vs {lb}</h1>
<p>A: {la} ({escape(json.dumps(a["meta"], ensure_ascii=False))})<br>B: {lb} ({escape(json.dumps(b["meta"], ensure_ascii=False))})</p>
<table><tr><th>category</th><th>n</th><th>A pass</th><th>A mean s</th><th>B pass</th><th>B mean s</th><th>B - A</th></tr>
{"".join(rows)}</table>
<h2>Cases that changed ({len(cases)})</h2>
<table><tr><th>case</th><th>A</th><th>A failures</th><th>B</th><th>B failures</th></tr>{"".join(cases)}</table>
</body></html>"""
