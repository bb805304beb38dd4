"""A real external eval client, promptfoo (npm), runs tests/promptfoo against `wardwise serve`
backed by the real embedded model (slow)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parents[1] / "promptfoo"


@pytest.mark.timeout(1800)
def test_promptfoo_evaluates_the_agent_endpoint(live_settings, embedded_llm, tmp_path):
    from tests.conftest import free_port

    exe = HERE / "node_modules" / ".bin" / "promptfoo"
    if not exe.exists():
        pytest.fail("promptfoo is not installed: run `make promptfoo` (npm ci in tests/promptfoo)")
    from tests.conftest import PASSWORD, ensure_user

    port = free_port()
    ensure_user(live_settings, "eval.clinician", "clinician")
    env = {
        **os.environ,
        "WARDWISE_DATA_DIR": str(live_settings.data_dir),
        "WARDWISE_INDEX_DIR": str(live_settings.index_dir),
        "WARDWISE_AUDIT_DIR": str(live_settings.audit_dir),
        "WARDWISE_LLM_URL": embedded_llm.base_url,
        "WARDWISE_LLM_DIALECT": "llama-cpp",
    }
    serve = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "serve", "--port", str(port)],
        env=env, stdout=open(tmp_path / "serve.log", "wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}/v1"
        for _ in range(120):
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 401:  # up, signed out
                    break
            except httpx.HTTPError:
                time.sleep(1)
        login = {"username": "eval.clinician", "password": PASSWORD}
        r = httpx.post(f"{base}/login", json=login, timeout=30)
        assert r.status_code == 200, r.text
        out = tmp_path / "results.json"
        pf_env = {
            **os.environ,
            "OPENAI_BASE_URL": base,
            "OPENAI_API_KEY": r.json()["token"],  # the session token is the API key
            "PROMPTFOO_DISABLE_TELEMETRY": "1",
            "PROMPTFOO_DISABLE_UPDATE": "1",
            "PROMPTFOO_CONFIG_DIR": str(tmp_path / "pf"),
            "PROMPTFOO_REQUEST_TIMEOUT_MS": "600000",
            "HOME": str(tmp_path),
        }
        run = subprocess.run(
            [str(exe), "eval", "-c", str(HERE / "promptfooconfig.yaml"), "--no-cache",
             "--no-progress-bar", "-j", "1", "-o", str(out)],
            env=pf_env, capture_output=True, text=True, timeout=1700,
        )  # fmt: skip
        assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
        results = json.loads(out.read_text())["results"]
        stats = results["stats"]
        assert stats["successes"] == 3 and stats["failures"] == 0, json.dumps(
            [(r.get("vars"), r.get("response", {}).get("output")) for r in results["results"]],
            ensure_ascii=False,
        )
    finally:
        serve.terminate()
        serve.wait(20)
    assert shutil.which("node")
