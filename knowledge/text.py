"""Which characters are CJK ideographs: one definition for the whole project (and the text a
case-insensitive search of ASCII words is tested against, :func:`fold_ascii`).

English and Chinese are told apart, the lexical index cuts Chinese into bigrams, and the
de-identifier finds Chinese names and addresses, all with the ranges below:

- U+3400-U+4DBF  CJK Unified Ideographs Extension A (rare characters),
- U+4E00-U+9FFF  CJK Unified Ideographs (every common Chinese character),
- U+F900-U+FAFF  CJK Compatibility Ideographs.

Kana, Hangul, CJK punctuation (``，。``) and full-width forms are not ideographs and do not count.
"""

from __future__ import annotations

import re

CJK_CLASS = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
"""The ranges above as the body of a regex character class: ``f"[{CJK_CLASS}]"``."""

_CJK = re.compile(f"[{CJK_CLASS}]")


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds at least one CJK ideograph (see the module docstring)."""
    return _CJK.search(text) is not None


def count_cjk(text: str) -> int:
    """How many CJK ideographs ``text`` holds."""
    return len(_CJK.findall(text))


# What a case-insensitive ``re`` pattern of ASCII letters also matches beyond their two cases
# (the re docs: "İ", "ı", "ſ" and the Kelvin sign; the only characters besides ASCII whose
# lowercase holds ASCII), folded to ASCII before ``str.lower``.
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


def fold_ascii(text: str) -> str:
    """``text`` lowercased with the four characters above folded to ASCII: an ASCII word that
    a case-insensitive ``re`` pattern finds in ``text`` is in it, lowercased, as a substring
    (so a substring test can rule a pattern out before its regex scan)."""
    return text.translate(_FOLD).lower()
