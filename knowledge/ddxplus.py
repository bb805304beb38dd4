"""DDXPlus patients as case records and triage queries, in English and Chinese.

DDXPlus (Fansi Tchango et al., NeurIPS 2022 Datasets track; CC-BY, Mila) gives synthetic
patients with a ground-truth pathology, the evidences they would report (symptoms and
antecedents, French codes in the French release: ``fievre``,
``douleurxx_endroitducorps_@_palais``, ...), the evidence they opened with
(``INITIAL_EVIDENCE``) and a published differential (``DIFFERENTIAL_DIAGNOSIS``).

:func:`render_record` writes a full patient as a clinician's note (English or Chinese);
:func:`render_query` writes a partial presentation as a triage nurse would say it, in
English or Chinese, from the initial evidence plus a few others. Both read the bilingual
lexicon, package data in ``knowledge/demo_data/ddxplus_zh.json`` (:func:`lexicon`: every
evidence code and answer value of the French validate file with its English and Chinese
phrase, the 49 pathologies with their Chinese names, the template words); a code it does
not know is rendered from its own words (``douleurxx_endroitducorps_@_genou_D_`` -> "pain
location: genou (right)"), so any file in the DDXPlus layout renders.

The demo case base ships a rendered subset (:func:`demo_subset`, written by ``python -m
knowledge.ddxplus`` to ``knowledge/demo_data/ddxplus_demo.json``): up to
:data:`DEMO_PER_PATHOLOGY` patients of each pathology, each as an English and a Chinese
note, so an install without the data set still has them. :func:`demo_records` turns them
into case records through the ingest de-identification, like any other source.
"""

from __future__ import annotations

import ast
import csv
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from knowledge.deid import Deidentifier
from knowledge.glossary import ddxplus_lexicon as lexicon
from knowledge.ingest import SourceCase, deidentify
from knowledge.records import CaseRecord, age_band

Lang = Literal["en", "zh"]

# code -> (kind, English, Chinese); kind: "S" symptom, "A" antecedent (history, exposure).
PHRASES: dict[str, tuple[str, str, str]] = {
    code: (e["kind"], e["en"], e["zh"]) for code, e in lexicon()["evidences"].items()
}
# Values of multiple-choice evidences: body sites, pain characters, travel regions.
VALUES: dict[str, tuple[str, str]] = {v: (e["en"], e["zh"]) for v, e in lexicon()["values"].items()}

_PAIN_PARTS = ("carac", "endroitducorps", "irrad", "intens", "precis", "soudain")


def _value(v: str, lang: Lang) -> str:
    if v in VALUES:
        return VALUES[v][0 if lang == "en" else 1]
    out = re.sub(r"_D_$", " (right)", v)
    out = re.sub(r"_G_$", " (left)", out)
    return out.replace("_", " ").strip()


def _base_phrase(code: str, lang: Lang) -> str:
    if code in PHRASES:
        return PHRASES[code][1 if lang == "en" else 2]
    return code.replace("_", " ")


def _kind(code: str) -> str:
    return PHRASES[code][0] if code in PHRASES else "S"


def _split(evidence: str) -> tuple[str, str | None]:
    if "_@_" in evidence:
        base, value = evidence.split("_@_", 1)
        return base, value
    return evidence, None


def _attribute(base: str) -> tuple[str, str] | None:
    """``douleurxx_intens`` -> ("douleurxx", "intens"); None for a plain code."""
    for part in _PAIN_PARTS + ("couleur", "desquame", "elevee", "plusqu1cm", "prurit"):
        if base.endswith("_" + part):
            return base[: -len(part) - 1], part
    return None


