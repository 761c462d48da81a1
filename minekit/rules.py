"""Keep-rules shared by filter and denoise: each returns a keep-expression (None when not asked for),
named after the parameter that drives it, so a dropped row is counted under that name.

The score columns are arguments: filter judges the miner's `score` against the positives' scores
under the same miner (`positive_scores`), denoise a cross-encoder's `ce_score` against the positives'
cross-encoder scores (`positive_ce_scores`). Margins are judged per (query, positive), as
sentence-transformers judges each (anchor, positive) pair against its own positive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl


def min_score(value: float | None, score: str = "score") -> "pl.Expr | None":
    import polars as pl

    return None if value is None else pl.col(score) >= value


def max_score(value: float | None, score: str = "score") -> "pl.Expr | None":
    import polars as pl

    return None if value is None else pl.col(score) <= value


def unjudged(positive: "pl.Expr") -> "pl.Expr":
    """A positive score that cannot anchor a margin: missing, NaN, or 0 (BM25's "no shared term")."""
    return positive.is_null() | positive.is_nan() | (positive == 0)


def can_anchor(positive: float | None) -> bool:
    """The scalar twin of unjudged: can this positive score anchor a margin?"""
    return positive is not None and positive == positive and positive != 0 and abs(positive) != float("inf")


def absolute_threshold(positive: "pl.Expr", margin: float) -> "pl.Expr":
    """The highest score a negative may have: positive - margin."""
    return positive - margin


def relative_threshold(positive, margin: float):
    """The highest score a negative may have: positive - |positive| * margin (as sentence-transformers;
    for a negative positive score, such as a logit, the bound stays below the positive). Takes a
    number or a polars expression."""
    return positive - abs(positive) * margin


# Columns judge_margins adds for mark() and margin_stats(); a stage drops them before writing.
MARGIN_COLUMNS = ("_absolute_margin", "_relative_margin", "_unjudged")


def margin_rules(absolute_margin: float | None, relative_margin: float | None) -> dict[str, "pl.Expr | None"]:
    """The keep-masks of a frame judge_margins judged, named after their parameters, for mark()."""
    import polars as pl

    return {"absolute_margin": None if absolute_margin is None else pl.col("_absolute_margin"),
            "relative_margin": None if relative_margin is None else pl.col("_relative_margin")}


def judge_margins(frame: "pl.DataFrame", *, absolute_margin: float | None, relative_margin: float | None,
                  score: str = "score", positive_scores: str = "positive_scores") -> "pl.DataFrame":
    """Judge each candidate against each of its query's positives (positive_ids / positive_scores).

    A candidate breaks a margin for a positive when its score is above that positive's threshold. It is
    dropped only when it breaks a margin for every positive (_absolute_margin / _relative_margin are the
    keep-masks); otherwise the positives it breaks are added to excluded_for, so build leaves it out of
    those rows only. A positive whose score cannot anchor a margin (rules.unjudged) judges nothing: the
    candidate stays for its rows, counted in _unjudged.
    """
    import polars as pl

    from minekit.schema import with_positive_lists

    frame = with_positive_lists(frame) if positive_scores == "positive_scores" else frame
    out = frame if "excluded_for" in frame.columns else frame.with_columns(
        pl.lit([], pl.List(pl.Utf8)).alias("excluded_for"))
    if absolute_margin is None and relative_margin is None:
        return out.with_columns(pl.lit(True).alias("_absolute_margin"), pl.lit(True).alias("_relative_margin"),
                                pl.lit(0, pl.UInt32).alias("_unjudged"))
    pos, value = pl.col("_ps"), pl.col(score)
    judged = ~unjudged(pos)
    brk_abs = (judged & (value > absolute_threshold(pos, absolute_margin))).fill_null(False) \
        if absolute_margin is not None else pl.lit(False)
    brk_rel = (judged & (value > relative_threshold(pos, relative_margin))).fill_null(False) \
        if relative_margin is not None else pl.lit(False)
    pairs = (out.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_r"), score, "positive_ids",
                        pl.col(positive_scores).alias("_ps"))
             .explode("positive_ids", "_ps")
             .with_columns(brk_abs.alias("_ba"), brk_rel.alias("_br"), judged.fill_null(False).alias("_j")))
    verdict = pairs.group_by("_r", maintain_order=True).agg(
        (~pl.col("_ba").all()).alias("_absolute_margin"),
        (~(pl.col("_ba") | pl.col("_br")).all()).alias("_relative_margin"),
        pl.col("positive_ids").filter(pl.col("_ba") | pl.col("_br")).drop_nulls().alias("_broken"),
        (~pl.col("_j")).sum().cast(pl.UInt32).alias("_unjudged"),
    ).sort("_r")
    return (pl.concat([out, verdict.drop("_r")], how="horizontal")
            .with_columns(pl.concat_list("excluded_for", "_broken").list.unique().list.sort().alias("excluded_for"))
            .drop("_broken"))


def margin_stats(judged: "pl.DataFrame") -> dict[str, int]:
    """Pairs a margin could not judge, and pairs excluded from one positive's rows while kept for others."""
    import polars as pl

    kept = judged.filter(pl.col("_absolute_margin") & pl.col("_relative_margin"))
    return {"margin_unjudged_pairs": int(judged["_unjudged"].sum()),
            "margin_excluded_pairs": int(kept["excluded_for"].list.len().sum())}


def mark(frame: "pl.DataFrame", rules: dict[str, "pl.Expr | None"]) -> "pl.DataFrame":
    """Add drop_reason: the name of the first rule (in dict order) a row breaks, or null when kept."""
    import polars as pl

    reason = pl.lit(None, dtype=pl.Utf8)
    for name, keep in reversed([(n, e) for n, e in rules.items() if e is not None]):
        reason = pl.when(~keep).then(pl.lit(name)).otherwise(reason)
    return frame.with_columns(reason.alias("drop_reason"))


def dropped(marked: "pl.DataFrame") -> dict[str, int]:
    """{reason: rows} of a marked frame, by reason name."""
    return dict(sorted(marked["drop_reason"].drop_nulls().value_counts().iter_rows()))
