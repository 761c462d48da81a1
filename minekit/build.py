"""Turn candidates into a versioned training dataset: datasets/<name>/v<N>/ (see DESIGN.md).

One row per (query, positive). Candidates from several miners are merged: a (query, document) pair
found by two sources is kept once, at its best rank, with both sources recorded ("bm25+dense") and
each miner's score in its own column (ids.parquet: negative_scores_<source>, positive_score_<source>;
after denoise also negative_ce_scores, positive_ce_score): scores of different kinds never share a column.
"""

from __future__ import annotations

import hashlib
import math
import json
import logging
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from minekit import rules
from minekit.errors import ConfigError, InputError
from minekit.io import file_sha256, write_json, write_parquet, write_text
from minekit.schema import complete_candidates, passage_text

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)

FORMATS = ("triplet", "n-tuple", "labeled-pair")
SAMPLING_STRATEGIES = ("top", "random", "simans", "trisampler")
FILLS = ("none", "random")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass
class BuildResult:
    train: "pl.DataFrame"  # texts, columns in trainer order
    ids: "pl.DataFrame"  # ids, scores and sources, row-aligned with train
    stats: dict
    score_columns: dict = field(default_factory=dict)  # ids.parquet score column -> what scored it


def score_column(source: str) -> str:
    """A source name as a column suffix: passage-bm25 -> passage_bm25."""
    return re.sub(r"[^A-Za-z0-9_]", "_", source)


def teacher_scores(ids: "pl.DataFrame") -> tuple["pl.DataFrame", str | None]:
    """ids with positive_score / negative_scores from ONE scorer, for consumers that take one score per
    passage (distillation): denoise's teacher when there is one, else the only miner; with several miners
    and no teacher, none (their scores are of different kinds). Returns the frame and the column used."""
    import polars as pl

    if {"positive_ce_score", "negative_ce_scores"} <= set(ids.columns):
        pos, neg = "positive_ce_score", "negative_ce_scores"
    else:
        miners = [c.removeprefix("negative_scores_") for c in ids.columns if c.startswith("negative_scores_")]
        if len(miners) != 1:
            return ids, None
        pos, neg = f"positive_score_{miners[0]}", f"negative_scores_{miners[0]}"
    return ids.with_columns(pl.col(pos).alias("positive_score"), pl.col(neg).alias("negative_scores")), neg


def merge_candidates(frames: list["pl.DataFrame"]) -> "pl.DataFrame":
    """One row per (query, doc): the best rank, every source that found it (in name order), each
    source's own score in score_<source> (scores of different miners are never mixed in one column),
    and the positives it must not be paired with (excluded_for, the union over sources)."""
    import polars as pl

    cands = pl.concat(frames, how="diagonal_relaxed")
    if "excluded_for" not in cands.columns:
        cands = cands.with_columns(pl.lit(None, pl.List(pl.Utf8)).alias("excluded_for"))
    cands = cands.sort("query_id", "doc_id", "rank", "source")
    sources = sorted(cands["source"].unique().to_list())
    aggs = [
        pl.col("rank").first(),
        pl.col("source").first().alias("best_source"),
        pl.col("source").unique().sort().str.join("+").alias("sources"),
        *(pl.col("score").filter(pl.col("source") == s).first().alias(f"score_{score_column(s)}") for s in sources),
        pl.col("excluded_for").list.explode(keep_nulls=False, empty_as_null=False).unique().sort().alias("excluded_for"),
    ]
    if "ce_score" in cands.columns:
        aggs.append(pl.col("ce_score").drop_nulls().first())
    return cands.group_by("query_id", "doc_id", maintain_order=True).agg(aggs)


