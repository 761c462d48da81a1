"""Dense mining: bi-encoder embeddings (normalised, so cosine = inner product) searched exactly or with faiss.

`flat` is exact and bounded in memory (minekit.mine.exact): the corpus embeddings are read from the
cache as stored (float32, float16 or int8), block_size rows at a time, and a block of queries is
scored against each block; candidates are rescored with a canonical dot product and kept under
minekit's total order (score descending, doc_id ascending), so results never depend on block sizes.
`ivf`, `ivf-pq` and `hnsw` are faiss approximate indexes over the same embeddings (added a block at
a time, so no float32 copy of the corpus besides what the index itself stores: ivf and hnsw keep
float32 vectors, ivf-pq pq_m bytes a vector); their candidates are rescored with the same exact
cosine and re-ranked under the same order, so only recall differs from `flat`, never scores or
tie-breaking.

With query_from="positive" (the dense twin of passage-bm25) each positive passage is a query: a
document's score is its best cosine to any of the query's positives (max merge), and a positive's
score is its cosine to itself (1.0 up to rounding), so margins read "how close to a copy of a
positive", as for passage-bm25. Its source is `passage-dense`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

import numpy as np

from minekit.encode.encoder import Encoder, TextColumn
from minekit.errors import ConfigError
from minekit.mine.exact import BLOCK_SIZE, SCORE_BLOCK, search_exact
from minekit.mine.topk import Hits, top_k_exact
from minekit.inputs.schema import passage_text
from minekit.stats import StageResult
from minekit.encode.vectors import Vectors, as_vectors, canonical_dot

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)

INDEXES = ("flat", "ivf", "ivf-pq", "hnsw")
QUERY_FROM = ("query", "positive")
SELECT_BLOCK = 2_000_000  # scores per top-k selection step (its temporaries are ~13 bytes a score)
ANN_BLOCK = 1024  # query rows per faiss search call
# (query, hit) or (candidate, positive) pairs whose exact cosines are taken at once: two float32 copies of
# their rows (2 x 12.6 MB at dim 384); 65,536 added 200 MB to a cold NFCorpus `mine dense` peak.
RESCORE_PAIRS = 8_192
ADD_BLOCK = 65_536  # document rows read and added to a faiss index at a time
TRAIN_MAX = 262_144  # most rows an IVF index trains on (400 MB of float32 at dim 384)
PQ_CODES = 256  # centroids per product-quantizer sub-space (8 bits a code)
# ivf-pq fetches shortlist x top_k hits by its code estimates and keeps the top_k by exact cosine, read
# from the cache: PQ's errors exceed the score gaps between close neighbours, rescoring does not.
PQ_SHORTLIST = 4


@dataclass
class Embedded:
    """Inputs turned into embeddings, in minekit's order: documents by doc_id, queries by query_id.

    docs and queries stay where the cache stores them (minekit.encode.vectors); doc_emb and query_emb are
    the whole float32 arrays, made on first use, for the miners that need every row at once.
    """

    doc_ids: "pl.Series"
    docs: Vectors
    query_ids: list[str]
    queries: Vectors | None
    positives: list[np.ndarray]  # document positions of each query's positives, sorted
    _arrays: dict = field(default_factory=dict, repr=False)

    @property
    def doc_emb(self) -> np.ndarray:
        if "docs" not in self._arrays:
            self._arrays["docs"] = self.docs.to_array()
        return self._arrays["docs"]

    @property
    def query_emb(self) -> np.ndarray | None:
        if self.queries is None:
            return None
        if "queries" not in self._arrays:
            self._arrays["queries"] = self.queries.to_array()
        return self._arrays["queries"]


def embed_inputs(queries: "pl.DataFrame", positives: "pl.DataFrame", corpus: "pl.DataFrame", encoder: Encoder, *,
                 query_prompt: str | None, corpus_prompt: str | None, encode_queries: bool = True,
                 show_progress: bool = True) -> Embedded:
    """Encode the corpus (and the queries that have a positive) through the encoder's cache.

    The prompts are texts (see Encoder.prompt_text for names and the model's default prompt). With a
    cache, nothing is read yet: the embeddings stay in the cache files (Encoder.encode_stored).
    """
    import polars as pl

    corpus = corpus.sort("doc_id")
    doc_ids = corpus["doc_id"]
    docs = encoder.encode_stored(TextColumn(corpus, passage_text()), prompt=corpus_prompt,
                                 show_progress=show_progress, desc="encode corpus")
    mined = queries.filter(pl.col("query_id").is_in(positives["query_id"].implode())).sort("query_id")
    query_ids = mined["query_id"].to_list()
    query_vecs = None
    if encode_queries:
        query_vecs = encoder.encode_stored(mined["text"].to_list(), prompt=query_prompt, show_progress=show_progress,
                                           desc="encode queries")
    lookup = pl.DataFrame({"doc_id": doc_ids, "pos": np.arange(len(doc_ids))})
    grouped = positives.join(lookup, on="doc_id").group_by("query_id").agg(pl.col("pos").sort())
    by_query = dict(zip(grouped["query_id"].to_list(), grouped["pos"].to_list()))
    pos_lists = [np.asarray(by_query[q], dtype=np.int64) for q in query_ids]
    return Embedded(doc_ids, docs, query_ids, query_vecs, pos_lists)


def block_top_k(scores: np.ndarray, k: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each row's exact top-k (scores, doc positions) under the total order; -inf entries never returned.

    Vectorised argpartition, a few rows at a time (its index temporaries are int64, twice the size of
    the scores), for the common case; a row with a tie at the k-th score falls back to top_k_exact,
    so ties always break by the smaller position.
    """
    n_rows, n_docs = scores.shape
    k = min(k, n_docs)
    if k == 0:
        for _ in range(n_rows):
            yield np.empty(0, np.float32), np.empty(0, np.int64)
        return
    positions = np.arange(n_docs)
    step = max(1, SELECT_BLOCK // n_docs)
    for a in range(0, n_rows, step):
        block = scores[a:a + step]
        part = np.argpartition(block, n_docs - k, axis=1)[:, n_docs - k:]
        vals = np.take_along_axis(block, part, axis=1)
        kth = vals.min(axis=1)
        ties = (block >= kth[:, None]).sum(axis=1) != k
        for i in range(len(block)):
            if ties[i]:
                s, d = top_k_exact(block[i], positions, k)
            else:
                order = np.lexsort((part[i], -vals[i]))
                s, d = vals[i][order], part[i][order]
            keep = np.isfinite(s)
            yield s[keep], d[keep]


def _group_blocks(groups: np.ndarray, max_groups: int) -> Iterator[tuple[int, int]]:
    """[start, end) row ranges holding whole groups, at most max_groups groups each (rows sorted by group)."""
    starts = np.concatenate([[0], np.flatnonzero(np.diff(groups)) + 1, [len(groups)]])
    for i in range(0, len(starts) - 1, max_groups):
        yield int(starts[i]), int(starts[min(i + max_groups, len(starts) - 1)])


def search_flat(rows: "np.ndarray | Vectors", groups: np.ndarray, doc_emb: "np.ndarray | Vectors",
                positives: list[np.ndarray], *, top_k: int, row_index: np.ndarray | None = None,
                block_size: int = BLOCK_SIZE, desc: str = "search", show_progress: bool = True) -> Hits:
    """Exact search: for each group (query) of rows, max-merge, mask its positives, exact top-k
    (minekit.mine.exact: blocked, results independent of block_size)."""
    return search_exact(rows, groups, doc_emb, positives, top_k=top_k, row_index=row_index, block_size=block_size,
                        desc=desc, show_progress=show_progress)


def _resolve_index(index: str, n_docs: int, top_k: int, *, nlist: int | None, nprobe: int | None,
                   hnsw_m: int | None, ef_search: int | None, pq_m: int | None = None, dim: int | None = None) -> dict:
    """The index's knobs, defaults derived from the corpus size; a knob for another index is an error."""
    if index not in INDEXES:
        raise ConfigError(f"index: {index!r} is not supported; choose one of {', '.join(INDEXES)}.")
    given = {"nlist": nlist, "nprobe": nprobe, "hnsw_m": hnsw_m, "ef_search": ef_search, "pq_m": pq_m}
    owner = {"nlist": ("ivf", "ivf-pq"), "nprobe": ("ivf", "ivf-pq"), "hnsw_m": ("hnsw",), "ef_search": ("hnsw",),
             "pq_m": ("ivf-pq",)}
    wrong = [k for k, v in given.items() if v is not None and index not in owner[k]]
    if wrong:
        raise ConfigError(f"{', '.join(wrong)}: only apply to index {' or '.join(map(repr, owner[wrong[0]]))}, "
                          f"not {index!r}.")
    for name, value in given.items():
        if value is not None and value < 1:
            raise ConfigError(f"{name}: must be at least 1, got {value}.")
    if index in ("ivf", "ivf-pq"):
        nlist = nlist or int(np.clip(round(4 * math.sqrt(n_docs)), 1, max(1, n_docs // 39)))
        if nlist > n_docs:
            raise ConfigError(f"nlist: {nlist} lists for {n_docs} documents; use at most {n_docs}.")
        nprobe = nprobe or min(nlist, max(16, nlist // 8))
        if nprobe > nlist:
            raise ConfigError(f"nprobe: {nprobe} is more than nlist ({nlist}).")
        if index == "ivf":
            return {"nlist": nlist, "nprobe": nprobe}
        if dim is not None:
            pq_m = pq_m or max(m for m in range(1, max(1, dim // 8) + 1) if dim % m == 0)
            if dim % pq_m:
                raise ConfigError(f"pq_m: must divide the embedding dimension {dim}, got {pq_m}.")
        if n_docs < PQ_CODES:
            raise ConfigError(f"index: ivf-pq needs at least {PQ_CODES} documents to train its codebooks, "
                              f"the corpus has {n_docs}; use --index ivf or flat.")
        return {"nlist": nlist, "nprobe": nprobe, "pq_m": pq_m, "shortlist": PQ_SHORTLIST}
    if index == "hnsw":
        return {"hnsw_m": hnsw_m or 32, "ef_search": ef_search or max(256, 2 * top_k)}
    return {}


def _train_sample(docs: Vectors, params: dict, seed: int) -> np.ndarray:
    """The rows k-means (and PQ) train on: every document up to nlist * 256 (faiss' own cap), a seeded
    sample beyond, at most TRAIN_MAX rows (its float32 copy is the training's memory)."""
    rng = np.random.default_rng(seed)
    size = min(params["nlist"] * 256, max(TRAIN_MAX, params["nlist"] * 39))
    if docs.n <= size:
        return docs.to_array()
    return docs.gather(np.sort(rng.choice(docs.n, size, replace=False)))


def build_index(doc_emb: "np.ndarray | Vectors", index: str, params: dict, *, seed: int = 0):
    """A faiss inner-product index (ivf, ivf-pq or hnsw) over the document embeddings, which are read
    ADD_BLOCK rows at a time in position order (faiss ids are positions), never all at once."""
    import faiss

    docs = as_vectors(doc_emb)
    dim = docs.dim
    if index in ("ivf", "ivf-pq"):
        quantizer = faiss.IndexFlatIP(dim)
        if index == "ivf":
            ann = faiss.IndexIVFFlat(quantizer, dim, params["nlist"], faiss.METRIC_INNER_PRODUCT)
        else:
            ann = faiss.IndexIVFPQ(quantizer, dim, params["nlist"], params["pq_m"], 8, faiss.METRIC_INNER_PRODUCT)
            ann.pq.cp.seed = seed
        ann.cp.seed = seed
        ann.train(np.ascontiguousarray(_train_sample(docs, params, seed), dtype=np.float32))
        ann.nprobe = params["nprobe"]
    else:
        ann = faiss.IndexHNSWFlat(dim, params["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
        ann.hnsw.efConstruction = max(80, 2 * params["hnsw_m"])
        ann.hnsw.efSearch = params["ef_search"]
    # faiss adds HNSW links in parallel, which makes the graph (and so the candidates) differ from run
    # to run; one thread while adding keeps the same inputs giving the same index.
    threads = faiss.omp_get_max_threads()
    if index == "hnsw":
        faiss.omp_set_num_threads(1)
    try:
        for a in range(0, docs.n, ADD_BLOCK):
            ann.add(np.ascontiguousarray(docs.gather(np.arange(a, min(a + ADD_BLOCK, docs.n))), dtype=np.float32))
    finally:
        faiss.omp_set_num_threads(threads)
    return ann


def search_ann(ann, rows: "np.ndarray | Vectors", groups: np.ndarray, positives: list[np.ndarray], *, top_k: int,
               docs: "np.ndarray | Vectors | None" = None, row_index: np.ndarray | None = None,
               shortlist: int = 1, desc: str = "search", show_progress: bool = True) -> Hits:
    """Approximate search: each row asks for top_k + its positives; a group's hits are max-merged,
    its positives masked, and re-ranked under the total order. With `docs`, each hit is rescored with
    the exact (canonical) cosine first, as flat reports it: an ivf-pq index's own scores are estimates,
    and with shortlist > 1 each row asks for shortlist x top_k hits, of which the exact top_k are kept."""
    from tqdm.auto import tqdm

    rows = as_vectors(rows)
    docs = as_vectors(docs) if docs is not None else None
    row_index = np.arange(len(groups)) if row_index is None else np.asarray(row_index, dtype=np.int64)
    hits = Hits()
    n_pos = np.array([len(positives[g]) for g in groups], dtype=np.int64)
    with tqdm(total=len(positives), desc=desc, unit="query", disable=not show_progress) as bar:
        for start, end in _group_blocks(groups, ANN_BLOCK):
            k = int(min(top_k * (shortlist if docs is not None else 1) + n_pos[start:end].max(), ann.ntotal))
            q = np.ascontiguousarray(rows.gather(row_index[start:end]), dtype=np.float32)
            scores, ids = ann.search(q, k)
            if docs is not None:  # RESCORE_PAIRS (query, hit) pairs at a time: two float32 copies of those rows
                step = max(1, RESCORE_PAIRS // max(k, 1))
                for a in range(0, len(q), step):
                    found = ids[a:a + step] >= 0
                    exact = canonical_dot(np.repeat(q[a:a + step], found.sum(axis=1), axis=0),
                                          docs.gather(ids[a:a + step][found]))
                    scores[a:a + step][found] = exact
            block_groups = groups[start:end]
            cuts = np.concatenate([[0], np.flatnonzero(np.diff(block_groups)) + 1, [end - start]])
            for lo, hi in zip(cuts[:-1], cuts[1:]):
                g = int(block_groups[lo])
                s, d = scores[lo:hi].ravel(), ids[lo:hi].ravel()
                keep = (d >= 0) & ~np.isin(d, positives[g])
                s, d = s[keep], d[keep]
                if hi - lo > 1:  # max merge of several positive passages
                    order = np.lexsort((-s, d))
                    s, d = s[order], d[order]
                    first = np.concatenate([[True], d[1:] != d[:-1]])
                    s, d = s[first], d[first]
                hits.add(g, *top_k_exact(s, d, top_k), None)
            bar.update(len(np.unique(block_groups)))
    return hits


def _check_common(top_k: int, query_from: str) -> None:
    if top_k < 1:
        raise ConfigError(f"top_k: must be at least 1, got {top_k}.")
    if query_from not in QUERY_FROM:
        raise ConfigError(f"query_from: {query_from!r} is not supported; choose one of {', '.join(QUERY_FROM)}.")


def positive_scores(emb: Embedded, rows: "np.ndarray | Vectors", groups: np.ndarray,
                    self_docs: np.ndarray | None, *, block_size: int = BLOCK_SIZE) -> list[np.ndarray]:
    """Per query, aligned with its positives: the (canonical) cosine of the query to each (query rows),
    or of each positive passage to itself (passage rows); block_size queries at a time."""
    rows = as_vectors(rows)
    if self_docs is not None:
        own = np.concatenate([np.zeros(0, np.float32)] + [
            canonical_dot(rows.gather(self_docs[a:a + block_size]), emb.docs.gather(self_docs[a:a + block_size]))
            for a in range(0, len(self_docs), block_size)])
        return np.split(own, np.flatnonzero(np.diff(groups)) + 1)
    out = []
    for a in range(0, len(emb.positives), block_size):
        pos = emb.positives[a:a + block_size]
        counts = [len(p) for p in pos]
        q = np.repeat(rows.gather(np.arange(a, a + len(pos))), counts, axis=0)
        flat = canonical_dot(q, emb.docs.gather(np.concatenate([np.zeros(0, np.int64), *pos])))
        out.extend(np.split(flat, np.cumsum(counts)[:-1]))
    return out


def with_positive_similarities(frame: "pl.DataFrame", emb: Embedded, *,
                               block_size: int = BLOCK_SIZE) -> "pl.DataFrame":
    """Add positive_similarities: the (canonical) cosine of each candidate passage to each of its query's
    positive passages, aligned with positive_ids (TriSampler's positive-negative side of the triangle).
    Reads only the rows it needs, RESCORE_PAIRS pairs at a time (fewer with a smaller block_size)."""
    import polars as pl

    if frame.height == 0:
        return frame.with_columns(pl.lit(None, pl.List(pl.Float32)).alias("positive_similarities"))
    lookup = pl.DataFrame({"doc_id": emb.doc_ids, "pos": np.arange(len(emb.doc_ids))})
    doc_pos = frame.select("doc_id").join(lookup, on="doc_id", how="left", maintain_order="left")["pos"].to_numpy()
    group_of = {q: g for g, q in enumerate(emb.query_ids)}
    groups = np.array([group_of[q] for q in frame["query_id"].to_list()], dtype=np.int64)
    counts = np.array([len(p) for p in emb.positives], dtype=np.int64)[groups]
    pos_docs = np.concatenate([emb.positives[g] for g in groups]) if counts.sum() else np.zeros(0, np.int64)
    cand_docs = np.repeat(doc_pos, counts)
    step = min(block_size, RESCORE_PAIRS)
    sims = np.concatenate([np.zeros(0, np.float32)] + [
        canonical_dot(emb.docs.gather(cand_docs[a:a + step]), emb.docs.gather(pos_docs[a:a + step]))
        for a in range(0, len(cand_docs), step)])
    import pyarrow as pa

    # Built from offsets: a list of equal-length numpy arrays would become a fixed-width Array column in
    # polars (List only when lengths differ), so the column type would depend on the data (and on the shard).
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
    lists = pl.from_arrow(pa.LargeListArray.from_arrays(offsets, pa.array(sims, type=pa.float32())))
    return frame.with_columns(lists.cast(pl.List(pl.Float32)).alias("positive_similarities"))


def mine_dense(
    queries: "pl.DataFrame",
    positives: "pl.DataFrame",
    corpus: "pl.DataFrame",
    *,
    model: str = "default",
    top_k: int = 100,
    index: str = "flat",
    nlist: int | None = None,
    nprobe: int | None = None,
    hnsw_m: int | None = None,
    ef_search: int | None = None,
    pq_m: int | None = None,
    seed: int = 0,
    block_size: int = BLOCK_SIZE,
    query_from: str = "query",
    query_prompt: str | None = None,
    corpus_prompt: str | None = None,
    query_prompt_name: str | None = None,
    corpus_prompt_name: str | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    dtype: str = "auto",
    max_seq_length: int | None = None,
    cache_dir: str | None = None,
    precision: str = "float32",
    backend: str = "torch",
    trust_remote_code: bool = False,
    show_progress: bool = True,
) -> StageResult:
    """Dense candidates for every query that has a positive, its positives removed.

    score is the cosine of query (or positive passage, with query_from="positive") and document;
    positive_scores the cosine of the query to each positive (see the module doc for passages).
    block_size: documents read from the embedding cache (and queries searched) at a time; memory
    grows with it, results do not change. pq_m: bytes per vector of an ivf-pq index (default: dim / 8);
    seed: its (and ivf's) k-means seed.
    """
    _check_common(top_k, query_from)
    if query_from == "positive" and (query_prompt is not None or query_prompt_name is not None):
        raise ConfigError("query_prompt: does not apply with query_from='positive' (positive passages are "
                          "encoded as corpus texts, with corpus_prompt).")
    knobs = _resolve_index(index, corpus.height, top_k, nlist=nlist, nprobe=nprobe, hnsw_m=hnsw_m,
                           ef_search=ef_search, pq_m=pq_m)
    if block_size < 1:
        raise ConfigError(f"block_size: must be at least 1, got {block_size}.")
    encoder = Encoder(model=model, batch_size=batch_size, device=device, dtype=dtype, max_seq_length=max_seq_length,
                      cache_dir=cache_dir, precision=precision, backend=backend, trust_remote_code=trust_remote_code)
    prompts = resolve_prompts(encoder, query_prompt, query_prompt_name, corpus_prompt, corpus_prompt_name)
    emb = embed_inputs(queries, positives, corpus, encoder, **prompts, encode_queries=query_from == "query",
                       show_progress=show_progress)
    if query_from == "query":
        rows, groups, row_index, source = emb.queries, np.arange(len(emb.query_ids)), None, "dense"
        self_docs = None
    else:
        groups = np.concatenate([np.zeros(0, np.int64)] + [np.full(len(p), g) for g, p in enumerate(emb.positives)])
        self_docs = np.concatenate([np.zeros(0, np.int64), *emb.positives])
        rows, row_index, source = emb.docs, self_docs, "passage-dense"
    if index == "flat":
        hits = search_flat(rows, groups, emb.docs, emb.positives, top_k=top_k, row_index=row_index,
                           block_size=block_size, desc=source, show_progress=show_progress)
    else:
        given = {k: knobs[k] for k in ("nlist", "nprobe", "pq_m")} if index == "ivf-pq" else {}
        knobs = _resolve_index(index, corpus.height, top_k, **given, hnsw_m=hnsw_m, ef_search=ef_search,
                               dim=emb.docs.dim) if index == "ivf-pq" else knobs
        logger.info("building faiss %s index (%s) over %d documents", index, knobs, emb.docs.n)
        ann = build_index(emb.docs, index, knobs, seed=seed)
        hits = search_ann(ann, rows, groups, emb.positives, top_k=top_k, docs=emb.docs, row_index=row_index,
                          shortlist=knobs.get("shortlist", 1), desc=source, show_progress=show_progress)
    frame = hits.to_frame(emb.query_ids, emb.doc_ids, source=source, kind="cosine", positives=emb.positives,
                          positive_scores=positive_scores(emb, rows if self_docs is None else emb.docs, groups,
                                                          self_docs, block_size=block_size))
    if query_from == "query":
        frame = with_positive_similarities(frame, emb, block_size=block_size)
    return StageResult(frame, model_stats(emb, frame, encoder, {"index": index, **knobs}))


def resolve_prompts(encoder: Encoder, query_prompt: str | None, query_prompt_name: str | None,
                    corpus_prompt: str | None, corpus_prompt_name: str | None) -> dict:
    """query_prompt and corpus_prompt as texts: given, named in the model, or the model's default prompt."""
    return {"query_prompt": encoder.prompt_text(query_prompt, query_prompt_name, flag="query-prompt"),
            "corpus_prompt": encoder.prompt_text(corpus_prompt, corpus_prompt_name, flag="corpus-prompt")}


def model_stats(emb: Embedded, frame: "pl.DataFrame", encoder: Encoder, resolved: dict) -> dict:
    """Counts plus what the encoder resolved (dtype, devices): the manifest records what was used."""
    with_hits = frame["query_id"].n_unique() if frame.height else 0
    resolved = {**resolved, "dtype": encoder.dtype, "devices": encoder.devices}
    return {
        "queries": len(emb.query_ids),
        "rows_out": frame.height,
        "queries_without_candidates": len(emb.query_ids) - with_hits,
        "texts_encoded": encoder.stats["encoded"],
        "texts_from_cache": encoder.stats["cached"],
        "model_identity": encoder.identity,
        "resolved": resolved,
    }
