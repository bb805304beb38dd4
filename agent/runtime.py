"""Wiring: build the tool context and the agent from Settings (the entry points call this)."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from agent.app.audit import AuditLog
from agent.app.auth import UserStore
from agent.app.history import ChatHistory
from agent.app.settings import Settings
from agent.examples import ExampleBank
from agent.graph import Agent
from agent.llm import connect, make_chat_model
from knowledge import hospital as hospital_data
from knowledge.cases_demo import generate_cases
from knowledge.ddxplus import demo_records as ddxplus_demo_records
from knowledge.deid import Deidentifier, load_key
from knowledge.demo import generate
from knowledge.records import read_cases, write_cases
from knowledge.store import CaseIndex, RecentQueries
from tools.forecast import CHECKPOINT, Forecaster
from tools.plan_store import PlanStore
from tools.registry import ToolContext
from tools.result import ToolError
from tools.roles import HOST, Caller, Role, require
from tools.verdicts import compile_all as compile_verdicts


def ensure_demo(settings: Settings, log=print) -> None:
    """First run: generate the demo hospital and case records (500 generated bilingual
    records and the packaged DDXPlus subset, English and Chinese) and index them."""
    data = Path(settings.data_dir)
    if not (data / "wards.csv").exists():
        log(f"no hospital data yet: generating the demo hospital in {data}")
        generate(data)
    if not (data / "cases.jsonl").exists():
        # the generated bilingual records, and the packaged DDXPlus subset de-identified
        # with this install's key as any ingest is
        ddxplus = ddxplus_demo_records(Deidentifier(load_key(data / "deid.key")))
        write_cases(data / "cases.jsonl", [*generate_cases(), *ddxplus])
    if settings.chroma_url:
        if open_case_index(settings).count() == 0:
            build_index(settings, log=log)
    elif not Path(settings.index_dir).exists():
        build_index(settings, log=log)


def build_index(settings: Settings, log=print, caller: Caller = HOST) -> int:
    """Rebuild the case index from ``cases.jsonl``: an admin's job (the host CLI is one)."""

    require(caller.role, "ingest")

    records = read_cases(Path(settings.data_dir) / "cases.jsonl")
    log(
        f"indexing {len(records)} case records into {settings.chroma_url or settings.index_dir} ..."
    )
    index = open_case_index(settings)
    index.build(records)
    return index.count()


def open_case_index(settings: Settings):
    """The case index: the Chroma server at ``chroma_url`` if set, else the ``index_dir`` folder."""

    if settings.chroma_url:
        return CaseIndex(server_url=settings.chroma_url)
    return CaseIndex(Path(settings.index_dir))


def build_context(settings: Settings, caller: Caller | None = None) -> ToolContext:
    """The tools' dependencies, acting for ``caller`` (default: the least privileged role;
    the page and the API set the signed-in caller per turn)."""
    caller = caller or Caller("", Role.NURSE)
    hospital = hospital_data.load(Path(settings.data_dir))

    def case_index():
        return open_case_index(settings)

    return ToolContext(
        hospital=hospital,
        # trained once (minutes on a CPU), then reloaded by every process from the data dir
        forecaster=Forecaster(hospital, checkpoint_dir=Path(settings.data_dir) / "forecaster"),
        case_index_factory=case_index,
        solver=settings.solver,
        plan_time_limit=settings.plan_time_limit,
        plan_store=PlanStore(Path(settings.data_dir) / "plans"),
        role=caller.role,
        user=caller.user,
    )


def warm_forecaster(ctx: ToolContext, log=print) -> None:
    """Load the ward models now (training them on a first run) and compute the forecasts every
    question shares, so no question waits for them; the verdict templates are compiled too."""

    compile_verdicts()
    fc = ctx.forecaster
    path = fc.checkpoint_dir
    if path is not None and not (path / CHECKPOINT).exists():
        log(
            "training the forecaster on the hospital's history (first run only, about a minute) ..."
        )
    try:
        fc.warm()
    except ToolError as e:  # too little history: the forecast tool reports it per question
        log(f"forecaster not ready: {e}")


