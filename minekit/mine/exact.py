"""Exact top-k search over embeddings read a block at a time, with results independent of block sizes.

Queries (rows, grouped: a group's rows are max-merged, as passage-dense needs) are taken block_size
groups at a time; for each, the corpus is read block_size documents at a time (minekit.encode.vectors, as
stored) and scored with one float32 matrix product per score block. The product only *selects*:
every document whose BLAS score is within the proven float32 error bound of the running k-th best
(or of the block's k-th best while fewer than k are known) is rescored with canonical_dot and merged
into a running top-k under minekit's total order (score descending, then position ascending). So
the ids, ranks and scores returned never depend on block sizes or on the order blocks are read in:
a query's result is the same alone, in a shard, or with a million others.

Peak memory: one corpus block (block_size x dim float32), one score block (SCORE_BLOCK floats), the
query block's rows and its running top-k (block_size x top_k), never corpus x queries.
"""

from __future__ import annotations

import numpy as np

from minekit.mine.topk import Hits
from minekit.encode.vectors import Vectors, as_vectors, blas_error, canonical_dot

BLOCK_SIZE = 65_536  # documents read, and query groups searched, per block (the default of --block-size)
SCORE_BLOCK = 16_000_000  # floats in one block of query x document scores (64 MB)


class _TopK:
    """Running top-k of n groups under (score desc, position asc)."""

    def __init__(self, n: int, k: int) -> None:
        self.k = k
        self.scores = np.full((n, k), -np.inf, dtype=np.float32)
        self.docs = np.full((n, k), np.iinfo(np.int64).max, dtype=np.int64)
        self.count = np.zeros(n, dtype=np.int64)

    def merge(self, g0: int, g1: int, groups: np.ndarray, scores: np.ndarray, docs: np.ndarray) -> None:
        """Merge new (group, score, doc) entries of groups in [g0, g1) (docs new to those groups)."""
        if len(groups) == 0:
            return
        have = np.arange(self.k)[None, :] < self.count[g0:g1, None]
        old_g = np.nonzero(have)[0] + g0
        all_g = np.concatenate([old_g, groups])
        all_s = np.concatenate([self.scores[g0:g1][have], scores])
        all_d = np.concatenate([self.docs[g0:g1][have], docs])
        order = np.lexsort((all_d, -all_s, all_g))
        all_g, all_s, all_d = all_g[order], all_s[order], all_d[order]
        starts = np.searchsorted(all_g, np.arange(g0, g1))
        rank = np.arange(len(all_g)) - starts[all_g - g0]
        keep = rank < self.k
        self.scores[all_g[keep], rank[keep]] = all_s[keep]
        self.docs[all_g[keep], rank[keep]] = all_d[keep]
        self.count[g0:g1] = np.minimum(np.bincount(all_g - g0, minlength=g1 - g0), self.k)

    def threshold(self, g0: int, g1: int) -> np.ndarray:
        """The k-th best score so far of each group, -inf while it has fewer than k."""
        full = self.count[g0:g1] >= self.k
        return np.where(full, self.scores[g0:g1, self.k - 1], -np.inf)


def _group_starts(groups: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.flatnonzero(np.diff(groups)) + 1, [len(groups)]])


