"""Measure the close-match floor of ``similar_cases`` on the demo case base.

Run ``python -m tools.verdicts.floor`` (a few minutes on 2 cores: it builds six indexes of
the 500 demo records; their embeddings are computed once). It prints, as JSON, the score
quantiles of queries about conditions the base holds and of queries about conditions it
does not hold, and for each candidate floor the share of each on the right side of it.
docs/knowledge.md ("How close is close") records the run behind ``CLOSE_MATCH_FLOOR``.

In the base: for each of the 25 demo conditions, 4 English and 4 Chinese triage-style
queries (one or two complaints and one finding, drawn afresh from the condition's phrase
tables), asked of an index that holds the condition. Not in the base: the same queries,
asked of an index built without their condition (five folds of five held-out conditions),
plus hand-written presentations the demo holds nothing like. The DDXPlus subset the demo
also indexes (19 pathologies) stays in every index, but for records of a held-out condition.
"""

from __future__ import annotations

import json
import random
import tempfile
from datetime import date

import numpy as np

from knowledge.cases_demo import _fill, _tables, generate_cases
from knowledge.ddxplus import demo_records
from knowledge.deid import Deidentifier
from knowledge.store import CaseIndex, default_encoder

END = date(2026, 6, 30)
OFF_BASE = (  # nothing like these is in the demo base (generated conditions nor DDXPlus)
    "sprained left ankle after a fall, swollen and bruised",
    "toothache and a swollen jaw",
    "itchy rash on both hands after a new washing powder",
    "painful red eye with sticky discharge",
    "scald on the forearm from boiling water, blistered",
    "dog bite on the hand, bleeding",
    "跌倒后左踝扭伤，肿胀淤青",
    "牙痛伴下颌肿胀",
    "换洗衣粉后双手瘙痒皮疹",
    "眼睛红痛伴黏稠分泌物",
    "前臂被开水烫伤，起水疱",
    "手被狗咬伤，出血",
)
FLOORS = (0.2, 0.22, 0.24, 0.25, 0.26, 0.28, 0.3, 0.35)


class _Cached:
    """An encoder that embeds each distinct text once (the folds share the records)."""

    def __init__(self, encoder):
        self.encoder, self.memo = encoder, {}

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts``, computed for the ones not seen before."""
        todo = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if todo:
            self.memo.update(zip(todo, self.encoder.encode(todo), strict=True))
        return np.stack([self.memo[t] for t in texts])


def _queries(rng: random.Random, per_language: int = 4) -> list[tuple[str, str, str]]:
    out = []
    for c in _tables().conditions:
        for lang, p in (("en", c.en), ("zh", c.zh)):
            for _ in range(per_language):
                picked = rng.sample(p.complaints, min(len(p.complaints), rng.randint(1, 2)))
                parts = [_fill(x, rng) for x in picked + rng.sample(p.findings, 1)]
                out.append((c.icd10, lang, ("; " if lang == "en" else "，").join(parts)))
    return out


def measure(seed: int = 2026, folds: int = 5) -> dict:
    """Best match scores of in-base and not-in-base queries and the floors' error rates."""
    # the demo base as `make up` builds it: 500 generated records and the DDXPlus subset
    ddxplus = demo_records(Deidentifier(b"floor-measurement-key"), end=END)
    records = [*generate_cases(500, seed=7, end=END), *ddxplus]
    encoder = _Cached(default_encoder())
    queries = _queries(random.Random(seed))
    codes = sorted({c.icd10 for c in _tables().conditions})
    inside: list[float] = []
    outside: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in range(folds):
            held = set(codes[f::folds])
            index = CaseIndex(f"{tmp}/{f}", encoder=encoder)
            index.build([r for r in records if r.icd10 not in held], batch=256)
            for code, _lang, text in queries:
                best = index.query(text, k=5)[0].score
                (outside if code in held else inside).append(best)
        full = CaseIndex(f"{tmp}/full", encoder=encoder)
        full.build(records, batch=256)
        hand = [full.query(text, k=5)[0].score for text in OFF_BASE]
    pos, neg = np.array(inside), np.array(outside + hand)
    return {
        "in_base": len(pos),
        "not_in_base": len(neg),
        "in_base_quantiles": {q: round(float(np.quantile(pos, q)), 3) for q in (0.01, 0.05, 0.5)},
        "not_in_base_quantiles": {
            q: round(float(np.quantile(neg, q)), 3) for q in (0.5, 0.9, 0.95, 0.99)
        },
        "hand_written_not_in_base": [round(float(x), 3) for x in hand],
        "floors": [
            {
                "floor": f,
                "in_base_at_or_above": round(float((pos >= f).mean()), 3),
                "not_in_base_below": round(float((neg < f).mean()), 3),
            }
            for f in FLOORS
        ],
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=1))
