"""One definition of CJK ideographs: has_cjk, count_cjk and the regex class CJK_CLASS."""

from __future__ import annotations

import re

import pytest

from knowledge.text import CJK_CLASS, count_cjk, has_cjk


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("胸痛", True),
        ("chest pain 胸痛", True),
        ("\u3400", True),  # first of Extension A
        ("\u4dbf", True),  # last of Extension A
        ("\u4e00", True),  # first unified ideograph
        ("\u9fff", True),  # last unified ideograph
        ("\uf900", True),  # first compatibility ideograph
        ("\ufaff", True),  # last compatibility ideograph
        ("", False),
        ("chest pain, 37.5 °C", False),
        ("，。；：！？", False),  # CJK punctuation is not an ideograph
        ("ｃｈｅｓｔ", False),  # full-width Latin
        ("かな カナ", False),  # kana
        ("한국어", False),  # Hangul
        ("\u33ff", False),  # just below Extension A
        ("\u4dc0", False),  # Yijing hexagram symbols, between the ranges
        ("\ufb00", False),  # just past the compatibility ideographs
    ],
)
def test_has_cjk(text, expected):
    assert has_cjk(text) is expected


def test_count_cjk_counts_ideographs_only():
    assert count_cjk("") == 0
    assert count_cjk("chest pain") == 0
    assert count_cjk("胸痛，发热。fever") == 4
    assert count_cjk("\u3400\u4e00\uf900") == 3


def test_cjk_class_is_a_regex_character_class_body():
    run = re.compile(f"[{CJK_CLASS}]+")
    assert run.findall("ECG示ST段抬高，予PCI") == ["示", "段抬高", "予"]
    assert re.fullmatch(f"[{CJK_CLASS}]", "\u9fa5")
