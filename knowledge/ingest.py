"""Case ingestion: source records in, de-identified :class:`CaseRecord` s into the index.

Sources (each yields :class:`SourceCase` s, or a :class:`Problem` for a record it cannot
read, with its position, and goes on with the next):

- **FHIR R4 bundles** (:mod:`knowledge.fhir`; Synthea's output is the reference shape);
- **flat CSV** in :data:`CSV_COLUMNS` (:func:`read_csv`);
- **SQL**: any SQLAlchemy URL and query returning the same columns (:mod:`knowledge.sql`);
- **the demo generator** (:func:`demo_sources`).

:func:`ingest` de-identifies every record (:mod:`knowledge.deid`) and upserts it by its
pseudonymous id, in chunks, so ingesting the same file twice leaves the same index. Problem
messages name a position and a field, never a value (values may be identifying).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, ValidationError

from knowledge.cases_demo import generate_cases
from knowledge.deid import Deidentifier, Identifiers
from knowledge.records import CaseRecord, age_band
from knowledge.store import query_language, strip_injections

if TYPE_CHECKING:
    from knowledge.store import CaseIndex

CSV_COLUMNS = [
    "record_id",
    "patient_id",
    "name",
    "mrn",
    "phone",
    "email",
    "address",
    "birth_date",
    "age",
    "sex",
    "ward_id",
    "admitted",
    "discharged",
    "los_days",
    "diagnosis",
    "icd10",
    "text",
    "outcome",
    "lang",
]
REQUIRED = ("record_id", "admitted", "diagnosis", "text")
MAX_DIAGNOSIS = 120


class SourceCase(BaseModel):
    """One record as a source holds it, identifiers included (never indexed as such)."""

    source_id: str = Field(min_length=1)
    patient_id: str = ""
    identifiers: Identifiers = Field(default_factory=Identifiers)
    age: int | None = Field(default=None, ge=0, le=130)
    sex: str = "U"
    ward_id: str = ""
    admitted: date
    discharged: date | None = None
    los_days: int | None = Field(default=None, ge=0)
    diagnosis: str = Field(min_length=1)
    icd10: str = ""
    text: str = Field(min_length=1)
    outcome: str = ""
    lang: str = ""
    origin: str = Field("", description="file or source name, for problem reports")
    position: str = Field("", description="where in the source: 'line 7', 'entry 12'")


class Problem(BaseModel):
    """A record that could not be read: where, and what is wrong (no values)."""

    source: str
    position: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.position}: {self.message}"


class IngestReport(BaseModel):
    """What :func:`ingest` did."""

    read: int = Field(0, description="source records read")
    indexed: int = Field(0, description="distinct records upserted (new, changed or unchanged)")
    embedded: int = Field(0, description="records new or changed, embedded")
    unchanged: int = Field(0, description="records already in the index as given")
    flagged: int = Field(0, description="records carrying an injected instruction (removed)")
    problems: list[Problem] = Field(default_factory=list)


def describe(e: ValidationError) -> str:
    """A validation error as field names and reasons, without the offending values."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}" for err in e.errors()
    )


# --------------------------------------------------------------------------- de-identification

_WARD = re.compile(r"[^A-Za-z0-9_-]+")
_ICD10 = re.compile(r"^\s*([A-Za-z])(\d{2})(?:\.(\d{1,2}))?")


def normalise_icd10(raw: str) -> str:
    """``"j17, j18"`` -> ``"J17"``; ``"I48.91"`` stays; anything else -> ``""``."""
    m = _ICD10.match(raw or "")
    if not m:
        return ""
    letter, num, dec = m.groups()
    return f"{letter.upper()}{num}" + (f".{dec}" if dec else "")


def _safe_label(text: str, ids: Identifiers, deid: Deidentifier, shift: int) -> str:
    """A short structured label (diagnosis, outcome) scrubbed and without instructions."""
    clean, _ = strip_injections(deid.scrub(" ".join(text.split()), ids, shift))
    clean = clean.strip(" .;")
    return clean[:MAX_DIAGNOSIS]


