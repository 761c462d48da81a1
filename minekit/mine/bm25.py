"""Static BM25 mining: the query as query (`bm25`), or each positive passage as query (`passage-bm25`).

The index (bm25s' tokenizer and precomputed per-token scores) lives on disk and is memory-mapped
(minekit.mine.bm25_index). A query's score vector is the sum of its terms' posting lists (bm25s'
scores) added into a dense vector over each index part, in term-id order (the float32 bits of a
sparse product); its positives are read from that vector and masked exactly (bm25s' own weight_mask
is global, not per query), zero-score documents never enter the ranking, and the parts' top-k merge
under one total order (score descending, then doc_id).
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

QUERY_BLOCK = 4096  # queries searched against every part before the next block: bounds the hits held at once
MANY_TERMS, LONG_POSTINGS = 16, 4096  # rows of many terms with short posting lists add them in one call
SCAN = 4  # a row whose postings exceed 1/SCAN of a part's passages is ranked by one pass over the part


def _query_matrix(token_lists: list[list[int]], vocab_size: int) -> "sp.csr_matrix":
    """Term counts per query; a token repeated in a query counts again, as in bm25s.get_scores."""
    import scipy.sparse as sp

    lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.fromiter((i for t in token_lists for i in t), dtype=np.int64, count=int(indptr[-1]))
    matrix = sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(len(token_lists), vocab_size))
    matrix.sum_duplicates()
    return matrix


class _Accumulator:
    """Dense score vectors over one index part, reset after each query.

    A row's postings are added term by term, in term-id order (the order of a sparse product, so the float32
    sums are the same bits), into a dense vector; no query x passage matrix is built. A row that touches a
    small share of the part is read back from its postings (each passage once, through `last`, no sort);
    one that touches a large share is ranked by one partition of the whole vector, which is cheaper than
    collecting what it touched.
    """

    def __init__(self, part) -> None:
        n_docs = part.end - part.start
        # plain views of the mapped arrays: slicing an np.memmap costs microseconds of Python a slice
        self.indptr, self.indices, self.data = (np.asarray(a) for a in (part.matrix.indptr, part.matrix.indices,
                                                                         part.matrix.data))
        self.row = np.zeros(n_docs, dtype=np.float32)
        self.merged = np.zeros(n_docs, dtype=np.float32)
        self.last = np.zeros(n_docs, dtype=np.int64)

    def add(self, terms: np.ndarray, weights: np.ndarray, into: np.ndarray) -> np.ndarray | None:
        """Add a row's scores into `into`; return the passages it touched, or None when it touched many."""
        starts = self.indptr[terms].astype(np.int64)
        lengths = self.indptr[terms + 1] - starts
        postings = int(lengths.sum())
        if len(terms) > MANY_TERMS and postings < LONG_POSTINGS * len(terms):
            # many short posting lists (a passage as the query, a small corpus): one gather and one add
            at = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(postings)
            docs, values = self.indices[at], self.data[at]
            if (weights != 1).any():
                values = values * np.repeat(weights, lengths)
            np.add.at(into, docs, values)
            touched = [docs]
        else:
            touched = []
            for a, b, weight in zip(starts.tolist(), (starts + lengths).tolist(), weights.tolist()):
                docs, values = self.indices[a:b], self.data[a:b]
                np.add.at(into, docs, values if weight == 1.0 else values * np.float32(weight))
                touched.append(docs)
        if postings * SCAN > len(into):
            return None
        return self.distinct(np.concatenate(touched)) if touched else np.zeros(0, dtype=np.int64)

    def distinct(self, docs: np.ndarray) -> np.ndarray:
        """Each passage of `docs` once (its last occurrence), in linear time."""
        order = np.arange(len(docs))
        self.last[docs] = order
        return docs[self.last[docs] == order].astype(np.int64, copy=False)

    def max_into_merged(self, touched: np.ndarray | None) -> None:
        """merged = max(merged, row) where the row touched; the row is reset."""
        if touched is None:
            np.maximum(self.merged, self.row, out=self.merged)
            self.row.fill(0)
        else:
            self.merged[touched] = np.maximum(self.merged[touched], self.row[touched])
            self.row[touched] = 0

    def top(self, touched: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best passages of `merged` scoring above 0 (exact, ties by position); merged is reset."""
        vector = self.merged
        if touched is None:
            n = len(vector)
            kth = np.partition(vector, n - k)[n - k] if n > k else 0.0
            touched = np.flatnonzero(vector >= kth) if kth > 0 else np.flatnonzero(vector > 0)
            values = vector[touched]
            vector.fill(0)
        else:
            values = vector[touched]
            vector[touched] = 0
        keep = values > 0
        return top_k_exact(values[keep], touched[keep], k)


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

    n_groups = int(groups[-1]) + 1 if len(groups) else 0
    starts = np.searchsorted(groups, np.arange(n_groups + 1))
    hits = Hits()
    bar = tqdm(total=n_groups, desc=desc, unit="query", disable=not show_progress)
    for block in range(0, n_groups, QUERY_BLOCK):
        block_groups = range(block, min(n_groups, block + QUERY_BLOCK))
        found: dict[int, list] = {g: [] for g in block_groups}
        pos_found: dict[int, np.ndarray | None] = dict.fromkeys(block_groups)
        for part in index.parts:
            acc = _Accumulator(part)
            for g in block_groups:
                lo, hi = int(starts[g]), int(starts[g + 1])
                pos = None if positives is None else positives[g]
                own = None if self_docs is None else self_docs[lo:hi]
                top, pos_scores = _rank_group(acc, rows, lo, hi, part, pos, own, top_k)
                found[g].append(top)
                if pos_scores is not None:
                    pos_found[g] = pos_scores if pos_found[g] is None else np.where(pos_scores != 0, pos_scores,
                                                                                      pos_found[g])
                if part is index.parts[-1]:
                    bar.update(1)  # a query is done once the last part has ranked it
            part.release()  # the block's pages of this part: the OS keeps them cached, this process lets go
        for g in block_groups:
            tops = found[g]
            top = tops[0] if len(tops) == 1 else top_k_exact(np.concatenate([t[0] for t in tops]),
                                                             np.concatenate([t[1] for t in tops]), top_k)
            hits.add(g, *top, pos_found[g])
    bar.close()
    return hits


def _rank_group(acc: _Accumulator, rows: "sp.csr_matrix", lo: int, hi: int, part, positives: np.ndarray | None,
                self_docs: np.ndarray | None, top_k: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray | None]:
    """One group's rows [lo, hi) against one index part: its top-k (global positions) and its positives' scores
    there (0 for a positive in another part); a positive passage's score is its self-match score.

    Several rows (a query's positive passages) merge by element-wise max, a passage absent from a row
    counting 0 there; only passages scoring above 0 are ranked."""
    own_scores = []
    if hi - lo == 1:
        touched = acc.add(rows.indices[rows.indptr[lo]:rows.indptr[hi]], rows.data[rows.indptr[lo]:rows.indptr[hi]],
                          acc.merged)
        if self_docs is not None:
            own_scores.append(_own(acc.merged, self_docs[0], part))
    else:
        union: list[np.ndarray] | None = []
        for r in range(lo, hi):
            row_touched = acc.add(rows.indices[rows.indptr[r]:rows.indptr[r + 1]],
                                  rows.data[rows.indptr[r]:rows.indptr[r + 1]], acc.row)
            if self_docs is not None:
                own_scores.append(_own(acc.row, self_docs[r - lo], part))
            acc.max_into_merged(row_touched)
            union = None if union is None or row_touched is None else [*union, row_touched]
        touched = None if union is None else acc.distinct(np.concatenate(union)) if union else np.zeros(0, np.int64)
    pos = np.zeros(0, dtype=np.int64) if positives is None else positives
    inside = (pos >= part.start) & (pos < part.end)
    local = pos[inside] - part.start
    pos_scores = None
    if self_docs is not None:
        pos_scores = np.array(own_scores, dtype=np.float32)
    elif positives is not None:
        pos_scores = np.zeros(len(pos), dtype=np.float32)
        pos_scores[inside] = acc.merged[local]
    acc.merged[local] = 0  # positives are never ranked
    top_scores, top_docs = acc.top(touched, top_k)
    return (top_scores, top_docs.astype(np.int64) + part.start), pos_scores


def _own(vector: np.ndarray, own: int, part) -> float:
    """A positive passage's score against itself (0 when it lies in another part)."""
    return float(vector[own - part.start]) if part.start <= own < part.end else 0.0


def _positions(index: "Index", positives: "pl.DataFrame", query_ids: list[str]) -> list[np.ndarray]:
    import polars as pl

    lookup = pl.DataFrame({"doc_id": index.doc_ids, "pos": np.arange(len(index.doc_ids))})
    grouped = positives.join(lookup, on="doc_id").group_by("query_id").agg(pl.col("pos").sort())
    by_query = dict(zip(grouped["query_id"].to_list(), grouped["pos"].to_list()))
    return [np.asarray(by_query[q], dtype=np.int64) for q in query_ids]


def mine_bm25(
    queries: "pl.DataFrame",
    positives: "pl.DataFrame",
    corpus: "pl.DataFrame | str | Path",
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
    `corpus` may be the corpus parquet file: once its index is cached, its texts are never read again.
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


def _query_bm25(queries: "pl.DataFrame", positives: "pl.DataFrame | None", corpus: "pl.DataFrame | str | Path", *,
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
    corpus: "pl.DataFrame | str | Path",
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
    corpus: "pl.DataFrame | str | Path",
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
