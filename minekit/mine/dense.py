"""Dense mining: bi-encoder embeddings (normalised, so cosine = inner product) searched exactly or with faiss.

`flat` is exact and bounded in memory: a block of queries is scored against the whole corpus with one
matrix product (at most SCORE_BLOCK floats at a time), positives are masked per query, and each row's
top-k is taken under minekit's total order (score descending, doc_id ascending). `ivf` and `hnsw`
are faiss approximate indexes over the same embeddings; their candidates are re-ranked under the
same order, so only recall differs from `flat`, never tie-breaking.

With query_from="positive" (the dense twin of passage-bm25) each positive passage is a query: a
document's score is its best cosine to any of the query's positives (max merge), and a positive's
score is its cosine to itself (1.0 up to rounding), so margins read "how close to a copy of a
positive", as for passage-bm25. Its source is `passage-dense`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np

from minekit.embed import Encoder
from minekit.errors import ConfigError
from minekit.mine.topk import Hits, top_k_exact
from minekit.schema import passage_text
from minekit.stats import StageResult

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)

INDEXES = ("flat", "ivf", "hnsw")
QUERY_FROM = ("query", "positive")
# Floats in one block of query x corpus scores (64 MB): with the embeddings, the peak of a flat search.
SCORE_BLOCK = 16_000_000
SELECT_BLOCK = 2_000_000  # scores per top-k selection step (its temporaries are ~13 bytes a score)
ANN_BLOCK = 1024  # query rows per faiss search call
PAIR_BLOCK = 16_384  # (candidate, positive) pairs whose cosines are taken at once (2 x 25 MB of rows)
PRODUCT_ROWS = 1024  # at most this many query rows per matrix product call (one shape per corpus: _product)


@dataclass
class Embedded:
    """Inputs turned into embeddings, in minekit's order: documents by doc_id, queries by query_id."""

    doc_ids: "pl.Series"
    doc_emb: np.ndarray
    query_ids: list[str]
    query_emb: np.ndarray | None
    positives: list[np.ndarray]  # document positions of each query's positives, sorted


def embed_inputs(queries: "pl.DataFrame", positives: "pl.DataFrame", corpus: "pl.DataFrame", encoder: Encoder, *,
                 query_prompt: str | None, corpus_prompt: str | None, encode_queries: bool = True,
                 show_progress: bool = True) -> Embedded:
    """Encode the corpus (and the queries that have a positive) through the encoder's cache.

    The prompts are texts (see Encoder.prompt_text for names and the model's default prompt).
    """
    import polars as pl

    corpus = corpus.sort("doc_id")
    doc_ids = corpus["doc_id"]
    doc_emb = encoder.encode(corpus.select(passage_text()).to_series().to_list(), prompt=corpus_prompt,
                             show_progress=show_progress, desc="encode corpus")
    mined = queries.filter(pl.col("query_id").is_in(positives["query_id"].implode())).sort("query_id")
    query_ids = mined["query_id"].to_list()
    query_emb = None
    if encode_queries:
        query_emb = encoder.encode(mined["text"].to_list(), prompt=query_prompt, show_progress=show_progress,
                                   desc="encode queries")
    lookup = pl.DataFrame({"doc_id": doc_ids, "pos": np.arange(len(doc_ids))})
    grouped = positives.join(lookup, on="doc_id").group_by("query_id").agg(pl.col("pos").sort())
    by_query = dict(zip(grouped["query_id"].to_list(), grouped["pos"].to_list()))
    pos_lists = [np.asarray(by_query[q], dtype=np.int64) for q in query_ids]
    return Embedded(doc_ids, doc_emb, query_ids, query_emb, pos_lists)


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


