"""Each (query, positive) row's negatives: its pool minus the candidates a margin rules out, the
sampling strategy's choice among the rest, and random corpus documents where fill="random" pads a
short row. Rows are handled in the order given, each with its own generator: deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from minekit.clean import rules
from minekit.dataset.sampling import Chooser, row_rng
from minekit.dataset.store import score_column

if TYPE_CHECKING:
    import polars as pl


@dataclass
class Picked:
    """The ids.parquet rows (tuples in `schema` order) and the counts of what picking did."""

    rows: list[tuple]
    schema: dict
    counts: dict


def pick_negatives(rows: "pl.DataFrame", corpus_ids: list[str], positives: "pl.DataFrame", *, sources: list[str],
                   has_ce: bool, num_negatives: int, relative_margin: float | None, chooser: Chooser, fill: str,
                   seed: int) -> Picked:
    """Choose the negatives of each (query, positive) row, in the order rows are given (deterministic).
    corpus_ids: the corpus's doc_ids, sorted (random fill draws from them)."""
    pos_by_query = dict(positives.group_by("query_id").agg("doc_id").iter_rows())
    cols = [score_column(s) for s in sources]
    out, counts = [], {"rows_filled": 0, "negatives_filled": 0, "rows_without_enough_negatives": 0,
                       "positives_lost": 0, "negatives_excluded_by_margin": 0,
                       "negatives_excluded_by_relative_margin": 0}
    pools = allowed_positions(rows, cols, relative_margin, counts)
    for row, pool in zip(rows.iter_rows(named=True), pools):
        rng = row_rng(seed, row["query_id"], row["positive_id"])
        negatives = _Negatives.of(row, chooser.take(row, pool, num_negatives, rng), cols, has_ce)
        missing = num_negatives - len(negatives.ids)
        if missing and fill == "random":
            exclude = set(pos_by_query[row["query_id"]]) | set(negatives.ids)
            extra = _random_fill(rng, corpus_ids, exclude, missing)
            if len(extra) == missing:
                negatives.pad(extra)
                counts["rows_filled"] += 1
                counts["negatives_filled"] += missing
                missing = 0
        if missing:
            counts["rows_without_enough_negatives"] += 1
            counts["positives_lost"] += 1
            continue
        out.append(negatives.record(row))
    return Picked(out, negative_schema(cols, has_ce), counts)


def allowed_positions(rows: "pl.DataFrame", cols: list[str], relative_margin: float | None,
                      counts: dict) -> list[list[int]]:
    """Each row's pool: the positions of its candidates that are not excluded for its positive by a margin
    rule (excluded_for) and, with relative_margin, that no miner scores above positive - |positive| *
    relative_margin for this row's own positive. A positive scored 0, null or non-finite by a miner cannot
    anchor that miner's margin (rules.unjudged). Computed for the whole chunk at once, in float64."""
    import polars as pl

    flat = rows.select(pl.int_range(pl.len()).alias("_row"), "positive_id", "neg_excluded",
                       *(pl.col(f"neg_score_{c}") for c in cols),
                       *(pl.col(f"positive_score_{c}").cast(pl.Float64) for c in cols))
    flat = flat.explode("neg_excluded", *(f"neg_score_{c}" for c in cols)).with_columns(
        pl.int_range(pl.len()).over("_row").alias("_pos"),
        pl.col("neg_excluded").list.contains(pl.col("positive_id")).fill_null(False).alias("_excluded"))
    flat = flat.join(rows.select(pl.int_range(pl.len()).alias("_row"), pl.col("neg_ids").list.len().alias("_n")),
                     on="_row", maintain_order="left").filter(pl.col("_pos") < pl.col("_n").fill_null(0))
    too_close = pl.lit(False)
    if relative_margin is not None:
        for c in cols:
            positive = pl.col(f"positive_score_{c}")
            anchors = positive.is_finite() & (positive != 0)
            above = pl.col(f"neg_score_{c}").cast(pl.Float64) > rules.relative_threshold(positive, relative_margin)
            too_close = too_close | (anchors & above).fill_null(False)
    flat = flat.with_columns(too_close.alias("_close"))
    counts["negatives_excluded_by_margin"] += int(flat["_excluded"].sum())
    counts["negatives_excluded_by_relative_margin"] += int((~flat["_excluded"] & flat["_close"]).sum())
    kept = (flat.filter(~pl.col("_excluded") & ~pl.col("_close")).group_by("_row", maintain_order=True)
            .agg(pl.col("_pos")))
    by_row = dict(kept.iter_rows())
    return [by_row.get(i, []) for i in range(rows.height)]


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


@dataclass
class _Negatives:
    """One row's chosen negatives, column by column; random fill has no source rank or score."""

    ids: list[str]
    sources: list[str]
    ranks: list
    scores: dict[str, list]  # score column suffix -> each negative's score
    ce: list | None  # denoise's scores, when the candidates carry them

    @classmethod
    def of(cls, row: dict, take: list[int], cols: list[str], has_ce: bool) -> "_Negatives":
        return cls(ids=[row["neg_ids"][i] for i in take],
                   sources=[row["neg_sources"][i] for i in take], ranks=[row["neg_ranks"][i] for i in take],
                   scores={c: [row[f"neg_score_{c}"][i] for i in take] for c in cols},
                   ce=[row["neg_ce"][i] for i in take] if has_ce else None)

    def pad(self, docs: list[str]) -> None:
        n = len(docs)
        self.ids += docs
        self.sources += ["random"] * n
        self.ranks += [None] * n
        self.scores = {c: v + [None] * n for c, v in self.scores.items()}
        if self.ce is not None:
            self.ce = self.ce + [None] * n

    def record(self, row: dict) -> tuple:
        """The ids.parquet row, in negative_schema's column order."""
        record = [row["query_id"], row["positive_id"], self.ids, self.sources, self.ranks]
        for c, scores in self.scores.items():
            record += [row[f"positive_score_{c}"], scores]
        if self.ce is not None:
            record += [row["positive_ce_score"], self.ce]
        return tuple(record)


def negative_schema(cols: list[str], has_ce: bool) -> dict:
    import polars as pl

    schema = {"query_id": pl.Utf8, "positive_id": pl.Utf8, "negative_ids": pl.List(pl.Utf8),
              "negative_sources": pl.List(pl.Utf8), "negative_ranks": pl.List(pl.Int32)}
    for c in cols:
        schema[f"positive_score_{c}"] = pl.Float32
        schema[f"negative_scores_{c}"] = pl.List(pl.Float32)
    if has_ce:
        schema["positive_ce_score"] = pl.Float32
        schema["negative_ce_scores"] = pl.List(pl.Float32)
    return schema
