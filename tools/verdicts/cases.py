"""Similar cases' verdicts: is any past case a close match, and the ranked differential.

A close match is a retrieved case whose match score (the index's hybrid score, 0..1: the
share of the query's BM25 weight the record matches, fused with the encoder's cosine; see
:mod:`knowledge.fusion`) is at least :data:`CLOSE_MATCH_FLOOR`. The floor is measured on the
demo case base (docs/knowledge.md, "How close is close"): held-out queries about conditions
the base holds score above it, queries about conditions it does not hold score below it (the
cosine alone separates them far worse). Below the floor no differential is offered.
"""

from __future__ import annotations

from collections.abc import Sequence

from knowledge.differential import Candidate
from knowledge.store import CaseHit
from knowledge.text import has_cjk
from tools.result import Fact, Verdict
from tools.verdicts import verdicts

CLOSE_MATCH_FLOOR = 0.26  # measured: docs/knowledge.md, "How close is close"


def _name(c: Candidate, hits: Sequence[CaseHit], chinese: bool) -> str:
    """The candidate's diagnosis as a record in that language names it, else its ICD-10
    code (a record in the other language may have supplied the candidate)."""
    if has_cjk(c.diagnosis) == chinese:
        return c.diagnosis
    for h in hits:
        if c.icd10 and h.icd10 == c.icd10 and has_cjk(h.diagnosis) == chinese:
            return h.diagnosis
    return c.icd10 or c.diagnosis


def close_match(hits: Sequence[CaseHit], floor: float = CLOSE_MATCH_FLOOR) -> bool:
    """Whether the best retrieved case is a close match (match score at or above ``floor``)."""
    return bool(hits) and max(h.score for h in hits) >= floor


def cases_verdicts(
    hits: Sequence[CaseHit],
    ddx: Sequence[Candidate],
    *,
    differential: bool,
    floor: float = CLOSE_MATCH_FLOOR,
) -> list[Verdict]:
    """``cases.close_match`` (polarity: a close match exists) and, when ``differential``
    (the caller may see diagnoses), ``cases.differential`` with each candidate's supporting
    records. No hits: no verdicts."""
    if not hits:
        return []
    best = max(hits, key=lambda h: h.score)
    close = close_match(hits, floor)
    facts = [
        Fact(label=f"most similar case {best.record_id} match score", value=round(best.score, 2)),
        Fact(label="match score a close match reaches", value=floor),
    ]
    out = verdicts(
        "cases.close_match",
        "yes_no",
        facts,
        polarity=close,
        record=best.record_id,
        best=round(best.score, 2),
        floor=floor,
    )
    if differential:
        n = len(hits)
        facts = [Fact(label="similar cases found", value=n, unit="cases")] if close else []
        if close:
            facts += [
                Fact(label=f"cases with {c.diagnosis} among the {n} most similar", value=c.cases,
                     unit="cases")
                for c in ddx
            ]  # fmt: skip
        rows = [
            {
                "name": _name(c, hits, chinese=False),
                "name_zh": _name(c, hits, chinese=True),
                "icd10": c.icd10,
                "cases": c.cases,
                "support": c.support,
            }
            for c in ddx
        ]
        out += verdicts("cases.differential", "ranking", facts, close=close, n=n, candidates=rows)
    return out