def product_rows(n_docs: int) -> int:
    """Rows of every query x corpus product call: a function of the corpus size only (see _product)."""
    return int(max(1, min(PRODUCT_ROWS, SCORE_BLOCK // max(n_docs, 1))))


def _product(rows: np.ndarray, doc_emb: np.ndarray) -> np.ndarray:
    """rows @ doc_emb.T, computed in calls of exactly product_rows(n_docs) rows (the last one padded with zeros).

    BLAS picks its kernel (gemv for one row, small-matrix kernels, blocking) by the shape of the call,
    and the last bits of a score depend on that kernel. With one shape per corpus, a query's scores do
    not depend on which other queries share its run, so shards (minekit.shards) and one whole run give
    the same bytes.
    """
    size = product_rows(len(doc_emb))
    if len(rows) == size:
        return rows @ doc_emb.T
    out = np.empty((len(rows), len(doc_emb)), dtype=np.float32)
    for a in range(0, len(rows), size):
        part = rows[a:a + size]
        if len(part) < size:
            part = np.concatenate([part, np.zeros((size - len(part), rows.shape[1]), dtype=rows.dtype)])
        out[a:a + size] = (part @ doc_emb.T)[:len(rows) - a]
    return out


def _merged_block(rows: np.ndarray, groups: np.ndarray, doc_emb: np.ndarray, max_rows: int) -> np.ndarray:
    """Scores (n_groups x n_docs) of a block of rows, max-merged per group, computed max_rows at a time."""
    if len(rows) == len(np.unique(groups)):
        return _product(rows, doc_emb)
    local = np.concatenate([[0], np.cumsum(np.diff(groups) != 0)])
    merged = np.full((int(local[-1]) + 1, len(doc_emb)), -np.inf, dtype=np.float32)
    for a in range(0, len(rows), max_rows):
        part = _product(rows[a:a + max_rows], doc_emb)
        g = local[a:a + max_rows]
        starts = np.concatenate([[0], np.flatnonzero(np.diff(g)) + 1])
        reduced = np.maximum.reduceat(part, starts, axis=0)
        merged[g[starts]] = np.maximum(merged[g[starts]], reduced)
    return merged


def search_flat(rows: np.ndarray, groups: np.ndarray, doc_emb: np.ndarray, positives: list[np.ndarray], *,
                top_k: int, desc: str = "search", show_progress: bool = True) -> Hits:
    """Exact search: for each group (query) of rows, max-merge, mask its positives, exact top-k."""
    from tqdm.auto import tqdm

    n_docs = max(len(doc_emb), 1)
    per_block = max(1, SCORE_BLOCK // n_docs)
    hits = Hits()
    with tqdm(total=len(positives), desc=desc, unit="query", disable=not show_progress) as bar:
        for start, end in _group_blocks(groups, per_block):
            block_groups = groups[start:end]
            scores = _merged_block(rows[start:end], block_groups, doc_emb, per_block)
            ids = np.unique(block_groups)
            for i, g in enumerate(ids):
                scores[i, positives[g]] = -np.inf
            for g, (s, d) in zip(ids, block_top_k(scores, top_k)):
                hits.add(int(g), s, d, None)
            bar.update(len(ids))
            del scores
    return hits


def _resolve_index(index: str, n_docs: int, top_k: int, *, nlist: int | None, nprobe: int | None,
                   hnsw_m: int | None, ef_search: int | None) -> dict:
    """The index's knobs, defaults derived from the corpus size; a knob for another index is an error."""
    if index not in INDEXES:
        raise ConfigError(f"index: {index!r} is not supported; choose one of {', '.join(INDEXES)}.")
    given = {"nlist": nlist, "nprobe": nprobe, "hnsw_m": hnsw_m, "ef_search": ef_search}
    owner = {"nlist": "ivf", "nprobe": "ivf", "hnsw_m": "hnsw", "ef_search": "hnsw"}
    wrong = [k for k, v in given.items() if v is not None and owner[k] != index]
    if wrong:
        raise ConfigError(f"{', '.join(wrong)}: only apply to index {owner[wrong[0]]!r}, not {index!r}.")
    for name, value in given.items():
        if value is not None and value < 1:
            raise ConfigError(f"{name}: must be at least 1, got {value}.")
    if index == "ivf":
        nlist = nlist or int(np.clip(round(4 * math.sqrt(n_docs)), 1, max(1, n_docs // 39)))
        if nlist > n_docs:
            raise ConfigError(f"nlist: {nlist} lists for {n_docs} documents; use at most {n_docs}.")
        nprobe = nprobe or min(nlist, max(16, nlist // 8))
        if nprobe > nlist:
            raise ConfigError(f"nprobe: {nprobe} is more than nlist ({nlist}).")
        return {"nlist": nlist, "nprobe": nprobe}
    if index == "hnsw":
        return {"hnsw_m": hnsw_m or 32, "ef_search": ef_search or max(256, 2 * top_k)}
    return {}


def build_index(doc_emb: np.ndarray, index: str, params: dict, *, seed: int = 0):
    """A faiss inner-product index (ivf or hnsw) over the document embeddings."""
    import faiss

    dim = doc_emb.shape[1]
    if index == "ivf":
        quantizer = faiss.IndexFlatIP(dim)
        ann = faiss.IndexIVFFlat(quantizer, dim, params["nlist"], faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = doc_emb if len(doc_emb) <= params["nlist"] * 256 else \
            doc_emb[np.sort(rng.choice(len(doc_emb), params["nlist"] * 256, replace=False))]
        ann.cp.seed = seed
        ann.train(np.ascontiguousarray(sample, dtype=np.float32))
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
        for a in range(0, len(doc_emb), 65536):
            ann.add(np.ascontiguousarray(doc_emb[a:a + 65536], dtype=np.float32))
    finally:
        faiss.omp_set_num_threads(threads)
    return ann


def search_ann(ann, rows: np.ndarray, groups: np.ndarray, positives: list[np.ndarray], *, top_k: int,
               desc: str = "search", show_progress: bool = True) -> Hits:
    """Approximate search: each row asks for top_k + its positives; a group's hits are max-merged,
    its positives masked, and re-ranked under the total order."""
    from tqdm.auto import tqdm

    hits = Hits()
    n_pos = np.array([len(positives[g]) for g in groups], dtype=np.int64)
    with tqdm(total=len(positives), desc=desc, unit="query", disable=not show_progress) as bar:
        for start, end in _group_blocks(groups, ANN_BLOCK):
            k = int(min(top_k + n_pos[start:end].max(), ann.ntotal))
            scores, ids = ann.search(np.ascontiguousarray(rows[start:end], dtype=np.float32), k)
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


def positive_scores(emb: Embedded, rows: np.ndarray, groups: np.ndarray,
                    self_docs: np.ndarray | None) -> list[np.ndarray]:
    """Per query, aligned with its positives: the cosine of the query to each (query rows), or of each
    positive passage to itself (passage rows)."""
    if self_docs is not None:
        own = np.einsum("ij,ij->i", rows, emb.doc_emb[self_docs]).astype(np.float32)
        return np.split(own, np.flatnonzero(np.diff(groups)) + 1)
    return [(emb.doc_emb[p] @ rows[g]).astype(np.float32) for g, p in enumerate(emb.positives)]


def with_positive_similarities(frame: "pl.DataFrame", emb: Embedded) -> "pl.DataFrame":
    """Add positive_similarities: the cosine of each candidate passage to each of its query's positive
    passages, aligned with positive_ids (TriSampler's positive-negative side of the triangle)."""
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
    sims = np.empty(len(cand_docs), dtype=np.float32)
    for a in range(0, len(cand_docs), PAIR_BLOCK):  # pairs can be many (top_k x positives per query)
        b = a + PAIR_BLOCK
        sims[a:b] = np.einsum("ij,ij->i", emb.doc_emb[cand_docs[a:b]], emb.doc_emb[pos_docs[a:b]])
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
    """
    _check_common(top_k, query_from)
    if query_from == "positive" and (query_prompt is not None or query_prompt_name is not None):
        raise ConfigError("query_prompt: does not apply with query_from='positive' (positive passages are "
                          "encoded as corpus texts, with corpus_prompt).")
    knobs = _resolve_index(index, corpus.height, top_k, nlist=nlist, nprobe=nprobe, hnsw_m=hnsw_m,
                           ef_search=ef_search)
    encoder = Encoder(model=model, batch_size=batch_size, device=device, dtype=dtype, max_seq_length=max_seq_length,
                      cache_dir=cache_dir, precision=precision, backend=backend, trust_remote_code=trust_remote_code)
    prompts = resolve_prompts(encoder, query_prompt, query_prompt_name, corpus_prompt, corpus_prompt_name)
    emb = embed_inputs(queries, positives, corpus, encoder, **prompts, encode_queries=query_from == "query",
                       show_progress=show_progress)
    if query_from == "query":
        rows, groups, self_docs, source = emb.query_emb, np.arange(len(emb.query_ids)), None, "dense"
    else:
        groups = np.concatenate([np.full(len(p), g) for g, p in enumerate(emb.positives)])
        self_docs = np.concatenate(emb.positives)
        rows, source = emb.doc_emb[self_docs], "passage-dense"
    if index == "flat":
        hits = search_flat(rows, groups, emb.doc_emb, emb.positives, top_k=top_k, desc=source,
                           show_progress=show_progress)
    else:
        logger.info("building faiss %s index (%s) over %d documents", index, knobs, len(emb.doc_emb))
        ann = build_index(emb.doc_emb, index, knobs)
        hits = search_ann(ann, rows, groups, emb.positives, top_k=top_k, desc=source, show_progress=show_progress)
    frame = hits.to_frame(emb.query_ids, emb.doc_ids, source=source, kind="cosine", positives=emb.positives,
                          positive_scores=positive_scores(emb, rows, groups, self_docs))
    if query_from == "query":
        frame = with_positive_similarities(frame, emb)
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
