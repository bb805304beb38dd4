"""`wardwise bench retrieval`: case retrieval and differential accuracy on DDXPlus, measured.

Protocol (docs/knowledge.md):

1. A DDXPlus patient file is split in half with a seeded permutation. The first half is
   indexed as case records (each patient written as a clinician's note, English); the
   second half becomes triage queries: a partial presentation, the initial evidence plus
   ``query_evidences`` other evidences drawn with the seed, as a nurse would say it
   (English, and the same draws in Chinese for the cross-lingual rows).
2. The fusion weight is tuned on the indexed half only (:meth:`CaseIndex.tune` with 400
   leave-one-out triage queries made the same way from indexed patients), never on the
   queries.
3. For every query the ``k`` best cases of each method (BM25 only, dense only, hybrid) give
   a differential (:func:`knowledge.differential.rank_differential`); top-1/3/5 accuracy is
   the share of queries whose true pathology is among its first 1/3/5 candidates, and the
   published ``DIFFERENTIAL_DIAGNOSIS`` overlap is the precision and recall of its top 5
   against the published list. The anchor row is TF-IDF k-nearest-neighbours over the raw
   evidence codes of the same records and queries. The ceiling row is no retriever: for
   each query it counts the pathologies of the indexed patients who have every one of its
   evidences (raw codes), the best any differential from these records can do with what
   the query says.
4. The index is then padded with generated records (:func:`knowledge.cases_demo
   .generate_cases`) to each size in ``sizes``; at each size, hybrid query latency
   (p50/p95, embedding included) and the dense index's recall@10 against exact brute-force
   search over the stored vectors are measured (strict: shared ids; ``_ties``: as
   ann-benchmarks counts, a result no farther than the true 10th neighbour + 1e-3); ingest
   speed is records per second over all padding (de-duplication check, embedding, upsert).
5. Top-3 differences between methods come with a 95% paired bootstrap interval.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge.cases_demo import generate_cases
from knowledge.ddxplus import Patient, load_pathologies, read_patients, render_query, to_record
from knowledge.differential import rank_differential
from knowledge.store import Candidate, CaseIndex, Method, query_language, rank

DEFAULT_CASES = Path(__file__).resolve().parents[2] / "shared/data/ddxplus/patients_validate_fr.csv"


@dataclass
class _Hit:
    record_id: str
    diagnosis: str
    icd10: str
    score: float


def _differential(cands: Sequence[Candidate], k: int) -> list[str]:
    hits = [
        _Hit(c.record_id, str(c.meta.get("diagnosis", "")), str(c.meta.get("icd10", "")), c.score)
        for c in cands[:k]
    ]
    return [c.diagnosis for c in rank_differential(hits)]


class _Scores:
    """Accumulates top-n accuracy and differential overlap for one method."""

    def __init__(self, method: str):
        self.method = method
        self.n = 0
        self.top: Counter[int] = Counter()
        self.hits3: list[bool] = []
        self.precision = 0.0
        self.recall = 0.0

    def add(self, ranked: list[str], truth: str, published: Sequence[str]) -> None:
        self.n += 1
        for t in (1, 3, 5):
            self.top[t] += truth in ranked[:t]
        self.hits3.append(truth in ranked[:3])
        mine = set(ranked[:5])
        pub = set(published)
        if mine and pub:
            self.precision += len(mine & pub) / len(mine)
            self.recall += len(mine & pub) / len(pub)

    def row(self) -> dict:
        n = max(1, self.n)
        return {
            "method": self.method,
            "top1": round(self.top[1] / n, 4),
            "top3": round(self.top[3] / n, 4),
            "top5": round(self.top[5] / n, 4),
            "ddx_precision5": round(self.precision / n, 4),
            "ddx_recall5": round(self.recall / n, 4),
            "queries": self.n,
        }


def _code_counts(index_patients: Sequence[Patient], queries: Sequence[Sequence[str]]) -> tuple:
    """Sparse code-count matrices (patients x codes, queries x codes) over the codes the
    indexed patients use; a query's unknown codes are dropped."""
    from scipy import sparse

    vocab: dict[str, int] = {}
    for p in index_patients:
        for e in p.evidences:
            vocab.setdefault(e, len(vocab))

    def matrix(docs: Sequence[Sequence[str]]):
        r, c, v = [], [], []
        for i, d in enumerate(docs):
            for t, n in Counter(t for t in d if t in vocab).items():
                r.append(i)
                c.append(vocab[t])
                v.append(n)
        return sparse.csr_matrix((v, (r, c)), shape=(len(docs), len(vocab)), dtype=np.float64)

    return matrix([p.evidences for p in index_patients]), matrix(queries)


