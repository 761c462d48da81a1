"""Cases of benchmarks/sweep_hostile.py for data a user owns: outputs that would replace an input, a dataset
version or a folder minekit did not write; multi-file outputs cut off by `kill -9`; a second run of one
pipeline; a full disk and read-only places; and errors that used to be unclear.

Each case works on copies in its own scratch folder (its setup makes them), so a case that destroys what
it should not is seen (sweep_hostile checks every file that existed before, byte for byte) without
breaking the cases after it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@contextlib.contextmanager
def _patched(obj, name: str, value):
    saved = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, saved)


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _read_only(folder: str):
    """While a case runs, `folder` takes no new file (root ignores chmod; this is what a read-only place gives)."""
    from minekit import guards

    real = guards.tempfile.mkstemp

    def refuse(*a, dir=None, **k):
        if Path(dir).resolve() == Path(folder).resolve():
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(*a, dir=dir, **k)

    return lambda: _patched(guards.tempfile, "mkstemp", refuse)


def _copy_inputs(f: dict) -> None:
    Path("in").mkdir(exist_ok=True)
    for name in ("queries", "positives", "corpus"):
        shutil.copy(f[name], f"in/{name}.parquet")


def reliability_cases(f: dict, add) -> None:
    """Add the cases; `add(name, args, names, **kw)` is sweep_hostile's."""
    s = {k: str(v) for k, v in f.items()}
    inp = ["--queries", "in/queries.parquet", "--positives", "in/positives.parquet", "--corpus", "in/corpus.parquet"]
    ds = s["dataset"]

    def mydir():  # the case runs one level down, so that '..' is the case's own folder
        Path("here/mydir").mkdir(parents=True)
        Path("here/mydir/thesis.txt").write_text("years of work")
        Path("here/notes.txt").write_text("keep me")
        Path("mine.txt").write_text("keep me too")
        os.chdir("here")

    def own_dataset():
        shutil.copytree(ds, "ds")

    # -- 1-2. export --overwrite replaces only an earlier export, never a dataset version ------------------
    add("export hf --out . --overwrite", ["export", ds, "--to", "hf", "--out", ".", "--overwrite"],
        ["--out", "current folder"], setup=mydir)
    add("export hf --out .. --overwrite", ["export", ds, "--to", "hf", "--out", "..", "--overwrite"],
        ["--out", "current folder"], setup=mydir)
    add("export hf --out mydir --overwrite (not an export)", ["export", ds, "--to", "hf", "--out", "mydir",
                                                              "--overwrite"], ["mydir", "not written by"], setup=mydir)
    add("export hf --out DS --overwrite", ["export", "ds", "--to", "hf", "--out", "ds", "--overwrite"], ["--out"],
        setup=own_dataset)
    add("export jsonl --out DS/train.parquet --overwrite", ["export", "ds", "--to", "jsonl", "--out",
                                                            "ds/train.parquet", "--overwrite"], ["--out", "ds"],
        setup=own_dataset)

    # -- 3. import replaces nothing without --overwrite, and only its own files with it -------------------
    def negatives_there():
        Path("out").mkdir()
        shutil.copy(f["cands"], "out/negatives.parquet")

    def users_queries():
        Path("out").mkdir()
        shutil.copy(f["queries"], "out/queries.parquet")

    add("import pairs into a folder holding negatives.parquet", ["import", "pairs", s["pairs"], "--out", "out"],
        ["negatives.parquet", "--overwrite"], setup=negatives_there)
    add("import --overwrite of a queries.parquet import did not write", ["import", "pairs", s["pairs"], "--out",
                                                                         "out", "--overwrite"],
        ["queries.parquet", "not written by"], setup=users_queries)

    # -- 4-5. an output that is an input; two steps writing one path -------------------------------------
    setup_in = lambda: _copy_inputs(f)  # noqa: E731
    add("mine bm25 --out its --corpus", ["mine", "bm25", *inp, "--out", "in/corpus.parquet"], ["--out", "--corpus"],
        setup=setup_in)
    add("evaluate --out its --positives", ["evaluate", "--model", "bm25", *inp, "--out", "in/positives.parquet"],
        ["--out", "--positives"], setup=setup_in)
    add("report DS --out DS/train.parquet", ["report", "ds", "--out", "ds/train.parquet"], ["--out", "dataset version"],
        setup=own_dataset)

    def pipeline(steps: str):
        def make():
            _copy_inputs(f)
            Path("p.toml").write_text('[inputs]\nqueries = "in/queries.parquet"\npositives = "in/positives.parquet"\n'
                                      'corpus = "in/corpus.parquet"\n\n' + steps)
        return make

    add("run: a step's out is the pipeline's queries", ["run", "p.toml", "--runs-dir", "runs"],
        ["step bm25", "input of the pipeline"],
        setup=pipeline('[steps.bm25]\nrun = "mine.bm25"\nout = "in/queries.parquet"\n'))
    add("run: two steps with one out", ["run", "p.toml", "--runs-dir", "runs"], ["step b", "output of step a"],
        setup=pipeline('[steps.a]\nrun = "mine.bm25"\nout = "x/same.parquet"\n\n'
                       '[steps.b]\nrun = "mine.random"\nout = "x/same.parquet"\n'))

    # -- 6. scores minekit reads are finite ----------------------------------------------------------------
    for value in ("inf", "nan"):
        add(f"build candidates with positive_score {value}", ["build", "--candidates", s[f"k_pos_{value}"],
                                                              "--queries", s["queries"], "--positives",
                                                              s["positives"], "--corpus", s["corpus"], "--name", "d",
                                                              "--out-dir", "ds"], [s[f"k_pos_{value}"],
                                                                                   "positive_score"])
    add("import flagembedding NaN scores", ["import", "flagembedding", s["fe_nan"], "--out", "imp"],
        [s["fe_nan"], "line 1", "NaN or Infinity"])

    _kill_cases(f, add, ds)
    _fault_cases(f, add, ds)
    _unclear_cases(f, add, ds)