def positive_scores(frames: list["pl.DataFrame"]) -> "pl.DataFrame":
    """(query_id, positive_id, source, positive_score[, positive_ce_score]): each positive's score under
    each miner (and under denoise's scorer), as the candidates files recorded them."""
    import polars as pl

    parts = []
    for frame in frames:
        cols = ["query_id", "source", "positive_ids", "positive_scores"]
        has_ce = "positive_ce_scores" in frame.columns
        part = (frame.select(*cols, *(["positive_ce_scores"] if has_ce else []))
                .unique(["query_id", "source"], keep="first", maintain_order=True)
                .explode("positive_ids", "positive_scores", *(["positive_ce_scores"] if has_ce else []))
                .rename({"positive_ids": "positive_id", "positive_scores": "positive_score"})
                .filter(pl.col("positive_id").is_not_null()))
        if not has_ce:
            part = part.with_columns(pl.lit(None, pl.Float32).alias("positive_ce_scores"))
        parts.append(part.rename({"positive_ce_scores": "positive_ce_score"}))
    return (pl.concat(parts, how="vertical_relaxed").sort("query_id", "positive_id", "source")
            .unique(["query_id", "positive_id", "source"], keep="first", maintain_order=True))


def score_kinds(frames: list["pl.DataFrame"]) -> dict[str, str]:
    """{source: score kind}, plus {"ce": kind} after denoise; one source must have one kind of score."""
    import polars as pl

    kinds: dict[str, set] = {}
    for frame in frames:
        for source, kind in frame.select("source", "score_kind").unique().iter_rows():
            kinds.setdefault(source, set()).add(kind)
        if "ce_score_kind" in frame.columns:
            kinds.setdefault("ce", set()).update(frame["ce_score_kind"].drop_nulls().unique().to_list())
    mixed = {s: sorted(k) for s, k in kinds.items() if len(k) > 1}
    if mixed:
        name, found = next(iter(mixed.items()))
        raise ConfigError(f"candidates: source {name!r} carries scores of different kinds ({', '.join(found)}); "
                          "scores of different kinds are never mixed: give each miner its own source name.")
    return {s: next(iter(k)) for s, k in sorted(kinds.items()) if k}


def _check_params(num_negatives: int, format: str, sampling_strategy: str, fill: str, simans_a: float,
                  relative_margin: float | None, trisampler_angle: float, source_shares: dict | None) -> None:
    if num_negatives < 1:
        raise ConfigError(f"num_negatives: must be at least 1, got {num_negatives}.")
    for name, value, choices in (("format", format, FORMATS), ("sampling_strategy", sampling_strategy,
                                 SAMPLING_STRATEGIES), ("fill", fill, FILLS)):
        if value not in choices:
            raise ConfigError(f"{name}: {value!r} is not one of {', '.join(choices)}.")
    if not simans_a > 0:
        raise ConfigError(f"simans_a: must be above 0, got {simans_a}.")
    if relative_margin is not None and not 0 <= relative_margin < 1:
        raise ConfigError(f"relative_margin: must be in [0, 1), got {relative_margin}.")
    if not 0 < trisampler_angle <= 180:
        raise ConfigError(f"trisampler_angle: must be in (0, 180] degrees, got {trisampler_angle}.")
    for source, share in (source_shares or {}).items():
        if not (isinstance(share, (int, float)) and not isinstance(share, bool) and math.isfinite(share)
                and share >= 0):
            raise ConfigError(f"source_shares: the share of {source!r} must be a number >= 0, got {share!r}.")
    if source_shares is not None and not sum(source_shares.values()) > 0:
        raise ConfigError("source_shares: at least one share must be above 0, e.g. bm25=1,dense=2.")


def parse_shares(value: "str | dict | None") -> dict[str, float] | None:
    """'bm25=1,dense=2' (the CLI form) or {'bm25': 1, 'dense': 2} (Python, TOML) as {source: share}."""
    if value is None or isinstance(value, dict):
        return value
    shares: dict[str, float] = {}
    for part in str(value).split(","):
        source, sep, share = part.partition("=")
        try:
            if not sep or not source.strip():
                raise ValueError
            shares[source.strip()] = float(share)
        except ValueError:
            raise ConfigError(f"source_shares: {value!r} is not SOURCE=SHARE[,SOURCE=SHARE...]; "
                              "e.g. bm25=1,dense=2 (one BM25 negative for two dense ones).") from None
    return shares