def _tfidf_anchor(
    index_patients: Sequence[Patient], queries: Sequence[list[str]], k: int
) -> list[list[str]]:
    """TF-IDF (smoothed idf, l2) cosine kNN over raw evidence codes; similarity-weighted votes."""
    from scipy import sparse

    d, q = _code_counts(index_patients, queries)
    df = np.asarray((d > 0).sum(axis=0)).ravel()
    idf = np.log((1 + d.shape[0]) / (1 + df)) + 1

    def l2(m):
        m = m.multiply(idf).tocsr()
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1
        return sparse.diags(1 / norms) @ m

    sims = (l2(q) @ l2(d).T).toarray()
    labels = [p.pathology for p in index_patients]
    out = []
    for s in sims:
        top = np.argpartition(-s, min(k, len(s) - 1))[:k]
        top = top[np.argsort(-s[top], kind="stable")]
        votes: dict[str, float] = {}
        for i in top:
            votes[labels[i]] = votes.get(labels[i], 0.0) + float(s[i]) + 1e-9
        out.append(sorted(votes, key=lambda x: -votes[x]))
    return out


def _exact_posterior(
    index_patients: Sequence[Patient], queries: Sequence[list[str]]
) -> list[list[str]]:
    """Pathologies ranked by how many indexed patients have *every* evidence of the query.

    Not a retriever: it reads the raw codes and counts, so it is the best a differential
    built from these records can do with exactly what the query says (a ceiling for every
    method, lexical or dense); a query no indexed patient contains gets an empty list."""
    have, asked = _code_counts(index_patients, queries)
    have.data[:], asked.data[:] = 1.0, 1.0  # present or not
    labels = [p.pathology for p in index_patients]
    out = []
    for q, shared in zip(queries, (asked @ have.T).toarray(), strict=True):
        need = len(set(q))
        counts = Counter(labels[i] for i in np.flatnonzero(shared >= need - 1e-9))
        out.append([dx for dx, _ in sorted(counts.items(), key=lambda x: (-x[1], x[0]))])
    return out


