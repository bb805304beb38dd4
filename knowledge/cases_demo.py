"""De-identified demo case records for the demo hospital, in English and Chinese.

:func:`generate_cases` builds a seeded, reproducible set of past admissions over 25 common
conditions. Each record's free text (complaint, history, findings, management, course) is
assembled from per-condition phrase lists in the record's language, so no two records share
one template sentence. Records are de-identified: an age band instead of a birthdate, a ward
instead of a bed, no names, addresses or phone numbers.

The tables are package data in ``knowledge/demo_data/``:

- ``conditions.json``: one entry per condition, in drawing order: ICD-10 code, ward mix
  (ward id to probability, in order), age and length-of-stay ranges (inclusive), in-hospital
  mortality, relative frequency (``weight``) and share of women (``p_female``).
- ``phrases_en.json`` / ``phrases_zh.json``: per language, the injection lines and, per ICD-10
  code, the diagnosis as written in that language and the phrase lists (``complaints``,
  ``history``, ``findings``, ``treatment``). A phrase may hold number ranges: ``{90-125}``
  draws an integer, ``{2.0-45.0}`` a one-decimal value.

About 1% of the records carry a prompt-injection line hidden in their free text, so that the
case index's injection defence (``knowledge/store.py``) is exercised by the demo data.
Records are written and read with :mod:`knowledge.records`.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib.resources import files
from typing import Any

from knowledge.records import CaseRecord, age_band

WARD_IDS = ("ICU", "HDU", "CARD", "RESP", "SURG", "ORTH", "PED")
LANGS = ("en", "zh")

# --------------------------------------------------------------------------- conditions


@dataclass(frozen=True)
class _Phrases:
    complaints: tuple[str, ...]
    history: tuple[str, ...]
    findings: tuple[str, ...]
    treatment: tuple[str, ...]


@dataclass(frozen=True)
class _Condition:
    diagnosis: str
    diagnosis_zh: str
    icd10: str
    wards: tuple[tuple[str, float], ...]
    ages: tuple[int, int]
    los: tuple[int, int]
    mortality: float
    weight: float
    en: _Phrases
    zh: _Phrases
    p_female: float = 0.5


@dataclass(frozen=True)
class _Tables:
    conditions: tuple[_Condition, ...]
    injections: dict[str, tuple[str, ...]]  # lines a hostile upstream system might paste in


def _load_json(name: str) -> Any:
    return json.loads(files("knowledge").joinpath("demo_data", name).read_text(encoding="utf-8"))


@cache
def _tables() -> _Tables:
    """Read the condition and phrase tables from ``knowledge/demo_data/`` (once)."""
    phrases = {lang: _load_json(f"phrases_{lang}.json") for lang in LANGS}

    def lang_phrases(lang: str, icd10: str) -> tuple[str, _Phrases]:
        p = phrases[lang]["conditions"][icd10]
        lists = (tuple(p[key]) for key in ("complaints", "history", "findings", "treatment"))
        return p["diagnosis"], _Phrases(*lists)

    conditions = []
    for c in _load_json("conditions.json"):
        diagnosis, en = lang_phrases("en", c["icd10"])
        diagnosis_zh, zh = lang_phrases("zh", c["icd10"])
        conditions.append(
            _Condition(
                diagnosis=diagnosis,
                diagnosis_zh=diagnosis_zh,
                icd10=c["icd10"],
                wards=tuple(c["wards"].items()),
                ages=(c["ages"][0], c["ages"][1]),
                los=(c["los"][0], c["los"][1]),
                mortality=c["mortality"],
                weight=c["weight"],
                en=en,
                zh=zh,
                p_female=c["p_female"],
            )
        )
    injections = {lang: tuple(phrases[lang]["injections"]) for lang in LANGS}
    return _Tables(tuple(conditions), injections)


# --------------------------------------------------------------------------- text assembly

_RANGE = re.compile(r"\{(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)\}")


def _fill(phrase: str, rng: random.Random) -> str:
    """Replace every ``{lo-hi}`` in a phrase by a draw from that range."""

    def draw(m: re.Match[str]) -> str:
        lo, hi = m.group(1), m.group(2)
        if "." in lo:
            return f"{rng.uniform(float(lo), float(hi)):.1f}"
        return str(rng.randint(int(lo), int(hi)))

    return _RANGE.sub(draw, phrase)


def _pick(rng: random.Random, phrases: tuple[str, ...], lo: int, hi: int) -> list[str]:
    return [_fill(p, rng) for p in rng.sample(phrases, min(len(phrases), rng.randint(lo, hi)))]


def _join_en(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _who_en(age: int, sex: str) -> str:
    if age < 1:
        return {"M": "Male infant", "F": "Female infant"}[sex]
    if age < 16:
        return {"M": "Boy", "F": "Girl"}[sex] + f" aged {age // 5 * 5}-{age // 5 * 5 + 4}"
    decade = min(age // 10 * 10, 90)
    return {"M": "Man", "F": "Woman"}[sex] + f" in {'his' if sex == 'M' else 'her'} {decade}s"


def _who_zh(age: int, sex: str) -> str:
    s = {"M": "男", "F": "女"}[sex]
    if age < 1:
        return f"{s}婴"
    if age < 16:
        return f"{s}童，{age // 5 * 5}-{age // 5 * 5 + 4}岁"
    decade = min(age // 10 * 10, 90)
    return f"{s}，{decade}余岁"


def _course_en(outcome: str, los: int, rng: random.Random) -> str:
    if outcome == "discharged home":
        return rng.choice(
            (
                f"Improved and discharged home on day {los}.",
                f"Length of stay {los} days; discharged home with follow-up.",
                f"Recovered well and went home after {los} days.",
            )
        )
    if outcome == "discharged to rehabilitation":
        return rng.choice(
            (
                f"Transferred to rehabilitation on day {los}.",
                f"After {los} days moved to a rehabilitation unit.",
            )
        )
    if outcome == "transferred to another hospital":
        return rng.choice(
            (
                f"Transferred to a tertiary centre on day {los}.",
                f"Moved to another hospital for specialist care after {los} days.",
            )
        )
    return rng.choice(
        (
            f"Deteriorated despite treatment and died on day {los}.",
            f"Died in hospital on day {los} after a palliative care discussion.",
        )
    )


def _course_zh(outcome: str, los: int, rng: random.Random) -> str:
    if outcome == "discharged home":
        return rng.choice((f"住院{los}天，好转出院。", f"第{los}天病情稳定出院，门诊随访。"))
    if outcome == "discharged to rehabilitation":
        return rng.choice((f"住院{los}天后转康复病房。", f"第{los}天转康复机构继续治疗。"))
    if outcome == "transferred to another hospital":
        return rng.choice((f"第{los}天转上级医院。", f"住院{los}天后转外院专科治疗。"))
    return rng.choice((f"经积极治疗病情仍恶化，第{los}天死亡。", f"住院第{los}天死亡。"))


def _text_en(c: _Condition, age: int, sex: str, los: int, outcome: str, rng: random.Random) -> str:
    p = c.en
    complaint = _join_en(_pick(rng, p.complaints, 1, 2))
    history = _pick(rng, p.history, 1, 2)
    findings = _pick(rng, p.findings, 2, 3)
    treatment = _pick(rng, p.treatment, 2, 3)
    who = _who_en(age, sex)
    opener = rng.choice(
        (
            f"{who} presenting with {complaint}.",
            f"{who}, admitted via the emergency department with {complaint}.",
            f"Presenting complaint: {complaint}. {who}.",
            f"{who} referred by the GP with {complaint}.",
        )
    )
    hist = rng.choice(
        (
            f"Background of {_join_en(history)}.",
            f"PMH: {'; '.join(history)}.",
            f"History includes {_join_en(history)}.",
        )
    )
    find = rng.choice(
        (
            f"On assessment {_join_en(findings)}.",
            f"Findings: {'; '.join(findings)}.",
            f"Work-up: {_join_en(findings)}.",
        )
    )
    treat = rng.choice(
        (
            f"Managed with {_join_en(treatment)}.",
            f"Treatment: {'; '.join(treatment)}.",
            f"Received {', then '.join(treatment)}.",
        )
    )
    dx = rng.choice((f"Diagnosis: {c.diagnosis}.", f"Discharge diagnosis: {c.diagnosis}."))
    return " ".join((opener, hist, _cap(find), treat, dx, _course_en(outcome, los, rng)))


def _text_zh(c: _Condition, age: int, sex: str, los: int, outcome: str, rng: random.Random) -> str:
    p = c.zh
    complaint = "，".join(_pick(rng, p.complaints, 1, 2))
    history = _pick(rng, p.history, 1, 2)
    findings = _pick(rng, p.findings, 2, 3)
    treatment = _pick(rng, p.treatment, 2, 3)
    who = _who_zh(age, sex)
    opener = rng.choice(
        (
            f"{who}，因{complaint}入院。",
            f"{who}。主诉：{complaint}。",
            f"{who}，急诊收入，{complaint}。",
            f"{who}，门诊转入，{complaint}。",
        )
    )
    hist = rng.choice(
        (
            f"既往史：{'；'.join(history)}。",
            f"既往{'、'.join(history)}。",
            f"背景：{'，'.join(history)}。",
        )
    )
    find = rng.choice(
        (
            f"查体及检查：{'，'.join(findings)}。",
            f"检查：{'；'.join(findings)}。",
            f"辅助检查：{'，'.join(findings)}。",
        )
    )
    treat = rng.choice(
        (
            f"予{'及'.join(treatment)}。",
            f"治疗：{'；'.join(treatment)}。",
            f"给予{'，'.join(treatment)}。",
        )
    )
    dx = rng.choice((f"诊断：{c.diagnosis_zh}。", f"出院诊断：{c.diagnosis_zh}。"))
    return "".join((opener, hist, find, treat, dx, _course_zh(outcome, los, rng)))


def _outcome(c: _Condition, ward: str, age: int, rng: random.Random) -> str:
    mortality = c.mortality * (2.0 if ward == "ICU" else 1.0) * (1.5 if age >= 80 else 1.0)
    u = rng.random()
    if u < mortality:
        return "died in hospital"
    if u < mortality + 0.04:
        return "transferred to another hospital"
    rehab = 0.35 if c.icd10.startswith(("S72", "I63")) else 0.04 if age >= 70 else 0.0
    if u < mortality + 0.04 + rehab:
        return "discharged to rehabilitation"
    return "discharged home"


def generate_cases(n: int = 500, seed: int = 7, end: date | None = None) -> list[CaseRecord]:
    """Generate ``n`` de-identified demo case records, half English and half Chinese.

    Args:
        n: How many records to generate.
        seed: Random seed; the same ``seed``, ``n`` and ``end`` give the same records.
        end: Last possible admission date; admissions fall in the three years before it.
            Defaults to today.

    Returns:
        Records sorted by admission date, with ids ``C00001``, ``C00002``, ...; about 1% of
        them (at least one) carry a prompt-injection line in their free text.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    end = end or date.today()
    rng = random.Random(seed)
    langs = ["en"] * (n // 2) + ["zh"] * (n - n // 2)
    rng.shuffle(langs)
    injected = set(rng.sample(range(n), min(n, max(1, round(n / 100))))) if n else set()
    conditions = _tables().conditions
    weights = [c.weight for c in conditions]

    drafts = []
    for i in range(n):
        c = rng.choices(conditions, weights)[0]
        age = rng.randint(*c.ages)
        sex = "F" if rng.random() < c.p_female else "M"
        if age < 16:
            ward = "PED"
        else:
            names, probs = zip(*c.wards, strict=True)
            ward = rng.choices(names, probs)[0]
            if ward == "PED":  # paediatric-only condition in an adolescent/adult: rare, keep sane
                ward = "HDU"
        los = rng.randint(*c.los) + (rng.randint(1, 4) if ward == "ICU" else 0)
        outcome = _outcome(c, ward, age, rng)
        lang = langs[i]
        make = _text_en if lang == "en" else _text_zh
        text = make(c, age, sex, los, outcome, rng)
        if i in injected:
            text = _inject(text, lang, rng)
        admitted = end - timedelta(days=rng.randrange(3 * 365))
        drafts.append((admitted, lang, ward, age_band(age), sex, los, c, text, outcome))

    drafts.sort(key=lambda d: d[0])
    return [
        CaseRecord(
            record_id=f"C{i + 1:05d}",
            lang=lang,
            ward_id=ward,
            age_band=band,
            sex=sex,
            admitted=admitted,
            los_days=los,
            diagnosis=c.diagnosis,
            icd10=c.icd10,
            text=text,
            outcome=outcome,
        )
        for i, (admitted, lang, ward, band, sex, los, c, text, outcome) in enumerate(drafts)
    ]


def _inject(text: str, lang: str, rng: random.Random) -> str:
    """Hide one injection line between two sentences of ``text``."""
    line = rng.choice(_tables().injections[lang])
    if lang == "en":
        parts = re.split(r"(?<=\.) ", text)
        at = rng.randint(1, len(parts) - 1)
        return " ".join(parts[:at] + [line] + parts[at:])
    parts = [p for p in re.split(r"(?<=。)", text) if p]
    at = rng.randint(1, len(parts) - 1)
    return "".join(parts[:at] + [line] + parts[at:])
