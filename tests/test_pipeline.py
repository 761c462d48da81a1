"""Pipelines: TOML checks before anything runs, skip of up-to-date steps, resume after a failure, rounds."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from minekit.cli import app

ROOT = Path(__file__).resolve().parents[1]

CHEAP = """\
name = "cheap"

[inputs]
queries = "{queries}"
positives = "{positives}"
corpus = "{corpus}"

[steps.bm25]
run = "mine.bm25"
top_k = 10

[steps.filtered]
run = "filter"
candidates = "@bm25"
range_min = {range_min}

[steps.build]
run = "build"
candidates = ["@filtered"]
name = "demo"
num_negatives = 2
fill = "random"
"""


def _write(tmp_path: Path, files: dict, text: str = CHEAP, name: str = "p.toml", **extra) -> Path:
    path = tmp_path / name
    path.write_text(text.format(**{k: str(v) for k, v in files.items()}, **{"range_min": 1, **extra}))
    return path


def _run(*args: str, **kwargs):
    return CliRunner().invoke(app, ["-q", "run", *map(str, args)], **kwargs)


def _records(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())["steps"]


def _plan(stdout: str) -> dict[str, str]:
    """step -> first word of its plan line (ran / skip / would)."""
    out = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("ran", "skip", "would"):
            out[parts[2] if parts[0] == "would" else parts[1]] = parts[0]
    return out


def test_cheap_pipeline_runs_then_second_run_skips_everything(tmp_path, tiny_files):
    toml = _write(tmp_path, tiny_files)
    runs = tmp_path / "runs"
    first = _run(toml, "--runs-dir", runs)
    assert first.exit_code == 0, first.output
    assert _plan(first.stdout) == {"bm25": "ran", "filtered": "ran", "build": "ran"}
    records = _records(runs / "cheap")
    assert [records[s]["status"] for s in ("bm25", "filtered", "build")] == ["done"] * 3
    assert records["bm25"]["output"] == str(runs / "cheap" / "bm25" / "bm25.parquet")
    assert records["build"]["output"] == str(runs / "cheap" / "build" / "demo" / "v1")
    # counts come from the outputs' manifests; 6 (query, positive) rows (n-tuple: one row each), none lost
    # thanks to fill = random
    assert records["build"]["stats"]["rows_out"] == 6 and records["build"]["stats"]["positives_lost"] == 0
    assert records["filtered"]["stats"]["dropped"]["range_min"] == 5  # rank 1 of each of the 5 queries
    assert all(records[s]["wall_s"] >= 0 for s in records)
    assert "run  bm25 (never run): minekit mine bm25" in (runs / "cheap" / "run.log").read_text()
    mtimes = {p: p.stat().st_mtime_ns for p in (runs / "cheap").rglob("*.parquet")}

    second = _run(toml, "--runs-dir", runs)
    assert second.exit_code == 0, second.output
    assert _plan(second.stdout) == {"bm25": "skip", "filtered": "skip", "build": "skip"}
    assert {p: p.stat().st_mtime_ns for p in (runs / "cheap").rglob("*.parquet")} == mtimes
    assert sorted(p.name for p in (runs / "cheap" / "build" / "demo").iterdir()) == ["v1"]


def test_changing_a_filter_param_reruns_filter_and_build_but_not_mining(tmp_path, tiny_files):
    runs = tmp_path / "runs"
    assert _run(_write(tmp_path, tiny_files), "--runs-dir", runs).exit_code == 0
    bm25 = runs / "cheap" / "bm25" / "bm25.parquet"
    before = bm25.stat().st_mtime_ns
    toml = _write(tmp_path, tiny_files, range_min=2)

    dry = _run(toml, "--runs-dir", runs, "--dry-run")
    assert dry.exit_code == 0, dry.output
    lines = {line.split()[2] if line.startswith("would") else line.split()[1]: line for line in dry.stdout.splitlines()}
    assert lines["bm25"].startswith("skip") and "up to date" in lines["bm25"]
    assert lines["filtered"].startswith("would run") and "params changed: range_min 1 -> 2" in lines["filtered"]
    assert lines["build"].startswith("would run") and "upstream step changed: filtered" in lines["build"]
    assert _records(runs / "cheap")["filtered"]["parts"]["params"]["range_min"] == 1  # dry run changed nothing

    real = _run(toml, "--runs-dir", runs)
    assert _plan(real.stdout) == {"bm25": "skip", "filtered": "ran", "build": "ran"}
    assert bm25.stat().st_mtime_ns == before
    records = _records(runs / "cheap")
    assert records["filtered"]["stats"]["dropped"]["range_min"] == pl.read_parquet(bm25).filter(pl.col("rank") <= 2).height
    assert records["build"]["output"].endswith("demo/v2")  # a new dataset version, v1 kept
    assert (runs / "cheap" / "build" / "demo" / "v1" / "train.parquet").is_file()


def test_force_and_from(tmp_path, tiny_files):
    toml, runs = _write(tmp_path, tiny_files), tmp_path / "runs"
    assert _run(toml, "--runs-dir", runs).exit_code == 0
    assert _plan(_run(toml, "--runs-dir", runs, "--from", "filtered").stdout) == {
        "bm25": "skip", "filtered": "ran", "build": "ran"}
    assert _plan(_run(toml, "--runs-dir", runs, "--force").stdout) == {"bm25": "ran", "filtered": "ran", "build": "ran"}
    bad = _run(toml, "--runs-dir", runs, "--from", "nope")
    assert bad.exit_code == 2 and "--from nope: no such step" in bad.output and "bm25, filtered, build" in bad.output


def test_a_deleted_output_is_made_again(tmp_path, tiny_files):
    toml, runs = _write(tmp_path, tiny_files), tmp_path / "runs"
    assert _run(toml, "--runs-dir", runs).exit_code == 0
    (runs / "cheap" / "filtered" / "filtered.parquet").unlink()
    dry = _run(toml, "--runs-dir", runs, "--dry-run").stdout
    assert "output missing" in dry and "upstream step reruns: filtered" in dry
    assert _plan(_run(toml, "--runs-dir", runs).stdout) == {"bm25": "skip", "filtered": "ran", "build": "ran"}


def test_failure_then_resume_gives_the_same_outputs_as_an_uninterrupted_run(tmp_path, tiny_files, monkeypatch):
    toml = _write(tmp_path, tiny_files)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")  # relative run dirs: the manifests inside the outputs match across a and b
    import importlib

    real_build = importlib.import_module("minekit.dataset.build").build_dataset

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # what Ctrl-C in the middle of build looks like

    monkeypatch.setattr(importlib.import_module("minekit.dataset.build"), "build_dataset", killed)
    broken = _run(toml)
    assert broken.exit_code == 130, broken.output
    assert "step build (build) failed with exit code 130" in broken.output
    records = _records(Path("runs/cheap"))
    assert (records["bm25"]["status"], records["filtered"]["status"], records["build"]["status"]) == (
        "done", "done", "failed")
    assert not Path("runs/cheap/build/demo").exists()

    monkeypatch.setattr(importlib.import_module("minekit.dataset.build"), "build_dataset", real_build)
    resumed = _run(toml)
    assert resumed.exit_code == 0, resumed.output
    assert _plan(resumed.stdout) == {"bm25": "skip", "filtered": "skip", "build": "ran"}

    monkeypatch.chdir(tmp_path / "b")
    assert _run(toml).exit_code == 0
    a, b = tmp_path / "a" / "runs" / "cheap", tmp_path / "b" / "runs" / "cheap"
    for rel in ("bm25/bm25.parquet", "filtered/filtered.parquet", "build/demo/v1/train.parquet",
                "build/demo/v1/ids.parquet"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert _records(a)["build"]["fingerprint"] == _records(b)["build"]["fingerprint"]


def test_a_step_failing_on_bad_input_stops_the_run_with_its_exit_code(tmp_path, tiny_files):
    text = CHEAP.replace('range_min = {range_min}', 'range_min = 5\nrange_max = 2')
    runs = tmp_path / "runs"
    result = _run(_write(tmp_path, tiny_files, text), "--runs-dir", runs)
    assert result.exit_code == 2
    assert "--range-max" in result.output and "step filtered (filter) failed with exit code 2" in result.output
    records = _records(runs / "cheap")
    assert records["bm25"]["status"] == "done" and records["filtered"]["status"] == "failed"
    assert "build" not in records


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("top_k = 10", "top_k = 10\ntop_kk = 3"),
     "p.toml:11: steps.bm25: mine.bm25 has no option 'top_kk' (did you mean 'top_k'?)"),
    (lambda t: t.replace('run = "filter"', 'run = "filtr"'),
     "p.toml:13: steps.filtered: unknown step kind 'filtr' (did you mean 'filter'?)"),
    (lambda t: t.replace("top_k = 10", 'top_k = "ten"'), "p.toml:10: steps.bm25.top_k: Invalid value for '--top-k'"),
    (lambda t: t.replace('candidates = "@bm25"', 'candidates = "@build"'),
     "p.toml:14: steps.filtered.candidates: @build refers to no earlier step (earlier steps: bm25)"),
    (lambda t: t.replace('name = "demo"\n', ""), "p.toml:17: steps.build: build needs 'name'"),
    (lambda t: t.replace('[inputs]', 'seed = 3\n[inputs]'), "p.toml:3: unknown key 'seed' in the top level"),
    (lambda t: t.replace('candidates = "@bm25"', 'candidates = ["@bm25"]'),
     "p.toml:14: steps.filtered.candidates: takes one value, not a list"),
    (lambda t: t.replace('range_min = {range_min}', 'range_min = 1\nkeep_dropped = "yes"'),
     "p.toml:16: steps.filtered.keep_dropped: is a switch; give true or false"),
    (lambda t: t.replace('[steps.bm25]', '[steps.bm25'), "p.toml: not valid TOML"),
    (lambda t: t + '\n[steps.again]\nrun = "run"\n', "unknown step kind 'run'"),
    (lambda t: t.replace('[inputs]', '[inputs]\npositive = "x.parquet"'),
     "p.toml:4: inputs.positive: no step has a required option 'positive'"),
])
def test_bad_pipeline_files_fail_before_anything_runs(tmp_path, tiny_files, edit, message):
    toml = _write(tmp_path, tiny_files, edit(CHEAP))
    result = _run(toml, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output
    assert not (tmp_path / "runs").exists()


ROUNDS = CHEAP + """
[rounds]
count = 2
start = {{ tighter = "@bm25" }}

