"""Dataset building: formats, merging sources, versioning, row alignment, byte-identical reruns."""

from __future__ import annotations

import hashlib
import json

import polars as pl
import pytest
from typer.testing import CliRunner

from minekit.dataset.build import build_dataset
from minekit.dataset.store import dataset_root
from minekit.cli import app
from minekit.errors import ConfigError
from minekit.mine.bm25 import mine_bm25, mine_passage_bm25

runner = CliRunner()


def _cands(tiny):
    queries, positives, corpus = tiny
    return [mine_bm25(queries, positives, corpus, top_k=4, show_progress=False).frame,
            mine_passage_bm25(queries, positives, corpus, top_k=4, show_progress=False).frame]


def test_triplets_one_row_per_negative_aligned_with_ids(tiny):
    queries, positives, corpus = tiny
    result = build_dataset(_cands(tiny), queries, positives, corpus, num_negatives=2, fill="none",
                           relative_margin=None, format="triplet")
    train, ids = result.train, result.ids
    assert train.columns == ["anchor", "positive", "negative"]
    assert ids.columns == ["query_id", "positive_id", "negative_ids", "negative_sources", "negative_ranks",
                           "positive_score_bm25", "negative_scores_bm25",
                           "positive_score_passage_bm25", "negative_scores_passage_bm25"]
    assert result.score_columns["negative_scores_bm25"] == "bm25 (bm25)"
    # q4 (marathon) has a single candidate in the whole corpus: its row is dropped and counted
    assert result.stats["positives_lost"] == 1
    assert train.height == ids.height == 2 * (positives.height - 1)
    query_text = dict(queries.iter_rows())
    doc_text = dict(corpus.select("doc_id", "text").iter_rows())
    for row, id_row in zip(train.iter_rows(named=True), ids.iter_rows(named=True)):
        assert row["anchor"] == query_text[id_row["query_id"]]
        assert row["positive"] == doc_text[id_row["positive_id"]]
        assert row["negative"] == doc_text[id_row["negative_ids"][0]]
        assert id_row["negative_ids"][0] not in set(
            positives.filter(pl.col("query_id") == id_row["query_id"])["doc_id"])


def test_merged_sources_are_kept_once_with_both_names(tiny):
    queries, positives, corpus = tiny
    result = build_dataset(_cands(tiny), queries, positives, corpus, num_negatives=3, format="n-tuple",
                           fill="random")
    assert result.train.columns == ["anchor", "positive", "negative_1", "negative_2", "negative_3"]
    assert result.train.height == positives.height
    sources = {s for row in result.ids["negative_sources"] for s in row}
    assert "bm25+passage-bm25" in sources
    for negs in result.ids["negative_ids"]:
        assert len(negs) == len(set(negs)) == 3


def test_too_few_negatives_dropped_and_counted_or_filled(tiny):
    queries, positives, corpus = tiny
    cands = [mine_bm25(queries, positives, corpus, top_k=1, show_progress=False).frame]
    dropped = build_dataset(cands, queries, positives, corpus, num_negatives=3, fill="none")
    assert dropped.train.height == 0
    assert dropped.stats["positives_lost"] == dropped.stats["rows_without_enough_negatives"] == positives.height
    filled = build_dataset(cands, queries, positives, corpus, num_negatives=3, fill="random", seed=1, relative_margin=None,
                           format="n-tuple")
    assert filled.stats["positives_lost"] == 0 and filled.stats["rows_filled"] == positives.height
    assert filled.ids.height == positives.height
    sources = filled.ids["negative_sources"].to_list()
    assert all(s[0] == "bm25" and s[1:] == ["random", "random"] for s in sources)  # mined first, then fill
    for qid, negs in filled.ids.select("query_id", "negative_ids").iter_rows():
        assert not set(negs) & set(positives.filter(pl.col("query_id") == qid)["doc_id"])


def test_random_sampling_is_seeded(tiny):
    queries, positives, corpus = tiny
    cands = _cands(tiny)
    a = build_dataset(cands, queries, positives, corpus, num_negatives=2, sampling_strategy="random", seed=3)
    b = build_dataset(cands, queries, positives, corpus, num_negatives=2, sampling_strategy="random", seed=3)
    c = build_dataset(cands, queries, positives, corpus, num_negatives=2, sampling_strategy="random", seed=4)
    assert a.ids.equals(b.ids)
    assert not a.ids.equals(c.ids)


