"""Nothing a user owns is destroyed: outputs never replace inputs, dataset versions, or folders minekit did not
write; multi-file outputs switch as one unit; a pipeline run holds its run folder; faults name the path.

Every data-loss test snapshots each file that existed before and checks it is still there, byte for byte.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from minekit.cli import app


def _run(*args):
    return CliRunner().invoke(app, ["-q", *map(str, args)])


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _refused(result, *says: str, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert "unexpected" not in result.output and "Traceback" not in result.output, result.output
    for text in says:
        assert text in result.output, result.output
    return result.output


@pytest.fixture
def work(tiny_inputs, tmp_path) -> dict[str, Path]:
    """Inputs in tmp/in/, candidates, and one dataset version in tmp/datasets/d/v1."""
    folder = tmp_path / "in"
    f = dict(tiny_inputs)
    f["inputs"] = ["--queries", f["queries"], "--positives", f["positives"], "--corpus", f["corpus"]]
    f["cands"] = folder / "bm25.parquet"
    assert _run("mine", "bm25", *f["inputs"], "--out", f["cands"], "--top-k", 5).exit_code == 0
    built = _run("build", "--candidates", f["cands"], *f["inputs"], "--name", "d", "--out-dir",
                 tmp_path / "datasets", "--num-negatives", 2)
    assert built.exit_code == 0, built.output
    f["dataset"] = tmp_path / "datasets" / "d" / "v1"
    f["pairs"] = _pairs(tmp_path)
    return f


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- 1. export --overwrite replaces only an earlier export ------------------------------------------------

@pytest.mark.parametrize("target", [".", "..", "mine"])
def test_export_overwrite_never_empties_a_folder_it_did_not_write(work, tmp_path, monkeypatch, target):
    here = tmp_path / "here"
    (here / "mine").mkdir(parents=True)
    (here / "mine" / "thesis.txt").write_text("years of work")
    (here / "notes.txt").write_text("keep me")
    monkeypatch.chdir(here)
    before = _snapshot(tmp_path)
    out = _refused(_run("export", work["dataset"], "--to", "hf", "--out", target, "--overwrite"), "--out")
    assert ("current folder" in out) if target != "mine" else ("not written by `minekit export`" in out)
    assert _snapshot(tmp_path) == before


def test_export_overwrite_refuses_a_parent_of_the_dataset(work, tmp_path):
    before = _snapshot(tmp_path)
    _refused(_run("export", work["dataset"], "--to", "hf", "--out", tmp_path / "datasets", "--overwrite"),
             "--out", "holds the input")
    assert _snapshot(tmp_path) == before


def test_export_overwrite_replaces_an_earlier_export(work, tmp_path):
    out = tmp_path / "hf"
    assert _run("export", work["dataset"], "--to", "hf", "--out", out).exit_code == 0
    again = _run("export", work["dataset"], "--to", "hf", "--out", out, "--overwrite")
    assert again.exit_code == 0, again.output
    assert json.loads((out / "manifest.json").read_text())["stage"] == "export"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".hf.")]
    (out / "mine.txt").write_text("a file of the user's own")
    _refused(_run("export", work["dataset"], "--to", "hf", "--out", out, "--overwrite"), "not written by")
    assert (out / "mine.txt").read_text() == "a file of the user's own"


def test_jsonl_overwrite_refuses_a_file_minekit_did_not_export(work, tmp_path):
    mine = tmp_path / "data.jsonl"
    mine.write_text('{"a": 1}\n')
    before = _snapshot(tmp_path)
    _refused(_run("export", work["dataset"], "--to", "jsonl", "--out", mine, "--overwrite"), str(mine))
    assert _snapshot(tmp_path) == before


# -- 2. a dataset version is never changed ---------------------------------------------------------------

@pytest.mark.parametrize("to, inside", [("hf", ""), ("jsonl", "train.parquet"), ("flagembedding", "x.jsonl")])
def test_export_never_writes_into_the_dataset_version(work, tmp_path, to, inside):
    out = work["dataset"] / inside if inside else work["dataset"]
    before = _snapshot(tmp_path)
    _refused(_run("export", work["dataset"], "--to", to, "--out", out, "--overwrite"), "--out")
    assert _snapshot(tmp_path) == before


def test_report_into_a_dataset_version_is_refused(work, tmp_path):
    before = _snapshot(tmp_path)
    _refused(_run("report", work["dataset"], "--out", work["dataset"] / "train.parquet"), "--out",
             "dataset version")
    assert _snapshot(tmp_path) == before


# -- 3. import without --overwrite replaces nothing ------------------------------------------------------

def _pairs(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "pairs.parquet"
    pl.DataFrame({"anchor": ["what is a cat", "what is a dog"],
                  "positive": ["a cat is a small animal", "a dog barks"]}).write_parquet(path)
    return path


def test_import_without_overwrite_keeps_an_existing_negatives_file(work, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "negatives.parquet").write_bytes(work["cands"].read_bytes())
    before = _snapshot(tmp_path)
    _refused(_run("import", "pairs", work["pairs"], "--out", out), "negatives.parquet", "--overwrite")
    assert _snapshot(tmp_path) == before


def test_import_overwrite_replaces_only_files_an_import_wrote(work, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "queries.parquet").write_bytes(work["queries"].read_bytes())  # the user's own, no import manifest
    before = _snapshot(tmp_path)
    _refused(_run("import", "pairs", work["pairs"], "--out", out, "--overwrite"), "not written by `minekit import`")
    assert _snapshot(tmp_path) == before


# -- 4. an output that is an input ----------------------------------------------------------------------

@pytest.mark.parametrize("case", ["mine", "evaluate", "filter", "build-into-version", "import"])
def test_an_output_that_is_an_input_is_refused_before_work(work, tmp_path, case):
    args = {
        "mine": ["mine", "bm25", *work["inputs"], "--out", work["corpus"]],
        "evaluate": ["evaluate", "--model", "bm25", *work["inputs"], "--out", work["positives"]],
        "filter": ["filter", "--candidates", work["cands"], "--out", work["cands"]],
        "build-into-version": ["build", "--candidates", work["cands"], *work["inputs"], "--name", "e",
                               "--out-dir", work["dataset"]],
        "import": ["import", "pairs", work["pairs"], "--out", tmp_path / "in", "--overwrite",
                   "--corpus", work["corpus"]],
    }[case]
    before = _snapshot(tmp_path)
    _refused(_run(*args), "--out")
    assert _snapshot(tmp_path) == before


def test_the_python_api_refuses_an_output_that_is_an_input(work):
    import minekit as mk
    from minekit.errors import ConfigError

    before = work["corpus"].read_bytes()
    with pytest.raises(ConfigError, match="is also the input --corpus") as info:
        mk.mine_random(queries=work["queries"], positives=work["positives"], corpus=work["corpus"],
                       out=work["corpus"])
    assert info.value.param == "out" and work["corpus"].read_bytes() == before


def _pipeline(tmp_path: Path, work, steps: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(f'[inputs]\nqueries = "{work["queries"]}"\npositives = "{work["positives"]}"\n'
                    f'corpus = "{work["corpus"]}"\n\n' + steps)
    return path


def test_run_refuses_a_step_out_that_is_a_pipeline_input(work, tmp_path):
    toml = _pipeline(tmp_path, work, f'[steps.bm25]\nrun = "mine.bm25"\nout = "{work["queries"]}"\n')
    before = _snapshot(tmp_path)
    _refused(_run("run", toml, "--runs-dir", tmp_path / "runs"), "step bm25", "input of the pipeline")
    assert _snapshot(tmp_path) == before and not (tmp_path / "runs").exists()


# -- 5. two steps, one out ------------------------------------------------------------------------------

def test_run_refuses_two_steps_with_one_out(work, tmp_path):
    toml = _pipeline(tmp_path, work, '[steps.a]\nrun = "mine.bm25"\nout = "shared/same.parquet"\n\n'
                                     '[steps.b]\nrun = "mine.random"\nout = "shared/same.parquet"\n')
    out = _refused(_run("run", toml, "--runs-dir", tmp_path / "runs"), "step b", "also the output of step a")
    assert "Fix:" in out and not (tmp_path / "runs").exists()


# -- 8. multi-file outputs switch as one unit; killed writers' temps go -----------------------------------

def _journal(folder: Path, moves: list[tuple[Path, Path]], remove=()) -> Path:
    """The journal a writer killed in the middle of its renames leaves (its pid is dead)."""
    journal = folder / f".minekit-switch.p{_dead_pid()}-0123abcd.json"
    journal.write_text(json.dumps({"moves": [[str(a), str(b)] for a, b in moves], "remove": [str(r) for r in remove]}))
    return journal


def test_an_import_killed_between_its_renames_is_finished_by_the_next_reader(work, tmp_path):
    from minekit.io import atomic_paths, write_parquet

    out = tmp_path / "imp"
    assert _run("import", "pairs", work["pairs"], "--out", out).exit_code == 0
    new = {n: pl.read_parquet(out / f"{n}.parquet").head(1) for n in ("queries", "positives", "corpus")}
    temps = {}
    for name, frame in new.items():  # the new files, written beside their targets as a writer does
        temps[name] = out / f".{name}.parquet.p1-abcd123{len(temps)}.parquet.tmp"
        write_parquet(frame, temps[name])
    os.replace(temps["queries"], out / "queries.parquet")  # killed after the first rename
    _journal(out, [(temps[n], out / f"{n}.parquet") for n in new])
    ok = _run("validate", "--queries", out / "queries.parquet", "--positives", out / "positives.parquet",
              "--corpus", out / "corpus.parquet")
    assert ok.exit_code == 0, ok.output
    for name, frame in new.items():  # every file is the new one, none of the old ones is left
        assert pl.read_parquet(out / f"{name}.parquet").equals(frame)
    assert sorted(p.name for p in out.iterdir()) == ["corpus.parquet", "positives.parquet", "queries.parquet"]
    assert atomic_paths  # the writer's helper: tested through the CLI above


def test_a_killed_jsonl_export_is_finished_with_its_manifest(work, tmp_path):
    out = tmp_path / "x.jsonl"
    assert _run("export", work["dataset"], "--to", "jsonl", "--out", out).exit_code == 0
    manifest = out.with_name("x.jsonl.manifest.json")
    tmp_lines, tmp_manifest = tmp_path / ".x.jsonl.p1-aaaa1111.jsonl.tmp", tmp_path / ".x.jsonl.manifest.json.p1-bbbb2222.json.tmp"
    tmp_lines.write_text("new\n")
    tmp_manifest.write_text(manifest.read_text().replace('"export"', '"export" ', 1))
    os.replace(tmp_manifest, manifest)  # killed after the first of the two renames
    _journal(tmp_path, [(tmp_manifest, manifest), (tmp_lines, out)])
    again = _run("export", work["dataset"], "--to", "jsonl", "--out", out)  # finishes the switch, then refuses
    _refused(again, "already exists")
    assert out.read_text() == "new\n" and not tmp_lines.exists()


def test_hf_export_overwrite_killed_mid_switch_keeps_an_export(work, tmp_path, monkeypatch):
    """Without the one-step exchange, the old folder is renamed aside under a journal: a kill between the two
    renames is finished by the next run, so an export exists at every point."""
    import minekit.io as io

    out = tmp_path / "hf"
    assert _run("export", work["dataset"], "--to", "hf", "--out", out).exit_code == 0
    monkeypatch.setattr(io, "_exchange", lambda a, b: False, raising=False)
    real = os.replace

    def killed(src, dst):
        if Path(dst) == out and Path(src).name.startswith(".hf."):
            raise KeyboardInterrupt  # killed between the two renames: the old export is aside, the new not in
        return real(src, dst)

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        from minekit.handoff.export import export_dataset

        export_dataset(work["dataset"], out, to="hf", overwrite=True)
    monkeypatch.setattr(os, "replace", real)
    journal = next(tmp_path.glob(".minekit-switch.p*.json"))
    journal.rename(journal.with_name(f".minekit-switch.p{_dead_pid()}-0123abcd.json"))  # its writer died
    from minekit.guards import finish_switches

    finish_switches(tmp_path)
    assert (out / "manifest.json").is_file() and (out / "dataset_info.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != ".minekit-cache"]


def test_hf_export_overwrite_swaps_in_one_step(work, tmp_path):
    out = tmp_path / "hf"
    assert _run("export", work["dataset"], "--to", "hf", "--out", out).exit_code == 0
    inode = out.stat().st_ino
    assert _run("export", work["dataset"], "--to", "hf", "--out", out, "--overwrite").exit_code == 0
    assert out.stat().st_ino != inode and (out / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != ".minekit-cache") == []


@pytest.mark.parametrize("writer", ["build", "import", "export"])
def test_temps_of_a_writer_killed_just_now_are_removed_by_the_next_run(work, tmp_path, writer):
    dead = _dead_pid()
    if writer == "build":
        temp = tmp_path / "datasets" / "d" / f".tmp-p{dead}-abcd1234"
        args = ["build", "--candidates", work["cands"], *work["inputs"], "--name", "d", "--out-dir",
                tmp_path / "datasets", "--num-negatives", 1]
    elif writer == "import":
        temp = tmp_path / f".imp.p{dead}-abcd1234"
        args = ["import", "pairs", work["pairs"], "--out", tmp_path / "imp"]
    else:
        temp = tmp_path / f".hf.p{dead}-abcd1234"
        args = ["export", work["dataset"], "--to", "hf", "--out", tmp_path / "hf"]
    temp.mkdir()
    (temp / "half.parquet").write_text("half")
    done = _run(*args)
    assert done.exit_code == 0, done.output
    assert not temp.exists()


def test_embed_removes_the_cache_temps_of_a_killed_encoder(work, tmp_path, tiny_bi_encoder):
    cache = tmp_path / "cache"
    args = ["embed", "--corpus", work["corpus"], "--model", tiny_bi_encoder, "--cache-dir", cache]
    assert _run(*args).exit_code == 0
    folder = next(p for p in cache.iterdir() if p.is_dir())
    dead, live = _dead_pid(), os.getpid()
    killed = folder / f".0.vec.npy.p{dead}-{'a' * 32}.tmp"
    writing = folder / f".1.vec.npy.p{live}-{'b' * 32}.tmp"
    for path in (killed, writing):
        path.write_bytes(b"half")
    again = _run(*args)
    assert again.exit_code == 0, again.output
    assert not killed.exists() and writing.exists()


# -- 9. one `minekit run` per run folder -----------------------------------------------------------------

def test_a_second_run_of_one_pipeline_says_already_running(work, tmp_path):
    import fcntl

    toml = _pipeline(tmp_path, work, '[steps.bm25]\nrun = "mine.bm25"\ntop_k = 3\n')
    lock = tmp_path / "runs" / "p" / ".lock"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nos.write(fd, str(os.getpid()).encode())\n"
        "print('held', flush=True)\ntime.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        out = _refused(_run("run", toml, "--runs-dir", tmp_path / "runs"), "already running",
                       f"process {holder.pid}", code=1)
        assert "not found" not in out and not (tmp_path / "runs" / "p" / "bm25").exists()
    finally:
        holder.kill()
        holder.wait()
    assert fcntl  # the lock is an flock on runs/NAME/.lock
    again = _run("run", toml, "--runs-dir", tmp_path / "runs")
    assert again.exit_code == 0, again.output


# -- 6. every score column minekit reads is finite --------------------------------------------------------

@pytest.mark.parametrize("value", [float("inf"), float("nan")])
@pytest.mark.parametrize("command", ["build", "filter"])
def test_candidates_with_infinite_or_nan_positive_scores_are_refused(work, tmp_path, value, command):
    cands = pl.read_parquet(work["cands"])
    bad = tmp_path / "in" / "bad.parquet"
    cands.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(value).otherwise(pl.col("positive_score"))
                       .alias("positive_score"),
                       pl.col("positive_scores").list.eval(pl.lit(value)).alias("positive_scores")).write_parquet(bad)
    before = _snapshot(tmp_path)
    args = (["build", "--candidates", bad, *work["inputs"], "--name", "z", "--out-dir", tmp_path / "datasets"]
            if command == "build" else ["filter", "--candidates", bad, "--out", tmp_path / "f.parquet"])
    out = _refused(_run(*args), str(bad), "NaN or infinite")
    assert "column 'positive_score'" in out and "1 row(s)" in out and "row 3 " in out
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_import_flagembedding_refuses_nan_and_infinity_scores(tmp_path, literal):
    src = tmp_path / "fe.jsonl"
    src.write_text('{"query": "q one", "pos": ["p one"], "neg": ["n one"], "pos_scores": [1.0], "neg_scores": [0.5]}\n'
                   f'{{"query": "q two", "pos": ["p two"], "neg": ["n two"], "pos_scores": [0.9], '
                   f'"neg_scores": [{literal}]}}\n')
    out = _refused(_run("import", "flagembedding", src, "--out", tmp_path / "imp"), f"{src}: line 2",
                   "'neg_scores'", "NaN or Infinity")
    assert "Fix:" in out and not (tmp_path / "imp").exists()


# -- 10. durable before visible -----------------------------------------------------------------------------

def test_every_rename_that_publishes_work_follows_an_fsync_of_what_it_renames(work, tmp_path, monkeypatch):
    synced, renamed = set(), []
    real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

    def fsync(fd):
        synced.add(os.fstat(fd).st_ino)
        return real_fsync(fd)

    def checked(real):
        def move(src, dst, *args, **kwargs):
            renamed.append((Path(src).name, os.stat(src).st_ino in synced))
            return real(src, dst, *args, **kwargs)
        return move

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", checked(real_replace))
    monkeypatch.setattr(os, "rename", checked(real_rename))
    import minekit.io as io

    monkeypatch.setattr(io, "_exchange", lambda a, b: False, raising=False)  # journaled switch
    for args in (["mine", "random", *work["inputs"], "--out", tmp_path / "r.parquet"],
                 ["build", "--candidates", work["cands"], *work["inputs"], "--name", "e", "--out-dir", tmp_path / "ds"],
                 ["import", "pairs", work["pairs"], "--out", tmp_path / "imp"],
                 ["import", "pairs", work["pairs"], "--out", tmp_path / "imp", "--overwrite"],
                 ["export", work["dataset"], "--to", "jsonl", "--out", tmp_path / "x.jsonl"],
                 ["export", work["dataset"], "--to", "hf", "--out", tmp_path / "hf"],
                 ["export", work["dataset"], "--to", "hf", "--out", tmp_path / "hf", "--overwrite"]):
        result = _run(*args)
        assert result.exit_code == 0, (args, result.output)
    late = [name for name, durable in renamed if not durable]
    assert renamed and late == []


# -- 11. a full disk, a read-only place: the path is named, nothing is left -------------------------------

def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("command", ["mine", "build", "import", "export-jsonl", "export-hf", "report"])
def test_a_full_disk_names_the_output_and_leaves_nothing(work, tmp_path, monkeypatch, command):
    import datasets
    import pyarrow.parquet as pq

    target = {"mine": tmp_path / "r.parquet", "build": tmp_path / "ds", "import": tmp_path / "imp",
              "export-jsonl": tmp_path / "x.jsonl", "export-hf": tmp_path / "hf", "report": tmp_path / "r.html"}[command]
    args = {"mine": ["mine", "random", *work["inputs"], "--out", target],
            "build": ["build", "--candidates", work["cands"], *work["inputs"], "--name", "e", "--out-dir", target],
            "import": ["import", "pairs", work["pairs"], "--out", target],
            "export-jsonl": ["export", work["dataset"], "--to", "jsonl", "--out", target],
            "export-hf": ["export", work["dataset"], "--to", "hf", "--out", target],
            "report": ["report", work["dataset"], "--out", target]}[command]
    if command == "export-hf":
        monkeypatch.setattr(datasets.Dataset, "save_to_disk", _full_disk)
    elif command == "export-jsonl":
        class Full:  # the JSONL file fills the disk half-way
            def __init__(self, *a, **k):
                pass

            def __enter__(self):
                return self

            def __exit__(self, *a):
                return False

            write = staticmethod(_full_disk)

        monkeypatch.setattr("minekit.handoff.export.open", Full, raising=False)
    elif command == "report":
        monkeypatch.setattr(Path, "write_text", _full_disk)
    else:
        monkeypatch.setattr(pq, "write_table", _full_disk)
    before = _snapshot(tmp_path)
    out = _refused(_run(*args), "no space left on the device", code=1)
    assert str(target) in out and "Fix:" in out and "unexpected" not in out
    assert _snapshot(tmp_path) == before
    assert not [p for p in tmp_path.rglob(".*") if p.name != ".lock" and ".minekit-cache" not in p.parts]


@pytest.mark.parametrize("command", ["build-name", "export", "export-hf", "import", "report"])
def test_a_read_only_output_place_is_named_before_work(work, tmp_path, monkeypatch, command):
    from minekit import guards

    place = {"build-name": tmp_path / "datasets" / "d", "export": tmp_path / "ro", "export-hf": tmp_path / "ro",
             "import": tmp_path / "ro", "report": tmp_path / "ro"}[command]
    place.mkdir(exist_ok=True)
    args = {"build-name": ["build", "--candidates", work["cands"], *work["inputs"], "--name", "d", "--out-dir",
                           tmp_path / "datasets", "--num-negatives", 1],
            "export": ["export", work["dataset"], "--to", "jsonl", "--out", place / "x.jsonl"],
            "export-hf": ["export", work["dataset"], "--to", "hf", "--out", place / "hf"],
            "import": ["import", "pairs", work["pairs"], "--out", place / "imp"],
            "report": ["report", work["dataset"], "--out", place / "r.html"]}[command]
    real = guards.tempfile.mkstemp

    def refuse(*a, dir=None, **k):  # root ignores chmod: a refused temp file is what a read-only folder gives
        if Path(dir).resolve() == place.resolve():
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(*a, dir=dir, **k)

    monkeypatch.setattr(guards.tempfile, "mkstemp", refuse)
    before = _snapshot(tmp_path)
    out = _refused(_run(*args), f"{place} is not writable (Permission denied)", "Fix: choose a folder you can write")
    assert "--out" in out
    assert _snapshot(tmp_path) == before


def test_a_permission_error_met_while_writing_names_the_path(work, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    def refused(*a, **k):
        raise PermissionError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(pq, "write_table", refused)
    out = _refused(_run("mine", "random", *work["inputs"], "--out", tmp_path / "r.parquet"), code=1)
    assert f"{tmp_path / 'r.parquet'}: cannot be written (Read-only file system" in out and "Fix:" in out


# -- errors that were unclear: each names the file or flag and says what to do -------------------------------

def _cut(path: Path, rows: int, to: Path) -> Path:
    """A copy of a parquet file with its last `rows` rows cut away (its metadata, the manifest, kept)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    pq.write_table(table.slice(0, table.num_rows - rows), to)
    return to


