"""FHIR R4 bundles as case sources: one record per Encounter that has a diagnosis.

A bundle (``transaction``, ``collection``, ``searchset`` or ``batch``; Synthea writes
transaction bundles) is read whole. For every Encounter with a Condition that points at it,
or a ``reasonCode``, :func:`read_bundle` yields a :class:`~knowledge.ingest.SourceCase`:

- diagnosis: the encounter's first Condition (by onset), else its reason;
  ICD-10 when a coding of ``http://hl7.org/fhir/sid/icd-10(-cm)`` is present;
- text: a clinician-style note: who, the encounter type and class, reason, conditions,
  observations (value and unit), medication requests, and any free-text ``note``;
- ward: the encounter's first location name, else its class (``AMB``, ``EMER``, ``IMP``);
- admitted / discharged: the encounter's period; outcome: its discharge disposition;
- identifiers (for scrubbing only): the Patient's names, identifier values, telecom,
  addresses, birth date, mother's maiden name.

References are resolved as ``urn:uuid:<id>`` or ``<Type>/<id>``. An entry that cannot be
read is reported as a :class:`~knowledge.ingest.Problem` with its entry number; the rest of
the bundle loads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from pydantic import ValidationError

from knowledge.deid import Identifiers
from knowledge.ingest import Problem, SourceCase, describe

ICD10_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm")
_CLASS = {"AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient", "ACUTE": "inpatient"}
_SUFFIX = re.compile(r"\s*\((disorder|finding|procedure|situation|event)\)\s*$", re.I)
MAX_OBSERVATIONS = 12


def _ref_id(ref: object) -> str:
    r = ref.get("reference", "") if isinstance(ref, dict) else ""
    return r.rsplit(":", 1)[-1].rsplit("/", 1)[-1] if isinstance(r, str) else ""


def _concept(cc: dict | None) -> str:
    cc = cc or {}
    text = cc.get("text") or next(
        (c.get("display") for c in cc.get("coding", []) if c.get("display")), ""
    )
    return _SUFFIX.sub("", str(text)).strip()


def _icd10(cc: dict | None) -> str:
    for c in (cc or {}).get("coding", []):
        if c.get("system") in ICD10_SYSTEMS and c.get("code"):
            return str(c["code"])
    return ""


def _when(value: str | None) -> date | None:
    if not value:
        return None
    return (
        datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        if "T" in value
        else date.fromisoformat(value[:10])
    )


def _identifiers(patient: dict) -> Identifiers:
    names: list[str] = []
    for n in patient.get("name", []):
        names += [g for g in n.get("given", [])]
        if n.get("family"):
            names.append(n["family"])
        if n.get("text"):
            names.append(n["text"])
    for ext in patient.get("extension", []):
        if ext.get("url", "").endswith("patient-mothersMaidenName") and ext.get("valueString"):
            names.append(ext["valueString"])
    addresses: list[str] = []
    for a in patient.get("address", []):
        addresses += list(a.get("line", []))
        addresses += [a[k] for k in ("city", "postalCode", "district", "text") if a.get(k)]
    return Identifiers(
        names=names,
        record_numbers=[i["value"] for i in patient.get("identifier", []) if i.get("value")]
        + ([patient["id"]] if patient.get("id") else []),
        phones=[
            t["value"]
            for t in patient.get("telecom", [])
            if t.get("system") != "email" and t.get("value")
        ],
        emails=[
            t["value"]
            for t in patient.get("telecom", [])
            if t.get("system") == "email" and t.get("value")
        ],
        addresses=addresses,
        birth_date=_when(patient.get("birthDate")),
    )


def _observation(o: dict) -> str:
    what = _concept(o.get("code"))
    q = o.get("valueQuantity")
    if q and q.get("value") is not None:
        v = q["value"]
        v = round(v, 1) if isinstance(v, float) else v
        return f"{what} {v} {q.get('unit', '')}".strip()
    if o.get("valueCodeableConcept"):
        return f"{what}: {_concept(o['valueCodeableConcept'])}"
    if o.get("valueString"):
        return f"{what}: {o['valueString']}"
    comps = []
    for c in o.get("component", []):
        cq = c.get("valueQuantity") or {}
        if cq.get("value") is not None:
            cv = cq["value"]
            cv = round(cv, 1) if isinstance(cv, float) else cv
            comps.append(f"{_concept(c.get('code'))} {cv} {cq.get('unit', '')}".strip())
    return f"{what} ({'; '.join(comps)})" if comps else what


def _notes(resource: dict) -> list[str]:
    return [n["text"] for n in resource.get("note", []) if n.get("text")]


def _who(age: int | None, gender: str) -> str:
    noun = {"female": "woman", "male": "man"}.get(gender, "patient")
    if age is not None and age < 18:
        noun = {"female": "girl", "male": "boy"}.get(gender, "child")
    return f"{age}-year-old {noun}" if age is not None else noun.capitalize()


def read_bundle(path: Path | str, label: str | None = None) -> Iterator[SourceCase | Problem]:
    """Case sources of one FHIR bundle file (see the module doc).

    Args:
        path: The bundle.
        label: How problems name the file (default: its name). Exports often name a
            bundle after its patient (Synthea: ``Given_Family_uuid.json``); pass a neutral
            label ("bundle 3/12") so that no report or log repeats it.
    """
    path = Path(path)
    name = label or path.name
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:  # ValueError: also a 5000-digit number
        where = f"line {e.lineno}" if isinstance(e, json.JSONDecodeError) else "file"
        yield Problem(source=name, position=where, message=f"not a JSON file ({type(e).__name__})")
        return
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        yield Problem(source=name, position="file", message="not a FHIR Bundle")
        return
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        yield Problem(source=name, position="entry", message="not a list of entries")
        return
    by_type: dict[str, dict[str, tuple[int, dict]]] = {}
    for i, entry in enumerate(entries, start=1):
        r = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(r, dict) or not isinstance(r.get("resourceType"), str):
            yield Problem(source=name, position=f"entry {i}", message="no resource")
            continue
        rid = str(r.get("id") or _ref_id({"reference": entry.get("fullUrl")}))
        by_type.setdefault(r["resourceType"], {})[rid] = (i, r)
    patients = by_type.get("Patient", {})
    linked: dict[str, dict[str, list[dict]]] = {}
    for rtype in ("Condition", "Observation", "MedicationRequest"):
        for _, r in by_type.get(rtype, {}).values():
            enc_id = _ref_id(r.get("encounter") or r.get("context"))
            linked.setdefault(enc_id, {}).setdefault(rtype, []).append(r)
    for eid, (pos, enc) in by_type.get("Encounter", {}).items():
        try:
            src = _encounter_case(name, pos, eid, enc, patients, linked.get(eid, {}))
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            msg = describe(e) if isinstance(e, ValidationError) else type(e).__name__
            if isinstance(e, ValueError) and not isinstance(e, ValidationError):
                msg = str(e)
            yield Problem(source=name, position=f"entry {pos} (Encounter)", message=msg)
            continue
        if src is not None:
            yield src


def _encounter_case(
    name: str,
    pos: int,
    eid: str,
    enc: dict,
    patients: dict[str, tuple[int, dict]],
    linked: dict[str, list[dict]],
) -> SourceCase | None:
    conditions = sorted(
        linked.get("Condition", []),
        key=lambda c: str(c.get("onsetDateTime") or c.get("recordedDate") or ""),
    )
    reasons = [_concept(r) for r in enc.get("reasonCode", []) if _concept(r)]
    if not conditions and not reasons:
        return None  # a check-up without a diagnosis is not a case
    pid = _ref_id(enc.get("subject"))
    if pid not in patients:
        raise ValueError("subject: no Patient with that id in the bundle")
    patient = patients[pid][1]
    period = enc.get("period") or {}
    try:
        start = _when(period.get("start"))
        end = _when(period.get("end"))
    except ValueError:
        raise ValueError("period: not a date") from None
    if start is None:
        raise ValueError("period.start: missing")
    ids = _identifiers(patient)
    age = None
    if ids.birth_date:
        b = ids.birth_date
        age = start.year - b.year - ((start.month, start.day) < (b.month, b.day))
    gender = str(patient.get("gender", "unknown"))
    cls = (enc.get("class") or {}).get("code", "")
    etype = next((_concept(t) for t in enc.get("type", []) if _concept(t)), "encounter")
    cond_names = [_concept(c.get("code")) for c in conditions if _concept(c.get("code"))]
    diagnosis = cond_names[0] if cond_names else reasons[0]
    icd = next((_icd10(c.get("code")) for c in conditions if _icd10(c.get("code"))), "")
    if not icd:
        icd = next((_icd10(r) for r in enc.get("reasonCode", []) if _icd10(r)), "")
    obs = [_observation(o) for o in linked.get("Observation", [])]
    obs = [o for o in dict.fromkeys(obs) if o][:MAX_OBSERVATIONS]
    meds = list(
        dict.fromkeys(
            m
            for m in (
                _concept(r.get("medicationCodeableConcept"))
                for r in linked.get("MedicationRequest", [])
            )
            if m
        )
    )
    notes = _notes(enc) + [n for c in conditions for n in _notes(c)]
    notes += [n for r in linked.get("Observation", []) for n in _notes(r)]
    notes += [n for r in linked.get("MedicationRequest", []) for n in _notes(r)]
    parts = [f"{_who(age, gender)}, {etype.lower()} ({_CLASS.get(cls, cls.lower() or 'visit')})."]
    if reasons:
        parts.append(f"Reason: {', '.join(reasons)}.")
    if cond_names:
        parts.append(f"Conditions: {', '.join(dict.fromkeys(cond_names))}.")
    if obs:
        parts.append(f"Observations: {'; '.join(obs)}.")
    if meds:
        parts.append(f"Medications: {', '.join(meds)}.")
    parts += [n.strip().rstrip(".") + "." for n in notes if n.strip()]
    locations = [(loc.get("location") or {}).get("display", "") for loc in enc.get("location", [])]
    ward = next((x for x in locations if x), "") or cls or "UNKNOWN"
    disposition = _concept((enc.get("hospitalization") or {}).get("dischargeDisposition"))
    return SourceCase(
        source_id=f"fhir:{pid}:{eid}",
        patient_id=f"fhir:{pid}",
        identifiers=ids,
        age=age if age is not None and age >= 0 else None,
        sex={"female": "F", "male": "M"}.get(gender, "U"),
        ward_id=ward,
        admitted=start,
        discharged=end if end and end >= start else None,
        diagnosis=diagnosis,
        icd10=icd,
        text=" ".join(parts),
        outcome=disposition,
        origin=name,
        position=f"entry {pos} (Encounter)",
    )


def bundle_files(paths: list[Path]) -> list[Path]:
    """The ``*.json`` files among ``paths`` (folders are searched, sorted)."""
    out: list[Path] = []
    for p in paths:
        out += sorted(p.rglob("*.json")) if p.is_dir() else [p]
    return out
