"""The input contract: every check names the file, the column and the offending rows, and exits 2."""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from minekit.cli import app
from minekit.errors import InputError
from minekit.io import read_inputs

runner = CliRunner()


def _write(tmp_path, queries=None, positives=None, corpus=None):
    q = queries if queries is not None else pl.DataFrame({"query_id": ["q1", "q2"], "text": ["a b", "c d"]})
    p = positives if positives is not None else pl.DataFrame({"query_id": ["q1", "q2"], "doc_id": ["d1", "d2"]})
    c = corpus if corpus is not None else pl.DataFrame({"doc_id": ["d1", "d2", "d3"], "text": ["a", "c", "e"]})
    paths = {}
    for name, frame in (("queries", q), ("positives", p), ("corpus", c)):
        paths[name] = tmp_path / f"{name}.parquet"
        frame.write_parquet(paths[name])
    return paths


def _error(paths) -> str:
    with pytest.raises(InputError) as info:
        read_inputs(paths["queries"], paths["positives"], paths["corpus"])
    return str(info.value)


def test_valid_inputs_pass_and_integer_ids_become_strings(tmp_path):
    paths = _write(
        tmp_path,
        queries=pl.DataFrame({"query_id": [1, 2], "text": ["a b", "c d"]}),
        positives=pl.DataFrame({"query_id": [1, 2, 2], "doc_id": [10, 20, 30], "score": [1, 2, 0]}),
        corpus=pl.DataFrame({"doc_id": [10, 20, 30], "text": ["a", "c", "e"]}),
    )
    inputs = read_inputs(paths["queries"], paths["positives"], paths["corpus"])
    assert inputs.queries["query_id"].to_list() == ["1", "2"]
    assert inputs.corpus["title"].to_list() == ["", "", ""]
    # score <= 0 is not a positive
    assert inputs.positives.select("query_id", "doc_id").rows() == [("1", "10"), ("2", "20")]


def test_missing_column_names_file_and_column(tmp_path):
    paths = _write(tmp_path, queries=pl.DataFrame({"qid": ["q1"], "text": ["a"]}))
    message = _error(paths)
    assert "queries.parquet" in message and "'query_id'" in message and "found: qid, text" in message


def test_duplicate_ids_list_the_rows(tmp_path):
    paths = _write(tmp_path, corpus=pl.DataFrame({"doc_id": ["d1", "d2", "d1", "d3"], "text": ["a", "c", "x", "e"]}))
    message = _error(paths)
    assert "corpus.parquet" in message and "'doc_id'" in message
    assert "2 row(s) repeat an id" in message and "row 1 (doc_id='d1')" in message and "row 3" in message


def test_null_and_empty_text(tmp_path):
    paths = _write(tmp_path, queries=pl.DataFrame({"query_id": ["q1", "q2", "q3"], "text": ["a", "  ", None]}))
    message = _error(paths)
    assert "queries.parquet: column 'text': 2 row(s) are null or empty" in message
    assert "row 2 (query_id='q2')" in message and "row 3 (query_id='q3')" in message


def test_unknown_query_and_unknown_document(tmp_path):
    paths = _write(tmp_path, positives=pl.DataFrame({"query_id": ["q1", "q9"], "doc_id": ["d1", "d1"]}))
    assert "positives.parquet: column 'query_id': 1 row(s) name a query not in the queries file: row 2" in _error(paths)
    paths = _write(tmp_path, positives=pl.DataFrame({"query_id": ["q1", "q2"], "doc_id": ["d1", "nope"]}))
    assert "column 'doc_id': 1 row(s) name a document not in the corpus: row 2 (query_id='q2', doc_id='nope'" \
        in _error(paths)


def test_empty_file_and_no_positive(tmp_path):
    paths = _write(tmp_path, corpus=pl.DataFrame({"doc_id": [], "text": []}, schema={"doc_id": pl.Utf8,
                                                                                     "text": pl.Utf8}))
    assert "corpus.parquet: the corpus file has no rows" in _error(paths)
    paths = _write(tmp_path, positives=pl.DataFrame({"query_id": ["q1"], "doc_id": ["d1"], "score": [0]}))
    assert "no row has score > 0" in _error(paths)


def test_more_than_five_offenders_are_summarised(tmp_path):
    ids = ["x"] * 8 + ["y"]
    paths = _write(tmp_path, queries=pl.DataFrame({"query_id": ids, "text": ["t"] * 9}))
    message = _error(paths)
    assert "8 row(s) repeat an id" in message and "and 3 more" in message


def test_missing_and_unreadable_files(tmp_path):
    paths = _write(tmp_path)
    paths["corpus"].unlink()
    assert "corpus file not found" in _error(paths)
    paths["corpus"].write_text("not parquet")
    assert "cannot be read as parquet" in _error(paths)


def test_cli_validate_exit_codes(tmp_path):
    paths = _write(tmp_path)
    args = ["validate", "--queries", str(paths["queries"]), "--positives", str(paths["positives"]),
            "--corpus", str(paths["corpus"])]
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    assert "ok: 2 queries, 3 documents, 2 positives for 2 queries" in ok.output
    pl.DataFrame({"query_id": ["q1", "q1"], "text": ["a", "b"]}).write_parquet(paths["queries"])
    bad = runner.invoke(app, args)
    assert bad.exit_code == 2
    assert "Error:" in bad.output and "queries.parquet" in bad.output and "Traceback" not in bad.output
