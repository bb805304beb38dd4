"""Wiring: build the tool context and the agent from Settings (the entry points call this)."""

from __future__ import annotations

from pathlib import Path

from agent.settings import Settings
from knowledge import hospital as hospital_data
from tools.forecast import Forecaster
from tools.plan_store import PlanStore
from tools.registry import ToolContext
from tools.roles import HOST, Caller, Role, require


def ensure_demo(settings: Settings, log=print) -> None:
    """First run: generate the demo hospital and case records and index them."""
    data = Path(settings.data_dir)
    if not (data / "wards.csv").exists():
        from knowledge.demo import generate

        log(f"no hospital data yet: generating the demo hospital in {data}")
        generate(data)
    if not (data / "cases.jsonl").exists():
        from knowledge.cases_demo import generate_cases, write_cases

        write_cases(data / "cases.jsonl", generate_cases())
    if not Path(settings.index_dir).exists():
        build_index(settings, log=log)


def build_index(settings: Settings, log=print, caller: Caller = HOST) -> int:
    """Rebuild the case index from ``cases.jsonl``: an admin's job (the host CLI is one)."""
    from knowledge.cases_demo import read_cases

    require(caller.role, "ingest")
    from knowledge.store import CaseIndex

    records = read_cases(Path(settings.data_dir) / "cases.jsonl")
    log(f"indexing {len(records)} case records into {settings.index_dir} ...")
    index = CaseIndex(Path(settings.index_dir))
    index.build(records)
    return index.count()


def build_context(settings: Settings, caller: Caller | None = None) -> ToolContext:
    """The tools' dependencies, acting for ``caller`` (default: the least privileged role;
    the page and the API set the signed-in caller per turn)."""
    caller = caller or Caller("", Role.NURSE)
    hospital = hospital_data.load(Path(settings.data_dir))

    def case_index():
        from knowledge.store import CaseIndex

        return CaseIndex(Path(settings.index_dir))

    return ToolContext(
        hospital=hospital,
        forecaster=Forecaster(hospital),
        case_index_factory=case_index,
        solver=settings.solver,
        plan_store=PlanStore(Path(settings.data_dir) / "plans"),
        role=caller.role,
        user=caller.user,
    )


def open_audit(settings: Settings):
    from agent.audit import AuditLog

    url = settings.audit_url
    if not url:
        Path(settings.audit_dir).mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{Path(settings.audit_dir) / 'audit.db'}"
    return AuditLog(url)


def open_users(settings: Settings):
    """The users and sessions store (SQLite ``users.db`` in the data dir by default)."""
    from agent.auth import UserStore

    url = settings.users_url
    if not url:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{Path(settings.data_dir) / 'users.db'}"
    return UserStore(
        url,
        session_minutes=settings.session_minutes,
        session_max_hours=settings.session_max_hours,
    )


def build_agent(settings: Settings, log=print, caller: Caller | None = None):
    """Connect to (or start) the model server and build the agent, audited.

    The agent acts for ``caller`` unless a turn names its own (the page and the API pass the
    signed-in caller with every turn). Returns ``(agent, embedded_server_or_None)``; stop the
    server when done.
    """
    from agent.graph import Agent
    from agent.llm import connect, make_chat_model

    ensure_demo(settings, log=log)
    ctx = build_context(settings, caller)
    audit = open_audit(settings)
    base_url, dialect, server = connect(settings, log=log)
    model = make_chat_model(settings, base_url)
    agent = Agent(
        model,
        ctx,
        dialect=dialect,
        mode=settings.agent_mode,
        max_steps=settings.max_steps,
        audit=audit,
        model_name=settings.llm_model,
    )
    return agent, server
