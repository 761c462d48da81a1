"""Static BM25 mining: the query as query (`bm25`), or each positive passage as query (`passage-bm25`).

bm25s tokenizes and builds the index (its precomputed per-token scores). Retrieval is a sparse
product of query term counts with that index, a block of queries at a time, so each query's
positives can be masked exactly (bm25s' own weight_mask is global, not per query), zero-score
documents never enter the ranking, and the positives' scores come for free.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from minekit.errors import ConfigError, InputError
from minekit.inputs.schema import passage_text
from minekit.mine.topk import Hits, top_k_exact
from minekit.stats import StageResult

if TYPE_CHECKING:
    import polars as pl
    import scipy.sparse as sp

logger = logging.getLogger(__name__)

METHODS = ("lucene", "robertson", "atire")
# Upper bound on the non-zeros of one block of sparse query x document scores (~12 bytes each).
BLOCK_NONZEROS = 20_000_000


@dataclass
class _Index:
    doc_ids: "pl.Series"  # sorted, so a document's position is also its tie-break order
    term_scores: "sp.csr_matrix"  # vocabulary x documents, bm25s' precomputed per-term scores
    doc_terms: list[list[int]]  # token ids of each document, for passage queries
    tokenizer: object


def _make_tokenizer(stemmer: str | None, stopwords: str | None):
    from bm25s.tokenization import Tokenizer

    stem = None
    if stemmer:
        import Stemmer

        try:
            stem = Stemmer.Stemmer(stemmer)
        except KeyError as exc:
            raise ConfigError(
                f"stemmer: unknown language {stemmer!r}; choose one of {', '.join(Stemmer.algorithms())}, or none."
            ) from exc
    try:
        return Tokenizer(stopwords=stopwords or [], stemmer=stem)
    except Exception as exc:
        raise ConfigError(f"stopwords: {stopwords!r} is not a stopword list bm25s knows ({exc}). Fix: use one of "
                          "those languages' codes (en, fr, de, ...) or 'none'.") from exc


def _build_index(corpus: "pl.DataFrame", *, k1: float, b: float, method: str, stemmer: str | None,
                 stopwords: str | None, show_progress: bool) -> _Index:
    import bm25s
    import scipy.sparse as sp

    if method not in METHODS:
        raise ConfigError(f"method: {method!r} is not supported; choose one of {', '.join(METHODS)}.")
    if not k1 >= 0:  # also NaN
        raise ConfigError(f"k1: must be >= 0, got {k1}.")
    if not 0 <= b <= 1:
        raise ConfigError(f"b: must be between 0 and 1, got {b}.")
    corpus = corpus.sort("doc_id")
    texts = corpus.select(passage_text()).to_series().to_list()
    tokenizer = _make_tokenizer(stemmer, stopwords)
    tokens = tokenizer.tokenize(texts, return_as="tuple", show_progress=show_progress)
    retriever = bm25s.BM25(k1=k1, b=b, method=method)
    retriever.index(tokens, show_progress=show_progress)
    s = retriever.scores
    term_scores = sp.csr_matrix(
        (s["data"], s["indices"], s["indptr"]), shape=(len(s["indptr"]) - 1, s["num_docs"])
    )
    return _Index(corpus["doc_id"], term_scores, tokens.ids, tokenizer)


def _query_matrix(token_lists: list[list[int]], vocab_size: int) -> "sp.csr_matrix":
    """Term counts per query; a token repeated in a query counts again, as in bm25s.get_scores."""
    import scipy.sparse as sp

    lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.fromiter((i for t in token_lists for i in t), dtype=np.int64, count=int(indptr[-1]))
    matrix = sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(len(token_lists), vocab_size))
    matrix.sum_duplicates()
    return matrix


def _blocks(token_lists: list[list[int]], groups: np.ndarray, doc_freq: np.ndarray) -> list[tuple[int, int]]:
    """Split rows into [start, end) blocks whose score matrices stay under BLOCK_NONZEROS.

    A block never splits a group (the rows of one query), since a query's rows are merged together.
    """
    cost = np.fromiter((doc_freq[t].sum() if t else 0 for t in token_lists), dtype=np.int64, count=len(token_lists))
    bounds, start, acc = [], 0, 0
    for i in range(len(token_lists)):
        new_group = i == 0 or groups[i] != groups[i - 1]
        if new_group and i > start and acc + cost[i] > BLOCK_NONZEROS:
            bounds.append((start, i))
            start, acc = i, 0
        acc += cost[i]
    bounds.append((start, len(token_lists)))
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
        """The positives' scores (0 where absent), and a keep-mask of the row without positives."""
        self.dense[idx] = val
        pos_scores = self.dense[positives].copy()
        self.dense[positives] = -1.0
        keep = self.dense[idx] > 0
        self.dense[idx] = 0
        self.dense[positives] = 0
        return pos_scores, keep


