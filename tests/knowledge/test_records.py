"""CaseRecord, its age bands and the JSONL format."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from knowledge.records import CaseRecord, age_band, read_cases, write_cases

RECORD = CaseRecord(
    record_id="C00001",
    lang="zh",
    ward_id="CARD",
    age_band="60-69",
    sex="F",
    admitted=date(2024, 3, 1),
    los_days=4,
    diagnosis="heart failure",
    icd10="I50.9",
    text="女，60余岁，因气短入院。",
    outcome="discharged home",
)


@pytest.mark.parametrize(
    ("age", "band"), [(0, "0-9"), (9, "0-9"), (10, "10-19"), (89, "80-89"), (90, "90+")]
)
def test_age_band(age, band):
    assert age_band(age) == band


def test_jsonl_round_trip_keeps_chinese_readable(tmp_path):
    path = tmp_path / "sub" / "cases.jsonl"
    assert write_cases(path, [RECORD, RECORD.model_copy(update={"record_id": "C00002"})]) == 2
    assert "女，60余岁" in path.read_text(encoding="utf-8")
    assert read_cases(path) == [RECORD, RECORD.model_copy(update={"record_id": "C00002"})]


def test_bad_line_names_its_line_number(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text(RECORD.model_dump_json() + "\n\n" + '{"record_id": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"cases.jsonl:3: not a valid case record"):
        read_cases(path)


def test_record_rejects_an_unsafe_id():
    with pytest.raises(ValidationError):
        CaseRecord.model_validate(RECORD.model_dump() | {"record_id": "a b"})
