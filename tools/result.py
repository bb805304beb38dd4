"""The shape every tool result takes: a summary sentence, labelled facts, raw data.

A small model quotes a labelled fact correctly; given raw JSON it may quote the wrong
number. The agent's grounding check matches every number of an answer to a fact's value.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from knowledge.errors import ToolError

__all__ = ["ErrorResult", "Fact", "ToolError", "ToolResult"]


class Fact(BaseModel):
    """One labelled number (or short value) that an answer may quote."""

    label: str
    value: float | int | str
    unit: str = ""


class ToolResult(BaseModel):
    """Base of every tool's result; subclasses add their raw data fields."""

    ok: bool = True
    summary: str
    facts: list[Fact] = Field(default_factory=list)

    def reading(self) -> dict:
        """What the model is shown: summary and facts, without the bulky raw data."""
        return {
            "ok": self.ok,
            "summary": self.summary,
            "facts": [f.model_dump() for f in self.facts],
        }


class ErrorResult(ToolResult):
    """An expected failure, as the model and the user see it."""

    ok: bool = False
    error: str
    hint: str = ""


def _error_result(self: ToolError) -> ErrorResult:
    """An expected failure (:class:`knowledge.errors.ToolError`) as the model and user see it."""
    return ErrorResult(summary=self.message, error=self.code, hint=self.hint)


# ToolError lives in knowledge (the case index raises it too); rendering it is this layer's job.
ToolError.to_result = _error_result  # type: ignore[method-assign]