def _retrieve(index: _Index, token_lists: list[list[int]], groups: np.ndarray, positives: list[np.ndarray] | None,
              self_docs: np.ndarray | None, *, top_k: int, desc: str, show_progress: bool) -> Hits:
    """Rank documents for each group of query rows: max-merge the rows, mask positives, exact top-k.

    `groups[i]` is the group (query) of row i, rows sorted by group; `positives[g]` are the document
    positions of group g (None: nothing masked, no positive scores). With `self_docs` (passage
    queries), a positive's score is its passage's self-match score; otherwise its score under the query.
    """
    from tqdm.auto import tqdm

    doc_freq = np.diff(index.term_scores.indptr)
    scratch = _Scratch(index.term_scores.shape[1])
    no_positives = np.zeros(0, dtype=np.int64)
    hits = Hits()
    bar = tqdm(total=int(groups[-1]) + 1 if len(groups) else 0, desc=desc, unit="query", disable=not show_progress)
    for start, end in _blocks(token_lists, groups, doc_freq):
        scores = _query_matrix(token_lists[start:end], index.term_scores.shape[0]) @ index.term_scores
        block_groups = groups[start:end]
        cuts = np.flatnonzero(np.diff(block_groups)) + 1
        for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [end - start]])):
            group = int(block_groups[lo])
            rows = [(scores.indices[scores.indptr[r]:scores.indptr[r + 1]],
                     scores.data[scores.indptr[r]:scores.indptr[r + 1]]) for r in range(lo, hi)]
            doc_idx, doc_scores = scratch.merge(rows)
            pos = no_positives if positives is None else positives[group]
            pos_scores, keep = scratch.mask(doc_idx, doc_scores, pos)
            if self_docs is not None:  # each positive passage against itself, in the group's row order
                pos_scores = np.array([float(val[idx == self_docs[start + r]].sum())
                                       for r, (idx, val) in zip(range(lo, hi), rows)], dtype=np.float32)
            hits.add(group, *top_k_exact(doc_scores[keep], doc_idx[keep], top_k),
                     pos_scores if positives is not None else None)
        bar.update(len(np.unique(block_groups)))
    bar.close()
    return hits


def _positions(index: _Index, positives: "pl.DataFrame", query_ids: list[str]) -> list[np.ndarray]:
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
    show_progress: bool = True,
) -> StageResult:
    """BM25 candidates for every query that has a positive, its positives removed."""
    mined = queries.filter(queries["query_id"].is_in(positives["query_id"].implode())).sort("query_id")
    frame, empty = _query_bm25(mined, positives, corpus, top_k=top_k, k1=k1, b=b, method=method, stemmer=stemmer,
                               stopwords=stopwords, show_progress=show_progress)
    if mined.height and empty == mined.height:
        raise InputError(_no_tokens(mined, stemmer, stopwords))
    return StageResult(frame, _stats(mined.height, frame, empty_queries=empty))


