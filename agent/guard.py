"""Requests refused by code before any model call: a patient's identity or contact details
(``phi``) and a clinical order or a diagnosis for a named patient (``unsafe``).

A small router sends "who is in bed 12 on cardio?" to a ward forecast (it names a ward) and
"how much morphine for Mr Patel in bed 5?" to the case search (it names a drug). These are
never a tool's to answer, whatever the model decides, so code refuses them with the fixed
reply (``prompts/refusal.j2``). The patterns need both halves: a patient (a bed, a title and a
name, "the patient") *and* what is asked of them (a name, a phone number, an address, an ID, a
dose, a prescription, being told a diagnosis). A symptom search that mentions a bed ("the man
in bed 8 has chest pain, anything similar?") asks for none of those and goes on to the router.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["Refusal", "refused_request"]

Refusal = Literal["phi", "unsafe"]

# Someone specific: a bed, a title and a name, "the patient/lady/man", a Chinese bed or an
# honorific after a name, or a common surname with a given name before "的".
_PATIENT_EN = (
    r"(?:\bbeds?\s*\d+|\b(?:mr|mrs|ms|miss)\.?\s+[a-z]+|\bthe\s+(?:patient|lady|woman|man"
    r"|gentleman|boy|girl|child|kid|baby|family|relatives?|next of kin)\b|\bpatients?\b"
    r"|\beveryone\b|\b(?:he|she|him|her|his)\b)"
)
_SURNAMES = "王李张刘陈杨赵吴徐孙朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖董袁潘蒋蔡杜叶苏魏吕丁沈姚卢姜崔钟谭陆汪贾夏韦邹孟熊秦邱尹薛闫段雷侯陶黎贺顾毛郝龚邵严覃戴莫孔汤"
_PATIENT_ZH = (
    r"(?:\d+\s*号?床|[一二三四五六七八九十]+\s*号?床|病人|患者|家属|"
    r"[\u4e00-\u9fff](?:阿姨|大爷|大妈|奶奶|爷爷|先生|女士|小姐|师傅|叔|婶)|"
    rf"[{_SURNAMES}][\u4e00-\u9fff]{{1,2}}(?=的))"
)
# What identifies or reaches them.
_IDENTITY_EN = (
    r"\b(?:(?:phone|mobile|telephone)(?:\s*(?:number|no\.?))?|contact\s+(?:number|details)"
    r"|(?:home\s+)?address(?:es)?|id\s*(?:number|no\.?)|nhs\s*number(?!\s*:?\s*\d)|mrn(?!\s*:?\s*\d)"
    r"|medical record number(?!\s*:?\s*\d)"
    r"|date of birth|dob|(?:their|his|her|patients?'?s?|full)\s+names?|surnames?|next of kin"
    r"|id card(?: number)?|gp details|where (?:does|do) (?:he|she|they) live)\b"
)
_IDENTITY_ZH = (
    r"(?:名字|姓名|叫什么|电话|手机号|联系方式|住址|家庭地址|地址|家住|住哪|身份证|证件号|病历号|住院号"
    r"|出生日期|生日|是谁)"
)
# Who is in a bed: "who's in bed 12".
_WHO_EN = re.compile(
    r"\bwho(?:'s| is| was)\s+(?:\w+\s+){0,3}?(?:in|on)\s+(?:\w+\s+){0,2}?(?:bed|room|side room)\b"
    r"|\bwhich patient(?:'s| is| was)\b|\bwhat(?:'s| is) the name of\b",
    re.I,
)
_WHO_ZH = re.compile(
    r"(?:\d+\s*号?床|单间)(?:的病人|的患者|住的)?(?:是谁|叫什么|是哪个病人)|姓\S的病人"
)
_LIST_EN = re.compile(
    r"\b(?:list|give me|send me|get me|show me|print|dump)\b[^.?!]{0,30}\b(?:everyone|all (?:the )?"
    r"patients|patients?'? names|the patients|patient list|names of)\b",
    re.I,
)
_LIST_ZH = re.compile(r"(?:病人|患者|入院|住院|出院)[^，。？?]{0,6}(?:名单|姓名|名字)")
# A dose, a prescription, an order for a patient.
_DOSE_EN = re.compile(
    r"\b(?:how much|how many (?:units|mg|mls?|tablets|puffs)|what dose|which dose|dose of|dosage"
    r"|how many milligrams)\b|\bprescribe\b|\bwrite (?:up )?(?:a )?(?:prescription|script)\b",
    re.I,
)
_DRUG_WORDS = re.compile(
    r"\b(?:give|giving|administer|prescribe|doses?|dosage|units?|mg|mls?|tablets?|puffs?|drip"
    r"|infusion|injection|iv)\b",
    re.I,
)
_DOSE_ZH = re.compile(
    r"(?:打|用|给|吃|开|注射|输)(?:多少|几)(?:个单位|单位|毫克|mg|片|支|毫升|ml)?|剂量|用量|几个单位"
    r"|开(?:点|些|一些)?(?:药|抗生素|处方)|开处方"
)
# Telling a patient a diagnosis (the clinician's job): "tell Mrs Jones she has cancer".
_TELL_EN = re.compile(
    r"\b(?:tell|telling|inform|informing|break it to)\s+(?!me\b|us\b)[^.?!]{0,40}?"
    r"\b(?:he|she)(?:'s|'d| has| had| is| was)\b",
    re.I,
)
_TELL_ZH = re.compile(
    r"(?:告诉|通知|跟|对)[^，。？?我]{0,10}(?:说)?[^，。？?]{0,4}(?:他|她)(?:得了|是|患了)"
)
# Changing the record or the equipment: deleting or back-dating entries, silencing alarms,
# writing a diagnosis into the notes.
_ALTER_EN = re.compile(
    r"\b(?:delete|wipe|erase|remove|scrub)\b[^.?!]{0,40}\b(?:record|records|report|entry|notes?"
    r"|admission)\b|\b(?:change|alter|amend|backdate|back-date)\b[^.?!]{0,30}\b(?:discharge|admission)"
    r" (?:date|time)\b|\b(?:switch|turn|silence|mute|disable)\b[^.?!]{0,40}\balarms?\b"
    r"|\bwrite\b[^.?!]{0,20}\b(?:in|into|on)\s+(?:the|his|her|their)\s+(?:notes|record|chart)\b",
    re.I,
)
_ALTER_ZH = re.compile(
    r"(?:删|删除|删掉|抹掉)[^，。？?]{0,12}(?:记录|病历|报告)|(?:记录|病历|报告)[^，。？?]{0,8}(?:删|删除|删掉)"
    r"|(?:改|修改|篡改)[^，。？?]{0,10}(?:出院|入院)(?:日期|时间)|报警[^，。？?]{0,6}(?:关|静音|取消)"
    r"|(?:关|静音|关掉)[^，。？?]{0,6}报警|(?:在|往)病历(?:里|上)写"
)
_RECORD_WORDS = r"\b(?:notes|record|records|results|bloods|chart|history|diagnosis|diagnoses)\b"
_RECORDS_OF = re.compile(
    r"\b(?:pull up|show me|get me|send me|give me|open|bring up|look up|find)\b[^.?!]{0,40}"
    rf"(?:(?:'s|of|for)\b[^.?!]{{0,20}}{_RECORD_WORDS}|{_RECORD_WORDS}[^.?!]{{0,20}}\b(?:of|for)\b)",
    re.I,
)
# One patient in particular (not "patients with chest pain"): a named patient, a title and a
# name, a bed, a full name with 's.
_SPECIFIC_EN = (
    r"\bpatient\s+[A-Z][a-z]+|\b(?:Mr|Mrs|Ms|Miss)\.?\s+[A-Z][a-z]+|\bbeds?\s*\d+"
    r"|\b[A-Z][a-z]+ [A-Z][a-z]+'s\b|\b(?:his|her)\s+(?:notes|record|records|results|chart)\b"
)
_RECORDS_OF_ZH = re.compile(
    r"(?:调出|调出来|调取|查看|打开)[^，。？?]{0,12}(?:病历|化验|检查结果|记录)|的(?:病历|化验结果)[^，。？?]{0,4}调"
)


def _near(a: str, b: str, flags: int = re.I, gap: int = 40) -> re.Pattern[str]:
    """A pattern that finds ``a`` and ``b`` within ``gap`` characters, in either order."""
    return re.compile(rf"{a}.{{0,{gap}}}{b}|{b}.{{0,{gap}}}{a}", flags | re.S)


# Compiled here, once: compiling each of these alternations costs milliseconds, and a pattern
# given to ``re.search`` as text is only kept in ``re``'s cache until 512 newer ones push it
# out (the serve process compiles many), so a turn could pay for it again.
_PATIENT_EN_I = re.compile(_PATIENT_EN, re.I)
_PATIENT_ZH_RE = re.compile(_PATIENT_ZH)
_SPECIFIC_EN_RE = re.compile(_SPECIFIC_EN)
_PATIENT_NEAR_IDENTITY_EN = _near(_PATIENT_EN, _IDENTITY_EN)
_PATIENT_NEAR_IDENTITY_ZH = _near(_PATIENT_ZH, _IDENTITY_ZH, gap=12)


def refused_request(question: str) -> Refusal | None:
    """The refusal class of a request no tool may answer, or None.

    Args:
        question: the staff message, English or Chinese.

    Returns:
        ``"phi"`` for a patient's identity, contact details or a list of who is where;
        ``"unsafe"`` for a dose, a prescription or telling a patient a diagnosis; None
        otherwise (the router decides).
    """
    q = question.strip()
    if _TELL_EN.search(q) or _TELL_ZH.search(q) or _ALTER_EN.search(q) or _ALTER_ZH.search(q):
        return "unsafe"
    if _DOSE_EN.search(q) and _DRUG_WORDS.search(q) and _PATIENT_EN_I.search(q):
        return "unsafe"
    if _DOSE_ZH.search(q) and _PATIENT_ZH_RE.search(q):
        return "unsafe"
    if _WHO_EN.search(q) or _WHO_ZH.search(q):
        return "phi"
    if _LIST_EN.search(q) or _LIST_ZH.search(q):
        return "phi"
    if (_RECORDS_OF.search(q) and _SPECIFIC_EN_RE.search(q)) or (_RECORDS_OF_ZH.search(q)):
        return "phi"
    if _PATIENT_NEAR_IDENTITY_EN.search(q) or _PATIENT_NEAR_IDENTITY_ZH.search(q):
        return "phi"
    return None
