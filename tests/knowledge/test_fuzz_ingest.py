"""Property-based tests of the data a hospital hands in: ward and daily CSV files, flat case
CSV files, FHIR bundles and SQL rows.

The property everywhere: any input gives a valid result or a clear, expected error (a
:class:`~knowledge.hospital.DataError` listing bad lines, a :class:`~knowledge.ingest.Problem`
naming a position), never another exception; and a failed hospital ingest leaves the files
already in the data dir as they were. Examples are derandomized so CI sees the same ones.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import string
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowledge.deid import Deidentifier
from knowledge.fhir import read_bundle
from knowledge.hospital import DAILY_COLUMNS, WARD_COLUMNS, DataError, Hospital, ingest, validate
from knowledge.ingest import CSV_COLUMNS, IngestReport, Problem, SourceCase, read_csv
from knowledge.ingest import ingest as ingest_cases
from knowledge.sql import AdtResult, read_adt, read_cases

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
KEY = b"k" * 32

# ------------------------------------------------------------------ cell values and rows

_edge_dates = st.sampled_from(
    ["0001-01-01", "0001-01-02", "9999-12-31", "1677-09-21", "2262-04-12", "2026-02-30"]
)
_text = st.text(max_size=12)
_cell = st.one_of(
    _text,
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.dates().map(date.isoformat),
    _edge_dates,
    st.sampled_from(["", " ", "icu", "general", "stepdown", "CARD", "inf", "-inf", "nan", "1e400"]),
)


def _csv(header: list[str], rows: Iterable[list[str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8", "surrogatepass")


def _table(columns: list[str], cell=_cell, max_rows: int = 6):
    """A CSV with a shuffled (sometimes short or padded) header and rows of odd cells."""
    header = st.one_of(
        st.just(columns),
        st.permutations(columns).map(list),
        st.lists(st.sampled_from([*columns, "extra", ""]), max_size=len(columns) + 2),
    )
    return header.flatmap(
        lambda h: st.lists(
            st.lists(cell, min_size=max(0, len(h) - 1), max_size=len(h) + 1), max_size=max_rows
        ).map(lambda rows: _csv(h, rows))
    )


def _ward_row(ward_id: str) -> list[str]:
    return [ward_id, ward_id.title(), "病房", "general", "20", "2", "5", "4"]


_ward_ids = st.text(alphabet=string.ascii_uppercase + string.digits + "_-", min_size=1, max_size=5)


@st.composite
def _hospital_files(draw) -> tuple[bytes, bytes]:
    """Mostly well-formed ward and daily files with a few fuzzed cells, or raw garbage."""
    ids = draw(st.lists(_ward_ids, min_size=1, max_size=3))
    ward_rows = [_ward_row(i) for i in ids]
    daily_rows = [
        [draw(st.one_of(st.dates(), st.just(date(2026, 6, 1)))).isoformat(), i, "3", "2", "18"]
        for i in ids
    ]
    for rows in (ward_rows, daily_rows):
        for _ in range(draw(st.integers(0, 3))):
            r = draw(st.integers(0, len(rows) - 1))
            c = draw(st.integers(0, len(rows[r]) - 1))
            rows[r][c] = draw(_cell)
    wards = _csv(WARD_COLUMNS, ward_rows)
    daily = _csv(DAILY_COLUMNS, daily_rows)
    wards = draw(st.one_of(st.just(wards), st.binary(max_size=64), _table(WARD_COLUMNS)))
    daily = draw(st.one_of(st.just(daily), st.binary(max_size=64), _table(DAILY_COLUMNS)))
    return wards, daily


# ------------------------------------------------------------------ the hospital's own files


@FUZZ
@given(files=_hospital_files())
def test_hospital_files_validate_or_list_bad_lines(tmp_path_factory, files):
    d = tmp_path_factory.mktemp("in")
    (d / "wards.csv").write_bytes(files[0])
    (d / "daily.csv").write_bytes(files[1])
    try:
        h = validate(d / "wards.csv", d / "daily.csv")
    except DataError as e:
        assert e.problems and str(e).startswith("invalid hospital data")
        return
    assert isinstance(h, Hospital) and h.wards and len(h.daily)
    for w in h.wards:
        h.history(w.ward_id)


@FUZZ
@given(files=_hospital_files())
def test_failed_hospital_ingest_leaves_the_data_dir_as_it_was(tmp_path_factory, files):
    src = tmp_path_factory.mktemp("src")
    data = tmp_path_factory.mktemp("data")
    before = {
        "wards.csv": _csv(WARD_COLUMNS, [_ward_row("OLD")]),
        "daily.csv": _csv(DAILY_COLUMNS, [["2026-01-01", "OLD", "1", "1", "9"]]),
    }
    for name, body in before.items():
        (data / name).write_bytes(body)
    (src / "wards.csv").write_bytes(files[0])
    (src / "daily.csv").write_bytes(files[1])
    try:
        ingest(src / "wards.csv", src / "daily.csv", data)
    except DataError:
        assert {p.name: p.read_bytes() for p in data.iterdir()} == before
        return
    assert {p.name: p.read_bytes() for p in data.iterdir()} == {
        "wards.csv": files[0],
        "daily.csv": files[1],
    }


# ------------------------------------------------------------------ case sources


class _Index:
    """Takes what :func:`knowledge.ingest.ingest` upserts; checks each record is whole."""

    def __init__(self) -> None:
        self.records: list = []

    def build(self, records):
        self.records += records
        return SimpleNamespace(embedded=len(records), unchanged=0, flagged=0)


def _only_sources(items: Iterable) -> list:
    out = list(items)
    for item in out:
        assert isinstance(item, SourceCase | Problem), type(item)
        if isinstance(item, Problem):
            assert item.message and item.position
    return out


def _ingest_all(items: list) -> IngestReport:
    index = _Index()
    report = ingest_cases(items, index, Deidentifier(KEY), chunk=4)
    assert report.indexed == len({r.record_id for r in index.records})
    for p in report.problems:
        assert p.message
    return report


_case_cell = st.one_of(
    _cell,
    st.sampled_from(["M", "F", "J18.9", "en", "zh", "1990-01-01T10:00:00Z", "2026-06-01 08:00"]),
)
_numberish = st.one_of(
    st.sampled_from(["inf", "-inf", "nan", "1e400", "-1", "1e18", "4.5", "", "x"]),
    st.integers().map(str),
    st.floats().map(str),
)
_dateish = st.one_of(
    _edge_dates,
    st.dates().map(date.isoformat),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["", "2026-13-01", "yesterday", "2026-05-01T25:00", "0001-01-01 00:00"]),
)
_BY_COLUMN = {
    "age": _numberish,
    "los_days": _numberish,
    "admitted": _dateish,
    "discharged": _dateish,
    "birth_date": _dateish,
    "text": st.one_of(_case_cell, _dateish.map(lambda d: f"seen on {d}; fever")),
}


@st.composite
def _case_csv(draw) -> bytes:
    """A flat case CSV: good rows with fuzzed cells, odd headers, or raw bytes."""
    good = {
        "record_id": "r1",
        "admitted": "2026-05-01",
        "diagnosis": "pneumonia",
        "text": "cough and fever",
        "age": "40",
    }
    rows = []
    for _ in range(draw(st.integers(1, 4))):
        row = dict(good)
        cols = st.one_of(st.sampled_from(sorted(_BY_COLUMN)), st.sampled_from(CSV_COLUMNS))
        for col in draw(st.lists(cols, max_size=2)):
            row[col] = draw(_BY_COLUMN.get(col, _case_cell))
        rows.append([row.get(c, "") for c in CSV_COLUMNS])
    return draw(
        st.one_of(
            st.just(_csv(CSV_COLUMNS, rows)),
            _table(CSV_COLUMNS, _case_cell, max_rows=3),
            st.binary(max_size=80),
        )
    )


@FUZZ
@given(body=_case_csv())
def test_case_csv_gives_cases_or_problems(tmp_path_factory, body):
    path = tmp_path_factory.mktemp("csv") / "cases.csv"
    path.write_bytes(body)
    _ingest_all(_only_sources(read_csv(path)))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3)
    ),
    max_leaves=12,
)
_fhir_value = st.one_of(
    _json,
    st.dates().map(date.isoformat),
    _edge_dates,
    st.sampled_from(["2026-05-01T08:00:00Z", "Patient/p1", "urn:uuid:e1", "female", "IMP"]),
)


def _synthea_bundle() -> dict:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:p1",
                "resource": {
                    "resourceType": "Patient",
                    "id": "p1",
                    "name": [{"given": ["Ann"], "family": "Lee"}],
                    "birthDate": "1960-03-04",
                    "gender": "female",
                    "telecom": [{"system": "phone", "value": "555-0101"}],
                    "address": [{"line": ["1 Main St"], "city": "Springfield"}],
                    "identifier": [{"value": "MRN1"}],
                },
            },
            {
                "fullUrl": "urn:uuid:e1",
                "resource": {
                    "resourceType": "Encounter",
                    "id": "e1",
                    "subject": {"reference": "urn:uuid:p1"},
                    "class": {"code": "IMP"},
                    "type": [{"text": "Admission"}],
                    "period": {"start": "2026-05-01T08:00:00Z", "end": "2026-05-04T08:00:00Z"},
                    "location": [{"location": {"display": "CARD"}}],
                    "reasonCode": [{"text": "chest pain"}],
                    "hospitalization": {"dischargeDisposition": {"text": "home"}},
                },
            },
            {
                "resource": {
                    "resourceType": "Condition",
                    "id": "c1",
                    "encounter": {"reference": "urn:uuid:e1"},
                    "code": {
                        "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I21.9"}],
                        "text": "Myocardial infarction (disorder)",
                    },
                    "onsetDateTime": "2026-05-01",
                },
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": "o1",
                    "encounter": {"reference": "urn:uuid:e1"},
                    "code": {"text": "Heart rate"},
                    "valueQuantity": {"value": 92.4, "unit": "/min"},
                },
            },
        ],
    }


def _paths(node, prefix=()):
    """Every (path, value) of a JSON tree, the root included."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


