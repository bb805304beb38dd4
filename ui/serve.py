"""The whole agent as an OpenAI-compatible endpoint (``wardwise serve``), so external eval
tools (promptfoo, ...) can evaluate Wardwise itself, not only the bare model.

``POST /v1/chat/completions`` takes the conversation as ``messages``: the last user message
is the question, earlier user/assistant messages are the history. A client that sends only
the question and names its conversation in ``user`` gets the server's own memory of that
session instead (kept in the chat-history database, so it survives a restart).
The reply carries the checked answer and, under ``wardwise``, the whole turn (tool calls,
grounding). With ``stream: true`` and ``answer_mode=verdicts`` (the default) the answer is sent
as server-sent-event chunks as the turn yields it: the tools' verdict sentences are code's own,
final when they come (a model answer to a failed tool call that the check then replaces gets
the replacement after it). In ``model`` answer mode the checked answer is sent once the turn is
done, so no draft the grounding check would replace is ever streamed.

Every endpoint but ``POST /v1/login`` needs ``Authorization: Bearer <token>``: a session token
from ``/v1/login`` (``{"username", "password"}`` -> ``{"token", "expires", "user", "role"}``),
the same sessions as the page (they expire when idle; ``/v1/logout`` ends one). An OpenAI
client passes the token as its API key. Without a live token the answer is 401; the turn's
tools act with the token's role, whatever the messages say.

Turns wait their turn in the process's :class:`agent.app.queue.TurnQueue` (one per model
server: ``WARDWISE_MAX_CONCURRENT_TURNS`` at once, ``WARDWISE_MAX_QUEUE_DEPTH`` waiting). A turn
beyond the depth is refused at once: 429 with ``Retry-After`` and a message in the question's
language. A waiting streamed turn first gets chunks without text whose ``wardwise.queue``
holds its place (``ahead``, ``eta_s`` and ``message``: "3 questions ahead of yours, about 40 s",
"前面还有 3 个问题，约 40 秒"), refreshed as it moves up; a completion that is not streamed
reports its wait afterwards, in ``wardwise.queue`` (``wait_s``, ``ahead``).
"""

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio.to_thread
import orjson
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, Field

from agent.app.auth import NO_USERS_HINT, AuthError, UserStore
from agent.app.queue import QueueFull, Ticket, TurnQueue, announce, nothing
from knowledge.text import has_cjk
from tools.roles import Caller

# no `from __future__ import annotations`: FastAPI reads the local dependencies' types
MODEL_ID = "wardwise"
QUEUE_POLL_S = 2.0  # a waiting stream refreshes its place and estimate this often


class ChatRequest(BaseModel):
    model: str = MODEL_ID
    messages: list[dict] = Field(min_length=1)
    stream: bool = False
    user: str | None = None


class LoginRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class Unauthorized(Exception):
    def __init__(self, message: str, code: str = "invalid_api_key", status: int = 401):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


class _TurnJSON(JSONResponse):
    """A completion's body, written by orjson: a turn's JSON holds its tools' outputs (a
    forecast's is ~9 kB), which ``json.dumps`` takes ~9 times as long to write (147 against
    16 us for a forecast's completion)."""

    def render(self, content) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def _error(status: int, message: str, kind: str, code: str, headers=None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "code": code}}
    return JSONResponse(status_code=status, content=body, headers=headers)


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