def deidentify(src: SourceCase, deid: Deidentifier) -> CaseRecord:
    """The de-identified record of ``src`` (see :mod:`knowledge.deid` for the rules)."""
    patient = src.patient_id or src.source_id
    shift = deid.shift_days(patient)
    ids = src.identifiers
    if src.age is not None:
        age = src.age
    elif ids.birth_date is not None:
        b = ids.birth_date
        age = (
            src.admitted.year - b.year - ((src.admitted.month, src.admitted.day) < (b.month, b.day))
        )
    else:
        raise ValueError("age or birth_date is required")
    if src.los_days is not None:
        los = src.los_days
    elif src.discharged is not None:
        los = (src.discharged - src.admitted).days
    else:
        los = 0
    if los < 0:
        raise ValueError("discharged is before admitted")
    try:
        admitted = deid.shift(src.admitted, patient)
    except OverflowError:  # within a year of 0001-01-01 or 9999-12-31
        raise ValueError("admitted: too close to the ends of the calendar to shift") from None
    text = deid.scrub(src.text, ids, shift)
    ward = _WARD.sub("_", src.ward_id.strip()).strip("_")[:40] or "UNKNOWN"
    sex = src.sex.strip().upper()[:1]
    lang = src.lang if src.lang in ("en", "zh") else query_language(text)
    return CaseRecord(
        record_id=deid.pseudonym(src.source_id),
        lang=lang,
        ward_id=ward,
        age_band=age_band(max(0, age)),
        sex=sex if sex in ("M", "F") else "U",
        admitted=admitted,
        los_days=los,
        diagnosis=_safe_label(src.diagnosis, ids, deid, shift) or "unspecified",
        icd10=normalise_icd10(src.icd10),
        text=text,
        outcome=_safe_label(src.outcome, ids, deid, shift) or "not recorded",
    )


# --------------------------------------------------------------------------- flat rows (CSV, SQL)


def _date(v: str) -> date | None:
    v = (v or "").strip()
    if not v:
        return None
    return (
        datetime.fromisoformat(v.replace("Z", "+00:00")).date()
        if "T" in v or " " in v
        else date.fromisoformat(v)
    )


def from_row(row: Mapping[str, object], origin: str = "", position: str = "") -> SourceCase:
    """A flat row (CSV or SQL, columns of :data:`CSV_COLUMNS`) as a :class:`SourceCase`.

    Raises:
        ValueError: a missing required column or an unreadable value (named, not quoted).
    """
    r = {str(k).strip().lower(): ("" if v is None else v) for k, v in row.items()}
    missing = [c for c in REQUIRED if not str(r.get(c, "")).strip()]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")

    def as_date(col: str) -> date | None:
        v = r.get(col, "")
        if isinstance(v, datetime):
            return v.date()
        if isinstance(v, date):
            return v
        try:
            return _date(str(v))
        except ValueError:
            raise ValueError(f"{col}: not a date (YYYY-MM-DD)") from None

    def as_int(col: str) -> int | None:
        v = str(r.get(col, "")).strip()
        if not v:
            return None
        try:
            return int(float(v))
        except (ValueError, OverflowError):  # "x"; "inf", "1e400"
            raise ValueError(f"{col}: not a number") from None

    def s(col: str) -> str:
        return str(r.get(col, "")).strip()

    admitted = as_date("admitted")
    assert admitted is not None  # required above
    ids = Identifiers(
        names=[x for x in re.split(r"\s*;\s*", s("name")) if x],
        record_numbers=[x for x in re.split(r"\s*;\s*", s("mrn")) if x],
        phones=[x for x in re.split(r"\s*;\s*", s("phone")) if x],
        emails=[x for x in re.split(r"\s*;\s*", s("email")) if x],
        addresses=[x for x in re.split(r"\s*;\s*", s("address")) if x],
        birth_date=as_date("birth_date"),
    )
    age = as_int("age")
    if age is None and ids.birth_date is None:
        raise ValueError("age or birth_date is required")
    try:
        return SourceCase(
            source_id=s("record_id"),
            patient_id=s("patient_id"),
            identifiers=ids,
            age=age,
            sex=s("sex") or "U",
            ward_id=s("ward_id"),
            admitted=admitted,
            discharged=as_date("discharged"),
            los_days=as_int("los_days"),
            diagnosis=s("diagnosis"),
            icd10=s("icd10"),
            text=str(r.get("text", "")),
            outcome=s("outcome"),
            lang=s("lang"),
            origin=origin,
            position=position,
        )
    except ValidationError as e:
        raise ValueError(describe(e)) from None


