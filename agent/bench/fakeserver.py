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
import sys
import time
import uuid
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from agent.servers import LocalServer

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


def create_app(delay: float = 0.0, chunks: int = 8, model_id: str = "fake") -> FastAPI:
    """The server's app: ``/v1/models`` lists ``model_id``; ``/v1/chat/completions`` answers
    (streamed or not) after ``delay`` seconds."""
    app = FastAPI(title="wardwise fake model")

    @app.get("/v1/models")
    async def models() -> dict:
        model = {"id": model_id, "object": "model", "owned_by": "test"}
        return {"object": "list", "data": [model]}

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


class FakeServer(LocalServer):
    """This server as a child process on 127.0.0.1 (``kill`` it to simulate a crash; leaving
    a ``with`` block kills it too); ``model_id`` is the id ``/v1/models`` lists."""

    name = "the fake model server"
    poll_s = 0.1

    def __init__(
        self,
        port: int,
        delay: float = 0.0,
        chunks: int = 8,
        log_path: Path | None = None,
        model_id: str = "fake",
    ):
        super().__init__(port, log_path)
        self.delay, self.chunks, self.model_id = delay, chunks, model_id

    def command(self) -> list[str]:
        """``python -m agent.bench.fakeserver`` with this server's options."""
        cmd = [sys.executable, "-m", "agent.bench.fakeserver", "--port", str(self.port)]
        cmd += ["--delay", str(self.delay), "--chunks", str(self.chunks)]
        return cmd + ["--model", self.model_id]

    def start(self, timeout: float = 60.0) -> str:
        """Start the server and wait until it answers (60 s at most); returns its base URL."""
        return super().start(timeout)

    def __exit__(self, *exc: object) -> None:
        self.kill()


def main() -> None:  # pragma: no cover - run as a child process by tests and the bench
    """Serve on 127.0.0.1 (``python -m agent.bench.fakeserver --port N``)."""
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--delay", type=float, default=0.0, help="seconds per call")
    p.add_argument("--chunks", type=int, default=8, help="streamed chunks per answer")
    p.add_argument("--model", default="fake", help="the model id /v1/models lists")
    a = p.parse_args()
    app = create_app(a.delay, a.chunks, a.model)
    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
