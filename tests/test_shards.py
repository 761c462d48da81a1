"""Shards (--shard i/n) and their merge: the merged file is byte for byte the unsharded run's; clear errors otherwise."""

from __future__ import annotations

import importlib
import json

import polars as pl
import pytest
from typer.testing import CliRunner

import minekit as mk
from minekit.cli import app
from minekit.errors import InputError
from minekit.io import read_manifest
from minekit.options import BadValue
from minekit.execution.shards import merge_stats, parse_shard, shard_numbers

runner = CliRunner()


def _sharded(stage, n: int, tmp_path, name: str, **kwargs) -> list:
    files = [tmp_path / f"{name}.{i}-of-{n}.parquet" for i in range(1, n + 1)]
    for i, path in enumerate(files, 1):
        stage(**kwargs, out=path, shard=f"{i}/{n}", show_progress=False)
    return files


def _same_bytes(a, b) -> None:
    assert a.read_bytes() == b.read_bytes(), json.dumps([read_manifest(a), read_manifest(b)], indent=1)[:3000]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("stage", ["mine_bm25", "mine_passage_bm25"])
def test_bm25_shards_merge_to_the_unsharded_bytes(stage, n, sample_files, tmp_path):
    fn = getattr(mk, stage)
    whole = fn(**sample_files, out=tmp_path / "whole.parquet", top_k=20, show_progress=False).path
    files = _sharded(fn, n, tmp_path, stage, **sample_files, top_k=20)
    merged = mk.merge(files, out=tmp_path / "merged.parquet")
    _same_bytes(whole, merged.path)
    assert merged.stats == read_manifest(whole)["steps"][-1]["stats"]
    shard_facts = [read_manifest(f)["shard"] for f in files]
    assert [(s["index"], s["count"]) for s in shard_facts] == [(i, n) for i in range(1, n + 1)]
    assert {s["of"] for s in shard_facts} == {read_manifest(whole)["fingerprint"]}
    assert read_manifest(files[0])["fingerprint"] != read_manifest(whole)["fingerprint"]  # a shard is not the whole


def test_a_shard_without_queries_writes_an_empty_file_and_merges(tiny_files, tmp_path):
    ids = pl.read_parquet(tiny_files["queries"])["query_id"].to_list()
    n = 8  # 5 queries in 8 shards: some shards get none
    assert len(set(shard_numbers(ids, n).tolist())) < n
    whole = mk.mine_bm25(**tiny_files, out=tmp_path / "whole.parquet", top_k=5, show_progress=False).path
    files = _sharded(mk.mine_bm25, n, tmp_path, "bm25", **tiny_files, top_k=5)
    assert min(pl.read_parquet(f).height for f in files) == 0
    _same_bytes(whole, mk.merge(files, out=tmp_path / "merged.parquet").path)


def test_shards_split_queries_by_a_stable_hash(sample_files, tmp_path):
    files = _sharded(mk.mine_bm25, 3, tmp_path, "bm25", **sample_files, top_k=5)
    per_shard = [set(pl.read_parquet(f)["query_id"].to_list()) for f in files]
    assert not set.intersection(*per_shard) and all(per_shard)
    for i, ids in enumerate(per_shard, 1):
        assert set(shard_numbers(sorted(ids), 3).tolist()) == {i}


@pytest.mark.parametrize("n", [1, 2, 3])
def test_dense_shards_over_a_sharded_embed_merge_to_the_unsharded_bytes(n, tiny_files, tiny_bi_encoder, tmp_path):
    model = str(tiny_bi_encoder)
    cache = tmp_path / "cache"
    encoded = [mk.embed_corpus(corpus=tiny_files["corpus"], queries=tiny_files["queries"], model=model,
                               cache_dir=cache, shard=f"{i}/{n}", show_progress=False) for i in range(1, n + 1)]
    assert sum(e.stats["corpus_texts"] for e in encoded) == 20
    assert sum(e.stats["texts_encoded"] for e in encoded) == 25  # every text once, in exactly one shard
    again = mk.embed_corpus(corpus=tiny_files["corpus"], queries=tiny_files["queries"], model=model, cache_dir=cache,
                            show_progress=False)
    assert again.stats["texts_encoded"] == 0 and again.stats["texts_from_cache"] == 25
    files = _sharded(mk.mine_dense, n, tmp_path, "dense", **tiny_files, model=model, top_k=6, cache_dir=cache)
    whole = mk.mine_dense(**tiny_files, out=tmp_path / "whole.parquet", model=model, top_k=6, cache_dir=cache,
                          show_progress=False)
    assert whole.stats["texts_encoded"] == 0  # the shards and the whole run read the same vectors
    _same_bytes(whole.path, mk.merge(files, out=tmp_path / "merged.parquet").path)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_denoise_shards_merge_to_the_unsharded_bytes(n, tiny_files, tiny_cross_encoder, tmp_path):
    cands = mk.mine_bm25(**tiny_files, out=tmp_path / "bm25.parquet", top_k=8, show_progress=False).path
    kwargs = dict(candidates=cands, **tiny_files, cross_encoder=str(tiny_cross_encoder), relative_margin=0.0,
                  keep_dropped=True)
    files = [tmp_path / f"denoise.{i}-of-{n}.parquet" for i in range(1, n + 1)]
    for i, path in enumerate(files, 1):  # each shard scores its own pairs (its own score cache)
        mk.denoise(**kwargs, out=path, shard=f"{i}/{n}", cache_dir=tmp_path / f"cache{i}", show_progress=False)
    whole = mk.denoise(**kwargs, out=tmp_path / "whole.parquet", cache_dir=tmp_path / "cache", show_progress=False)
    _same_bytes(whole.path, mk.merge(files, out=tmp_path / "merged.parquet").path)
    assert whole.stats["dropped"]  # the margin rule dropped some rows: the counts were merged, not just copied


