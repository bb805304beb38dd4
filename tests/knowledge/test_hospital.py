import shutil

import pytest

from knowledge.hospital import DataError, ingest, load


def test_demo_is_seeded_and_complete(demo_dir, tmp_path, hospital):
    from knowledge.demo import generate
    from tests.conftest import END

    again = generate(tmp_path / "again", end=END)
    assert (again / "daily.csv").read_bytes() == (demo_dir / "daily.csv").read_bytes()
    assert len(hospital.wards) == 7
    assert len(hospital.daily) == 7 * 365 * 3
    assert hospital.daily.date.max().date() == END


@pytest.mark.parametrize("name", ["CARD", "card", "Cardiology", "心内科"])
def test_ward_lookup_by_id_or_name(hospital, name):
    assert hospital.ward(name).ward_id == "CARD"


def test_unknown_ward_lists_the_known_ones(hospital):
    with pytest.raises(KeyError, match="known wards: ICU"):
        hospital.ward("Narnia")


def test_ingest_reports_bad_rows_with_line_numbers_and_writes_nothing(demo_dir, tmp_path):
    target = tmp_path / "live"
    shutil.copytree(demo_dir, target)
    before = (target / "daily.csv").read_bytes()
    bad = tmp_path / "daily.csv"
    lines = (demo_dir / "daily.csv").read_text().splitlines()
    lines[3] = "2026-01-01,CARD,-4,2,30"  # negative admissions on line 4
    lines[7] = "not-a-date,CARD,1,2,3"  # line 8
    lines[9] = "2026-01-02,MOON,1,2,3"  # unknown ward on line 10
    lines[11] = "2026-01-02,CARD,1,2"  # short row on line 12
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as e:
        ingest(demo_dir / "wards.csv", bad, target)
    lines_reported = {n for _, n, _ in e.value.problems}
    assert {4, 8, 10, 12} <= lines_reported
    assert "admissions" in str(e.value) and "MOON" in str(e.value)
    assert (target / "daily.csv").read_bytes() == before


def test_ingest_rejects_missing_columns(demo_dir, tmp_path):
    bad = tmp_path / "wards.csv"
    bad.write_text("ward_id,beds\nCARD,34\n")
    with pytest.raises(DataError, match="missing column"):
        ingest(bad, demo_dir / "daily.csv", tmp_path / "x")
    assert not (tmp_path / "x" / "wards.csv").exists()


def test_ingest_of_valid_files_replaces_the_hospital(demo_dir, tmp_path):
    h = ingest(demo_dir / "wards.csv", demo_dir / "daily.csv", tmp_path / "new")
    assert len(load(tmp_path / "new").wards) == len(h.wards) == 7


def test_the_last_day_is_the_daily_historys_latest_date(hospital):
    import pandas as pd

    from knowledge.hospital import Hospital

    assert hospital.last_day == hospital.daily["date"].max().date()
    as_text = Hospital(
        hospital.wards, hospital.daily.assign(date=hospital.daily["date"].astype(str))
    )
    assert as_text.last_day == hospital.last_day
    assert Hospital(hospital.wards, pd.DataFrame()).last_day is None
