"""denoise: score rules on hand-made scores, the tiny cross-encoder end to end, the score cache, the
bi-encoder guide, pseudo-positives, and train-reranker feeding --cross-encoder."""

from __future__ import annotations

import importlib
import json
import re

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

dn = importlib.import_module("minekit.clean.denoise")  # minekit.clean.denoise is the stage function (mk.denoise)
from minekit.cli import app
from minekit.errors import ConfigError
from minekit.io import read_manifest
from minekit.mine import exact

from conftest import TINY_CORPUS, TINY_QUERIES

runner = CliRunner()
DOC_OF_TEXT = {t: d for d, t in TINY_CORPUS.items()}
QUERY_OF_TEXT = {t: q for q, t in TINY_QUERIES.items()}

# Hand-made scores: positives of q1 are d01 (0.9) and d04 (0.6); of q2 d06 (0.8); of q3 d11 (0.5).
SCORES = {
    ("q1", "d01"): 0.9, ("q1", "d04"): 0.6,
    ("q1", "d02"): 0.58, ("q1", "d03"): 0.3, ("q1", "d05"): 0.01,
    ("q2", "d06"): 0.8,
    ("q2", "d07"): 0.95, ("q2", "d08"): 0.05, ("q2", "d05"): 0.2,
    ("q3", "d11"): 0.5,
    ("q3", "d09"): 0.45, ("q3", "d12"): 0.02,
}


def _cands(rows):
    return pl.DataFrame(
        {"query_id": [q for q, _ in rows], "doc_id": [d for _, d in rows], "source": ["bm25"] * len(rows),
         "rank": [i + 1 for i in range(len(rows))], "score": [10.0 - i for i in range(len(rows))],
         "positive_score": [12.0] * len(rows)},
        schema_overrides={"rank": pl.Int32, "score": pl.Float32, "positive_score": pl.Float32})


CANDS = [("q1", "d02"), ("q1", "d03"), ("q1", "d05"), ("q2", "d07"), ("q2", "d08"), ("q2", "d05"),
         ("q3", "d09"), ("q3", "d12")]


@pytest.fixture
def fake_scorer(monkeypatch):
    """Replace the cross-encoder by the SCORES table; record what it was asked."""
    asked = []

    def fake(pairs, **kwargs):
        pairs = [(QUERY_OF_TEXT[q], DOC_OF_TEXT[p]) for q, p in pairs.texts(np.arange(len(pairs)))]
        asked.extend(pairs)
        return np.array([SCORES[p] for p in pairs], dtype=np.float32), {"pairs_scored": len(pairs), "cache_hits": 0,
                                                                      "score_kind": "ce_prob"}

    monkeypatch.setattr(dn, "score_pairs", fake)
    return asked


def _run(tiny, **kwargs):
    queries, positives, corpus = tiny
    return dn.denoise_candidates(_cands(CANDS), queries, positives, corpus, cross_encoder="x",
                                 show_progress=False, **kwargs)


def _kept(result):
    return sorted(zip(result.frame["query_id"], result.frame["doc_id"]))


def test_max_score_drops_above_threshold(tiny, fake_scorer):
    result = _run(tiny, max_score=0.1)
    assert _kept(result) == [("q1", "d05"), ("q2", "d08"), ("q3", "d12")]
    assert result.stats["dropped"] == {"max_score": 5}
    assert result.frame.filter(pl.col("doc_id") == "d05")["ce_score"].to_list() == pytest.approx([0.01])
    assert result.frame["ce_score"].dtype == pl.Float32
    # Candidates and positives (of the candidates' queries only: q4, q5 have none) scored once each.
    assert sorted(fake_scorer) == sorted(SCORES)
    assert result.stats["positive_pairs_scored"] == 4 and result.stats["positives_lost"] == 0


def test_relative_margin_is_judged_per_positive(tiny, fake_scorer):
    # q1's positives score 0.9 (d01) and 0.6 (d04): thresholds 0.81 and 0.54, so d02 (0.58) is too close
    # to d04 only: kept, but excluded from d04's rows. q2: 0.8 - 0.08 = 0.72 drops d07 (0.95), too close
    # to its only positive. q3: 0.45 is kept (threshold 0.45).
    result = _run(tiny, relative_margin=0.1, absolute_margin=None)
    assert result.stats["dropped"] == {"relative_margin": 1} and result.stats["margin_excluded_pairs"] == 1
    assert ("q2", "d07") not in _kept(result) and ("q3", "d09") in _kept(result)
    d02 = result.frame.filter(pl.col("doc_id") == "d02").row(0, named=True)
    assert d02["excluded_for"] == ["d04"]
    # the positives' teacher scores travel with the row, aligned with positive_ids
    assert d02["positive_ids"] == ["d01", "d04"] and d02["positive_ce_scores"] == pytest.approx([0.9, 0.6])
    assert set(result.frame["ce_score_kind"]) == {"ce_prob"}


