import os
from datetime import date
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

END = date(2026, 6, 30)
# A loaded 2-core CI machine can take minutes per model call: the real-model tests check
# behaviour, not speed, so they wait long (timings belong to `wardwise bench`).
SLOW_LLM_TIMEOUT = 600
os.environ.setdefault("WARDWISE_LLM_TIMEOUT", str(SLOW_LLM_TIMEOUT))


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    from knowledge.demo import generate

    return generate(tmp_path_factory.mktemp("hospital"), end=END)


@pytest.fixture(scope="session")
def hospital(demo_dir):
    from knowledge.hospital import load

    return load(demo_dir)


@pytest.fixture(scope="session")
def forecaster(hospital):
    """The real forecaster; its trained models are kept in the cache between runs (a
    checkpoint is reused only when its data and configuration fingerprint match)."""
    from tools.forecast import Forecaster

    cache = Path(os.environ.get("WARDWISE_CACHE", Path.home() / ".cache" / "wardwise"))
    return Forecaster(hospital, checkpoint_dir=cache / "test-forecaster")


@pytest.fixture()
def ctx(hospital, forecaster):
    from tools.registry import ToolContext

    return ToolContext(hospital=hospital, forecaster=forecaster)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_settings(tmp_path_factory):
    """Settings on a fresh home with the demo hospital, cases and index built."""
    from agent.app.settings import Settings
    from agent.runtime import ensure_demo

    home = tmp_path_factory.mktemp("home")
    s = Settings(
        data_dir=home / "data",
        index_dir=home / "index",
        audit_dir=home / "audit",
        llm_timeout=SLOW_LLM_TIMEOUT,
    )
    ensure_demo(s, log=lambda m: None)
    return s


@pytest.fixture(scope="session")
def embedded_llm(live_settings):
    """The default embedded model served over HTTP by llama-cpp-python (real, on CPU)."""
    from agent.llm import EmbeddedServer
    from agent.models import MODELS, pull

    spec = MODELS[live_settings.embedded_model]
    path = pull(spec, live_settings.cache_dir, log=lambda m: None)
    server = EmbeddedServer(
        path, alias=live_settings.llm_model, port=free_port(), threads=2,
        log_path=live_settings.data_dir / "server.log",
    )  # fmt: skip
    server.start()
    yield server
    server.stop()


# --------------------------------------------------------------------------- shared data

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# DDXPlus: its validate split of patients and the knowledge base of conditions.
DDX = SHARED_DATA / "ddxplus"
DDX_CASES = DDX / "patients_validate_fr.csv"


def require_shared(path: Path) -> Path:
    """``path`` (under ``../shared/data``), or a skip on a developer machine without it; with
    CI=true a missing data set fails the test: CI runs with ``../shared`` beside the clone."""
    if not Path(path).exists():
        _missing(f"{path} not found (the public data sets in ../shared/data)")
    return Path(path)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs_shared(path): the test reads this file or folder of ../shared/data"
    )


def pytest_runtest_setup(item):
    for mark in item.iter_markers(name="needs_shared"):
        require_shared(mark.args[0])


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bin(name: str) -> str | None:
    import glob
    import shutil

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _missing(reason: str) -> None:
    """Skip on a developer machine; fail in CI (CI=true), where PostgreSQL must be installed
    (`make system-deps`)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}: CI must run the PostgreSQL tests", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster (Debian's ``postgresql``) on 127.0.0.1 and a free port,
    in a temporary data dir; as root it runs as the ``postgres`` system user. Yields its
    SQLAlchemy URL."""
    import pwd
    import shutil
    import subprocess
    import tempfile

    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        _missing("PostgreSQL server binaries not found (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="wardwise-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root: use the system user
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            _missing("running as root without a 'postgres' user to run the server")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*run_as, *cmd], check=True, capture_output=True, timeout=180)

    run(initdb, "-D", str(data), "-U", "wardwise", "--auth=trust", "-E", "UTF8", "--locale=C")
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(pg_ctl, "-D", str(data), "-l", str(base / "server.log"), "-o", opts, "-w", "-t", "120",
        "start")  # fmt: skip
    try:
        yield f"postgresql+psycopg://wardwise@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- wardwise serve


