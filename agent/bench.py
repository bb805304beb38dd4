"""`wardwise bench llm`: each embedded model x server x decision method, side by side.

For every candidate model the embedded llama.cpp server is started with the model's own
chat template (methods ``route``: schema-constrained routing; ``native``: the server's
parsed tool calls only; ``tolerant``: native plus the tolerant text parser) and with
llama-cpp-python's ``chatml-function-calling`` handler (method ``native-fc``). Rows report decode tokens/s and
time to first token on a fixed prompt, and the share of the fixed questions on which the
decision named the right tool with valid arguments.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import yaml

from agent.graph import Agent, Turn
from agent.llm import EmbeddedServer, make_chat_model, token_limit
from agent.models import MODELS, pull
from agent.settings import Settings
from tools.registry import validate_arguments
from tools.result import ToolError

SPEED_PROMPT = "Explain in about 120 words why hospitals forecast bed occupancy."


def questions() -> list[dict]:
    text = resources.files("agent").joinpath("bench_llm.yaml").read_text(encoding="utf-8")
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


def bench_llm(
    settings: Settings, models: list[str], methods: list[str], *, limit: int = 0, log=print
):
    from agent.runtime import build_context, ensure_demo

    ensure_demo(settings, log=log)
    ctx = build_context(settings)
    qs = questions()[: limit or None]
    rows = []
    for key in models:
        spec = MODELS[key]
        file = pull(spec, Path(settings.cache_dir), log=log)
        for chat_format, wanted in (
            (None, ("route", "tolerant", "native")),
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
            )
            server_name = f"llama-cpp-python ({chat_format or 'model template'})"
            with server:
                model = make_chat_model(settings, server.base_url, model=key)
                tok_s, ttft = speed(model)
                for method in todo:
                    agent = Agent(
                        model,
                        ctx,
                        dialect="llama-cpp",
                        mode="route" if method == "route" else "tools",
                        tolerant=method == "tolerant",
                    )
                    right, secs = 0, []
                    for q in qs:
                        t0 = time.perf_counter()
                        try:
                            decision = agent.decide(Turn(question=q["q"]), [], None)
                            ok = judge(decision, q, ctx.hospital)
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