def _kill_cases(f: dict, add, ds: str) -> None:
    """8-9: switches cut off by kill -9 are finished by the next run; temps of killed writers go; one run at a time."""
    s = {k: str(v) for k, v in f.items()}

    def import_cut_off():
        import polars as pl

        from minekit.io import write_parquet

        shutil.copytree(f["imported"], "imp")
        new = {n: pl.read_parquet(f"imp/{n}.parquet").head(1) for n in ("queries", "positives", "corpus")}
        temps = {n: Path(f"imp/.{n}.parquet.p1-abcd123{i}.parquet.tmp") for i, n in enumerate(new)}
        for name, frame in new.items():
            write_parquet(frame, temps[name])
        os.replace(temps["queries"], "imp/queries.parquet")  # killed after the first rename
        moves = [[str(temps[n].resolve()), str(Path(f"imp/{n}.parquet").resolve())] for n in new]
        Path(f"imp/.minekit-switch.p{_dead_pid()}-0123abcd.json").write_text(json.dumps({"moves": moves}))

    def one_import():
        import polars as pl

        return all(pl.read_parquet(f"imp/{n}.parquet").height == 1 for n in ("queries", "positives", "corpus"))

    add("validate after an import killed between its renames", ["validate", "--queries", "imp/queries.parquet",
                                                                "--positives", "imp/positives.parquet",
                                                                "--corpus", "imp/corpus.parquet"],
        expect="ok-check", check=one_import, setup=import_cut_off)

    def stale(kind: str):
        def make():
            dead = _dead_pid()
            temp = {"build": f"ds/d/.tmp-p{dead}-abcd1234", "import": f".imp.p{dead}-abcd1234",
                    "export": f".hf.p{dead}-abcd1234"}[kind]
            Path(temp).mkdir(parents=True)
            Path(temp, "half.parquet").write_text("half")
        return make

    def no_temp():
        return not [p for p in Path(".").rglob(".*") if ".p" in p.name and p.name != ".lock"]

    for kind, args in (("build", ["build", "--candidates", s["cands"], "--queries", s["queries"], "--positives",
                                  s["positives"], "--corpus", s["corpus"], "--name", "d", "--out-dir", "ds"]),
                       ("import", ["import", "pairs", s["pairs"], "--out", "imp"]),
                       ("export", ["export", ds, "--to", "hf", "--out", "hf"])):
        add(f"{kind} right after a killed {kind}", args, expect="ok-check", check=no_temp, setup=stale(kind))

    def held():  # another `minekit run` of t_ok holds runs/t_ok for the next 20 s
        Path("runs/t_ok").mkdir(parents=True)
        code = ("import fcntl, os, time\nfd = os.open('runs/t_ok/.lock', os.O_RDWR | os.O_CREAT)\n"
                "fcntl.flock(fd, fcntl.LOCK_EX)\nos.write(fd, str(os.getpid()).encode())\nprint('held', flush=True)\n"
                "time.sleep(20)\n")
        holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        holder.stdout.readline()

    add("run while another run of the pipeline holds it", ["run", s["t_ok"], "--runs-dir", "runs"],
        ["already running", "process"], setup=held)


