"""ToolError lives in knowledge; the tool layer re-exports it and renders it."""

from __future__ import annotations

import tools.result
from knowledge.errors import ToolError
from tools.result import ErrorResult


def test_tool_layer_reexports_the_same_class():
    assert tools.result.ToolError is ToolError


def test_tool_error_renders_as_an_error_result():
    error = ToolError("empty_index", "The case index is empty.", hint="run `wardwise index`")
    rendered = ErrorResult.from_error(error)
    assert isinstance(rendered, ErrorResult)
    assert (rendered.ok, rendered.error, rendered.summary, rendered.hint) == (
        False,
        "empty_index",
        "The case index is empty.",
        "run `wardwise index`",
    )
