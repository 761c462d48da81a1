"""An import's negatives as a candidates file: one row per (query, document), kept for the positives whose
records list it (excluded_for names the query's other positives), ranked in one order per query that
keeps every record's own order, so `build` gives each (query, positive) back its own negatives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

IMPORTED_SOURCE = "imported"


def negative_candidates(rows: "pl.DataFrame", positives: "pl.DataFrame") -> tuple["pl.DataFrame | None", int]:
    """A candidates file of the records' negatives: one row per (query, doc), each kept for the positives
    whose records list it (excluded_for names the query's other positives), ranked in one order per query
    that keeps every record's own order. Scores are the file's when it gives them; otherwise 0.0 with no
    positive score, as random negatives have.
    """
    import polars as pl

    from minekit.inputs.schema import conform_candidates

    if rows["negative_ids"].list.len().sum() == 0:
        return None, 0
    positives_of = {q: sorted(d) for q, d in positives.group_by("query_id").agg("doc_id").iter_rows()}
    pools: dict[str, _Pool] = {}
    dropped = 0
    for qid, pos_ids, neg_ids, pos_scores, neg_scores in rows.iter_rows():
        pool = pools.setdefault(qid, _Pool())
        own = set(positives_of[qid])
        kept = [(d, s) for d, s in zip(neg_ids, neg_scores or [None] * len(neg_ids)) if d not in own]
        dropped += len(neg_ids) - len(kept)
        pool.add(pos_ids, pos_scores, kept)
    out = [rec for qid, pool in pools.items() for rec in pool.candidates(qid, positives_of[qid])]
    # The file's scores come from a scorer minekit does not know: their own kind, never compared with a miner's.
    frame = pl.DataFrame(out, orient="row", schema={
        "query_id": pl.Utf8, "doc_id": pl.Utf8, "rank": pl.Int32, "score": pl.Float32,
        "positive_ids": pl.List(pl.Utf8), "positive_scores": pl.List(pl.Float32), "excluded_for": pl.List(pl.Utf8)})
    frame = frame.with_columns(pl.col("positive_scores").list.min().alias("positive_score"),
                               pl.lit(IMPORTED_SOURCE).alias("source"), pl.lit("imported").alias("score_kind"))
    return conform_candidates(frame), dropped


class _Pool:
    """One query's negatives as the records give them: each positive's own, their order, their scores."""

    def __init__(self) -> None:
        self.orders: dict[tuple, list[str]] = {}  # by the record's positives: a triplet file's rows are one list
        self.negatives_of: dict[str, set[str]] = {}
        self.scores: dict[str, float | None] = {}
        self.positive_scores: dict[str, float | None] = {}

    def add(self, pos_ids: list[str], pos_scores: list | None, negatives: list[tuple[str, float | None]]) -> None:
        order = self.orders.setdefault(tuple(pos_ids), [])
        order.extend(d for d, _ in negatives if d not in order)
        for p, score in zip(pos_ids, pos_scores or [None] * len(pos_ids)):
            self.negatives_of.setdefault(p, set()).update(d for d, _ in negatives)
            if self.positive_scores.get(p) is None:
                self.positive_scores[p] = score
        for d, score in negatives:
            if self.scores.get(d) is None:
                self.scores[d] = score

    def candidates(self, qid: str, positives: list[str]) -> list[tuple]:
        scores = [self.positive_scores.get(p) for p in positives]
        return [(qid, d, rank, 0.0 if self.scores.get(d) is None else self.scores[d], positives, scores,
                 [p for p in positives if d not in self.negatives_of.get(p, ())])
                for rank, d in enumerate(merged_order(list(self.orders.values())), start=1)]


def merged_order(orders: list[list[str]]) -> list[str]:
    """One order of every item that keeps each list's own order (a topological sort, earliest seen first);
    where the lists disagree (a cycle), the earliest seen of the rest goes next."""
    import heapq

    first: dict[str, int] = {}
    after: dict[str, set[str]] = {}
    before = {}
    for order in orders:
        for item in order:
            first.setdefault(item, len(first))
            before.setdefault(item, 0)
        for a, b in zip(order, order[1:]):
            if a != b and b not in after.setdefault(a, set()):
                after[a].add(b)
                before[b] += 1
    ready = [(first[d], d) for d, n in before.items() if n == 0]
    heapq.heapify(ready)
    out: list[str] = []
    placed: set[str] = set()
    while len(out) < len(first):
        if not ready:
            rest = min((d for d in first if d not in placed), key=first.__getitem__)
            heapq.heappush(ready, (first[rest], rest))
        _, item = heapq.heappop(ready)
        if item in placed:
            continue
        placed.add(item)
        out.append(item)
        for nxt in sorted(after.get(item, ())):
            before[nxt] -= 1
            if before[nxt] == 0 and nxt not in placed:
                heapq.heappush(ready, (first[nxt], nxt))
    return out