def phrase(evidence: str, lang: Lang = "en") -> str:
    """One evidence as a short phrase, e.g. ``douleurxx_intens_@_7`` -> "pain intensity 7/10"."""
    base, value = _split(evidence)
    if value is None:
        return _base_phrase(base, lang)
    if base == "trav1":
        if value == "N":
            return "no travel abroad in the last 4 weeks" if lang == "en" else "近4周未出国"
        return (
            f"travelled to {_value(value, lang)} in the last 4 weeks"
            if lang == "en"
            else f"近4周去过{_value(value, lang)}"
        )
    attr = _attribute(base)
    if attr is None:
        return f"{_base_phrase(base, lang)}: {_value(value, lang)}"
    owner, part = attr
    en = lang == "en"
    what = ("pain" if en else "疼痛") if owner == "douleurxx" else ("skin lesion" if en else "皮损")
    if owner == "oedeme":
        what = "swelling" if en else "水肿"
    v = _value(value, lang)
    if part == "endroitducorps":
        if value == "nulle_part":
            return f"no {what} site" if en else f"无{what}部位"
        return f"{what} in the {v}" if en else f"{v}{what}"
    if part == "carac":
        if value == "NA":
            return f"{what} character not described" if en else f"{what}性质未描述"
        return f"{v} {what}" if en else f"{v}{what}"
    if part == "irrad":
        if value == "nulle_part":
            return f"{what} not radiating" if en else f"{what}无放射"
        return f"{what} radiating to the {v}" if en else f"{what}放射至{v}"
    if part == "intens" and owner != "douleurxx":
        return f"pain from the {what} {v}/10" if en else f"{what}疼痛程度{v}/10"
    if part == "intens":
        return f"{what} intensity {v}/10" if en else f"{what}强度{v}/10"
    if part == "precis":
        return f"{what} localised precisely {v}/10" if en else f"{what}定位精确度{v}/10"
    if part == "soudain":
        return f"{what} onset suddenness {v}/10" if en else f"{what}起病急骤程度{v}/10"
    if part == "couleur":
        if value == "NA":
            return f"{what} colour not described" if en else f"{what}颜色未描述"
        return f"{v} {what}" if en else f"{what}颜色{v}"
    if part == "desquame":
        peel = value == "O"
        if en:
            return f"{what}s {'peel' if peel else 'do not peel'}"
        return f"{what}{'脱屑' if peel else '不脱屑'}"
    if part == "elevee":
        return f"{what} swelling {v}/10" if en else f"{what}隆起程度{v}/10"
    if part == "plusqu1cm":
        big = value == "O"
        if en:
            return f"{what}s {'larger' if big else 'smaller'} than 1 cm"
        return f"{what}{'大于' if big else '小于'}1厘米"
    if part == "prurit":
        return f"{what} itching {v}/10" if en else f"{what}瘙痒程度{v}/10"
    return f"{what} {part} {v}"  # pragma: no cover - every part is handled above


def _who(age: int, sex: str, lang: Lang) -> str:
    if lang == "zh":
        return f"{age}岁{'女' if sex == 'F' else '男'}性"
    if age < 18:
        noun = "girl" if sex == "F" else "boy"
    else:
        noun = "woman" if sex == "F" else "man"
    if age == 0:
        return f"infant {noun} under one year"
    return f"{age}-year-old {noun}"


