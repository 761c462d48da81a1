"""Exports read back with the consumers' own loaders, in their documented layouts, and imported back unchanged."""

from __future__ import annotations

import json
import logging

import polars as pl
import pytest
from typer.testing import CliRunner

from minekit.cli import app
from minekit.errors import ConfigError
from minekit.handoff.export import export_dataset
from minekit.inputs.importers import import_flagembedding, import_pairs, import_tevatron

runner = CliRunner()


def _build(sample_files, folder, *extra: str) -> "Path":  # noqa: F821
    """A dataset of the sample data made the way users make one: mine bm25, filter, build."""
    inputs = ["--queries", str(sample_files["queries"]), "--positives", str(sample_files["positives"]),
              "--corpus", str(sample_files["corpus"])]
    bm25, kept = folder / "bm25.parquet", folder / "bm25-f.parquet"
    if not kept.exists():
        assert runner.invoke(app, ["-q", "mine", "bm25", *inputs, "--out", str(bm25), "--top-k", "20"]).exit_code == 0
        assert runner.invoke(app, ["-q", "filter", "--candidates", str(bm25), "--out", str(kept),
                                   "--range-min", "2"]).exit_code == 0
    result = runner.invoke(app, ["-q", "build", "--candidates", str(kept), *inputs, "--out-dir",
                                 str(folder / "datasets"), *extra])
    assert result.exit_code == 0, result.output
    return __import__("pathlib").Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def datasets(sample_files, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export-datasets")
    return {
        "ntuple": _build(sample_files, folder, "--name", "nt", "--num-negatives", "2", "--format", "n-tuple",
                         "--fill", "none"),
        "triplet": _build(sample_files, folder, "--name", "tr", "--num-negatives", "2", "--fill", "none",
                          "--format", "triplet"),
        "filled": _build(sample_files, folder, "--name", "fi", "--num-negatives", "25", "--format", "n-tuple",
                         "--fill", "random"),
    }


def _rows(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _dataset(path):
    return pl.read_parquet(path / "train.parquet"), pl.read_parquet(path / "ids.parquet")


def test_flagembedding_layout_and_values(datasets, tmp_path):
    train, ids = _dataset(datasets["ntuple"])
    out = tmp_path / "fe.jsonl"
    result = export_dataset(datasets["ntuple"], out, to="flagembedding", prompt="Represent this query: ",
                            scores="miner")
    rows = _rows(out)
    assert len(rows) == train.height == result.stats["records"]
    assert all(list(r) == ["query", "pos", "neg", "pos_scores", "neg_scores", "prompt", "query_id", "pos_ids",
                           "neg_ids"] for r in rows)
    for r, t, i in zip(rows, train.iter_rows(named=True), ids.iter_rows(named=True)):
        assert r["query"] == t["anchor"] and r["pos"] == [t["positive"]]
        assert r["neg"] == [t["negative_1"], t["negative_2"]]
        assert r["neg_scores"] == pytest.approx(i["negative_scores_bm25"]) and r["pos_scores"] == [
            pytest.approx(i["positive_score_bm25"])]
        assert r["prompt"] == "Represent this query: "
        assert (r["query_id"], r["pos_ids"], r["neg_ids"]) == (i["query_id"], [i["positive_id"]], i["negative_ids"])
    # FlagEmbedding reads its training files with datasets' json loader: the types it expects.
    import datasets

    loaded = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.features["pos"].feature.dtype == "string"
    assert loaded.features["neg_scores"].feature.dtype == "float64"
    manifest = json.loads((tmp_path / "fe.jsonl.manifest.json").read_text())
    assert [s["stage"] for s in manifest["steps"]] == ["mine.bm25", "filter", "build", "export"]
    assert manifest["steps"][-1]["params"] == {"to": "flagembedding", "prompt": "Represent this query: ",
                                               "scores": "miner"}
    assert manifest["steps"][-1]["stats"]["scores"] == ("the miner's raw scores, asked for with --scores miner: "
                                                        "bm25 (bm25)")


def test_flagembedding_leaves_out_scores_when_some_are_missing(datasets, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        result = export_dataset(datasets["filled"], tmp_path / "fe.jsonl", to="flagembedding", scores="miner")
    rows = _rows(tmp_path / "fe.jsonl")
    assert result.stats["scores_written"] is False and "pos_scores/neg_scores left out: some" in caplog.text
    assert all(list(r) == ["query", "pos", "neg", "query_id", "pos_ids", "neg_ids"] and len(r["neg"]) == 25
               for r in rows)


def test_triplet_rows_of_one_positive_become_one_record(datasets, tmp_path):
    train, ids = _dataset(datasets["triplet"])
    export_dataset(datasets["triplet"], tmp_path / "fe.jsonl", to="flagembedding", scores="miner")
    rows = _rows(tmp_path / "fe.jsonl")
    assert len(rows) * 2 == train.height  # two negatives, two triplet rows per (query, positive)
    assert rows[0]["neg"] == train["negative"].to_list()[:2]
    assert rows[0]["neg_scores"] == pytest.approx([s[0] for s in ids["negative_scores_bm25"].to_list()[:2]])


def test_tevatron_layout(datasets, sample_files, tmp_path):
    train, ids = _dataset(datasets["ntuple"])
    export_dataset(datasets["ntuple"], tmp_path / "tev.jsonl", to="tevatron")
    rows = _rows(tmp_path / "tev.jsonl")
    assert all(list(r) == ["query_id", "query", "positive_passages", "negative_passages"] for r in rows)
    first, t, i = rows[0], train.row(0, named=True), ids.row(0, named=True)
    corpus = {d: (title, text) for d, title, text in pl.read_parquet(sample_files["corpus"]).iter_rows()}
    assert first["query_id"] == i["query_id"] and first["query"] == t["anchor"]
    title, text = corpus[i["positive_id"]]
    assert title and first["positive_passages"] == [{"docid": i["positive_id"], "title": title, "text": text}]
    assert f"{title} {text}" == t["positive"]  # what the models saw: the title, then the text
    assert [p["docid"] for p in first["negative_passages"]] == i["negative_ids"]
    assert [(p["title"], p["text"]) for p in first["negative_passages"]] == [corpus[d] for d in i["negative_ids"]]
    assert all(list(p) == ["docid", "title", "text"] for r in rows for p in r["negative_passages"])


def test_hf_folder_loads_with_load_from_disk(datasets, tmp_path):
    import datasets as hf

    train, _ = _dataset(datasets["ntuple"])
    export_dataset(datasets["ntuple"], tmp_path / "hf", to="hf")
    loaded = hf.load_from_disk(str(tmp_path / "hf"))
    assert loaded.column_names == ["anchor", "positive", "negative_1", "negative_2"] == train.columns
    assert loaded.to_list() == train.to_dicts()
    manifest = json.loads((tmp_path / "hf" / "manifest.json").read_text())
    assert manifest["steps"][-1]["stage"] == "export" and manifest["version"] == 1


def test_plain_jsonl_is_train_plus_ids(datasets, tmp_path):
    train, ids = _dataset(datasets["ntuple"])
    export_dataset(datasets["ntuple"], tmp_path / "plain.jsonl", to="jsonl")
    rows = _rows(tmp_path / "plain.jsonl")
    assert list(rows[0]) == [*train.columns, *ids.columns]
    assert [r["negative_ids"] for r in rows] == ids["negative_ids"].to_list()
    assert [r["negative_2"] for r in rows] == train["negative_2"].to_list()


def _text_rows(imported) -> list[tuple]:
    """(query, positive, negatives) texts of an import's records."""
    from minekit.inputs.schema import passage_text

    q = dict(imported.queries.select("query_id", "text").iter_rows())
    d = dict(imported.corpus.select("doc_id", passage_text()).iter_rows())
    return [(q[r["query_id"]], d[p], [d[n] for n in r["negative_ids"]])
            for r in imported.rows.iter_rows(named=True) for p in r["positive_ids"]]


@pytest.mark.parametrize("layout", ["flagembedding", "tevatron", "hf", "jsonl"])
def test_importing_an_export_gives_back_the_rows(datasets, tmp_path, layout):
    train, _ = _dataset(datasets["ntuple"])
    expected = [(t["anchor"], t["positive"], [t["negative_1"], t["negative_2"]]) for t in train.iter_rows(named=True)]
    out = tmp_path / ("hf" if layout == "hf" else f"{layout}.jsonl")
    export_dataset(datasets["ntuple"], out, to=layout)
    imported = {"flagembedding": import_flagembedding, "tevatron": import_tevatron, "hf": import_pairs,
                "jsonl": import_pairs}[layout](out)
    assert _text_rows(imported) == expected
    # The negatives come back as a candidates file, each query's in file order.
    negs = imported.negatives
    assert set(negs["source"]) == {"imported"} and negs.filter(pl.col("rank") == 1).height == negs["query_id"].n_unique()


def test_flagembedding_scores_come_back_in_the_candidates(datasets, tmp_path):
    _, ids = _dataset(datasets["ntuple"])
    export_dataset(datasets["ntuple"], tmp_path / "fe.jsonl", to="flagembedding", scores="miner")
    imported = import_flagembedding(tmp_path / "fe.jsonl")
    assert imported.rows["negative_scores"].to_list() == ids["negative_scores_bm25"].to_list()


def test_export_never_overwrites_unless_asked(datasets, tmp_path):
    out = tmp_path / "fe.jsonl"
    export_dataset(datasets["ntuple"], out, to="flagembedding")
    before = out.read_bytes()
    with pytest.raises(ConfigError, match="--overwrite"):
        export_dataset(datasets["ntuple"], out, to="tevatron")
    assert out.read_bytes() == before
    export_dataset(datasets["ntuple"], out, to="tevatron", overwrite=True)
    assert "positive_passages" in out.read_text()


def test_export_cli(datasets, tmp_path):
    out = tmp_path / "fe.jsonl"
    ok = runner.invoke(app, ["export", str(datasets["ntuple"]), "--to", "flagembedding", "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip() == str(out) and out.is_file()
    bad = runner.invoke(app, ["export", str(datasets["ntuple"]), "--to", "sbert", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--to: 'sbert' is not one of flagembedding, tevatron, hf, jsonl" in bad.output
    prompt = runner.invoke(app, ["export", str(datasets["ntuple"]), "--to", "tevatron", "--out", str(tmp_path / "t"),
                                 "--prompt", "q: "])
    assert prompt.exit_code == 2 and "--prompt" in prompt.output and not (tmp_path / "t").exists()


@pytest.mark.parametrize("layout", ["flagembedding", "tevatron", "hf", "jsonl"])
def test_an_import_keeps_the_exported_datasets_provenance(datasets, tmp_path, layout):
    from minekit.io import read_manifest

    out = tmp_path / ("hf" if layout == "hf" else f"{layout}.jsonl")
    export_dataset(datasets["ntuple"], out, to=layout)
    command = {"jsonl": "pairs"}.get(layout, layout)
    result = runner.invoke(app, ["-q", "import", command, str(out), "--out", str(tmp_path / "in")])
    assert result.exit_code == 0, result.output
    for name in ("queries", "positives", "corpus", "negatives"):
        steps = read_manifest(tmp_path / "in" / f"{name}.parquet")["steps"]
        assert [s["stage"] for s in steps] == ["mine.bm25", "filter", "build", "export", f"import.{command}"]
