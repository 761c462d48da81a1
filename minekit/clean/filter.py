"""Remove likely false negatives from candidates by rank window, score and margin thresholds.

Each rule is an object of minekit.clean.rules, named after the parameter that drives it, so a
dropped row is counted (and, with keep_dropped, marked) under that name. A row that breaks several
rules is counted under the first, in the order of filter_rules.
Parameter meanings follow sentence-transformers' mine_hard_negatives.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from minekit.clean import rules
from minekit.stats import StageResult

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)


def filter_rules(positives: "pl.DataFrame | None" = None, *, range_min: int = 0, range_max: int | None = None,
                 min_score: float | None = None, max_score: float | None = None,
                 absolute_margin: float | None = None, relative_margin: float | None = None) -> list[rules.Rule]:
    """filter's rules, in the order that gives a row breaking several its drop_reason; each checks its value
    as it is made."""
    return [rules.IsPositive(positives), rules.RangeMin(range_min), rules.RangeMax(range_max, range_min),
            rules.MinScore(min_score, max_score=max_score), rules.MaxScore(max_score),
            rules.AbsoluteMargin(absolute_margin), rules.RelativeMargin(relative_margin)]


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

    _one_score_kind(candidates, min_score=min_score, max_score=max_score, absolute_margin=absolute_margin,
                    relative_margin=relative_margin)
    asked = filter_rules(positives, range_min=range_min, range_max=range_max, min_score=min_score,
                         max_score=max_score, absolute_margin=absolute_margin, relative_margin=relative_margin)
    judged = rules.judge_margins(candidates, absolute_margin=absolute_margin, relative_margin=relative_margin)
    marked = rules.mark(judged, asked)
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


def _one_score_kind(candidates: "pl.DataFrame", **thresholds: float | None) -> None:
    """A score threshold or margin reads one `score` column: refuse a file whose rows hold scores of several
    kinds there (a BM25 score and a cosine are not on one scale). Rank rules judge each source's own ranks."""
    from minekit.errors import ConfigError
    from minekit.inputs.schema import complete_candidates

    given = [name for name, value in thresholds.items() if value is not None]
    if not given or candidates.height == 0:
        return
    kinds = (complete_candidates(candidates).group_by("score_kind", maintain_order=True)
             .agg("source").sort("score_kind"))
    if kinds.height > 1:
        found = "; ".join(f"{k} (source {', '.join(sorted(set(s)))})" for k, s in kinds.iter_rows())
        flag = "--" + given[0].replace("_", "-")
        raise ConfigError(f"{flag}: the candidates mix scores of different kinds in one column: {found}. A threshold "
                          "cannot apply to both; filter each miner's file on its own, then give them all to "
                          "`minekit build` (it keeps each miner's score in its own column).", param=given[0])