def build_dataset(
    candidates: list["pl.DataFrame"],
    queries: "pl.DataFrame",
    positives: "pl.DataFrame",
    corpus: "pl.DataFrame",
    *,
    num_negatives: int = 5,
    format: str = "n-tuple",
    sampling_strategy: str = "top",
    relative_margin: float | None = 0.05,
    simans_a: float = 50.0,
    simans_b: float = -0.05,
    trisampler_angle: float = 60.0,
    source_shares: "dict[str, float] | str | None" = None,
    fill: str = "random",
    seed: int = 0,
) -> BuildResult:
    """Pick num_negatives negatives for every (query, positive) and write them out as texts and ids.

    A row's pool is its query's candidates, best rank first, minus those a margin rule excluded for
    this positive (excluded_for) and, with relative_margin, those some miner scores above
    positive - |positive| * relative_margin for this row's own positive (NV-Retriever's TopK-PercPos:
    0.05 keeps negatives below 95% of the positive's score; None turns it off). sampling_strategy "top" takes the best-ranked, "random" samples
    uniformly, "simans" samples with probability exp(-simans_a * (gap - simans_b)^2) where gap =
    (score - positive score) / |positive score| under the miner that ranked the candidate best
    (SimANS: ambiguous negatives, near the positive's score, are the informative ones). "trisampler"
    keeps the candidates inside TriSampler's quasi-triangle of query q, positive p and candidate n under
    the dense miner's cosines: |angle(q, p) - angle(q, n)| <= trisampler_angle degrees and n closer to p
    than to q, drawn with probability proportional to cos(p, n) - cos(q, n) (needs `mine dense`
    candidates, which carry positive_similarities); a short region is topped up best rank first.
    source_shares ({source: share}) splits each row's negatives between miners in those proportions
    (largest remainder); a miner short of its share leaves the rest to the others. Every draw
    uses a generator seeded by (seed, query_id, positive_id), so adding a query changes no other row.
    A row with fewer candidates than num_negatives is dropped and counted (fill="none"), or padded
    with random corpus documents that are not positives (fill="random").
    """
    import polars as pl

    source_shares = parse_shares(source_shares)
    _check_params(num_negatives, format, sampling_strategy, fill, simans_a, relative_margin, trisampler_angle,
                  source_shares)
    candidates = [complete_candidates(f) for f in candidates]  # frames made by hand lack the optional columns
    kinds = score_kinds(candidates)
    unknown = sorted(set(source_shares or ()) - set(kinds))
    if unknown:
        raise ConfigError(f"source_shares: no candidates come from {', '.join(map(repr, unknown))}; the sources "
                          f"are {', '.join(map(repr, sorted(s for s in kinds if s != 'ce')))}.")
    triangle = _triangle_sides(candidates) if sampling_strategy == "trisampler" else None
    rows_in = sum(f.height for f in candidates)
    merged = merge_candidates(candidates)
    is_pos = merged.join(positives.select("query_id", "doc_id"), on=["query_id", "doc_id"], how="semi")
    merged = merged.join(positives.select("query_id", "doc_id"), on=["query_id", "doc_id"], how="anti",
                         maintain_order="left")
    copies = _copies_of_positives(merged, positives, corpus)
    merged = merged.join(copies, on=["query_id", "doc_id"], how="anti", maintain_order="left")
    sources = [s for s in kinds if s != "ce"]
    has_ce = "ce_score" in merged.columns
    score_cols = [f"score_{score_column(s)}" for s in sources]
    pools = merged.sort("query_id", "rank", "doc_id").group_by("query_id", maintain_order=True).agg(
        pl.col("doc_id").alias("neg_ids"), pl.col("sources").alias("neg_sources"), pl.col("rank").alias("neg_ranks"),
        pl.col("best_source").alias("neg_best"), pl.col("excluded_for").alias("neg_excluded"),
        *(pl.col(c).alias(f"neg_{c}") for c in score_cols),
        *([pl.col("ce_score").alias("neg_ce")] if has_ce else []),
    )
    pos_scores = positive_scores(candidates)
    by_source = (pos_scores.pivot("source", index=["query_id", "positive_id"], values="positive_score")
                 if pos_scores.height else pl.DataFrame(schema={"query_id": pl.Utf8, "positive_id": pl.Utf8}))
    by_source = by_source.rename({s: f"positive_score_{score_column(s)}" for s in sources if s in by_source.columns})
    ce_pos = (pos_scores.group_by("query_id", "positive_id", maintain_order=True)
              .agg(pl.col("positive_ce_score").drop_nulls().first()))
    rows = (positives.select("query_id", pl.col("doc_id").alias("positive_id")).sort("query_id", "positive_id")
            .join(pools, on="query_id", how="left", maintain_order="left")
            .join(by_source, on=["query_id", "positive_id"], how="left", maintain_order="left")
            .join(ce_pos, on=["query_id", "positive_id"], how="left", maintain_order="left"))
    for s in sources:
        if f"positive_score_{score_column(s)}" not in rows.columns:
            rows = rows.with_columns(pl.lit(None, pl.Float32).alias(f"positive_score_{score_column(s)}"))
    chooser = _Chooser(sampling_strategy, simans_a=simans_a, simans_b=simans_b, angle=trisampler_angle,
                       triangle=triangle, shares=source_shares)
    picked = _pick(rows, corpus, positives, sources=sources, has_ce=has_ce, num_negatives=num_negatives,
                   relative_margin=relative_margin, chooser=chooser, fill=fill, seed=seed)
    ids = pl.DataFrame(picked.rows, schema=picked.schema, orient="row")
    texts = _Texts(queries, corpus)
    if format == "triplet":
        ids = _explode_to_triplets(ids)
        train = pl.DataFrame({"anchor": texts.query(ids["query_id"]), "positive": texts.doc(ids["positive_id"]),
                              "negative": texts.doc(ids["negative_ids"].list.first())})
    elif format == "n-tuple":
        train = pl.DataFrame({"anchor": texts.query(ids["query_id"]), "positive": texts.doc(ids["positive_id"]),
                              **{f"negative_{i + 1}": texts.doc(ids["negative_ids"].list.get(i))
                                 for i in range(num_negatives)}})
    else:
        ids = _labeled_pairs(ids)
        train = pl.DataFrame({"anchor": texts.query(ids["query_id"]), "document": texts.doc(ids["doc_id"]),
                              "label": ids["label"]})
    columns = {}
    for s in sources:
        columns[f"positive_score_{score_column(s)}"] = f"{kinds[s]} ({s})"
        columns[f"negative_scores_{score_column(s)}"] = f"{kinds[s]} ({s})"
    if has_ce:
        columns["positive_ce_score"] = columns["negative_ce_scores"] = f"{kinds.get('ce', 'unknown')} (denoise)"
    columns = {k: v for k, v in columns.items() if k in ids.columns}
    stats = {
        "rows_in": rows_in,
        "rows_out": train.height,
        "candidates_unique": merged.height,
        "dropped": {k: v for k, v in (("is_positive", is_pos.height), ("same_text_as_positive", copies.height))
                    if v},
        "queries": positives["query_id"].n_unique(),
        "positives": positives.height,
        "queries_without_negatives": rows.filter(pl.col("neg_ids").is_null())["query_id"].n_unique(),
        **picked.counts,
        **chooser.counts,
    }
    return BuildResult(train=train, ids=ids, stats=stats, score_columns=columns)