def create_app(agent, users: UserStore, queue: TurnQueue | None = None) -> FastAPI:
    """The API over ``agent``; ``users`` signs callers in and resolves their tokens; ``queue``
    (when given) admits the turns: beyond its depth a turn gets 429 with ``Retry-After``."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # waiting turns hold worker threads: room for all of them and the other requests
        if queue is not None:
            limiter = anyio.to_thread.current_default_thread_limiter()
            need = queue.max_concurrent + queue.max_depth + 16
            limiter.total_tokens = max(limiter.total_tokens, need)
        yield

    app = FastAPI(title="Wardwise agent (OpenAI-compatible)", lifespan=lifespan)
    bearer = HTTPBearer(auto_error=False)

    @app.exception_handler(Unauthorized)
    def unauthorized(request: Request, e: Unauthorized) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
        return _error(e.status, e.message, "authentication_error", e.code, headers)

    def caller(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
        if creds is None:
            hint = "" if users.count() else f" {NO_USERS_HINT}"
            raise Unauthorized(
                "sign in first: POST /v1/login, then send Authorization: Bearer <token>." + hint,
                code="missing_token",
            )
        try:
            return users.resolve(creds.credentials)
        except AuthError as e:
            raise Unauthorized(f"{e}; POST /v1/login for a new token.") from None

    @app.post("/v1/login")
    def login(req: LoginRequest) -> dict:
        if not users.count():
            raise Unauthorized(NO_USERS_HINT, code="no_users")
        try:
            s = users.sign_in(req.username, req.password)
        except AuthError as e:
            locked = "locked" in str(e)
            raise Unauthorized(
                str(e),
                code="locked" if locked else "bad_credentials",
                status=429 if locked else 401,
            ) from None
        return {
            "token": s.token,
            "token_type": "bearer",
            "expires": s.expires.isoformat(),
            "user": s.caller.user,
            "role": s.caller.role.value,
        }

    @app.post("/v1/logout")
    def logout(
        who: Annotated[Caller, Depends(caller)],
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> dict:
        users.sign_out(creds.credentials)
        return {"signed_out": who.user}

    @app.get("/v1/models")
    def models(who: Annotated[Caller, Depends(caller)]) -> dict:
        return {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "wardwise"}],
        }

    @app.post("/v1/chat/completions")
    def chat(req: ChatRequest, who: Annotated[Caller, Depends(caller)]):
        question, history = split_messages(req.messages)
        if queue is None:
            return _release_after(answer(req, who, question, history), None, None)
        language = "Chinese" if has_cjk(question) else "English"
        try:
            ticket = queue.enter()
        except QueueFull as e:
            return _error(
                429,
                e.message(language),
                "rate_limit_error",
                "queue_full",
                {"Retry-After": str(e.retry_after_s)},
            )
        withdraw = announce(agent, question) if not ticket.running else nothing
        if req.stream and not ticket.running:  # the client sees its place while it waits
            events = _queued_events(
                queue, ticket, language, req, who, question, history, answer, withdraw
            )
            return StreamingResponse(events, media_type="text/event-stream")
        try:
            try:
                queue.wait(ticket)
            finally:
                withdraw()
            reply = answer(req, who, question, history, ticket)
        except BaseException:
            queue.release(ticket, ok=False)
            raise
        return _release_after(reply, queue, ticket)

    def answer(req: ChatRequest, who: Caller, question: str, history, ticket=None):
        """The turn's reply: a completion or an error (JSONResponse) or, streaming, the
        events still to send (the rest of the turn runs as the client reads them)."""
        session = f"api:{who.user}:{req.user or uuid.uuid4().hex}"[:80]
        stored = req.user and not history  # the session's stored memory
        run = agent.stream(question, session, None if stored else history, caller=who)
        # Verdict answers are code's own sentences, final when they come: a stream sends them
        # as they come. A model-written draft may still be replaced by the grounding check,
        # so it is sent only once the turn is done.
        live = req.stream and getattr(agent, "answer_mode", "model") == "verdicts"
        first: list[str] = []
        turn = None
        for ev in run:
            if ev.kind == "final":
                turn = ev.data
                break
            if live and ev.kind == "token":
                first.append(ev.data)
                break
        if turn is not None and turn.error:
            return _error(503, turn.error, "server_error", "llm_unavailable")
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if turn is None:  # streaming live: the rest of the turn runs as the client reads
            return _live_events(cid, created, first, run)
        tokens = sum(c.get("tokens") or 0 for c in turn.llm_calls)
        if not req.stream:
            body = turn.to_json()
            if ticket is not None:
                body["queue"] = {
                    "wait_s": round(ticket.wait_s, 3),
                    "ahead": ticket.ahead_at_entry,
                }
            return _TurnJSON(  # already JSON types: no second pass through FastAPI's encoder
                {
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
                    "usage": {
                        "prompt_tokens": 0,
                        "completion_tokens": tokens,
                        "total_tokens": tokens,
                    },
                    "wardwise": body,
                }
            )

        def events():
            yield _chunk(cid, created, {"role": "assistant", "content": ""})
            yield _chunk(cid, created, {"content": turn.answer})
            yield _chunk(cid, created, {}, "stop")
            yield "data: [DONE]\n\n"

        return events()

    return app


def _chunk(cid: str, created: int, delta: dict, finish: str | None = None) -> str:
    """One server-sent event of an OpenAI chat-completion stream."""
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL_ID,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _live_events(cid: str, created: int, first: list[str], run) -> Iterator[str]:
    """The stream of a verdict answer: its text as the turn yields it (labels after), and a
    turn replaced at the end (its audit record could not be written) says so last."""
    yield _chunk(cid, created, {"role": "assistant", "content": ""})
    for text in first:
        yield _chunk(cid, created, {"content": text})
    for ev in run:
        if ev.kind == "token":
            yield _chunk(cid, created, {"content": ev.data})
        elif ev.kind == "replace":
            yield _chunk(cid, created, {"content": f"\n\n{ev.data}"})
    yield _chunk(cid, created, {}, "stop")
    yield "data: [DONE]\n\n"


def _release_after(reply, queue: TurnQueue | None, ticket: Ticket | None):
    """``reply`` as a response; the queue's slot is released when it is done: at once for a
    completion or an error, when the last event is sent (or the client left) for a stream."""
    if isinstance(reply, JSONResponse):
        if queue is not None and ticket is not None:
            queue.release(ticket, ok=reply.status_code < 400)
        return reply
    if queue is None or ticket is None:
        return StreamingResponse(reply, media_type="text/event-stream")
    return StreamingResponse(_releasing(reply, queue, ticket), media_type="text/event-stream")


def _releasing(events: Iterator[str], queue: TurnQueue, ticket: Ticket) -> Iterator[str]:
    """``events``, then the slot released (also when the client stops reading)."""
    ok = False
    try:
        yield from events
        ok = True
    finally:
        queue.release(ticket, ok=ok)


def _queue_chunk(cid: str, created: int, where: dict) -> str:
    """A chunk with no text that says where the turn waits: ``wardwise.queue`` holds
    ``ahead``, ``eta_s``, ``running`` and the sentence to show (an OpenAI client ignores it)."""
    body = json.loads(_chunk(cid, created, {})[len("data: ") :])
    body["wardwise"] = {"queue": where}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _queued_events(
    queue: TurnQueue,
    ticket: Ticket,
    language: str,
    req: ChatRequest,
    who: Caller,
    question: str,
    history: list,
    answer: Callable,
    withdraw: Callable[[], None] = nothing,
) -> Iterator[str]:
    """A stream that waits in the queue first: its place and estimate ("3 questions ahead of
    yours, about 40 s") when it changes, then the turn's own events. A turn that fails after
    waiting ends the stream with an ``error`` event (the status was sent already)."""
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    ok = False
    try:
        yield _chunk(cid, created, {"role": "assistant", "content": ""})
        shown = None
        while True:
            where = queue.position(ticket)
            if not where.running and (where.ahead, round(where.eta_s)) != shown:
                shown = (where.ahead, round(where.eta_s))
                info = {**where.to_json(), "message": where.message(language)}
                yield _queue_chunk(cid, created, info)
            if ticket.running or queue.wait(ticket, timeout=QUEUE_POLL_S):
                break
        withdraw()  # the turn announces its own question as it starts
        reply = answer(req, who, question, history, ticket)
        if isinstance(reply, JSONResponse):
            yield f"data: {reply.body.decode()}\n\n"
            return
        events = iter(reply)
        next(events, None)  # its first chunk names the role: sent already
        yield from events
        ok = True
    finally:
        withdraw()  # a client gone while it waited: nothing left announced
        queue.release(ticket, ok=ok)