def _join(items: list[str], lang: Lang) -> str:
    if lang == "zh":
        return "、".join(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def render_record(p: Patient, lang: Lang = "en") -> str:
    """A full patient as a clinician's note: who, presenting problem, pain, symptoms, history."""
    pain: dict[str, list[str]] = {}
    lesions: list[str] = []
    symptoms: list[str] = []
    history: list[str] = []
    for ev in p.evidences:
        base, value = _split(ev)
        attr = _attribute(base)
        if base == "douleurxx" or (attr and attr[0] == "douleurxx"):
            if value is not None and attr:
                pain.setdefault(attr[1], []).append(value)
            continue
        if base.startswith("lesions_peau") and base != "lesions_peau":
            lesions.append(phrase(ev, lang))
            continue
        if ev == p.initial_evidence:
            continue
        (history if _kind(base) == "A" or base == "trav1" else symptoms).append(phrase(ev, lang))
    en = lang == "en"
    parts = [
        f"{_who(p.age, p.sex, lang)}, presenting with {phrase(p.initial_evidence, lang)}."
        if en
        else f"{_who(p.age, p.sex, lang)}，主诉{phrase(p.initial_evidence, lang)}。"
    ]
    if pain or "douleurxx" in p.evidences:
        bits = []
        if pain.get("carac"):
            bits.append(
                _join([phrase(f"douleurxx_carac_@_{v}", lang) for v in pain["carac"]], lang)
            )
        if pain.get("endroitducorps"):
            sites = [v for v in pain["endroitducorps"] if v != "nulle_part"]
            if sites:
                bits.append(
                    ("in the " if en else "部位：") + _join([_value(v, lang) for v in sites], lang)
                )
        for part in ("irrad", "intens", "precis", "soudain"):
            for v in pain.get(part, []):
                bits.append(phrase(f"douleurxx_{part}_@_{v}", lang))
        head = "Pain" if en else "疼痛"
        parts.append(f"{head}: {'; '.join(bits)}." if en else f"{head}：{'；'.join(bits)}。")
    if lesions:
        parts.append(f"Skin: {'; '.join(lesions)}." if en else f"皮肤：{'；'.join(lesions)}。")
    if symptoms:
        parts.append(
            f"Also reports {_join(symptoms, lang)}." if en else f"伴{_join(symptoms, lang)}。"
        )
    if history:
        parts.append(
            f"History: {'; '.join(history)}." if en else f"既往及暴露：{'；'.join(history)}。"
        )
    return " ".join(parts) if en else "".join(parts)


def render_query(p: Patient, n_other: int, rng: random.Random, lang: Lang = "en") -> str:
    """A partial presentation, as a triage nurse describes it: the initial evidence plus
    ``n_other`` other evidences of the patient drawn with ``rng``."""
    others = [e for e in p.evidences if e != p.initial_evidence]
    drawn = rng.sample(others, min(n_other, len(others)))
    drawn.sort(key=others.index)  # the record's order, not the draw's
    items = [phrase(p.initial_evidence, lang)] + [phrase(e, lang) for e in drawn]
    if lang == "zh":
        return f"分诊：{_who(p.age, p.sex, lang)}，{'，'.join(items)}。"
    return f"Triage: {_who(p.age, p.sex, lang)} with {'; '.join(items)}."


# --------------------------------------------------------------------------- data files


@dataclass(frozen=True)
class Pathology:
    """One of the 49 DDXPlus pathologies."""

    name_en: str
    name_fr: str
    icd10: str
    severity: int


@dataclass(frozen=True)
class Patient:
    """One DDXPlus patient; ``differential`` holds English names with their probabilities."""

    row: int
    age: int
    sex: str
    pathology: str
    evidences: tuple[str, ...]
    initial_evidence: str
    differential: tuple[tuple[str, float], ...]


def _icd10(raw: str) -> str:
    """Normalise a DDXPlus ICD-10 id ("j17, j18", "g44.009") to the record schema's form."""
    m = re.match(r"\s*([A-Za-z])(\d{2})(?:\.(\d{1,2}))?", raw)
    if not m:
        return ""
    letter, num, dec = m.groups()
    return f"{letter.upper()}{num}" + (f".{dec}" if dec else "")


def load_pathologies(conditions_json: Path | str) -> dict[str, Pathology]:
    """Pathologies by their French name (the key the French release's patients use)."""
    data = json.loads(Path(conditions_json).read_text(encoding="utf-8"))
    out = {}
    for c in data.values():
        p = Pathology(
            name_en=c["cond-name-eng"],
            name_fr=c["cond-name-fr"],
            icd10=_icd10(c.get("icd10-id", "")),
            severity=int(c.get("severity", 0)),
        )
        out[p.name_fr] = p
        out.setdefault(p.name_en, p)
    return out


def read_patients(path: Path | str, pathologies: dict[str, Pathology]) -> Iterator[Patient]:
    """Patients of a DDXPlus CSV (``AGE, DIFFERENTIAL_DIAGNOSIS, SEX, PATHOLOGY, EVIDENCES,
    INITIAL_EVIDENCE``); pathology names are mapped to English.

    Raises:
        ValueError: a row that does not parse, naming its line number.
    """

    def en(name: str) -> str:
        return pathologies[name].name_en if name in pathologies else name

    with Path(path).open(encoding="utf-8", newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            try:
                evidences = tuple(ast.literal_eval(row["EVIDENCES"]))
                ddx = tuple(
                    (en(str(n)), float(pr))
                    for n, pr in ast.literal_eval(row["DIFFERENTIAL_DIAGNOSIS"])
                )
                yield Patient(
                    row=i,
                    age=int(row["AGE"]),
                    sex=row["SEX"].strip().upper()[:1],
                    pathology=en(row["PATHOLOGY"]),
                    evidences=evidences,
                    initial_evidence=row["INITIAL_EVIDENCE"],
                    differential=ddx,
                )
            except (KeyError, ValueError, SyntaxError, TypeError) as e:
                raise ValueError(f"{path}:{i + 2}: not a DDXPlus patient row: {e}") from e


def to_record(
    p: Patient, pathologies: dict[str, Pathology], prefix: str = "DDX", lang: Lang = "en"
) -> CaseRecord:
    """The patient as a case record (its full presentation as a note, the ground truth as
    its diagnosis). Dates are synthetic: DDXPlus has none."""
    pat = pathologies.get(p.pathology)
    return CaseRecord(
        record_id=f"{prefix}{p.row:06d}",
        lang=lang,
        ward_id="ED",
        age_band=age_band(p.age),
        sex=p.sex if p.sex in ("M", "F") else "U",
        admitted=date(2024, 1, 1) + timedelta(days=p.row % 365),
        los_days=0,
        diagnosis=p.pathology,
        icd10=pat.icd10 if pat else "",
        text=render_record(p, lang),
        outcome="not recorded",
    )


# --------------------------------------------------------------------------- the demo subset

DEMO_SUBSET = "ddxplus_demo.json"
DEMO_PER_PATHOLOGY = 20
_DEMO_DAYS = 3 * 365  # admissions fall in the three years before the demo's end date


def demo_ward(p: Patient) -> str:
    """The demo hospital ward a patient is filed under: paediatrics under 16, else the
    pathology's ward in the lexicon (respiratory, cardiology, surgery, ...)."""
    if p.age < 16:
        return "PED"
    entry = lexicon()["pathologies"].get(p.pathology)
    return entry["ward"] if entry else "HDU"


def demo_subset(
    cases: Path | str,
    conditions: Path | str | None = None,
    per_pathology: int = DEMO_PER_PATHOLOGY,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Up to ``per_pathology`` patients of every pathology of ``cases`` (a seeded draw),
    each rendered as a clinician's note in English and in Chinese.

    Args:
        cases: Patient CSV in the DDXPlus layout.
        conditions: ``release_conditions.json`` (default: next to ``cases``).
        per_pathology: Patients drawn per pathology (all of a rarer one).
        seed: Seed of the draw and of the synthetic admission dates.

    Returns:
        One dict per patient, by pathology then file row: ``source_id`` (file stem and
        row), ``age``, ``sex``, ``pathology`` (English), ``icd10``, ``ward``, ``days_ago``
        (admission, days before the demo's end date), ``en`` and ``zh`` (the notes).
    """
    cases = Path(cases)
    paths = load_pathologies(conditions or cases.parent / "release_conditions.json")
    by_pathology: dict[str, list[Patient]] = {}
    for p in read_patients(cases, paths):
        by_pathology.setdefault(p.pathology, []).append(p)
    rng = random.Random(seed)
    out = []
    for name in sorted(by_pathology):
        group = by_pathology[name]
        for p in sorted(rng.sample(group, min(per_pathology, len(group))), key=lambda p: p.row):
            pat = paths.get(p.pathology)
            out.append(
                {
                    "source_id": f"{cases.stem}:{p.row}",
                    "age": p.age,
                    "sex": p.sex if p.sex in ("M", "F") else "U",
                    "pathology": p.pathology,
                    "icd10": pat.icd10 if pat else "",
                    "ward": demo_ward(p),
                    "days_ago": rng.randrange(_DEMO_DAYS),
                    "en": render_record(p, "en"),
                    "zh": render_record(p, "zh"),
                }
            )
    return out


def write_demo_subset(rows: list[dict[str, Any]], path: Path | str) -> Path:
    """Write :func:`demo_subset` rows as a JSON array, one patient a line; returns ``path``."""
    path = Path(path)
    body = ",\n".join(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows)
    path.write_text(f"[\n{body}\n]\n", encoding="utf-8")
    return path


def read_demo_subset(path: Path | str | None = None) -> list[dict[str, Any]]:
    """The rendered subset: ``path``, or the packaged ``knowledge/demo_data/ddxplus_demo.json``."""
    if path is not None:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    text = files("knowledge").joinpath("demo_data", DEMO_SUBSET).read_text(encoding="utf-8")
    return json.loads(text)


def demo_sources(path: Path | str | None = None, end: date | None = None) -> Iterator[SourceCase]:
    """The rendered subset as ingest sources: two per patient (English and Chinese note),
    one patient id (so both get the same date shift), admitted ``days_ago`` before ``end``
    (default: today), length of stay 0 (DDXPlus patients are emergency presentations)."""
    end = end or date.today()
    for r in read_demo_subset(path):
        for lang in ("en", "zh"):
            yield SourceCase(
                source_id=f"ddxplus:{r['source_id']}:{lang}",
                patient_id=f"ddxplus:{r['source_id']}",
                age=r["age"],
                sex=r["sex"],
                ward_id=r["ward"],
                admitted=end - timedelta(days=r["days_ago"]),
                los_days=0,
                diagnosis=r["pathology"],
                icd10=r["icd10"],
                text=r[lang],
                outcome="not recorded",
                lang=lang,
                origin=DEMO_SUBSET,
            )


def demo_records(
    deid: Deidentifier, path: Path | str | None = None, end: date | None = None
) -> list[CaseRecord]:
    """:func:`demo_sources` de-identified as every ingested record is
    (:func:`knowledge.ingest.deidentify`: keyed pseudonymous ids, shifted dates, age bands,
    scrubbed text)."""
    return [deidentify(s, deid) for s in demo_sources(path, end)]


def main(argv: list[str] | None = None) -> None:
    """``python -m knowledge.ddxplus [CASES] [--per-pathology N] [--out FILE]``: (re)write
    the packaged demo subset from a DDXPlus patient file (default: the shared validate file)."""
    import argparse

    default = Path(__file__).resolve().parents[2] / "shared/data/ddxplus/patients_validate_fr.csv"
    ap = argparse.ArgumentParser(prog="python -m knowledge.ddxplus", description=main.__doc__)
    ap.add_argument("cases", nargs="?", type=Path, default=default)
    ap.add_argument("--per-pathology", type=int, default=DEMO_PER_PATHOLOGY)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "demo_data" / DEMO_SUBSET)
    a = ap.parse_args(argv)
    rows = demo_subset(a.cases, per_pathology=a.per_pathology, seed=a.seed)
    path = write_demo_subset(rows, a.out)
    n = len({r["pathology"] for r in rows})
    print(f"{path}: {len(rows)} patients, {n} pathologies, {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
