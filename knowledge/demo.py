"""A seeded demo hospital: seven wards and three years of daily admissions and census.

Admissions per ward are Poisson with a weekly pattern (fewer on weekends), a winter peak
for medical wards and a slow trend; each patient stays a ward-specific, right-skewed number
of days (discrete lognormal), and the census is the number of patients in a bed at
midnight. The same seed and end date give the same files.

    python -m knowledge.demo OUT_DIR  (or ``wardwise demo``)
"""

from __future__ import annotations

import csv
import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from knowledge.hospital import DAILY_COLUMNS, WARD_COLUMNS

# ward_id, name_en, name_zh, type, beds, surge, rn_per_shift, ratio, adm/day, mean LOS, winter
WARDS = [
    ("ICU", "Intensive care", "重症监护室", "icu", 12, 2, 6, 2, 1.6, 6.0, 0.15),
    ("HDU", "High dependency", "高依赖病房", "stepdown", 16, 2, 6, 3, 3.0, 4.2, 0.10),
    ("CARD", "Cardiology", "心内科", "general", 34, 4, 7, 5, 6.4, 4.4, 0.12),
    ("RESP", "Respiratory", "呼吸科", "general", 30, 4, 6, 5, 5.0, 5.0, 0.30),
    ("SURG", "General surgery", "普外科", "general", 40, 4, 8, 5, 9.0, 3.6, 0.03),
    ("ORTH", "Orthopaedics", "骨科", "general", 28, 3, 6, 5, 4.0, 5.8, 0.08),
    ("PED", "Paediatrics", "儿科", "general", 24, 3, 6, 4, 7.5, 2.6, 0.35),
]
WEEKDAY = [1.08, 1.10, 1.06, 1.04, 1.02, 0.84, 0.86]  # Mon..Sun


def generate(out_dir: Path, *, years: int = 3, end: date | None = None, seed: int = 11) -> Path:
    """Write ``wards.csv`` and ``daily.csv`` under ``out_dir``; return ``out_dir``.

    Args:
        out_dir: folder to write into (created).
        years: length of history.
        end: last day of history (default: yesterday).
        seed: random seed.
    """
    rng = np.random.default_rng(seed)
    end = end or date.today() - timedelta(days=1)
    warm = 60  # simulate a warm-up so the first reported day is not an empty ward
    n = 365 * years
    first = end - timedelta(days=n - 1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "wards.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(WARD_COLUMNS)
        for ward in WARDS:
            w.writerow(ward[:8])
    rows = []
    for ward_id, *_, rate, los, winter in WARDS:
        total = n + warm
        occupied = np.zeros(total + 400, dtype=np.int64)
        discharges = np.zeros(total + 400, dtype=np.int64)
        admissions = np.zeros(total, dtype=np.int64)
        sigma = 0.6
        mu = math.log(los) - sigma**2 / 2
        for t in range(total):
            day = first + timedelta(days=t - warm)
            season = 1 + winter * math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365.25)
            trend = 1 + 0.03 * (t / 365)
            lam = rate * WEEKDAY[day.weekday()] * season * trend
            a = rng.poisson(lam)
            admissions[t] = a
            stays = np.maximum(1, np.round(rng.lognormal(mu, sigma, size=a))).astype(int)
            for s in stays:
                occupied[t : t + s] += 1
                discharges[t + s] += 1
        for t in range(warm, total):
            day = first + timedelta(days=t - warm)
            rows.append(
                (day.isoformat(), ward_id, int(admissions[t]), int(discharges[t]), int(occupied[t]))
            )
    rows.sort()
    with (out / "daily.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(DAILY_COLUMNS)
        w.writerows(rows)
    return out


if __name__ == "__main__":
    import sys

    print(generate(Path(sys.argv[1] if len(sys.argv) > 1 else "demo_data")))
