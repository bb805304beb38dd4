"""The hospital's wards and daily activity: schema, loading, validation and ingest.

Two CSV files in the data dir form a hospital:

``wards.csv``: ``ward_id, name_en, name_zh, ward_type, beds, surge_beds, rn_per_shift, nurse_ratio``
  ``ward_type`` is ``icu``, ``stepdown`` or ``general``; ``nurse_ratio`` is patients per RN;
  ``rn_per_shift`` is the RNs available to the ward on one shift.
``daily.csv``: ``date, ward_id, admissions, discharges, census``
  one row per ward per day; ``census`` is occupied beds at midnight.

:func:`ingest` validates a user's files completely before anything is written: a bad row is
reported with its line number and nothing is half-loaded.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, Field, ValidationError, field_validator

WARD_TYPES = ("icu", "stepdown", "general")
WARD_COLUMNS = [
    "ward_id",
    "name_en",
    "name_zh",
    "ward_type",
    "beds",
    "surge_beds",
    "rn_per_shift",
    "nurse_ratio",
]
DAILY_COLUMNS = ["date", "ward_id", "admissions", "discharges", "census"]
# the days a pandas timestamp holds (nanoseconds since 1970 in 64 bits), whole years
FIRST_DAY, LAST_DAY = date(1678, 1, 1), date(2261, 12, 31)
_Day = date  # ``date`` is also a field name of DailyRow


class Ward(BaseModel):
    """One ward as the planner and the forecaster see it."""

    ward_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    name_en: str = Field(min_length=1)
    name_zh: str = Field(min_length=1)
    ward_type: str
    beds: int = Field(ge=0)
    surge_beds: int = Field(ge=0)
    rn_per_shift: int = Field(ge=0)
    nurse_ratio: int = Field(ge=1)

    @field_validator("ward_type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if v not in WARD_TYPES:
            raise ValueError(f"ward_type must be one of {', '.join(WARD_TYPES)}, got {v!r}")
        return v


class DailyRow(BaseModel):
    """One ward's day in ``daily.csv``: admissions, discharges and the midnight census."""

    date: date
    ward_id: str = Field(min_length=1)
    admissions: int = Field(ge=0)
    discharges: int = Field(ge=0)
    census: int = Field(ge=0)

    @field_validator("date")
    @classmethod
    def _in_range(cls, v: _Day) -> _Day:
        if not FIRST_DAY <= v <= LAST_DAY:
            raise ValueError(f"date must be between {FIRST_DAY} and {LAST_DAY}")
        return v


class DataError(Exception):
    """A user's data file is unusable; ``problems`` lists ``(file, line, message)``."""

    def __init__(self, problems: list[tuple[str, int, str]]):
        self.problems = problems
        lines = [f"{f}:{n}: {m}" for f, n, m in problems[:20]]
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__("invalid hospital data:\n" + "\n".join(lines) + more)


@dataclass(frozen=True)
class Hospital:
    """Wards plus their daily history (a long frame: date, ward_id, admissions, ...)."""

    wards: tuple[Ward, ...]
    daily: pd.DataFrame

    def ward(self, name: str) -> Ward:
        """Find a ward by id, English or Chinese name (case-insensitive).

        Raises:
            KeyError: no such ward; the message lists the known ones.
        """
        key = name.strip().lower()
        for w in self.wards:
            names = {w.ward_id.lower(), w.name_en.lower(), w.name_zh}
            if key in names or (len(key) >= 4 and any(key in n or n in key for n in names)):
                return w
        known = ", ".join(f"{w.ward_id} ({w.name_en}/{w.name_zh})" for w in self.wards)
        raise KeyError(f"unknown ward {name!r}; known wards: {known}")

    @cached_property
    def last_day(self) -> date | None:
        """The last day of the daily history (None when there is none), found once: an
        agent asks at every turn, and a hospital's frames are not changed in place."""
        if self.daily is None or self.daily.empty:
            return None
        last = self.daily["date"].max()
        return last.date() if hasattr(last, "date") else date.fromisoformat(str(last)[:10])

    def history(self, ward_id: str, column: str = "census") -> pd.Series:
        """The ward's daily series, indexed by date."""
        d = self.daily[self.daily.ward_id == ward_id]
        return d.set_index("date")[column].astype(float).sort_index()