@pytest.mark.parametrize("n", [2, 3])
def test_denoise_bi_encoder_auto_rule_agrees_across_shards(n, tiny_files, tiny_bi_encoder, tmp_path, monkeypatch):
    denoise_module = importlib.import_module("minekit.clean.denoise")  # mk.denoise is the stage function
    monkeypatch.setattr(denoise_module, "MIN_CALIBRATION", 1)  # the tiny positives have one pair
    cands = mk.mine_bm25(**tiny_files, out=tmp_path / "bm25.parquet", top_k=8, show_progress=False).path
    kwargs = dict(candidates=cands, **tiny_files, scorer="bi-encoder", model=str(tiny_bi_encoder), dtype="float32",
                  keep_dropped=True, cache_dir=tmp_path / "cache", show_progress=False)
    files = [tmp_path / f"denoise.{i}-of-{n}.parquet" for i in range(1, n + 1)]
    for i, path in enumerate(files, 1):  # each shard calibrates "auto" on the whole positives file
        mk.denoise(**kwargs, out=path, shard=f"{i}/{n}")
    whole = mk.denoise(**kwargs, out=tmp_path / "whole.parquet")
    _same_bytes(whole.path, mk.merge(files, out=tmp_path / "merged.parquet").path)
    assert whole.stats["dropped"].get("positive_neighbours")  # the calibrated rule dropped rows


# -- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["0/2", "3/2", "a/b", "1/0", "2", "-1/2"])
def test_bad_shard_specs_are_named_as_typed(spec, tiny_files, tmp_path):
    result = runner.invoke(app, ["mine", "bm25", *_flags(tiny_files), "--out", str(tmp_path / "o.parquet"),
                                 "--shard", spec])
    assert result.exit_code == 2
    assert f"Invalid value for '--shard': '{spec}' is not a shard" in result.output
    with pytest.raises(BadValue, match="is not a shard"):
        mk.mine_dense(**tiny_files, out=tmp_path / "o.parquet", shard=spec)
    assert not (tmp_path / "o.parquet").exists()


def test_parse_shard():
    assert str(parse_shard(" 2 / 5 ")) == "2/5" and parse_shard(None) is None
    with pytest.raises(ValueError, match="between 1 and n"):
        parse_shard("0/2")


def _flags(files) -> list[str]:
    return [x for name in ("queries", "positives", "corpus") for x in (f"--{name}", str(files[name]))]


def test_merge_names_missing_and_repeated_shards(sample_files, tmp_path):
    files = _sharded(mk.mine_bm25, 3, tmp_path, "bm25", **sample_files, top_k=5)
    out = tmp_path / "merged.parquet"
    result = runner.invoke(app, ["merge", str(files[0]), str(files[2]), "--out", str(out)])
    assert result.exit_code == 2 and "shards missing: 2/3" in result.output and str(files[2]) in result.output
    result = runner.invoke(app, ["merge", *map(str, files), str(files[1]), "--out", str(out)])
    assert result.exit_code == 2 and "shard 2/3 is given 2 times" in result.output and str(files[1]) in result.output
    assert not out.exists()
    result = runner.invoke(app, ["merge", *map(str, files), "--out", str(out)])
    assert result.exit_code == 0, result.output