def test_default_rule_drops_what_the_scorer_puts_above_the_positive(tiny, fake_scorer):
    # no rule given: GISTEmbed's absolute_margin 0, per positive. q2 d07 (0.95 > 0.8) is dropped; q1 d02
    # (0.58) is below d01 (0.9) and d04 (0.6): kept for both; nothing else is above its positive.
    result = _run(tiny)
    assert result.stats["dropped"] == {"absolute_margin": 1}
    assert ("q2", "d07") not in _kept(result) and len(_kept(result)) == len(CANDS) - 1
    off = _run(tiny, absolute_margin=None)
    assert off.stats["dropped"] == {} and len(_kept(off)) == len(CANDS)


def test_absolute_margin_and_order_of_reasons(tiny, fake_scorer):
    result = _run(tiny, max_score=0.9, absolute_margin=0.05, keep_dropped=True)
    reasons = dict(zip(zip(result.frame["query_id"], result.frame["doc_id"]), result.frame["drop_reason"]))
    assert reasons[("q2", "d07")] == "max_score"  # 0.95 breaks both rules: counted under the first
    assert reasons[("q1", "d02")] is None  # 0.58 > 0.6 - 0.05 (d04) but not 0.9 - 0.05 (d01): kept for d01
    assert reasons[("q3", "d09")] is None  # 0.45 <= 0.5 - 0.05
    assert reasons[("q3", "d12")] is None
    assert result.stats["dropped"] == {"max_score": 1}
    assert result.frame.height == len(CANDS)
    assert result.stats["rows_out"] == len(CANDS) - 1
    only_abs = _run(tiny, absolute_margin=0.3)  # q3 d09: 0.45 > 0.5 - 0.3, its only positive: dropped
    assert only_abs.stats["dropped"] == {"absolute_margin": 2}  # and q2 d07 (0.95 > 0.8 - 0.3)


def test_pseudo_positives(tiny, fake_scorer):
    result = _run(tiny, max_score=0.5, min_positive_score=0.9)
    assert result.pseudo_positives.rows() == [("q2", "d07", 1, pytest.approx(0.95))]
    assert result.stats["pseudo_positives"] == 1


def test_a_pseudo_positive_is_never_also_kept_as_a_negative(tiny, fake_scorer):
    # no max_score: q1 d02 (0.58) and q2 d07 (0.95) score >= 0.5, so they are pseudo-positives, not negatives
    result = _run(tiny, absolute_margin=None, min_positive_score=0.5, keep_dropped=True)
    pseudo = set(result.pseudo_positives.select("query_id", "doc_id").rows())
    assert pseudo == {("q1", "d02"), ("q2", "d07")}
    reasons = dict(zip(zip(result.frame["query_id"], result.frame["doc_id"]), result.frame["drop_reason"]))
    assert {pair: reasons[pair] for pair in pseudo} == {pair: "min_positive_score" for pair in pseudo}
    assert result.stats["dropped"] == {"min_positive_score": 2} and result.stats["rows_out"] == len(CANDS) - 2
    kept = _run(tiny, absolute_margin=None, min_positive_score=0.5)
    assert not pseudo & set(_kept(kept))


@pytest.mark.parametrize("kwargs, word", [
    ({"scorer": "bi-encoder", "cross_encoder": "x"}, "cross_encoder"),
    ({"scorer": "cross-encoder", "cross_encoder": None}, "cross_encoder"),
    ({"scorer": "nope"}, "scorer"),
    ({"model": "default"}, "model"),
    ({"relative_margin": 1.5}, "relative_margin"),
    ({"max_score": 0.5, "min_positive_score": 0.2}, "min_positive_score"),
    ({"llm_min_score": 0.1}, "llm_min_score"),
    ({"scorer": "bi-encoder", "cross_encoder": None, "max_length": 64}, "max_length"),
])
def test_config_errors(tiny, kwargs, word):
    queries, positives, corpus = tiny
    base = {"cross_encoder": "x", **kwargs}
    with pytest.raises(ConfigError, match=word) as exc:
        dn.denoise_candidates(_cands(CANDS), queries, positives, corpus, show_progress=False, **base)
    assert exc.value.param == word


def test_llm_judge_only_asked_about_grey_zone(tiny, fake_scorer):
    asked = []

    def judge(pairs):
        asked.extend((QUERY_OF_TEXT[q], DOC_OF_TEXT[p]) for q, p in pairs)
        return [DOC_OF_TEXT[p] == "d03" for _, p in pairs]

    result = _run(tiny, max_score=0.5, llm_judge=judge, llm_min_score=0.1)
    # Kept by max_score with 0.1 <= score: q1/d03 (0.3), q2/d05 (0.2), q3/d09 (0.45).
    assert sorted(asked) == [("q1", "d03"), ("q2", "d05"), ("q3", "d09")]
    assert result.stats["dropped"] == {"llm_judge": 1, "max_score": 2}
    assert ("q1", "d03") not in _kept(result)
    assert result.stats["llm_asked"] == 3 and result.stats["llm_relevant"] == 1


