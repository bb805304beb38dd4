"""The case record: one de-identified past admission, and its JSONL file format.

:class:`CaseRecord` is what the case index stores, whatever the source (the demo generator,
a CSV or FHIR export, a SQL database, DDXPlus). :func:`write_cases` / :func:`read_cases` store
records as JSONL, one record a line.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError


class CaseRecord(BaseModel):
    """One de-identified past admission, as the case index stores it."""

    record_id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    lang: Literal["en", "zh"]
    ward_id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    age_band: str = Field(pattern=r"^(\d{1,3}-\d{1,3}|\d{1,3}\+)$")
    sex: Literal["M", "F", "U"]
    admitted: date
    los_days: int = Field(ge=0)
    diagnosis: str = Field(min_length=1)
    icd10: str = Field(default="", pattern=r"^([A-Z]\d{2}(\.\d{1,2})?)?$")
    text: str = Field(min_length=1)
    outcome: str = Field(min_length=1)


def age_band(age: int) -> str:
    """Ten-year band of an age in years: ``"40-49"``; 90 and over are one band, ``"90+"``."""
    if age >= 90:
        return "90+"
    lo = age // 10 * 10
    return f"{lo}-{lo + 9}"


def write_cases(path: Path | str, records: Iterable[CaseRecord]) -> int:
    """Write records to ``path`` as JSONL (one record a line); returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(r.model_dump_json() + "\n")
            count += 1
    return count


def read_cases(path: Path | str) -> list[CaseRecord]:
    """Read JSONL case records; a bad line raises ``ValueError`` naming its line number."""
    path = Path(path)
    records = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                records.append(CaseRecord.model_validate_json(line))
            except ValidationError as e:
                raise ValueError(f"{path}:{lineno}: not a valid case record: {e}") from e
    return records