def read_csv(path: Path | str) -> Iterator[SourceCase | Problem]:
    """Records of a flat CSV file (header row of :data:`CSV_COLUMNS` names, any order)."""
    path = Path(path)
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        try:
            yield from _csv_records(reader, path.name)
        except UnicodeDecodeError:
            yield Problem(
                source=path.name,
                position=f"line {reader.line_num + 1}",
                message="not UTF-8 text; the rest of the file is not read",
            )
        except csv.Error:
            yield Problem(
                source=path.name,
                position=f"line {reader.line_num}",
                message="not a readable CSV line; the rest of the file is not read",
            )


def _csv_records(reader: csv.DictReader, name: str) -> Iterator[SourceCase | Problem]:
    """The records of an open CSV file, a problem for each bad one (see :func:`read_csv`)."""
    if not reader.fieldnames or not set(REQUIRED) <= {c.strip().lower() for c in reader.fieldnames}:
        yield Problem(
            source=name,
            position="header",
            message=f"needs the columns {', '.join(REQUIRED)}",
        )
        return
    for row in reader:
        line = reader.line_num
        if None in row:
            yield Problem(source=name, position=f"line {line}", message="too many fields")
            continue
        try:
            yield from_row(row, origin=name, position=f"line {line}")
        except ValueError as e:
            yield Problem(source=name, position=f"line {line}", message=str(e))


def count_rows(path: Path | str) -> int:
    """Data rows of a CSV file (for a progress bar), counted cheaply by lines."""
    with Path(path).open("rb") as f:
        return max(0, sum(1 for _ in f) - 1)


def demo_sources(n: int = 500, seed: int = 7, end: date | None = None) -> Iterator[SourceCase]:
    """The demo generator's records as sources (they carry no identifiers)."""
    for r in generate_cases(n, seed=seed, end=end):
        yield SourceCase(
            source_id=r.record_id,
            patient_id=r.record_id,
            age=int(r.age_band.split("-")[0].rstrip("+")),
            sex=r.sex,
            ward_id=r.ward_id,
            admitted=r.admitted,
            los_days=r.los_days,
            diagnosis=r.diagnosis,
            icd10=r.icd10,
            text=r.text,
            outcome=r.outcome,
            lang=r.lang,
        )


# --------------------------------------------------------------------------- the pipeline


def ingest(
    sources: Iterable[SourceCase | Problem],
    index: CaseIndex,
    deid: Deidentifier,
    chunk: int = 512,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """De-identify and upsert every source record; problems are collected, not raised.

    Args:
        sources: Records (and problems) from one or more readers.
        index: Where the de-identified records go.
        deid: The keyed de-identifier.
        chunk: Records de-identified and upserted per step.
        progress: Called with the number of source records read so far, after each chunk.
    """
    report = IngestReport()
    pending: dict[str, CaseRecord] = {}
    seen: set[str] = set()

    def flush() -> None:
        if not pending:
            return
        b = index.build(list(pending.values()))
        report.embedded += b.embedded
        report.unchanged += b.unchanged
        report.flagged += b.flagged
        pending.clear()
        if progress is not None:
            progress(report.read)

    for item in sources:
        if isinstance(item, Problem):
            report.problems.append(item)
            continue
        report.read += 1
        try:
            rec = deidentify(item, deid)
        except (ValueError, ValidationError) as e:
            msg = describe(e) if isinstance(e, ValidationError) else str(e)
            report.problems.append(
                Problem(
                    source=item.origin or "source",
                    position=item.position or f"record {report.read}",
                    message=msg,
                )
            )
            continue
        pending[rec.record_id] = rec
        seen.add(rec.record_id)
        if len(pending) >= chunk:
            flush()
    flush()
    report.indexed = len(seen)
    return report