def _fault_cases(f: dict, add, ds: str) -> None:
    """11 and read-only places: the path is named, nothing is left."""
    import pyarrow.parquet as pq

    s = {k: str(v) for k, v in f.items()}
    inp = ["--queries", s["queries"], "--positives", s["positives"], "--corpus", s["corpus"]]
    full = lambda: _patched(pq, "write_table", _full_disk)  # noqa: E731
    add("mine random on a full disk", ["mine", "random", *inp, "--out", "r.parquet"], ["r.parquet", "no space left"],
        patch=full)
    add("import on a full disk", ["import", "pairs", s["pairs"], "--out", "imp"], ["imp", "no space left"], patch=full)
    add("build on a full disk", ["build", "--candidates", s["cands"], *inp, "--name", "d", "--out-dir", "ds"],
        ["ds", "no space left"], patch=full)

    def ro(folder: str):
        def make():
            Path(folder).mkdir(parents=True, exist_ok=True)
        return make

    for name, args, folder in (
            ("build into a read-only datasets/NAME", ["build", "--candidates", s["cands"], *inp, "--name", "d",
                                                     "--out-dir", "ds"], "ds/d"),
            ("export into a read-only folder", ["export", ds, "--to", "jsonl", "--out", "ro/x.jsonl"], "ro"),
            ("hf export into a read-only folder", ["export", ds, "--to", "hf", "--out", "ro/hf"], "ro"),
            ("import into a read-only folder", ["import", "pairs", s["pairs"], "--out", "ro/imp"], "ro"),
            ("report into a read-only folder", ["report", ds, "--out", "ro/r.html"], "ro")):
        add(name, args, [folder, "not writable"], setup=ro(folder), patch=_read_only(folder))


