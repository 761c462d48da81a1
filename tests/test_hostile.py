"""Hostile inputs and faults, through the CLI: every kind gets a clear error up front, exit code 2 (bad
input or flags), a message naming the file / column / rows / flag and the fix, and nothing written.

One case per kind of mistake (issue 13); the sweep in benchmarks/sweep_hostile.py tries many more.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from minekit._version import __version__
from minekit.cli import app


def _run(*args) -> "object":
    return CliRunner().invoke(app, ["-q", *map(str, args)])


@pytest.fixture
def files(tiny_inputs) -> dict[str, Path]:
    return tiny_inputs


def _inputs(files: dict[str, Path], **override) -> list[str]:
    chosen = {**files, **override}
    return ["--queries", chosen["queries"], "--positives", chosen["positives"], "--corpus", chosen["corpus"]]


def _written(tmp_path: Path) -> list[str]:
    """Every file or folder under tmp except the inputs, hidden temp files included."""
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                  if p.relative_to(tmp_path).parts[0] != "in")


def _candidates(files, tmp_path) -> Path:
    out = tmp_path / "in" / "bm25.parquet"
    result = _run("mine", "bm25", *_inputs(files), "--out", out, "--top-k", 5, "--cache-dir", tmp_path / "in" / "cache")
    assert result.exit_code == 0, result.output
    return out


def _error(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert "unexpected" not in result.output and "Traceback" not in result.output, result.output
    return result.output


# -- row numbers in cross-reference errors ---------------------------------------------------------

@pytest.mark.parametrize("reverse", [False, True])
def test_unknown_doc_in_positives_is_reported_at_its_row_in_the_file(tiny, tmp_path, files, reverse):
    _, positives, _ = tiny
    rows = pl.concat([positives] * 9 + [pl.DataFrame({"query_id": ["q3"], "doc_id": ["nope"], "score": [1]})])
    rows = rows.reverse() if reverse else rows  # 55 rows: the bad one is row 55, or row 1 reversed
    rows.write_parquet(files["positives"])
    out = _error(_run("validate", *_inputs(files)))
    assert str(files["positives"]) in out and "column 'doc_id'" in out
    assert f"1 row(s) name a document not in the corpus: row {1 if reverse else 55} " in out
    assert "doc_id='nope'" in out and "Fix: add these documents or drop these rows." in out


def test_unknown_query_in_positives_is_reported_at_its_row(tiny, files):
    _, positives, _ = tiny
    bad = pl.concat([positives.head(2), pl.DataFrame({"query_id": ["q9"], "doc_id": ["d01"], "score": [1]}),
                     positives.tail(4)])
    bad.write_parquet(files["positives"])
    out = _error(_run("validate", *_inputs(files)))
    assert "column 'query_id'" in out and "row 3 (query_id='q9'" in out and "Fix: add these queries" in out


# -- candidate ranks --------------------------------------------------------------------------------

@pytest.mark.parametrize("rank, problem", [
    (float("nan"), "are not whole numbers"), (2.5, "are not whole numbers"), (-1, "are below 1"), (0, "are below 1"),
])
def test_bad_ranks_in_candidates_are_named_by_row(files, tmp_path, rank, problem):
    cands = pl.read_parquet(_candidates(files, tmp_path))
    ranks = cands["rank"].cast(pl.Float64 if isinstance(rank, float) else pl.Int64).to_list()
    ranks[3] = rank
    cands.with_columns(pl.Series("rank", ranks)).write_parquet(tmp_path / "in" / "bad.parquet")
    out = _error(_run("filter", "--candidates", tmp_path / "in" / "bad.parquet", "--out", tmp_path / "f.parquet"))
    assert "bad.parquet: column 'rank': 1 row(s) " + problem in out and "row 4 " in out and "Fix:" in out
    assert _written(tmp_path) == []


# -- numeric options are range-checked, by the flag as typed ----------------------------------------

@pytest.mark.parametrize("args, flag", [
    (["mine", "bm25", "--k1", "-1"], "--k1"),
    (["mine", "bm25", "--b", "5"], "--b"),
    (["mine", "passage-bm25", "--top-k", "0"], "--top-k"),
    (["mine", "cluster", "--n-clusters", "0"], "--n-clusters"),
    (["mine", "random", "--seed", "-1"], "--seed"),
    (["mine", "cluster", "--seed", "-1"], "--seed"),
    (["evaluate", "--model", "bm25", "--max-seq-length", "0"], "--max-seq-length"),
])
def test_out_of_range_numbers_stop_before_work(files, tmp_path, args, flag):
    out_args = [] if args[0] == "evaluate" else ["--out", tmp_path / "o.parquet"]
    out = _error(_run(*args, *_inputs(files), *out_args))
    assert f"Invalid value for '{flag}'" in out
    assert _written(tmp_path) == []


@pytest.mark.parametrize("args, flag", [
    (["train", "--warmup-ratio", "5"], "--warmup-ratio"),
    (["train", "--max-seq-length", "0"], "--max-seq-length"),
    (["train", "--seed", "-1"], "--seed"),
    (["train-reranker", "--seed", "-1"], "--seed"),
    (["train-reranker", "--learning-rate", "0"], "--learning-rate"),
])
def test_out_of_range_training_options(tmp_path, args, flag):
    out = _error(_run(*args, "--dataset", tmp_path / "nowhere", "--out", tmp_path / "m"))
    assert f"Invalid value for '{flag}'" in out


def test_build_and_denoise_range_and_choice_checks(files, tmp_path):
    cands = _candidates(files, tmp_path)
    out = _error(_run("build", "--candidates", cands, *_inputs(files), "--name", "d", "--seed", "-1",
                      "--out-dir", tmp_path / "ds"))
    assert "Invalid value for '--seed'" in out
    out = _error(_run("build", "--candidates", cands, *_inputs(files), "--name", "d", "--format", "foo",
                      "--out-dir", tmp_path / "ds"))
    assert "Invalid value for '--format': 'foo' is not one of triplet, n-tuple, labeled-pair" in out
    out = _error(_run("denoise", "--candidates", cands, *_inputs(files), "--out", tmp_path / "o.parquet",
                      "--max-length", "0", "--cross-encoder", "x"))
    assert "Invalid value for '--max-length'" in out
    assert _written(tmp_path) == []


def test_library_config_errors_name_the_flag_not_the_parameter(files, tmp_path):
    out = _error(_run("mine", "cluster", *_inputs(files), "--out", tmp_path / "c.parquet", "--n-clusters", 1000,
                      "--cache-dir", "none"))
    assert "--n-clusters: must be between 1 and the corpus size (20), got 1000." in out
    assert "n_clusters" not in out
    cands = _candidates(files, tmp_path)
    out = _error(_run("filter", "--candidates", cands, "--out", tmp_path / "f.parquet", "--range-min", 5,
                      "--range-max", 2))
    assert "--range-max" in out and "range_max" not in out


# -- empty results are errors that say why ---------------------------------------------------------

def test_build_with_candidates_of_queries_without_positives_makes_no_version(tiny, files, tmp_path):
    cands = pl.read_parquet(_candidates(files, tmp_path))
    cands.filter(pl.col("query_id") == "q5").write_parquet(tmp_path / "in" / "q5.parquet")
    _, positives, _ = tiny
    positives.filter(pl.col("query_id") != "q5").write_parquet(files["positives"])
    out = _error(_run("build", "--candidates", tmp_path / "in" / "q5.parquet", *_inputs(files), "--name", "d",
                      "--out-dir", tmp_path / "ds"))
    assert "build: nothing to write" in out and "none of the 4 queries in --positives has a candidate" in out
    assert "No version was made" in out
    assert _written(tmp_path) == [] or _written(tmp_path) == ["ds", "ds/d"]  # no version, no temp


def test_build_that_fill_cannot_pad_does_not_advise_fill(files, tmp_path):
    cands = _candidates(files, tmp_path)
    out = _error(_run("build", "--candidates", cands, *_inputs(files), "--name", "d", "--num-negatives", 400,
                      "--fill", "random", "--out-dir", tmp_path / "ds"))
    error = next(line for line in out.splitlines() if line.startswith("Error:"))
    # more negatives than the corpus has documents: said before any sampling, with the one fix that works
    assert "--num-negatives 400: the corpus" in error and "has 20 documents" in error
    assert "Fix: lower --num-negatives" in error
    assert "give --fill random" not in error and "pad rows with --fill random" not in error
    assert not list((tmp_path / "ds").rglob("v*"))


def test_queries_that_tokenize_to_nothing(tiny, files, tmp_path):
    queries, _, _ = tiny
    queries.with_columns(pl.lit("the a of and").alias("text")).write_parquet(files["queries"])
    out = _error(_run("mine", "bm25", *_inputs(files), "--out", tmp_path / "b.parquet"))
    assert "queries: none of the 5 queries" in out and "Fix: --stopwords none" in out
    assert _written(tmp_path) == []
    result = CliRunner().invoke(app, ["evaluate", "--model", "bm25", *map(str, _inputs(files))])
    assert result.exit_code == 0, result.output
    assert "5 of 5 queries keep no word after tokenizing" in result.output
    assert "every metric is 0" in result.output


def test_filter_that_drops_everything_writes_nothing(files, tmp_path):
    cands = _candidates(files, tmp_path)
    out = _error(_run("filter", "--candidates", cands, "--out", tmp_path / "f.parquet", "--range-min", 1000))
    assert "filter: nothing to write: all 11 candidates were dropped (--range-min: 11)" in out
    assert "Fix: loosen --range-min." in out
    assert _written(tmp_path) == []


# -- concurrent builds -----------------------------------------------------------------------------

def test_two_identical_builds_at_once_make_one_version(files, tmp_path):
    cands = _candidates(files, tmp_path)
    args = [sys.executable, "-c", "from minekit.cli import main; main()", "-q", "build", "--candidates", str(cands),
            *map(str, _inputs(files)), "--name", "same", "--out-dir", str(tmp_path / "ds")]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert {o.strip() for o, _ in outs} == {str(tmp_path / "ds" / "same" / "v1")}
    assert sorted(p.name for p in (tmp_path / "ds" / "same").iterdir()) == ["v1"]


# -- minekit run ------------------------------------------------------------------------------------

PIPE = """\
[inputs]
queries = "{queries}"
positives = "{positives}"
corpus = "{corpus}"