def _copies_of_positives(merged: "pl.DataFrame", positives: "pl.DataFrame", corpus: "pl.DataFrame") -> "pl.DataFrame":
    """Candidates whose text is exactly a positive's text: a duplicate document, so a false negative.

    Pairs are matched on a 64-bit hash of the passage (8 bytes a pair, not its text), and only the
    matches are compared as texts, so a hash collision never counts as a copy."""
    import polars as pl

    texts = corpus.select("doc_id", passage_text().str.strip_chars().alias("passage"))
    hashes = texts.select("doc_id", pl.col("passage").hash(seed=0).alias("_h"))
    positive_texts = (positives.select("query_id", "doc_id").join(texts, on="doc_id")
                      .select("query_id", pl.col("passage").hash(seed=0).alias("_h"), pl.col("passage").alias("_pp")))
    matched = (merged.select("query_id", "doc_id").join(hashes, on="doc_id", maintain_order="left")
               .join(positive_texts, on=["query_id", "_h"], maintain_order="left"))
    return (matched.join(texts, on="doc_id", maintain_order="left").filter(pl.col("passage") == pl.col("_pp"))
            .select("query_id", "doc_id").unique(maintain_order=True).sort("query_id", "doc_id"))


@dataclass
class _Picked:
    rows: list[tuple]
    schema: dict
    counts: dict


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


