"""Scores that mean what they say: float labels, typed scores, one teacher for margin-mse, reruns that
give the same bytes, and rows whose draws do not depend on other rows."""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from minekit.dataset.build import build_dataset
from minekit.cli import app
from minekit.mine.bm25 import mine_bm25, mine_passage_bm25
from minekit.inputs.schema import positive_pairs

runner = CliRunner()


def _ok(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


# 1. fractional positive scores -------------------------------------------------------------------

def test_fractional_positive_scores_stay_floats_and_positives(tiny, tmp_path):
    queries, positives, corpus = tiny
    graded = positives.with_columns(pl.Series("score", [2.0, 0.5, 0.9, 2.0, 0.5, 2.0]))
    pairs = positive_pairs(graded, tmp_path / "p.parquet")
    assert pairs.height == 6 and pairs["score"].dtype == pl.Float64
    assert sorted(pairs["score"].to_list()) == [0.5, 0.5, 0.9, 2.0, 2.0, 2.0]
    # a 0.5-score positive (q1's d04) is a positive: never mined as a negative of its query
    for miner in (mine_bm25, mine_passage_bm25):
        frame = miner(queries, pairs, corpus, top_k=19, show_progress=False).frame
        assert frame.filter((pl.col("query_id") == "q1") & (pl.col("doc_id") == "d04")).height == 0
        assert frame.filter(pl.col("query_id") == "q1")["positive_ids"][0].to_list() == ["d01", "d04"]


def test_only_fractional_scores_are_positives_too(tiny_files, tiny, tmp_path):
    _, positives, _ = tiny
    path = tmp_path / "frac.parquet"
    positives.with_columns(pl.lit(0.5).alias("score")).write_parquet(path)
    result = _ok(["validate", "--queries", str(tiny_files["queries"]), "--positives", str(path),
                  "--corpus", str(tiny_files["corpus"])])
    assert "6 positives for 5 queries" in result.output


def test_nan_and_infinite_scores_are_named(tiny, tmp_path):
    _, positives, _ = tiny
    path = tmp_path / "nan.parquet"
    positives.with_columns(pl.Series("score", [1.0, float("nan"), 1.0, float("inf"), 1.0, 1.0])).write_parquet(path)
    from minekit.errors import InputError

    with pytest.raises(InputError) as err:
        positive_pairs(pl.read_parquet(path), path)
    message = str(err.value)
    assert "column 'score': 2 row(s) are NaN or infinite" in message
    assert "row 2 (" in message and "row 4 (" in message and "unexpected" not in message


# 5. typed scores, one score column per miner, one teacher -----------------------------------------

def test_candidates_say_what_their_scores_are(tiny):
    queries, positives, corpus = tiny
    frame = mine_bm25(queries, positives, corpus, top_k=3, show_progress=False).frame
    assert set(frame["score_kind"]) == {"bm25"}
    q1 = frame.filter(pl.col("query_id") == "q1").row(0, named=True)
    assert q1["positive_ids"] == ["d01", "d04"] and len(q1["positive_scores"]) == 2
    assert q1["positive_score"] == pytest.approx(min(q1["positive_scores"]))


def test_build_keeps_one_score_column_per_miner(tiny):
    queries, positives, corpus = tiny
    bm25 = mine_bm25(queries, positives, corpus, top_k=5, show_progress=False).frame
    passage = mine_passage_bm25(queries, positives, corpus, top_k=5, show_progress=False).frame
    result = build_dataset([bm25, passage], queries, positives, corpus, num_negatives=2, format="n-tuple",
                           fill="random")
    ids = result.ids
    assert "negative_scores" not in ids.columns and "positive_score" not in ids.columns
    assert result.score_columns == {"positive_score_bm25": "bm25 (bm25)", "negative_scores_bm25": "bm25 (bm25)",
                                    "positive_score_passage_bm25": "bm25 (passage-bm25)",
                                    "negative_scores_passage_bm25": "bm25 (passage-bm25)"}
    by_pair = {(r["query_id"], r["doc_id"]): r["score"] for r in bm25.iter_rows(named=True)}
    for row in ids.iter_rows(named=True):
        for doc, score, source in zip(row["negative_ids"], row["negative_scores_bm25"], row["negative_sources"]):
            # a miner's column holds that miner's score, or null where it did not find the document
            if "bm25" in source.split("+"):
                assert score == pytest.approx(by_pair[(row["query_id"], doc)])
            else:
                assert score is None
    # the positive's own BM25 score under the query, not the query's lowest
    q1 = bm25.filter(pl.col("query_id") == "q1").row(0, named=True)
    own = dict(zip(q1["positive_ids"], q1["positive_scores"]))
    for row in ids.filter(pl.col("query_id") == "q1").iter_rows(named=True):
        assert row["positive_score_bm25"] == pytest.approx(own[row["positive_id"]])


def test_margin_mse_after_denoise_uses_cross_encoder_scores_on_both_sides(tiny, monkeypatch):
    dn = importlib.import_module("minekit.clean.denoise")  # the library module, not the stage mk.denoise
    from minekit.training.train import _margins

    queries, positives, corpus = tiny
    cands = mine_bm25(queries, positives, corpus, top_k=4, show_progress=False).frame
    texts = {**dict(queries.iter_rows()), **dict(corpus.select("doc_id", "text").iter_rows())}
    fake = {t: (int(hashlib.sha256(t.encode()).hexdigest(), 16) % 1000) / 1000 for t in texts.values()}

    def scorer(pairs, **kwargs):  # a deterministic stand-in for a cross-encoder: depends on the passage
        ps = [p for _, p in pairs.texts(np.arange(len(pairs)))]
        return np.array([fake[p] for p in ps], dtype=np.float32), {"pairs_scored": len(ps), "cache_hits": 0,
                                                                   "score_kind": "ce_logit"}

    monkeypatch.setattr(dn, "score_pairs", scorer)
    denoised = dn.denoise_candidates(cands, queries, positives, corpus, cross_encoder="x",
                                     show_progress=False).frame
    result = build_dataset([denoised], queries, positives, corpus, num_negatives=2, format="n-tuple", fill="none",
                           relative_margin=None)
    assert result.score_columns["negative_ce_scores"] == "ce_logit (denoise)"
    ids = result.ids
    for row in ids.iter_rows(named=True):
        assert row["positive_ce_score"] == pytest.approx(fake[texts[row["positive_id"]]])
        assert row["negative_ce_scores"] == pytest.approx([fake[texts[d]] for d in row["negative_ids"]])
    margins, source = _margins(ids, 2)
    assert source == "positive_ce_score - negative_ce_scores"
    first = ids.row(0, named=True)
    assert margins[0] == pytest.approx([first["positive_ce_score"] - n for n in first["negative_ce_scores"]])


def test_info_shows_which_scorer_made_each_score_column(tiny_files, tmp_path):
    files = {k: str(v) for k, v in tiny_files.items()}
    common = ["--queries", files["queries"], "--positives", files["positives"], "--corpus", files["corpus"]]
    _ok(["-q", "mine", "bm25", *common, "--out", str(tmp_path / "bm25.parquet")])
    built = _ok(["-q", "build", "--candidates", str(tmp_path / "bm25.parquet"), *common, "--name", "d",
                 "--fill", "random"]).stdout.strip()
    shown = json.loads(_ok(["info", built]).stdout)
    assert shown["score_columns"] == {"positive_score_bm25": "bm25 (bm25)", "negative_scores_bm25": "bm25 (bm25)"}
    assert "`negative_scores_bm25`: bm25 (bm25)" in (tmp_path / built / "README.md").read_text()


# 7. reruns ----------------------------------------------------------------------------------------

def test_cold_and_warm_dense_runs_write_the_same_bytes(tiny_files, tiny_bi_encoder, tmp_path):
    files = {k: str(v) for k, v in tiny_files.items()}
    common = ["--queries", files["queries"], "--positives", files["positives"], "--corpus", files["corpus"]]
    dense = ["-q", "mine", "dense", *common, "--model", str(tiny_bi_encoder), "--cache-dir", str(tmp_path / "c")]
    _ok([*dense, "--out", str(tmp_path / "cold.parquet")])
    _ok([*dense, "--out", str(tmp_path / "warm.parquet")])
    assert _sha(tmp_path / "cold.parquet") == _sha(tmp_path / "warm.parquet")
    build = ["build", *common, "--name", "d", "--fill", "random"]
    first = _ok([*build, "--candidates", str(tmp_path / "cold.parquet")])
    second = _ok([*build, "--candidates", str(tmp_path / "warm.parquet")])
    assert "up to date" in second.stderr and second.stdout == first.stdout


def test_adding_a_query_leaves_every_other_row_unchanged(tiny):
    queries, positives, corpus = tiny
    cands = mine_bm25(queries, positives, corpus, top_k=10, show_progress=False).frame
    fewer = positives.filter(pl.col("query_id") != "q2")
    kwargs = dict(num_negatives=2, sampling_strategy="random", fill="random", seed=7, format="n-tuple")
    small = build_dataset([cands.filter(pl.col("query_id") != "q2")], queries, fewer, corpus, **kwargs).ids
    full = build_dataset([cands], queries, positives, corpus, **kwargs).ids
    assert full.height == small.height + 1
    assert full.filter(pl.col("query_id") != "q2").equals(small)


def test_simans_samples_near_the_positive_and_is_seeded(tiny):
    queries, positives, corpus = tiny
    cands = mine_bm25(queries, positives, corpus, top_k=10, show_progress=False).frame
    a = build_dataset([cands], queries, positives, corpus, num_negatives=1, sampling_strategy="simans",
                      seed=1, fill="random").ids
    b = build_dataset([cands], queries, positives, corpus, num_negatives=1, sampling_strategy="simans",
                      seed=1, fill="random").ids
    assert a.equals(b)
    from minekit.dataset.sampling import simans_weights

    w = simans_weights(np.array([-0.05, -0.3, -0.9, np.nan]), a=50.0, b=-0.05)
    assert w[0] == pytest.approx(1.0) and w[0] > w[1] > w[2] and w[3] == pytest.approx(w[2])


# 8. first-minute things ---------------------------------------------------------------------------

def test_version_and_plain_help_with_allowed_values():
    version = subprocess.run([sys.executable, "-m", "minekit", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == __import__("minekit").__version__
    shown = subprocess.run([sys.executable, "-c", "import sys; from minekit.cli import main; "
                            "sys.argv = ['minekit', 'build', '--help']; main()"], capture_output=True, text=True)
    assert "[triplet|n-tuple|labeled-pair]" in shown.stdout and "[top|random|simans|trisampler]" in shown.stdout
    assert "<str>" not in shown.stdout and "--candidates PATH" in shown.stdout


def test_default_recipe_is_the_hardest_negative_in_one_row_per_positive(tiny):
    queries, positives, corpus = tiny
    cands = mine_bm25(queries, positives, corpus, top_k=10, show_progress=False).frame
    result = build_dataset([cands], queries, positives, corpus)
    assert result.train.columns == ["anchor", "positive", "negative_1"]
    five = build_dataset([cands], queries, positives, corpus, num_negatives=5)
    assert result.train["negative_1"].to_list() == five.train["negative_1"].to_list()  # the hardest kept
    assert result.train.height == positives.height  # one row per (query, positive): none lost, none repeated
