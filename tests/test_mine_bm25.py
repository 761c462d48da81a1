"""BM25 and PassageBM25 mining on a corpus small enough that the right answers are known."""

from __future__ import annotations

import bm25s
import numpy as np
import polars as pl
import pytest
from bm25s.tokenization import Tokenizer

from minekit.errors import ConfigError
from minekit.mine.bm25 import mine_bm25, mine_passage_bm25
from minekit.mine.topk import top_k_exact


def _by_query(frame: pl.DataFrame, query_id: str) -> list[str]:
    return frame.filter(pl.col("query_id") == query_id).sort("rank")["doc_id"].to_list()


def test_positives_never_appear_and_ranks_are_contiguous(tiny):
    queries, positives, corpus = tiny
    result = mine_bm25(queries, positives, corpus, top_k=5, show_progress=False)
    frame = result.frame
    assert frame.columns == ["query_id", "doc_id", "source", "rank", "score", "score_kind", "positive_score",
                             "positive_ids", "positive_scores"]
    assert set(frame["score_kind"]) == {"bm25"}
    pairs = set(positives.select("query_id", "doc_id").iter_rows())
    assert not pairs & set(frame.select("query_id", "doc_id").iter_rows())
    for (query_id,), group in frame.group_by("query_id"):
        assert group.sort("rank")["rank"].to_list() == list(range(1, group.height + 1))
        scores = group.sort("rank")["score"].to_list()
        assert scores == sorted(scores, reverse=True) and min(scores) > 0
    assert set(frame["source"]) == {"bm25"}


def test_the_hard_negatives_are_same_topic_passages(tiny):
    queries, positives, corpus = tiny
    frame = mine_bm25(queries, positives, corpus, top_k=3, show_progress=False).frame
    # espresso query: the other coffee passages, not the solar ones
    assert set(_by_query(frame, "q2")) <= {"d05", "d07", "d08"}
    # python tuple query: the other python passages (d12 is the snake)
    assert _by_query(frame, "q3")[:2] == ["d09", "d12"] or set(_by_query(frame, "q3")[:3]) >= {"d09", "d10"}
    # solar query: both positives masked, the solar-history and wind passages come first
    assert _by_query(frame, "q1")[0] in {"d02", "d03"}


def test_scores_match_bm25s_and_positive_score_is_the_lowest_positive(tiny):
    queries, positives, corpus = tiny
    frame = mine_bm25(queries, positives, corpus, top_k=20, stemmer=None, show_progress=False).frame
    ordered = corpus.sort("doc_id")
    tokenizer = Tokenizer(stopwords="en")
    retriever = bm25s.BM25()
    retriever.index(tokenizer.tokenize(ordered["text"].to_list(), return_as="tuple", show_progress=False),
                    show_progress=False)
    q1 = tokenizer.tokenize([queries["text"][0]], update_vocab=False, return_as="ids", show_progress=False)[0]
    expected = retriever.get_scores(q1)
    got = frame.filter(pl.col("query_id") == "q1")
    position = {d: i for i, d in enumerate(ordered["doc_id"])}
    for doc_id, score in got.select("doc_id", "score").iter_rows():
        assert score == pytest.approx(expected[position[doc_id]], rel=1e-5)
    lowest = min(expected[position["d01"]], expected[position["d04"]])
    assert got["positive_score"][0] == pytest.approx(lowest, rel=1e-5)


def test_top_k_larger_than_corpus_and_zero_scores_dropped(tiny):
    queries, positives, corpus = tiny
    frame = mine_bm25(queries, positives, corpus, top_k=1000, show_progress=False).frame
    # q4 "how long is a marathon": only documents sharing a term can be candidates
    assert _by_query(frame, "q4") == ["d14"]
    assert frame.height < 5 * corpus.height


