"""ToolError lives in knowledge; the tool layer re-exports it and renders it."""

from __future__ import annotations

import ast
from pathlib import Path

import tools.result
from knowledge.errors import ToolError
from tools.result import ErrorResult

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"


def test_tool_layer_reexports_the_same_class():
    assert tools.result.ToolError is ToolError


def test_tool_error_renders_as_an_error_result():
    result = ToolError("empty_index", "The case index is empty.", hint="run `wardwise index`")
    rendered = result.to_result()
    assert isinstance(rendered, ErrorResult)
    assert (rendered.ok, rendered.error, rendered.summary, rendered.hint) == (
        False,
        "empty_index",
        "The case index is empty.",
        "run `wardwise index`",
    )


def test_knowledge_imports_no_higher_layer():
    upward = []
    for path in sorted(KNOWLEDGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            upward += [
                f"{path.name}: {n}" for n in names if n.split(".")[0] in {"agent", "tools", "ui"}
            ]
    assert upward == []
