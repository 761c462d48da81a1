"""Exact top-k under a total order (score descending, then document position ascending), shared by miners."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import polars as pl


def top_k_exact(scores: np.ndarray, docs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (scores, docs), ties broken by the smaller document position.

    Documents are positioned in doc_id order, so the result does not depend on how scores were
    computed or merged: the same inputs always give the same ranking.
    """
    if len(scores) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth  # every tie at the boundary competes on position below
        scores, docs = scores[keep], docs[keep]
    order = np.lexsort((docs, -scores))[:k]
    return scores[order], docs[order]


class Hits:
    """Ranked hits, one group (query) at a time, turned into a candidates frame at the end."""

    def __init__(self) -> None:
        self._groups: list[np.ndarray] = []
        self._docs: list[np.ndarray] = []
        self._scores: list[np.ndarray] = []
        self._ranks: list[np.ndarray] = []
        self._positive: list[np.ndarray] = []

    def add(self, group: int, scores: np.ndarray, docs: np.ndarray, positive_score: float | None) -> None:
        n = len(docs)
        self._groups.append(np.full(n, group, dtype=np.int64))
        self._docs.append(np.asarray(docs, dtype=np.int64))
        self._scores.append(np.asarray(scores, dtype=np.float32))
        self._ranks.append(np.arange(1, n + 1, dtype=np.int32))
        value = np.nan if positive_score is None else positive_score
        self._positive.append(np.full(n, value, dtype=np.float32))

    def to_frame(self, query_ids: list[str], doc_ids: "pl.Series", *, source: str) -> "pl.DataFrame":
        import polars as pl

        from minekit.schema import conform_candidates, empty_candidates

        if not self._docs or sum(len(d) for d in self._docs) == 0:
            return empty_candidates()
        groups = np.concatenate(self._groups)
        frame = pl.DataFrame({
            "query_id": pl.Series(query_ids, dtype=pl.Utf8).gather(groups),
            "doc_id": doc_ids.gather(np.concatenate(self._docs)),
            "source": pl.repeat(source, len(groups), eager=True, dtype=pl.Utf8),
            "rank": np.concatenate(self._ranks),
            "score": np.concatenate(self._scores),
            "positive_score": np.concatenate(self._positive),
        }).with_columns(pl.col("positive_score").fill_nan(None))
        return conform_candidates(frame)
