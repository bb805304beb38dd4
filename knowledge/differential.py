"""Differential suggestions: candidate diagnoses ranked from the nearest past cases.

Each retrieved case votes for its own diagnosis with its match score; a diagnosis's weight
is the sum of its cases' votes, shown as a share of all votes (0..1), and every candidate
keeps the record ids that support it, best first. It is decision support for a clinician,
never a diagnosis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, Field


class _Hit(Protocol):
    record_id: str
    diagnosis: str
    icd10: str
    score: float


class Candidate(BaseModel):
    """One candidate diagnosis with the past cases that support it."""

    diagnosis: str
    icd10: str = ""
    share: float = Field(ge=0.0, le=1.0, description="its cases' share of all match scores")
    cases: int = Field(ge=1, description="how many of the retrieved cases had it")
    support: list[str] = Field(description="record ids of those cases, best match first")


def rank_differential(hits: Sequence[_Hit], floor: float = 1e-6) -> list[Candidate]:
    """Candidate diagnoses from ``hits`` (best first), ranked by their summed match score.

    Args:
        hits: Retrieved cases, best first (anything with ``record_id``, ``diagnosis``,
            ``icd10`` and ``score``).
        floor: Minimum vote of a case, so a case with score 0 still counts a little.
    """
    weight: dict[str, float] = {}
    support: dict[str, list[str]] = {}
    icd: dict[str, str] = {}
    first: dict[str, int] = {}
    for i, h in enumerate(hits):
        dx = h.diagnosis or "unspecified"
        weight[dx] = weight.get(dx, 0.0) + max(float(h.score), floor)
        support.setdefault(dx, []).append(h.record_id)
        icd.setdefault(dx, h.icd10)
        first.setdefault(dx, i)
    total = sum(weight.values()) or 1.0
    ranked = sorted(weight, key=lambda dx: (-weight[dx], first[dx]))
    return [
        Candidate(
            diagnosis=dx,
            icd10=icd[dx],
            share=round(min(1.0, weight[dx] / total), 4),
            cases=len(support[dx]),
            support=support[dx],
        )
        for dx in ranked
    ]
