"""train.parquet in the layout a trainer reads (triplet, n-tuple, labeled-pair), and ids.parquet
reshaped to stay row-aligned with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from minekit.inputs.schema import passage_text

if TYPE_CHECKING:
    import polars as pl


def lay_out(ids: "pl.DataFrame", queries: "pl.DataFrame", corpus: "pl.DataFrame", *, format: str,
            num_negatives: int) -> tuple["pl.DataFrame", "pl.DataFrame"]:
    """(ids, train) in `format`: texts in trainer order, ids row-aligned with them.

    triplet: one row per negative (anchor, positive, negative); n-tuple: one row per (query, positive)
    with negative_1..n; labeled-pair: (anchor, document, label) rows, each document once per query.
    """
    import polars as pl

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
    return ids, train


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
    """Query and passage texts by id."""

    def __init__(self, queries: "pl.DataFrame", corpus: "pl.DataFrame") -> None:
        self._q = (queries["query_id"], queries["text"])
        self._d = (corpus["doc_id"], corpus.select(passage_text()).to_series())

    def query(self, ids: "pl.Series") -> "pl.Series":
        return ids.replace_strict(*self._q)

    def doc(self, ids: "pl.Series") -> "pl.Series":
        return ids.replace_strict(*self._d)