def test_empty_query_after_tokenisation_is_counted(tiny):
    queries, positives, corpus = tiny
    queries = queries.with_columns(pl.when(pl.col("query_id") == "q5").then(pl.lit("the of and"))
                                   .otherwise(pl.col("text")).alias("text"))
    result = mine_bm25(queries, positives, corpus, show_progress=False)
    assert result.stats["queries_empty_after_tokenization"] == 1
    assert result.stats["queries_without_candidates"] == 1
    assert "q5" not in result.frame["query_id"].to_list()


def test_ties_break_by_doc_id_and_output_is_deterministic():
    corpus = pl.DataFrame({"doc_id": ["z9", "a1", "m5", "b2"], "title": [""] * 4,
                           "text": ["apple pie", "apple pie", "apple pie", "banana"]})
    queries = pl.DataFrame({"query_id": ["q"], "text": ["apple"]})
    positives = pl.DataFrame({"query_id": ["q"], "doc_id": ["b2"], "score": [1]})
    first = mine_bm25(queries, positives, corpus, show_progress=False).frame
    assert first["doc_id"].to_list() == ["a1", "m5", "z9"]
    second = mine_bm25(queries, positives, corpus.reverse(), show_progress=False).frame
    assert first.equals(second)


def test_passage_bm25_finds_passages_like_the_positive(tiny):
    queries, positives, corpus = tiny
    query_bm25 = mine_bm25(queries, positives, corpus, top_k=3, show_progress=False).frame
    passage = mine_passage_bm25(queries, positives, corpus, top_k=3, show_progress=False)
    frame = passage.frame
    assert set(frame["source"]) == {"passage-bm25"}
    # q5 "why does bread dough rise": the positive d16 (yeast, dough, carbon dioxide) pulls the other
    # yeast passage d17 first, while the query itself ranks the gluten/dough passage d18 first.
    assert _by_query(frame, "q5")[0] == "d17"
    assert _by_query(query_bm25, "q5")[0] == "d18"
    # positive_score is the positive's self-match score, above every candidate's
    for (query_id,), group in frame.group_by("query_id"):
        assert (group["score"] < group["positive_score"]).all()
    assert passage.stats["positive_passages"] == positives.height


def test_passage_bm25_merges_several_positives_by_max(tiny):
    queries, positives, corpus = tiny
    merged = mine_passage_bm25(queries, positives, corpus, top_k=20, show_progress=False).frame
    q1 = merged.filter(pl.col("query_id") == "q1")
    assert q1["doc_id"].n_unique() == q1.height  # one ranked list, each document once
    assert not {"d01", "d04"} & set(q1["doc_id"])
    only_d01 = positives.filter(~((pl.col("query_id") == "q1") & (pl.col("doc_id") == "d04")))
    single = mine_passage_bm25(queries, only_d01, corpus, top_k=20, show_progress=False).frame
    single_q1 = dict(single.filter(pl.col("query_id") == "q1").select("doc_id", "score").iter_rows())
    for doc_id, score in q1.select("doc_id", "score").iter_rows():
        assert score >= single_q1.get(doc_id, 0) - 1e-6  # max over both positives >= d01 alone


def test_bad_params_are_config_errors(tiny):
    queries, positives, corpus = tiny
    with pytest.raises(ConfigError, match="top_k"):
        mine_bm25(queries, positives, corpus, top_k=0, show_progress=False)
    with pytest.raises(ConfigError, match="stemmer"):
        mine_bm25(queries, positives, corpus, stemmer="klingon", show_progress=False)
    with pytest.raises(ConfigError, match="method"):
        mine_bm25(queries, positives, corpus, method="bm25+", show_progress=False)


def test_top_k_exact_total_order():
    scores = np.array([1.0, 3.0, 3.0, 2.0, 3.0], dtype=np.float32)
    docs = np.array([4, 9, 2, 7, 5])
    top_scores, top_docs = top_k_exact(scores, docs, 2)
    assert top_docs.tolist() == [2, 5] and top_scores.tolist() == [3.0, 3.0]
    assert top_k_exact(scores, docs, 10)[1].tolist() == [2, 5, 9, 7, 4]
