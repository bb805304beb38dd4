"""The current plan's file: replaced whole, or not at all."""

from __future__ import annotations

import os

import pytest

from tools.plan_store import PlanStore
from tools.result import ToolResult


def test_a_failed_write_keeps_the_current_plan_and_leaves_no_partial_file(tmp_path, monkeypatch):
    store = PlanStore(tmp_path)
    assert store.current() is None
    store.save(ToolResult(summary="plan A"), user="ana", role="bed_manager", days=7)
    store.save(ToolResult(summary="plan B"), user="bo", role="admin", days=3, what_if="ward 3 shut")
    now = store.current()
    assert now is not None and now.plan["summary"] == "plan B"
    assert (now.stored_by, now.days, now.what_if) == ("bo", 3, "ward 3 shut")

    real_fdopen = os.fdopen

    def full_disk(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)
        f.write("{ half a plan")
        f.close()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("knowledge.files.os.fdopen", full_disk)
    with pytest.raises(OSError, match="No space"):
        store.save(ToolResult(summary="plan C"), user="cy", role="admin", days=7)
    assert [p.name for p in tmp_path.iterdir()] == ["current_plan.json"]
    kept = store.current()
    assert kept is not None and kept.plan["summary"] == "plan B"
