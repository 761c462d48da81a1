"""Each filter rule on tables small enough to check by eye, and the counts it reports."""

from __future__ import annotations

import polars as pl
import pytest

from minekit.errors import ConfigError
from minekit.clean.filter import filter_candidates


@pytest.fixture
def cands() -> pl.DataFrame:
    return pl.DataFrame({
        "query_id": ["q1"] * 5 + ["q2"] * 2,
        "doc_id": ["a", "b", "c", "d", "e", "f", "g"],
        "source": ["bm25"] * 7,
        "rank": pl.Series([1, 2, 3, 4, 5, 1, 2], dtype=pl.Int32),
        "score": pl.Series([9.5, 8.0, 6.0, 4.0, 1.0, 0.9, 0.5], dtype=pl.Float32),
        "positive_score": pl.Series([10.0] * 5 + [None] * 2, dtype=pl.Float32),
    })


def _kept(result) -> list[str]:
    return result.frame["doc_id"].to_list()


def test_no_rule_keeps_everything(cands):
    result = filter_candidates(cands)
    assert _kept(result) == list("abcdefg") and result.stats["dropped"] == {}


def test_rank_window(cands):
    result = filter_candidates(cands, range_min=1, range_max=3)
    assert _kept(result) == ["b", "c", "g"]
    assert result.stats["dropped"] == {"range_min": 2, "range_max": 2}
    assert result.stats["rows_in"] == 7 and result.stats["rows_out"] == 3


def test_score_thresholds(cands):
    assert _kept(filter_candidates(cands, max_score=6.0)) == ["c", "d", "e", "f", "g"]
    result = filter_candidates(cands, min_score=0.95)
    assert _kept(result) == ["a", "b", "c", "d", "e"]
    assert result.stats["dropped"] == {"min_score": 2} and result.stats["queries_without_negatives"] == 1


def test_margins_follow_sentence_transformers(cands):
    # absolute: score <= positive_score - margin, so 10 - 2 = 8.0 is kept
    assert _kept(filter_candidates(cands, absolute_margin=2.0)) == ["b", "c", "d", "e", "f", "g"]
    # relative: score <= positive_score * (1 - margin) = 10 * 0.6 = 6.0 is kept
    result = filter_candidates(cands, relative_margin=0.4)
    assert _kept(result) == ["c", "d", "e", "f", "g"]
    assert result.stats["dropped"] == {"relative_margin": 2}
    # rows without a positive_score cannot be judged: kept, and counted
    assert result.stats["margin_unjudged_pairs"] == 2


def _per_positive(scores, positive_ids, positive_scores, kind="cosine"):
    n = len(scores)
    return pl.DataFrame({
        "query_id": ["q"] * n, "doc_id": [f"d{i}" for i in range(n)], "source": ["dense"] * n,
        "rank": pl.Series(range(1, n + 1), dtype=pl.Int32), "score": pl.Series(scores, dtype=pl.Float32),
        "score_kind": [kind] * n, "positive_score": pl.Series([min(positive_scores)] * n, dtype=pl.Float32),
        "positive_ids": [positive_ids] * n,
        "positive_scores": pl.Series([positive_scores] * n, dtype=pl.List(pl.Float32)),
    })


def test_relative_margin_of_a_negative_score_stays_below_the_positive():
    # a logit positive at -2 with margin 0.05: the bound is -2 - |-2| * 0.05 = -2.1, so -1.95
    # (scored above the positive) goes and -2.2 stays
    cands = _per_positive([-1.95, -2.05, -2.2], ["p"], [-2.0], kind="ce_logit")
    result = filter_candidates(cands, relative_margin=0.05)
    assert _kept(result) == ["d2"] and result.stats["dropped"] == {"relative_margin": 2}


def test_margins_are_judged_per_positive_not_against_the_weakest():
    # positives at cosine 0.9 and 0.3: a candidate at 0.5 is a fine negative for the 0.9 row, a
    # likely false negative for the 0.3 row; one at 0.95 is too close to both and goes
    cands = _per_positive([0.95, 0.5, 0.2], ["p1", "p2"], [0.9, 0.3])
    result = filter_candidates(cands, relative_margin=0.05)
    assert _kept(result) == ["d1", "d2"]
    assert result.frame["excluded_for"].to_list() == [["p2"], []]
    assert result.stats["dropped"] == {"relative_margin": 1} and result.stats["margin_excluded_pairs"] == 1


def test_a_positive_scored_zero_anchors_no_margin():
    # BM25 gives 0 to a positive sharing no term with its query: it judges nothing, the candidates stay
    cands = _per_positive([3.0, 1.0], ["p1"], [0.0], kind="bm25")
    result = filter_candidates(cands, relative_margin=0.05, absolute_margin=0.0)
    assert _kept(result) == ["d0", "d1"] and result.stats["dropped"] == {}
    assert result.stats["margin_unjudged_pairs"] == 2


def test_first_rule_gets_the_blame_and_keep_dropped_marks_rows(cands):
    result = filter_candidates(cands, range_min=1, max_score=5.0, keep_dropped=True)
    reasons = dict(zip(result.frame["doc_id"], result.frame["drop_reason"]))
    assert reasons == {"a": "range_min", "b": "max_score", "c": "max_score", "d": None, "e": None,
                       "f": "range_min", "g": None}
    assert result.stats["dropped"] == {"max_score": 2, "range_min": 2}
    assert result.stats["rows_out"] == 3 and result.frame.height == 7


def test_is_positive_drops_candidates_that_are_positives(cands):
    positives = pl.DataFrame({"query_id": ["q1", "q2"], "doc_id": ["c", "x"]})
    result = filter_candidates(cands, positives)
    assert "c" not in _kept(result) and result.stats["dropped"] == {"is_positive": 1}


@pytest.mark.parametrize("kwargs, match", [
    ({"range_min": 5, "range_max": 5}, "range_max"),
    ({"range_min": -1}, "range_min"),
    ({"min_score": 2.0, "max_score": 1.0}, "min_score"),
    ({"relative_margin": 1.5}, "relative_margin"),
])
def test_impossible_settings_are_config_errors(cands, kwargs, match):
    with pytest.raises(ConfigError, match=match) as exc:
        filter_candidates(cands, **kwargs)
    assert exc.value.param == match


def test_a_score_threshold_on_mixed_kinds_of_score_is_refused(cands, tmp_path):
    """BM25 scores and cosines in one file (two miners' files concatenated): one threshold cannot mean both."""
    from typer.testing import CliRunner

    from minekit.cli import app

    dense = cands.head(3).with_columns(pl.lit("dense").alias("source"), pl.Series("score", [0.8, 0.7, 0.6],
                                                                                   dtype=pl.Float32))
    mixed = pl.concat([cands, dense])
    with pytest.raises(ConfigError, match=r"--max-score: the candidates mix scores of different kinds in one "
                                          r"column: bm25 \(source bm25\); cosine \(source dense\)"):
        filter_candidates(mixed, max_score=5.0)
    assert filter_candidates(mixed, range_max=2).stats["rows_out"] == 6  # ranks are each miner's own: fine
    path = tmp_path / "mixed.parquet"
    mixed.write_parquet(path)
    result = CliRunner().invoke(app, ["filter", "--candidates", str(path), "--out", str(tmp_path / "o.parquet"),
                                      "--relative-margin", "0.1"])
    assert result.exit_code == 2 and "--relative-margin: the candidates mix scores" in result.output
    assert not (tmp_path / "o.parquet").exists()