def _read_rows(path: Path, columns: list[str], model: type[BaseModel], problems: list) -> list:
    """Valid rows as ``(line_number, row)``; every bad line goes into ``problems``."""
    rows: list[tuple[int, BaseModel]] = []
    name = path.name
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as e:
        problems.append((name, 0, f"cannot read: {e}"))
        return rows
    with fh:
        reader = csv.reader(fh)
        try:
            _read_records(reader, name, columns, model, rows, problems)
        except UnicodeDecodeError:
            problems.append((name, reader.line_num + 1, "not UTF-8 text"))
        except csv.Error as e:
            problems.append((name, reader.line_num, f"not a readable CSV line ({e})"))
    return rows


def _read_records(
    reader: Iterator[list[str]],
    name: str,
    columns: list[str],
    model: type[BaseModel],
    rows: list[tuple[int, BaseModel]],
    problems: list,
) -> None:
    """The header and records of an open file into ``rows`` and ``problems``."""
    header = next(reader, None)
    if header is None:
        problems.append((name, 1, "file is empty"))
        return
    header = [h.strip() for h in header]
    missing = [c for c in columns if c not in header]
    if missing:
        problems.append((name, 1, f"missing column(s): {', '.join(missing)}"))
        return
    for lineno, rec in enumerate(reader, start=2):
        if not any(cell.strip() for cell in rec):
            continue
        if len(rec) != len(header):
            problems.append((name, lineno, f"expected {len(header)} fields, got {len(rec)}"))
            continue
        raw = {h: v.strip() for h, v in zip(header, rec, strict=True) if h in columns}
        try:
            rows.append((lineno, model.model_validate(raw)))
        except ValidationError as e:
            msg = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
            )
            problems.append((name, lineno, msg))


def validate(wards_csv: Path, daily_csv: Path) -> Hospital:
    """Parse and check both files; raise :class:`DataError` listing every bad line."""
    problems: list[tuple[str, int, str]] = []
    wards = [w for _, w in _read_rows(Path(wards_csv), WARD_COLUMNS, Ward, problems)]
    daily = _read_rows(Path(daily_csv), DAILY_COLUMNS, DailyRow, problems)
    ids = [w.ward_id for w in wards]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        problems.append(
            (Path(wards_csv).name, 0, f"duplicate ward_id(s): {', '.join(sorted(dup))}")
        )
    known = set(ids)
    seen: set[tuple] = set()
    for lineno, r in daily:
        if r.ward_id not in known:
            problems.append((Path(daily_csv).name, lineno, f"unknown ward_id {r.ward_id!r}"))
        if (r.date, r.ward_id) in seen:
            problems.append(
                (Path(daily_csv).name, lineno, f"duplicate day {r.date} for {r.ward_id}")
            )
        seen.add((r.date, r.ward_id))
    if not problems and not daily:
        problems.append((Path(daily_csv).name, 0, "no daily rows"))
    if problems:
        raise DataError(problems)
    frame = pd.DataFrame([r.model_dump() for _, r in daily])
    frame["date"] = pd.to_datetime(frame["date"])
    return Hospital(tuple(wards), frame.sort_values(["ward_id", "date"]).reset_index(drop=True))


def load(data_dir: Path) -> Hospital:
    """Load the hospital in ``data_dir`` (``wards.csv`` and ``daily.csv``)."""
    data_dir = Path(data_dir)
    if not (data_dir / "wards.csv").exists():
        raise FileNotFoundError(
            f"no hospital data in {data_dir}: run `wardwise demo` or `wardwise ingest`"
        )
    return validate(data_dir / "wards.csv", data_dir / "daily.csv")


def ingest(wards_csv: Path, daily_csv: Path, data_dir: Path) -> Hospital:
    """Validate a user's files, then replace the hospital in ``data_dir`` atomically.

    Nothing is written unless every row of both files is valid.
    """
    hospital = validate(wards_csv, daily_csv)
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
        for src, name in ((wards_csv, "wards.csv"), (daily_csv, "daily.csv")):
            shutil.copyfile(src, Path(tmp) / name)
        for name in ("wards.csv", "daily.csv"):
            (Path(tmp) / name).replace(data_dir / name)
    return hospital