def _no_tokens(queries: "pl.DataFrame", stemmer: str | None, stopwords: str | None) -> str:
    """Every query lost all its words to the tokenizer: BM25 can rank nothing."""
    shown = ", ".join(repr(t) for t in queries["text"].head(3).to_list())
    return (f"queries: none of the {queries.height} queries with positives keeps a word after tokenizing "
            f"(stopwords {stopwords or 'none'}, stemmer {stemmer or 'none'}; e.g. {shown}), so BM25 scores every "
            "document 0. Fix: --stopwords none, or give queries with content words.")


def _query_bm25(queries: "pl.DataFrame", positives: "pl.DataFrame | None", corpus: "pl.DataFrame", *,
                top_k: int, show_progress: bool, **bm25_params) -> tuple["pl.DataFrame", int]:
    """Rank the corpus for every query (its positives masked when given); also count empty queries."""
    _check_top_k(top_k)
    index = _build_index(corpus, show_progress=show_progress, **bm25_params)
    query_ids = queries["query_id"].to_list()
    tokens = index.tokenizer.tokenize(queries["text"].to_list(), update_vocab=False, return_as="ids",
                                      show_progress=False)
    empty_id = index.tokenizer.word_to_id.get("")
    tokens = [[t for t in ts if t != empty_id] for ts in tokens]
    masks = None if positives is None else _positions(index, positives, query_ids)
    hits = _retrieve(index, tokens, np.arange(len(tokens)), masks, None, top_k=top_k, desc="bm25",
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
    show_progress: bool = True,
) -> StageResult:
    """BM25 candidates with each positive passage as the query (PassageBM25).

    A query with several positives gets one ranked list: a document's score is its best BM25 score
    against any of the positives (max merge). A positive's score is its passage's BM25 score against
    itself, so margins read as "how close to a copy of this positive".
    """
    _check_top_k(top_k)
    index = _build_index(corpus, k1=k1, b=b, method=method, stemmer=stemmer, stopwords=stopwords,
                         show_progress=show_progress)
    query_ids = sorted(set(positives["query_id"].to_list()) & set(queries["query_id"].to_list()))
    pos_lists = _positions(index, positives, query_ids)
    groups = np.concatenate([np.full(len(p), g) for g, p in enumerate(pos_lists)])
    self_docs = np.concatenate(pos_lists)
    tokens = [index.doc_terms[d] for d in self_docs]
    hits = _retrieve(index, tokens, groups, pos_lists, self_docs, top_k=top_k, desc="passage-bm25",
                     show_progress=show_progress)
    frame = hits.to_frame(query_ids, index.doc_ids, source="passage-bm25", kind="bm25", positives=pos_lists)
    tokens_per_query = np.bincount(groups, weights=[len(t) for t in tokens], minlength=len(query_ids))
    stats = _stats(len(query_ids), frame, empty_queries=int((tokens_per_query == 0).sum()))
    stats["positive_passages"] = int(len(self_docs))
    return StageResult(frame, stats)


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
    show_progress: bool = True,
) -> "pl.DataFrame":
    """Plain BM25 retrieval for evaluation: the top_k documents of every query, positives NOT removed.

    Returns query_id, doc_id, rank (1-based), score; same index, tokenizer and tie order as mine_bm25.
    """
    import polars as pl

    frame, empty = _query_bm25(queries, None, corpus, top_k=top_k, k1=k1, b=b, method=method, stemmer=stemmer,
                               stopwords=stopwords, show_progress=show_progress)
    if empty:
        logger.warning("%d of %d queries keep no word after tokenizing (stopwords %s, stemmer %s): BM25 retrieves "
                       "nothing for them and their metrics are 0", empty, queries.height, stopwords or "none",
                       stemmer or "none")
    if frame.height == 0:
        return pl.DataFrame(schema={"query_id": pl.Utf8, "doc_id": pl.Utf8, "rank": pl.Int32, "score": pl.Float32})
    return frame.select("query_id", "doc_id", "rank", "score")
