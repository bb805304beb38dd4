"""The DDXPlus part of the demo case base: the bilingual lexicon, the packaged rendered
subset, the glossary that lets a Chinese question match English records by words, and
``ensure_demo`` indexing the subset (de-identified as any ingest)."""

from __future__ import annotations

import json
import os
import random
import re
from datetime import date
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from knowledge.cases_demo import WARD_IDS  # noqa: E402
from knowledge.ddxplus import (  # noqa: E402
    PHRASES,
    VALUES,
    demo_records,
    demo_subset,
    lexicon,
    load_pathologies,
    read_demo_subset,
    read_patients,
    render_query,
    render_record,
)
from knowledge.deid import Deidentifier  # noqa: E402
from knowledge.glossary import Glossary, default_glossary  # noqa: E402
from knowledge.text import has_cjk  # noqa: E402
from tests.conftest import DDX, DDX_CASES, require_shared

CASES = DDX_CASES
needs_data = pytest.mark.needs_shared(CASES)
END = date(2026, 6, 30)
# Latin letters a Chinese note may keep: abbreviations Chinese clinicians write as such.
LATIN_OK = {"HIV", "BMI"}


def latin_words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z]+", text)) - LATIN_OK


@pytest.fixture(scope="module")
def subset():
    return read_demo_subset()


@pytest.fixture(scope="module")
def patients():
    require_shared(CASES)
    return list(read_patients(CASES, load_pathologies(DDX / "release_conditions.json")))


# --------------------------------------------------------------------------- the lexicon


def test_lexicon_names_every_pathology_in_chinese_with_a_demo_ward():
    paths = lexicon()["pathologies"]
    assert len(paths) == 49
    for name, p in paths.items():
        assert has_cjk(p["zh"]) and not latin_words(p["zh"]) - {"ST"}, name
        assert p["ward"] in WARD_IDS and p["fr"], name


@needs_data
def test_lexicon_covers_every_pathology_and_evidence_of_the_release(patients):
    conditions = json.loads((DDX / "release_conditions.json").read_text(encoding="utf-8"))
    named = {c["cond-name-eng"]: c["cond-name-fr"] for c in conditions.values()}
    assert {k: v["fr"] for k, v in lexicon()["pathologies"].items()} == named
    for ev in {e for p in patients for e in p.evidences}:
        base, _, value = ev.partition("_@_")
        owner = next((o for o in ("douleurxx", "lesions_peau", "oedeme") if base.startswith(o)), "")
        assert base in PHRASES or owner in PHRASES or base == "trav1", ev
        if value and not value.isdigit() and value != "NA":
            assert value in VALUES, ev
    for code, (kind, en, zh) in PHRASES.items():
        assert kind in ("S", "A") and en and has_cjk(zh) and not latin_words(zh) - {"COPD"}, code


# --------------------------------------------------------------------------- the subset


def test_packaged_subset_is_bilingual_and_has_no_untranslated_english(subset):
    assert 200 <= len(subset) <= 400
    pathologies = {r["pathology"] for r in subset}
    assert pathologies <= set(lexicon()["pathologies"]) and len(pathologies) == 19
    for r in subset:
        assert r["en"].split(",")[0].endswith(("year-old man", "year-old woman", "year-old boy",
                                                "year-old girl", "under one year"))  # fmt: skip
        assert has_cjk(r["zh"]) and not latin_words(r["zh"]), r["zh"]
        assert r["ward"] in WARD_IDS and 0 <= r["days_ago"] < 3 * 365


@needs_data
def test_every_chinese_rendering_is_translated_and_fully_glossed(patients):
    glossary = default_glossary()
    rng = random.Random(0)
    for p in patients:
        zh = render_record(p, "zh")
        assert not latin_words(zh), zh
        q = render_query(p, 2, rng, "zh")
        assert glossary.translate(zh).coverage == 1.0, zh
        assert glossary.translate(q).coverage == 1.0, q


@needs_data
def test_subset_is_reproducible_from_the_shared_data(subset):
    assert demo_subset(CASES) == subset


# --------------------------------------------------------------------------- the glossary


def test_glossary_takes_the_longest_phrase_and_reports_coverage():
    g = Glossary([("疼痛", "pain"), ("疼痛强度", "pain intensity"), ("发热", "fever")])
    got = g.translate("发热，疼痛强度5/10，头晕")
    assert got.text == "fever , pain intensity 5/10,"  # 头晕 is unknown: dropped
    assert got.coverage == pytest.approx(6 / 8)
    assert g.translate("fever").coverage == 0.0 and len(Glossary([])) == 0


def test_chinese_query_finds_the_english_record_of_its_patient(tmp_path, subset):
    """A Chinese presentation (the first sentences of a patient's Chinese note) over
    English-only records: BM25 matches its English gloss to the patient's English note."""
    from knowledge.store import CaseIndex

    records = demo_records(Deidentifier(b"k" * 32), end=END)  # English, Chinese per patient
    picked = range(0, len(subset), 6)  # about 48 patients, every pathology but the rarest
    rows = [subset[i] for i in picked]
    english = [records[2 * i] for i in picked]
    assert all(
        rec.lang == "en" and rec.diagnosis == r["pathology"]
        for r, rec in zip(rows, english, strict=True)
    )
    index = CaseIndex(tmp_path / "idx")
    index.build(english)
    bare = CaseIndex(tmp_path / "idx", glossary=Glossary([]))
    right = 0
    for r, rec in zip(rows, english, strict=True):
        # Chinese words only: numbers (age, 5/10) and HIV match across languages anyway
        query = re.sub(r"[0-9A-Za-z/.]+", "", "；".join(re.split("[。；]", r["zh"])[:3]))
        lexical = index.query(query, k=5, method="lexical")
        assert lexical and lexical[0].lexical > 0 and lexical[0].lang == "en"
        right += lexical[0].diagnosis == rec.diagnosis
        assert bare.query(query, k=5, method="lexical") == []  # no shared word without it
        assert rec.diagnosis in {h.diagnosis for h in index.query(query, k=3)}
    assert right >= 0.8 * len(rows), (right, len(rows))


# --------------------------------------------------------------------------- ensure_demo


def test_ensure_demo_indexes_the_ddxplus_subset_deidentified(live_settings, subset):
    from agent.runtime import open_case_index
    from knowledge.records import read_cases

    cases = read_cases(Path(live_settings.data_dir) / "cases.jsonl")
    ddx = [c for c in cases if c.diagnosis in lexicon()["pathologies"]]
    assert len(ddx) == 2 * len(subset) and {c.lang for c in ddx} == {"en", "zh"}
    assert all(re.fullmatch(r"R[0-9a-f]{16}", c.record_id) for c in ddx)  # keyed pseudonyms
    assert (Path(live_settings.data_dir) / "deid.key").exists()
    index = open_case_index(live_settings)
    assert index.count() == len(cases)
    hits = index.query("分诊：50岁女性，右耳、左耳疼痛，鼻塞或流清涕，发热。", k=5)
    assert hits[0].diagnosis == "Acute otitis media"
    assert any(h.lang == "en" and h.diagnosis == "Acute otitis media" for h in hits)