[rounds.steps.tighter]
run = "filter"
candidates = "@prev.tighter"
range_min = 1

[rounds.steps.data]
run = "build"
candidates = ["@tighter"]
name = "rounds"
num_negatives = 1
"""


def test_rounds_feed_each_round_the_previous_rounds_output(tmp_path, tiny_files):
    runs = tmp_path / "runs"
    result = _run(_write(tmp_path, tiny_files, ROUNDS), "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    records = _records(runs / "cheap")
    assert json.loads((runs / "cheap" / "run.json").read_text())["order"] == [
        "bm25", "filtered", "build", "round1.tighter", "round1.data", "round2.tighter", "round2.data"]
    # round 1 filters bm25's output, round 2 filters round 1's output
    from minekit.io import read_manifest

    for r, source in ((1, records["bm25"]["output"]), (2, records["round1.tighter"]["output"])):
        manifest = read_manifest(records[f"round{r}.tighter"]["output"])
        assert manifest["steps"][-1]["inputs"]["candidates"]["path"] == source
    bm25 = pl.read_parquet(records["bm25"]["output"])
    kept = pl.read_parquet(records["round2.tighter"]["output"])
    assert kept.height == bm25.filter(pl.col("rank") > 1).height and kept["rank"].min() == 2
    assert records["round1.tighter"]["parts"]["upstream"] == {"bm25": records["bm25"]["fingerprint"]}
    assert records["round2.tighter"]["parts"]["upstream"] == {"round1.tighter": records["round1.tighter"]["fingerprint"]}
    # each round's dataset is its own version of one dataset
    assert [records[f"round{r}.data"]["output"] for r in (1, 2)] == [
        str(runs / "cheap" / "data" / "rounds" / "v1"), str(runs / "cheap" / "data" / "rounds" / "v2")]
    again = _run(_write(tmp_path, tiny_files, ROUNDS), "--runs-dir", runs)
    assert set(_plan(again.stdout).values()) == {"skip"}


def test_prev_without_a_start_value_is_an_error(tmp_path, tiny_files):
    text = ROUNDS.replace('start = {{ tighter = "@bm25" }}\n', "")
    result = _run(_write(tmp_path, tiny_files, text), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert "rounds.steps.tighter.candidates: @prev.tighter in round 1 needs rounds.start.tighter" in result.output


MODEL_ROUNDS = """\
name = "ance"

