"""Cluster mining (diverse, reproducible) and random mining (seeded, per query)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from minekit.cli import app
from minekit.encode.embed import encode
from minekit.errors import ConfigError
from minekit.mine.cluster import assign, mine_cluster
from minekit.mine.random import mine_random

runner = CliRunner()


def _labels(result, corpus, model):
    corpus = corpus.sort("doc_id")
    docs = encode(corpus["text"].to_list(), model, show_progress=False)
    return dict(zip(corpus["doc_id"].to_list(), assign(docs, result.centroids).tolist()))


def test_cluster_spreads_candidates_and_ranks_by_cosine(tiny, tiny_bi_encoder):
    model = str(tiny_bi_encoder)
    result = mine_cluster(*tiny, model=model, top_k=6, n_clusters=4, clusters_per_query=3, seed=0,
                          show_progress=False)
    frame = result.frame
    assert result.centroids.shape == (4, 32)
    labels = _labels(result, tiny[2], model)
    for (qid,), g in frame.group_by("query_id"):
        g = g.sort("rank")
        assert g.height == 6
        assert len({labels[d] for d in g["doc_id"]}) >= 2, qid  # several clusters per query
        scores = g["score"].to_list()
        assert scores == sorted(scores, reverse=True)
    assert frame.join(tiny[1], on=["query_id", "doc_id"]).height == 0
    assert result.stats["mean_clusters_per_query"] >= 2
    # score is the query's cosine, as for dense
    q = encode([tiny[0]["text"][0]], model, show_progress=False)[0]
    d = encode([dict(zip(tiny[2]["doc_id"], tiny[2]["text"]))[frame["doc_id"][0]]], model, show_progress=False)[0]
    assert frame["score"][0] == pytest.approx(float(q @ d), abs=1e-5)


def test_cluster_is_reproducible(tiny, tiny_bi_encoder):
    kwargs = dict(model=str(tiny_bi_encoder), top_k=5, n_clusters=3, seed=7, show_progress=False)
    a = mine_cluster(*tiny, **kwargs)
    b = mine_cluster(*tiny, **kwargs)
    assert a.frame.equals(b.frame)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    kwargs.pop("n_clusters")
    c = mine_cluster(*tiny, centroids=a.centroids, **{**kwargs, "seed": 99})  # given centroids: no k-means
    assert a.frame.equals(c.frame)
    with pytest.raises(ConfigError, match="n_clusters"):
        mine_cluster(*tiny, centroids=a.centroids, n_clusters=5, **kwargs)


def test_random_is_seeded_and_per_query(tiny):
    queries, positives, corpus = tiny
    a = mine_random(*tiny, top_k=8, seed=1, show_progress=False).frame
    b = mine_random(*tiny, top_k=8, seed=1, show_progress=False).frame
    c = mine_random(*tiny, top_k=8, seed=2, show_progress=False).frame
    assert a.equals(b) and not a.equals(c)
    assert a.height == 40 and a["source"].unique().to_list() == ["random"]
    assert a.join(positives, on=["query_id", "doc_id"]).height == 0
    assert a.filter(pl.col("query_id") == "q1")["rank"].to_list() == list(range(1, 9))
    assert a["positive_score"].null_count() == 40 and a["score"].to_list() == [0.0] * 40
    # a query's draw does not depend on the other queries
    alone = mine_random(queries.filter(pl.col("query_id") == "q3"), positives.filter(pl.col("query_id") == "q3"),
                        corpus, top_k=8, seed=1, show_progress=False).frame
    assert alone["doc_id"].to_list() == a.filter(pl.col("query_id") == "q3")["doc_id"].to_list()
    # asking for more than exists gives every non-positive, once
    full = mine_random(*tiny, top_k=100, seed=1, show_progress=False).frame
    assert dict(full.group_by("query_id").len().iter_rows()) == {"q1": 18, "q2": 19, "q3": 19, "q4": 19, "q5": 19}


def test_cli_cluster_saves_centroids_and_reuses_them(tiny_files, tiny_bi_encoder, tmp_path):
    f = tiny_files
    base = ["mine", "cluster", "--queries", str(f["queries"]), "--positives", str(f["positives"]), "--corpus",
            str(f["corpus"]), "--model", str(tiny_bi_encoder), "--top-k", "4", "--n-clusters", "3",
            "--cache-dir", str(tmp_path / "cache")]
    out = tmp_path / "cluster.parquet"
    result = runner.invoke(app, ["-q", *base, "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = tmp_path / "cluster.parquet.centroids.npy"
    assert np.load(saved).shape == (3, 32)
    again = tmp_path / "again.parquet"
    args = [a for a in base if a not in ("--n-clusters", "3")]
    result = runner.invoke(app, ["-q", *args, "--out", str(again), "--centroids", str(saved)])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out).equals(pl.read_parquet(again))
    result = runner.invoke(app, [*args, "--out", str(again), "--centroids", str(tmp_path / "missing.npy")])
    assert result.exit_code == 2 and "centroids" in result.output


def test_cli_random_feeds_build(tiny_files, tmp_path):
    f = tiny_files
    out = tmp_path / "random.parquet"
    result = runner.invoke(app, ["-q", "mine", "random", "--queries", str(f["queries"]), "--positives",
                                 str(f["positives"]), "--corpus", str(f["corpus"]), "--out", str(out),
                                 "--top-k", "3", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out).height == 15
    result = runner.invoke(app, ["-q", "build", "--candidates", str(out), "--queries", str(f["queries"]),
                                 "--positives", str(f["positives"]), "--corpus", str(f["corpus"]), "--name", "r",
                                 "--out-dir", str(tmp_path / "ds"), "--num-negatives", "3", "--format", "n-tuple"])
    assert result.exit_code == 0, result.output
    train = pl.read_parquet(tmp_path / "ds" / "r" / "v1" / "train.parquet")
    assert train.height == 6 and train.columns[-1] == "negative_3"
