"""Bounded-memory search (issue 15a): embeddings read from the cache as stored, block by block, with
results identical whatever the block sizes; ivf-pq; evaluate on the same search."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from minekit.encode.encoder import Encoder
from minekit.errors import ConfigError
from minekit.mine import exact
from minekit.mine.dense import _resolve_index, build_index, mine_dense, search_ann
from minekit.mine.exact import search_exact
from minekit.encode.vectors import ArrayVectors, StoredVectors, canonical_dot


def _frame(hits, n_groups, n_docs):
    return hits.to_frame([f"q{g:03d}" for g in range(n_groups)], pl.Series([f"d{i:04d}" for i in range(n_docs)]),
                         source="dense")


def _brute(rows, groups, docs, positives, k):
    """Exact reference: canonical scores max-merged per group, positives removed, lexsort (score desc, pos asc)."""
    out = []
    for g in range(int(groups[-1]) + 1):
        mine = rows[groups == g]
        s = np.max([canonical_dot(np.repeat(r[None], len(docs), 0), docs) for r in mine], axis=0)
        s[positives[g]] = -np.inf
        order = np.lexsort((np.arange(len(docs)), -s))
        order = order[np.isfinite(s[order])][:k]
        out.append((s[order], order))
    return out


@pytest.mark.parametrize("ties", [False, True])
def test_exact_search_is_byte_identical_across_block_sizes(monkeypatch, ties):
    rng = np.random.default_rng(3)
    if ties:  # small integer vectors: many exactly equal scores, broken by position
        docs = rng.integers(0, 2, size=(240, 8)).astype(np.float32)
        rows = rng.integers(0, 2, size=(30, 8)).astype(np.float32)
    else:
        docs = rng.normal(size=(240, 16)).astype(np.float32)
        docs /= np.linalg.norm(docs, axis=1, keepdims=True)
        rows = docs[rng.integers(0, 240, 30)] + 0.2 * rng.normal(size=(30, 16)).astype(np.float32)
    groups = np.sort(rng.integers(0, 12, 30))
    groups = np.unique(groups, return_inverse=True)[1]  # dense 0..n-1, several rows per group
    n_groups = int(groups.max()) + 1
    positives = [np.sort(rng.choice(240, 3, replace=False)) for _ in range(n_groups)]
    reference = _frame(search_exact(rows, groups, docs, positives, top_k=17, show_progress=False), n_groups, 240)
    for block_size, score_block in [(1, 10**9), (7, 50), (64, 64 * 3), (1000, 10**9)]:
        monkeypatch.setattr(exact, "SCORE_BLOCK", score_block)
        got = search_exact(rows, groups, docs, positives, top_k=17, block_size=block_size, show_progress=False)
        assert _frame(got, n_groups, 240).equals(reference), (block_size, score_block)
    for g, (s, d) in enumerate(_brute(rows, groups, docs, positives, 17)):
        part = reference.filter(pl.col("query_id") == f"q{g:03d}")
        assert part["doc_id"].to_list() == [f"d{i:04d}" for i in d]
        np.testing.assert_array_equal(part["score"].to_numpy(), s)


def test_one_query_alone_equals_the_same_query_among_others():
    """What sharding by query needs: a query's result does not depend on the other queries."""
    rng = np.random.default_rng(4)
    docs = rng.normal(size=(500, 24)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    rows = rng.normal(size=(40, 24)).astype(np.float32)
    positives = [np.array([i]) for i in range(40)]
    both = _frame(search_exact(rows, np.arange(40), docs, positives, top_k=10, block_size=16, show_progress=False),
                  40, 500)
    for i in (0, 17, 39):
        alone = search_exact(rows[i:i + 1], np.array([0]), docs, positives[i:i + 1], top_k=10, block_size=333,
                             show_progress=False)
        a = alone.to_frame([f"q{i:03d}"], pl.Series([f"d{j:04d}" for j in range(500)]), source="dense")
        assert a.equals(both.filter(pl.col("query_id") == f"q{i:03d}"))


@pytest.mark.parametrize("precision", ["float32", "float16", "int8"])
def test_stored_vectors_equal_encode(tiny_bi_encoder, tmp_path, precision):
    texts = [f"passage number {i} about {w}" for i, w in enumerate(["cats", "dogs", "rain", "sun"] * 5)]
    texts += texts[:3]  # repeats
    encoder = Encoder(model=str(tiny_bi_encoder), cache_dir=tmp_path, precision=precision, dtype="float32")
    cold = encoder.encode_stored(texts, show_progress=False)
    assert encoder.stats["encoded"] == 20
    assert isinstance(cold, StoredVectors)
    warm_encoder = Encoder(model=str(tiny_bi_encoder), cache_dir=tmp_path, precision=precision, dtype="float32")
    warm = warm_encoder.encode_stored(texts, show_progress=False)
    assert warm_encoder.stats == {"encoded": 0, "cached": 23} and warm_encoder._loaded is None  # no model load
    want = Encoder(model=str(tiny_bi_encoder), cache_dir=tmp_path, precision=precision,
                   dtype="float32").encode(texts, show_progress=False)
    np.testing.assert_array_equal(cold.to_array(), want)
    np.testing.assert_array_equal(warm.to_array(), want)
    seen = []
    for positions, block in warm.blocks(4):
        np.testing.assert_array_equal(block, want[positions])
        seen.extend(positions.tolist())
    assert sorted(seen) == list(range(len(texts)))
    picks = np.array([5, 0, 22, 5])
    np.testing.assert_array_equal(warm.gather(picks), want[picks])
    if precision != "float32":  # stored as written: the files hold the narrow type
        assert np.load(warm.shards[0][0], mmap_mode="r").dtype == np.dtype(precision)


@pytest.mark.parametrize("query_from", ["query", "positive"])
def test_mine_dense_from_cache_never_makes_a_float32_corpus(tiny, tiny_bi_encoder, tmp_path, monkeypatch, query_from):
    kwargs = dict(model=str(tiny_bi_encoder), top_k=6, show_progress=False, query_from=query_from)
    unbounded = mine_dense(*tiny, **kwargs).frame  # no cache: vectors in memory, as before
    mine_dense(*tiny, **kwargs, cache_dir=tmp_path, precision="float16")  # fill the cache
    ref = mine_dense(*tiny, **kwargs, cache_dir=tmp_path, precision="float16").frame

    def refuse(self):
        raise AssertionError("the whole corpus was materialised")

    monkeypatch.setattr(StoredVectors, "to_array", refuse)
    monkeypatch.setattr(Encoder, "encode", refuse)
    for block_size in (1, 3, 1000):
        got = mine_dense(*tiny, **kwargs, cache_dir=tmp_path, precision="float16", block_size=block_size).frame
        assert got.equals(ref), block_size
    # float16 storage moves cosines by ~1e-3, not the ids of the unbounded float32 run here
    monkeypatch.undo()
    exact32 = mine_dense(*tiny, **kwargs, cache_dir=tmp_path / "f32").frame
    assert exact32.drop("score", "positive_scores", "positive_score").equals(
        unbounded.drop("score", "positive_scores", "positive_score"))
    np.testing.assert_allclose(exact32["score"].to_numpy(), unbounded["score"].to_numpy(), atol=1e-6)


def _clustered(n, dim, n_queries, seed):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(50, dim))
    docs = (centers[rng.integers(0, 50, n)] + 0.6 * rng.normal(size=(n, dim))).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = docs[rng.integers(0, n, n_queries)] + 0.3 * rng.normal(size=(n_queries, dim)).astype(np.float32)
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    return docs, queries