[inputs]
queries = "{queries}"
positives = "{positives}"
corpus = "{corpus}"

[rounds]
count = 2
start = {{ train = "{model}" }}

[rounds.steps.dense]
run = "mine.dense"
model = "@prev.train"
top_k = 5
cache_dir = "none"

[rounds.steps.build]
run = "build"
candidates = ["@dense"]
name = "ance"
num_negatives = 1

[rounds.steps.train]
run = "train"
dataset = "@build"
model = "@prev.train"
max_steps = 2
batch_size = 4
max_seq_length = 32

[rounds.steps.evaluate]
run = "evaluate"
model = "@train"
k = "10"
"""


def test_rounds_mine_with_the_model_the_previous_round_trained(tmp_path, tiny_files, tiny_bi_encoder):
    runs = tmp_path / "runs"
    toml = _write(tmp_path, tiny_files, MODEL_ROUNDS, model=tiny_bi_encoder)
    result = _run(toml, "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    records = _records(runs / "ance")
    assert records["round1.dense"]["parts"]["params"]["model"] == str(tiny_bi_encoder)
    assert records["round2.dense"]["parts"]["params"]["model"] == "@round1.train"
    assert records["round2.train"]["parts"]["upstream"] == {
        "round2.build": records["round2.build"]["fingerprint"], "round1.train": records["round1.train"]["fingerprint"]}
    # round 2 mined with round 1's model: a different model, so its own dataset version
    assert [Path(records[f"round{r}.build"]["output"]).name for r in (1, 2)] == ["v1", "v2"]
    # the run ends with each round's metrics, read from evaluate's metrics.json
    table = result.stdout.split("\n\n")[1].splitlines()
    assert table[0].split()[:3] == ["step", "round", "dataset"] and "ndcg@10" in table[0].split()
    ndcg = table[0].split().index("ndcg@10")
    for row, r in zip(table[1:], (1, 2)):
        metrics = json.loads(Path(records[f"round{r}.evaluate"]["output"]).read_text())
        assert row.split()[:3] == [f"round{r}.evaluate", str(r), records[f"round{r}.build"]["output"]]
        assert row.split()[ndcg] == f"{metrics['ndcg@10']:.4f}"


@pytest.mark.parametrize("name", ["sample", "bm25-only", "dense-denoise", "rounds"])
def test_ready_pipelines_are_valid(name, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # paths in the ready pipelines are relative to the repository root, like the README
    result = _run(f"pipelines/{name}.toml", "--runs-dir", tmp_path / "runs", "--dry-run")
    assert result.exit_code == 0, result.output
    assert set(_plan(result.stdout).values()) == {"would"}
    assert not (tmp_path / "runs").exists()


def test_bm25_only_pipeline_runs_on_the_sample_data(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    runs = tmp_path / "runs"
    result = _run("pipelines/bm25-only.toml", "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    records = _records(runs / "bm25-only")
    train = pl.read_parquet(Path(records["build"]["output"]) / "train.parquet")
    assert train.columns == ["anchor", "positive", "negative_1", "negative_2", "negative_3"]
    assert train.height == pl.read_parquet(ROOT / "sample_data" / "positives.parquet").height  # none lost
    assert records["filtered"]["stats"]["dropped"]["range_min"] > 0


def test_a_step_killed_hard_reruns_and_a_changed_input_file_reruns_from_the_start(tmp_path, tiny_files, tiny):
    toml, runs = _write(tmp_path, tiny_files), tmp_path / "runs"
    assert _run(toml, "--runs-dir", runs).exit_code == 0
    run_json = runs / "cheap" / "run.json"
    state = json.loads(run_json.read_text())
    state["steps"]["build"]["status"] = "running"  # what SIGKILL during build leaves behind
    run_json.write_text(json.dumps(state))
    resumed = _run(toml, "--runs-dir", runs)
    assert _plan(resumed.stdout) == {"bm25": "skip", "filtered": "skip", "build": "ran"}
    assert "last run running" in resumed.stdout
    assert _records(runs / "cheap")["build"]["output"].endswith("demo/v1")  # same inputs: build reuses v1

    _, _, corpus = tiny
    corpus.with_columns(text=corpus["text"] + " extra").write_parquet(tiny_files["corpus"])
    dry = _run(toml, "--runs-dir", runs, "--dry-run").stdout
    assert "input changed: corpus" in dry
    assert set(_plan(dry).values()) == {"would"}
