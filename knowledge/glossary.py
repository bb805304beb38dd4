"""The glossary: Chinese clinical phrases glossed in English, for the lexical side of a query.

BM25 matches words, so a Chinese question shares none with an English record and the
hybrid score falls back to the cosine alone. A :class:`Glossary` rewrites the Chinese
phrases it knows into English words before BM25 sees them ("发热，咳嗽，疼痛强度5/10" ->
"fever, cough, pain intensity 5/10"): longest phrase first, left to right; characters
outside its phrases (numbers, Latin text, punctuation) pass through, Chinese characters it
does not know are dropped (a phrase may hold Latin letters too: ``HIV感染``). :attr:`Gloss.coverage` is the share of the query's Chinese
characters it glossed, so a query it only partly understands gets proportionally weaker
lexical evidence on English records (:meth:`knowledge.store.CaseIndex.candidates`).

:func:`default_glossary` is built from the bilingual DDXPlus lexicon
(``knowledge/demo_data/ddxplus_zh.json``, read by :func:`ddxplus_lexicon`): every evidence phrase, answer value and
pathology name in Chinese with its English, plus the words of the rendering templates.
Phrases of one Chinese character are left out (``无`` is "no" in one evidence and
"nowhere" in another), except template words listed on purpose (``岁``, ``伴``). A
Chinese phrase with several English renderings is glossed as all of them.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from knowledge.text import count_cjk, has_cjk


@dataclass(frozen=True)
class Gloss:
    """A text with its known Chinese phrases in English.

    Attributes:
        text: The English rendering (unknown Chinese characters dropped).
        coverage: Share of the text's Chinese characters inside a known phrase (0..1; 0 for
            a text without Chinese).
    """

    text: str
    coverage: float


class Glossary:
    """Chinese phrase -> English words, applied longest phrase first.

    Args:
        pairs: ``(chinese, english)`` pairs; a Chinese phrase given several times is glossed
            as all its English renderings joined.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]]):
        table: dict[str, list[str]] = {}
        for zh, en in pairs:
            zh = unicodedata.normalize("NFKC", zh).strip()
            en = " ".join(en.split())
            if not zh:
                continue
            known = table.setdefault(zh, [])
            if en not in known:
                known.append(en)
        self._table = {zh: " ".join(e for e in ens if e) for zh, ens in table.items()}
        self._longest = max((len(k) for k in self._table), default=0)

    def __len__(self) -> int:
        return len(self._table)

    def translate(self, text: str) -> Gloss:
        """``text`` with every known Chinese phrase replaced by its English (see the module)."""
        text = unicodedata.normalize("NFKC", text)
        out: list[str] = []
        cjk = covered = 0
        i, n = 0, len(text)
        while i < n:
            for size in range(min(self._longest, n - i), 0, -1):
                en = self._table.get(text[i : i + size])
                if en is not None:
                    span = count_cjk(text[i : i + size])
                    cjk += span
                    covered += span
                    out.append(f" {en} ")
                    i += size
                    break
            else:
                if has_cjk(text[i]):  # unknown Chinese: dropped
                    cjk += 1
                    out.append(" ")
                else:
                    out.append(text[i])
                i += 1
        return Gloss(" ".join("".join(out).split()), covered / cjk if cjk else 0.0)


def lexicon_pairs(lexicon: Mapping) -> list[tuple[str, str]]:
    """The ``(chinese, english)`` pairs of a DDXPlus lexicon (see :func:`default_glossary`)."""
    pairs: list[tuple[str, str]] = []
    for e in lexicon["evidences"].values():
        pairs.append((e["zh"], e["en"]))
    for v in lexicon["values"].values():
        pairs.append((v["zh"], v["en"]))
    for name, p in lexicon["pathologies"].items():
        pairs.append((p["zh"], name))
    long = [(zh, en) for zh, en in pairs if len(zh) > 1]
    return long + list(lexicon["terms"].items())


LEXICON = "ddxplus_zh.json"


@cache
def ddxplus_lexicon() -> dict[str, Any]:
    """The bilingual DDXPlus lexicon (package data ``knowledge/demo_data/ddxplus_zh.json``):
    ``evidences`` (code -> kind, ``en``, ``zh``), ``values`` (answer value -> ``en``,
    ``zh``), ``pathologies`` (English name -> ``fr``, ``zh``, demo ``ward``) and ``terms``
    (Chinese words of the rendering templates and common complaints -> English)."""
    text = files("knowledge").joinpath("demo_data", LEXICON).read_text(encoding="utf-8")
    return json.loads(text)


@cache
def default_glossary() -> Glossary:
    """The packaged glossary: the DDXPlus lexicon's phrases and template words."""
    return Glossary(lexicon_pairs(ddxplus_lexicon()))