def _unclear_cases(f: dict, add, ds: str) -> None:
    """Errors that were 'unexpected ...' or misleading."""
    s = {k: str(v) for k, v in f.items()}
    inp = ["--queries", s["queries"], "--positives", s["positives"], "--corpus", s["corpus"]]

    def folder():
        Path("rf").mkdir()

    def notes():
        Path("notes.html").write_text("my notes")

    def run_json(text: str):
        def make():
            Path("run").mkdir()
            Path("run/run.json").write_text(text)
        return make

    add("report --out an existing folder", ["report", ds, "--out", "rf"], ["--out", "is a folder"], setup=folder)
    add("mine bm25 --out ''", ["mine", "bm25", *inp, "--out", ""], ["--out", "empty"])
    add("mine dense --cache-dir a file", ["mine", "dense", *inp, "--out", "d.parquet", "--cache-dir", s["blocker"]],
        ["--cache-dir", "is a file"])
    add("import flagembedding of a parquet file", ["import", "flagembedding", s["cands"], "--out", "imp"],
        [s["cands"], "parquet"])
    add("import flagembedding of a folder", ["import", "flagembedding", s["folder"], "--out", "imp"],
        [s["folder"], "is a folder"])
    add("import hf of an empty saved dataset", ["import", "hf", s["hf_empty"], "--out", "imp"],
        [s["hf_empty"], "no rows"])
    add("report of a damaged run.json", ["report", "run", "--out", "r.html"], ["run/run.json"],
        setup=run_json('{"steps": '))
    add("report of a list run.json", ["report", "run", "--out", "r.html"], ["run/run.json"], setup=run_json("[1, 2]"))
    add("report --metrics with Infinity", ["report", ds, "--out", "r.html", "--metrics", s["m_inf"]],
        [s["m_inf"], "Infinity"])
    add("report --metrics {}", ["report", ds, "--out", "r.html", "--metrics", s["m_empty"]], [s["m_empty"]])
    add("report over a file it did not write", ["report", ds, "--out", "notes.html"], ["notes.html", "not a report"],
        setup=notes)
    add("report --examples -1", ["report", ds, "--out", "r.html", "--examples", "-1"], ["--examples"])
    add("build --simans-a inf", ["build", "--candidates", s["cands"], *inp, "--name", "d", "--simans-a", "inf"],
        ["--simans-a"])
    add("build --num-negatives 100000", ["build", "--candidates", s["cands"], *inp, "--name", "d", "--out-dir",
                                         "ds", "--num-negatives", "100000"], ["--num-negatives", "documents"])
    add("denoise --cross-encoder nosuch", ["denoise", "--candidates", s["cands"], *inp, "--out", "d.parquet",
                                           "--cross-encoder", "nosuch", "--max-score", "0.5"], ["--cross-encoder"])
    add("run --force --from names --from", ["run", s["t_ok"], "--force", "--from", "bm25", "--runs-dir", "runs"],
        ["--from STEP"])
    add("merge a shard with rows cut away", ["merge", s["shard_cut"], s["shard_2"], "--out", "m.parquet"],
        [s["shard_cut"], "rows"])
    add("info of a dataset whose train.parquet was cut", ["info", s["ds_cut"]], [s["ds_cut"], "train.parquet"])
    add("train-reranker on a dataset whose train.parquet was cut", ["train-reranker", "--dataset", s["ds_cut"],
                                                                    "--out", "rr"], [s["ds_cut"], "train.parquet"])


def make_reliability_files(f: dict, src: Path, run) -> None:
    """The files these cases read, under src (sweep_hostile's work/in/); `run` invokes the CLI."""
    import datasets
    import polars as pl
    import pyarrow.parquet as pq

    f["pairs"] = src / "pairs.parquet"
    pl.DataFrame({"anchor": ["what is a cat", "what is a dog"],
                  "positive": ["a cat is a small animal", "a dog barks"]}).write_parquet(f["pairs"])
    f["imported"] = src / "imported"
    assert run(["-q", "import", "pairs", str(f["pairs"]), "--out", str(f["imported"])]).exit_code == 0
    cands = pl.read_parquet(f["cands"])
    for value in ("inf", "nan"):
        f[f"k_pos_{value}"] = src / f"k_pos_{value}.parquet"
        cands.with_columns(pl.lit(float(value)).alias("positive_score"),
                           pl.col("positive_scores").list.eval(pl.lit(float(value)))).write_parquet(f[f"k_pos_{value}"])
    f["fe_nan"] = src / "fe_nan.jsonl"
    f["fe_nan"].write_text('{"query": "q", "pos": ["p"], "neg": ["n"], "pos_scores": [1.0], "neg_scores": [NaN]}\n')
    f["hf_empty"] = src / "hf_empty"
    datasets.Dataset.from_dict({"anchor": [], "positive": []}).save_to_disk(str(f["hf_empty"]))
    for name, text in (("m_inf", '{"ndcg@10": Infinity}'), ("m_empty", "{}")):
        f[name] = src / f"{name}.json"
        f[name].write_text(text)
    inputs = ["--queries", str(f["queries"]), "--positives", str(f["positives"]), "--corpus", str(f["corpus"])]
    for n in (1, 2):
        out = src / f"shard_{n}.parquet"
        assert run(["-q", "mine", "bm25", *inputs, "--out", str(out), "--shard", f"{n}/2"]).exit_code == 0
        f[f"shard_{n}"] = out
    table = pq.read_table(f["shard_1"])
    f["shard_cut"] = src / "shard_cut.parquet"
    pq.write_table(table.slice(0, table.num_rows - 5), f["shard_cut"])
    f["ds_cut"] = src / "ds_cut"
    shutil.copytree(f["dataset"], f["ds_cut"])
    train = pq.read_table(f["dataset"] / "train.parquet")
    pq.write_table(train.slice(0, train.num_rows - 3), f["ds_cut"] / "train.parquet")
