"""Checks every verdict test uses: the shape of a tool's verdicts, with the real grounding."""

from __future__ import annotations

import re

import pytest

from agent.grounding import check
from tools.result import LANGUAGES, Verdict


def _assert_verdicts(vs: list[Verdict], codes: set[str]) -> None:
    """Each id once per language with the same polarity and facts; every number of every
    sentence grounded in its own facts (the agent's check); no English word in a Chinese
    sentence except ``codes`` (ward codes, record ids, ICD-10 codes)."""
    for vid in {v.id for v in vs}:
        pair = [v for v in vs if v.id == vid]
        assert sorted(v.language for v in pair) == sorted(LANGUAGES), vid
        assert pair[0].polarity == pair[1].polarity and pair[0].facts == pair[1].facts
    for v in vs:
        report = check(v.text, [f.model_dump() for f in v.facts], "", [v.text])
        assert report.grounded, (report.ungrounded, v.text, v.facts)
        if v.language == "zh":
            words = set(re.findall(r"[A-Za-z][A-Za-z0-9.\-]*", v.text))
            assert words <= codes, (words - codes, v.text)


@pytest.fixture()
def assert_verdicts():
    """``assert_verdicts(verdicts, codes)``: see :func:`_assert_verdicts`."""
    return _assert_verdicts