def _merged_scores(rows: np.ndarray, local: np.ndarray, n_groups: int, docs: np.ndarray) -> np.ndarray:
    """BLAS scores (n_groups x n_docs), each group's rows max-merged; local[i] = row i's group (sorted)."""
    if len(rows) == n_groups:
        return rows @ docs.T
    merged = np.full((n_groups, len(docs)), -np.inf, dtype=np.float32)
    step = max(1, SCORE_BLOCK // max(len(docs), 1))
    for a in range(0, len(rows), step):
        part = rows[a:a + step] @ docs.T
        g = local[a:a + step]
        starts = np.concatenate([[0], np.flatnonzero(np.diff(g)) + 1])
        merged[g[starts]] = np.maximum(merged[g[starts]], np.maximum.reduceat(part, starts, axis=0))
    return merged


def search_exact(rows: "Vectors | np.ndarray", groups: np.ndarray, docs: "Vectors | np.ndarray",
                 positives: list[np.ndarray], *, top_k: int, row_index: np.ndarray | None = None,
                 block_size: int = BLOCK_SIZE, desc: str = "search", show_progress: bool = True) -> Hits:
    """For each group g of query rows (groups sorted; row i is rows[row_index[i]]): the top_k documents
    by the best canonical cosine of any of its rows, positives[g] excluded, under the total order."""
    from tqdm.auto import tqdm

    rows, docs = as_vectors(rows), as_vectors(docs)
    row_index = np.arange(len(groups)) if row_index is None else np.asarray(row_index, dtype=np.int64)
    hits = Hits()
    n_groups = int(groups[-1]) + 1 if len(groups) else 0
    k = min(top_k, docs.n)
    if k == 0 or n_groups == 0:
        for g in range(n_groups):
            hits.add(g, np.empty(0, np.float32), np.empty(0, np.int64))
        return hits
    starts = _group_starts(groups)
    col_of = np.full(docs.n, -1, dtype=np.int64)
    error = blas_error(docs.dim)
    with tqdm(total=n_groups, desc=desc, unit="query", disable=not show_progress) as bar:
        for ga in range(0, n_groups, block_size):
            gb = min(ga + block_size, n_groups)
            ra, rb = int(starts[ga]), int(starts[gb])
            q = rows.gather(row_index[ra:rb])
            local = groups[ra:rb] - ga
            norms = np.zeros(gb - ga)
            np.maximum.at(norms, local, np.linalg.norm(q, axis=1))
            pos_g = np.concatenate([np.full(len(positives[g]), g - ga) for g in range(ga, gb)]).astype(np.int64)
            pos_d = np.concatenate([positives[g] for g in range(ga, gb)]).astype(np.int64)
            state = _TopK(gb - ga, k)
            for positions, block in docs.blocks(block_size):
                col_of[positions] = np.arange(len(positions))
                dmax = float(np.linalg.norm(block, axis=1).max()) if len(block) else 0.0
                _score_block(q, local, block, positions, col_of, pos_g, pos_d, state, norms * dmax * error)
                col_of[positions] = -1
            for g in range(gb - ga):
                n = int(state.count[g])
                hits.add(ga + g, state.scores[g, :n], state.docs[g, :n])
            bar.update(gb - ga)
    return hits


def _score_block(q: np.ndarray, local: np.ndarray, block: np.ndarray, positions: np.ndarray, col_of: np.ndarray,
                 pos_g: np.ndarray, pos_d: np.ndarray, state: _TopK, error: np.ndarray) -> None:
    """Select, rescore and merge one corpus block's candidates for every group of the query block."""
    n_docs = len(block)
    per = max(1, SCORE_BLOCK // max(n_docs, 1))
    starts = _group_starts(local)
    n_groups = len(starts) - 1
    cols = col_of[pos_d]
    masked = cols >= 0
    mask_g, mask_c = pos_g[masked], cols[masked]
    for ga in range(0, n_groups, per):
        gb = min(ga + per, n_groups)
        ra, rb = int(starts[ga]), int(starts[gb])
        scores = _merged_scores(q[ra:rb], local[ra:rb] - ga, gb - ga, block)
        sel = (mask_g >= ga) & (mask_g < gb)
        scores[mask_g[sel] - ga, mask_c[sel]] = -np.inf
        # A document can reach the final top-k only if its canonical score is >= the running k-th
        # (>= the block's canonical k-th while the running list is not full); BLAS scores are within
        # error of canonical ones, so these thresholds (minus 2 x error) keep every such document.
        floor = state.threshold(ga, gb)
        open_ = ~np.isfinite(floor)
        if open_.any():
            kk = min(state.k, n_docs)
            kth = np.partition(scores[open_], n_docs - kk, axis=1)[:, n_docs - kk]
            floor[open_] = kth
        keep = (scores >= (floor - 2 * error[ga:gb])[:, None]) & (scores > -np.inf)
        g_idx, c_idx = np.nonzero(keep)
        del scores, keep
        exact = _rescore(q, local, starts, ga, g_idx, c_idx, block)
        state.merge(ga, gb, g_idx + ga, exact, positions[c_idx])


def _rescore(q: np.ndarray, local: np.ndarray, starts: np.ndarray, ga: int, g_idx: np.ndarray, c_idx: np.ndarray,
             block: np.ndarray) -> np.ndarray:
    """canonical_dot of each (group ga + g_idx, block column c_idx) pair, max over the group's rows."""
    g_abs = g_idx + ga
    n_rows = starts[g_abs + 1] - starts[g_abs]
    if (n_rows == 1).all():
        return canonical_dot(q[starts[g_abs]], block[c_idx])
    pair = np.repeat(np.arange(len(g_idx)), n_rows)
    row = np.repeat(starts[g_abs], n_rows) + (np.arange(len(pair)) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows))
    each = canonical_dot(q[row], block[c_idx[pair]])
    out = np.full(len(g_idx), -np.inf, dtype=np.float32)
    np.maximum.at(out, pair, each)
    return out
