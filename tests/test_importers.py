"""Importers: BEIR folders and (anchor, positive) pairs become valid minekit inputs."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from minekit.cli import app
from minekit.inputs.importers import import_pairs
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


# -- reliability: every check of `minekit validate`, clear errors, nothing half-written ----------------

def _import(*args):
    return runner.invoke(app, ["import", *args])


def test_beir_errors_name_the_file_and_write_nothing(tmp_path):
    _beir(tmp_path / "beir")
    out = tmp_path / "out"
    (tmp_path / "beir" / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\t0\t1\nq1\t9\t1\n")
    missing = _import("beir", str(tmp_path / "beir"), "--out", str(out))
    assert missing.exit_code == 2
    assert "test.tsv: column 'doc_id': 1 row(s) name a document not in the corpus: row 2" in missing.output
    (tmp_path / "beir" / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\t0\t1\nq1\t1\thigh\n")
    score = _import("beir", str(tmp_path / "beir"), "--out", str(out))
    assert score.exit_code == 2 and "test.tsv: column 'score': 1 row(s) are not numbers: row 2" in score.output
    split = _import("beir", str(tmp_path / "beir"), "--split", "../../etc/x", "--out", str(out))
    assert split.exit_code == 2 and "--split: '../../etc/x' is not a split name" in split.output
    assert not out.exists()


def test_beir_duplicate_id_and_empty_text_are_errors(tmp_path):
    _beir(tmp_path / "beir")
    corpus = tmp_path / "beir" / "corpus.jsonl"
    corpus.write_text(corpus.read_text() + json.dumps({"_id": "1", "title": "", "text": "again"}) + "\n")
    dup = _import("beir", str(tmp_path / "beir"), "--out", str(tmp_path / "o"))
    assert dup.exit_code == 2 and "corpus.jsonl: field '_id': 2 record(s) repeat an id: record 2 (_id='1')" in dup.output
    corpus.write_text(json.dumps({"_id": "0", "title": "t", "text": "  "}) + "\n")
    empty = _import("beir", str(tmp_path / "beir"), "--out", str(tmp_path / "o"))
    assert empty.exit_code == 2 and "corpus.jsonl: line 1: field 'text' is empty" in empty.output
    assert not (tmp_path / "o").exists()


def test_a_list_where_a_string_belongs_names_file_and_line(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"anchor": "a", "positive": "b"}) + "\n" +
                     json.dumps({"anchor": ["x", "y"], "positive": "b"}) + "\n")
    result = _import("pairs", str(pairs), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "pairs.jsonl: line 2: field 'anchor' must be a string, found a list" in result.output
    fe = tmp_path / "fe.jsonl"
    fe.write_text(json.dumps({"query": "q", "pos": "not a list", "neg": []}) + "\n")
    result = _import("flagembedding", str(fe), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "fe.jsonl: line 1: field 'pos' must be a list, found a string" in result.output
    pl.DataFrame({"anchor": [["a", "b"]], "positive": ["p"]}).write_parquet(tmp_path / "l.parquet")
    result = _import("pairs", str(tmp_path / "l.parquet"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "l.parquet: column 'anchor' must hold strings, found List" in result.output


def test_zero_rows_are_an_error_in_parquet_as_in_jsonl(tmp_path):
    pl.DataFrame(schema={"anchor": pl.Utf8, "positive": pl.Utf8}).write_parquet(tmp_path / "empty.parquet")
    (tmp_path / "empty.jsonl").write_text("\n")
    for name, says in (("empty.parquet", "empty.parquet: no rows."), ("empty.jsonl", "empty.jsonl: no records.")):
        result = _import("pairs", str(tmp_path / name), "--out", str(tmp_path / "o"))
        assert result.exit_code == 2 and says in result.output
    assert not (tmp_path / "o").exists()


def test_imports_never_overwrite_without_overwrite(tmp_path):
    pl.DataFrame({"anchor": ["a?"], "positive": ["A."]}).write_parquet(tmp_path / "p.parquet")
    out = tmp_path / "o"
    assert _import("pairs", str(tmp_path / "p.parquet"), "--out", str(out)).exit_code == 0
    before = (out / "queries.parquet").read_bytes()
    pl.DataFrame({"anchor": ["b?"], "positive": ["B."]}).write_parquet(tmp_path / "p.parquet")
    again = _import("pairs", str(tmp_path / "p.parquet"), "--out", str(out))
    assert again.exit_code == 2 and "already holds queries.parquet, positives.parquet, corpus.parquet" in again.output
    assert "--overwrite" in again.output and (out / "queries.parquet").read_bytes() == before
    forced = _import("pairs", str(tmp_path / "p.parquet"), "--out", str(out), "--overwrite")
    assert forced.exit_code == 0
    assert pl.read_parquet(out / "queries.parquet")["text"].to_list() == ["b?"]
    assert sorted(p.name for p in out.iterdir()) == ["corpus.parquet", "positives.parquet", "queries.parquet"]


def test_pairs_with_a_larger_corpus_keep_its_ids(tmp_path):
    corpus = pl.DataFrame({"doc_id": ["c1", "c2", "c3"], "title": ["Solar", "", ""],
                           "text": ["panels make power", "turbines spin", "coffee is brewed"]})
    corpus.write_parquet(tmp_path / "corpus.parquet")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"anchor": a, "positive": p}) + "\n" for a, p in
                             [("how do panels work", "Solar panels make power"), ("what spins", "turbines spin"),
                              ("what is tea", "tea is a drink")]))
    result = _import("pairs", str(pairs), "--corpus", str(tmp_path / "corpus.parquet"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    out = read_inputs(tmp_path / "o" / "queries.parquet", tmp_path / "o" / "positives.parquet",
                      tmp_path / "o" / "corpus.parquet")
    assert out.corpus.height == 4  # the whole corpus, plus the one positive it lacked
    docs = sorted(out.positives["doc_id"].to_list())
    assert docs[:2] == ["c1", "c2"] and docs[2].startswith("d")  # matched by "title text" and by text
    assert "documents_added_to_corpus  1" in result.output


def test_tevatron_one_id_two_texts_is_an_error(tmp_path):
    tev = tmp_path / "tev.jsonl"
    passage = {"docid": "7", "title": "", "text": "one"}
    tev.write_text(json.dumps({"query_id": 1, "query": "q", "positive_passages": [passage]}) + "\n" +
                   json.dumps({"query_id": 2, "query": "r", "positive_passages": [{**passage, "text": "two"}]}) + "\n")
    result = _import("tevatron", str(tev), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "tev.jsonl: line 2: document '7' has another text than at" in result.output and "line 1" in result.output


def test_flagembedding_negatives_become_ranked_candidates(tmp_path):
    fe = tmp_path / "fe.jsonl"
    fe.write_text(json.dumps({"query": "q one", "pos": ["p"], "neg": ["n1", "n2", "p"], "pos_scores": [0.9],
                              "neg_scores": [0.5, 0.7, 0.9]}) + "\n")
    result = _import("flagembedding", str(fe), "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    from minekit.io import read_candidates

    negs = read_candidates(tmp_path / "o" / "negatives.parquet")
    corpus = pl.read_parquet(tmp_path / "o" / "corpus.parquet")
    texts = dict(corpus.select("doc_id", "text").iter_rows())
    assert [(texts[d], r, s) for d, r, s in negs.select("doc_id", "rank", "score").iter_rows()] == [
        ("n1", 1, 0.5), ("n2", 2, pytest.approx(0.7))]
    assert negs["positive_score"].to_list() == [pytest.approx(0.9)] * 2
    assert "is_positive  1" in result.output  # the positive listed among the negatives is dropped, counted


def test_import_beir_keeps_fractional_qrel_scores(tmp_path):
    """A graded qrel of 0.7 is a positive scored 0.7 (not 0, which would drop it and its query); 1.5 stays 1.5."""
    _beir(tmp_path / "beir")
    (tmp_path / "beir" / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\t0\t0.7\nq1\t1\t1.5\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["import", "beir", str(tmp_path / "beir"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    positives = pl.read_parquet(out / "positives.parquet")
    assert positives.rows() == [("q0", "0", 0.7), ("q1", "1", 1.5)]
    assert pl.read_parquet(out / "queries.parquet")["query_id"].to_list() == ["q0", "q1"]


def test_one_order_per_query_keeps_every_records_order():
    from minekit.inputs.negatives import merged_order

    # positive A's negatives x, y, z and positive B's w, y: w must come before y, as in B's record
    assert merged_order([["x", "y", "z"], ["w", "y"]]) == ["x", "w", "y", "z"]
    assert merged_order([["a", "b"], ["b", "a"]]) == ["a", "b"]  # records that disagree: the earlier seen first


def test_a_query_with_two_positives_keeps_each_ones_negatives(tmp_path):
    from minekit.inputs.importers import import_tevatron

    def passage(docid):
        return {"docid": docid, "title": "", "text": f"text of {docid}"}

    lines = [{"query_id": "q1", "query": "a query", "positive_passages": [passage("p1")],
              "negative_passages": [passage("x"), passage("y")]},
             {"query_id": "q1", "query": "a query", "positive_passages": [passage("p2")],
              "negative_passages": [passage("w"), passage("y")]}]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    negs = import_tevatron(path).negatives.sort("rank")
    assert negs.select("doc_id", "rank", "excluded_for").rows() == [
        ("x", 1, ["p2"]), ("w", 2, ["p1"]), ("y", 3, [])]
