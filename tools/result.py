"""The shape every tool result takes: a summary sentence, labelled facts, raw data.

A small model quotes a labelled fact correctly; given raw JSON it may quote the wrong
number. The agent's grounding check matches every number of an answer to a fact's value.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


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


class ToolError(Exception):
    """An expected failure (unknown ward, infeasible plan, empty history).

    Tools raise it; the agent and the CLI turn it into an :class:`ErrorResult` or a clear
    message. Anything else a tool raises is a bug and propagates.
    """

    def __init__(self, code: str, message: str, hint: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def to_result(self) -> ErrorResult:
        return ErrorResult(summary=self.message, error=self.code, hint=self.hint)
