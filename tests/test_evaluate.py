"""minekit evaluate / compare: metrics against hand-computed values, BM25 and dense drivers, the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from minekit.cli import app
from minekit.errors import ConfigError
from minekit.training.evaluate import (compare_metrics, evaluate_retrieval, mrr_at_k, ndcg_at_k, parse_ks, recall_at_k,
                              relevance, score_rankings)

runner = CliRunner()

RANKING = ["a", "b", "c", "d"]
GAINS = {"b": 2.0, "d": 1.0, "e": 1.0}  # e is a positive nobody retrieved


def test_ndcg_graded_by_hand():
    # DCG@3 = 2/log2(3); ideal [2, 1, 1] -> 2/1 + 1/log2(3) + 1/2
    assert ndcg_at_k(RANKING, GAINS, 3) == pytest.approx(0.403030, abs=1e-6)
    # DCG@4 adds 1/log2(5); the ideal has only three positives
    assert ndcg_at_k(RANKING, GAINS, 4) == pytest.approx(0.540586, abs=1e-6)
    assert ndcg_at_k(RANKING, GAINS, 1) == 0.0
    assert ndcg_at_k(["b", "d", "e"], GAINS, 3) == pytest.approx(1.0)
    # graded: the better document first scores higher than the worse one first
    assert ndcg_at_k(["b", "d"], GAINS, 2) > ndcg_at_k(["d", "b"], GAINS, 2)
    assert ndcg_at_k(["x", "p"], {"p": 1.0}, 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(RANKING, {}, 10) == 0.0


def test_mrr_and_recall_by_hand():
    assert mrr_at_k(RANKING, GAINS, 1) == 0.0
    assert mrr_at_k(RANKING, GAINS, 2) == 0.5
    assert mrr_at_k(["x", "y", "d"], GAINS, 10) == pytest.approx(1 / 3)
    assert recall_at_k(RANKING, GAINS, 2) == pytest.approx(1 / 3)
    assert recall_at_k(RANKING, GAINS, 4) == pytest.approx(2 / 3)
    assert recall_at_k(RANKING, GAINS, 100) == pytest.approx(2 / 3)
    assert recall_at_k(RANKING, {"z": 0.0}, 10) == 0.0


def test_relevance_uses_scores_as_gains():
    pos = pl.DataFrame({"query_id": ["q1", "q1", "q1", "q2"], "doc_id": ["a", "b", "c", "a"], "score": [2, 1, 0, 1]})
    assert relevance(pos) == {"q1": {"a": 2.0, "b": 1.0}, "q2": {"a": 1.0}}
    assert relevance(pos.drop("score")) == {"q1": {"a": 1.0, "b": 1.0, "c": 1.0}, "q2": {"a": 1.0}}


def test_score_rankings_averages_and_counts_missing_queries_as_zero():
    qrels = {"q1": {"b": 2.0, "d": 1.0, "e": 1.0}, "q2": {"z": 1.0}}
    means, per_query = score_rankings({"q1": RANKING}, qrels, [1, 4])
    assert per_query["query_id"].to_list() == ["q1", "q2"]
    assert means["mrr@4"] == pytest.approx(0.25)  # (0.5 + 0) / 2
    assert means["ndcg@4"] == pytest.approx(0.540586 / 2, abs=1e-6)
    assert means["recall@4"] == pytest.approx(1 / 3)
    assert list(means) == ["ndcg@1", "ndcg@4", "mrr@1", "mrr@4", "recall@1", "recall@4"]


def test_parse_ks():
    assert parse_ks("100,10, 10") == [10, 100]
    for bad in ("ten", "0", ""):
        with pytest.raises(ConfigError, match="k:"):
            parse_ks(bad)


def test_bm25_evaluation_keeps_positives_in_the_ranking(tiny):
    queries, positives, corpus = tiny
    from minekit.mine.bm25 import rank_bm25

    ranked = rank_bm25(queries, corpus, top_k=5, show_progress=False)
    # q5 "why does bread dough rise": d16 matches bread, dough and rise; it is a positive and is not masked
    q5 = ranked.filter(pl.col("query_id") == "q5").sort("rank")
    assert q5["doc_id"][0] == "d16" and q5["rank"].to_list() == list(range(1, q5.height + 1))
    assert (q5["score"].diff().drop_nulls() <= 0).all()
    result = evaluate_retrieval(queries, positives, corpus, model="bm25", k="10", show_progress=False)
    per_query = dict(result.per_query.select("query_id", "mrr@10").iter_rows())
    assert per_query["q5"] == 1.0
    assert result.metrics["model"] == "bm25" and result.metrics["queries"] == 5
    firsts = {}
    for q, docs in ranked.sort("rank").group_by("query_id").agg("doc_id").iter_rows():
        pos = set(positives.filter(pl.col("query_id") == q)["doc_id"])
        firsts[q] = next((1 / r for r, d in enumerate(docs, 1) if d in pos), 0.0)
    assert result.metrics["mrr@10"] == pytest.approx(sum(firsts.values()) / 5)
    with pytest.raises(ConfigError, match="dense models"):
        evaluate_retrieval(queries, positives, corpus, model="bm25", max_seq_length=32, show_progress=False)


def test_bm25_evaluation_reads_the_index_mine_bm25_built(tiny, tmp_path, monkeypatch):
    from minekit.mine import bm25_index
    from minekit.mine.bm25 import mine_bm25

    queries, positives, corpus = tiny
    mine_bm25(queries, positives, corpus, cache_dir=tmp_path / "cache", show_progress=False)
    without = evaluate_retrieval(queries, positives, corpus, model="bm25", k="10", cache_dir=None,
                                 show_progress=False)
    monkeypatch.setattr(bm25_index, "build", lambda *a, **k: pytest.fail("the cached index was built again"))
    cached = evaluate_retrieval(queries, positives, corpus, model="bm25", k="10", cache_dir=tmp_path / "cache",
                                show_progress=False)
    assert cached.metrics == without.metrics and len(list((tmp_path / "cache" / "bm25").iterdir())) == 1


def test_dense_evaluation_is_exact_search(tiny, tiny_bi_encoder, tmp_path):
    from sentence_transformers import SentenceTransformer

    queries, positives, corpus = tiny
    model = SentenceTransformer(str(tiny_bi_encoder), device="cpu")
    result = evaluate_retrieval(queries, positives, corpus, model=model, k=(3, 20), show_progress=False)
    doc_emb = model.encode(corpus["text"].to_list(), normalize_embeddings=True)
    query_emb = model.encode(queries["text"].to_list(), normalize_embeddings=True)
    qrels = relevance(positives)
    expected = []
    for i, q in enumerate(queries["query_id"]):
        order = np.argsort(-(doc_emb @ query_emb[i]), kind="stable")
        ranking = [corpus["doc_id"][int(j)] for j in order]
        expected.append(ndcg_at_k(ranking, qrels[q], 3))
    assert result.metrics["ndcg@3"] == pytest.approx(float(np.mean(expected)), abs=1e-5)
    assert result.metrics["recall@20"] == pytest.approx(1.0)  # the whole corpus is ranked
    # through the embedding cache: a second run gives the same numbers
    cached = [evaluate_retrieval(queries, positives, corpus, model=str(tiny_bi_encoder), k=(3,),
                                 cache_dir=str(tmp_path / "cache"), show_progress=False) for _ in range(2)]
    assert cached[0].metrics == cached[1].metrics
    assert cached[0].metrics["ndcg@3"] == pytest.approx(result.metrics["ndcg@3"], abs=1e-5)
    assert any((tmp_path / "cache").iterdir())


def test_evaluate_and_compare_cli(tiny_files, tiny_bi_encoder, tmp_path):
    files = [a for name in ("queries", "positives", "corpus") for a in (f"--{name}", str(tiny_files[name]))]
    dense_json, bm25_json = tmp_path / "dense.json", tmp_path / "bm25.json"
    result = runner.invoke(app, ["-q", "evaluate", "--model", str(tiny_bi_encoder), *files,
                                 "--out", str(dense_json), "--k", "10,100"])
    assert result.exit_code == 0, result.output
    assert "ndcg@10" in result.stdout and result.stdout.strip().endswith(str(dense_json))
    metrics = json.loads(dense_json.read_text())
    assert {"model", "ndcg@10", "mrr@10", "recall@10", "recall@100", "queries"} <= set(metrics)
    assert all(not isinstance(v, (dict, list)) for v in metrics.values())  # flat
    assert metrics["queries"] == 5 and metrics["model"] == str(tiny_bi_encoder)
    assert metrics["recall@100"] == 1.0 and 0 < metrics["ndcg@10"] <= 1

    result = runner.invoke(app, ["-q", "evaluate", "--model", "bm25", *files, "--out", str(bm25_json)])
    assert result.exit_code == 0, result.output
    bm25 = json.loads(bm25_json.read_text())
    result = runner.invoke(app, ["compare", str(dense_json), str(bm25_json)])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith("ndcg@10 "))
    assert f"{bm25['ndcg@10'] - metrics['ndcg@10']:+.4f}" in row
    assert result.stdout.splitlines()[0].split() == ["metric", "dense", "bm25"]

    bad = runner.invoke(app, ["evaluate", "--model", "bm25", *files, "--k", "ten"])
    assert bad.exit_code == 2 and "k:" in bad.output
    missing = runner.invoke(app, ["compare", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "nope.json" in missing.output


def test_compare_marks_missing_metrics():
    text = compare_metrics([{"ndcg@10": 0.5, "queries": 3}, {"ndcg@10": 0.6, "mrr@10": 0.7, "queries": 3}],
                           ["a", "b"])
    lines = text.splitlines()
    assert "0.6000 (+0.1000)" in lines[1]
    assert lines[2].split()[:3] == ["mrr@10", "-", "0.7000"]