def test_ivf_pq_recall_and_exact_scores(monkeypatch):
    import minekit.mine.dense as dense

    monkeypatch.setattr(dense, "RESCORE_PAIRS", 100)  # rescored a few queries at a time
    docs, queries = _clustered(4000, 32, 200, seed=5)
    groups = np.arange(200)
    positives = [np.array([i]) for i in range(200)]
    flat = search_exact(queries, groups, docs, positives, top_k=10, show_progress=False)
    knobs = _resolve_index("ivf-pq", 4000, 10, nlist=None, nprobe=None, hnsw_m=None, ef_search=None, dim=32)
    assert knobs == {"nlist": 102, "nprobe": 16, "pq_m": 4, "shortlist": 4}
    knobs["pq_m"] = 8
    index = build_index(ArrayVectors(docs), "ivf-pq", knobs, seed=7)
    runs = [search_ann(build_index(ArrayVectors(docs), "ivf-pq", knobs, seed=7), queries, groups, positives,
                       top_k=10, docs=docs, shortlist=4, show_progress=False) for _ in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0]._docs, runs[1]._docs))  # seeded: same index
    approx = runs[0]

    def recall(hits):
        return np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(flat._docs, hits._docs)])

    plain = search_ann(index, queries, groups, positives, top_k=10, docs=docs, show_progress=False)
    assert recall(approx) >= max(0.8, recall(plain)), (recall(approx), recall(plain))
    for q, s, d in zip(queries, approx._scores, approx._docs):  # scores are exact cosines, not PQ estimates
        np.testing.assert_array_equal(s, canonical_dot(np.repeat(q[None], len(d), 0), docs[d]))