def _unclear_case(case: str, work, tmp_path: Path) -> tuple[list, list[str]]:
    """(command line, what its error must say) for one case of the list."""
    import shutil

    ds, i = work["dataset"], work["inputs"]
    if case == "report-out-folder":
        (tmp_path / "rf").mkdir()
        return ["report", ds, "--out", tmp_path / "rf"], ["--out", "is a folder"]
    if case == "empty-out":
        return ["mine", "bm25", *i, "--out", ""], ["'--out': it is empty"]
    if case == "cache-dir-file":
        (tmp_path / "afile").write_text("x")
        return ["mine", "dense", *i, "--out", tmp_path / "d.parquet", "--cache-dir", tmp_path / "afile"], \
            ["--cache-dir", "is a file", "'none'"]
    if case == "fe-parquet":
        return ["import", "flagembedding", work["cands"], "--out", tmp_path / "imp"], ["is a parquet file, not JSONL"]
    if case == "fe-folder":
        return ["import", "flagembedding", tmp_path / "in", "--out", tmp_path / "imp"], ["is a folder, not a JSONL"]
    if case == "hf-empty":
        import datasets

        datasets.Dataset.from_dict({"anchor": [], "positive": []}).save_to_disk(str(tmp_path / "hf0"))
        return ["import", "hf", tmp_path / "hf0", "--out", tmp_path / "imp"], ["holds no rows"]
    if case in ("run-json-damaged", "run-json-list"):
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "run.json").write_text('{"steps": ' if case == "run-json-damaged" else "[1, 2]")
        return ["report", tmp_path / "run", "--out", tmp_path / "r.html"], [str(tmp_path / "run" / "run.json")]
    if case in ("metrics-infinity", "metrics-empty"):
        (tmp_path / "m.json").write_text('{"ndcg@10": Infinity}' if case == "metrics-infinity" else "{}")
        return ["report", ds, "--out", tmp_path / "r.html", "--metrics", tmp_path / "m.json"], \
            [str(tmp_path / "m.json"), "Infinity" if case == "metrics-infinity" else "no metric"]
    if case == "cross-encoder-name":
        return ["denoise", "--candidates", work["cands"], *i, "--out", tmp_path / "d.parquet", "--cross-encoder",
                "nosuch", "--max-score", "0.5"], ["--cross-encoder: 'nosuch'"]
    if case == "force-and-from":
        toml = _pipeline(tmp_path, work, '[steps.bm25]\nrun = "mine.bm25"\n')
        return ["run", toml, "--force", "--from", "bm25"], ["--from STEP"]
    if case == "num-negatives-huge":
        return ["build", "--candidates", work["cands"], *i, "--name", "z", "--out-dir", tmp_path / "datasets",
                "--num-negatives", 100000], ["--num-negatives 100000", "documents"]
    if case == "simans-a-inf":
        return ["build", "--candidates", work["cands"], *i, "--name", "z", "--simans-a", "inf"], ["--simans-a"]
    if case == "examples-negative":
        return ["report", ds, "--out", tmp_path / "r.html", "--examples", -1], ["--examples"]
    if case == "report-over-a-file":
        (tmp_path / "notes.html").write_text("my notes")
        return ["report", ds, "--out", tmp_path / "notes.html"], ["not a report minekit wrote"]
    if case == "merge-cut-shard":
        shards = [tmp_path / f"s{n}.parquet" for n in (1, 2)]
        for n, shard in enumerate(shards, 1):
            assert _run("mine", "bm25", *i, "--out", shard, "--shard", f"{n}/2", "--top-k", 3).exit_code == 0
        _cut(shards[0], 2, shards[0])
        return ["merge", *shards, "--out", tmp_path / "m.parquet"], [str(shards[0]), "rows", "manifest"]
    if case in ("info-cut-dataset", "reranker-cut-dataset"):
        cut = tmp_path / "cut"
        shutil.copytree(ds, cut)
        _cut(ds / "train.parquet", 1, cut / "train.parquet")
        args = ["info", cut] if case == "info-cut-dataset" else ["train-reranker", "--dataset", cut, "--out",
                                                                 tmp_path / "rr"]
        return args, [str(cut / "train.parquet"), "sha256"]
    raise AssertionError(case)