def test_score_cache_hit_skips_model(tiny, tiny_cross_encoder, tmp_path, monkeypatch):
    queries, positives, corpus = tiny
    qs = ["how long is a marathon"] * 3
    ps = [TINY_CORPUS["d13"], TINY_CORPUS["d14"], TINY_CORPUS["d13"]]
    first, counts = dn.score_cross_encoder(qs, ps, cross_encoder=str(tiny_cross_encoder), cache_dir=tmp_path,
                                           show_progress=False)
    assert counts == {"pairs_scored": 2, "cache_hits": 0, "score_kind": "ce_prob"}
    assert first[0] == first[2] and 0 < first[0] < 1  # sigmoid of one logit

    def no_model(*a, **k):
        raise AssertionError("cache hit must not load the model")

    monkeypatch.setattr("minekit.encode.models.load_cross_encoder", no_model)
    again, counts = dn.score_cross_encoder(qs, ps, cross_encoder=str(tiny_cross_encoder), cache_dir=tmp_path,
                                           show_progress=False)
    assert counts == {"pairs_scored": 0, "cache_hits": 2, "score_kind": "ce_prob"}  # kind known without loading
    np.testing.assert_array_equal(first, again)
    # A different max_length is a different key: it would be scored again.
    with pytest.raises(AssertionError, match="cache hit"):
        dn.score_cross_encoder(qs, ps, cross_encoder=str(tiny_cross_encoder), cache_dir=tmp_path, max_length=16,
                               show_progress=False)


def _write_cands(tmp_path):
    path = tmp_path / "cands.parquet"
    _cands(CANDS).write_parquet(path)
    return path


