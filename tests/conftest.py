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
    from tools.forecast import Forecaster

    return Forecaster(hospital)


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
    from agent.runtime import ensure_demo
    from agent.settings import Settings

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


PASSWORD = "ward round 0700"


def ensure_user(settings, name: str, role: str) -> None:
    """A staff account (password :data:`PASSWORD`) in the settings' users store, for the tests
    that sign in to the page or the API; kept if it exists."""
    from agent.auth import UserError
    from agent.runtime import open_users

    try:
        open_users(settings).add(name, PASSWORD, role)
    except UserError:
        pass
