"""The ward a staff question is about, read from its own words and checked against the model's.

``resolve_ward("下周心内科需要多少张床？", wards, model_choice="ICU")`` finds 心内科 in the question
and returns CARD: the question wins over a different model argument. The words staff use for
wards (codes, English and Chinese names, abbreviations, specialty words) come from
``ward_synonyms.yaml``, keyed by ward type and by specialty, and are matched against each ward's
own names, so a hospital whose wards are not the demo's resolves too. Where several matches
overlap the longest wins ("心内科" over "内科", "cardiac arrest" is no ward).

Statuses:

- ``resolved``: one ward; from the question, or from the model when the question names none (or
  names several and the model chose one of them).
- ``ambiguous``: several wards fit ("the medical ward", or two wards named); ``candidates`` lists
  them and :func:`clarifying_question` asks which.
- ``unknown``: the question names a ward or service the hospital does not have ("the emergency
  department", "产科") and none that it has.
- ``absent``: no ward in the question and no valid one from the model.

A service the hospital lacks is listed in ``unknown`` even when another ward resolves ("move nurses
from ICU to the emergency department"), so the caller can say the hospital has none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

from knowledge.hospital import Ward
from knowledge.text import fold_ascii, has_cjk

__all__ = [
    "Service",
    "Synonyms",
    "WardResolution",
    "WardResolver",
    "clarifying_question",
    "load_synonyms",
    "question_language",
    "resolve_ward",
    "ward_names",
]

Status = Literal["resolved", "ambiguous", "unknown", "absent"]
Source = Literal["question", "model", "none"]
Language = Literal["en", "zh"]


class Service(BaseModel):
    """A kind of ward: how to recognise the hospital's wards of it, and what staff call it."""

    model_config = ConfigDict(frozen=True)

    ward_type: str | None = None
    names: tuple[str, ...] = ()
    say: tuple[str, ...] = ()


class Synonyms(BaseModel):
    """The synonyms table (``ward_synonyms.yaml``)."""

    model_config = ConfigDict(frozen=True)

    services: dict[str, Service]
    not_wards: tuple[str, ...] = ()
    clarify: dict[str, dict[str, str]]


class WardResolution(BaseModel):
    """Which ward a question is about, and why.

    Attributes:
        status: "resolved", "ambiguous", "unknown" or "absent" (see the module docstring).
        ward_id: the resolved ward's id, or None.
        candidates: the ward ids that fit when ambiguous (or the several the question named when
            the model's choice settled it), in the hospital's order.
        source: where ``ward_id`` came from: "question", "model" or "none".
        mentioned: the words of the question that name wards or services, in order.
        unknown: the words that name services the hospital does not have.
        model_choice: the model's argument, as given.
        overridden: the model gave a ward argument that was not used (the question named another,
            or it is no ward of the hospital).
    """

    model_config = ConfigDict(frozen=True)

    status: Status
    ward_id: str | None = None
    candidates: tuple[str, ...] = ()
    source: Source = "none"
    mentioned: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    model_choice: str | None = None
    overridden: bool = False


@cache
def _packaged() -> Synonyms:
    text = resources.files(__package__).joinpath("ward_synonyms.yaml").read_text(encoding="utf-8")
    return Synonyms.model_validate(yaml.safe_load(text))


def load_synonyms(path: str | Path | None = None) -> Synonyms:
    """Load a synonyms table.

    Args:
        path: a YAML file shaped like the packaged ``ward_synonyms.yaml``; None for the packaged
            one.

    Returns:
        The validated table.
    """
    if path is None:
        return _packaged()
    return Synonyms.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def question_language(text: str) -> Language:
    """The language to answer a question in: "zh" when it has any Chinese character, else "en".

    Args:
        text: the staff question.

    Returns:
        "zh" or "en".
    """
    return "zh" if has_cjk(text) else "en"


