"""Similar past cases and a differential: decision support from the de-identified case index.

The tool finds the past admissions that best match a complaint (English or Chinese; hybrid
retrieval, :mod:`knowledge.store`) and reads them out as labelled facts: how many were
found, how well the closest one matches, and the candidate diagnoses ranked by the weight
of their supporting cases (:mod:`knowledge.differential`), each cited by record id. It is
decision support for a clinician, never a diagnosis.

Retrieved record text reaches the model only as the cases' snippets, cleaned of injected
instructions; :func:`knowledge.store.fence` wraps a snippet as inert data for a prompt.
"""

from __future__ import annotations

from pydantic import Field

from knowledge.differential import Candidate, rank_differential
from knowledge.store import CaseHit, CaseIndex, fence
from tools.result import Fact, ToolError, ToolResult
from tools.verdicts.cases import cases_verdicts

MAX_K = 20
MAX_CANDIDATES = 5
LABEL = "Decision support for a clinician, not a diagnosis"


class CasesResult(ToolResult):
    """Similar past cases, best first, the differential they suggest, and their reading."""

    hits: list[CaseHit] = Field(default_factory=list)
    differential: list[Candidate] = Field(
        default_factory=list, description="candidate diagnoses, best supported first"
    )
    notice: str = Field(
        default="", description="set when a record carried an injected instruction (removed)"
    )
    withheld: str = Field(
        default="", description="set when diagnoses were withheld for the caller's role"
    )

    def reading(self, language: str | None = None) -> dict:
        """Summary, facts, the notice, the differential and the cases' fenced snippets."""
        out = super().reading(language)
        if self.notice:
            out["notice"] = self.notice
        if self.withheld:
            out["withheld"] = self.withheld
        else:
            out["differential"] = [
                {"diagnosis": c.diagnosis, "support": c.support} for c in self.differential
            ]
        out["cases"] = [
            {
                "record_id": h.record_id,
                **({} if self.withheld else {"diagnosis": h.diagnosis, "icd10": h.icd10}),
                "ward_id": h.ward_id,
                "match": round(h.score, 2),
                "snippet": fence(h.record_id, h.snippet),
            }
            for h in self.hits
        ]
        return out


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def search_cases(
    index: CaseIndex, text: str, k: int = 5, ward_id: str | None = None
) -> CasesResult:
    """Find the past cases most similar to a patient's complaint, history or findings.

    Decision support for a clinician, not a diagnosis. Works across English and Chinese.

    Args:
        index: The hospital's case index (injected when the agent is built).
        text: The presenting complaint, history or findings to match, in English or Chinese.
        k: How many similar cases to return, 1 to 20.
        ward_id: Only cases from this ward (for example ICU, CARD, PED); omit for all wards.
    """
    text = (text or "").strip()
    if not text:
        raise ToolError(
            "bad_input",
            "No complaint or findings were given to match past cases against.",
            hint="pass the patient's presenting complaint, history or findings as text",
        )
    if not 1 <= k <= MAX_K:
        raise ToolError(
            "bad_input",
            f"k must be between 1 and {MAX_K}, got {k}.",
            hint=f"ask for 1 to {MAX_K} similar cases",
        )
    ward_id = (ward_id or "").strip() or None

    hits = index.query(text, k=k, ward_id=ward_id)
    where = f" in ward {ward_id}" if ward_id else ""
    if not hits:
        return CasesResult(
            summary=f"No past cases{where} were found to compare with.",
            facts=[Fact(label=f"similar cases found{where}", value=0, unit="cases")],
        )

    ddx = rank_differential(hits)[:MAX_CANDIDATES]
    n = len(hits)
    cited = [f"{c.diagnosis} ({', '.join(c.support)})" for c in ddx]
    head = (
        f"the most similar past case{where} is"
        if n == 1
        else f"the {n} most similar past cases{where} are"
    )
    summary = f"{LABEL}: {head} {_listing(cited)}."
    if len(ddx) > 1:
        summary += (
            f" Candidate diagnoses, best supported first: {_listing([c.diagnosis for c in ddx])}."
        )

    top = hits[0]
    facts = [
        Fact(label=f"similar cases found{where}", value=n, unit="cases"),
        Fact(label=f"most similar case {top.record_id} match score", value=round(top.score, 2)),
    ]
    facts += [
        Fact(
            label=f"cases with {c.diagnosis} among the {n} most similar",
            value=c.cases,
            unit="cases",
        )
        for c in ddx
    ]
    facts += [
        Fact(label=f"candidate diagnosis {i}", value=c.diagnosis) for i, c in enumerate(ddx, 1)
    ]

    flagged = [h.record_id for h in hits if h.flagged]
    notice = ""
    if flagged:
        notice = (
            f"{len(flagged)} retrieved record{'s' if len(flagged) > 1 else ''} "
            f"({', '.join(flagged)}) contained text written as an instruction to the assistant; "
            "it was removed from the snippet and treated as data only. Report it to the "
            "records team."
        )
    return CasesResult(
        summary=summary,
        facts=facts,
        verdicts=cases_verdicts(hits, ddx, differential=True),
        hits=hits,
        differential=ddx,
        notice=notice,
    )


def without_differential(result: CasesResult, role: str) -> CasesResult:
    """The same cases without any diagnosis: no differential, no candidate-diagnosis facts,
    no recorded diagnosis or ICD-10 code per case (for a role that may not see them)."""
    if not result.hits:
        return result
    hits = [h.model_copy(update={"diagnosis": "", "icd10": ""}) for h in result.hits]
    n = len(hits)
    withheld = f"Diagnoses are shown to clinicians only (your role: {role})."
    ids = _listing([h.record_id for h in hits])
    return result.model_copy(
        update={
            "summary": f"{n} similar de-identified past case{'s' if n > 1 else ''}: {ids}. "
            f"{withheld}",
            "facts": result.facts[:2],  # how many were found, how well the closest matches
            "hits": hits,
            "differential": [],
            "verdicts": [v for v in result.verdicts if v.id != "cases.differential"],
            "withheld": withheld,
        }
    )
