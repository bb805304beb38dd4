"""The whole agent as an OpenAI-compatible endpoint (``wardwise serve``), so external eval
tools (promptfoo, ...) can evaluate Wardwise itself, not only the bare model.

``POST /v1/chat/completions`` takes the conversation as ``messages``: the last user message
is the question, earlier user/assistant messages are the history. A client that sends only
the question and names its conversation in ``user`` gets the server's own memory of that
session instead (kept in the chat-history database, so it survives a restart).
The reply carries the checked answer and, under ``wardwise``, the whole turn (tool calls,
grounding). With ``stream: true`` the checked answer is sent as server-sent-event chunks once
the turn is done (the grounding check can replace a draft, so no draft is ever streamed).
"""

from __future__ import annotations

import json
import time
import uuid

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, StreamingResponse
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, Field

MODEL_ID = "wardwise"


class ChatRequest(BaseModel):
    model: str = MODEL_ID
    messages: list[dict] = Field(min_length=1)
    stream: bool = False
    user: str | None = None


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def split_messages(messages: list[dict]) -> tuple[str, list[BaseMessage]]:
    """(question, history) from OpenAI-style messages; system messages are ignored."""
    convo = [m for m in messages if m.get("role") in ("user", "assistant")]
    if not convo or convo[-1].get("role") != "user" or not _text(convo[-1].get("content")).strip():
        raise HTTPException(400, "the last message must be a non-empty user message")
    history: list[BaseMessage] = [
        HumanMessage(_text(m["content"])) if m["role"] == "user" else AIMessage(_text(m["content"]))
        for m in convo[:-1]
    ]
    return _text(convo[-1]["content"]), history


def create_app(agent) -> FastAPI:
    app = FastAPI(title="Wardwise agent (OpenAI-compatible)")

    @app.get("/v1/models")
    def models() -> dict:
        return {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "wardwise"}],
        }

    @app.post("/v1/chat/completions")
    def chat(req: ChatRequest):
        question, history = split_messages(req.messages)
        if req.user and not history:  # the session's stored memory
            turn = agent.ask(question, session_id=req.user)
        else:
            turn = agent.ask(question, session_id=req.user or uuid.uuid4().hex, history=history)
        if turn.error:
            return JSONResponse(
                status_code=503,
                content={
                    "error": {
                        "message": turn.error,
                        "type": "server_error",
                        "code": "llm_unavailable",
                    }
                },
            )
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        tokens = sum(c.get("tokens") or 0 for c in turn.llm_calls)
        if not req.stream:
            return {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": MODEL_ID,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": turn.answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 0, "completion_tokens": tokens, "total_tokens": tokens},
                "wardwise": turn.to_json(),
            }

        def events():
            def chunk(delta: dict, finish: str | None = None) -> str:
                body = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": MODEL_ID,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

            yield chunk({"role": "assistant", "content": ""})
            for i in range(0, len(turn.answer), 16):
                yield chunk({"content": turn.answer[i : i + 16]})
            yield chunk({}, "stop")
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app
