"""De-identification of case records before they are indexed.

Rules (applied by :meth:`Deidentifier.record` to every ingested record; docs/knowledge.md):

- **Record ids** become keyed pseudonyms: ``R`` + 16 hex digits of HMAC-SHA256(key, source
  id). The same source record always gets the same id (re-ingesting upserts), and without
  the key nobody can go back. No mapping is stored anywhere, least of all in the index.
- **Dates** move by a per-patient offset (HMAC of the patient id, 1..365 days either way):
  intervals within a patient (length of stay, days between visits) survive, calendar dates
  do not. Dates written in free text move by the same offset; a date that cannot be read
  unambiguously (``03/04/2021``) becomes ``[DATE]``; the birth date becomes ``[DOB]``.
- **Ages** become ten-year bands (``40-49``); 90 and over is one band, in free text too.
- **Names, record numbers, phone numbers, e-mail addresses, street addresses** of the
  patient (from the source's structured fields) are replaced wherever they occur in free
  text, in any letter case, with or without the digits Synthea appends to names; then
  patterns catch what the source did not list: titles with a name ("Mrs. Hoppe", "王先生"),
  labelled numbers ("MRN: 12345", "病历号"), long digit runs, phone and ID-card formats,
  e-mail addresses, URLs and street addresses (English and Chinese).

The key lives in a file outside the index (``deid.key``, mode 600, created on first use);
keep it secret, and keep it: a new key gives the same source records new ids and dates.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path

from pydantic import BaseModel, Field

from knowledge.text import CJK_CLASS

KEY_BYTES = 32
MAX_SHIFT_DAYS = 365

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))

_ISO_DATE = re.compile(
    r"\b(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_ZH_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")
_MDY_TEXT = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)
_DMY_TEXT = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE})\.?,?\s+(\d{{4}})\b", re.I)
_SLASH_DATE = re.compile(r"\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.I)
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_CN_ID = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
_PHONE = re.compile(
    r"(?<![\w/])(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)\s?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}(?![\w/])"
    r"|(?<!\d)1[3-9]\d{9}(?!\d)"
)
_LABELLED_ID = re.compile(
    r"(?i)\b(mrn|medical record(?: number| no\.?)?|record (?:number|no\.?)|patient id|"
    r"hospital (?:number|no\.?)|nhs (?:number|no\.?)|ssn|passport(?: no\.?| number)?|"
    r"driver'?s licen[cs]e(?: no\.?| number)?)\s*[:#]?\s*[A-Z0-9][A-Z0-9-]{2,}"
    r"|(病历号|住院号|门诊号|身份证号?|医保号|就诊卡号)\s*[:：]?\s*[A-Za-z0-9-]{3,}"
)
_LONG_DIGITS = re.compile(r"(?<![\d.])\d{7,}(?![\d.])")
_TITLE_NAME = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+[A-Z][a-zA-Z'-]+(?:\s+[A-Z][a-zA-Z'-]+)?"
)
_HAN = f"[{CJK_CLASS}]"  # one CJK ideograph
_HAN_OR_DIGIT = rf"[{CJK_CLASS}\d]"
_ZH_NAME = re.compile(
    rf"(?:姓名|患者姓名)\s*[:：]\s*\S{{1,4}}|{_HAN}{{1,3}}(?:先生|女士|小姐|老师)"
)
_STREET = re.compile(
    r"\b\d{1,6}\s+(?:[A-Z][a-zA-Z'-]*\s+){1,4}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|"
    r"Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Vale|Square|Sq|Highway|Hwy)\b"
)
_ZH_ADDRESS = re.compile(
    rf"{_HAN}{{2,}}(?:省|市|区|县){_HAN_OR_DIGIT}*(?:路|街|道|巷|弄|村)[\d\-]+号?"
    rf"(?:{_HAN_OR_DIGIT}*(?:栋|楼|室|单元))*"
)
_OLD_AGE_EN = re.compile(r"\b(?:9\d|1[0-4]\d)(?=[- ]?(?:years?|yrs?|y/?o)\b)", re.I)
_OLD_AGE_ZH = re.compile(r"(?<!\d)(?:9\d|1[0-4]\d)\s*(?:岁|周岁)")


class Identifiers(BaseModel):
    """What the source says about one patient; used only to scrub text, never stored."""

    names: list[str] = Field(default_factory=list)
    record_numbers: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    addresses: list[str] = Field(default_factory=list)
    birth_date: date | None = None


def load_key(path: Path | str, create: bool = True) -> bytes:
    """The de-identification key in ``path`` (hex); created (mode 600) when missing."""
    path = Path(path)
    if path.exists():
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
        if len(key) < 16:
            raise ValueError(f"{path}: de-identification key is too short")
        return key
    if not create:
        raise FileNotFoundError(f"no de-identification key at {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key.hex() + "\n")
    return key


def _variants(name: str) -> set[str]:
    """A name and its parts, with and without trailing digits (Synthea: ``Annetta816``)."""
    out = set()
    for v in (name, re.sub(r"\d+", "", name)):
        v = " ".join(v.split())
        if len(v) >= 2:
            out.add(v)
        out |= {p for p in re.split(r"[\s,]+", v) if len(p.strip(".")) >= 2}
    return out


def _literal(value: str) -> re.Pattern[str]:
    """``value`` as a case-insensitive pattern, whole words where it starts/ends with one."""
    body = re.escape(value)
    pre = r"(?<!\w)" if value[:1].isalnum() else ""
    post = r"(?!\w)" if value[-1:].isalnum() else ""
    return re.compile(pre + body + post, re.IGNORECASE)


def _digits_pattern(value: str) -> re.Pattern[str] | None:
    """A phone/record number matched by its digits, whatever the separators."""
    digits = re.sub(r"\D", "", value)
    if len(digits) < 5:
        return None
    return re.compile(r"(?<!\d)" + r"[\s().+-]*".join(digits) + r"(?!\d)")


class Deidentifier:
    """Keyed pseudonyms, per-patient date shifts and free-text scrubbing.

    Args:
        key: The secret (at least 16 bytes); see :func:`load_key`.
    """

    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("the de-identification key must be at least 16 bytes")
        self._key = key

    def _mac(self, purpose: str, value: str) -> bytes:
        return hmac.new(self._key, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()

    def pseudonym(self, source_id: str, prefix: str = "R") -> str:
        """The record id that ``source_id`` always maps to: ``prefix`` + 16 hex digits."""
        return prefix + self._mac("record", source_id).hex()[:16]

    def shift_days(self, patient_key: str) -> int:
        """This patient's date offset: -365..-1 or 1..365 days."""
        n = int.from_bytes(self._mac("date", patient_key)[:4], "big") % (2 * MAX_SHIFT_DAYS)
        return n - MAX_SHIFT_DAYS if n < MAX_SHIFT_DAYS else n - MAX_SHIFT_DAYS + 1

    def shift(self, d: date, patient_key: str) -> date:
        """``d`` moved by this patient's date offset (:meth:`shift_days`)."""
        return d + timedelta(days=self.shift_days(patient_key))

    def scrub(self, text: str, ids: Identifiers | None = None, shift_days: int = 0) -> str:
        """``text`` without the patient's identifiers and with its dates shifted."""
        ids = ids or Identifiers()
        out = text
        # 1. what the source told us about this patient, longest first
        literals: set[str] = set()
        for n in ids.names:
            literals |= _variants(n)
        if ids.birth_date:
            out = self._replace_date(out, ids.birth_date, "[DOB]")
        for value, label in (
            *((v, "[ID]") for v in ids.record_numbers),
            *((v, "[PHONE]") for v in ids.phones),
        ):
            pat = _digits_pattern(value)
            if pat is not None:
                out = pat.sub(label, out)
            if value.strip():
                out = _literal(value.strip()).sub(label, out)
        for value in ids.emails:
            if value.strip():
                out = _literal(value.strip()).sub("[EMAIL]", out)
        for value in sorted(
            {a.strip() for a in ids.addresses if len(a.strip()) >= 2}, key=len, reverse=True
        ):
            out = _literal(value).sub("[ADDRESS]", out)
        for value in sorted(literals, key=len, reverse=True):
            out = _literal(value).sub("[NAME]", out)
        # 2. patterns
        out = _EMAIL.sub("[EMAIL]", out)
        out = _URL.sub("[URL]", out)
        out = _LABELLED_ID.sub("[ID]", out)
        out = _SSN.sub("[ID]", out)
        out = _CN_ID.sub("[ID]", out)
        out = self._shift_dates(out, shift_days)
        out = _PHONE.sub("[PHONE]", out)
        out = _LONG_DIGITS.sub("[ID]", out)
        out = _TITLE_NAME.sub("[NAME]", out)
        out = _ZH_NAME.sub("[NAME]", out)
        out = _STREET.sub("[ADDRESS]", out)
        out = _ZH_ADDRESS.sub("[ADDRESS]", out)
        out = _OLD_AGE_EN.sub("90+", out)
        out = _OLD_AGE_ZH.sub("90岁以上", out)
        return out

    @staticmethod
    def _replace_date(text: str, d: date, label: str) -> str:
        for pat, fmt in (
            (_ISO_DATE, lambda m: (int(m[1]), int(m[2]), int(m[3]))),
            (_ZH_DATE, lambda m: (int(m[1]), int(m[2]), int(m[3]))),
            (_MDY_TEXT, lambda m: (int(m[3]), _MONTHS[m[1].lower()], int(m[2]))),
            (_DMY_TEXT, lambda m: (int(m[3]), _MONTHS[m[2].lower()], int(m[1]))),
        ):

            def relabel(m: re.Match[str], read: Callable[..., tuple[int, int, int]] = fmt) -> str:
                return label if read(m) == (d.year, d.month, d.day) else m[0]

            text = pat.sub(relabel, text)
        for m in list(_SLASH_DATE.finditer(text)):
            nums = [int(x) for x in re.split(r"[/.]", m[0])]
            y = nums[2] + (1900 if nums[2] >= 30 else 2000) if nums[2] < 100 else nums[2]
            if y == d.year and {nums[0], nums[1]} == {d.month, d.day}:
                text = text.replace(m[0], label)
        return text

    @staticmethod
    def _shift_dates(text: str, days: int) -> str:
        def moved(y: int, mo: int, d: int, original: str) -> str:
            try:
                return (date(y, mo, d) + timedelta(days=days)).isoformat()
            except (ValueError, OverflowError):  # no such day; shifted past year 1 or 9999
                return "[DATE]"

        text = _ISO_DATE.sub(lambda m: moved(int(m[1]), int(m[2]), int(m[3]), m[0]), text)
        text = _ZH_DATE.sub(lambda m: moved(int(m[1]), int(m[2]), int(m[3]), m[0]), text)
        text = _MDY_TEXT.sub(
            lambda m: moved(int(m[3]), _MONTHS[m[1].lower()], int(m[2]), m[0]), text
        )
        text = _DMY_TEXT.sub(
            lambda m: moved(int(m[3]), _MONTHS[m[2].lower()], int(m[1]), m[0]), text
        )
        return _SLASH_DATE.sub("[DATE]", text)


def leaks(text: str, values: Iterable[str]) -> list[str]:
    """Which of ``values`` still occur in ``text`` (case-insensitive) — for checks and tests."""
    low = text.lower()
    return [v for v in values if v and v.lower() in low]