@st.composite
def _bundle(draw) -> bytes:
    """A Synthea-shaped bundle with some of its values replaced by any JSON, or any JSON."""
    b = _synthea_bundle()
    paths = [p for p, _ in _paths(b) if p]
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths))
        node = b
        try:
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = draw(_fhir_value)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier replacement removed that branch
    doc = draw(
        st.one_of(st.just(b), _json, st.just({"resourceType": "Bundle", "entry": draw(_json)}))
    )
    raw = json.dumps(doc).encode()
    hostile = st.sampled_from([b"[" * 100_000, b'{"entry": [' + b"7" * 5000 + b"]}"])
    return draw(
        st.one_of(st.just(raw), st.just(raw[: len(raw) // 2]), st.binary(max_size=40), hostile)
    )


def test_the_unfuzzed_bundle_is_a_case(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(json.dumps(_synthea_bundle()))
    [case] = list(read_bundle(path))
    assert isinstance(case, SourceCase) and case.icd10 == "I21.9"


@FUZZ
@given(body=_bundle())
def test_fhir_bundle_gives_cases_or_problems(tmp_path_factory, body):
    path = tmp_path_factory.mktemp("fhir") / "bundle.json"
    path.write_bytes(body)
    _ingest_all(_only_sources(read_bundle(path)))


# ------------------------------------------------------------------ SQL rows

_sql_value = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    _text,
    st.binary(max_size=8),
    st.dates().map(date.isoformat),
    _edge_dates,
    st.sampled_from(["admit", "A02", "discharge", "transfer", "2026-05-01 10:00:00", "1e400"]),
)


def _sqlite(path: Path, columns: list[str], rows: list[list]) -> str:
    con = sqlite3.connect(path)
    with con:
        con.execute(f"CREATE TABLE t ({', '.join(f'{c!s}' for c in columns)})")
        con.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(columns))})", rows)
    con.close()
    return f"sqlite:///{path}"


