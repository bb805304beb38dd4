"""Lexical retrieval: a tokenizer for English and Chinese, and an in-memory BM25 index.

:func:`tokenize` lower-cases and NFKC-normalises text, keeps English words and numbers
(``7/10`` and ``18.5`` stay whole), drops a short stop list, strips plural endings, adds
the bigram of every two neighbouring words (so "left ear" and "right ear" differ), and
cuts runs of Chinese characters into overlapping character bigrams, the standard
dictionary-free way to index Chinese (Lucene's CJK analyser does the same).

:class:`BM25Index` scores with Okapi BM25 (k1, b) over a sparse document-term matrix
(``scipy.sparse``), so a query costs one sparse product over the documents that share
its terms; optional per-document filters (ward, age band, admission date) are boolean
masks. Documents are added, replaced and removed by id; the matrix is rebuilt lazily on
the next query after a change.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from knowledge.text import CJK_CLASS

_WORD = re.compile(r"[a-z0-9]+(?:[./'][a-z0-9]+)*")
_CJK = re.compile(f"[{CJK_CLASS}]+")
_CLAUSE = re.compile(r"\.(?!\d)|,(?!\d)|[;:!?()\[\]\n，。；：！？、（）]")
_STOP = frozenset(
    """a an and are as at be but by for from had has have he her his if in into is it its
    of on or she that the their then there these they this to was were will with
    presenting presents reports also""".split()
)


def _stem(w: str) -> str:
    """A light English stemmer: plural endings only (enough for clinical phrases)."""
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def tokenize(text: str, bigrams: bool = True) -> list[str]:
    """Index terms of ``text``: English words (stemmed, stop words dropped), their
    in-clause bigrams, and Chinese character bigrams."""
    text = unicodedata.normalize("NFKC", text).lower()
    out: list[str] = []
    for clause in _CLAUSE.split(text):
        if not clause.strip():
            continue
        words: list[str] = []
        pos = 0
        for m in _CJK.finditer(clause):
            words += [_stem(w) for w in _WORD.findall(clause[pos : m.start()]) if w not in _STOP]
            run = m.group()
            if len(run) == 1:
                out.append(run)
            else:
                out += [run[i : i + 2] for i in range(len(run) - 1)]
            pos = m.end()
        words += [_stem(w) for w in _WORD.findall(clause[pos:]) if w not in _STOP]
        out += words
        if bigrams:
            out += [f"{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
    return out


class BM25Index:
    """Okapi BM25 over tokenised documents, held in memory.

    Args:
        k1: Term-frequency saturation.
        b: Length normalisation (0: none, 1: full).
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75):
        self.k1 = k1
        self.b = b
        self._docs: dict[str, Counter[str]] = {}
        self._attrs: dict[str, dict[str, str | int]] = {}
        self._dirty = True
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._vocab: dict[str, int] = {}
        self._matrix: Any = None  # scipy.sparse.csc_matrix, docs x terms, BM25 weights
        self._columns: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self._docs

    def upsert(
        self,
        doc_id: str,
        tokens: Sequence[str],
        attrs: dict[str, str | int] | None = None,
    ) -> None:
        """Add or replace one document (its terms and its filterable attributes)."""
        self._docs[doc_id] = Counter(tokens)
        self._attrs[doc_id] = dict(attrs or {})
        self._dirty = True

    def remove(self, doc_ids: Iterable[str]) -> None:
        """Drop these documents; ids not in the index are ignored."""
        for d in doc_ids:
            if self._docs.pop(d, None) is not None:
                self._attrs.pop(d, None)
                self._dirty = True

    def _build(self) -> None:
        from scipy import sparse

        ids = list(self._docs)
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[int] = []
        lengths = np.zeros(len(ids), dtype=np.float64)
        for i, d in enumerate(ids):
            counts = self._docs[d]
            lengths[i] = sum(counts.values())
            for term, tf in counts.items():
                j = vocab.setdefault(term, len(vocab))
                rows.append(i)
                cols.append(j)
                tfs.append(tf)
        n = len(ids)
        r = np.asarray(rows, dtype=np.int64)
        c = np.asarray(cols, dtype=np.int64)
        tf_arr = np.asarray(tfs, dtype=np.float64)
        df = np.bincount(c, minlength=len(vocab)).astype(np.float64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        avgdl = float(lengths.mean()) if n else 1.0
        norm = self.k1 * (1.0 - self.b + self.b * lengths / max(avgdl, 1e-9))
        w = idf[c] * tf_arr * (self.k1 + 1.0) / (tf_arr + norm[r])
        self._matrix = sparse.csc_matrix(
            (w.astype(np.float32), (r, c)), shape=(n, len(vocab)), dtype=np.float32
        )
        self._ids = ids
        self._pos = {d: i for i, d in enumerate(ids)}
        self._vocab = vocab
        self._columns = {}
        for key in {k for a in self._attrs.values() for k in a}:
            self._columns[key] = np.asarray([self._attrs[d].get(key) for d in ids], dtype=object)
        self._dirty = False

    def mask(self, where: dict[str, object] | None) -> np.ndarray | None:
        """Boolean mask of the documents whose attributes satisfy ``where``.

        ``where`` maps an attribute to a value (equality), a list/tuple/set (membership) or
        a ``(lo, hi)`` dict ``{"gte": lo, "lte": hi}`` (either bound optional).
        """
        if not where:
            return None
        if self._dirty:
            self._build()
        n = len(self._ids)
        keep = np.ones(n, dtype=bool)
        for key, cond in where.items():
            col = self._columns.get(key)
            if col is None:
                return np.zeros(n, dtype=bool)
            if isinstance(cond, dict):
                vals = np.asarray([v if v is not None else math.nan for v in col], dtype=float)
                if "gte" in cond:
                    keep &= vals >= float(cond["gte"])
                if "lte" in cond:
                    keep &= vals <= float(cond["lte"])
            elif isinstance(cond, list | tuple | set | frozenset):
                keep &= np.isin(col, list(cond))
            else:
                keep &= col == cond
        return keep

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every document (in :attr:`ids` order) for the query ``tokens``."""
        if self._dirty:
            self._build()
        n = len(self._ids)
        q = Counter(t for t in tokens if t in self._vocab)
        if not q or n == 0:
            return np.zeros(n, dtype=np.float32)
        cols = np.fromiter((self._vocab[t] for t in q), dtype=np.int64, count=len(q))
        weights = np.fromiter(q.values(), dtype=np.float32, count=len(q))
        return np.asarray(self._matrix[:, cols] @ weights).ravel()

    def position(self, doc_id: str) -> int | None:
        """Index of ``doc_id`` in :attr:`ids` (and in a :meth:`scores` array)."""
        if self._dirty:
            self._build()
        return self._pos.get(doc_id)

    @property
    def ids(self) -> list[str]:
        """Every document id, in matrix row order."""
        if self._dirty:
            self._build()
        return self._ids

    def document_frequency(self, term: str) -> int:
        """How many documents contain ``term``."""
        if self._dirty:
            self._build()
        j = self._vocab.get(term)
        if j is None or self._matrix is None:
            return 0
        return int(self._matrix.indptr[j + 1] - self._matrix.indptr[j])

    def search(
        self, tokens: Sequence[str], n: int, where: dict[str, object] | None = None
    ) -> list[tuple[str, float]]:
        """The ``n`` best documents with a positive score, best first: ``[(id, score)]``."""
        s = self.scores(tokens)
        keep = self.mask(where)
        if keep is not None:
            s = np.where(keep, s, 0.0)
        return self.top(s, n)

    def top(self, s: np.ndarray, n: int) -> list[tuple[str, float]]:
        """The ``n`` best positive entries of a :meth:`scores` array: ``[(id, score)]``."""
        pos = np.flatnonzero(s > 0)
        if pos.size == 0:
            return []
        if pos.size > n:
            top = pos[np.argpartition(-s[pos], n - 1)[:n]]
        else:
            top = pos
        top = top[np.lexsort((top, -s[top]))]  # score desc, then insertion order
        ids = self._ids
        return [(ids[i], float(s[i])) for i in top]
