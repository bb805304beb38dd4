"""The lexical side (tokenizer, BM25), fusion scoring and differential ranking: pure units."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest

from knowledge.differential import rank_differential
from knowledge.fusion import Fusion, Pool, fit, pseudo_query
from knowledge.lexical import BM25Index, tokenize


def test_tokenize_english_words_numbers_bigrams():
    toks = tokenize("Pain in the left ears, intensity 7/10; BMI 18.5.")
    assert {"pain", "left", "ear", "intensity", "7/10", "bmi", "18.5"} <= set(toks)
    assert "left_ear" in toks and "pain_left" in toks
    assert "the" not in toks and "in" not in toks
    # bigrams never cross a clause boundary
    assert "ear_intensity" not in toks
    assert tokenize("Pain", bigrams=False) == ["pain"]


def test_tokenize_chinese_character_bigrams_and_mixed_text():
    toks = tokenize("发热咳嗽，胸片示浸润 CRP 120")
    assert ["发热", "热咳", "咳嗽"] == toks[:3]
    assert {"胸片", "片示", "示浸", "浸润", "crp", "120"} <= set(toks)
    assert tokenize("痛") == ["痛"]
    # full-width forms are normalised (NFKC)
    assert "crp" in tokenize("ＣＲＰ")


def test_bm25_ranks_matching_documents_and_rarer_terms_higher():
    idx = BM25Index(k1=1.2, b=0.75)
    idx.upsert("a", tokenize("fever and cough"))
    idx.upsert("b", tokenize("fever with ear pain"))
    idx.upsert("c", tokenize("stridor on breathing in"))
    idx.upsert("d", tokenize("fever"))
    hits = idx.search(tokenize("ear pain, fever"), n=10)
    assert hits[0][0] == "b"
    assert {h for h, _ in hits} == {"a", "b", "d"}  # c shares no term: not returned
    assert all(s > 0 for _, s in hits)
    assert idx.document_frequency("fever") == 3 and idx.document_frequency("nope") == 0
    assert idx.search(tokenize("日本語"), n=5) == []


def test_bm25_upsert_replaces_and_remove_drops():
    idx = BM25Index()
    idx.upsert("a", tokenize("fever"))
    idx.upsert("b", tokenize("cough"))
    assert [h for h, _ in idx.search(["fever"], 5)] == ["a"]
    idx.upsert("a", tokenize("rash"))
    assert idx.search(["fever"], 5) == []
    idx.remove(["a", "missing"])
    assert len(idx) == 1 and "a" not in idx and idx.position("b") == 0


def test_bm25_filters_equality_membership_and_ranges():
    idx = BM25Index()
    for i, (ward, band, day) in enumerate(
        [("ICU", "40-49", 10), ("CARD", "40-49", 20), ("CARD", "70-79", 30)]
    ):
        idx.upsert(f"r{i}", ["chest", "pain"], {"ward_id": ward, "age_band": band, "day": day})
    q = ["chest"]
    assert [h for h, _ in idx.search(q, 5, {"ward_id": "CARD"})] == ["r1", "r2"]
    assert [h for h, _ in idx.search(q, 5, {"age_band": ["40-49"]})] == ["r0", "r1"]
    assert [h for h, _ in idx.search(q, 5, {"day": {"gte": 15, "lte": 25}})] == ["r1"]
    assert idx.search(q, 5, {"unknown_key": "x"}) == []


def test_fusion_imputes_missing_lexical_evidence_across_languages():
    f = Fusion(alpha=0.3)
    lex = np.array([0.4, 0.1, 0.0])
    cos = np.array([0.5, 0.3, 0.6])
    same = np.array([True, True, False])
    s = f.score(lex, cos, same)
    ratio = (0.4 + 0.1) / (0.5 + 0.3)
    assert s[2] == pytest.approx(0.7 * 0.6 * ratio + 0.3 * 0.6)
    assert s[0] == pytest.approx(0.7 * 0.4 + 0.3 * 0.5)
    # a query whose language no candidate shares: the cosine decides
    assert np.allclose(f.score(lex, cos, np.zeros(3, dtype=bool)), cos)
    assert ((s >= 0) & (s <= 1)).all()


@dataclass
class H:
    record_id: str
    diagnosis: str
    icd10: str
    score: float


def test_rank_differential_weights_and_cites_support():
    hits = [
        H("C1", "pneumonia", "J18.9", 0.9),
        H("C2", "heart failure", "I50.9", 0.8),
        H("C3", "pneumonia", "J18.9", 0.3),
        H("C4", "heart failure", "I50.9", 0.5),
        H("C5", "asthma", "J45", 0.0),
    ]
    ddx = rank_differential(hits)
    assert [c.diagnosis for c in ddx] == ["heart failure", "pneumonia", "asthma"]
    assert ddx[0].support == ["C2", "C4"] and ddx[1].support == ["C1", "C3"]
    assert ddx[0].cases == 2 and ddx[1].icd10 == "J18.9"
    assert sum(c.share for c in ddx) == pytest.approx(1.0, abs=1e-3)
    # ties keep retrieval order
    tie = rank_differential([H("A", "x", "", 0.5), H("B", "y", "", 0.5)])
    assert [c.diagnosis for c in tie] == ["x", "y"]
    assert rank_differential([]) == []


def test_pseudo_query_takes_the_first_clause_and_others():
    text = "Crushing chest pain. Sweating; nausea, pale. ECG ST elevation."
    q = pseudo_query(text, "en", random.Random(0))
    assert q.startswith("Crushing chest pain; ") and q.count(";") == 2
    zh = pseudo_query("胸痛三小时，大汗。心电图ST段抬高。", "zh", random.Random(0))
    assert zh.startswith("胸痛三小时，")


def test_fit_picks_the_alpha_that_gets_the_differential_right():
    # lexical points at the truth, cosine at a distractor: alpha 0 must win
    pools = [
        Pool(
            truth="x",
            ids=["a", "b", "c", "d"],
            diagnoses=["x", "y", "y", "y"],
            icd10=["", "", "", ""],
            lexical=np.array([0.9, 0.1, 0.1, 0.1]),
            cosine=np.array([0.1, 0.9, 0.9, 0.9]),
            same=np.ones(4, dtype=bool),
        )
    ] * 3
    rep = fit(pools, k=1)
    assert rep.fusion.alpha == 0.0 and rep.queries == 3
    assert rep.grid[0] == {"alpha": 0.0, "top1": 1.0, "top3": 1.0, "mrr": 1.0}
    assert fit([], k=5).queries == 0