_sql_by_column = {
    "age": st.one_of(_sql_value, st.sampled_from([float("inf"), -1, 200, 4.5])),
    "los_days": st.one_of(_sql_value, st.sampled_from([float("inf"), -3])),
    "admitted": st.one_of(_sql_value, _dateish),
    "text": st.one_of(_sql_value, _dateish.map(lambda d: f"seen on {d}")),
}


@st.composite
def _sql_case_row(draw) -> list:
    """A good case row with up to three columns replaced by any SQL value."""
    row = {"record_id": "r1", "admitted": "2026-05-01", "diagnosis": "flu", "text": "fever"}
    row["age"] = 40
    cols = st.one_of(st.sampled_from(sorted(_sql_by_column)), st.sampled_from(CSV_COLUMNS))
    for col in draw(st.lists(cols, max_size=3)):
        row[col] = draw(_sql_by_column.get(col, _sql_value))
    return [row.get(c) for c in CSV_COLUMNS]


@st.composite
def _adt_row(draw) -> list:
    """A plausible ADT event with up to two values replaced by any SQL value."""
    row = [
        draw(st.one_of(_edge_dates, st.dates().map(date.isoformat), st.just("2026-05-01"))),
        draw(st.sampled_from(["admit", "A01", "discharge", "A03", "transfer", "A02"])),
        draw(st.sampled_from(["CARD", "ICU", "5B"])),
        draw(st.sampled_from(["CARD", "ICU", "", None])),
        "p1",
    ]
    for _ in range(draw(st.integers(0, 2))):
        row[draw(st.integers(0, len(row) - 1))] = draw(_sql_value)
    return row


@settings(FUZZ, max_examples=100)  # a SQLite file and an engine per example
@given(rows=st.lists(_sql_case_row(), max_size=4))
def test_sql_case_rows_give_cases_or_problems(tmp_path_factory, rows):
    url = _sqlite(tmp_path_factory.mktemp("sql") / "c.db", CSV_COLUMNS, rows)
    items = _only_sources(read_cases(url, "SELECT * FROM t"))
    assert len(items) == len(rows)
    _ingest_all(items)


ADT = ["event_time", "event_type", "ward_id", "from_ward_id", "patient_id"]


@settings(FUZZ, max_examples=100)  # a SQLite file and an engine per example
@given(rows=st.lists(_adt_row(), max_size=6))
def test_sql_adt_rows_give_daily_rows_or_problems(tmp_path_factory, rows):
    url = _sqlite(tmp_path_factory.mktemp("adt") / "a.db", ADT, rows)
    result = read_adt(url, "SELECT * FROM t")
    assert isinstance(result, AdtResult)
    spans = [p for p in result.problems if "span" in p.message]
    assert spans or result.events + len(result.problems) == len(rows)
    assert not (spans and result.rows)
    assert all(r.census >= 0 for r in result.rows)
