"""The vLLM launcher and the model export without vLLM itself (fast); the real server is in
tests/agent/test_vllm.py."""

import os
import stat
import time

import pytest

from agent.hf_export import STAMP, hf_dir, is_exported
from agent.llm import LLMUnavailable, VLLMServer
from agent.models import MODELS
from tests.conftest import free_port


def _server(tmp_path, python, **kw) -> VLLMServer:
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text("{}")
    return VLLMServer(model, alias="m", port=free_port(), python=python, **kw)


def test_vllm_command_has_the_production_tool_flags(tmp_path):
    cmd = _server(tmp_path, tmp_path / "python").command()
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    i = cmd.index("--tool-call-parser")
    assert "--enable-auto-tool-choice" in cmd and cmd[i + 1] == "hermes"
    assert "--enforce-eager" not in cmd
    assert "--enforce-eager" in _server(tmp_path, tmp_path / "python", eager=True).command()


def test_missing_vllm_environment_says_how_to_install_it(tmp_path):
    with pytest.raises(LLMUnavailable, match="make vllm-deps"):
        _server(tmp_path, tmp_path / "no-venv" / "bin" / "python").start()


def test_a_vllm_that_dies_at_start_is_reported_with_its_log(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'engine core failed' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "vllm.log"
    server = _server(tmp_path, fake, log_path=log)
    t0 = time.monotonic()
    with pytest.raises(LLMUnavailable, match=f"exited with code 3; see {log}"):
        server.start(timeout=60)
    assert time.monotonic() - t0 < 30
    assert "engine core failed" in log.read_text()
    assert server.proc is None


def test_export_is_recognised_only_with_the_pinned_source_stamp(tmp_path):
    spec = MODELS["qwen2.5-coder-0.5b"]
    assert not is_exported(spec, tmp_path)
    out = hf_dir(spec, tmp_path)
    out.mkdir(parents=True)
    (out / STAMP).write_text("0" * 64)
    assert not is_exported(spec, tmp_path)
    (out / STAMP).write_text(spec.sha256 + os.linesep)
    assert is_exported(spec, tmp_path)
