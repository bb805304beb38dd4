"""The shape every tool result takes: a summary sentence, labelled facts, verdicts, raw data.

A small model quotes a labelled fact correctly; given raw JSON it may quote the wrong
number. The agent's grounding check matches every number of an answer to a fact's value.
A verdict is a conclusion the tool drew in code (will the ward exceed its beds, is the plan
covered, is any past case close), worded in English and in Chinese, with the facts it rests
on: the model picks verdicts and frames them, it never compares or ranks numbers itself.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from knowledge.errors import ToolError

__all__ = ["LANGUAGES", "ErrorResult", "Fact", "ToolError", "ToolResult", "Verdict"]

LANGUAGES = ("en", "zh")


class Fact(BaseModel):
    """One labelled number (or short value) that an answer may quote."""

    label: str
    value: float | int | str
    unit: str = ""


class Verdict(BaseModel):
    """A conclusion drawn in code, as one sentence in one language.

    Every number in ``text`` is the value of one of ``facts`` (dates aside), so a verdict
    quoted verbatim passes the grounding check. A tool returns each verdict id once per
    language in :data:`LANGUAGES`, with the same polarity and facts.
    """

    id: str = Field(description='stable key, e.g. "forecast.exceeds_beds"')
    kind: str = Field(description='what sort of conclusion: "yes_no", "ranking", "range", ...')
    polarity: bool | None = Field(
        default=None, description="the yes/no answer, where the verdict is one; else None"
    )
    language: Literal["en", "zh"]
    text: str = Field(description="the sentence, rendered from the language's template")
    facts: list[Fact] = Field(default_factory=list, description="the facts it rests on")


class ToolResult(BaseModel):
    """Base of every tool's result; subclasses add their raw data fields."""

    ok: bool = True
    summary: str
    facts: list[Fact] = Field(default_factory=list)
    verdicts: list[Verdict] = Field(default_factory=list)

    def reading(self, language: str | None = None) -> dict:
        """What the model is shown: summary, facts and verdicts, without the bulky raw data.

        Each verdict appears as ``{"id", "kind", "polarity", "language", "text", "facts"}``,
        once per language, or only in ``language`` ("en" or "zh") when it is given.
        """
        return {
            "ok": self.ok,
            "summary": self.summary,
            "facts": [f.model_dump() for f in self.facts],
            "verdicts": [v.model_dump() for v in self.verdicts if language in (None, v.language)],
        }


class ErrorResult(ToolResult):
    """An expected failure, as the model and the user see it."""

    ok: bool = False
    error: str
    hint: str = ""

    @classmethod
    def from_error(cls, error: ToolError) -> ErrorResult:
        """An expected failure (:class:`knowledge.errors.ToolError`) as the model and user see
        it. An error that knows more (an infeasible plan's facts and verdicts) adds it through
        its ``extend_result(result)`` method."""
        result = cls(summary=error.message, error=error.code, hint=error.hint)
        extend = getattr(error, "extend_result", None)
        if extend is not None:
            extend(result)
        return result
