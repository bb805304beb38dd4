"""A deterministic OpenAI-compatible model server for fault tests and the load bench.

It is a real HTTP server (FastAPI on uvicorn, run with ``python -m agent.bench.fakeserver``) whose
replies are computed from the request, so concurrent conversations never share a script:

- a routing call (one with ``response_format``) names ``forecast_beds`` for the ward id (from
  the prompt's ``Wards:`` line) and the ``N days`` found in the latest user message, else in
  the earlier ones (a follow-up relies on the conversation's own history), else 7 days;
  a latest message with no ward that asks for "similar" cases gets ``similar_cases`` on its
  text, any other gets ``{"tool": "none"}``;
- an answer call quotes the first labelled fact of the tool results in its prompt.

``delay`` seconds are spent per call (spread over the streamed chunks), standing in for the
model's decoding time; the agent's own overhead is measured against it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

_WARDS = re.compile(r"^Wards:(.*)$", re.M)
_DAYS = re.compile(r"\b(\d{1,2})\s*(?:days|天)", re.I)
_FACT = re.compile(r"^- (.+?): (.+)$", re.M)


def _text(content) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def route(messages: list[dict]) -> dict:
    """The routing decision for a conversation (see the module docstring)."""
    system = "\n".join(_text(m["content"]) for m in messages if m["role"] == "system")
    m = _WARDS.search(system)
    wards = [part.split("=")[0].strip() for part in m.group(1).split(";")] if m else []
    users = [_text(m["content"]) for m in messages if m["role"] == "user"][::-1]
    ward = next(
        (w for text in users for w in wards if re.search(rf"\b{re.escape(w)}\b", text)), None
    )
    if not ward and users and "similar" in users[0].lower():
        return {"tool": "similar_cases", "text": users[0], "k": 3}
    if not ward:
        return {"tool": "none", "reply": "Hello, ask me about a ward's beds."}
    days = next((int(d.group(1)) for text in users if (d := _DAYS.search(text))), 7)
    return {"tool": "forecast_beds", "ward": ward, "days": days}


def answer(messages: list[dict]) -> str:
    """Quote the first labelled fact of the tool results in the system prompt."""
    system = "\n".join(_text(m["content"]) for m in messages if m["role"] == "system")
    tail = system.split("Tool results:", 1)[-1]
    fact = _FACT.search(tail)
    return f"{fact.group(1)}: {fact.group(2)}." if fact else "No facts were given."


def create_app(delay: float = 0.0, chunks: int = 8) -> FastAPI:
    app = FastAPI(title="wardwise fake model")

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "test"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        msgs = body["messages"]
        text = json.dumps(route(msgs)) if body.get("response_format") else answer(msgs)
        cid = f"chatcmpl-{uuid.uuid4().hex[:16]}"
        usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
        if not body.get("stream"):
            await asyncio.sleep(delay)
            return {
                "id": cid,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }

        async def events():
            step = max(1, -(-len(text) // chunks))
            for i in range(0, len(text), step):
                await asyncio.sleep(delay / chunks)
                delta = {"role": "assistant", "content": text[i : i + step]}
                yield _sse(cid, body, delta, None)
            yield _sse(cid, body, {}, "stop", usage)
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def _sse(cid: str, body: dict, delta: dict, finish, usage=None) -> str:
    chunk = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        chunk["usage"] = usage
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


class FakeServer:
    """This server as a child process on 127.0.0.1 (``kill`` it to simulate a crash)."""

    def __init__(self, port: int, delay: float = 0.0, chunks: int = 8, log_path=None):
        self.port, self.delay, self.chunks = port, delay, chunks
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 60.0) -> str:
        from agent.llm import healthy

        cmd = [sys.executable, "-m", "agent.bench.fakeserver", "--port", str(self.port)]
        cmd += ["--delay", str(self.delay), "--chunks", str(self.chunks)]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the fake model server exited ({self.proc.returncode})")
            if healthy(self.base_url):
                return self.base_url
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("the fake model server did not start")

    def kill(self) -> None:
        """SIGKILL: the server dies at once, mid-response if one is streaming."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> FakeServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.kill()


def main() -> None:  # pragma: no cover - run as a child process by tests and the bench
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--delay", type=float, default=0.0, help="seconds per call")
    p.add_argument("--chunks", type=int, default=8, help="streamed chunks per answer")
    a = p.parse_args()
    uvicorn.run(create_app(a.delay, a.chunks), host="127.0.0.1", port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