def _pick(rows: "pl.DataFrame", corpus: "pl.DataFrame", positives: "pl.DataFrame", *, sources: list[str],
          has_ce: bool, num_negatives: int, relative_margin: float | None, chooser: "_Chooser", fill: str,
          seed: int) -> _Picked:
    """Choose the negatives of each (query, positive) row, in the order rows are given (deterministic)."""
    import polars as pl

    corpus_ids = corpus["doc_id"].sort().to_list()
    pos_by_query = dict(positives.group_by("query_id").agg("doc_id").iter_rows())
    cols = [score_column(s) for s in sources]
    out, counts = [], {"rows_filled": 0, "negatives_filled": 0, "rows_without_enough_negatives": 0,
                       "positives_lost": 0, "negatives_excluded_by_margin": 0,
                       "negatives_excluded_by_relative_margin": 0}
    for row in rows.iter_rows(named=True):
        pid = row["positive_id"]
        rng = row_rng(seed, row["query_id"], pid)
        docs = row["neg_ids"] or []
        pool = [i for i in range(len(docs)) if pid not in (row["neg_excluded"][i] or ())]
        counts["negatives_excluded_by_margin"] += len(docs) - len(pool)
        if relative_margin is not None:
            kept = [i for i in pool if not _too_close(row, i, cols, relative_margin)]
            counts["negatives_excluded_by_relative_margin"] += len(pool) - len(kept)
            pool = kept
        take = chooser.take(row, pool, num_negatives, rng)
        neg = [docs[i] for i in take]
        sources_of = [row["neg_sources"][i] for i in take]
        ranks = [row["neg_ranks"][i] for i in take]
        scores = {c: [row[f"neg_score_{c}"][i] for i in take] for c in cols}
        ce = [row["neg_ce"][i] for i in take] if has_ce else None
        missing = num_negatives - len(neg)
        if missing and fill == "random":
            extra = _random_fill(rng, corpus_ids, set(pos_by_query[row["query_id"]]) | set(neg), missing)
            if len(extra) == missing:
                neg += extra
                sources_of += ["random"] * missing
                ranks += [None] * missing
                scores = {c: v + [None] * missing for c, v in scores.items()}
                ce = ce + [None] * missing if has_ce else None
                counts["rows_filled"] += 1
                counts["negatives_filled"] += missing
                missing = 0
        if missing:
            counts["rows_without_enough_negatives"] += 1
            counts["positives_lost"] += 1
            continue
        record = [row["query_id"], pid, neg, sources_of, ranks]
        for c in cols:
            record += [row[f"positive_score_{c}"], scores[c]]
        if has_ce:
            record += [row["positive_ce_score"], ce]
        out.append(tuple(record))
    schema = {"query_id": pl.Utf8, "positive_id": pl.Utf8, "negative_ids": pl.List(pl.Utf8),
              "negative_sources": pl.List(pl.Utf8), "negative_ranks": pl.List(pl.Int32)}
    for c in cols:
        schema[f"positive_score_{c}"] = pl.Float32
        schema[f"negative_scores_{c}"] = pl.List(pl.Float32)
    if has_ce:
        schema["positive_ce_score"] = pl.Float32
        schema["negative_ce_scores"] = pl.List(pl.Float32)
    if counts["positives_lost"]:
        hint = "" if fill == "random" else "; --fill random pads them instead"
        logger.warning("%d (query, positive) rows had fewer than %d negatives and were dropped%s",
                       counts["positives_lost"], num_negatives, hint)
    return _Picked(out, schema, counts)


class _Chooser:
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
        quotas = _quotas(self.shares, k)
        taken: list[int] = []
        for source, quota in quotas.items():
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
        if len(pool) <= k or self.strategy == "top":
            return pool[:k]
        if self.strategy == "random":
            return sorted(pool[i] for i in rng.choice(len(pool), size=k, replace=False))
        if self.strategy == "simans":
            gaps = np.array([_gap(row, i, score_column(row["neg_best"][i])) for i in pool], dtype=np.float64)
            w = simans_weights(gaps, self.a, self.b)
            return sorted(pool[i] for i in rng.choice(len(pool), size=k, replace=False, p=w / w.sum()))
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


