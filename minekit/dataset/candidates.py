"""The candidates a build picks from: several miners' files merged into one pool per query.

A (query, document) pair found by two sources is kept once, at its best rank, with both sources
recorded ("bm25+dense") and each miner's score in its own column: scores of different kinds never
share a column. Positives, and documents whose text is a positive's text, never become negatives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from minekit.dataset.store import score_column
from minekit.errors import ConfigError
from minekit.inputs.schema import passage_text

if TYPE_CHECKING:
    import polars as pl


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


def usable_candidates(frames: list["pl.DataFrame"], positives: "pl.DataFrame",
                      corpus: "pl.DataFrame") -> tuple["pl.DataFrame", dict[str, int]]:
    """The merged candidates minus positives and copies of a positive's text, and how many each removed."""
    merged = merge_candidates(frames)
    keys = positives.select("query_id", "doc_id")
    is_pos = merged.join(keys, on=["query_id", "doc_id"], how="semi")
    merged = merged.join(keys, on=["query_id", "doc_id"], how="anti", maintain_order="left")
    copies = _copies_of_positives(merged, positives, corpus)
    merged = merged.join(copies, on=["query_id", "doc_id"], how="anti", maintain_order="left")
    dropped = {k: v for k, v in (("is_positive", is_pos.height), ("same_text_as_positive", copies.height)) if v}
    return merged, dropped


def _copies_of_positives(merged: "pl.DataFrame", positives: "pl.DataFrame", corpus: "pl.DataFrame") -> "pl.DataFrame":
    """Candidates whose text is exactly a positive's text: a duplicate document, so a false negative.

    Pairs are matched on a 64-bit hash of the passage (8 bytes a pair, not its text), and only the
    matches are compared as texts, so a hash collision never counts as a copy."""
    import polars as pl

    needed = pl.concat([merged["doc_id"], positives["doc_id"]]).unique().implode()
    texts = corpus.filter(pl.col("doc_id").is_in(needed)).select("doc_id", passage_text().str.strip_chars().alias("passage"))
    hashes = texts.select("doc_id", pl.col("passage").hash(seed=0).alias("_h"))
    positive_texts = (positives.select("query_id", "doc_id").join(texts, on="doc_id")
                      .select("query_id", pl.col("passage").hash(seed=0).alias("_h"), pl.col("passage").alias("_pp")))
    matched = (merged.select("query_id", "doc_id").join(hashes, on="doc_id", maintain_order="left")
               .join(positive_texts, on=["query_id", "_h"], maintain_order="left"))
    return (matched.join(texts, on="doc_id", maintain_order="left").filter(pl.col("passage") == pl.col("_pp"))
            .select("query_id", "doc_id").unique(maintain_order=True).sort("query_id", "doc_id"))


def row_pools(merged: "pl.DataFrame", frames: list["pl.DataFrame"], positives: "pl.DataFrame",
              sources: list[str]) -> "pl.DataFrame":
    """One row per (query, positive), in (query_id, positive_id) order: its query's candidates, best rank
    first, as lists (neg_ids, neg_sources, neg_ranks, neg_best, neg_excluded, neg_score_<source>[, neg_ce]),
    and the positive's own score under each miner (positive_score_<source>, positive_ce_score)."""
    import polars as pl

    score_cols = [f"score_{score_column(s)}" for s in sources]
    # a chunk of queries may hold no candidate of some source: its column is there, empty
    merged = merged.with_columns(pl.lit(None, pl.Float32).alias(c) for c in score_cols if c not in merged.columns)
    pools = merged.sort("query_id", "rank", "doc_id").group_by("query_id", maintain_order=True).agg(
        pl.col("doc_id").alias("neg_ids"), pl.col("sources").alias("neg_sources"), pl.col("rank").alias("neg_ranks"),
        pl.col("best_source").alias("neg_best"), pl.col("excluded_for").alias("neg_excluded"),
        *(pl.col(c).alias(f"neg_{c}") for c in score_cols),
        *([pl.col("ce_score").alias("neg_ce")] if "ce_score" in merged.columns else []),
    )
    pos_scores = positive_scores(frames)
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
    return rows
