"""Dense mining: exact ranks against brute force, masking, blocking, ANN recall, cache reuse, CLI end to end."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from minekit.cli import app
from minekit.encode.embed import encode
from minekit.errors import ConfigError
from minekit.mine.dense import block_top_k, build_index, mine_dense, search_ann, search_flat, _resolve_index
from minekit.mine.topk import top_k_exact

runner = CliRunner()


def _brute_force(tiny, model, *, passages_as_queries=False):
    """{query_id: [(doc_id, score), ...]} sorted by score desc then doc_id, positives removed."""
    queries, positives, corpus = tiny
    corpus = corpus.sort("doc_id")
    doc_ids = corpus["doc_id"].to_list()
    docs = encode(corpus["text"].to_list(), model, show_progress=False)
    out, pos_score = {}, {}
    for qid, text in zip(queries["query_id"], queries["text"]):
        pos = positives.filter(pl.col("query_id") == qid)["doc_id"].to_list()
        idx = [doc_ids.index(d) for d in pos]
        if passages_as_queries:
            scores = (docs[idx] @ docs.T).max(axis=0)
            pos_score[qid] = float((docs[idx] * docs[idx]).sum(axis=1).min())
        else:
            q = encode([text], model, show_progress=False)[0]
            scores = docs @ q
            pos_score[qid] = float(scores[idx].min())
        ranked = sorted(((d, float(s)) for d, s in zip(doc_ids, scores) if d not in pos), key=lambda x: (-x[1], x[0]))
        out[qid] = ranked
    return out, pos_score


def _as_lists(frame):
    return {q: list(zip(g.sort("rank")["doc_id"].to_list(), g.sort("rank")["score"].to_list()))
            for (q,), g in frame.group_by("query_id")}


@pytest.mark.parametrize("passages", [False, True])
def test_flat_matches_brute_force(tiny, tiny_bi_encoder, passages):
    expected, pos_score = _brute_force(tiny, str(tiny_bi_encoder), passages_as_queries=passages)
    result = mine_dense(*tiny, model=str(tiny_bi_encoder), top_k=7, show_progress=False,
                        query_from="positive" if passages else "query")
    frame = result.frame
    assert frame["source"].unique().to_list() == ["passage-dense" if passages else "dense"]
    got = _as_lists(frame)
    assert set(got) == set(expected)
    for qid, ranked in got.items():
        assert [d for d, _ in ranked] == [d for d, _ in expected[qid][:7]], qid
        np.testing.assert_allclose([s for _, s in ranked], [s for _, s in expected[qid][:7]], atol=1e-5)
        g = frame.filter(pl.col("query_id") == qid)
        assert g["rank"].to_list() == list(range(1, 8))
        assert g["positive_score"].to_list() == pytest.approx([pos_score[qid]] * 7, abs=1e-5)
    # positives never appear
    positives = tiny[1]
    assert frame.join(positives, on=["query_id", "doc_id"]).height == 0
    assert result.stats["rows_out"] == 35 and result.stats["queries_without_candidates"] == 0


def test_top_k_beyond_corpus_returns_every_non_positive(tiny, tiny_bi_encoder):
    frame = mine_dense(*tiny, model=str(tiny_bi_encoder), top_k=1000, show_progress=False).frame
    counts = dict(frame.group_by("query_id").len().iter_rows())
    assert counts == {"q1": 18, "q2": 19, "q3": 19, "q4": 19, "q5": 19}


def test_block_top_k_breaks_ties_by_position():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(30, 50)).astype(np.float32)  # many ties
    scores[3, :] = 1.0
    scores[5, [2, 7]] = -np.inf
    for row, (s, d) in zip(scores, block_top_k(scores.copy(), 10)):
        es, ed = top_k_exact(row[np.isfinite(row)], np.flatnonzero(np.isfinite(row)), 10)
        np.testing.assert_array_equal(d, ed)
        np.testing.assert_array_equal(s, es)
    s, d = list(block_top_k(scores.copy(), 10))[3]
    assert d.tolist() == list(range(10))


def test_blocked_search_equals_one_block(monkeypatch):
    rng = np.random.default_rng(1)
    docs = rng.normal(size=(300, 16)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    rows = docs[rng.integers(0, 300, 40)] + 0.1
    groups = np.repeat(np.arange(20), 2)  # two rows per group: max merge across a block boundary
    positives = [np.array([g, g + 100]) for g in range(20)]
    whole = search_flat(rows, groups, docs, positives, top_k=15, show_progress=False)
    from minekit.mine import exact

    monkeypatch.setattr(exact, "SCORE_BLOCK", 300 * 3)  # 3 rows per block (exact search reads it)
    blocked = search_flat(rows, groups, docs, positives, top_k=15, show_progress=False)
    ids = pl.Series([f"d{i:03d}" for i in range(300)])
    a = whole.to_frame([str(g) for g in range(20)], ids, source="dense")
    b = blocked.to_frame([str(g) for g in range(20)], ids, source="dense")
    assert a.height == 300
    assert a.drop("score").equals(b.drop("score"))  # BLAS block shapes move scores by an ulp, never ranks
    np.testing.assert_allclose(a["score"].to_numpy(), b["score"].to_numpy(), atol=1e-6)
    brute = np.maximum(docs @ rows[0], docs @ rows[1])
    brute[[0, 100]] = -np.inf
    assert a.filter(pl.col("query_id") == "0")["doc_id"].to_list() == \
        [f"d{i:03d}" for i in np.lexsort((np.arange(300), -brute))[:15]]


@pytest.mark.parametrize("index", ["ivf", "hnsw"])
def test_ann_recall_against_flat(index):
    rng = np.random.default_rng(2)
    centers = rng.normal(size=(40, 32))
    docs = (centers[rng.integers(0, 40, 4000)] + 0.6 * rng.normal(size=(4000, 32))).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = docs[rng.integers(0, 4000, 200)] + 0.3 * rng.normal(size=(200, 32)).astype(np.float32)
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    groups = np.arange(200)
    positives = [np.array([i]) for i in rng.integers(0, 4000, 200)]
    exact = search_flat(queries, groups, docs, positives, top_k=10, show_progress=False)
    knobs = _resolve_index(index, 4000, 10, nlist=None, nprobe=None, hnsw_m=None, ef_search=None)
    approx = search_ann(build_index(docs, index, knobs), queries, groups, positives, top_k=10, show_progress=False)
    recall = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(exact._docs, approx._docs)])
    assert recall >= 0.95, recall
    assert not any(np.isin(d, p).any() for d, p in zip(approx._docs, positives))


def test_index_knobs_are_checked():
    assert _resolve_index("ivf", 10_000, 10, nlist=None, nprobe=None, hnsw_m=None, ef_search=None) == \
        {"nlist": 256, "nprobe": 32}
    with pytest.raises(ConfigError, match="nlist.*only apply to index 'ivf'"):
        _resolve_index("flat", 100, 10, nlist=4, nprobe=None, hnsw_m=None, ef_search=None)
    with pytest.raises(ConfigError, match="nprobe"):
        _resolve_index("ivf", 1000, 10, nlist=4, nprobe=5, hnsw_m=None, ef_search=None)
    with pytest.raises(ConfigError, match="index"):
        _resolve_index("lsh", 100, 10, nlist=None, nprobe=None, hnsw_m=None, ef_search=None)


def test_second_run_reuses_cache(tiny, tiny_bi_encoder, tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformer

    calls = []
    original = SentenceTransformer.encode
    monkeypatch.setattr(SentenceTransformer, "encode", lambda self, x, *a, **k: calls.append(len(x)) or original(
        self, x, *a, **k))
    first = mine_dense(*tiny, model=str(tiny_bi_encoder), top_k=5, cache_dir=tmp_path, show_progress=False)
    assert sum(calls) == 25 and first.stats["texts_encoded"] == 25
    calls.clear()
    second = mine_dense(*tiny, model=str(tiny_bi_encoder), top_k=5, cache_dir=tmp_path, show_progress=False)
    assert calls == [] and second.stats["texts_from_cache"] == 25
    assert first.frame.equals(second.frame)
    # passage queries come from the corpus embeddings: nothing new to encode
    mine_dense(*tiny, model=str(tiny_bi_encoder), top_k=5, cache_dir=tmp_path, query_from="positive",
               show_progress=False)
    assert calls == []


def test_query_prompt_with_passage_queries_is_refused(tiny, tiny_bi_encoder):
    with pytest.raises(ConfigError, match="query_prompt"):
        mine_dense(*tiny, model=str(tiny_bi_encoder), query_from="positive", query_prompt="q: ", show_progress=False)


def test_cli_dense_then_filter_and_build(tiny_files, tiny_bi_encoder, tmp_path):
    f = tiny_files
    out = tmp_path / "dense.parquet"
    args = ["mine", "dense", "--queries", str(f["queries"]), "--positives", str(f["positives"]), "--corpus",
            str(f["corpus"]), "--out", str(out), "--model", str(tiny_bi_encoder), "--top-k", "5",
            "--cache-dir", str(tmp_path / "cache")]
    result = runner.invoke(app, ["-q", *args])
    assert result.exit_code == 0, result.output
    frame = pl.read_parquet(out)
    assert frame.height == 25 and frame["source"].unique().to_list() == ["dense"]
    from minekit.io import read_manifest

    manifest = read_manifest(out)
    assert manifest["stage"] == "mine.dense" and manifest["steps"][-1]["params"]["index"] == "flat"
    filtered = tmp_path / "filtered.parquet"
    result = runner.invoke(app, ["-q", "filter", "--candidates", str(out), "--out", str(filtered),
                                 "--range-min", "1", "--relative-margin", "0.05"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["-q", "build", "--candidates", str(filtered), "--queries", str(f["queries"]),
                                 "--positives", str(f["positives"]), "--corpus", str(f["corpus"]), "--name", "d",
                                 "--out-dir", str(tmp_path / "datasets"), "--fill", "random", "--num-negatives", "1"])
    assert result.exit_code == 0, result.output
    train = pl.read_parquet(tmp_path / "datasets" / "d" / "v1" / "train.parquet")
    assert train.columns == ["anchor", "positive", "negative_1"] and train.height == 6


def test_cli_dense_conflicting_flags_exit_2(tiny_files, tmp_path):
    f = tiny_files
    result = runner.invoke(app, ["mine", "dense", "--queries", str(f["queries"]), "--positives", str(f["positives"]),
                                 "--corpus", str(f["corpus"]), "--out", str(tmp_path / "o.parquet"),
                                 "--nlist", "4"])
    assert result.exit_code == 2
    assert "nlist" in result.output and "ivf" in result.output
    assert not (tmp_path / "o.parquet").exists()


def _dense_args(f, out, model, cache):
    return ["mine", "dense", "--queries", str(f["queries"]), "--positives", str(f["positives"]), "--corpus",
            str(f["corpus"]), "--out", str(out), "--model", str(model), "--top-k", "5", "--cache-dir", str(cache)]


def test_cli_manifest_records_the_dtype_used(tiny_files, tiny_bi_encoder, tmp_path):
    from minekit.encode.device import resolve_dtype
    from minekit.io import read_manifest

    out = tmp_path / "dense.parquet"
    result = runner.invoke(app, ["-q", *_dense_args(tiny_files, out, tiny_bi_encoder, tmp_path / "c")])
    assert result.exit_code == 0, result.output
    step = read_manifest(out)["steps"][-1]
    used = resolve_dtype("auto", "cpu")
    assert step["params"]["dtype"] == used and step["stats"]["resolved"]["dtype"] == used
    result = runner.invoke(app, ["-q", *_dense_args(tiny_files, out, tiny_bi_encoder, tmp_path / "c"),
                                 "--dtype", "float32", "--max-seq-length", "16"])
    assert result.exit_code == 0, result.output
    step = read_manifest(out)["steps"][-1]
    assert step["params"]["dtype"] == "float32" and step["params"]["max_seq_length"] == 16
    # another dtype and length: nothing read from the first run (a run fact: on stderr, not in the file)
    assert re.search(r"texts_encoded\s+25\n", runner.invoke(app, [
        *_dense_args(tiny_files, tmp_path / "again.parquet", tiny_bi_encoder, tmp_path / "c2"),
        "--dtype", "float32", "--max-seq-length", "16"]).stderr)


@pytest.mark.parametrize("flags,message", [
    (["--device", "foo"], "--device: 'foo' is not a device"),
    (["--dtype", "fp8"], "--dtype: 'fp8' is not supported"),
    (["--max-seq-length", "0"], "Invalid value for '--max-seq-length': Input should be greater than or equal to 1"),
    (["--model", "someone/missing"], "'someone/missing' is not a local folder and not in the Hugging Face cache"),
])
def test_cli_bad_encoder_options_fail_fast_even_with_a_warm_cache(tiny_files, tiny_bi_encoder, tmp_path, flags,
                                                                  message):
    warm = tmp_path / "warm.parquet"
    assert runner.invoke(app, ["-q", *_dense_args(tiny_files, warm, tiny_bi_encoder, tmp_path / "c")]).exit_code == 0
    out = tmp_path / "o.parquet"
    result = runner.invoke(app, [*_dense_args(tiny_files, out, tiny_bi_encoder, tmp_path / "c"), *flags])
    assert result.exit_code == 2, result.output
    assert message in result.output and "unexpected" not in result.output
    # one error line (a flag refused while parsing also shows typer's usage lines above it)
    assert [line for line in result.output.splitlines() if line.startswith("Error")] == \
        [result.output.strip().splitlines()[-1]] and not out.exists()


def test_cli_corrupt_cache_shard_is_encoded_again(tiny_files, tiny_bi_encoder, tmp_path):
    first = tmp_path / "first.parquet"
    assert runner.invoke(app, ["-q", *_dense_args(tiny_files, first, tiny_bi_encoder, tmp_path / "c")]).exit_code == 0
    vec = sorted((tmp_path / "c").glob("*/*.vec.npy"))[0]
    data = vec.read_bytes()
    vec.write_bytes(data[:128] + b"\x7f" * (len(data) - 128))  # same size, garbage floats
    again = tmp_path / "again.parquet"
    result = runner.invoke(app, _dense_args(tiny_files, again, tiny_bi_encoder, tmp_path / "c"))
    assert result.exit_code == 0, result.output
    assert vec.name.split(".")[0] in result.output and "corrupt" in result.output
    assert pl.read_parquet(first).equals(pl.read_parquet(again))


def test_cli_cluster_takes_the_encoder_options(tiny_files, tiny_bi_encoder, tmp_path):
    from minekit.io import read_manifest

    f = tiny_files
    out = tmp_path / "cluster.parquet"
    result = runner.invoke(app, ["-q", "mine", "cluster", "--queries", str(f["queries"]), "--positives",
                                 str(f["positives"]), "--corpus", str(f["corpus"]), "--out", str(out), "--model",
                                 str(tiny_bi_encoder), "--top-k", "3", "--n-clusters", "2", "--dtype", "bfloat16",
                                 "--max-seq-length", "32", "--query-prompt", "query: ",
                                 "--cache-dir", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    params = read_manifest(out)["steps"][-1]["params"]
    assert (params["dtype"], params["max_seq_length"], params["query_prompt"]) == ("bfloat16", 32, "query: ")
    result = runner.invoke(app, ["mine", "cluster", "--queries", str(f["queries"]), "--positives",
                                 str(f["positives"]), "--corpus", str(f["corpus"]), "--out", str(out),
                                 "--n-clusters", "0"])
    assert result.exit_code == 2 and "--n-clusters" in result.output and "greater than or equal to 1" in result.output
