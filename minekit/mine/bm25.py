"""Static BM25 mining: the query as query (`bm25`), or each positive passage as query (`passage-bm25`).

The index (bm25s' tokenizer and precomputed per-token scores) lives on disk and is memory-mapped
(minekit.mine.bm25_index). Retrieval is a sparse product of query term counts with each index part, a
block of queries at a time, the parts' top-k merged under one total order, so each query's
positives can be masked exactly (bm25s' own weight_mask is global, not per query), zero-score
documents never enter the ranking, and the positives' scores come for free.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from minekit.errors import ConfigError, InputError
from minekit.mine.bm25_index import METHODS, bm25_index  # noqa: F401 - METHODS: the --method choices
from minekit.mine.topk import Hits, top_k_exact
from minekit.stats import StageResult

if TYPE_CHECKING:
    import polars as pl
    import scipy.sparse as sp

    from minekit.mine.bm25_index import Index

logger = logging.getLogger(__name__)

# Upper bound on the non-zeros of one block of sparse query x document scores (~12 bytes each).
BLOCK_NONZEROS = 20_000_000
FEW_POSITIVES = 8  # up to this many positives a query are masked by comparison, not through the dense vector


def _query_matrix(token_lists: list[list[int]], vocab_size: int) -> "sp.csr_matrix":
    """Term counts per query; a token repeated in a query counts again, as in bm25s.get_scores."""
    import scipy.sparse as sp

    lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.fromiter((i for t in token_lists for i in t), dtype=np.int64, count=int(indptr[-1]))
    matrix = sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(len(token_lists), vocab_size))
    matrix.sum_duplicates()
    return matrix


def _blocks(rows: "sp.csr_matrix", groups: np.ndarray, doc_freq: np.ndarray) -> list[tuple[int, int]]:
    """Split rows into [start, end) blocks whose score matrices stay under BLOCK_NONZEROS.

    A block never splits a group (the rows of one query), since a query's rows are merged together.
    """
    n = rows.shape[0]
    entry_rows = np.repeat(np.arange(n), np.diff(rows.indptr))
    cost = np.bincount(entry_rows, weights=doc_freq[rows.indices], minlength=n).astype(np.int64)
    bounds, start, acc = [], 0, 0
    for i in range(n):
        new_group = i == 0 or groups[i] != groups[i - 1]
        if new_group and i > start and acc + cost[i] > BLOCK_NONZEROS:
            bounds.append((start, i))
            start, acc = i, 0
        acc += cost[i]
    bounds.append((start, n))
    return bounds


class _Scratch:
    """A dense score vector over the corpus, touched only where a row has entries.

    Reading a few documents' scores, masking positives and max-merging rows then cost O(row size),
    not O(corpus), and the sparse rows never need sorting.
    """

    def __init__(self, n_docs: int) -> None:
        self.dense = np.zeros(n_docs, dtype=np.float32)

    def merge(self, rows: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Element-wise max of sparse rows (doc positions, scores): one list for several positives."""
        if len(rows) == 1:
            return rows[0]
        for idx, val in rows:
            self.dense[idx] = np.maximum(self.dense[idx], val)
        idx = np.unique(np.concatenate([r[0] for r in rows]))
        val = self.dense[idx].copy()
        self.dense[idx] = 0
        return idx, val

    def mask(self, idx: np.ndarray, val: np.ndarray, positives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The positives' scores (0 where absent), and a keep-mask of the row without positives (score > 0).

        With a few positives (the usual case) a comparison pass per positive; with many, through the dense
        vector (three scattered passes). Both give the same result.
        """
        if len(positives) <= FEW_POSITIVES:
            keep = val > 0
            pos_scores = np.zeros(len(positives), dtype=np.float32)
            for j, doc in enumerate(positives.tolist()):
                at = np.flatnonzero(idx == doc)
                if len(at):
                    pos_scores[j] = val[at[0]]
                    keep[at[0]] = False
            return pos_scores, keep
        self.dense[idx] = val
        pos_scores = self.dense[positives].copy()
        self.dense[positives] = -1.0
        keep = self.dense[idx] > 0
        self.dense[idx] = 0
        self.dense[positives] = 0
        return pos_scores, keep


def _retrieve(index: "Index", rows: "sp.csr_matrix", groups: np.ndarray, positives: list[np.ndarray] | None,
              self_docs: np.ndarray | None, *, top_k: int, desc: str, show_progress: bool) -> Hits:
    """Rank documents for each group of query rows: max-merge the rows, mask positives, exact top-k.

    `rows` are term counts (one row per query, or per positive passage), `groups[i]` the group (query) of
    row i, rows sorted by group; `positives[g]` are the document positions of group g (None: nothing
    masked, no positive scores). With `self_docs` (passage queries), a positive's score is its passage's
    self-match score; otherwise its score under the query. Each index part is searched in turn and the
    parts' top-k merged under the same total order, so the result does not depend on the parts.
    """
    from tqdm.auto import tqdm

    scratch = _Scratch(max(p.end - p.start for p in index.parts))
    hits = Hits()
    bar = tqdm(total=int(groups[-1]) + 1 if len(groups) else 0, desc=desc, unit="query", disable=not show_progress)
    for start, end in _blocks(rows, groups, index.doc_freq):
        block, block_groups = rows[start:end], groups[start:end]
        cuts = np.flatnonzero(np.diff(block_groups)) + 1
        spans = list(zip(np.concatenate([[0], cuts]).tolist(), np.concatenate([cuts, [end - start]]).tolist()))
        found: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in spans]
        pos_found: list[np.ndarray | None] = [None] * len(spans)
        for part in index.parts:
            scores = block @ part.matrix
            for s, (lo, hi) in enumerate(spans):
                group = int(block_groups[lo])
                pos = None if positives is None else positives[group]
                own = None if self_docs is None else self_docs[start + lo:start + hi]
                top, pos_scores = _rank_group(scratch, scores, lo, hi, part, pos, own, top_k)
                found[s].append(top)
                if pos_scores is not None:
                    pos_found[s] = pos_scores if pos_found[s] is None else np.where(pos_scores != 0, pos_scores,
                                                                                      pos_found[s])
        for s, (lo, _) in enumerate(spans):
            top = found[s][0] if len(found[s]) == 1 else top_k_exact(np.concatenate([f[0] for f in found[s]]),
                                                                     np.concatenate([f[1] for f in found[s]]), top_k)
            hits.add(int(block_groups[lo]), *top, pos_found[s])
        bar.update(len(spans))
    bar.close()
    return hits


def _rank_group(scratch: "_Scratch", scores: "sp.csr_matrix", lo: int, hi: int, part, positives: np.ndarray | None,
                self_docs: np.ndarray | None, top_k: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray | None]:
    """One group's rows against one index part: its top-k (global positions) and its positives' scores there
    (0 for a positive in another part); a positive passage's score is its self-match score."""
    rows = [(scores.indices[scores.indptr[r]:scores.indptr[r + 1]],
             scores.data[scores.indptr[r]:scores.indptr[r + 1]]) for r in range(lo, hi)]
    doc_idx, doc_scores = scratch.merge(rows)
    pos = np.zeros(0, dtype=np.int64) if positives is None else positives
    inside = (pos >= part.start) & (pos < part.end)
    local_scores, keep = scratch.mask(doc_idx, doc_scores, pos[inside] - part.start)
    pos_scores = None
    if positives is not None:
        pos_scores = np.zeros(len(pos), dtype=np.float32)
        pos_scores[inside] = local_scores
    if self_docs is not None:  # each positive passage against itself, in the group's row order
        pos_scores = np.array([float(val[idx == own - part.start].sum()) if part.start <= own < part.end else 0.0
                               for own, (idx, val) in zip(self_docs, rows)], dtype=np.float32)
    top_scores, top_docs = top_k_exact(doc_scores[keep], doc_idx[keep], top_k)
    return (top_scores, top_docs.astype(np.int64) + part.start), pos_scores


def _positions(index: "Index", positives: "pl.DataFrame", query_ids: list[str]) -> list[np.ndarray]:
    import polars as pl

    lookup = pl.DataFrame({"doc_id": index.doc_ids, "pos": np.arange(len(index.doc_ids))})
    grouped = positives.join(lookup, on="doc_id").group_by("query_id").agg(pl.col("pos").sort())
    by_query = dict(zip(grouped["query_id"].to_list(), grouped["pos"].to_list()))
    return [np.asarray(by_query[q], dtype=np.int64) for q in query_ids]


def mine_bm25(
    queries: "pl.DataFrame",
    positives: "pl.DataFrame",
    corpus: "pl.DataFrame",
    *,
    top_k: int = 100,
    k1: float = 1.5,
    b: float = 0.75,
    method: str = "lucene",
    stemmer: str | None = "english",
    stopwords: str | None = "en",
    cache_dir: str | Path | None = None,
    index_parts: int = 1,
    show_progress: bool = True,
) -> StageResult:
    """BM25 candidates for every query that has a positive, its positives removed.

    The index is read from `cache_dir` (built there once when missing, minekit.mine.bm25_index); without
    a cache it is built in a temporary folder. `index_parts` splits it by passage; results do not change.
    """
    mined = queries.filter(queries["query_id"].is_in(positives["query_id"].implode())).sort("query_id")
    if mined.height and not _any_words(mined["text"].to_list(), stemmer, stopwords):  # before any index is built
        raise InputError(_no_tokens(mined, stemmer, stopwords))
    frame, empty = _query_bm25(mined, positives, corpus, top_k=top_k, k1=k1, b=b, method=method, stemmer=stemmer,
                               stopwords=stopwords, cache_dir=cache_dir, index_parts=index_parts,
                               show_progress=show_progress)
    if mined.height and empty == mined.height:
        raise InputError(_no_tokens(mined, stemmer, stopwords))
    if empty:
        logger.warning("%d of %d queries keep no word after tokenizing (stopwords %s, stemmer %s): they get no "
                       "candidates", empty, mined.height, stopwords or "none", stemmer or "none")
    return StageResult(frame, _stats(mined.height, frame, empty_queries=empty))


def _any_words(texts: list[str], stemmer: str | None, stopwords: str | None) -> bool:
    """Whether some text keeps a word after tokenizing (stopwords removed), whatever the corpus holds."""
    from minekit.mine.bm25_index import check_params, make_tokenizer

    check_params(k1=0.0, b=0.0, method="lucene", stemmer=stemmer, stopwords=stopwords)
    tokens = make_tokenizer(stemmer, stopwords).tokenize(texts, update_vocab=True, return_as="ids",
                                                         show_progress=False, allow_empty=False)
    return any(tokens)


def _no_tokens(queries: "pl.DataFrame", stemmer: str | None, stopwords: str | None) -> str:
    """Every query lost all its words to the tokenizer: BM25 can rank nothing."""
    shown = ", ".join(repr(t) for t in queries["text"].head(3).to_list())
    return (f"queries: none of the {queries.height} queries with positives keeps a word after tokenizing "
            f"(stopwords {stopwords or 'none'}, stemmer {stemmer or 'none'}; e.g. {shown}), so BM25 scores every "
            "document 0. Fix: --stopwords none, or give queries with content words.")


def _query_bm25(queries: "pl.DataFrame", positives: "pl.DataFrame | None", corpus: "pl.DataFrame", *,
                top_k: int, cache_dir: str | Path | None, index_parts: int, show_progress: bool,
                **bm25_params) -> tuple["pl.DataFrame", int]:
    """Rank the corpus for every query (its positives masked when given); also count empty queries."""
    _check_top_k(top_k)
    with bm25_index(corpus, cache_dir=cache_dir, parts=index_parts, show_progress=show_progress,
                    **bm25_params) as index:
        query_ids = queries["query_id"].to_list()
        tokens = index.tokenize(queries["text"].to_list())
        masks = None if positives is None else _positions(index, positives, query_ids)
        rows = _query_matrix(tokens, index.vocab_size)
        hits = _retrieve(index, rows, np.arange(len(tokens)), masks, None, top_k=top_k, desc="bm25",
                         show_progress=show_progress)
        frame = hits.to_frame(query_ids, index.doc_ids, source="bm25", kind="bm25", positives=masks)
    return frame, sum(not t for t in tokens)


def mine_passage_bm25(
    queries: "pl.DataFrame",
    positives: "pl.DataFrame",
    corpus: "pl.DataFrame",
    *,
    top_k: int = 100,
    k1: float = 1.5,
    b: float = 0.75,
    method: str = "lucene",
    stemmer: str | None = "english",
    stopwords: str | None = "en",
    cache_dir: str | Path | None = None,
    index_parts: int = 1,
    show_progress: bool = True,
) -> StageResult:
    """BM25 candidates with each positive passage as the query (PassageBM25).

    A query with several positives gets one ranked list: a document's score is its best BM25 score
    against any of the positives (max merge). A positive's score is its passage's BM25 score against
    itself, so margins read as "how close to a copy of this positive". A positive passage that keeps
    no word after tokenizing queries nothing; a query all of whose positives are such is counted in
    queries_empty_after_tokenization and gets no candidates. The index as in mine_bm25.
    """
    _check_top_k(top_k)
    with bm25_index(corpus, cache_dir=cache_dir, parts=index_parts, show_progress=show_progress, k1=k1, b=b,
                    method=method, stemmer=stemmer, stopwords=stopwords) as index:
        query_ids = sorted(set(positives["query_id"].to_list()) & set(queries["query_id"].to_list()))
        pos_lists = _positions(index, positives, query_ids)
        groups = np.concatenate([np.full(len(p), g) for g, p in enumerate(pos_lists)])
        self_docs = np.concatenate(pos_lists)
        rows = index.passage_rows(self_docs)
        hits = _retrieve(index, rows, groups, pos_lists, self_docs, top_k=top_k, desc="passage-bm25",
                         show_progress=show_progress)
        frame = hits.to_frame(query_ids, index.doc_ids, source="passage-bm25", kind="bm25", positives=pos_lists)
    terms_per_query = np.bincount(groups, weights=np.diff(rows.indptr), minlength=len(query_ids))
    empty = int((terms_per_query == 0).sum())
    if query_ids and empty == len(query_ids):
        raise InputError(_no_passage_tokens(len(query_ids), stemmer, stopwords))
    if empty:
        logger.warning("%d of %d queries have only positive passages that keep no word after tokenizing "
                       "(stopwords %s, stemmer %s): they get no candidates", empty, len(query_ids),
                       stopwords or "none", stemmer or "none")
    stats = _stats(len(query_ids), frame, empty_queries=empty)
    stats["positive_passages"] = int(len(self_docs))
    return StageResult(frame, stats)


def _no_passage_tokens(n_queries: int, stemmer: str | None, stopwords: str | None) -> str:
    return (f"positives: none of the {n_queries} queries has a positive passage that keeps a word after tokenizing "
            f"(stopwords {stopwords or 'none'}, stemmer {stemmer or 'none'}), so passage BM25 can rank nothing. "
            "Fix: --stopwords none, or positives with content words.")


def _check_top_k(top_k: int) -> None:
    if top_k < 1:
        raise ConfigError(f"top_k: must be at least 1, got {top_k}.")


def _stats(n_queries: int, frame: "pl.DataFrame", *, empty_queries: int) -> dict:
    with_hits = frame["query_id"].n_unique() if frame.height else 0
    return {
        "queries": n_queries,
        "rows_out": frame.height,
        "queries_without_candidates": n_queries - with_hits,
        "queries_empty_after_tokenization": int(empty_queries),
    }


def rank_bm25(
    queries: "pl.DataFrame",
    corpus: "pl.DataFrame",
    *,
    top_k: int = 100,
    k1: float = 1.5,
    b: float = 0.75,
    method: str = "lucene",
    stemmer: str | None = "english",
    stopwords: str | None = "en",
    cache_dir: str | Path | None = None,
    show_progress: bool = True,
) -> "pl.DataFrame":
    """Plain BM25 retrieval for evaluation: the top_k documents of every query, positives NOT removed.

    Returns query_id, doc_id, rank (1-based), score; same index, tokenizer and tie order as mine_bm25.
    """
    import polars as pl

    frame, empty = _query_bm25(queries, None, corpus, top_k=top_k, k1=k1, b=b, method=method, stemmer=stemmer,
                               stopwords=stopwords, cache_dir=cache_dir, index_parts=1, show_progress=show_progress)
    if empty:
        logger.warning("%d of %d queries keep no word after tokenizing (stopwords %s, stemmer %s): BM25 retrieves "
                       "nothing for them and their metrics are 0", empty, queries.height, stopwords or "none",
                       stemmer or "none")
    if frame.height == 0:
        return pl.DataFrame(schema={"query_id": pl.Utf8, "doc_id": pl.Utf8, "rank": pl.Int32, "score": pl.Float32})
    return frame.select("query_id", "doc_id", "rank", "score")