def test_mine_dense_ivf_pq_end_to_end(tiny, tiny_bi_encoder, tmp_path):
    queries, positives, corpus = tiny
    words = " ".join(corpus["text"].to_list()).split()
    rng = np.random.default_rng(0)
    extra = pl.DataFrame({"doc_id": [f"x{i:03d}" for i in range(300)], "title": [""] * 300,
                          "text": [" ".join(rng.choice(words, 8)) for _ in range(300)]})
    big = pl.concat([corpus, extra])
    result = mine_dense(queries, positives, big, model=str(tiny_bi_encoder), index="ivf-pq", top_k=5,
                        cache_dir=tmp_path, show_progress=False)
    assert result.frame.group_by("query_id").len()["len"].to_list() == [5] * result.frame["query_id"].n_unique()
    resolved = result.stats["resolved"]
    assert resolved["index"] == "ivf-pq" and resolved["shortlist"] == 4 and resolved["pq_m"] >= 1


def test_ivf_pq_knobs_are_checked(tiny, tiny_bi_encoder):
    with pytest.raises(ConfigError, match="pq_m.*only apply to index 'ivf-pq'"):
        _resolve_index("ivf", 10_000, 10, nlist=None, nprobe=None, hnsw_m=None, ef_search=None, pq_m=8)
    with pytest.raises(ConfigError, match="pq_m: must divide"):
        _resolve_index("ivf-pq", 10_000, 10, nlist=None, nprobe=None, hnsw_m=None, ef_search=None, pq_m=5, dim=32)
    with pytest.raises(ConfigError, match="at least 256 documents"):
        mine_dense(*tiny, model=str(tiny_bi_encoder), index="ivf-pq", show_progress=False)


def test_text_column_is_encoded_and_read_a_slice_at_a_time(tiny_bi_encoder, tmp_path, monkeypatch):
    import minekit.encode.encoder as encoder_module
    from minekit.encode.cache import text_keys
    from minekit.encode.encoder import TextColumn
    from minekit.inputs.schema import passage_text

    frame = pl.DataFrame({"doc_id": [f"d{i}" for i in range(23)], "title": ["", "T"] * 11 + [""],
                          "text": [f"passage {i} about {w}" for i, w in enumerate(["cats", "dogs", "rain"] * 7 + ["x", "y"])]})
    texts = frame.select(passage_text()).to_series().to_list()
    monkeypatch.setattr(encoder_module, "ENCODE_SLICE", 5)  # hashed and encoded 5 texts at a time
    column = TextColumn(frame, passage_text())
    np.testing.assert_array_equal(column.keys(), text_keys(texts))
    cold = Encoder(model=str(tiny_bi_encoder), cache_dir=tmp_path, dtype="float32").encode_stored(
        column, show_progress=False)
    want = Encoder(model=str(tiny_bi_encoder), cache_dir=None, dtype="float32").encode(texts, show_progress=False)
    np.testing.assert_array_equal(cold.to_array(), want)
    warm = Encoder(model=str(tiny_bi_encoder), cache_dir=tmp_path, dtype="float32")
    np.testing.assert_array_equal(warm.encode_stored(column, show_progress=False).to_array(), want)
    assert warm.stats["encoded"] == 0 and warm._loaded is None
    no_cache = Encoder(model=str(tiny_bi_encoder), cache_dir=None, dtype="float32").encode_stored(
        column, show_progress=False)
    np.testing.assert_array_equal(no_cache.to_array(), want)


