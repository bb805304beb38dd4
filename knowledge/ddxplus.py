"""DDXPlus patients as case records and triage queries, in English and Chinese.

DDXPlus (Fansi Tchango et al., NeurIPS 2022 Datasets track; CC-BY, Mila) gives synthetic
patients with a ground-truth pathology, the evidences they would report (symptoms and
antecedents, French codes in the French release: ``fievre``,
``douleurxx_endroitducorps_@_palais``, ...), the evidence they opened with
(``INITIAL_EVIDENCE``) and a published differential (``DIFFERENTIAL_DIAGNOSIS``).

:func:`render_record` writes a full patient as a clinician's note (English);
:func:`render_query` writes a partial presentation as a triage nurse would say it, in
English or Chinese, from the initial evidence plus a few others. Both use one phrase table
(:data:`PHRASES`) that covers every evidence code of the French validate file; a code it
does not know is rendered from its own words (``douleurxx_endroitducorps_@_genou_D_`` ->
"pain location: genou (right)"), so any file in the DDXPlus layout renders.
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
from pathlib import Path
from typing import Literal

from knowledge.records import CaseRecord, age_band

Lang = Literal["en", "zh"]

# code -> (kind, English, Chinese); kind: "S" symptom, "A" antecedent (history, exposure).
PHRASES: dict[str, tuple[str, str, str]] = {
    # symptoms
    "douleurxx": ("S", "pain related to the presenting complaint", "与本次就诊相关的疼痛"),
    "toux": ("S", "cough", "咳嗽"),
    "rhino_clair": ("S", "nasal congestion or clear runny nose", "鼻塞或流清涕"),
    "fievre": ("S", "fever", "发热"),
    "irritable": ("S", "irritable with unstable mood", "易激惹，情绪不稳"),
    "prurit_nasal": ("S", "itchy nose or palate", "鼻子或上腭发痒"),
    "prurit_occ": ("S", "severe itching of the eyes", "眼睛剧烈瘙痒"),
    "crach_sg": ("S", "coughing up blood", "咳血"),
    "stridor": ("S", "high-pitched noise on breathing in (stridor)", "吸气时有高调喘鸣音"),
    "posttus_emesis": ("S", "vomiting after coughing", "咳嗽后呕吐"),
    "toux_sev": ("S", "intense coughing fits", "剧烈阵发性咳嗽"),
    "expecto": ("S", "cough with coloured or more abundant sputum", "咳嗽，痰多或痰有颜色"),
    "insp_siffla": ("S", "whooping inspiration after coughing fits", "咳嗽后吸气时有鸡鸣样回声"),
    "volume_parole": ("S", "hoarse, deeper or softer voice", "声音嘶哑或变低"),
    "ballon_abdo": ("S", "bloated or distended abdomen", "腹胀"),
    "palpit": ("S", "palpitations, heart racing or skipping beats", "心悸，心跳快或漏跳"),
    "perte_poids": ("S", "involuntary weight loss over the last 3 months", "近3个月非自主体重下降"),
    "ww_valsalva": (
        "S",
        "symptoms worse with coughing, lifting or straining",
        "咳嗽、提重物或用力排便时症状加重",
    ),
    "obstipation": ("S", "not passing stools or gas", "无排便排气"),
    "pls_irreg": ("S", "heart beating very irregularly", "心跳非常不规则"),
    "ww_effort": (
        "S",
        "symptoms worse on exertion and relieved by rest",
        "活动后症状加重，休息后缓解",
    ),
    "lesions_peau": ("S", "skin lesions or redness", "皮肤病变或发红"),
    "anxiete_s": ("S", "feels anxious", "感到焦虑"),
    "dyspn": ("S", "significant shortness of breath", "明显气促"),
    "etourdissement": ("S", "slightly dizzy or light-headed", "轻度头晕"),
    "faible": ("S", "feels faint, about to pass out", "感觉快要晕倒"),
    "rhino_pur": ("S", "green or yellow nasal discharge", "流黄绿色脓涕"),
    "diarrhee": ("S", "diarrhoea or more frequent stools", "腹泻或排便次数增多"),
    "rds_sg": ("S", "unusual bleeding or bruising", "异常出血或瘀斑"),
    "confusion": ("S", "confused or disoriented", "意识模糊、定向障碍"),
    "hyponos": ("S", "loss of sense of smell", "嗅觉丧失"),
    "pyrosis": ("S", "burning rising from the stomach to the throat", "烧心，胃部烧灼感上涌至咽喉"),
    "ww_bouffe": ("S", "symptoms worse after eating", "进食后症状加重"),
    "rds_deg": ("S", "new fatigue and general malaise", "新近乏力、全身不适"),
    "msk_dlr": ("S", "diffuse muscle pain", "全身肌肉酸痛"),
    "gorge_dlr": ("S", "sore throat", "咽痛"),
    "dysp_effort": ("S", "short of breath on minimal effort", "稍活动即气促"),
    "nausee": ("S", "nausea", "恶心"),
    "fatig_mod": ("S", "tired all the time, unrefreshing sleep", "持续疲劳，睡眠不解乏"),
    "vo_sg": ("S", "vomiting blood or coffee-ground material", "呕血或咖啡样物"),
    "diaph": ("S", "heavy sweating", "大量出汗"),
    "impression_mort": ("S", "feeling of impending death", "濒死感"),
    "etouff": ("S", "feeling of choking or suffocating", "窒息感"),
    "rds_anorexie": ("S", "loss of appetite or weight", "食欲减退或体重下降"),
    "melena": ("S", "black tarry stools", "黑便"),
    "psy_depers": ("S", "feels detached from own body or surroundings", "感觉与自身或环境脱离"),
    "ww_nuit": ("S", "symptoms worse at night", "夜间症状加重"),
    "adp_dlr": ("S", "swollen or painful lymph nodes", "淋巴结肿大或疼痛"),
    "ww_dd": ("S", "symptoms worse lying down, better sitting up", "平卧时症状加重，坐起缓解"),
    "oedeme": ("S", "swelling", "水肿"),
    # antecedents
    "j45": ("A", "asthma or past bronchodilator use", "哮喘或曾用支气管扩张剂"),
    "vaccination": ("A", "vaccinations up to date", "疫苗已按时接种"),
    "H6690": ("A", "recent oral antibiotics for an ear infection", "近期因耳部感染口服抗生素"),
    "z84.89": ("A", "prone to common allergies", "易患常见过敏"),
    "f17.210": ("A", "daily cigarette smoker", "每日吸烟"),
    "fam_atopie": (
        "A",
        "close family with allergies, hay fever or eczema",
        "近亲有过敏、花粉症或湿疹",
    ),
    "urban1": ("A", "lives in a big city", "住在大城市"),
    "fam_j45": ("A", "family history of asthma", "有哮喘家族史"),
    "z92.25": ("A", "immunosuppressed", "免疫抑制"),
    "e66": ("A", "significantly overweight", "明显超重"),
    "dayc": ("A", "attends or works in a daycare", "上托儿所或在托儿所工作"),
    "e10_e11": ("A", "diabetes", "糖尿病"),
    "crowd": ("A", "lives with 4 or more people", "与4人以上同住"),
    "j06.9": ("A", "a cold in the last 2 weeks", "近2周内感冒"),
    "contact": (
        "A",
        "contact with someone with similar symptoms in the last 2 weeks",
        "近2周接触过有类似症状的人",
    ),
    "v85.0": ("A", "underweight, BMI under 18.5", "体重过低，BMI低于18.5"),
    "f10.129": ("A", "excessive alcohol use", "酗酒"),
    "ap_fk": ("A", "cystic fibrosis", "囊性纤维化"),
    "HIV": ("A", "HIV infection", "HIV感染"),
    "cont_coq": ("A", "contact with a case of whooping cough", "接触过百日咳患者"),
    "drogues_IV": ("A", "intravenous drug use", "静脉注射吸毒"),
    "ap_par": ("A", "rheumatoid arthritis", "类风湿关节炎"),
    "k21": ("A", "known gastro-oesophageal reflux", "胃食管反流病史"),
    "cortico": ("A", "takes corticosteroids", "使用糖皮质激素"),
    "z77.22": ("A", "daily second-hand smoke exposure", "每日接触二手烟"),
    "crohn_cu": ("A", "Crohn's disease or ulcerative colitis", "克罗恩病或溃疡性结肠炎"),
    "j44_j42": ("A", "chronic obstructive pulmonary disease (COPD)", "慢性阻塞性肺疾病"),
    "j17_j18": ("A", "previous pneumonia", "既往肺炎"),
    "perinatality": ("A", "born prematurely or birth complications", "早产或出生时有并发症"),
    "ap_valve": ("A", "known heart valve problem", "心脏瓣膜病"),
    "i25.1": ("A", "previous heart attack or angina", "既往心肌梗死或心绞痛"),
    "bode": ("A", "severe COPD", "重度慢阻肺"),
    "i10": ("A", "high blood pressure", "高血压"),
    "malf_cardiaque": ("A", "known heart defect", "先天性心脏畸形"),
    "ap_hypert4": ("A", "hyperthyroidism", "甲状腺功能亢进"),
    "ap_asian": ("A", "Asian descent", "亚裔"),
    "drogues_stimul": ("A", "regular stimulant drug use", "经常使用兴奋剂"),
    "drink_energie": ("A", "regular energy drinks", "经常喝功能饮料"),
    "cafe": ("A", "drinks coffee or tea regularly", "经常喝咖啡或茶"),
    "wakeup": (
        "A",
        "recent decongestants or other stimulants",
        "近期服用减充血剂或其他兴奋性物质",
    ),
    "j33": ("A", "nasal polyps", "鼻息肉"),
    "ebolacase": ("A", "contact with an Ebola case in the last month", "近一个月接触过埃博拉患者"),
    "j34.2": ("A", "deviated nasal septum", "鼻中隔偏曲"),
    "hernie_hiatale": ("A", "hiatal hernia", "食管裂孔疝"),
    "B34.9": ("A", "recent viral infection", "近期病毒感染"),
    "preg1": ("A", "pregnant", "怀孕"),
    "f41.9": ("A", "chronic anxiety", "慢性焦虑"),
    "s09.90": ("A", "previous head injury", "头部外伤史"),
    "atcdpsyfam": ("A", "family history of psychiatric illness", "精神疾病家族史"),
    "f32": ("A", "diagnosed depression", "抑郁症病史"),
    "histfammigraine": ("A", "migraine, own or in the family", "本人或家族偏头痛史"),
}

# Values of multiple-choice evidences: body sites, pain characters, travel regions.
VALUES: dict[str, tuple[str, str]] = {
    "palais": ("palate", "上腭"),
    "fosse_iliaque_D_": ("right iliac fossa", "右髂窝"),
    "fosse_iliaque_G_": ("left iliac fossa", "左髂窝"),
    "testicule_D_": ("right testicle", "右侧睾丸"),
    "testicule_G_": ("left testicle", "左侧睾丸"),
    "amygdale_D_": ("right tonsil", "右侧扁桃体"),
    "amygdale_G_": ("left tonsil", "左侧扁桃体"),
    "pharynx": ("pharynx", "咽部"),
    "oreille_D_": ("right ear", "右耳"),
    "oreille_G_": ("left ear", "左耳"),
    "hanche_D_": ("right hip", "右髋"),
    "hanche_G_": ("left hip", "左髋"),
    "cartilage_thyroidien": ("thyroid cartilage", "甲状软骨"),
    "sous_la_machoire": ("under the jaw", "下颌下"),
    "flanc_D_": ("right flank", "右侧腰腹"),
    "flanc_G_": ("left flank", "左侧腰腹"),
    "hypochondre_D_": ("right upper abdomen", "右上腹"),
    "hypochondre_G_": ("left upper abdomen", "左上腹"),
    "tempe_D_": ("right temple", "右太阳穴"),
    "tempe_G_": ("left temple", "左太阳穴"),
    "ventre": ("belly", "腹部"),
    "bouche": ("mouth", "口腔"),
    "joue_D_": ("right cheek", "右脸颊"),
    "joue_G_": ("left cheek", "左脸颊"),
    "nez": ("nose", "鼻子"),
    "haut_du_thorax": ("upper chest", "上胸部"),
    "bas_du_thorax": ("lower chest", "下胸部"),
    "sein_D_": ("right breast", "右乳"),
    "sein_G_": ("left breast", "左乳"),
    "pubis": ("pubis", "耻骨区"),
    "oeil_D_": ("right eye", "右眼"),
    "oeil_G_": ("left eye", "左眼"),
    "front": ("forehead", "前额"),
    "colonne_cervicale": ("cervical spine", "颈椎"),
    "occiput": ("back of the head", "枕部"),
    "nulle_part": ("nowhere", "无"),
    "pale": ("pale", "苍白"),
    # pain character
    "sensible": ("tender", "触痛性"),
    "une_lourdeur_ou_serrement": ("heavy or tight", "沉重或紧缩性"),
    "vive": ("sharp", "尖锐"),
    "une_pulsation": ("throbbing", "搏动性"),
    "une_crampe": ("cramping", "痉挛性"),
    "un_coup_de_couteau": ("stabbing", "刀割样"),
    "un_tiraillement": ("pulling", "牵拉样"),
    "une_brulure": ("burning", "烧灼样"),
    "lancinante": ("shooting", "放射样"),
    "épuisante": ("exhausting", "令人疲惫"),
    "violente": ("violent", "剧烈"),
    "déchirante": ("tearing", "撕裂样"),
    # travel
    "N": ("no", "无"),
    "O": ("yes", "是"),
    "AmerN": ("North America", "北美"),
    "AmerC": ("Central America", "中美洲"),
    "AmerS": ("South America", "南美"),
    "AfriqO": ("West Africa", "西非"),
    "AfriqN": ("North Africa", "北非"),
    "AfriqS": ("Southern Africa", "南部非洲"),
    "AfriqC": ("Central Africa", "中非"),
    "AfriqE": ("East Africa", "东非"),
    "Asie": ("Asia", "亚洲"),
    "AsieSSE": ("South-East Asia", "东南亚"),
    "Caraibe": ("the Caribbean", "加勒比地区"),
    "Europe": ("Europe", "欧洲"),
    "MoyenOrient": ("the Middle East", "中东"),
    "Oceanie": ("Oceania", "大洋洲"),
}

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
