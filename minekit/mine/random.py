"""Random negatives: uniform over the corpus minus the query's positives, seeded per query.

The in-batch-like baseline every comparison needs. A query's draw depends only on (seed, query_id),
so adding or removing other queries does not change it. score is 0.0 (a random draw has no score)
and the positives' scores are null, so score and margin filters keep these rows (filter counts them
as margin_unjudged).
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

import numpy as np

from minekit.errors import ConfigError
from minekit.mine.topk import Hits
from minekit.stats import StageResult

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)


def query_rng(seed: int, query_id: str) -> np.random.Generator:
    """A generator that depends only on the seed and the query id."""
    digest = hashlib.sha256(query_id.encode("utf-8")).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def sample_excluding(rng: np.random.Generator, n: int, k: int, exclude: np.ndarray) -> np.ndarray:
    """k distinct positions in range(n), none in `exclude`, uniformly at random (fewer if n is too small)."""
    k = min(k, n - len(exclude))
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    draw = rng.choice(n, size=min(n, k + len(exclude)), replace=False)
    return draw[~np.isin(draw, exclude)][:k].astype(np.int64)


def mine_random(
    queries: "pl.DataFrame",
    positives: "pl.DataFrame",
    corpus: "pl.DataFrame",
    *,
    top_k: int = 100,
    seed: int = 0,
    show_progress: bool = True,
) -> StageResult:
    """top_k uniformly random non-positive documents for every query that has a positive.

    rank is the draw order (1 = drawn first), so taking the top ranks is itself a uniform sample.
    """
    import polars as pl
    from tqdm.auto import tqdm

    if top_k < 1:
        raise ConfigError(f"top_k: must be at least 1, got {top_k}.")
    doc_ids = corpus["doc_id"].sort()
    query_ids = sorted(set(positives["query_id"].to_list()) & set(queries["query_id"].to_list()))
    lookup = pl.DataFrame({"doc_id": doc_ids, "pos": np.arange(len(doc_ids))})
    grouped = positives.join(lookup, on="doc_id").group_by("query_id").agg(pl.col("pos"))
    by_query = dict(zip(grouped["query_id"].to_list(), grouped["pos"].to_list()))
    hits = Hits()
    for g, query_id in enumerate(tqdm(query_ids, desc="random", unit="query", disable=not show_progress)):
        docs = sample_excluding(query_rng(seed, query_id), len(doc_ids), top_k,
                                np.asarray(by_query.get(query_id, []), dtype=np.int64))
        hits.add(g, np.zeros(len(docs), dtype=np.float32), docs, None)
    positions = [np.sort(np.asarray(by_query.get(q, []), dtype=np.int64)) for q in query_ids]
    frame = hits.to_frame(query_ids, doc_ids, source="random", kind="random", positives=positions)
    with_hits = frame["query_id"].n_unique() if frame.height else 0
    return StageResult(frame, {"queries": len(query_ids), "rows_out": frame.height,
                               "queries_without_candidates": len(query_ids) - with_hits, "seed": seed})