@pytest.fixture()
def serve_home(tmp_path, demo_dir, forecaster):
    """Environment for a real ``wardwise serve`` child process on a private home: a copy of
    the demo hospital with the session's trained forecaster (no retraining), an empty case
    index folder (tests that need cases build one there), private audit, history and logs."""
    import shutil

    from tools.forecast import CHECKPOINT

    forecaster.models()  # trained (or loaded) once per session, saved as a checkpoint
    data = tmp_path / "data"
    shutil.copytree(demo_dir, data)
    (data / "forecaster").mkdir()
    shutil.copy(forecaster.checkpoint_dir / CHECKPOINT, data / "forecaster" / CHECKPOINT)
    (tmp_path / "index").mkdir()
    env = {
        **os.environ,
        "WARDWISE_HOME": str(tmp_path),
        "WARDWISE_DATA_DIR": str(data),
        "WARDWISE_INDEX_DIR": str(tmp_path / "index"),
        "WARDWISE_AUDIT_DIR": str(tmp_path / "audit"),
        "WARDWISE_HISTORY_DIR": str(tmp_path / "history"),
        "WARDWISE_LOG_DIR": str(tmp_path / "logs"),
    }
    for key in ("WARDWISE_AUDIT_URL", "WARDWISE_HISTORY_URL", "WARDWISE_LLM_URL"):
        env.pop(key, None)
    from agent.app.auth import UserStore

    env["WARDWISE_USERS_URL"] = f"sqlite:///{tmp_path / 'users.db'}"
    users = UserStore(env["WARDWISE_USERS_URL"], rounds=4)
    users.add(SERVE_USER, PASSWORD, "clinician")  # Serve signs in as this staff member
    users.engine.dispose()
    return env


SERVE_USER = "serve-test"


class Serve:
    """``wardwise serve`` as a child process (stdout and stderr kept in ``log``)."""

    def __init__(self, env: dict, log: Path):
        self.env, self.log, self.port = env, log, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.token = ""

    def start(self, timeout: float = 300) -> "Serve":
        import subprocess
        import sys
        import time

        cmd = [sys.executable, "-m", "ui.cli", "serve", "--port", str(self.port)]
        with self.log.open("ab") as f:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=f, stderr=subprocess.STDOUT)
        try:
            self._sign_in(time.monotonic() + timeout)
        except BaseException:
            self.kill()  # never leave an orphan behind a failed start
            raise
        return self

    def _sign_in(self, deadline: float) -> None:
        import time

        import httpx

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(self.log.read_text(errors="replace")[-3000:])
            try:
                if httpx.get(f"{self.url}/v1/models", timeout=2).status_code in (200, 401):
                    r = httpx.post(
                        f"{self.url}/v1/login",
                        json={"username": SERVE_USER, "password": PASSWORD},
                        timeout=30,
                    )
                    assert r.status_code == 200, r.text
                    self.token = r.json()["token"]
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise AssertionError("wardwise serve did not start")

    def ask(self, question: str, session: str, timeout: float = 300) -> tuple[int, dict]:
        import httpx

        r = httpx.post(
            f"{self.url}/v1/chat/completions",
            json={"user": session, "messages": [{"role": "user", "content": question}]},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=timeout,
        )
        return r.status_code, r.json()

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run (a crash or a pulled plug)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


PASSWORD = "ward round 0700"


def ensure_user(settings, name: str, role: str) -> None:
    """A staff account (password :data:`PASSWORD`) in the settings' users store, for the tests
    that sign in to the page or the API; kept if it exists."""
    from agent.app.auth import UserError
    from agent.runtime import open_users

    try:
        open_users(settings).add(name, PASSWORD, role)
    except UserError:
        pass
