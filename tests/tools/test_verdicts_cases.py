"""Similar-case verdicts on a real tiny index: a close match with its differential and
supporting records, "no close match" for a presentation the base does not hold, and no
differential for a role that may not see diagnoses."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest

from knowledge.cases_demo import generate_cases
from knowledge.store import CaseIndex
from tools.registry import call_tool
from tools.roles import Caller, Role
from tools.verdicts.cases import CLOSE_MATCH_FLOOR

COPD = "worsening breathlessness and wheeze, coughing up more sputum"
COPD_ZH = "气促、喘息加重，咳痰量增多"
ANKLE = "sprained left ankle after a fall, swollen and bruised"
ANKLE_ZH = "跌倒后左踝扭伤，肿胀淤青"


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory):
    index = CaseIndex(tmp_path_factory.mktemp("verdict_index"))
    index.build(generate_cases(80, seed=7, end=date(2025, 6, 30)), batch=64)
    return index


@pytest.fixture()
def cctx(ctx, tiny_index):
    return replace(ctx, case_index_factory=lambda: tiny_index)


def read(result, vid: str, language: str = "en"):
    (v,) = [x for x in result.verdicts if x.id == vid and x.language == language]
    return v


@pytest.mark.parametrize("text", [COPD, COPD_ZH])
def test_a_close_match_gives_the_differential_with_its_records(cctx, text):
    r = call_tool(cctx.for_caller(Caller("dr.wang", Role.CLINICIAN)), "similar_cases",
                  {"text": text, "k": 5})  # fmt: skip
    assert r.ok
    close = read(r, "cases.close_match")
    assert close.polarity is True and r.hits[0].score >= CLOSE_MATCH_FLOOR
    ddx, ddx_zh = read(r, "cases.differential"), read(r, "cases.differential", "zh")
    top = r.differential[0]
    assert f"{top.cases} record" in ddx.text and all(rid in ddx.text for rid in top.support)
    assert all(rid in ddx_zh.text for rid in top.support) and f"{top.cases}条记录" in ddx_zh.text
    ids = {h.record_id for h in r.hits}
    assert set(re.findall(r"C\d{5}", ddx.text)) <= ids  # only records the tool returned
    assert "not a diagnosis" in ddx.text and "不是诊断" in ddx_zh.text
    zh = ddx_zh.text + read(r, "cases.close_match", "zh").text
    words = set(re.findall(r"[A-Za-z][A-Za-z0-9.\-]*", zh))
    assert words <= ids | {c.icd10 for c in r.differential}, words


@pytest.mark.parametrize("text", [ANKLE, ANKLE_ZH])
def test_no_close_match_below_the_floor_and_no_diagnosis_offered(cctx, text):
    r = call_tool(cctx.for_caller(Caller("dr.wang", Role.CLINICIAN)), "similar_cases",
                  {"text": text, "k": 5})  # fmt: skip
    close = read(r, "cases.close_match")
    assert close.polarity is False and r.hits[0].score < CLOSE_MATCH_FLOOR
    assert close.text.startswith("No past case is a close match")
    assert read(r, "cases.close_match", "zh").text.startswith("没有接近的既往病例")
    ddx = read(r, "cases.differential")
    assert ddx.text.startswith("No candidate diagnoses are offered") and not ddx.facts
    for h in r.hits:
        assert h.diagnosis not in ddx.text


def test_a_nurse_gets_the_match_verdict_but_no_differential(cctx):
    r = call_tool(cctx.for_caller(Caller("li.na", Role.NURSE)), "similar_cases",
                  {"text": COPD})  # fmt: skip
    assert r.ok and r.withheld
    assert {v.id for v in r.verdicts} == {"cases.close_match"}
    assert len(r.reading()["verdicts"]) == 2
    assert all(h.diagnosis == "" for h in r.hits)
