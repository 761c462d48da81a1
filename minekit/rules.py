"""Keep-rules shared by filter and denoise: each returns a keep-expression (None when not asked for),
named after the parameter that drives it, so a dropped row is counted under that name.

The score columns are arguments: filter judges the miner's `score` against `positive_score`, denoise
a cross-encoder's `ce_score` against the positives' cross-encoder score.
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


def absolute_margin(value: float | None, score: str = "score", positive: str = "positive_score") -> "pl.Expr | None":
    """score <= positive - margin; a row without a positive score cannot be judged and is kept."""
    import polars as pl

    return None if value is None else (pl.col(score) <= pl.col(positive) - value).fill_null(True)


def relative_margin(value: float | None, score: str = "score", positive: str = "positive_score") -> "pl.Expr | None":
    """score <= positive * (1 - margin); a row without a positive score cannot be judged and is kept."""
    import polars as pl

    return None if value is None else (pl.col(score) <= pl.col(positive) * (1 - value)).fill_null(True)


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
