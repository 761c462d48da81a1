"""Which of a row's candidates become its negatives: the sampling strategies top, random, simans and
trisampler, and source_shares, which splits a row's negatives between miners.

Every draw uses the row's own generator (row_rng), so adding a query changes no other row.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING

import numpy as np

from minekit.clean import rules
from minekit.dataset.store import score_column
from minekit.errors import ConfigError

if TYPE_CHECKING:
    import polars as pl


def row_rng(seed: int, query_id: str, positive_id: str) -> np.random.Generator:
    """A generator that depends only on (seed, query_id, positive_id): other rows never shift its draws."""
    digest = hashlib.sha256(f"{query_id}\x1f{positive_id}".encode("utf-8")).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def simans_weights(gaps: np.ndarray, a: float, b: float) -> np.ndarray:
    """SimANS sampling weights exp(-a (gap - b)^2); a candidate without a usable gap (NaN) gets the
    smallest weight of the others (uniform when none has one)."""
    weights = np.exp(-a * (gaps - b) ** 2)
    known = np.isfinite(weights)
    if not known.any():
        return np.ones_like(gaps)
    weights[~known] = weights[known].min()
    return np.maximum(weights, 1e-12)


def quotas(shares: dict[str, float], k: int) -> dict[str, int]:
    """k negatives split by shares, largest remainder first (ties by source name)."""
    total = sum(shares.values())
    exact = {s: k * v / total for s, v in sorted(shares.items())}
    counts = {s: int(math.floor(x)) for s, x in exact.items()}
    for s in sorted(exact, key=lambda s: (-(exact[s] - counts[s]), s))[:k - sum(counts.values())]:
        counts[s] += 1
    return counts


def triangle_source(frames: list["pl.DataFrame"]) -> int:
    """Which candidates TriSampler reads: the first frame that carries positive_similarities (the
    candidate-positive cosines `mine dense` writes)."""
    for i, frame in enumerate(frames):
        if "positive_similarities" in frame.columns and frame["positive_similarities"].is_not_null().any():
            return i
    raise ConfigError("sampling_strategy: trisampler needs candidates from `minekit mine dense` (they carry "
                      "positive_similarities, the candidate-positive cosines); add a dense candidates file "
                      "or choose top, random or simans.")


def triangle_sides(frame: "pl.DataFrame", source: str) -> dict:
    """TriSampler's inputs from the dense miner's candidates: its score column and, per (query, positive,
    candidate), the cosine of candidate and positive (positive_similarities, aligned with positive_ids)."""
    import polars as pl

    sides = (frame.filter(pl.col("source") == source)
             .select("query_id", "doc_id", "positive_ids", "positive_similarities")
             .explode("positive_ids", "positive_similarities").drop_nulls())
    sims = {(q, p, d): s for q, d, p, s in sides.iter_rows()}
    return {"column": score_column(source), "sims": sims}


def _gap(row: dict, i: int, col: str) -> float:
    """(candidate score - positive score) / |positive score| under one miner; NaN when not judgeable."""
    score, positive = row.get(f"neg_score_{col}", [None] * (i + 1))[i], row.get(f"positive_score_{col}")
    if score is None or not rules.can_anchor(positive):
        return float("nan")
    return (score - positive) / abs(positive)


class Chooser:
    """Which of a row's pool (candidate positions, best rank first) become its negatives."""

    def __init__(self, strategy: str, *, simans_a: float, simans_b: float, angle: float,
                 triangle: "dict | None", shares: dict[str, float] | None) -> None:
        self.strategy, self.a, self.b, self.angle = strategy, simans_a, simans_b, math.radians(angle)
        self.triangle, self.shares = triangle, shares
        self.counts: dict[str, int] = {}
        if strategy == "trisampler":
            self.counts["negatives_outside_triangle"] = 0
        if shares:
            self.counts["negatives_short_of_share"] = 0

    def take(self, row: dict, pool: list[int], k: int, rng: np.random.Generator) -> list[int]:
        if not self.shares:
            return self._choose(row, pool, k, rng)
        taken: list[int] = []
        for source, quota in quotas(self.shares, k).items():
            mine = [i for i in pool if source in row["neg_sources"][i].split("+") and i not in taken]
            got = self._choose(row, mine, quota, rng)
            self.counts["negatives_short_of_share"] += quota - len(got)
            taken += got
        if len(taken) < k:  # a miner short of its share: the others fill in
            taken += self._choose(row, [i for i in pool if i not in taken], k - len(taken), rng)
        return sorted(taken)

    def _choose(self, row: dict, pool: list[int], k: int, rng: np.random.Generator) -> list[int]:
        if k <= 0 or not pool:
            return []
        if self.strategy == "trisampler":  # also when the pool is short: what it takes from outside is counted
            return self._trisampler(row, pool, k, rng)
        if len(pool) <= k or self.strategy == "top":
            return pool[:k]
        if self.strategy == "random":
            return sorted(pool[i] for i in rng.choice(len(pool), size=k, replace=False))
        return self._simans(row, pool, k, rng)

    def _simans(self, row: dict, pool: list[int], k: int, rng: np.random.Generator) -> list[int]:
        """Drawn by SimANS weight of the gap under the miner that ranked each candidate best."""
        gaps = np.array([_gap(row, i, score_column(row["neg_best"][i])) for i in pool], dtype=np.float64)
        w = simans_weights(gaps, self.a, self.b)
        return sorted(pool[i] for i in rng.choice(len(pool), size=k, replace=False, p=w / w.sum()))

    def _trisampler(self, row: dict, pool: list[int], k: int, rng: np.random.Generator) -> list[int]:
        """Drawn by triangle weight among the candidates inside it; a short triangle is topped up best rank first."""
        w = np.array([self._triangle_weight(row, i) for i in pool])
        inside = [p for p, x in zip(pool, w) if x > 0]
        if len(inside) <= k:
            rest = [p for p in pool if p not in inside][:k - len(inside)]
            self.counts["negatives_outside_triangle"] += len(rest)
            return sorted(inside + rest)
        w = w[w > 0]
        return sorted(inside[i] for i in rng.choice(len(inside), size=k, replace=False, p=w / w.sum()))

    def _triangle_weight(self, row: dict, i: int) -> float:
        """cos(p, n) - cos(q, n) for a candidate inside the quasi-triangle, else 0."""
        col, sims = self.triangle["column"], self.triangle["sims"]
        s_qn, s_qp = row[f"neg_score_{col}"][i], row[f"positive_score_{col}"]
        s_pn = sims.get((row["query_id"], row["positive_id"], row["neg_ids"][i]))
        if s_qn is None or s_qp is None or s_pn is None:
            return 0.0
        gap = abs(math.acos(min(1.0, max(-1.0, s_qp))) - math.acos(min(1.0, max(-1.0, s_qn))))
        return max(0.0, s_pn - s_qn) if gap <= self.angle else 0.0