def paired(a: _Scores, b: _Scores, seed: int = 0, draws: int = 2000) -> dict:
    """Top-3 accuracy of ``a`` minus ``b`` on the same queries, with a 95% paired bootstrap CI."""
    x = np.asarray(a.hits3, dtype=float) - np.asarray(b.hits3, dtype=float)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(draws, len(x)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {"diff": round(float(x.mean()), 4), "ci95": [round(float(lo), 4), round(float(hi), 4)]}


def _rank_for(
    cands: list[Candidate], index: CaseIndex, qlang: str, method: Method
) -> list[Candidate]:
    ranked = rank(cands, index.fusion, qlang, method)
    if method == "lexical":
        ranked = [c for c in ranked if c.lexical > 0]
    return ranked


def bench_retrieval(
    cases: Path | str = DEFAULT_CASES,
    conditions: Path | str | None = None,
    query_cases: Path | str | None = None,
    query_evidences: int = 2,
    k: int = 20,
    seed: int = 0,
    sizes: Sequence[int] = (10_000, 100_000),
    latency_queries: int = 200,
    tune: bool = True,
    cross_lingual: bool = True,
    limit: int = 0,
    workdir: Path | str | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Run the benchmark (see the module doc); returns the ``--json`` object.

    Args:
        cases: Patient CSV in the DDXPlus layout.
        conditions: ``release_conditions.json`` (default: next to ``cases``).
        query_cases: Query with this file's patients and index all of ``cases`` (default:
            split ``cases`` in half).
        query_evidences: Evidences drawn besides the initial one for each query.
        k: Retrieved cases per query that feed the differential.
        seed: Seed of the split and of the evidence draws.
        sizes: Index sizes for latency and recall (padded with generated records).
        latency_queries: Queries timed at each size.
        tune: Learn the fusion weights on the indexed half first.
        cross_lingual: Also ask the queries in Chinese.
        limit: Use only this many queries (0: all), for a quick run.
        workdir: Where the index goes (default: a temporary folder, removed after).
        log: Progress lines.
    """
    t_start = time.perf_counter()
    cases = Path(cases)
    paths = load_pathologies(
        Path(conditions) if conditions else cases.parent / "release_conditions.json"
    )
    patients = list(read_patients(cases, paths))
    if query_cases:
        indexed = patients
        queries = list(read_patients(query_cases, paths))
    else:
        order = list(range(len(patients)))
        random.Random(seed).shuffle(order)
        half = len(order) // 2
        indexed = [patients[i] for i in order[:half]]
        queries = [patients[i] for i in order[half:]]
    if limit:
        queries = queries[:limit]
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="wardwise-bench-")
        workdir = tmp.name
    try:
        return _run(
            indexed, queries, paths, query_evidences, k, seed, sizes, latency_queries, tune,
            cross_lingual, Path(workdir), log, t_start,
        )  # fmt: skip
    finally:
        if tmp is not None:
            tmp.cleanup()


def _run(
    indexed, queries, paths, n_ev, k, seed, sizes, latency_queries, tune, cross_lingual,
    workdir: Path, log, t_start,
) -> dict:  # fmt: skip
    index = CaseIndex(workdir / "index")
    records = [to_record(p, paths) for p in indexed]
    log(f"indexing {len(records)} DDXPlus patients as case records ...")
    t0 = time.perf_counter()
    index.build(records, batch=256)
    base_s = time.perf_counter() - t0
    tuned = None
    if tune:
        log("tuning the hybrid fusion on the indexed half (leave-one-out triage queries) ...")
        rng = random.Random(f"tune:{seed}")
        tuning = []
        for p, rec in rng.sample(list(zip(indexed, records, strict=True)), min(400, len(records))):
            text = render_query(p, n_ev, random.Random(f"tune:{seed}:{p.row}"), "en")
            tuning.append((text, rec.diagnosis, rec.record_id))
        tuned = index.tune(k=k, queries=tuning)
        log(f"  alpha={tuned.fusion.alpha} (grid: {tuned.grid})")

    texts_en = [render_query(p, n_ev, random.Random(f"{seed}:{p.row}"), "en") for p in queries]
    texts_zh = [render_query(p, n_ev, random.Random(f"{seed}:{p.row}"), "zh") for p in queries]
    draws = []
    for p in queries:
        rng = random.Random(f"{seed}:{p.row}")
        others = [e for e in p.evidences if e != p.initial_evidence]
        drawn = rng.sample(others, min(n_ev, len(others)))
        draws.append([p.initial_evidence, *drawn])

    scores = {m: _Scores(m) for m in ("bm25", "dense", "hybrid")}
    zh_scores = {m: _Scores(m + ", Chinese queries") for m in ("bm25", "dense", "hybrid")}
    log(f"querying with {len(queries)} triage presentations (k={k}) ...")
    for i, (p, text) in enumerate(zip(queries, texts_en, strict=True)):
        cands = index.candidates(text, k)
        published = [name for name, _ in p.differential]
        for method, key in (("lexical", "bm25"), ("dense", "dense"), ("hybrid", "hybrid")):
            ranked = _rank_for(cands, index, "en", method)  # type: ignore[arg-type]
            scores[key].add(_differential(ranked, k), p.pathology, published)
        if cross_lingual:
            zcands = index.candidates(texts_zh[i], k)
            qlang = query_language(texts_zh[i])
            for method, key in (("lexical", "bm25"), ("dense", "dense"), ("hybrid", "hybrid")):
                ranked = _rank_for(zcands, index, qlang, method)  # type: ignore[arg-type]
                zh_scores[key].add(_differential(ranked, k), p.pathology, published)
        if (i + 1) % 500 == 0:
            log(f"  {i + 1}/{len(queries)}")
    anchor = _Scores("tfidf-knn raw codes (anchor)")
    for p, names in zip(queries, _tfidf_anchor(indexed, draws, k), strict=True):
        anchor.add(names, p.pathology, [n for n, _ in p.differential])

    ceiling = _Scores("exact-match posterior (ceiling)")
    for p, names in zip(queries, _exact_posterior(indexed, draws), strict=True):
        ceiling.add(names, p.pathology, [n for n, _ in p.differential])

    rows = [anchor.row(), ceiling.row()] + [s.row() for s in scores.values()]
    comparisons = {
        "hybrid-bm25": paired(scores["hybrid"], scores["bm25"], seed),
        "hybrid-dense": paired(scores["hybrid"], scores["dense"], seed),
        "hybrid-anchor": paired(scores["hybrid"], anchor, seed),
        "bm25-anchor": paired(scores["bm25"], anchor, seed),
        "ceiling-bm25": paired(ceiling, scores["bm25"], seed),
    }
    if cross_lingual:
        rows += [s.row() for s in zh_scores.values()]
        comparisons["hybrid_zh-hybrid_en"] = paired(zh_scores["hybrid"], scores["hybrid"], seed)
    out: dict = {
        "rows": rows,
        "k": k,
        "query_evidences": n_ev,
        "indexed": len(records),
        "queries": len(queries),
        "alpha": index.fusion.alpha,
        "top3_paired": comparisons,
        "tuning": tuned.grid if tuned else None,
        "cross_lingual_top3": zh_scores["hybrid"].row()["top3"] if cross_lingual else None,
        "base_ingest_per_s": round(len(records) / max(base_s, 1e-9), 1),
    }
    out.update(_scale(index, texts_en, sizes, latency_queries, seed, log))
    out["wall_s"] = round(time.perf_counter() - t_start, 1)
    return out


def _scale(
    index: CaseIndex,
    texts: Sequence[str],
    sizes: Sequence[int],
    n_queries: int,
    seed: int,
    log: Callable[[str], None],
) -> dict:
    out: dict = {}
    sizes = sorted(s for s in sizes if s > 0)
    if not sizes:
        return out
    base = index.count()
    pad = generate_cases(max(0, sizes[-1] - base), seed=seed + 11)
    rng = random.Random(seed)
    sample = rng.sample(list(texts), min(n_queries, len(texts)))
    added = 0
    ingest_s = 0.0
    for size in sizes:
        need = max(0, size - index.count())
        if need:
            log(f"padding the index to {size} records with generated cases ...")
            t0 = time.perf_counter()
            index.build(
                pad[added : added + need],
                batch=512,
                progress=lambda done, total: (
                    log(f"  {done}/{total}") if done % 10240 < 512 else None
                ),
            )
            ingest_s += time.perf_counter() - t0
            added += need
        n = index.count()
        index.query(sample[0], k=10)  # warm-up: loads / rebuilds the lexical index
        lat = []
        for q in sample:
            t0 = time.perf_counter()
            index.query(q, k=10)
            lat.append((time.perf_counter() - t0) * 1000)
        ids, mat = index.all_embeddings()
        row = {rid: i for i, rid in enumerate(ids)}
        enc = index.encoder
        recalls, tied = [], []
        for q in sample:
            v = np.asarray(enc.encode([q]), dtype=np.float32)[0]
            sims = mat @ v
            top = np.argpartition(-sims, 10)[:10]
            exact = {ids[i] for i in top}
            got = [h.record_id for h in index.query(q, k=10, method="dense")]
            recalls.append(len(exact & set(got)) / 10)
            # ann-benchmarks' definition: a result counts if it is no farther than the
            # true 10th neighbour + 1e-3 (near-duplicate records make exact ids arbitrary)
            tenth = float(sims[top].min())
            tied.append(sum(float(sims[row[r]]) >= tenth - 1e-3 for r in got) / 10)
        tag = f"{size // 1000}k" if size % 1000 == 0 else str(size)
        out[f"p50_ms_{tag}"] = round(float(np.percentile(lat, 50)), 1)
        out[f"p95_ms_{tag}"] = round(float(np.percentile(lat, 95)), 1)
        out[f"recall_at_10_{tag}"] = round(float(np.mean(recalls)), 4)
        out[f"recall_at_10_ties_{tag}"] = round(float(np.mean(tied)), 4)
        log(
            f"  {n} records: p50 {out[f'p50_ms_{tag}']} ms, p95 {out[f'p95_ms_{tag}']} ms, "
            f"recall@10 {out[f'recall_at_10_{tag}']}"
        )
    largest = f"{sizes[-1] // 1000}k" if sizes[-1] % 1000 == 0 else str(sizes[-1])
    out["recall_at_10"] = out[f"recall_at_10_{largest}"]
    out["recall_at_10_ties"] = out[f"recall_at_10_ties_{largest}"]
    out["ingest_per_s"] = round(added / ingest_s, 1) if ingest_s else None
    out["records_at_largest"] = index.count()
    return out