UNCLEAR = ["report-out-folder", "empty-out", "cache-dir-file", "fe-parquet", "fe-folder", "hf-empty",
           "run-json-damaged", "run-json-list", "metrics-infinity", "metrics-empty", "cross-encoder-name",
           "force-and-from", "num-negatives-huge", "simans-a-inf", "examples-negative", "report-over-a-file",
           "merge-cut-shard", "info-cut-dataset", "reranker-cut-dataset"]


@pytest.mark.parametrize("case", UNCLEAR)
def test_unclear_errors_are_clear_now(work, tmp_path, case, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import minekit.dataset.build as building

    def no_sampling(*a, **k):
        raise AssertionError("sampling started before the up-front checks")

    monkeypatch.setattr(building, "build_dataset", no_sampling)  # every case here fails before any sampling
    args, says = _unclear_case(case, work, tmp_path)
    before = _snapshot(tmp_path)
    result = _run(*args)
    assert result.exit_code == 2, result.output
    out = _refused(result, *says)
    assert "--model" not in out and "--from-step" not in out
    assert _snapshot(tmp_path) == before


def test_quiet_keeps_huggingface_hub_silent(work, tmp_path, tiny_bi_encoder):
    import minekit

    env = {**os.environ, "PYTHONPATH": str(Path(minekit.__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "minekit", "-q", "mine", "dense", *map(str, work["inputs"]),
                             "--out", str(tmp_path / "d.parquet"), "--model", str(tiny_bi_encoder), "--cache-dir",
                             "none", "--top-k", "3"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
