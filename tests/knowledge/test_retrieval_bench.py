"""DDXPlus rendering and the retrieval benchmark's command, on a small slice of the data."""

from __future__ import annotations

import csv
import json
import os
import random

import pytest
import typer
from typer.testing import CliRunner

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agent.cli.knowledge import register  # noqa: E402
from knowledge.ddxplus import (  # noqa: E402
    PHRASES,
    VALUES,
    Patient,
    load_pathologies,
    phrase,
    read_patients,
    render_query,
    render_record,
    to_record,
)
from tests.conftest import DDX, DDX_CASES  # noqa: E402

CASES = DDX_CASES

pytestmark = pytest.mark.needs_shared(CASES)


@pytest.fixture(scope="module")
def pathologies():
    return load_pathologies(DDX / "release_conditions.json")


@pytest.fixture(scope="module")
def patients(pathologies):
    return list(read_patients(CASES, pathologies))


def test_every_evidence_of_the_validate_file_has_a_phrase(patients):
    codes = {e for p in patients for e in p.evidences}
    for ev in codes:
        base, _, value = ev.partition("_@_")
        owners = ("douleurxx", "lesions_peau", "oedeme")
        root = next((o for o in owners if base.startswith(o + "_")), base)
        assert root in PHRASES or base == "trav1", ev
        if value and not value.isdigit():
            assert value in VALUES or value == "NA", ev
        for lang in ("en", "zh"):
            text = phrase(ev, lang)  # type: ignore[arg-type]
            assert text and "_" not in text and "@" not in text, (ev, lang, text)


def test_records_and_queries_read_like_notes(patients, pathologies):
    p = next(x for x in patients if x.initial_evidence == "fievre" and "douleurxx" in x.evidences)
    note = render_record(p)
    assert note.startswith(f"{p.age}-year-old") and "presenting with fever" in note
    assert "Pain:" in note and "/10" in note and "_" not in note
    q = render_query(p, 2, random.Random(0))
    assert q.startswith("Triage:") and "fever" in q and q.count(";") == 2
    assert render_query(p, 2, random.Random(0), "zh").startswith(
        "分诊："
    ) and "发热" in render_query(p, 2, random.Random(0), "zh")
    rec = to_record(p, pathologies)
    assert rec.diagnosis == p.pathology and rec.lang == "en" and rec.text == note
    assert rec.icd10 and rec.record_id == f"DDX{p.row:06d}"
    assert {x.pathology for x in patients} <= {v.name_en for v in pathologies.values()}
    assert all(n in {v.name_en for v in pathologies.values()} for n, _ in p.differential)


def test_bench_retrieval_command_on_a_slice(tmp_path):
    rows = list(csv.DictReader(CASES.open(encoding="utf-8")))[:80]
    small = tmp_path / "slice.csv"
    with small.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    register(app, bench)
    args = ["bench", "retrieval", "--cases", str(small), "--conditions"]
    args += [str(DDX / "release_conditions.json"), "--sizes", "150", "--latency-queries", "5"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    methods = [r["method"] for r in out["rows"]]
    assert methods == [
        "tfidf-knn raw codes (anchor)",
        "exact-match posterior (ceiling)",
        "bm25",
        "dense",
        "hybrid",
        "bm25, Chinese queries",
        "dense, Chinese queries",
        "hybrid, Chinese queries",
    ]
    for r in out["rows"]:
        assert 0 <= r["top1"] <= r["top3"] <= r["top5"] <= 1 and r["queries"] == 40
    assert out["indexed"] == 40 and out["records_at_largest"] == 150
    assert 0 <= out["recall_at_10"] <= 1 and out["p95_ms_150"] >= out["p50_ms_150"] > 0
    assert out["ingest_per_s"] > 0 and 0 <= out["alpha"] <= 1
    table = CliRunner().invoke(app, [*args, "--sizes", "", "--no-cross-lingual", "--no-tune"])
    assert table.exit_code == 0 and "| top3" in table.output and "hybrid" in table.output


def test_exact_posterior_counts_the_patients_who_have_every_query_evidence():
    from knowledge.bench import _exact_posterior

    def pt(row, dx, *ev):
        return Patient(row, 40, "F", dx, tuple(ev), ev[0], ())

    indexed = [
        pt(1, "A", "fever", "cough"),
        pt(2, "A", "fever", "cough", "rash"),
        pt(3, "B", "fever", "cough", "rash"),
        pt(4, "B", "fever", "rash"),
        pt(5, "C", "cough"),
    ]
    got = _exact_posterior(indexed, [["fever", "cough"], ["rash", "fever"], ["pain"], ["cough"]])
    # fever+cough: A twice, B once; rash+fever: B twice, A once; nobody has pain;
    # cough: A 2, B 1, C 1 (ties by name)
    assert got == [["A", "B"], ["B", "A"], [], ["A", "B", "C"]]
