"""``agent.servers``: a child server spawned with ``spawn_server`` is healthy when it returns,
dies with its parent (SIGTERM, SIGINT, SIGHUP and even SIGKILL of the parent), and a port
held by another process is reported with that process's pid. Real processes throughout: a
``python -m http.server`` child and a small parent script."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agent.app.settings import Settings
from agent.bench.fakeserver import FakeServer
from agent.llm import LLMUnavailable, connect
from agent.servers import (
    ServerUnavailable,
    live_children,
    port_free,
    port_holder,
    spawn_server,
)
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def http_server(port: int) -> list[str]:
    """A child server that answers ``GET /`` with 200."""
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def gone(pid: int) -> bool:
    """No such process, or only its zombie (reaped by nobody in some containers)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


def wait_until(check, timeout: float = 30.0) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_a_spawned_server_is_healthy_in_its_own_group_and_stops_with_its_group():
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    child = spawn_server(http_server(port), name="http", ready_url=url, port=port)
    try:
        assert child.running() and port_holder(port) == child.pid
        assert os.getpgid(child.pid) == child.pid  # its own process group
        assert child in live_children()
    finally:
        child.stop()
    assert gone(child.pid) and port_free(port) and child not in live_children()


def test_a_server_that_exits_at_start_is_reported_with_its_log(tmp_path):
    before = list(live_children())  # a session's embedded server may be alive: not ours
    log = tmp_path / "child.log"
    cmd = [sys.executable, "-c", "import sys; print('no model file'); sys.exit(3)"]
    with pytest.raises(ServerUnavailable, match=f"exited with code 3; see {log}"):
        spawn_server(cmd, name="model server", ready_url="http://127.0.0.1:9/", log_path=log)
    assert "no model file" in log.read_text()
    assert list(live_children()) == before


def test_a_held_port_is_refused_naming_its_holder():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert not port_free(port) and port_holder(port) == os.getpid()
        with pytest.raises(ServerUnavailable, match=f"port {port} is held by pid {os.getpid()} "):
            spawn_server(
                http_server(port), name="http", ready_url=f"http://127.0.0.1:{port}/", port=port
            )


def _settings(port: int, tmp_path) -> Settings:
    return Settings(embedded_port=port, cache_dir=tmp_path, llm_url=None)


def test_a_stale_server_on_the_embedded_port_is_reported_not_reused(tmp_path):
    with socket.socket() as holder:  # a process that is no HTTP server at all
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(LLMUnavailable) as e:
            connect(_settings(port, tmp_path), log=lambda m: None)
    assert str(e.value).startswith(f"port {port} is held by pid {os.getpid()} (")
    assert "not a Wardwise model server" in str(e.value)
    assert "WARDWISE_EMBEDDED_PORT" in str(e.value)
    port = free_port()
    with FakeServer(port) as other:  # an OpenAI server, but not serving our model
        with pytest.raises(LLMUnavailable, match=r"not a Wardwise model server \(it serves"):
            connect(_settings(port, tmp_path), log=lambda m: None)
        assert other.proc is not None and other.proc.poll() is None  # left alone


def test_our_own_server_on_the_embedded_port_is_reused(tmp_path):
    settings = _settings(free_port(), tmp_path)
    with FakeServer(settings.embedded_port, model_id=settings.llm_model) as ours:
        url, dialect, started = connect(settings, log=lambda m: None)
    assert (url, dialect, started) == (ours.base_url, "llama-cpp", None)


PARENT = textwrap.dedent(
    """
    import signal, sys, time
    from agent.servers import exit_on_signals, spawn_server

    # the default dispositions, whatever the runner left (nohup ignores SIGHUP)
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, signal.SIG_DFL if s != signal.SIGINT else signal.default_int_handler)

    if sys.argv[2] == "exit":
        exit_on_signals()
    port = sys.argv[1]
    cmd = [sys.executable, "-c", (
        "import subprocess, sys;"
        "subprocess.Popen(['sleep', '600']);"  # a worker in the server's group
        f"import runpy; sys.argv = ['http.server', '{port}', '--bind', '127.0.0.1'];"
        "runpy.run_module('http.server', run_name='__main__')"
    )]
    child = spawn_server(cmd, name="http", ready_url=f"http://127.0.0.1:{port}/")
    print(child.pid, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.parametrize(
    ("sig", "mode", "code"),
    [
        (signal.SIGTERM, "chain", 143),
        (signal.SIGHUP, "chain", 129),
        (signal.SIGINT, "exit", 130),
        (signal.SIGINT, "chain", -2),  # Python's KeyboardInterrupt, after the children stop
        (signal.SIGKILL, "chain", -9),  # no handler runs: the parent-death signal does it
    ],
)
def test_the_child_and_its_group_die_with_the_parent(tmp_path, sig, mode, code):
    port = free_port()
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen(
        [sys.executable, str(script), str(port), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert wait_until(lambda: len(group_members(child)) == 2)  # server + its worker
        parent.send_signal(sig)
        assert parent.wait(60) == code
        # after SIGKILL the kernel signals the server only, not a worker it started
        leftover = [] if sig != signal.SIGKILL else [child + 1]
        assert wait_until(lambda: gone(child) and len(group_members(child)) <= len(leftover))
        assert wait_until(lambda: port_free(port))
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if sig == signal.SIGKILL:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child, signal.SIGKILL)
