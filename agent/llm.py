"""The one place that knows about LLM servers: the chat-model factory and the embedded server.

``make_chat_model`` returns a LangChain ``ChatOpenAI`` on any OpenAI-compatible base URL
(a hospital's vLLM, the embedded llama.cpp server, or anything else); ``EmbeddedServer``
runs llama-cpp-python's server on 127.0.0.1 as a child process.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from agent.models import MODELS, model_path, pull
from agent.settings import Settings


class LLMUnavailable(RuntimeError):
    """The model server cannot be reached or started; the message says what to do."""


def make_chat_model(settings: Settings, base_url: str, model: str | None = None):
    """A LangChain chat model on an OpenAI-compatible server (temperature 0, no retries)."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=base_url,
        api_key=settings.llm_api_key,
        model=model or settings.llm_model,
        temperature=0,
        timeout=settings.llm_timeout,
        max_retries=0,
        stream_usage=True,
    )


def token_limit(n: int) -> dict:
    """Call kwargs that cap the reply at ``n`` tokens on every server.

    LangChain sends ``max_completion_tokens``, which llama-cpp-python ignores; the plain
    ``max_tokens`` goes in the body as well (vLLM accepts both).
    """
    return {"max_tokens": n, "extra_body": {"max_tokens": n}}


def response_format(schema: dict, dialect: str) -> dict:
    """The ``response_format`` a server understands for JSON-schema-constrained output.

    llama-cpp-python takes ``json_object`` with a ``schema``; vLLM and OpenAI take
    ``json_schema``.
    """
    if dialect == "llama-cpp":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "route", "schema": schema}}


def healthy(base_url: str, timeout: float = 2.0) -> bool:
    try:
        r = httpx.get(base_url.rstrip("/") + "/models", timeout=timeout)
        return r.status_code == 200
    except httpx.HTTPError:
        return False


class EmbeddedServer:
    """llama-cpp-python's OpenAI-compatible server as a child process on 127.0.0.1."""

    def __init__(
        self,
        model_file: Path,
        *,
        alias: str,
        port: int,
        threads: int = 2,
        n_ctx: int = 4096,
        chat_format: str | None = None,
        log_path: Path | None = None,
    ):
        self.model_file = Path(model_file)
        self.alias = alias
        self.port = port
        self.threads = threads
        self.n_ctx = n_ctx
        self.chat_format = chat_format
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 180.0) -> str:
        try:
            import llama_cpp.server  # noqa: F401
        except ImportError as e:
            raise LLMUnavailable(
                "the embedded server needs llama-cpp-python[server]: run `make setup`"
            ) from e
        cmd = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_file),
            "--model_alias", self.alias,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.threads),
            "--n_threads_batch", str(self.threads),
            # concurrent requests queue; by default a new request cuts off the one streaming
            "--interrupt_requests", "False",
        ]  # fmt: skip
        if self.chat_format:
            cmd += ["--chat_format", self.chat_format]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LLMUnavailable(
                    f"embedded model server exited with code {self.proc.returncode}"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            if healthy(self.base_url):
                return self.base_url
            time.sleep(0.5)
        self.stop()
        raise LLMUnavailable(f"embedded model server did not become healthy in {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def connect(settings: Settings, log=print) -> tuple[str, str, EmbeddedServer | None]:
    """Find the model server: ``WARDWISE_LLM_URL``, an embedded one already running, or a new one.

    Returns ``(base_url, dialect, server_started_here_or_None)``.
    """
    if settings.llm_url:
        return settings.llm_url, settings.llm_dialect, None
    spec = MODELS.get(settings.embedded_model)
    if spec is None:
        raise LLMUnavailable(f"unknown embedded model {settings.embedded_model!r}: {list(MODELS)}")
    server = EmbeddedServer(
        model_path(spec, settings.cache_dir),
        alias=settings.llm_model,
        port=settings.embedded_port,
        threads=settings.embedded_threads,
        n_ctx=settings.embedded_ctx,
        log_path=Path(settings.cache_dir) / "embedded-server.log",
    )
    if healthy(server.base_url):
        return server.base_url, "llama-cpp", None
    pull(spec, settings.cache_dir, log=log)
    log(f"starting the embedded model ({spec.title}) on {server.base_url} ...")
    server.start()
    return server.base_url, "llama-cpp", server
