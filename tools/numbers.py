"""Numbers as a person writes them, and as a fact holds them: one rule for every tool.

A sentence says ``12`` or ``12.5``, never ``12.0`` or ``1.25e1``; a fact's value is the same
number (an ``int`` when whole), so the grounding check finds the sentence's number among the
facts.
"""

from __future__ import annotations


def plain(x: float) -> str:
    """``x`` as a person writes it: at most two decimals, no trailing zeros, no exponent."""
    x = round(float(x), 2)
    return str(int(x)) if x.is_integer() else f"{x:.2f}".rstrip("0").rstrip(".")


def value(x: float, digits: int | None = 2) -> float | int:
    """``x`` as a fact's value: rounded to ``digits`` decimals (None: as is), an int when whole."""
    x = float(x) if digits is None else round(float(x), digits)
    return int(x) if x.is_integer() else x
