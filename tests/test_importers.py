"""Importers: BEIR folders and (anchor, positive) pairs become valid minekit inputs."""

from __future__ import annotations

import json

import polars as pl
from typer.testing import CliRunner

from minekit.cli import app
from minekit.importers import import_pairs
from minekit.io import read_inputs

runner = CliRunner()


def _beir(folder):
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for i, (title, text) in enumerate([("Solar", "panels make power"), ("Wind", "turbines spin"),
                                           ("", "coffee is brewed")]):
            f.write(json.dumps({"_id": f"{i}", "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for i, text in enumerate(["how do solar panels work", "what spins", "unused query"]):
            f.write(json.dumps({"_id": f"q{i}", "text": text}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\t0\t1\nq1\t1\t2\nq1\t2\t0\n")


def test_import_beir_cli(tmp_path):
    _beir(tmp_path / "beir")
    out = tmp_path / "out"
    result = runner.invoke(app, ["import", "beir", str(tmp_path / "beir"), "--split", "test", "--out", str(out)])
    assert result.exit_code == 0, result.output
    inputs = read_inputs(out / "queries.parquet", out / "positives.parquet", out / "corpus.parquet")
    assert inputs.queries["query_id"].to_list() == ["q0", "q1"]  # only the split's queries
    assert inputs.positives.select("query_id", "doc_id").rows() == [("q0", "0"), ("q1", "1")]
    assert inputs.corpus.filter(pl.col("doc_id") == "0")["title"].item() == "Solar"


def test_import_beir_unknown_split_lists_the_splits(tmp_path):
    _beir(tmp_path / "beir")
    result = runner.invoke(app, ["import", "beir", str(tmp_path / "beir"), "--split", "train", "--out",
                                 str(tmp_path / "o")])
    assert result.exit_code == 2 and "train.tsv: not found; splits in this folder: test" in result.output


def test_import_pairs_hash_ids_merge_duplicates(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    rows = [("what is bm25", "a ranking function"), ("what is bm25", "a ranking function"),
            ("what is bm25", "a bag of words scorer"), ("define faiss", "a ranking function")]
    pairs.write_text("".join(json.dumps({"anchor": a, "positive": p}) + "\n" for a, p in rows))
    result = import_pairs(pairs)
    assert result.queries.height == 2 and result.corpus.height == 2 and result.positives.height == 3
    assert result.stats["duplicate_pairs_merged"] == 1
    again = import_pairs(pairs)
    assert again.queries.equals(result.queries)  # ids are content hashes: stable
    assert all(q.startswith("q") and len(q) == 17 for q in result.queries["query_id"])


def test_import_pairs_cli_parquet_with_other_column_names(tmp_path):
    pl.DataFrame({"question": ["a?", "b?"], "answer": ["A.", "B."]}).write_parquet(tmp_path / "p.parquet")
    bad = runner.invoke(app, ["import", "pairs", str(tmp_path / "p.parquet"), "--out", str(tmp_path / "o")])
    assert bad.exit_code == 2 and "missing column(s) anchor, positive" in bad.output
    ok = runner.invoke(app, ["import", "pairs", str(tmp_path / "p.parquet"), "--out", str(tmp_path / "o"),
                             "--anchor-column", "question", "--positive-column", "answer"])
    assert ok.exit_code == 0, ok.output
    assert pl.read_parquet(tmp_path / "o" / "positives.parquet").height == 2