def test_merge_refuses_shards_of_different_runs(sample_files, tmp_path):
    a = _sharded(mk.mine_bm25, 2, tmp_path, "a", **sample_files, top_k=5)
    b = _sharded(mk.mine_bm25, 2, tmp_path, "b", **sample_files, top_k=6)
    with pytest.raises(InputError, match=r"shards of different runs \(params differ: top_k 5 vs 6\)") as exc:
        mk.merge([a[0], b[1]], out=tmp_path / "m.parquet")
    assert str(a[0]) in str(exc.value) and str(b[1]) in str(exc.value)
    c = _sharded(mk.mine_bm25, 3, tmp_path, "c", **sample_files, top_k=5)
    with pytest.raises(InputError, match="same n"):
        mk.merge([a[0], c[1], c[2]], out=tmp_path / "m.parquet")
    p = _sharded(mk.mine_passage_bm25, 2, tmp_path, "p", **sample_files, top_k=5)
    with pytest.raises(InputError, match="stages mine.bm25 and mine.passage-bm25"):
        mk.merge([a[0], p[1]], out=tmp_path / "m.parquet")


def test_merge_refuses_a_file_that_is_no_shard(sample_files, tmp_path):
    whole = mk.mine_bm25(**sample_files, out=tmp_path / "whole.parquet", top_k=5, show_progress=False).path
    result = runner.invoke(app, ["merge", str(whole), "--out", str(tmp_path / "m.parquet")])
    assert result.exit_code == 2 and f"{whole}: is not a shard output" in result.output


def test_shards_flags_go_with_ray_only(tiny_files, tmp_path):
    result = runner.invoke(app, ["mine", "bm25", *_flags(tiny_files), "--out", str(tmp_path / "o.parquet"),
                                 "--shards", "2"])
    assert result.exit_code == 2 and "--shards and --ray: the number of shards applies only to a Ray run" in result.output
    result = runner.invoke(app, ["mine", "bm25", *_flags(tiny_files), "--out", str(tmp_path / "o.parquet"),
                                 "--shard", "1/2", "--ray"])
    assert result.exit_code == 2 and "--shard and --ray: give one of them" in result.output


def test_merge_stats_add_counts_and_keep_settings():
    parts = [{"queries": 2, "dropped": {"max_score": 1}, "scorer": "ce", "resolved": {"nlist": 8}},
             {"queries": 3, "dropped": {"max_score": 2, "relative_margin": 1}, "scorer": "ce",
              "resolved": {"nlist": 8}}]
    assert merge_stats(parts) == {"queries": 5, "dropped": {"max_score": 3, "relative_margin": 1}, "scorer": "ce",
                                  "resolved": {"nlist": 8}}


def test_a_pipeline_runs_shards_and_their_merge_and_skips_them_when_up_to_date(sample_files, tmp_path):
    steps = "".join(f'[steps.s{i}]\nrun = "mine.bm25"\ntop_k = 10\nshard = "{i}/2"\n\n' for i in (1, 2))
    inputs = "".join(f'{k} = "{v}"\n' for k, v in sample_files.items())
    (tmp_path / "p.toml").write_text(f'name = "sharded"\n\n[inputs]\n{inputs}\n{steps}'
                                     '[steps.whole]\nrun = "merge"\nfiles = ["@s1", "@s2"]\n')
    first = mk.run(tmp_path / "p.toml", runs_dir=tmp_path / "runs", show_progress=False)
    whole = mk.mine_bm25(**sample_files, out=tmp_path / "whole.parquet", top_k=10, show_progress=False).path
    _same_bytes(whole, tmp_path / "runs" / "sharded" / "whole" / "whole.parquet")
    again = mk.run(tmp_path / "p.toml", runs_dir=tmp_path / "runs", show_progress=False)
    assert "ran" in first.text and again.text.count("up to date") == 3, again.text


def test_cli_embed_shard_then_mine_dense_shards_and_merge(tiny_files, tiny_bi_encoder, tmp_path):
    model, cache = str(tiny_bi_encoder), str(tmp_path / "cache")
    for i in (1, 2):
        result = runner.invoke(app, ["embed", "--corpus", str(tiny_files["corpus"]), "--queries",
                                     str(tiny_files["queries"]), "--model", model, "--cache-dir", cache,
                                     "--shard", f"{i}/2"])
        assert result.exit_code == 0, result.output
        assert f"embed (shard {i}/2)" in result.output and result.output.strip().endswith(cache)
    files = []
    for i in (1, 2):
        files.append(str(tmp_path / f"dense.{i}.parquet"))
        result = runner.invoke(app, ["-q", "mine", "dense", *_flags(tiny_files), "--model", model, "--cache-dir", cache,
                                     "--out", files[-1], "--shard", f"{i}/2"])
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["-q", "merge", *files, "--out", str(tmp_path / "merged.parquet")])
    assert result.exit_code == 0, result.output
    whole = mk.mine_dense(**tiny_files, out=tmp_path / "whole.parquet", model=model, cache_dir=cache,
                          show_progress=False)
    assert whole.stats["texts_encoded"] == 0
    _same_bytes(whole.path, tmp_path / "merged.parquet")
