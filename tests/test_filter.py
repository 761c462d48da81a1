"""Each filter rule on tables small enough to check by eye, and the counts it reports."""

from __future__ import annotations

import polars as pl
import pytest

from minekit.errors import ConfigError
from minekit.filter import filter_candidates


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
    assert result.stats["positive_score_missing"] == 2


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
    with pytest.raises(ConfigError, match=match):
        filter_candidates(cands, **kwargs)