def test_ann_index_built_from_stored_vectors_equals_in_memory(tiny_bi_encoder, tmp_path):
    texts = [f"text {i} " + "word " * (i % 7) for i in range(300)]
    encoder = Encoder(model=str(tiny_bi_encoder), cache_dir=tmp_path, dtype="float32")
    stored = encoder.encode_stored(texts, show_progress=False)
    array = stored.to_array()
    knobs = _resolve_index("ivf", 300, 5, nlist=8, nprobe=2, hnsw_m=None, ef_search=None)
    positives = [np.array([i]) for i in range(20)]
    a = search_ann(build_index(stored, "ivf", knobs), array[:20], np.arange(20), positives, top_k=5,
                   show_progress=False)
    b = search_ann(build_index(array, "ivf", knobs), array[:20], np.arange(20), positives, top_k=5,
                   show_progress=False)
    assert all(np.array_equal(x, y) for x, y in zip(a._docs, b._docs))


def test_evaluate_is_block_size_invariant(tiny, tiny_bi_encoder, tmp_path):
    from minekit.training.evaluate import evaluate_retrieval

    runs = [evaluate_retrieval(*tiny, model=str(tiny_bi_encoder), cache_dir=str(tmp_path), block_size=b,
                               show_progress=False) for b in (None, 2, 7)]
    plain = evaluate_retrieval(*tiny, model=str(tiny_bi_encoder), show_progress=False)
    assert runs[0].metrics == runs[1].metrics == runs[2].metrics
    assert runs[0].per_query.equals(runs[2].per_query)
    assert {k: v for k, v in plain.metrics.items()} == runs[0].metrics
    with pytest.raises(ConfigError, match="block-size"):
        evaluate_retrieval(*tiny, model="bm25", block_size=10, show_progress=False)


@pytest.mark.parametrize("scorer", ["cross-encoder", "bi-encoder"])
def test_denoise_in_query_blocks_equals_one_block(tiny, tiny_cross_encoder, tiny_bi_encoder, monkeypatch, scorer):
    import importlib

    import minekit.encode.models

    dn = importlib.import_module("minekit.clean.denoise")
    queries, positives, corpus = tiny
    cands = mine_dense(*tiny, model=str(tiny_bi_encoder), top_k=6, show_progress=False).frame
    loads = []
    real = minekit.encode.models.load_cross_encoder
    monkeypatch.setattr(minekit.encode.models, "load_cross_encoder", lambda *a, **k: loads.append(1) or real(*a, **k))
    opts = ({"cross_encoder": str(tiny_cross_encoder)} if scorer == "cross-encoder"
            else {"scorer": "bi-encoder", "model": str(tiny_bi_encoder)})
    runs = [dn.denoise_candidates(cands, queries, positives, corpus, **opts, max_score=0.9, keep_dropped=True,
                                  cache_dir=None, block_size=b, show_progress=False) for b in (4096, 1, 2)]
    # Byte-identical for both: the cross-encoder scores every distinct pair in one global length order,
    # building texts per scoring chunk, so its batches (and their padding) never depend on the blocks.
    for other in runs[1:]:
        assert other.frame.equals(runs[0].frame)
    assert runs[0].frame.height == cands.height
    if scorer == "cross-encoder":
        assert len(loads) == 3  # once per run, not once per block
    with pytest.raises(ConfigError, match="block_size"):
        dn.denoise_candidates(cands, queries, positives, corpus, **opts, block_size=0, show_progress=False)
