"""Tool arguments resolved by code from the question's own words: date windows, shifts, wards.

Pure functions with no LLM and no agent imports: the agent calls them on each question and passes
the results to the tools (or asks the user back when a ward is unclear or a window is beyond the
horizon).
"""

from agent.resolve.dates import DateWindow, Shift, parse_number, resolve_shift, resolve_window
from agent.resolve.wards import (
    Synonyms,
    WardResolution,
    WardResolver,
    clarifying_question,
    load_synonyms,
    question_language,
    resolve_ward,
    ward_names,
)

__all__ = [
    "DateWindow",
    "Shift",
    "Synonyms",
    "WardResolution",
    "WardResolver",
    "clarifying_question",
    "load_synonyms",
    "parse_number",
    "question_language",
    "resolve_shift",
    "resolve_ward",
    "resolve_window",
    "ward_names",
]