def _quotas(shares: dict[str, float], k: int) -> dict[str, int]:
    """k negatives split by shares, largest remainder first (ties by source name)."""
    total = sum(shares.values())
    exact = {s: k * v / total for s, v in sorted(shares.items())}
    quotas = {s: int(math.floor(x)) for s, x in exact.items()}
    for s in sorted(exact, key=lambda s: (-(exact[s] - quotas[s]), s))[:k - sum(quotas.values())]:
        quotas[s] += 1
    return quotas


def _triangle_sides(frames: list["pl.DataFrame"]) -> dict:
    """TriSampler's inputs from the dense miner's candidates: its score column and, per (query, positive,
    candidate), the cosine of candidate and positive (positive_similarities, aligned with positive_ids)."""
    import polars as pl

    dense = [f for f in frames if "positive_similarities" in f.columns
             and f["positive_similarities"].is_not_null().any()]
    if not dense:
        raise ConfigError("sampling_strategy: trisampler needs candidates from `minekit mine dense` (they carry "
                          "positive_similarities, the candidate-positive cosines); add a dense candidates file "
                          "or choose top, random or simans.")
    frame = dense[0]
    source = frame["source"][0]
    sides = (frame.filter(pl.col("source") == source)
             .select("query_id", "doc_id", "positive_ids", "positive_similarities")
             .explode("positive_ids", "positive_similarities").drop_nulls())
    sims = {(q, p, d): s for q, d, p, s in sides.iter_rows()}
    return {"column": score_column(source), "sims": sims}


def _too_close(row: dict, i: int, cols: list[str], margin: float) -> bool:
    """Does any miner score candidate i above positive - |positive| * margin, for this row's positive?
    A positive scored 0 or null by a miner cannot anchor that miner's margin (rules.unjudged)."""
    for c in cols:
        score, positive = row[f"neg_score_{c}"][i], row[f"positive_score_{c}"]
        if score is not None and rules.can_anchor(positive) and score > rules.relative_threshold(positive, margin):
            return True
    return False


def _gap(row: dict, i: int, col: str) -> float:
    """(candidate score - positive score) / |positive score| under one miner; NaN when not judgeable."""
    score, positive = row.get(f"neg_score_{col}", [None] * (i + 1))[i], row.get(f"positive_score_{col}")
    if score is None or not rules.can_anchor(positive):
        return float("nan")
    return (score - positive) / abs(positive)


def _random_fill(rng: np.random.Generator, corpus_ids: list[str], exclude: set[str], n: int) -> list[str]:
    """n distinct random corpus documents outside `exclude` (fewer if the corpus has not enough)."""
    available = len(corpus_ids) - len(exclude)
    if available < n:
        return []
    chosen: list[str] = []
    while len(chosen) < n:
        doc = corpus_ids[int(rng.integers(len(corpus_ids)))]
        if doc not in exclude:
            exclude.add(doc)
            chosen.append(doc)
    return chosen


def _explode_to_triplets(ids: "pl.DataFrame") -> "pl.DataFrame":
    """One row per negative, each list column holding that single negative (row-aligned with train)."""
    import polars as pl

    lists = [c for c in ids.columns if c.startswith("negative_")]
    return ids.explode(lists).with_columns(pl.concat_list(c).alias(c) for c in lists)


