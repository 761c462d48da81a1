"""Build's sampling strategies beyond top/random/simans: TriSampler's triangle and per-miner shares."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from minekit.dataset.build import build_dataset
from minekit.dataset.sampling import quotas
from minekit.cli import app
from minekit.encode.embed import encode
from minekit.errors import ConfigError
from minekit.mine.dense import mine_dense

runner = CliRunner()

QUERIES = pl.DataFrame({"query_id": ["q1"], "text": ["solar panels"]})
POSITIVES = pl.DataFrame({"query_id": ["q1"], "doc_id": ["d01"], "score": [1.0]})
CORPUS = pl.DataFrame({"doc_id": [f"d0{i}" for i in range(1, 8)], "title": [""] * 7,
                       "text": ["pos", "a", "b", "c", "d", "e", "f"]})


def _dense(docs, scores, sims, positive=0.8):
    """Dense candidates of q1 (positive d01 at cosine `positive`), with candidate-positive cosines."""
    n = len(docs)
    return pl.DataFrame({
        "query_id": ["q1"] * n, "doc_id": docs, "source": ["dense"] * n,
        "rank": pl.Series(range(1, n + 1), dtype=pl.Int32), "score": pl.Series(scores, dtype=pl.Float32),
        "score_kind": ["cosine"] * n, "positive_score": pl.Series([positive] * n, dtype=pl.Float32),
        "positive_ids": [["d01"]] * n, "positive_scores": pl.Series([[positive]] * n, dtype=pl.List(pl.Float32)),
        "positive_similarities": pl.Series([[s] for s in sims], dtype=pl.List(pl.Float32))})


# d02: inside (angle 8.7 deg, closer to the positive than to the query: weight 0.2)
# d03: closer to the query than to the positive (weight 0); d04: angle 83 deg, outside 60
# d05: inside, weight 0.1
TRIANGLE = _dense(["d02", "d03", "d04", "d05"], [0.7, 0.6, -0.5, 0.65], [0.9, 0.5, 0.9, 0.75])


def test_trisampler_draws_inside_the_triangle_by_weight():
    drawn = [build_dataset([TRIANGLE], QUERIES, POSITIVES, CORPUS, num_negatives=1, relative_margin=None,
                           sampling_strategy="trisampler", seed=seed).ids["negative_ids"][0][0]
             for seed in range(60)]
    assert set(drawn) == {"d02", "d05"}
    assert 0.5 < drawn.count("d02") / len(drawn) < 0.85  # weights 0.2 : 0.1


def test_trisampler_tops_up_a_short_triangle_best_rank_first_and_counts_it():
    result = build_dataset([TRIANGLE], QUERIES, POSITIVES, CORPUS, num_negatives=3, relative_margin=None,
                           sampling_strategy="trisampler", fill="none", format="n-tuple")
    assert result.ids["negative_ids"].to_list() == [["d02", "d03", "d05"]]
    assert result.stats["negatives_outside_triangle"] == 1
    narrow = build_dataset([TRIANGLE], QUERIES, POSITIVES, CORPUS, num_negatives=1, relative_margin=None,
                           sampling_strategy="trisampler", trisampler_angle=5.0)
    assert narrow.ids["negative_ids"].to_list() == [["d02"]]  # nothing inside 5 deg: the best rank
    assert narrow.stats["negatives_outside_triangle"] == 1


def test_trisampler_counts_what_it_takes_from_outside_when_the_pool_is_short():
    # four candidates for four negatives: all are taken, and the two outside the triangle (d03, d04) are counted
    result = build_dataset([TRIANGLE], QUERIES, POSITIVES, CORPUS, num_negatives=4, relative_margin=None,
                           sampling_strategy="trisampler", fill="none", format="n-tuple")
    assert result.ids["negative_ids"].to_list() == [["d02", "d03", "d04", "d05"]]
    assert result.stats["negatives_outside_triangle"] == 2
    padded = build_dataset([TRIANGLE], QUERIES, POSITIVES, CORPUS, num_negatives=5, relative_margin=None,
                           sampling_strategy="trisampler", fill="random", format="n-tuple")
    assert padded.stats["negatives_outside_triangle"] == 2 and padded.stats["negatives_filled"] == 1


def test_trisampler_needs_dense_candidates():
    bm25 = TRIANGLE.drop("positive_similarities").with_columns(pl.lit("bm25").alias("source"),
                                                               pl.lit("bm25").alias("score_kind"))
    with pytest.raises(ConfigError, match="trisampler needs candidates from `minekit mine dense`"):
        build_dataset([bm25], QUERIES, POSITIVES, CORPUS, sampling_strategy="trisampler")
    with pytest.raises(ConfigError, match=r"trisampler_angle: must be in \(0, 180\]"):
        build_dataset([TRIANGLE], QUERIES, POSITIVES, CORPUS, sampling_strategy="trisampler", trisampler_angle=0)


def test_mine_dense_writes_candidate_positive_cosines_aligned_with_positive_ids(tiny, tiny_bi_encoder):
    queries, positives, corpus = tiny
    frame = mine_dense(queries, positives, corpus, model=str(tiny_bi_encoder), top_k=3, show_progress=False).frame
    corpus = corpus.sort("doc_id")
    emb = dict(zip(corpus["doc_id"], encode(corpus["text"].to_list(), str(tiny_bi_encoder), show_progress=False)))
    for doc, pos_ids, sims in frame.select("doc_id", "positive_ids", "positive_similarities").iter_rows():
        assert len(sims) == len(pos_ids) >= 1
        np.testing.assert_allclose(sims, [float(emb[doc] @ emb[p]) for p in pos_ids], atol=1e-5)


def _two_miners():
    bm25 = TRIANGLE.drop("positive_similarities").with_columns(
        pl.Series("doc_id", ["d04", "d05", "d06", "d07"]), pl.lit("bm25").alias("source"),
        pl.lit("bm25").alias("score_kind"), pl.Series("score", [9.0, 8.0, 7.0, 6.0], dtype=pl.Float32),
        pl.lit(10.0, pl.Float32).alias("positive_score"),
        pl.Series("positive_scores", [[10.0]] * 4, dtype=pl.List(pl.Float32)))
    return bm25, TRIANGLE


def test_source_shares_split_each_rows_negatives_between_miners():
    bm25, dense = _two_miners()
    result = build_dataset([bm25, dense], QUERIES, POSITIVES, CORPUS, num_negatives=3, relative_margin=None,
                           source_shares={"bm25": 2, "dense": 1}, fill="none", format="n-tuple")
    # top: dense's best (d02), bm25's two best; d04 and d05 were found by both miners and count for bm25
    assert result.ids["negative_ids"].to_list() == [["d02", "d04", "d05"]]
    assert result.stats["negatives_short_of_share"] == 0
    cli_form = build_dataset([bm25, dense], QUERIES, POSITIVES, CORPUS, num_negatives=3, relative_margin=None,
                             source_shares="bm25=0,dense=1", fill="none", format="n-tuple")
    assert cli_form.ids["negative_ids"].to_list() == [["d02", "d04", "d03"]]  # pool order: best rank


def test_a_miner_short_of_its_share_leaves_the_rest_to_the_others():
    bm25, dense = _two_miners()
    result = build_dataset([bm25.head(1), dense.head(2)], QUERIES, POSITIVES, CORPUS, num_negatives=3,
                           relative_margin=None, source_shares={"bm25": 2, "dense": 1}, fill="none", format="n-tuple")
    assert sorted(result.ids["negative_ids"][0]) == ["d02", "d03", "d04"]
    assert result.stats["negatives_short_of_share"] == 1


def test_quotas_use_largest_remainders():
    assert quotas({"bm25": 1, "dense": 2}, 3) == {"bm25": 1, "dense": 2}
    assert quotas({"bm25": 1, "dense": 1}, 3) == {"bm25": 2, "dense": 1}
    assert quotas({"bm25": 1, "dense": 3}, 7) == {"bm25": 2, "dense": 5}


@pytest.mark.parametrize("shares, message", [
    ("bm25:1", "is not SOURCE=SHARE"), ("bm25=x", "is not SOURCE=SHARE"), ({"bm25": -1}, "must be a number >= 0"),
    ({"bm25": 0}, "at least one share must be above 0"), ({"splade": 1}, "no candidates come from 'splade'"),
])
def test_bad_source_shares_are_refused(shares, message):
    bm25, dense = _two_miners()
    with pytest.raises(ConfigError, match=message):
        build_dataset([bm25, dense], QUERIES, POSITIVES, CORPUS, source_shares=shares)


def test_cli_source_shares_and_trisampler(tmp_path):
    paths = {}
    bm25, dense = _two_miners()
    for name, frame in (("queries", QUERIES), ("positives", POSITIVES), ("corpus", CORPUS), ("bm25", bm25),
                        ("dense", dense)):
        paths[name] = tmp_path / f"{name}.parquet"
        frame.write_parquet(paths[name])
    common = ["build", "--candidates", str(paths["bm25"]), "--candidates", str(paths["dense"]), "--queries",
              str(paths["queries"]), "--positives", str(paths["positives"]), "--corpus", str(paths["corpus"]),
              "--out-dir", str(tmp_path / "ds"), "--relative-margin", "none", "--fill", "none"]
    ok = runner.invoke(app, [*common, "--name", "mix", "--source-shares", "bm25=2,dense=1", "--num-negatives", "3"])
    assert ok.exit_code == 0, ok.output
    ids = pl.read_parquet(tmp_path / "ds" / "mix" / "v1" / "ids.parquet")
    assert len(ids) == 1 and sorted(ids["negative_ids"][0]) == ["d02", "d04", "d05"]
    tri = runner.invoke(app, [*common, "--name", "tri", "--sampling-strategy", "trisampler", "--num-negatives", "1"])
    assert tri.exit_code == 0, tri.output
    bad = runner.invoke(app, [*common, "--name", "bad", "--source-shares", "bm25"])
    assert bad.exit_code == 2 and "--source-shares: 'bm25'" in bad.output and "bm25=1,dense=2" in bad.output
    assert not (tmp_path / "ds" / "bad").exists()
