"""Keep-rules shared by filter and denoise, one small object each.

A rule knows the parameter it comes from (`param`), the drop_reason it writes on a row it drops
(`reason`, the parameter's name but for is_positive and llm_judge), and gives a keep-expression
(`keep()`, None when it is not asked for). Its value is checked when the rule is made, the one place
a value is refused (ConfigError naming `param`). mark() applies a list of rules in order: a row that
breaks several is counted under the first.

The score columns are arguments: filter judges the miner's `score` against the positives' scores
under the same miner (`positive_scores`), denoise a cross-encoder's `ce_score` against the positives'
cross-encoder scores (`positive_ce_scores`). Margins are judged per (query, positive), as
sentence-transformers judges each (anchor, positive) pair against its own positive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from minekit.errors import ConfigError

if TYPE_CHECKING:
    import polars as pl

AUTO = "auto"  # a value the stage resolves (denoise: from the scorer, or calibrated on the positives file)


@dataclass(frozen=True)
class Rule:
    """A keep-rule: `param` sets it, `reason` is the drop_reason of the rows it drops."""

    param = ""
    reason = ""

    def keep(self) -> "pl.Expr | None":
        """True for the rows the rule keeps; None when it judges nothing."""
        raise NotImplementedError


@dataclass(frozen=True)
class IsPositive(Rule):
    """Drop a candidate that is a positive of its query."""

    param, reason = "positives", "is_positive"
    positives: "pl.DataFrame | None" = field(default=None, compare=False)

    def keep(self) -> "pl.Expr | None":
        import polars as pl

        if self.positives is None:
            return None
        pair = pl.concat_str("query_id", pl.lit("\x1f"), "doc_id")
        return ~pair.is_in(self.positives.select(pair).to_series().implode())


@dataclass(frozen=True)
class RangeMin(Rule):
    """Keep rank > range_min (0: every rank)."""

    param = reason = "range_min"
    value: int = 0

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ConfigError(f"range_min: must be 0 or more, got {self.value}.", param=self.param)

    def keep(self) -> "pl.Expr | None":
        import polars as pl

        return pl.col("rank") > self.value if self.value > 0 else None


@dataclass(frozen=True)
class RangeMax(Rule):
    """Keep rank <= range_max; the window must hold a rank above range_min."""

    param = reason = "range_max"
    value: int | None = None
    range_min: int = 0

    def __post_init__(self) -> None:
        if self.value is not None and self.value <= self.range_min:
            raise ConfigError(f"range_max ({self.value}) must be larger than range_min ({self.range_min}).",
                              param=self.param)

    def keep(self) -> "pl.Expr | None":
        import polars as pl

        return None if self.value is None else pl.col("rank") <= self.value


@dataclass(frozen=True)
class MinScore(Rule):
    """Keep score >= min_score; with a max_score too, some score must be able to pass both."""

    param = reason = "min_score"
    value: float | None = None
    score: str = "score"
    max_score: float | None = None

    def __post_init__(self) -> None:
        if self.value is not None and self.max_score is not None and self.value > self.max_score:
            raise ConfigError(f"min_score ({self.value}) is larger than max_score ({self.max_score}): "
                              "nothing could pass.", param=self.param)

    def keep(self) -> "pl.Expr | None":
        import polars as pl

        return None if self.value is None else pl.col(self.score) >= self.value


@dataclass(frozen=True)
class MaxScore(Rule):
    """Keep score <= max_score (RocketQA: a negative scored that high is likely a positive)."""

    param = reason = "max_score"
    value: float | None = None
    score: str = "score"

    def keep(self) -> "pl.Expr | None":
        import polars as pl

        return None if self.value is None else pl.col(self.score) <= self.value


@dataclass(frozen=True)
class AbsoluteMargin(Rule):
    """Keep a candidate unless score > positive - absolute_margin for every positive of its query
    (judge_margins writes the verdict). "auto" is for the stage to resolve before the rule judges."""

    param = reason = "absolute_margin"
    value: float | str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.value, str) and self.value != AUTO:
            raise ConfigError(f"absolute_margin: must be a number, 'auto' or none, got {self.value!r}.",
                              param=self.param)

    def keep(self) -> "pl.Expr | None":
        import polars as pl

        return None if self.value is None else pl.col("_absolute_margin")


@dataclass(frozen=True)
class RelativeMargin(Rule):
    """Keep a candidate unless score > positive - |positive| * relative_margin for every positive of its
    query (judge_margins writes the verdict)."""

    param = reason = "relative_margin"
    value: float | None = None

    def __post_init__(self) -> None:
        if self.value is not None and not 0 <= self.value < 1:
            raise ConfigError(f"relative_margin: must be in [0, 1), got {self.value}.", param=self.param)

    def keep(self) -> "pl.Expr | None":
        import polars as pl

        return None if self.value is None else pl.col("_relative_margin")


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


# Columns judge_margins adds for the margin rules and margin_stats(); a stage drops them before writing.
MARGIN_COLUMNS = ("_absolute_margin", "_relative_margin", "_unjudged")


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

    from minekit.inputs.schema import with_positive_lists

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


def mark(frame: "pl.DataFrame", rules: Sequence[Rule]) -> "pl.DataFrame":
    """Add drop_reason: the reason of the first rule (in list order) a row breaks, or null when kept."""
    import polars as pl

    reason = pl.lit(None, dtype=pl.Utf8)
    for rule, keep in reversed([(r, k) for r in rules if (k := r.keep()) is not None]):
        reason = pl.when(~keep).then(pl.lit(rule.reason)).otherwise(reason)
    return frame.with_columns(reason.alias("drop_reason"))


def dropped(marked: "pl.DataFrame") -> dict[str, int]:
    """{reason: rows} of a marked frame, by reason name."""
    return dict(sorted(marked["drop_reason"].drop_nulls().value_counts().iter_rows()))