def _labeled_pairs(ids: "pl.DataFrame") -> "pl.DataFrame":
    """(query, document, label) rows: each positive once (label 1), then its query's negatives (label 0),
    with the source and each miner's score (score_<source>) of every document."""
    import polars as pl

    cols = [c.removeprefix("negative_scores_") for c in ids.columns if c.startswith("negative_scores_")]
    ce = ["ce"] if "negative_ce_scores" in ids.columns else []
    pos = ids.select("query_id", pl.col("positive_id").alias("doc_id"), pl.lit(1, pl.Int8).alias("label"),
                     pl.lit("positive").alias("source"), pl.lit(None, pl.Int32).alias("rank"),
                     *(pl.col(f"positive_score_{c}").alias(f"score_{c}") for c in cols),
                     *(pl.col("positive_ce_score").alias("ce_score") for _ in ce),
                     pl.int_range(pl.len()).alias("order"))
    neg = ids.select("query_id", pl.col("negative_ids").alias("doc_id"), pl.lit(0, pl.Int8).alias("label"),
                     pl.col("negative_sources").alias("source"), pl.col("negative_ranks").alias("rank"),
                     *(pl.col(f"negative_scores_{c}").alias(f"score_{c}") for c in cols),
                     *(pl.col("negative_ce_scores").alias("ce_score") for _ in ce),
                     pl.int_range(pl.len()).alias("order"))
    neg = neg.explode("doc_id", "source", "rank", *(f"score_{c}" for c in cols), *(["ce_score"] if ce else []))
    both = pl.concat([pos, neg]).with_row_index("seq")
    return (both.sort("order", "label", "seq", descending=[False, True, False])
            .unique(["query_id", "doc_id"], keep="first", maintain_order=True).drop("order", "seq"))


class _Texts:
    def __init__(self, queries: "pl.DataFrame", corpus: "pl.DataFrame") -> None:
        self._q = (queries["query_id"], queries["text"])
        self._d = (corpus["doc_id"], corpus.select(passage_text()).to_series())

    def query(self, ids: "pl.Series") -> "pl.Series":
        return ids.replace_strict(*self._q)

    def doc(self, ids: "pl.Series") -> "pl.Series":
        return ids.replace_strict(*self._d)


# -- versions on disk ---------------------------------------------------------------------------

def dataset_root(out_dir: str | Path, name: str) -> Path:
    """datasets/<name>, refusing names that could leave out_dir."""
    if not _NAME.match(name) or ".." in name:
        raise ConfigError(
            f"name: {name!r} is not a valid dataset name; use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit), without '..' or '/'."
        )
    out = Path(out_dir).resolve()
    root = (out / name).resolve()
    if root.parent != out:
        raise ConfigError(f"name: {name!r} would leave the output folder {out}.")
    return root


def _versions(root: Path) -> list[tuple[int, Path]]:
    if not root.is_dir():
        return []
    found = [(int(p.name[1:]), p) for p in root.iterdir() if p.is_dir() and re.fullmatch(r"v\d+", p.name)]
    return sorted(found)


def find_version(out_dir: str | Path, name: str, fingerprint: str) -> Path | None:
    """The existing version built from the same inputs and params, if any."""
    from minekit.io import read_manifest_json

    for _, path in _versions(dataset_root(out_dir, name)):
        manifest = path / "manifest.json"
        if manifest.is_file() and read_manifest_json(manifest).get("fingerprint") == fingerprint:
            return path
    return None