def database_url(url: str | None, folder: Path, filename: str) -> str:
    """``url`` if configured, else a SQLite file ``filename`` in ``folder`` (created)."""
    if url:
        return url
    Path(folder).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(folder) / filename}"


def open_audit(settings: Settings):
    return AuditLog(database_url(settings.audit_url, settings.audit_dir, "audit.db"))


def open_history(settings: Settings):
    return ChatHistory(database_url(settings.history_url, settings.history_dir, "chat.db"))


# Loggers that would write request bodies or SQL parameters (questions, answers, case text)
# at DEBUG/INFO: held at WARNING whatever WARDWISE_LOG_LEVEL says.
QUIET = ("openai", "httpx", "httpcore", "langchain", "langchain_core", "langchain_openai",
         "sqlalchemy", "chromadb", "urllib3", "multipart", "python_multipart")  # fmt: skip


def setup_logging(settings: Settings) -> Path:
    """Wardwise's own log lines (ids, tools, timings, outcomes; never PHI) go to
    ``log_dir/wardwise.log``; everything else logged in the process goes to stderr at
    ``log_level``. The :data:`QUIET` libraries stay at WARNING."""
    Path(settings.log_dir).mkdir(parents=True, exist_ok=True)
    path = Path(settings.log_dir) / "wardwise.log"
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    own = logging.getLogger("wardwise")
    if not any(getattr(h, "baseFilename", None) == str(path) for h in own.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(fmt)
        own.addHandler(handler)
    own.setLevel(logging.INFO)
    root = logging.getLogger()
    root.setLevel(getattr(logging, settings.log_level.upper(), logging.WARNING))
    if not any(getattr(h, "_wardwise", False) for h in root.handlers):
        stderr = logging.StreamHandler()
        stderr.setFormatter(fmt)
        stderr._wardwise = True  # type: ignore[attr-defined]
        root.addHandler(stderr)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    return path


def open_users(settings: Settings):
    """The users and sessions store (SQLite ``users.db`` in the data dir by default)."""

    return UserStore(
        database_url(settings.users_url, settings.data_dir, "users.db"),
        session_minutes=settings.session_minutes,
        session_max_hours=settings.session_max_hours,
    )


def build_agent(settings: Settings, log=print, caller: Caller | None = None):
    """Connect to (or start) the model server and build the agent, audited.

    The agent acts for ``caller`` unless a turn names its own (the page and the API pass the
    signed-in caller with every turn). Returns ``(agent, embedded_server_or_None)``; stop the
    server when done.
    """

    setup_logging(settings)
    ensure_demo(settings, log=log)
    ctx = build_context(settings, caller)
    warm_forecaster(ctx, log=log)
    audit = open_audit(settings)
    base_url, dialect, server = connect(settings, log=log)
    model = make_chat_model(settings, base_url)
    agent = Agent(
        model,
        ctx,
        dialect=dialect,
        audit=audit,
        chats=open_history(settings),
        model_name=settings.llm_model,
        tool_timeout=settings.tool_timeout,
        **agent_options(settings),
    )
    agent.prepare()  # the first question's one-off work, before anyone asks it
    return agent, server


@cache
def example_bank() -> ExampleBank:
    """The packaged example bank, embedded once per process; a question is embedded once per
    turn (the vote and the router's examples share it)."""
    return ExampleBank.load(RecentQueries())


def agent_options(settings: Settings) -> dict:
    """The turn loop's options from the settings (the agent, the eval and the bench share them)."""
    return {
        "mode": settings.agent_mode,
        "max_steps": settings.max_steps,
        "prompt_dir": settings.prompts_dir,
        "answer_mode": settings.answer_mode,
        "examples": example_bank() if settings.example_bank else None,
    }
