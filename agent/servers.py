"""Child servers tied to this process's life: spawn one, wait until it is healthy, stop it.

Every server Wardwise starts (the embedded llama.cpp server, vLLM, the fake model server of
the tests and the load bench, ``wardwise serve`` under the load bench) goes through
:func:`spawn_server`, which

- refuses a port another process already listens on, naming that process;
- starts the child in its own session and process group (so a server that forks an engine
  or workers is stopped as a whole) and, on Linux, with a parent-death signal
  (``prctl(PR_SET_PDEATHSIG, SIGTERM)``): if this process dies, even by SIGKILL, the
  kernel sends the child SIGTERM;
- polls a URL until it answers 200, and stops the child and raises
  :class:`ServerUnavailable` if it exits or stalls first;
- registers the child, so that SIGTERM, SIGINT and SIGHUP sent to this process (and its
  normal exit, through ``atexit``) stop every live child first: SIGTERM to its process
  group, SIGKILL after a grace period.

The signal handlers are installed on the first spawn from the main thread and chain to the
handlers found there (Python's ``KeyboardInterrupt`` for SIGINT); a signal whose default
action is to terminate ends the process with the conventional code ``128 + signal``. Entry
points call :func:`exit_on_signals` at start, so that SIGINT exits with 130 as well and the
handlers are in place before the first child exists. A signal that was ignored when the
handlers were installed (``nohup`` ignores SIGHUP) stays ignored.

The parent-death signal is set only when the spawning thread is the main thread: Linux sends
it when the *thread* that forked the child ends, which for another thread is not the end of
this process.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Self

import httpx

GRACE_S = 20.0  # SIGTERM to SIGKILL when a child is stopped
EXIT_WATCHDOG_S = 15.0  # after a fatal signal, os._exit if the interpreter has not ended
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1


class ServerUnavailable(RuntimeError):
    """A child server could not be started: its port is taken, it exited, or it stalled."""


def answers(url: str, headers: Mapping[str, str] | None = None, timeout: float = 2.0) -> bool:
    """Whether a GET of ``url`` answers 200 (any connection error or other status: no)."""
    try:
        return httpx.get(url, headers=dict(headers or {}), timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def served_models(base_url: str, timeout: float = 2.0) -> list[str] | None:
    """The model ids an OpenAI-compatible server lists at ``/models``; None if it does not
    answer that with 200 and a JSON list."""
    try:
        r = httpx.get(base_url.rstrip("/") + "/models", timeout=timeout)
        if r.status_code != 200:
            return None
        return [str(m.get("id")) for m in r.json().get("data") or [] if isinstance(m, dict)]
    except (httpx.HTTPError, ValueError, AttributeError):
        return None


# --------------------------------------------------------------------------- ports


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``host:port`` now (bound the way uvicorn binds, with
    ``SO_REUSEADDR``, so a port in TIME_WAIT counts as free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            # local address "0100007F:2231", state 0A = LISTEN, inode in column 9
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def port_holder(port: int) -> int | None:
    """The pid of the process listening on TCP ``port`` (from ``/proc/net/tcp`` and the
    sockets in ``/proc/*/fd``); None when nothing listens or the holder is not visible (a
    process of another user, or not Linux)."""
    targets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not targets:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in targets:
                    return int(entry.name)
            except OSError:
                continue
    return None


def describe(pid: int) -> str:
    """A process's command line, shortened, for messages (``?`` if it cannot be read)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    text = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return text if len(text) <= 100 else text[:97] + "..."


def held_message(port: int, what: str) -> str:
    """``port 8765 is held by pid N (cmd), not <what>`` (or by an unknown process)."""
    pid = port_holder(port)
    who = f"pid {pid} ({describe(pid)})" if pid else "another process (pid not visible)"
    return f"port {port} is held by {who}, not {what}"


# --------------------------------------------------------------------------- children


class Child:
    """A child server started by :func:`spawn_server`: its process, stopped as a group."""

    def __init__(self, proc: subprocess.Popen, name: str, log_path: Path | None):
        self.proc = proc
        self.name = name
        self.log_path = log_path

    @property
    def pid(self) -> int:
        """The child's pid (also its process group and session id)."""
        return self.proc.pid

    def running(self) -> bool:
        """Whether the child's own process has not exited."""
        return self.proc.poll() is None

    def stop(self, grace: float = GRACE_S) -> None:
        """SIGTERM to the child's process group (also an engine or worker its leader left
        behind when it died), SIGKILL to what is left after ``grace`` seconds."""
        _forget(self)
        if not _signal_group(self.proc, signal.SIGTERM):
            return
        if not _wait(self.proc, grace):
            _signal_group(self.proc, signal.SIGKILL)
            _wait(self.proc, 10)

    def kill(self) -> None:
        """SIGKILL to the child's process group: it dies at once, mid-response if one is
        streaming (a crash, for the fault tests)."""
        _forget(self)
        if _signal_group(self.proc, signal.SIGKILL):
            _wait(self.proc, 10)


def _signal_group(proc: subprocess.Popen, sig: int) -> bool:
    """Send ``sig`` to the child's group; False when the group is gone."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        proc.poll()  # reap the leader if it is a zombie
        return False
    return True


def _wait(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait for the child's exit, always with a timeout: ``Popen.wait`` without one blocks on
    a lock that a signal handler interrupting it would wait on for ever."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def spawn_server(
    cmd: Sequence[str],
    *,
    name: str,
    ready_url: str,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    timeout: float = 180.0,
    ready: Callable[[], bool] | None = None,
    poll_s: float = 0.5,
) -> Child:
    """Start a server child tied to this process and wait until it is healthy.

    Args:
        cmd: the command line of the server.
        name: what it is, for messages ("embedded model server").
        ready_url: polled with GET until it answers 200.
        port: the port the server will listen on; refused at once if another process holds it.
        env: the child's environment (default: this process's).
        log_path: the child's stdout and stderr are appended here (default: discarded).
        timeout: seconds to wait for health before the child is stopped.
        ready: a health check replacing the GET of ``ready_url`` (e.g. one with a token).
        poll_s: seconds between health checks.

    Returns:
        The running child; ``stop`` it when done (it is also stopped on exit and signals).

    Raises:
        ServerUnavailable: the port is held, or the child exited or stalled (then stopped).
    """
    if port is not None and not port_free(port):
        raise ServerUnavailable(held_message(port, f"a new {name}") + f"; {name} cannot start")
    if threading.current_thread() is threading.main_thread():
        _install_handlers()
    with open(log_path, "ab") if log_path else contextlib.nullcontext() as log:
        proc = subprocess.Popen(
            list(cmd),
            stdout=log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            preexec_fn=_death_signal(),
        )
    child = Child(proc, name, log_path)
    _LIVE[proc.pid] = child
    see = f"; see {log_path}" if log_path else ""
    check = ready or (lambda: answers(ready_url))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                raise ServerUnavailable(f"{name} exited with code {code}{see}")
            if check():
                return child
            time.sleep(poll_s)
        raise ServerUnavailable(f"{name} did not become healthy in {timeout:.0f} s{see}")
    except BaseException:
        child.stop()  # never leave an orphan behind a failed start
        raise


def _death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` giving the child SIGTERM when this thread ends (Linux, main thread
    only; see the module docstring)."""
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before the fork
    except (OSError, AttributeError):
        return None
    parent, sigterm = os.getpid(), int(signal.SIGTERM)

    def tie() -> None:  # runs in the child between fork and exec
        prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), sigterm)

    return tie


class LocalServer:
    """An OpenAI-compatible server as a child process on 127.0.0.1, started with
    :func:`spawn_server` and healthy when ``/v1/models`` answers; subclasses give its
    ``command`` (and ``environment``). Use ``start``/``stop`` or a ``with`` block."""

    name = "server"
    poll_s = 0.5

    def __init__(self, port: int, log_path: Path | None = None):
        self.port = port
        self.log_path = log_path
        self.child: Child | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def proc(self) -> subprocess.Popen | None:
        """The child process, None before ``start`` and after a failed start or ``stop``."""
        return self.child.proc if self.child else None

    def command(self) -> list[str]:
        """The server's command line."""
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        """The server's environment (default: this process's)."""
        return dict(os.environ)

    def start(self, timeout: float = 180.0) -> str:
        """Start the server and wait until it answers; returns its base URL.

        Raises:
            ServerUnavailable: the port is held, or the server exited or stalled.
        """
        self.child = None
        self.child = spawn_server(
            self.command(),
            name=self.name,
            ready_url=self.base_url + "/models",
            port=self.port,
            env=self.environment(),
            log_path=self.log_path,
            timeout=timeout,
            poll_s=self.poll_s,
        )
        return self.base_url

    def stop(self) -> None:
        """Stop the server: SIGTERM to its process group, SIGKILL after 20 s."""
        if self.child:
            self.child.stop()
        self.child = None

    def kill(self) -> None:
        """SIGKILL: the server dies at once, mid-response if one is streaming."""
        if self.child:
            self.child.kill()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- lifetime

_LIVE: dict[int, Child] = {}  # this process's live children, by pid
_PREVIOUS: dict[int, object] = {}  # the handler found when ours was installed
_STATE = {"exit_on_interrupt": False, "stopping": False}


def _forget(child: Child) -> None:
    _LIVE.pop(child.pid, None)


def live_children() -> list[Child]:
    """The children started here and not stopped yet."""
    return list(_LIVE.values())


def stop_all(grace: float = GRACE_S) -> None:
    """Stop every live child together: SIGTERM to each group, SIGKILL to what is left after
    ``grace`` seconds."""
    children = list(_LIVE.values())
    _LIVE.clear()
    termed = [c for c in children if _signal_group(c.proc, signal.SIGTERM)]
    deadline = time.monotonic() + grace
    for c in termed:
        if not _wait(c.proc, max(0.0, deadline - time.monotonic())):
            _signal_group(c.proc, signal.SIGKILL)
            _wait(c.proc, 10)


atexit.register(stop_all)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _STATE["stopping"]:
        return  # a second signal while the first one is handled
    _STATE["stopping"] = True
    try:
        stop_all()
    finally:
        _STATE["stopping"] = False
    previous = _PREVIOUS.get(signum)
    interrupt = previous is signal.default_int_handler
    if callable(previous) and not (interrupt and _STATE["exit_on_interrupt"]):
        previous(signum, frame)
        return
    code = 128 + signum
    # the interpreter waits for non-daemon threads before it ends; never for ever
    watchdog = threading.Timer(EXIT_WATCHDOG_S, os._exit, args=(code,))
    watchdog.daemon = True
    watchdog.start()
    raise SystemExit(code)


def _install_handlers() -> None:
    """Our handler for SIGTERM, SIGINT and SIGHUP (main thread only), once per signal,
    remembering the one it replaces; an ignored signal stays ignored."""
    for sig in SIGNALS:
        current = signal.getsignal(sig)
        if current is _on_signal or current == signal.SIG_IGN:
            continue
        _PREVIOUS[sig] = current
        signal.signal(sig, _on_signal)


def exit_on_signals() -> None:
    """For entry points (``wardwise up``, ``eval``, ...), called in the main thread at start:
    SIGTERM, SIGINT and SIGHUP stop every child server, then end this process with
    ``128 + signal`` (143, 130, 129) instead of Python's KeyboardInterrupt for SIGINT."""
    _STATE["exit_on_interrupt"] = True
    with contextlib.suppress(ValueError):  # not the main thread: nothing to install
        _install_handlers()
