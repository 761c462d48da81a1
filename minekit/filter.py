"""Remove likely false negatives from candidates by rank window, score and margin thresholds.

Each rule is a small function returning a keep-mask, named after the parameter that drives it, so a
dropped row is counted (and, with keep_dropped, marked) under that name. A row that breaks several
rules is counted under the first, in the order they are listed in filter_candidates.
Parameter meanings follow sentence-transformers' mine_hard_negatives.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from minekit import rules
from minekit.errors import ConfigError
from minekit.stats import StageResult

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)


def _is_positive(positives: "pl.DataFrame | None") -> "pl.Expr | None":
    import polars as pl

    if positives is None:
        return None
    pair = pl.concat_str("query_id", pl.lit("\x1f"), "doc_id")
    return ~pair.is_in(positives.select(pair).to_series().implode())


def _range_min(value: int) -> "pl.Expr | None":
    import polars as pl

    return pl.col("rank") > value if value > 0 else None


def _range_max(value: int | None) -> "pl.Expr | None":
    import polars as pl

    return None if value is None else pl.col("rank") <= value


def _check(range_min: int, range_max: int | None, min_score: float | None, max_score: float | None,
           absolute_margin: float | None, relative_margin: float | None) -> None:
    if range_min < 0:
        raise ConfigError(f"range_min: must be 0 or more, got {range_min}.")
    if range_max is not None and range_max <= range_min:
        raise ConfigError(f"range_max ({range_max}) must be larger than range_min ({range_min}).")
    if min_score is not None and max_score is not None and min_score > max_score:
        raise ConfigError(f"min_score ({min_score}) is larger than max_score ({max_score}): nothing could pass.")
    if relative_margin is not None and not 0 <= relative_margin < 1:
        raise ConfigError(f"relative_margin: must be in [0, 1), got {relative_margin}.")


def filter_candidates(
    candidates: "pl.DataFrame",
    positives: "pl.DataFrame | None" = None,
    *,
    range_min: int = 0,
    range_max: int | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    absolute_margin: float | None = None,
    relative_margin: float | None = None,
    keep_dropped: bool = False,
) -> StageResult:
    """Keep candidates with range_min < rank <= range_max and min_score <= score <= max_score, and
    judge margins per (query, positive): a candidate breaks a positive's margin when
    score > positive - absolute_margin or score > positive - |positive| * relative_margin.

    A candidate that breaks the margin of every positive of its query is dropped; one that breaks only
    some is kept with those positives in excluded_for, and build leaves it out of their rows. A
    positive scored 0 or null cannot anchor a margin and judges nothing (margin_unjudged_pairs).
    With `positives`, a candidate that is a positive of its query is dropped too (is_positive).
    Ranks are kept as the miner gave them. With keep_dropped, dropped rows stay, marked in drop_reason.
    """
    import polars as pl

    _check(range_min, range_max, min_score, max_score, absolute_margin, relative_margin)
    judged = rules.judge_margins(candidates, absolute_margin=absolute_margin, relative_margin=relative_margin)
    marked = rules.mark(judged, {
        "is_positive": _is_positive(positives),
        "range_min": _range_min(range_min),
        "range_max": _range_max(range_max),
        "min_score": rules.min_score(min_score),
        "max_score": rules.max_score(max_score),
        **rules.margin_rules(absolute_margin, relative_margin),
    })
    kept = marked.filter(pl.col("drop_reason").is_null())

    stats = {
        "rows_in": candidates.height,
        "rows_out": kept.height,
        "dropped": rules.dropped(marked),
        "queries_in": candidates["query_id"].n_unique(),
        "queries_without_negatives": candidates["query_id"].n_unique() - kept["query_id"].n_unique(),
    }
    if absolute_margin is not None or relative_margin is not None:
        stats.update(rules.margin_stats(marked.filter(pl.col("drop_reason").is_null())))
        if stats["margin_unjudged_pairs"]:
            logger.info("%d (candidate, positive) pairs kept unjudged by the margin: the positive's score is "
                        "missing or 0", stats["margin_unjudged_pairs"])
    frame = marked if keep_dropped else kept.drop("drop_reason")
    return StageResult(frame.drop(rules.MARGIN_COLUMNS), stats)
