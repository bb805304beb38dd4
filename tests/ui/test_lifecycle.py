"""SIGTERM to ``wardwise up``, ``serve``, ``eval`` and ``ask`` (what ``systemctl stop`` or a
container stop sends) leaves no model server behind: each command is a real subprocess that
starts the embedded model server itself, through the real code path, and the test checks that
the server, a worker in its process group and the ports are all gone afterwards.

The embedded server's command is ``python -m llama_cpp.server``; a stand-in ``llama_cpp``
package first on ``PYTHONPATH`` serves the fake model (``agent.bench.fakeserver``) under the
alias instead, with a slow answer so a turn is still running when the signal comes, and
starts a ``sleep`` worker in its group as vLLM starts its engine. A stamped empty model file
in a private cache stands in for the downloaded GGUF."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agent.models import MODELS, model_path
from agent.servers import port_free, port_holder, served_models
from tests.agent.test_servers import gone, group_members, wait_until
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]

FAKE_LLAMA_SERVER = textwrap.dedent(
    """
    import argparse, subprocess

    import uvicorn

    from agent.bench.fakeserver import create_app

    p = argparse.ArgumentParser()
    p.add_argument("--model_alias")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    a, _ = p.parse_known_args()
    subprocess.Popen(["sleep", "600"])  # a worker in the server's process group
    app = create_app(delay=600.0, model_id=a.model_alias)
    uvicorn.run(app, host=a.host, port=a.port, log_level="warning")
    """
)


@pytest.fixture()
def embedded_home(serve_home, tmp_path):
    """``serve_home`` with the embedded model path taken: a private cache holding a stamped
    model file, a free embedded port and the stand-in ``llama_cpp`` package."""
    fake = tmp_path / "fake-llama" / "llama_cpp"
    (fake / "server").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "server" / "__init__.py").write_text("")
    (fake / "server" / "__main__.py").write_text(FAKE_LLAMA_SERVER)
    cache = tmp_path / "cache"
    spec = MODELS["qwen2.5-coder-1.5b"]
    model = model_path(spec, cache)
    model.parent.mkdir(parents=True)
    model.write_bytes(b"")
    model.with_suffix(".sha256").write_text(spec.sha256)  # `pull` trusts its stamp
    return {
        **serve_home,
        "PYTHONPATH": os.pathsep.join([str(fake.parent), str(ROOT)]),
        "WARDWISE_CACHE_DIR": str(cache),
        "WARDWISE_EMBEDDED_MODEL": spec.key,
        "WARDWISE_LLM_MODEL": spec.key,
        "WARDWISE_EMBEDDED_PORT": str(free_port()),
        "WARDWISE_PORT": str(free_port()),
    }


def _command(name: str, env: dict) -> tuple[list[str], int | None]:
    """The command line and the front-door port it opens (None for a one-shot command)."""
    cli = [sys.executable, "-m", "ui.cli"]
    if name == "up":
        return cli + ["up"], int(env["WARDWISE_PORT"])
    if name == "serve":
        port = free_port()
        return cli + ["serve", "--host", "127.0.0.1", "--port", str(port)], port
    if name == "eval":
        return cli + ["eval", str(ROOT / "agent" / "bench" / "suites" / "refusal.yaml")], None
    return cli + ["ask", "How many beds will ICU need in the next 3 days?"], None


@pytest.mark.parametrize("command", ["up", "serve", "eval", "ask"])
def test_sigterm_stops_the_embedded_server_and_frees_the_ports(embedded_home, tmp_path, command):
    cmd, front_port = _command(command, embedded_home)
    llm_port = int(embedded_home["WARDWISE_EMBEDDED_PORT"])
    log = tmp_path / f"{command}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=embedded_home, stdout=out, stderr=subprocess.STDOUT)
    server = None
    try:

        def started() -> bool:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            up = served_models(f"http://127.0.0.1:{llm_port}/v1") is not None
            return up and (front_port is None or not port_free(front_port))

        assert wait_until(started, timeout=300), log.read_text(errors="replace")[-3000:]
        server = port_holder(llm_port)
        assert server is not None and server != proc.pid
        assert wait_until(lambda: len(group_members(server)) == 2)  # server + its worker
        time.sleep(1.0)  # `ask` and `eval` are now waiting for the model
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(90) == 128 + signal.SIGTERM, log.read_text(errors="replace")[-3000:]
        assert wait_until(lambda: gone(server) and not group_members(server))
        assert port_free(llm_port)
        assert front_port is None or wait_until(lambda: port_free(front_port))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if server is not None and group_members(server):
            os.killpg(server, signal.SIGKILL)