@contextmanager
def _locked(root: Path):
    """One build at a time per dataset name, so two identical builds cannot both make a version."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: the rename below still never overwrites a version
        yield
        return
    fd = os.open(root, os.O_RDONLY)  # lock the folder itself: no lock file is left behind
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_dataset(result: BuildResult, *, out_dir: str | Path, name: str, manifest: dict) -> Path:
    """Write a new version v<N+1> next to the existing ones; never touches an existing version.

    Files go to a hidden temp folder first, which is renamed into place only once complete. A version
    with the same fingerprint (an identical build that finished meanwhile) is returned instead. An
    empty result is an error saying why: a 0-row dataset trains nothing.
    """
    from minekit.guards import remove_stale_temps, respect_umask

    no_candidate = result.stats.get("queries") and result.stats.get("queries_without_negatives") == result.stats["queries"]
    if result.train.height == 0 or no_candidate:  # random fill alone is not a mined dataset
        raise InputError(_why_empty(result.stats, manifest))
    root = dataset_root(out_dir, name)
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(root, ".tmp-")
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-p{os.getpid()}-", dir=root))
    respect_umask(tmp, folder=True)
    try:
        write_parquet(result.train, tmp / "train.parquet", manifest)
        write_parquet(result.ids, tmp / "ids.parquet", manifest)
        with _locked(root):
            same = find_version(out_dir, name, manifest["fingerprint"]) if manifest.get("fingerprint") else None
            if same is not None:
                logger.info("an identical build finished meanwhile: %s", same)
                return same
            return _rename_in(tmp, root, result, manifest, name)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _why_empty(stats: dict, manifest: dict) -> str:
    """Why a build kept no row, and what to change."""
    params = (manifest.get("steps") or [{}])[-1].get("params", {})
    n, fill = params.get("num_negatives"), params.get("fill")
    positives, without = stats.get("positives", 0), stats.get("queries_without_negatives", 0)
    if without and without == stats.get("queries"):
        why = (f"none of the {stats.get('queries')} queries in --positives has a candidate (were the candidates "
               "mined from another positives file, or filtered down to nothing?)")
        fix = "mine with the same --positives, or loosen the filter (for random negatives, `minekit mine random`)"
        return f"build: nothing to write: {why}. No version was made. Fix: {fix}."
    else:
        why = (f"all {positives} (query, positive) rows have fewer than --num-negatives {n} usable candidates "
               f"({stats.get('rows_without_enough_negatives', 0)} rows)")
        fix = "lower --num-negatives or mine more candidates (--top-k)"
    if fill == "random":
        why += f"; --fill random could not pad them either: the corpus has fewer than {n} documents outside " \
               "each query's positives and candidates"
        fix = "lower --num-negatives, or use a larger --corpus"
    elif "--fill random" not in fix:
        fix += ", or pad rows with --fill random"
    return f"build: nothing to write: {why}. No version was made. Fix: {fix}."


def _rename_in(tmp: Path, root: Path, result: BuildResult, manifest: dict, name: str) -> Path:
    """Give the complete temp folder the next free version number."""
    while True:
        version = (_versions(root)[-1][0] if _versions(root) else 0) + 1
        full = {**manifest, "name": name, "version": version,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "files": {f: {"rows": getattr(result, f.split(".")[0]).height,
                              "sha256": file_sha256(tmp / f)} for f in ("train.parquet", "ids.parquet")},
                "columns": result.train.columns}
        write_json(tmp / "manifest.json", full)
        write_text(tmp / "README.md", dataset_card(full, result))
        try:
            os.rename(tmp, root / f"v{version}")  # fails if another run took this number meanwhile
            return root / f"v{version}"
        except OSError:
            if not (root / f"v{version}").exists():
                raise


def dataset_card(manifest: dict, result: BuildResult) -> str:
    """A README a person can read: what is in the dataset, how it was made, how to load it."""
    params = manifest["steps"][-1]["params"]
    steps = "\n".join(
        f"{i + 1}. `{s['stage']}` " + ", ".join(f"{k}={v}" for k, v in s["params"].items())
        for i, s in enumerate(manifest["steps"])
    )
    inputs = "\n".join(f"- {k}: `{v['path']}` (sha256 {v['sha256'][:12]}…)"
                       for k, v in manifest["steps"][-1]["inputs"].items())
    stats = "\n".join(f"- {k}: {v}" for k, v in result.stats.items())
    scores = "\n".join(f"- `{k}`: {v}" for k, v in result.score_columns.items()) or "- none (random negatives)"
    return f"""# {manifest['name']} v{manifest['version']}

A {params['format']} dataset for training retrieval models with hard negatives, built by minekit
{manifest['minekit_version']} on {manifest['created']}.

- `train.parquet`: {result.train.height} rows, columns {', '.join(f'`{c}`' for c in result.train.columns)} (texts, in trainer order)
- `ids.parquet`: the ids, scores and sources of the same rows, row by row
- `manifest.json`: inputs, every step's params, counts, fingerprint `{manifest['fingerprint'][:16]}`

## How it was made
{steps}

Inputs:
{inputs}

## Scores
Each score column of `ids.parquet` holds one kind of score, from one scorer:
{scores}

## Counts
{stats}

## Load it
```python
from datasets import load_dataset
train = load_dataset("parquet", data_files="train.parquet", split="train")
```
The texts come from the inputs above: this dataset carries their licence.
"""
