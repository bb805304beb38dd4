import os
from datetime import date
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

END = date(2026, 6, 30)


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