def test_labeled_pairs(tiny):
    queries, positives, corpus = tiny
    result = build_dataset(_cands(tiny), queries, positives, corpus, num_negatives=1, format="labeled-pair")
    assert result.train.columns == ["anchor", "document", "label"]
    labels = result.ids.group_by("label").len().sort("label")["len"].to_list()
    assert labels[1] == positives.height
    assert result.ids.select(pl.struct("query_id", "doc_id").is_duplicated().any()).item() is False


@pytest.mark.parametrize("kwargs", [{"num_negatives": 0}, {"format": "quad"}, {"sampling_strategy": "best"},
                                    {"fill": "zeros"}])
def test_bad_params(tiny, kwargs):
    queries, positives, corpus = tiny
    with pytest.raises(ConfigError):
        build_dataset(_cands(tiny), queries, positives, corpus, **kwargs)


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", "/abs", ""])
def test_names_cannot_escape_the_out_dir(tmp_path, name):
    with pytest.raises(ConfigError, match="name"):
        dataset_root(tmp_path, name)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_versions_reuse_bump_never_overwrite_and_byte_identical(tiny_files, tmp_path):
    inputs = ["--queries", str(tiny_files["queries"]), "--positives", str(tiny_files["positives"]),
              "--corpus", str(tiny_files["corpus"])]
    cands = tmp_path / "bm25.parquet"
    result = runner.invoke(app, ["mine", "bm25", *inputs, "--out", str(cands), "--top-k", "5"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "datasets"
    build = ["build", "--candidates", str(cands), *inputs, "--name", "demo", "--out-dir", str(out),
             "--num-negatives", "2", "--sampling-strategy", "random", "--seed", "7"]
    first = runner.invoke(app, build)
    assert first.exit_code == 0, first.output
    v1 = out / "demo" / "v1"
    assert first.stdout.strip().endswith(str(v1))
    assert sorted(p.name for p in v1.iterdir()) == ["README.md", "ids.parquet", "manifest.json", "train.parquet"]
    before = {p.name: _sha(p) for p in v1.iterdir()}

    again = runner.invoke(app, build)
    assert again.exit_code == 0 and again.stdout.strip().endswith(str(v1))
    assert not (out / "demo" / "v2").exists()

    changed = runner.invoke(app, build[:-1] + ["8"])
    assert changed.exit_code == 0 and changed.stdout.strip().endswith(str(out / "demo" / "v2"))
    assert {p.name: _sha(p) for p in v1.iterdir()} == before  # v1 untouched

    # Same inputs and seed in another folder: byte-identical train.parquet and ids.parquet.
    other = runner.invoke(app, build[:build.index("--out-dir") + 1] + [str(tmp_path / "other")] +
                          build[build.index("--out-dir") + 2:])
    assert other.exit_code == 0, other.output
    twin = tmp_path / "other" / "demo" / "v1"
    assert _sha(twin / "train.parquet") == before["train.parquet"]
    assert _sha(twin / "ids.parquet") == before["ids.parquet"]

    manifest = json.loads((v1 / "manifest.json").read_text())
    assert [s["stage"] for s in manifest["steps"]] == ["mine.bm25", "build"]
    assert manifest["steps"][-1]["params"]["seed"] == 7
    assert set(manifest["steps"][-1]["inputs"]) == {"queries", "positives", "corpus", "candidates[0]"}
    assert manifest["files"]["train.parquet"]["rows"] == manifest["steps"][-1]["stats"]["rows_out"]
    assert "demo v1" in (v1 / "README.md").read_text()

    info = runner.invoke(app, ["info", str(v1 / "train.parquet")])
    assert info.exit_code == 0 and json.loads(info.stdout)["fingerprint"] == manifest["fingerprint"]


def test_cli_build_rejects_candidates_from_another_corpus(tiny_files, tmp_path):
    bad = pl.DataFrame({"query_id": ["q1"], "doc_id": ["elsewhere"], "source": ["bm25"],
                        "rank": pl.Series([1], dtype=pl.Int32), "score": pl.Series([1.0], dtype=pl.Float32),
                        "positive_score": pl.Series([2.0], dtype=pl.Float32)})
    bad.write_parquet(tmp_path / "bad.parquet")
    result = runner.invoke(app, ["build", "--candidates", str(tmp_path / "bad.parquet"),
                                 "--queries", str(tiny_files["queries"]), "--positives", str(tiny_files["positives"]),
                                 "--corpus", str(tiny_files["corpus"]), "--name", "x", "--out-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "bad.parquet: column 'doc_id': 1 row(s) name a document not in the corpus" in result.output
    assert not (tmp_path / "x" / "v1").exists()


def test_a_copy_of_a_positive_is_never_a_negative(tiny):
    queries, positives, corpus = tiny
    # d21 repeats the text of q2's positive d06 under another id (real corpora have such duplicates)
    copy = pl.DataFrame({"doc_id": ["d21"], "title": [""], "text": [corpus.filter(pl.col("doc_id") == "d06")["text"]
                                                                     .item()]})
    corpus = pl.concat([corpus, copy])
    cands = [mine_bm25(queries, positives, corpus, top_k=5, show_progress=False).frame]
    assert "d21" in cands[0].filter(pl.col("query_id") == "q2")["doc_id"].to_list()
    result = build_dataset(cands, queries, positives, corpus, num_negatives=1, format="n-tuple")
    assert "d21" not in {d for negs in result.ids["negative_ids"] for d in negs}
    assert result.stats["dropped"] == {"same_text_as_positive": 1}


def test_default_relative_margin_is_judged_against_each_rows_own_positive():
    # q1 has two positives; one candidate scores between them under the one miner: it is a negative for
    # the row of the stronger positive only (TopK-PercPos: below 95% of that row's positive)
    cands = pl.DataFrame({
        "query_id": ["q1", "q1"], "doc_id": ["d02", "d03"], "source": ["dense", "dense"],
        "rank": pl.Series([1, 2], dtype=pl.Int32), "score": pl.Series([0.7, 0.2], dtype=pl.Float32),
        "score_kind": ["cosine", "cosine"], "positive_score": pl.Series([0.5, 0.5], dtype=pl.Float32),
        "positive_ids": [["d01", "d04"]] * 2,
        "positive_scores": pl.Series([[0.9, 0.5]] * 2, dtype=pl.List(pl.Float32))})
    queries = pl.DataFrame({"query_id": ["q1"], "text": ["solar"]})
    positives = pl.DataFrame({"query_id": ["q1", "q1"], "doc_id": ["d01", "d04"], "score": [1.0, 1.0]})
    corpus = pl.DataFrame({"doc_id": [f"d0{i}" for i in range(1, 5)], "title": [""] * 4,
                           "text": ["a", "b", "c", "d"]})
    result = build_dataset([cands], queries, positives, corpus, num_negatives=1)
    picked = dict(zip(result.ids["positive_id"], result.ids["negative_ids"].list.first()))
    assert picked == {"d01": "d02", "d04": "d03"}  # 0.7 <= 0.9 - 0.045; 0.7 > 0.5 - 0.025
    assert result.stats["negatives_excluded_by_relative_margin"] == 1
    off = build_dataset([cands], queries, positives, corpus, num_negatives=1, relative_margin=None)
    assert off.ids["negative_ids"].list.first().to_list() == ["d02", "d02"]


@pytest.mark.parametrize("recipe", [
    dict(),
    dict(format="triplet", fill="none", sampling_strategy="random", num_negatives=2),
    dict(format="labeled-pair", sampling_strategy="simans", num_negatives=3),
    dict(sampling_strategy="trisampler", num_negatives=2, source_shares={"bm25": 1, "dense": 1}),
])
def test_a_build_by_query_chunks_writes_the_same_rows_and_counts(tiny, tiny_bi_encoder, recipe):
    from minekit.mine.dense import mine_dense

    queries, positives, corpus = tiny
    extra = positives.head(1).with_columns(pl.lit("q2").alias("query_id"), pl.lit("d07").alias("doc_id"))
    positives = pl.concat([positives, extra])  # q2 has two positives
    cands = [mine_bm25(queries, positives, corpus, top_k=5, show_progress=False).frame,
             mine_dense(queries, positives, corpus, model=str(tiny_bi_encoder), top_k=5, show_progress=False).frame]
    whole = build_dataset(cands, queries, positives, corpus, seed=3, chunk_queries=0, **recipe)
    for size in (1, 2):  # a chunk of one query, and chunks that split the queries unevenly
        chunked = build_dataset(cands, queries, positives, corpus, seed=3, chunk_queries=size, **recipe)
        assert chunked.train.equals(whole.train) and chunked.ids.equals(whole.ids)
        assert chunked.stats == whole.stats
        assert json.dumps(chunked.stats) == json.dumps(whole.stats)  # same keys in the same order (manifest bytes)
    assert whole.train.height > 0
