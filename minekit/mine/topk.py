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
        self.positive_scores: dict[int, np.ndarray] = {}

    def add(self, group: int, scores: np.ndarray, docs: np.ndarray, positive_scores: np.ndarray | None = None) -> None:
        """A group's ranked hits; positive_scores (aligned with the group's positives) when known here."""
        n = len(docs)
        self._groups.append(np.full(n, group, dtype=np.int64))
        self._docs.append(np.asarray(docs, dtype=np.int64))
        self._scores.append(np.asarray(scores, dtype=np.float32))
        self._ranks.append(np.arange(1, n + 1, dtype=np.int32))
        if positive_scores is not None:
            self.positive_scores[group] = np.asarray(positive_scores, dtype=np.float32)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(group, document position, rank) of every hit, in the order added."""
        if not self._docs:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int32)
        return np.concatenate(self._groups), np.concatenate(self._docs), np.concatenate(self._ranks)

    def to_frame(self, query_ids: list[str], doc_ids: "pl.Series", *, source: str, kind: str | None = None,
                 positives: list[np.ndarray] | None = None,
                 positive_scores: list[np.ndarray | None] | None = None) -> "pl.DataFrame":
        """Candidates in contract form. positives[g] are the document positions of group g's positives;
        their scores come from positive_scores[g], else from add(), else stay null (no margin possible).
        kind says what scored them (default: the usual kind of the source's miner)."""
        import polars as pl

        from minekit.inputs.schema import SOURCE_KINDS, conform_candidates, empty_candidates

        kind = kind or SOURCE_KINDS[source]
        if not self._docs or sum(len(d) for d in self._docs) == 0:
            return empty_candidates()
        groups = np.concatenate(self._groups)
        frame = pl.DataFrame({
            "query_id": pl.Series(query_ids, dtype=pl.Utf8).gather(groups),
            "doc_id": doc_ids.gather(np.concatenate(self._docs)),
            "source": pl.repeat(source, len(groups), eager=True, dtype=pl.Utf8),
            "rank": np.concatenate(self._ranks),
            "score": np.concatenate(self._scores),
            "score_kind": pl.repeat(kind, len(groups), eager=True, dtype=pl.Utf8),
        })
        if positive_scores is None:
            positive_scores = [self.positive_scores.get(g) for g in range(len(query_ids))]
        return conform_candidates(with_positives(frame, query_ids, doc_ids, positives, positive_scores))


def with_positives(frame: "pl.DataFrame", query_ids: list[str], doc_ids: "pl.Series",
                   positives: list[np.ndarray] | None, scores: list[np.ndarray | None]) -> "pl.DataFrame":
    """Add positive_ids, positive_scores (aligned, per query) and positive_score (their lowest)."""
    import polars as pl

    ids, values = [], []
    for g in range(len(query_ids)):
        pos = positives[g] if positives is not None else np.zeros(0, dtype=np.int64)
        ids.append(doc_ids.gather(pos).to_list() if len(pos) else [])
        s = scores[g] if scores is not None else None
        values.append([None] * len(pos) if s is None else [float(v) if np.isfinite(v) else None for v in s])
    lookup = pl.DataFrame({"query_id": query_ids,
                           "positive_ids": pl.Series(ids, dtype=pl.List(pl.Utf8)),
                           "positive_scores": pl.Series(values, dtype=pl.List(pl.Float32))})
    return (frame.join(lookup, on="query_id", how="left", maintain_order="left")
            .with_columns(pl.col("positive_scores").list.min().alias("positive_score")))
