"""Entity grounding: an answer naming a ward, code, drug, diagnosis or service no tool output
holds is caught; one that only repeats the tools' own names is not."""

from __future__ import annotations

import json

import pytest

from agent.entities import check_entities, ungrounded, ward_mentions
from knowledge.hospital import Ward


def _ward(ward_id, en, zh, kind="general"):
    return Ward(ward_id=ward_id, name_en=en, name_zh=zh, ward_type=kind, beds=30, surge_beds=3,
                rn_per_shift=6, nurse_ratio=5)  # fmt: skip


WARDS = [_ward("CARD", "Cardiology", "心内科"), _ward("ORTH", "Orthopaedics", "骨科"),
         _ward("ICU", "Intensive care", "重症监护室", "icu")]  # fmt: skip
FORECAST = json.dumps(
    {"ward_id": "CARD", "summary": "Cardiology (CARD): P90 peak 41 beds", "facts": []},
    ensure_ascii=False,
)
CASES = json.dumps(
    {
        "hits": [
            {
                "record_id": "C00042",
                "diagnosis": "community-acquired pneumonia",
                "icd10": "J18.9",
                "text": "treated with amoxicillin",
            }
        ]
    }  # fmt: skip
)


def _bad(answer, texts):
    return ungrounded(check_entities(answer, wards=WARDS, tool_texts=texts))


def test_an_answer_that_repeats_the_tools_names_is_grounded():
    assert _bad("Cardiology may exceed its beds on Saturday.", [FORECAST]) == []
    assert _bad("心内科周六可能超出床位。", [FORECAST]) == []
    assert _bad("Closest record C00042: community-acquired pneumonia (J18.9).", [CASES]) == []


def test_a_ward_no_tool_mentioned_is_caught():
    assert _bad("Move two nurses from Orthopaedics to Cardiology.", [FORECAST]) == [
        "ward: Orthopaedics"
    ]


def test_a_service_the_hospital_does_not_have_is_caught():
    bad = _bad("Move nurses to the emergency department and the operating theatre.", [FORECAST])
    assert bad == ["service: emergency department", "service: operating theatre"]
    assert _bad("建议从急诊调护士。", [FORECAST]) == ["service: 急诊"]


def test_an_invented_icd_code_or_record_id_is_caught():
    bad = _bad("Likely J06.9 (see record C00077) or J18.9.", [CASES])
    assert "code: J06.9" in bad and "record: C00077" in bad and "code: J18.9" not in bad


def test_a_made_up_drug_or_diagnosis_is_caught():
    assert _bad("Start ceftriaxone.", [CASES]) == ["drug: ceftriaxone"]
    assert _bad("It could be influenza.", [CASES]) == ["diagnosis: influenza"]
    assert _bad("可以用阿莫西林。", [CASES]) == ["drug: 阿莫西林"]


@pytest.mark.parametrize(
    "answer",
    [
        "The diagnosis can be set as community-acquired pneumonia.",
        "The patient is diagnosed with community-acquired pneumonia.",
        "该患者诊断为社区获得性肺炎。",
    ],
)
def test_a_diagnosis_stated_as_the_patients_own_is_never_grounded(answer):
    assert any(b.startswith("assertion:") for b in _bad(answer, [CASES]))


def test_units_and_quantiles_are_not_codes():
    assert _bad("P90 peak for CARD; SpO2 and P10 are words here.", [FORECAST]) == []


def test_ward_mentions_reads_codes_and_both_names():
    assert ward_mentions("ICU and 骨科, then Cardiology", WARDS) == {
        "ICU": "ICU",
        "ORTH": "骨科",
        "CARD": "Cardiology",
    }
