"""SQL sources: case records and ADT history from any database SQLAlchemy reaches.

Both read a query's rows in chunks (server-side cursor where the driver has one), so a
large table never sits in memory whole.

- :func:`read_cases` expects the flat case columns (:data:`knowledge.ingest.CSV_COLUMNS`,
  any order, extra columns ignored) and yields sources for :func:`knowledge.ingest.ingest`.
- :func:`read_adt` turns admission / discharge / transfer events into the hospital's
  ``daily.csv`` rows (what the forecaster learns from). The query returns ``event_time``
  (timestamp or date), ``event_type`` (``admit``/``discharge``/``transfer`` or the HL7 ADT
  codes ``A01``/``A03``/``A02``), ``ward_id`` (the ward the event happens in; for a transfer,
  the ward the patient moves to), ``from_ward_id`` (transfers: the ward left) and
  ``patient_id``. Per ward and day, ``admissions`` counts arrivals (admissions and transfers
  in), ``discharges`` departures (discharges and transfers out), and ``census`` the patients
  in the ward at midnight, replayed from the events (so history before the first event is
  taken as an empty ward).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field

from knowledge.hospital import DAILY_COLUMNS, FIRST_DAY, LAST_DAY, DailyRow
from knowledge.ingest import Problem, SourceCase, from_row

MAX_SPAN_DAYS = 50 * 366  # events further apart than this hold a wrong date, not history

_EVENTS = {
    "admit": "admit",
    "admission": "admit",
    "a01": "admit",
    "a04": "admit",
    "discharge": "discharge",
    "a03": "discharge",
    "transfer": "transfer",
    "a02": "transfer",
}


def _rows(url: str, query: str, chunk: int) -> Iterator[dict]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk).execute(
                text(query)
            )
            for part in result.mappings().partitions(chunk):
                for row in part:
                    yield dict(row)
    finally:
        engine.dispose()


def read_cases(url: str, query: str, chunk: int = 1000) -> Iterator[SourceCase | Problem]:
    """Case sources from a SQL query's rows (row numbers are 1-based, in result order)."""
    for i, row in enumerate(_rows(url, query, chunk), start=1):
        try:
            yield from_row(row, origin="sql", position=f"row {i}")
        except ValueError as e:
            yield Problem(source="sql", position=f"row {i}", message=str(e))


class AdtResult(BaseModel):
    """Daily ward activity replayed from ADT events."""

    rows: list[DailyRow] = Field(default_factory=list)
    events: int = 0
    problems: list[Problem] = Field(default_factory=list)


def _day(v: object) -> date:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    s = str(v).strip()
    return (
        datetime.fromisoformat(s.replace("Z", "+00:00")).date()
        if len(s) > 10
        else date.fromisoformat(s)
    )


def read_adt(url: str, query: str, chunk: int = 5000) -> AdtResult:
    """Daily rows per ward (``date, ward_id, admissions, discharges, census``) from events."""
    events: list[tuple[date, int, str, str, str, str]] = []  # day, order, kind, ward, from, pt
    problems: list[Problem] = []
    for i, raw in enumerate(_rows(url, query, chunk), start=1):
        r = {str(k).lower(): v for k, v in raw.items()}
        kind = _EVENTS.get(str(r.get("event_type", "")).strip().lower())
        ward = str(r.get("ward_id") or "").strip()
        try:
            day = _day(r.get("event_time"))
        except (TypeError, ValueError):
            problems.append(
                Problem(source="sql", position=f"row {i}", message="event_time: not a date")
            )
            continue
        if not FIRST_DAY <= day <= LAST_DAY:
            problems.append(
                Problem(
                    source="sql",
                    position=f"row {i}",
                    message=f"event_time: not between {FIRST_DAY} and {LAST_DAY}",
                )
            )
            continue
        if kind is None:
            problems.append(
                Problem(source="sql", position=f"row {i}", message="event_type: unknown")
            )
            continue
        if not ward:
            problems.append(Problem(source="sql", position=f"row {i}", message="ward_id: missing"))
            continue
        frm = str(r.get("from_ward_id") or "").strip()
        if kind == "transfer" and not frm:
            problems.append(
                Problem(
                    source="sql",
                    position=f"row {i}",
                    message="from_ward_id: missing for a transfer",
                )
            )
            continue
        events.append((day, i, kind, ward, frm, str(r.get("patient_id") or "")))
    if not events:
        return AdtResult(events=0, problems=problems)
    events.sort()
    if (events[-1][0] - events[0][0]).days > MAX_SPAN_DAYS:
        problems.append(
            Problem(
                source="sql",
                position=f"rows {events[0][1]} and {events[-1][1]}",
                message=f"event_time: the events span more than {MAX_SPAN_DAYS // 366} "
                "years; check these rows for a wrong date",
            )
        )
        return AdtResult(events=0, problems=problems)
    arrivals: dict[tuple[date, str], int] = defaultdict(int)
    departures: dict[tuple[date, str], int] = defaultdict(int)
    net: dict[tuple[date, str], int] = defaultdict(int)
    wards: set[str] = set()
    for day, _, kind, ward, frm, _pt in events:
        wards.add(ward)
        if kind == "admit":
            arrivals[day, ward] += 1
            net[day, ward] += 1
        elif kind == "discharge":
            departures[day, ward] += 1
            net[day, ward] -= 1
        else:
            wards.add(frm)
            arrivals[day, ward] += 1
            departures[day, frm] += 1
            net[day, ward] += 1
            net[day, frm] -= 1
    first, last = events[0][0], events[-1][0]
    rows: list[DailyRow] = []
    census = dict.fromkeys(wards, 0)
    day = first
    while day <= last:
        for w in sorted(wards):
            census[w] = max(0, census[w] + net.get((day, w), 0))
            rows.append(
                DailyRow(
                    date=day,
                    ward_id=w,
                    admissions=arrivals.get((day, w), 0),
                    discharges=departures.get((day, w), 0),
                    census=census[w],
                )
            )
        day += timedelta(days=1)
    return AdtResult(rows=rows, events=len(events), problems=problems)


def write_daily(rows: list[DailyRow], path: Path | str) -> int:
    """Write rows as ``daily.csv`` (the hospital schema); returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(DAILY_COLUMNS)
        for r in rows:
            w.writerow([r.date.isoformat(), r.ward_id, r.admissions, r.discharges, r.census])
    return len(rows)