def test_cli_cross_encoder_end_to_end_and_rerun_uses_cache(tiny_files, tiny_cross_encoder, tmp_path):
    cands = _write_cands(tmp_path)
    out, pseudo = tmp_path / "clean.parquet", tmp_path / "pseudo.parquet"
    args = ["denoise", "--candidates", str(cands), "--queries", str(tiny_files["queries"]),
            "--positives", str(tiny_files["positives"]), "--corpus", str(tiny_files["corpus"]),
            "--cross-encoder", str(tiny_cross_encoder), "--cache-dir", str(tmp_path / "cache"),
            "--keep-dropped", "--pseudo-positives", str(pseudo), "--min-positive-score", "0.0",
            "--absolute-margin", "none"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pl.read_parquet(out)
    assert frame.height == len(CANDS) and frame["ce_score"].is_not_null().all()
    # the default rule turned off; every sigmoid score >= 0: all are pseudo-positives, so none stays a negative
    assert set(frame["drop_reason"]) == {"min_positive_score"}
    assert pl.read_parquet(pseudo).height == len(CANDS)
    step = read_manifest(out)["steps"][-1]
    assert step["stage"] == "denoise" and re.search(rf"pairs_scored\s+{len(CANDS) + 4}\n", result.stderr)
    assert "pairs_scored" not in step["stats"]  # a fact of this run (cache state), never in the file's bytes
    assert step["params"]["model_identity"].startswith("sha256:")

    # Rerun with a threshold between the scores: nothing re-scored, drops counted in manifest and stderr.
    threshold = float(np.median(frame["ce_score"].to_numpy()))
    out2 = tmp_path / "clean2.parquet"
    rerun = args[:args.index("--keep-dropped")]
    result = runner.invoke(app, [*rerun, "--out", str(out2), "--max-score", str(threshold)])
    assert result.exit_code == 0, result.output
    stats = read_manifest(out2)["steps"][-1]["stats"]
    assert re.search(r"pairs_scored\s+0\n", result.stderr)
    assert re.search(rf"cache_hits\s+{len(CANDS) + 4}\n", result.stderr)
    expected = int((frame["ce_score"] > threshold).sum())
    assert expected > 0 and stats["dropped"] == {"max_score": expected}
    assert "max_score" in result.stderr
    assert pl.read_parquet(out2)["ce_score"].max() <= threshold


def test_cli_bi_encoder_guide(tiny_files, tiny_bi_encoder, tmp_path, tiny):
    from sentence_transformers import SentenceTransformer

    cands = _write_cands(tmp_path)
    out = tmp_path / "clean.parquet"
    result = runner.invoke(app, [
        "denoise", "--candidates", str(cands), "--queries", str(tiny_files["queries"]),
        "--positives", str(tiny_files["positives"]), "--corpus", str(tiny_files["corpus"]), "--out", str(out),
        "--scorer", "bi-encoder", "--model", str(tiny_bi_encoder), "--positive-neighbours", "none",
        "--cache-dir", str(tmp_path / "cache"), "--keep-dropped", "--dtype", "float32"])
    assert result.exit_code == 0, result.output
    frame = pl.read_parquet(out)
    model = SentenceTransformer(str(tiny_bi_encoder), device="cpu")
    row = frame.filter((pl.col("query_id") == "q1") & (pl.col("doc_id") == "d02")).row(0, named=True)
    q, d = model.encode([TINY_QUERIES["q1"], TINY_CORPUS["d02"]], normalize_embeddings=True)
    assert row["ce_score"] == pytest.approx(float(q @ d), abs=1e-5)
    # GISTEmbed, per (query, positive): left out of a positive's rows exactly when the guide scores it
    # above that positive, dropped when it scores above every positive of its query.
    emb = {t: v for t, v in zip(list(TINY_QUERIES.values()) + list(TINY_CORPUS.values()),
                                model.encode(list(TINY_QUERIES.values()) + list(TINY_CORPUS.values()),
                                             normalize_embeddings=True))}
    pos = {"q1": ["d01", "d04"], "q2": ["d06"], "q3": ["d11"]}
    for r in frame.iter_rows(named=True):
        q = emb[TINY_QUERIES[r["query_id"]]]
        refs = {d: float(q @ emb[TINY_CORPUS[d]]) for d in pos[r["query_id"]]}
        score = float(q @ emb[TINY_CORPUS[r["doc_id"]]])
        if all(abs(score - ref) > 1e-4 for ref in refs.values()):
            above = sorted(d for d, ref in refs.items() if score > ref)
            assert (r["drop_reason"] == "absolute_margin") == (above == pos[r["query_id"]]), r  # absolute_margin auto
            if r["drop_reason"] is None:
                assert r["excluded_for"] == above, r
    assert read_manifest(out)["steps"][-1]["params"]["scorer"] == "bi-encoder"


def _passage_cosines(model_dir):
    """Cosine of every pair of tiny passages under the tiny bi-encoder, computed here by hand."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    vectors = dict(zip(TINY_CORPUS, model.encode(list(TINY_CORPUS.values()), normalize_embeddings=True)))
    return lambda a, b: float(vectors[a] @ vectors[b])


def _query_cosines(model_dir):
    """Cosine of a tiny query and a tiny passage under the tiny bi-encoder, by hand."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    queries = dict(zip(TINY_QUERIES, model.encode(list(TINY_QUERIES.values()), normalize_embeddings=True)))
    passages = dict(zip(TINY_CORPUS, model.encode(list(TINY_CORPUS.values()), normalize_embeddings=True)))
    return lambda q, d: float(queries[q] @ passages[d])


POS = {"q1": ["d01", "d04"], "q2": ["d06"], "q3": ["d11"]}


def test_positive_cosines_take_the_nearest_positive_never_itself(tiny, tiny_bi_encoder, tmp_path):
    queries, positives, corpus = tiny
    cos = _passage_cosines(tiny_bi_encoder)
    cands = pl.DataFrame({"query_id": ["q1", "q2", "q1", "q9"], "doc_id": ["d02", "d07", "d01", "d02"]})
    got = dn.positive_cosines(cands, positives, corpus, model=str(tiny_bi_encoder), dtype="float32",
                              cache_dir=tmp_path, show_progress=False, block_size=1)
    assert got[0] == pytest.approx(max(cos("d02", "d01"), cos("d02", "d04")), abs=1e-5)
    assert got[1] == pytest.approx(cos("d07", "d06"), abs=1e-5)
    assert got[2] == pytest.approx(cos("d01", "d04"), abs=1e-5)  # a positive: its nearest *other* positive
    assert np.isnan(got[3])  # q9 has no positive


def _guided(tiny, model_dir, tmp_path, **kwargs):
    queries, positives, corpus = tiny
    return dn.denoise_candidates(_cands(CANDS), queries, positives, corpus, scorer="bi-encoder",
                                 model=str(model_dir), dtype="float32", cache_dir=tmp_path, keep_dropped=True,
                                 show_progress=False, **kwargs)


def test_max_positive_similarity_drops_candidates_close_to_a_positive(tiny, tiny_bi_encoder, tmp_path):
    cos = _passage_cosines(tiny_bi_encoder)
    nearest = {(q, d): max(cos(d, p) for p in POS[q]) for q, d in CANDS}
    threshold = float(np.median(list(nearest.values())))
    result = _guided(tiny, tiny_bi_encoder, tmp_path, max_positive_similarity=threshold, positive_neighbours=None)
    frame = result.frame
    for r in frame.iter_rows(named=True):
        assert r["positive_cosine"] == pytest.approx(nearest[(r["query_id"], r["doc_id"])], abs=1e-5)
        assert (r["drop_reason"] == "max_positive_similarity") == (r["positive_cosine"] > threshold), r
    expected = sum(v > threshold for v in nearest.values())
    assert expected > 0 and result.stats["dropped"] == {"max_positive_similarity": expected}
    # the similarity rule judges: GISTEmbed's margin (absolute_margin "auto") stands down
    assert result.stats["resolved"]["absolute_margin"] is None
    assert result.stats["resolved"]["max_positive_similarity"] == pytest.approx(threshold, abs=1e-6)


def test_guide_encodes_each_text_once_whatever_the_block_size(tiny, tiny_bi_encoder, monkeypatch):
    # An embedding depends on the batch it is encoded in (padding; bfloat16 on CPU), so the guide encodes
    # every text it needs in one call before the blocks: block_size never changes a score (test_scale
    # checks the bytes of a whole run).
    from minekit.encode.encoder import Encoder

    calls, encode = [], Encoder.encode
    monkeypatch.setattr(Encoder, "encode", lambda self, texts, **kw: calls.append(sorted(texts)) or encode(
        self, texts, **kw))
    queries, positives, corpus = tiny
    pairs = pl.DataFrame({"query_id": [q for q, _ in CANDS], "doc_id": [d for _, d in CANDS]})
    seen = []
    for block_size in (4096, 1):
        calls.clear()
        dn.positive_cosines(pairs, positives, corpus, model=str(tiny_bi_encoder), dtype="float32", cache_dir=None,
                            show_progress=False, block_size=block_size)
        dn.denoise_candidates(_cands(CANDS), queries, positives, corpus, scorer="bi-encoder",
                              model=str(tiny_bi_encoder), positive_neighbours=None, dtype="float32", cache_dir=None,
                              block_size=block_size, show_progress=False)
        seen.append(list(calls))
    assert seen[0] == seen[1] and len(seen[0]) == 3  # passages (cosines); queries, passages (scores)


def test_positive_pair_cosines_count_each_pair_of_a_query_once(tiny, tiny_bi_encoder, tmp_path):
    _, _, corpus = tiny
    cos = _passage_cosines(tiny_bi_encoder)
    positives = pl.DataFrame({"query_id": ["q1", "q1", "q1", "q2", "q2", "q3"],
                              "doc_id": ["d04", "d01", "d03", "d06", "d07", "d11"]})
    got = dn.positive_pair_cosines(positives, corpus, model=str(tiny_bi_encoder), dtype="float32",
                                   cache_dir=tmp_path, show_progress=False, block_size=1)
    expected = [cos("d01", "d03"), cos("d01", "d04"), cos("d03", "d04"), cos("d06", "d07")]  # q3: one positive
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_auto_similarity_is_a_quantile_of_the_positives_own_cosines(tiny, tiny_bi_encoder, tmp_path, monkeypatch):
    cos = _passage_cosines(tiny_bi_encoder)
    # Only q1 has two positives: one pair, so every quantile of the pairs' cosines is cos(d01, d04).
    monkeypatch.setattr(dn, "MIN_CALIBRATION", 1)
    rule = dict(max_positive_similarity="auto", positive_neighbours=None)
    result = _guided(tiny, tiny_bi_encoder, tmp_path, **rule)
    assert result.stats["resolved"]["positive_similarity_calibrated_on"] == 1
    assert result.stats["resolved"]["max_positive_similarity"] == pytest.approx(cos("d01", "d04"), abs=1e-5)
    # Dropped: above the threshold, and among the tenth of its query's candidates closest to a positive
    # (rounded down, at least one: with 2 or 3 candidates a query, at most its closest one).
    nearest = {(q, d): max(cos(d, p) for p in POS[q]) for q, d in CANDS}
    closest = {(q, max((v, d) for (q2, d), v in nearest.items() if q2 == q)[1]) for q in POS}
    expected = {key for key, v in nearest.items() if v > cos("d01", "d04") + 1e-5 and key in closest}
    dropped = {(r["query_id"], r["doc_id"]) for r in result.frame.iter_rows(named=True) if r["drop_reason"]}
    assert expected and dropped == expected and len(dropped) <= len(POS)
    above = {key for key, v in nearest.items() if v > cos("d01", "d04") + 1e-5}
    assert above - expected  # some candidates above the threshold are kept by the share bound
    assert result.stats["resolved"]["positive_similarity_max_share"] == 0.1
    assert "_closest_share" not in result.frame.columns
    # Too few pairs to calibrate on: the rule is off and GISTEmbed's margin judges.
    monkeypatch.setattr(dn, "MIN_CALIBRATION", 2)
    fallback = _guided(tiny, tiny_bi_encoder, tmp_path, **rule)
    assert fallback.stats["resolved"]["max_positive_similarity"] is None
    assert fallback.stats["resolved"]["absolute_margin"] == 0.0 and "positive_cosine" not in fallback.frame.columns


def _neighbour_ranks(model_dir):
    """rank(p, d): d's rank among the tiny passages nearest to p's (1 = the nearest, p itself left out), by hand."""
    cos = _passage_cosines(model_dir)

    def rank(p, d):
        order = sorted((o for o in TINY_CORPUS if o != p), key=lambda o: -cos(p, o))
        return order.index(d) + 1
    return rank


def test_positive_neighbour_ranks_take_the_best_rank_within_k(tiny, tiny_bi_encoder, tmp_path):
    queries, positives, corpus = tiny
    rank = _neighbour_ranks(tiny_bi_encoder)
    cands = pl.DataFrame({"query_id": [q for q, _ in CANDS] + ["q1", "q9"], "doc_id": [d for _, d in CANDS] + ["d01", "d02"]})
    k = 6
    got = dn.positive_neighbour_ranks(cands, positives, corpus, k=k, model=str(tiny_bi_encoder), dtype="float32",
                                      cache_dir=tmp_path, show_progress=False)
    pos = {**POS, "q9": []}
    expected = [min([r for p in pos[q] if p != d and (r := rank(p, d)) <= k], default=0)
                for q, d in cands.iter_rows()]
    assert got.tolist() == expected  # (q1, d01): d01 is a positive, ranked only among d04's neighbours
    assert got[-1] == 0 and 0 in expected[:-1] and any(0 < v <= 2 for v in expected)  # no positive: 0; beyond k: 0
    # leave one out: each positive of q1 among the other's neighbours (q2, q3: one positive, no calibration)
    loo = dn.positive_loo_ranks(positives, corpus, model=str(tiny_bi_encoder), dtype="float32", cache_dir=tmp_path,
                                show_progress=False)
    assert loo.tolist() == [rank("d04", "d01"), rank("d01", "d04")]


def test_positive_neighbours_drop_candidates_near_a_positive(tiny, tiny_bi_encoder, tmp_path):
    rank = _neighbour_ranks(tiny_bi_encoder)
    best = {(q, d): min(rank(p, d) for p in POS[q]) for q, d in CANDS}
    k = 3
    result = _guided(tiny, tiny_bi_encoder, tmp_path, positive_neighbours=k)
    for r in result.frame.iter_rows(named=True):
        want = best[(r["query_id"], r["doc_id"])]
        assert r["neighbour_rank"] == (want if want <= k else None), r
        assert (r["drop_reason"] == "positive_neighbours") == (want <= k), r
    expected = sum(v <= k for v in best.values())
    assert 0 < expected < len(CANDS) and result.stats["dropped"] == {"positive_neighbours": expected}
    assert result.stats["resolved"]["positive_neighbours"] == k
    assert result.stats["resolved"]["absolute_margin"] is None  # the neighbour rule judges: GISTEmbed stands down


def test_auto_neighbours_leave_one_out_and_drop_a_tenth_at_most(tiny, tiny_bi_encoder, tmp_path, monkeypatch):
    rank = _neighbour_ranks(tiny_bi_encoder)
    monkeypatch.setattr(dn, "MIN_CALIBRATION", 1)
    queries, positives, corpus = tiny
    # q4 (no candidates) gets a second positive far from its first: calibration sees q1's and q4's pairs.
    positives = pl.concat([positives, pl.DataFrame({"query_id": ["q4"], "doc_id": ["d20"], "score": [1]},
                                                   schema=positives.schema)])
    every = [(q, d) for q in POS for d in TINY_CORPUS if d not in POS[q]]  # 17-19 candidates a query
    searched, search_exact = [], exact.search_exact

    def spy(*args, row_index, **kwargs):
        searched.extend(row_index.tolist())
        return search_exact(*args, row_index=row_index, **kwargs)
    monkeypatch.setattr(exact, "search_exact", spy)
    result = dn.denoise_candidates(_cands(every), queries, positives, corpus, scorer="bi-encoder",  # the defaults
                                   model=str(tiny_bi_encoder), dtype="float32", cache_dir=tmp_path, keep_dropped=True,
                                   show_progress=False)
    # Four calibration positives: 8 in 10 of them within k means all four.
    k = max(rank("d04", "d01"), rank("d01", "d04"), rank("d13", "d20"), rank("d20", "d13"))
    resolved = result.stats["resolved"]
    assert resolved["positive_neighbours"] == k and resolved["positive_neighbours_calibrated_on"] == 4
    assert resolved["positive_neighbours_max_share"] == 0.1 and resolved["absolute_margin"] is None
    # Dropped: a tenth of a query's 17-19 candidates (rounded down: one), the likeliest positive among those
    # within k: the lowest log(rank) minus the z-score of its query cosine among the query's candidates.
    best = {(q, d): min(rank(p, d) for p in POS[q]) for q, d in every}
    query_cos = _query_cosines(tiny_bi_encoder)
    expected = set()
    for q in POS:
        docs = [d for q2, d in every if q2 == q]
        sims = np.array([query_cos(q, d) for d in docs])
        z = (sims - sims.mean()) / sims.std(ddof=1)
        within = [(np.log(best[(q, d)]) - zi, d) for d, zi in zip(docs, z) if best[(q, d)] <= k]
        expected |= {(q, min(within)[1])} if within else set()
    dropped = {(r["query_id"], r["doc_id"]) for r in result.frame.iter_rows(named=True) if r["drop_reason"]}
    assert expected and dropped == expected
    assert {key for key, v in best.items() if v <= k} - expected  # some within k are kept by the share bound
    assert "_within_share" not in result.frame.columns
    # q1's positives are searched to calibrate k (at the cap) and not again for its candidates
    assert len(searched) == len(set(searched)) == len({d for docs in POS.values() for d in docs} | {"d13", "d20"})
    # q1's two positives alone are too few to calibrate on: k is its cap, and the share bound alone decides
    # (2-3 candidates a query: its likeliest one).
    monkeypatch.setattr(dn, "MIN_CALIBRATION", 3)
    capped = _guided(tiny, tiny_bi_encoder, tmp_path)
    resolved = capped.stats["resolved"]
    assert resolved["positive_neighbours"] == dn.MAX_NEIGHBOURS and resolved["positive_neighbours_calibrated_on"] == 2
    assert resolved["absolute_margin"] is None and capped.stats["dropped"] == {"positive_neighbours": len(POS)}


def test_calibration_positives_pick_the_same_ones_whatever_the_order():
    positives = pl.DataFrame({"query_id": ["a", "a", "a", "b", "b", "c", "c", "d"],
                              "doc_id": ["1", "2", "8", "3", "4", "5", "6", "7"]})
    picked = dn.calibration_positives(positives, max_queries=2, per_query=2)
    assert picked.equals(dn.calibration_positives(positives.reverse(), max_queries=2, per_query=2))
    lowest = sorted("abc", key=dn.text_sha256)[:2]
    assert sorted(set(picked["query_id"])) == sorted(lowest)  # d: one positive only, never picked
    assert picked.group_by("query_id").len()["len"].to_list() == [2, 2]
    every = dn.calibration_positives(positives, per_query=2)
    assert sorted(set(every["query_id"])) == ["a", "b", "c"]
    # a has three positives: the two kept are those with the lowest sha256 of doc_id
    assert sorted(every.filter(pl.col("query_id") == "a")["doc_id"]) == sorted(sorted("128", key=dn.text_sha256)[:2])


@pytest.mark.parametrize("kwargs, word", [
    ({"cross_encoder": "x", "max_positive_similarity": 0.8}, "--scorer bi-encoder"),
    ({"scorer": "bi-encoder", "max_positive_similarity": 1.5}, r"\[-1, 1\]"),
    ({"scorer": "bi-encoder", "max_positive_similarity": "high"}, "'high'"),
    ({"scorer": "bi-encoder", "absolute_margin": "some"}, "absolute_margin"),
    ({"cross_encoder": "x", "positive_neighbours": 5}, "--scorer bi-encoder"),
    ({"scorer": "bi-encoder", "positive_neighbours": 0}, "at least 1"),
    ({"scorer": "bi-encoder", "positive_neighbours": 2.5}, "2.5"),
    ({"scorer": "bi-encoder", "positive_neighbours": float("inf")}, "got inf"),
    ({"scorer": "bi-encoder", "positive_neighbours": "many"}, "'many'"),
])
def test_positive_similarity_config_errors(tiny, kwargs, word):
    queries, positives, corpus = tiny
    with pytest.raises(ConfigError, match=word) as exc:
        dn.denoise_candidates(_cands(CANDS), queries, positives, corpus, show_progress=False, **kwargs)
    assert exc.value.param == next(k for k in kwargs if k not in ("cross_encoder", "scorer"))  # the value refused


def test_cli_flag_errors(tiny_files, tmp_path):
    cands = _write_cands(tmp_path)
    base = ["denoise", "--candidates", str(cands), "--queries", str(tiny_files["queries"]),
            "--positives", str(tiny_files["positives"]), "--corpus", str(tiny_files["corpus"]),
            "--out", str(tmp_path / "o.parquet")]
    result = runner.invoke(app, [*base, "--cross-encoder", "x", "--pseudo-positives", str(tmp_path / "p.parquet")])
    assert result.exit_code == 2 and "--min-positive-score" in result.stderr
    result = runner.invoke(app, [*base, "--scorer", "bi-encoder", "--cross-encoder", "x"])
    assert result.exit_code == 2 and "--cross-encoder:" in result.stderr
    result = runner.invoke(app, [*base])
    assert result.exit_code == 2 and "train-reranker" in result.stderr
    result = runner.invoke(app, [*base, "--scorer", "bi-encoder", "--max-positive-similarity", "close"])
    assert result.exit_code == 2 and "--max-positive-similarity" in result.stderr
    assert "'close' is not a number, 'auto' or 'none'" in result.stderr
    result = runner.invoke(app, [*base, "--scorer", "bi-encoder", "--positive-neighbours", "0"])
    assert result.exit_code == 2 and "--positive-neighbours: a whole number" in result.stderr
    assert "got 0." in result.stderr
    assert not (tmp_path / "o.parquet").exists()


def test_train_reranker_output_works_as_cross_encoder(tiny_files, tiny_bi_encoder, tmp_path):
    cands = _write_cands(tmp_path)
    result = runner.invoke(app, [
        "build", "--candidates", str(cands), "--queries", str(tiny_files["queries"]),
        "--positives", str(tiny_files["positives"]), "--corpus", str(tiny_files["corpus"]), "--name", "t",
        "--out-dir", str(tmp_path / "datasets"), "--num-negatives", "2", "--format", "n-tuple", "--fill", "random"])
    assert result.exit_code == 0, result.output
    dataset = result.stdout.strip().splitlines()[-1]
    model_dir = tmp_path / "reranker"
    result = runner.invoke(app, ["-q", "train-reranker", "--dataset", dataset, "--model", str(tiny_bi_encoder),
                                 "--out", str(model_dir), "--max-steps", "2", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(model_dir)  # the trainer's log dicts never reach stdout
    for noise in ("Loading weights", "Computing widget examples", "Writing model shards", "train_loss"):
        assert noise not in result.stderr  # -q silences the libraries too
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["stage"] == "train-reranker" and manifest["steps"][-1]["stats"]["steps"] == 2
    assert manifest["steps"][0]["stage"] == "build"  # lineage from the dataset
    # 6 positive pairs + distinct negatives (2 per row, some shared).
    assert manifest["steps"][-1]["stats"]["positive_pairs"] == 6
    again = runner.invoke(app, ["train-reranker", "--dataset", dataset, "--out", str(model_dir)])
    assert again.exit_code == 2 and "never overwritten" in again.stderr

    out = tmp_path / "clean.parquet"
    result = runner.invoke(app, [
        "denoise", "--candidates", str(cands), "--queries", str(tiny_files["queries"]),
        "--positives", str(tiny_files["positives"]), "--corpus", str(tiny_files["corpus"]), "--out", str(out),
        "--cross-encoder", str(model_dir), "--max-score", "0.99", "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    scores = pl.read_parquet(out)["ce_score"]
    assert scores.is_not_null().all() and ((scores > 0) & (scores < 1)).all()


def test_the_cross_encoder_reads_the_instruction_before_each_query(tiny, monkeypatch):
    seen = []

    def fake(pairs, **kwargs):
        texts = pairs.texts(np.arange(len(pairs)))
        seen.extend(q for q, _ in texts)
        return np.zeros(len(texts), dtype=np.float32), {"pairs_scored": len(texts), "cache_hits": 0,
                                                        "score_kind": "ce_prob"}

    monkeypatch.setattr(dn, "score_pairs", fake)
    _run(tiny, instruction="Given a question, find the passage that answers it: ")
    assert seen and all(q.startswith("Given a question, find the passage that answers it: ") for q in seen)
    assert {q.removeprefix("Given a question, find the passage that answers it: ") for q in seen} <= set(QUERY_OF_TEXT)
    with pytest.raises(ConfigError, match="instruction: applies to the cross-encoder"):
        dn.denoise_candidates(_cands(CANDS), *tiny, scorer="bi-encoder", model="default", instruction="x: ",
                              show_progress=False)


def test_cli_instruction_changes_what_the_cross_encoder_scores(tiny_files, tiny_cross_encoder, tmp_path):
    cands = _write_cands(tmp_path)
    args = ["denoise", "--candidates", str(cands), "--queries", str(tiny_files["queries"]),
            "--positives", str(tiny_files["positives"]), "--corpus", str(tiny_files["corpus"]),
            "--cross-encoder", str(tiny_cross_encoder), "--cache-dir", str(tmp_path / "cache"),
            "--absolute-margin", "none"]
    plain = runner.invoke(app, [*args, "--out", str(tmp_path / "a.parquet")])
    told = runner.invoke(app, [*args, "--out", str(tmp_path / "b.parquet"), "--instruction", "is this relevant to"])
    assert plain.exit_code == 0 and told.exit_code == 0, told.output
    a, b = (pl.read_parquet(tmp_path / f"{n}.parquet")["ce_score"].to_list() for n in "ab")
    assert a != b  # scored anew with the instruction, not read back from the cache
    assert read_manifest(tmp_path / "b.parquet")["steps"][-1]["params"]["instruction"] == "is this relevant to"


def test_the_cross_encoder_dtype_is_float16_on_gpus_float32_on_cpus_and_scores_are_cached_apart(
        tiny_cross_encoder, tmp_path):
    import sqlite3

    from minekit.clean.cross_encoder import ce_dtype, score_cross_encoder

    assert (ce_dtype("auto", "cuda"), ce_dtype("auto", "cuda:1"), ce_dtype("auto", "cpu")) == \
        ("float16", "float16", "float32")
    assert ce_dtype("bfloat16", "cpu") == "bfloat16"
    with pytest.raises(ConfigError, match="--dtype: 'half' is not supported"):
        ce_dtype("half", "cpu")
    queries = list(TINY_QUERIES.values())[:3]
    passages = list(TINY_CORPUS.values())[:3]
    kwargs = dict(cross_encoder=str(tiny_cross_encoder), cache_dir=tmp_path, show_progress=False)
    full, _ = score_cross_encoder(queries, passages, dtype="auto", **kwargs)
    shared: dict = {}
    half, counts = score_cross_encoder(queries, passages, dtype="bfloat16", _shared=shared, **kwargs)
    assert counts["pairs_scored"] == 3  # not read back from the float32 scores
    assert next(shared["cross_encoder"].model.parameters()).dtype.__str__() == "torch.bfloat16"
    np.testing.assert_allclose(half, full, atol=0.05)
    with sqlite3.connect(tmp_path / "ce-scores.sqlite") as db:
        models = sorted(m for (m,) in db.execute("SELECT DISTINCT model FROM scores"))
    assert len(models) == 2 and models[1].endswith("|bfloat16") and not models[0].endswith("float32")


def test_the_score_kind_is_read_from_the_activation_the_cross_encoder_was_saved_with(tiny_cross_encoder, tmp_path):
    import torch
    from sentence_transformers import CrossEncoder

    from minekit.clean.cross_encoder import cross_encoder_kind

    assert cross_encoder_kind(str(tiny_cross_encoder)) == "ce_prob"  # one label: a sigmoid by default
    logits = tmp_path / "logits"
    CrossEncoder(str(tiny_cross_encoder), device="cpu", activation_fn=torch.nn.Identity()).save(str(logits))
    assert cross_encoder_kind(str(logits)) == "ce_logit"