[steps.bm25]
run = "mine.bm25"
top_k = 5

[steps.filtered]
run = "filter"
candidates = "@bm25"
{extra}
"""


def test_run_reruns_a_step_whose_output_was_truncated(files, tmp_path):
    toml = tmp_path / "in" / "p.toml"
    toml.write_text(PIPE.format(**files, extra="range_min = 1"))
    runs = tmp_path / "runs"
    assert _run("run", toml, "--runs-dir", runs).exit_code == 0
    output = runs / "p" / "bm25" / "bm25.parquet"
    original = output.read_bytes()
    output.write_bytes(original[: len(original) // 2])
    result = _run("run", toml, "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    assert "output changed since it was written" in result.output
    assert output.read_bytes() == original  # rebuilt byte for byte


@pytest.mark.parametrize("extra, key", [("range_min = -3", "range_min"), ('keep_dropped = true\nrange_max = 0',
                                                                           "range_max")])
def test_run_catches_bad_values_before_any_step(files, tmp_path, extra, key):
    toml = tmp_path / "in" / "p.toml"
    toml.write_text(PIPE.format(**files, extra=extra))
    out = _error(_run("run", toml, "--runs-dir", tmp_path / "runs"))
    line = PIPE.format(**files, extra=extra).splitlines().index(next(
        x for x in PIPE.format(**files, extra=extra).splitlines() if x.startswith(key))) + 1
    assert f"{toml}:{line}: steps.filtered.{key}: Invalid value for '--{key.replace('_', '-')}'" in out
    assert _written(tmp_path) == []


def test_run_catches_a_bad_choice_in_a_later_step(files, tmp_path):
    toml = tmp_path / "in" / "p.toml"
    text = PIPE.format(**files, extra="") + '\n[steps.build]\nrun = "build"\ncandidates = ["@filtered"]\nname = "d"\n'
    toml.write_text(text + 'format = "foo"\n')
    out = _error(_run("run", toml, "--runs-dir", tmp_path / "runs"))
    assert f"{toml}:{len(text.splitlines()) + 1}: steps.build.format: Invalid value for '--format': 'foo' is not one of" in out
    assert _written(tmp_path) == []


def test_run_on_a_parquet_file(files, tmp_path):
    out = _error(_run("run", files["corpus"], "--runs-dir", tmp_path / "runs"))
    assert "is not a text file" in out and "TOML pipeline" in out
    out = _error(_run("run", tmp_path / "in", "--runs-dir", tmp_path / "runs"))
    assert "is a folder; give a pipeline .toml file" in out
    assert _written(tmp_path) == []


# -- paths ------------------------------------------------------------------------------------------

def test_a_folder_given_as_an_input_file(files, tmp_path):
    out = _error(_run("validate", *_inputs(files, corpus=tmp_path / "in")))
    assert f"{tmp_path / 'in'}: is a folder, not a corpus parquet file" in out and "file not found" not in out


@pytest.mark.parametrize("command", ["filter", "mine-random", "evaluate", "build", "run", "train", "pseudo"])
def test_outputs_that_cannot_be_written_fail_before_work(files, tmp_path, command):
    cands = _candidates(files, tmp_path)
    blocker = tmp_path / "in" / "a-file"
    blocker.write_text("x")
    args = {
        "filter": (["filter", "--candidates", cands, "--out", tmp_path / "in"], "--out: "),
        "mine-random": (["mine", "random", *_inputs(files), "--out", blocker / "x.parquet"], "--out: "),
        "evaluate": (["evaluate", "--model", "bm25", *_inputs(files), "--out", tmp_path / "in"], "--out: "),
        "build": (["build", "--candidates", cands, *_inputs(files), "--name", "d", "--out-dir", blocker],
                  "--out-dir: "),
        "run": (["run", tmp_path / "in" / "none.toml", "--runs-dir", blocker], "--runs-dir: "),
        "train": (["train", "--dataset", tmp_path / "in", "--out", blocker / "model"], "--out: "),
        "pseudo": (["denoise", "--candidates", cands, *_inputs(files), "--out", tmp_path / "o.parquet",
                    "--cross-encoder", "x", "--pseudo-positives", tmp_path / "in", "--min-positive-score", "0.9"],
                   "--pseudo-positives: "),
    }[command]
    out = _error(_run(*args[0]))
    assert args[1] in out and ("is a folder" in out or "is a file" in out), out
    assert _written(tmp_path) == []


def test_an_unwritable_output_folder_fails_before_work(files, tmp_path, monkeypatch):
    from minekit import guards

    class ReadOnly:  # root ignores chmod; a refused temp file is what a read-only folder gives
        @staticmethod
        def mkstemp(**kwargs):
            raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(guards, "tempfile", ReadOnly)
    out = _error(_run("mine", "random", *_inputs(files), "--out", tmp_path / "ro" / "r.parquet"))
    assert f"--out: cannot write {tmp_path / 'ro' / 'r.parquet'}: {tmp_path} is not writable (Permission denied)" \
        in out and "Fix: choose a folder you can write to" in out
    out = _error(_run("train", "--dataset", tmp_path / "in", "--out", tmp_path / "model"))
    assert "--out: cannot write" in out  # before reading the dataset, long before training
    assert _written(tmp_path) == []


# -- denoise ----------------------------------------------------------------------------------------

def test_denoise_with_candidates_of_unknown_queries(files, tmp_path, tiny_cross_encoder):
    cands = pl.read_parquet(_candidates(files, tmp_path)).with_columns(pl.lit("zz").alias("query_id"))
    cands = cands.with_columns(pl.int_range(1, cands.height + 1).cast(pl.Int32).alias("rank"))
    cands.write_parquet(tmp_path / "in" / "c.parquet")
    out = _error(_run("denoise", "--candidates", tmp_path / "in" / "c.parquet", *_inputs(files),
                      "--out", tmp_path / "o.parquet", "--cross-encoder", tiny_cross_encoder, "--max-score", 0.5))
    assert "c.parquet: column 'query_id': 11 row(s) name a query not in the queries file" in out
    assert "Fix: mine with the same --queries" in out
    assert _written(tmp_path) == []


def test_denoise_refuses_a_bi_encoder_as_cross_encoder(files, tmp_path, tiny_bi_encoder):
    cands = _candidates(files, tmp_path)
    out = _error(_run("denoise", "--candidates", cands, *_inputs(files), "--out", tmp_path / "o.parquet",
                      "--cross-encoder", tiny_bi_encoder, "--max-score", 0.5))
    assert f"--cross-encoder: {tiny_bi_encoder} is a bi-encoder (sentence-transformers) folder" in out
    assert "Fix: train one with `minekit train-reranker`, or use --scorer bi-encoder" in out
    assert _written(tmp_path) == []


# -- compare, info, train on damaged files ---------------------------------------------------------

@pytest.mark.parametrize("content, says", [
    ("[1, 2]", "holds a JSON list"), ('"ndcg"', "holds a JSON str"), ("{}", "has no metric"),
    ("{not json", "cannot be read as metrics JSON"),
])
def test_compare_on_files_that_are_not_metrics(tmp_path, content, says):
    good = tmp_path / "a.json"
    good.write_text(json.dumps({"ndcg@10": 0.5, "queries": 5}))
    bad = tmp_path / "b.json"
    bad.write_text(content)
    out = _error(_run("compare", good, bad))
    assert f"{bad}: {says}" in out


def test_compare_of_metrics_from_different_positives_says_so(tmp_path):
    for name, sha in (("a", "1" * 64), ("b", "2" * 64)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"ndcg@10": 0.5, "queries": 5, "positives_sha256": sha}))
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert result.exit_code == 0
    assert "different positives files" in result.stderr and "ndcg@10" in result.stdout


def test_info_and_train_on_a_corrupt_manifest(files, tmp_path):
    cands = _candidates(files, tmp_path)
    result = _run("build", "--candidates", cands, *_inputs(files), "--name", "d", "--out-dir", tmp_path / "ds")
    version = Path(result.stdout.strip())
    (version / "manifest.json").write_text('{"name": "d", "vers')
    out = _error(_run("info", version))
    assert f"{version / 'manifest.json'}: cannot be read as a minekit manifest" in out and "Fix: rebuild" in out
    out = _error(_run("train", "--dataset", version, "--out", tmp_path / "m"))
    assert "manifest.json: cannot be read as a minekit manifest" in out
    assert not (tmp_path / "m").exists()


# -- temp files of killed runs, umask, version --------------------------------------------------------

def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temp_files_of_killed_runs_are_removed_live_ones_kept(files, tmp_path):
    cands = _candidates(files, tmp_path)
    old = time.time() - 7200
    dead, live = _dead_pid(), os.getpid()
    stale = [tmp_path / f".f.parquet.p{dead}-abcd1234.parquet.tmp", tmp_path / ".f.parquet.zyxw9876.parquet.tmp"]
    kept = [tmp_path / f".f.parquet.p{live}-abcd1234.parquet.tmp", tmp_path / ".f.parquet.notes"]
    for path in stale + kept:
        path.write_text("half")
        os.utime(path, (old, old))
    dataset_tmp = tmp_path / "ds" / "d" / f".tmp-p{dead}-qwer5678"
    dataset_tmp.mkdir(parents=True)
    (dataset_tmp / "train.parquet").write_text("half")
    os.utime(dataset_tmp, (old, old))
    assert _run("filter", "--candidates", cands, "--out", tmp_path / "f.parquet").exit_code == 0
    assert _run("build", "--candidates", cands, *_inputs(files), "--name", "d",
                "--out-dir", tmp_path / "ds").exit_code == 0
    assert [p.exists() for p in stale + kept] == [False, False, True, True]
    assert sorted(p.name for p in (tmp_path / "ds" / "d").iterdir()) == ["v1"]


def test_outputs_respect_the_umask(files, tmp_path):
    previous = os.umask(0o027)
    try:
        cands = _candidates(files, tmp_path)
        result = _run("build", "--candidates", cands, *_inputs(files), "--name", "d", "--out-dir", tmp_path / "ds")
    finally:
        os.umask(previous)
    version = Path(result.stdout.strip())
    assert cands.stat().st_mode & 0o777 == 0o640
    assert version.stat().st_mode & 0o777 == 0o750
    assert {p.stat().st_mode & 0o777 for p in version.iterdir()} == {0o640}


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == __version__