@lru_cache(maxsize=8192)
def _compile(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


@lru_cache(maxsize=8192)
def _word_pattern(word: str) -> tuple[str, int]:
    """A regex for one synonym and its flags (see the rules in ``ward_synonyms.yaml``)."""
    w = word.strip()
    if has_cjk(w):
        return re.escape(w), 0
    parts = [re.escape(p) for p in re.split(r"[\s\-]+", w) if p]
    body = r"[\s\-]*".join(parts) if "-" in w else r"[\s\-]+".join(parts)
    pattern = r"(?<![A-Za-z0-9])" + body + r"(?:s|'s|’s)?(?![A-Za-z0-9])"
    if w.isupper() and len(w) <= 3:
        return pattern, 0
    return pattern, re.IGNORECASE


def _belongs(ward: Ward, service: Service) -> bool:
    if service.ward_type is not None and ward.ward_type == service.ward_type:
        return True
    latin = f"{ward.ward_id} {ward.name_en}".lower()
    for stem in service.names:
        s = stem.lower()
        if has_cjk(s):
            if s in ward.name_zh:
                return True
        elif _compile(r"(?<![a-z0-9])" + re.escape(s)).search(latin):
            return True
    return False


# A matcher: the pattern, the ward ids it names (empty: a service the hospital lacks; None: a
# phrase that is no ward), a needle: text every match contains ("" when there is none to test
# cheaply), and whether the needle is lowercased (the pattern ignores case).
_Matcher = tuple[re.Pattern[str], tuple[str, ...] | None, str, bool]


def _needle(word: str, flags: int) -> str:
    """The first literal piece of :func:`_word_pattern`'s pattern for ``word``, if ASCII."""
    w = word.strip()
    piece = w if has_cjk(w) else next((p for p in re.split(r"[\s\-]+", w) if p), "")
    if flags & re.IGNORECASE:
        return piece.lower() if piece.isascii() else ""
    return piece


def _matcher(pattern: str, flags: int, ids: tuple[str, ...] | None, word: str) -> _Matcher:
    return (_compile(pattern, flags), ids, _needle(word, flags), bool(flags & re.IGNORECASE))


def _matchers(wards: Sequence[Ward], synonyms: Synonyms) -> list[_Matcher]:
    out: list[_Matcher] = []
    for w in wards:
        out.append(
            _matcher(
                r"(?<![A-Za-z0-9])" + re.escape(w.ward_id) + r"(?![A-Za-z0-9])",
                0,
                (w.ward_id,),
                w.ward_id,
            )
        )
        for name in (w.name_en, w.name_zh):
            pattern, flags = _word_pattern(name)
            out.append(_matcher(pattern, flags | re.IGNORECASE, (w.ward_id,), name))
    for service in synonyms.services.values():
        ids = tuple(w.ward_id for w in wards if _belongs(w, service))
        for word in service.say:
            pattern, flags = _word_pattern(word)
            out.append(_matcher(pattern, flags, ids, word))
    for phrase in synonyms.not_wards:
        pattern, flags = _word_pattern(phrase)
        out.append(_matcher(pattern, flags, None, phrase))
    return out


def _mentions(text: str, matchers: list[_Matcher]) -> list[tuple[str, tuple[str, ...]]]:
    """Non-overlapping mentions, the longest kept where several overlap, in text order.

    A pattern whose needle is not in the text cannot match and is not run (a substring test
    costs a fraction of a regex scan, and a question names a handful of the ~300 patterns).
    """
    lowered = fold_ascii(text)
    found: list[tuple[int, int, tuple[str, ...] | None]] = []
    for pattern, ids, needle, folded in matchers:
        if needle and needle not in (lowered if folded else text):
            continue
        found.extend((m.start(), m.end(), ids) for m in pattern.finditer(text))
    kept: list[tuple[int, int, tuple[str, ...] | None]] = []
    for a, b, ids in sorted(found, key=lambda t: (-(t[1] - t[0]), t[0])):
        if all(b <= ka or a >= kb for ka, kb, _ in kept):
            kept.append((a, b, ids))
    return [(text[a:b], ids) for a, b, ids in sorted(kept, key=lambda t: t[0]) if ids is not None]


def _model_ward(choice: str | None, wards: Sequence[Ward], matchers: list[_Matcher]) -> str | None:
    """The ward the model's argument names (an id, a name or a synonym), or None."""
    if not choice or not choice.strip():
        return None
    key = choice.strip().lower()
    for w in wards:
        if key in (w.ward_id.lower(), w.name_en.lower(), w.name_zh):
            return w.ward_id
    named = {i for _, ids in _mentions(choice, matchers) for i in ids}
    return named.pop() if len(named) == 1 else None


class WardResolver:
    """Resolves wards for one hospital; the patterns are compiled once, when it is built.

    Build it where the agent is built (the wards and the synonyms table are its dependencies)
    and call :meth:`resolve` on each question; :func:`resolve_ward` is the one-shot form.

    Args:
        wards: the hospital's wards.
        synonyms: a synonyms table; None for the packaged ``ward_synonyms.yaml``.
    """

    def __init__(self, wards: Sequence[Ward], synonyms: Synonyms | None = None) -> None:
        self.wards = tuple(wards)
        self.synonyms = synonyms or _packaged()
        self._matchers = _matchers(self.wards, self.synonyms)
        self._order = [w.ward_id for w in self.wards]
        # a turn resolves its question three or four times (routing, the tool's arguments,
        # the answer's check): the scan runs once per text
        self._mentions = lru_cache(maxsize=256)(self._scan)

    def _scan(self, text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return tuple(_mentions(text, self._matchers))

    def resolve(self, text: str, model_choice: str | None = None) -> WardResolution:
        """Find the ward a question is about and reconcile it with the model's argument.

        Args:
            text: the staff question, English or Chinese.
            model_choice: the ward argument the model put in its tool call (an id, a name or a
                synonym), if any.

        Returns:
            The resolution: the question's own ward wins over a different model choice; with no
            ward in the question the model's choice is kept when it is one of the hospital's
            wards; two wards named are ambiguous unless the model chose one of them; an
            umbrella word matching several wards ("the medical ward", "内科") is ambiguous
            whatever the model chose.
        """
        mentions = self._mentions(text)
        model = _model_ward(model_choice, self.wards, self._matchers)
        given = bool(model_choice and model_choice.strip())
        common = dict(
            mentioned=tuple(words for words, _ in mentions),
            unknown=tuple(words for words, ids in mentions if not ids),
            model_choice=model_choice,
        )
        specific = {ids[0] for _, ids in mentions if len(ids) == 1}
        groups = {i for _, ids in mentions if len(ids) > 1 for i in ids}
        for named in (specific, groups):
            if len(named) == 1:
                (ward_id,) = named
                return WardResolution(
                    status="resolved",
                    ward_id=ward_id,
                    source="question",
                    overridden=given and model != ward_id,
                    **common,
                )
            if named:
                candidates = tuple(i for i in self._order if i in named)
                if model in named and named is specific:
                    # two wards named and the model chose one of them; an umbrella word
                    # ("the medical ward") is asked back whatever ward the model guessed
                    return WardResolution(
                        status="resolved",
                        ward_id=model,
                        candidates=candidates,
                        source="model",
                        **common,
                    )
                return WardResolution(
                    status="ambiguous", candidates=candidates, overridden=given, **common
                )
        if common["unknown"]:
            return WardResolution(status="unknown", overridden=given, **common)
        if model is not None:
            return WardResolution(status="resolved", ward_id=model, source="model", **common)
        return WardResolution(status="absent", overridden=given, **common)


def resolve_ward(
    text: str,
    wards: Sequence[Ward],
    model_choice: str | None = None,
    *,
    synonyms: Synonyms | None = None,
) -> WardResolution:
    """Find the ward a question is about and reconcile it with the model's argument.

    One-shot form of :meth:`WardResolver.resolve` (which compiles the patterns once; prefer it
    when resolving many questions for the same hospital).

    Args:
        text: the staff question, English or Chinese.
        wards: the hospital's wards.
        model_choice: the ward argument the model put in its tool call (an id or a name), if any.
        synonyms: a synonyms table; None for the packaged ``ward_synonyms.yaml``.

    Returns:
        The resolution: the question's own ward wins over a different model choice; with no ward
        in the question the model's choice is kept when it is one of the hospital's wards.
    """
    return WardResolver(wards, synonyms).resolve(text, model_choice)


def ward_names(
    wards: Sequence[Ward],
    language: Language,
    ids: Sequence[str] | None = None,
    *,
    synonyms: Synonyms | None = None,
) -> list[str]:
    """The wards' display names in one language, each with its code ("Cardiology (CARD)").

    Args:
        wards: the hospital's wards.
        language: "en" or "zh".
        ids: only these ward ids (in the hospital's order); None for every ward.
        synonyms: a synonyms table; None for the packaged one.

    Returns:
        One name per ward.
    """
    template = (synonyms or _packaged()).clarify[language]["ward"]
    keep = None if ids is None else set(ids)
    return [template.format(**w.model_dump()) for w in wards if keep is None or w.ward_id in keep]


def _join(items: list[str], separator: str, last: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return separator.join(items[:-1]) + last + items[-1]


def clarifying_question(
    resolution: WardResolution,
    wards: Sequence[Ward],
    language: Language,
    *,
    synonyms: Synonyms | None = None,
) -> str | None:
    """The question to send back when the ward is not clear, naming the wards to choose from.

    Args:
        resolution: what :func:`resolve_ward` returned.
        wards: the hospital's wards.
        language: the question's language, "en" or "zh" (see :func:`question_language`).
        synonyms: a synonyms table; None for the packaged one.

    Returns:
        The question ("Which ward do you mean: Cardiology (CARD) or Respiratory (RESP)?"), or None
        when the ward is resolved.
    """
    if resolution.status == "resolved":
        return None
    texts = (synonyms or _packaged()).clarify[language]
    ids = resolution.candidates if resolution.status == "ambiguous" else None
    names = ward_names(wards, language, ids, synonyms=synonyms)
    last = texts["or"] if resolution.status == "ambiguous" else texts["and"]
    listed = _join(names, texts["separator"], last)
    mentioned = _join(list(dict.fromkeys(resolution.unknown)), texts["separator"], texts["also"])
    return texts[resolution.status].format(wards=listed, mentioned=mentioned)
