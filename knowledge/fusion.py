"""Hybrid fusion: one match score from a record's BM25 and cosine scores, and its tuning.

A record's match score is ``(1 - alpha) * lexical + alpha * cosine`` (both 0..1; lexical is
BM25 divided by the query's maximum attainable BM25). A record in another language than the
query cannot share its words, so its lexical evidence is missing rather than zero: it is
imputed from the record's cosine at this query's ratio of lexical to cosine score among the
candidates in the query's language. A Chinese record is thus not pushed below every
English one just because an English query shares no words with it. When no candidate is in
the query's language (a Chinese question over English records) the score is the cosine.

:func:`fit` learns ``alpha`` from the index itself (self-supervised, no labels beyond the
records' own diagnoses): it samples records, turns each into a partial presentation (its
first clause and two others, like a triage note), retrieves candidates for it without the
record itself, and keeps the ``alpha`` whose differential is most often right in the top 3
(ties: top 1, then the mean reciprocal rank of the true diagnosis).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

from knowledge.differential import rank_differential

ALPHAS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)


class Fusion(BaseModel):
    """How the lexical and the dense score of a record become one match score (0..1).

    ``alpha`` was learned with :func:`fit` on the bilingual demo case records
    (``knowledge/cases_demo.py``: 500 records, seed 7, k=5); ``CaseIndex.tune`` re-learns it
    for an index and stores it in the index.
    """

    alpha: float = Field(0.3, ge=0.0, le=1.0, description="weight of cosine vs BM25")
    k1: float = Field(1.2, gt=0.0, description="BM25 term-frequency saturation")
    b: float = Field(0.25, ge=0.0, le=1.0, description="BM25 length normalisation")
    pool: int = Field(50, ge=1, description="candidates taken from each retriever, at least")

    def score(self, lexical: np.ndarray, cosine: np.ndarray, same: np.ndarray) -> np.ndarray:
        """Match scores (0..1) of candidates; ``same`` marks those in the query's language."""
        lexical = np.asarray(lexical, dtype=np.float64)
        cosine = np.asarray(cosine, dtype=np.float64)
        same = np.asarray(same, dtype=bool)
        if not same.any():
            return cosine.copy()
        if not same.all():
            ratio = lexical[same].sum() / max(cosine[same].sum(), 1e-9)
            lexical = np.where(same, lexical, np.clip(cosine * ratio, 0.0, 1.0))
        return (1.0 - self.alpha) * lexical + self.alpha * cosine


@dataclass
class Pool:
    """The candidates of one tuning query: arrays over candidates plus the truth."""

    truth: str
    ids: list[str]
    diagnoses: list[str]
    icd10: list[str]
    lexical: np.ndarray
    cosine: np.ndarray
    same: np.ndarray


class TuneReport(BaseModel):
    """What :func:`fit` learned, and how each ``alpha`` did on the tuning queries."""

    fusion: Fusion
    queries: int
    k: int
    grid: list[dict] = Field(description="[{alpha, top1, top3, mrr}] on the tuning queries")
    cross_pairs: int = Field(description="candidates in another language than their query")


_CLAUSE = re.compile(r"[.;。；，,]\s*")


def pseudo_query(text: str, lang: str, rng: random.Random, n_other: int = 2) -> str:
    """A partial presentation made from a record: its first clause and ``n_other`` others."""
    clauses = [c.strip() for c in _CLAUSE.split(text) if len(c.strip()) > 1]
    if not clauses:
        return text
    others = clauses[1:]
    picked = sorted(rng.sample(range(len(others)), min(n_other, len(others))))
    parts = [clauses[0]] + [others[i] for i in picked]
    return ("，" if lang == "zh" else "; ").join(parts)


def _accuracy(pools: Sequence[Pool], fusion: Fusion, k: int) -> tuple[float, float, float]:
    """Top-1, top-3 and mean reciprocal rank of the truth in the differentials of ``pools``."""
    top1 = top3 = 0
    mrr = 0.0
    for p in pools:
        s = fusion.score(p.lexical, p.cosine, p.same)
        order = np.lexsort((np.arange(len(s)), -s))[:k]
        hits = [_Scored(p.ids[i], p.diagnoses[i], p.icd10[i], float(s[i])) for i in order]
        ranked = [c.diagnosis for c in rank_differential(hits)]
        top1 += p.truth in ranked[:1]
        top3 += p.truth in ranked[:3]
        mrr += 1.0 / (ranked.index(p.truth) + 1) if p.truth in ranked else 0.0
    n = max(1, len(pools))
    return top1 / n, top3 / n, mrr / n


@dataclass
class _Scored:
    record_id: str
    diagnosis: str
    icd10: str
    score: float


def fit(pools: Sequence[Pool], k: int, base: Fusion | None = None) -> TuneReport:
    """Learn ``alpha`` from tuning pools: the grid value with the best top-3 accuracy, then
    top-1, then mean reciprocal rank of the true diagnosis (which rarely ties)."""
    base = base or Fusion()
    grid = []
    best: tuple[tuple[float, float, float], Fusion] | None = None
    for alpha in ALPHAS:
        f = base.model_copy(update={"alpha": alpha})
        top1, top3, mrr = _accuracy(pools, f, k)
        grid.append(
            {"alpha": alpha, "top1": round(top1, 4), "top3": round(top3, 4), "mrr": round(mrr, 4)}
        )
        if pools and (best is None or (top3, top1, mrr) > best[0]):
            best = ((top3, top1, mrr), f)
    return TuneReport(
        fusion=best[1] if best else base,
        queries=len(pools),
        k=k,
        grid=grid,
        cross_pairs=int(sum((~p.same).sum() for p in pools)),
    )
