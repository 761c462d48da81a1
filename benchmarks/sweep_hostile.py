"""Hostile-input sweep: many bad files, values, options, paths and faults, tried on every command.

Each case runs the real CLI in-process (typer's CliRunner) in a scratch folder holding copies of
sample_data/ plus a few files made from them (candidates, a dataset, metrics). A case is:

- clear:          a non-zero exit, one "Error: ..." line naming what the case expects (the flag as
                  typed, the file, the column), no "unexpected"/traceback, and nothing new left behind
                  (no output, no temp file); for faults, the expected recovery or warning.
- weak:           refused, but with "unexpected ...", a traceback, a message missing what it should
                  name, or files left behind.
- silently wrong: exit 0 where the input was wrong (or a fault went unnoticed), or a file that existed
                  before the case (in its folder or among the shared inputs) is gone or changed.

The cases about data a user owns, `kill -9`, concurrency, a full disk and read-only places are in
benchmarks/sweep_reliability.py.

    python benchmarks/sweep_hostile.py            # prints the counts, then every case not clear
    python benchmarks/sweep_hostile.py -v         # every case with its first error line
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_reliability import make_reliability_files, reliability_cases  # noqa: E402
SAMPLE = ROOT / "sample_data"


@dataclass
class Case:
    name: str
    args: list
    names: list[str] = field(default_factory=list)  # what a clear message must mention
    expect: str = "error"  # error | warn | ok-rerun
    warn: str = ""  # text the output must hold (expect == "warn" / "ok-rerun")
    setup: object = None  # callable run before the case (in the scratch folder)
    check: object = None  # expect == "ok-check": callable, True when the run left what it should
    patch: object = None  # callable giving a context manager active while the case runs (a full disk, ...)


def _write(frame, path: Path) -> Path:
    frame.write_parquet(path)
    return path


def make_files(work: Path) -> dict[str, Path]:
    """Inputs, good intermediate files, and broken variants of each, under work/in/."""
    import polars as pl

    from minekit.cli import app
    from typer.testing import CliRunner

    src = work / "in"
    src.mkdir()
    f: dict[str, Path] = {}
    for name in ("queries", "positives", "corpus"):
        f[name] = Path(shutil.copy(SAMPLE / f"{name}.parquet", src / f"{name}.parquet"))
    q, p, c = (pl.read_parquet(f[n]) for n in ("queries", "positives", "corpus"))
    run = CliRunner().invoke
    inputs = ["--queries", str(f["queries"]), "--positives", str(f["positives"]), "--corpus", str(f["corpus"])]
    f["cands"] = src / "bm25.parquet"
    assert run(app, ["-q", "mine", "bm25", *inputs, "--out", str(f["cands"]), "--top-k", "10"]).exit_code == 0
    result = run(app, ["-q", "build", "--candidates", str(f["cands"]), *inputs, "--name", "ds",
                       "--out-dir", str(src / "datasets")])
    f["dataset"] = Path(result.stdout.strip())
    f["metrics"] = src / "metrics.json"
    f["metrics"].write_text(json.dumps({"model": "bm25", "ndcg@10": 0.3, "queries": 40, "documents": 325,
                                        "positives_sha256": "a" * 64}))
    cands = pl.read_parquet(f["cands"])

    # broken inputs, one file each
    bad = {
        "q_dup": q.with_columns(pl.when(pl.int_range(pl.len()) == 7).then(pl.lit(q["query_id"][0]))
                                .otherwise(pl.col("query_id")).alias("query_id")),
        "q_null": q.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("query_id"))
                                 .alias("query_id")),
        "q_empty_text": q.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("  "))
                                       .otherwise(pl.col("text")).alias("text")),
        "q_nocol": q.rename({"text": "question"}),
        "q_float_id": q.with_columns(pl.int_range(pl.len()).cast(pl.Float64).alias("query_id")),
        "q_zero": q.head(0),
        "q_stop": q.with_columns(pl.lit("the and of a").alias("text")),
        "c_dup": c.with_columns(pl.when(pl.int_range(pl.len()) == 9).then(pl.lit(c["doc_id"][0]))
                                .otherwise(pl.col("doc_id")).alias("doc_id")),
        "c_null_text": c.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(None).otherwise(pl.col("text"))
                                      .alias("text")),
        "c_nocol": c.drop("doc_id"),
        "c_title_int": c.with_columns(pl.lit(3).alias("title")),
        "c_zero": c.head(0),
        "p_unknown_doc": pl.concat([p.with_columns(pl.col("score").cast(pl.Int64)),
                                    pl.DataFrame({"query_id": [p["query_id"][0]], "doc_id": ["nope"],
                                                  "score": [1]})]),
        "p_unknown_q": pl.concat([pl.DataFrame({"query_id": ["nope"], "doc_id": [p["doc_id"][0]], "score": [1]}),
                                  p.with_columns(pl.col("score").cast(pl.Int64))]),
        "p_str_score": p.with_columns(pl.lit("high").alias("score")),
        "p_all_zero": p.with_columns(pl.lit(0).alias("score")),
        "p_nocol": p.drop("doc_id"),
        "p_null": p.with_columns(pl.when(pl.int_range(pl.len()) == 4).then(None).otherwise(pl.col("doc_id"))
                                 .alias("doc_id")),
        "p_zero": p.head(0),
        "p_other_queries": p.filter(pl.col("query_id") != p["query_id"][0]),
        "k_rank_nan": cands.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(float("nan"))
                                         .otherwise(pl.col("rank").cast(pl.Float64)).alias("rank")),
        "k_rank_float": cands.with_columns((pl.col("rank").cast(pl.Float64) + 0.5).alias("rank")),
        "k_rank_neg": cands.with_columns(pl.when(pl.int_range(pl.len()) == 6).then(-1)
                                         .otherwise(pl.col("rank")).alias("rank")),
        "k_rank_zero": cands.with_columns(pl.lit(0, dtype=pl.Int32).alias("rank")),
        "k_rank_str": cands.with_columns(pl.col("rank").cast(pl.Utf8)),
        "k_score_nan": cands.with_columns(pl.lit(float("nan")).alias("score")),
        "k_nocol": cands.drop("source"),
        "k_dup": pl.concat([cands, cands.head(3)]),
        "k_unknown_doc": cands.with_columns(pl.lit("nope").alias("doc_id")).head(1),
        "k_unknown_q": cands.with_columns(pl.when(pl.col("query_id") == p["query_id"][0]).then(pl.lit("nope"))
                                          .otherwise(pl.col("query_id")).alias("query_id")),
        "k_zero": cands.head(0),
        "k_null_q": cands.with_columns(pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise(pl.col("query_id"))
                                       .alias("query_id")),
        "k_first_query": cands.filter(pl.col("query_id") == p["query_id"][0]),
    }
    for name, frame in bad.items():
        f[name] = _write(frame, src / f"{name}.parquet")
    f["text_file"] = src / "notes.parquet"
    f["text_file"].write_text("query_id,text\nq1,hello\n")
    f["folder"] = src / "a-folder"
    f["folder"].mkdir()
    f["blocker"] = src / "a-file"
    f["blocker"].write_text("x")
    # datasets with damage
    for name, damage in (("ds_bad_manifest", '{"name": "x", "vers'), ("ds_list_manifest", "[1, 2]")):
        folder = src / name
        shutil.copytree(f["dataset"], folder)
        (folder / "manifest.json").write_text(damage)
        f[name] = folder
    f["ds_no_train"] = src / "ds_no_train"
    f["ds_no_train"].mkdir()
    # metrics variants
    for name, content in (("m_list", "[1, 2]"), ("m_str", '"ndcg"'), ("m_empty", "{}"), ("m_bad", "{not json"),
                          ("m_other_pos", json.dumps({"model": "x", "ndcg@10": 0.4, "queries": 40, "documents": 325,
                                                      "positives_sha256": "b" * 64}))):
        f[name] = src / f"{name}.json"
        f[name].write_text(content)
    # pipelines
    base = (f'[inputs]\nqueries = "{f["queries"]}"\npositives = "{f["positives"]}"\ncorpus = "{f["corpus"]}"\n\n'
            '[steps.bm25]\nrun = "mine.bm25"\ntop_k = 5\n\n[steps.filtered]\nrun = "filter"\ncandidates = "@bm25"\n')
    tomls = {
        "t_ok": base,
        "t_range_min": base + "range_min = -3\n",
        "t_range_max": base + "range_max = 0\n",
        "t_format": base + '\n[steps.build]\nrun = "build"\ncandidates = ["@filtered"]\nname = "d"\nformat = "foo"\n',
        "t_fill": base + '\n[steps.build]\nrun = "build"\ncandidates = ["@filtered"]\nname = "d"\nfill = "yes"\n',
        "t_seed": base + '\n[steps.build]\nrun = "build"\ncandidates = ["@filtered"]\nname = "d"\nseed = -1\n',
        "t_k1": base.replace("top_k = 5", "top_k = 5\nk1 = -1"),
        "t_topk_str": base.replace("top_k = 5", 'top_k = "ten"'),
        "t_unknown_opt": base.replace("top_k = 5", "top_kk = 5"),
        "t_unknown_kind": base.replace('run = "filter"', 'run = "filtr"'),
        "t_bad_ref": base.replace('"@bm25"', '"@nothing"'),
        "t_bad_toml": base.replace("[steps.bm25]", "[steps.bm25"),
        "t_switch": base + 'keep_dropped = "yes"\n',
        "t_table": base + "range_min = {a = 1}\n",
        "t_warmup": base + '\n[steps.build]\nrun = "build"\ncandidates = ["@filtered"]\nname = "d"\n\n'
                           '[steps.train]\nrun = "train"\ndataset = "@build"\nwarmup_ratio = 5\n',
        "t_nsteps": 'name = "x y"\n' + base,
    }
    for name, text in tomls.items():
        f[name] = src / f"{name}.toml"
        f[name].write_text(text)
    make_reliability_files(f, src, lambda args: run(app, args))
    return f


def cases(f: dict[str, Path]) -> list[Case]:
    s = {k: str(v) for k, v in f.items()}
    inp = ["--queries", s["queries"], "--positives", s["positives"], "--corpus", s["corpus"]]
    out = ["--out", "o.parquet"]
    found: list[Case] = []

    def add(name, args, names=(), **kw):
        found.append(Case(name, [str(a) for a in args], list(names), **kw))

    # -- numeric and choice options, every command --------------------------------------------------
    miners = {
        "mine bm25": ["mine", "bm25", *inp, *out],
        "mine passage-bm25": ["mine", "passage-bm25", *inp, *out],
        "mine dense": ["mine", "dense", *inp, *out, "--cache-dir", "none"],
        "mine cluster": ["mine", "cluster", *inp, *out, "--cache-dir", "none"],
        "mine random": ["mine", "random", *inp, *out],
    }
    for cmd, base in miners.items():
        for value in ("0", "-5", "ten"):
            add(f"{cmd} --top-k {value}", [*base, "--top-k", value], ["--top-k"])
    for cmd in ("mine bm25", "mine passage-bm25"):
        for flag, values in (("--k1", ("-1", "nan", "x")), ("--b", ("-0.1", "5", "nan")), ("--method", ("foo",)),
                             ("--stopwords", ("klingon",)), ("--stemmer", ("klingon",))):
            for value in values:
                add(f"{cmd} {flag} {value}", [*miners[cmd], flag, value], [flag])
    for flag, values in (("--batch-size", ("0", "-1")), ("--nlist", ("0",)), ("--nprobe", ("0",)),
                         ("--hnsw-m", ("1",)), ("--ef-search", ("0",)), ("--index", ("foo",)),
                         ("--query-from", ("foo",)), ("--precision", ("float8",)), ("--backend", ("onnx",))):
        for value in values:
            add(f"mine dense {flag} {value}", [*miners["mine dense"], flag, value], [flag])
    add("mine dense --nlist with flat index", [*miners["mine dense"], "--nlist", "4"], ["--nlist"])
    for flag, values in (("--n-clusters", ("0", "-3", "100000")), ("--clusters-per-query", ("0",)),
                         ("--niter", ("0",)), ("--seed", ("-1", str(2**40))), ("--batch-size", ("0",))):
        for value in values:
            add(f"mine cluster {flag} {value}", [*miners["mine cluster"], flag, value], [flag])
    add("mine cluster --centroids missing", [*miners["mine cluster"], "--centroids", "nope.npy"], ["centroids"])
    add("mine cluster --centroids parquet", [*miners["mine cluster"], "--centroids", s["cands"]], ["centroids"])
    for value in ("-1", str(2**40), "x"):
        add(f"mine random --seed {value}", [*miners["mine random"], "--seed", value], ["--seed"])

    fil = ["filter", "--candidates", s["cands"], *out]
    for flag, value in (("--range-min", "-3"), ("--range-max", "0"), ("--range-max", "-1"), ("--min-score", "nan"),
                        ("--max-score", "nan"), ("--range-min", "x")):
        add(f"filter {flag} {value}", [*fil, flag, value], [flag])
    add("filter --range-max < --range-min", [*fil, "--range-min", "5", "--range-max", "2"], ["--range-max"])

    bld = ["build", "--candidates", s["cands"], *inp, "--name", "d", "--out-dir", "ds"]
    for flag, values in (("--num-negatives", ("0", "-1")), ("--format", ("foo", "triplets")),
                         ("--sampling-strategy", ("best",)), ("--fill", ("yes",)), ("--seed", ("-1", str(2**40)))):
        for value in values:
            add(f"build {flag} {value}", [*bld, flag, value], [flag])
    for value in ("../x", "a/b", "", ".hidden", "x" * 200):
        add(f"build --name {value[:12]!r}", [*bld[:-4], "--name", value, "--out-dir", "ds"], ["--name"])

    den = ["denoise", "--candidates", s["cands"], *inp, *out, "--cross-encoder", "nowhere"]
    for flag, value in (("--batch-size", "0"), ("--max-length", "0"), ("--llm-concurrency", "0"),
                        ("--llm-retries", "-1"), ("--llm-timeout", "0"), ("--scorer", "foo"),
                        ("--relative-margin", "1.5")):
        add(f"denoise {flag} {value}", [*den, flag, value], [flag])
    add("denoise --pseudo-positives alone", [*den, "--pseudo-positives", "pp.parquet"], ["--pseudo-positives"])
    add("denoise --llm-model alone", [*den, "--llm-model", "x"], ["--llm-model"])
    add("denoise --llm-judge without model", [*den, "--llm-judge", "http://127.0.0.1:9/v1"], ["--llm-model"])
    add("denoise bi-encoder with --cross-encoder", [*den, "--scorer", "bi-encoder"], ["--cross-encoder"])

    trn = ["train", "--dataset", s["dataset"], "--out", "m"]
    for flag, values in (("--epochs", ("0", "-1")), ("--batch-size", ("0",)), ("--learning-rate", ("0", "-1")),
                         ("--warmup-ratio", ("5", "-0.1", "1")), ("--max-seq-length", ("0",)), ("--max-steps", ("0",)),
                         ("--mini-batch-size", ("0",)), ("--loss", ("foo",)), ("--seed", ("-1",))):
        for value in values:
            add(f"train {flag} {value}", [*trn, flag, value], [flag])
    add("train --guide without gist", [*trn, "--guide", "default"], ["--guide"])
    add("train --loss gist without guide", [*trn, "--loss", "gist"], ["--guide"])
    add("train --mini-batch-size without cached-mnrl", [*trn, "--mini-batch-size", "4"], ["--mini-batch-size"])
    rr = ["train-reranker", "--dataset", s["dataset"], "--out", "r"]
    for flag, values in (("--epochs", ("0",)), ("--batch-size", ("0",)), ("--learning-rate", ("0",)),
                         ("--warmup-ratio", ("1", "5")), ("--max-length", ("0", "4")), ("--max-steps", ("0",)),
                         ("--seed", ("-1",))):
        for value in values:
            add(f"train-reranker {flag} {value}", [*rr, flag, value], [flag])

    ev = ["evaluate", "--model", "bm25", *inp]
    for flag, value in (("--batch-size", "0"), ("--max-seq-length", "0"), ("--k", "abc"), ("--k", "0"),
                        ("--k", ","), ("--k", "-5")):
        add(f"evaluate {flag} {value}", [*ev, flag, value], [flag])
    add("evaluate bm25 with --max-seq-length", [*ev, "--max-seq-length", "16"], ["--max-seq-length"])
    add("evaluate bm25 with --trust-remote-code", [*ev, "--trust-remote-code"], ["--trust-remote-code"])

    # -- bad input files, every role --------------------------------------------------------------
    roles = {"queries": ("q_dup", "q_null", "q_empty_text", "q_nocol", "q_float_id", "q_zero"),
             "corpus": ("c_dup", "c_null_text", "c_nocol", "c_title_int", "c_zero"),
             "positives": ("p_unknown_doc", "p_unknown_q", "p_str_score", "p_all_zero", "p_nocol", "p_null",
                           "p_zero")}
    for role, bads in roles.items():
        for bad in (*bads, "text_file", "folder"):
            swapped = [s[bad] if a == s[role] else a for a in inp]
            add(f"validate {role}={bad}", ["validate", *swapped], [s[bad]])
        add(f"validate {role} missing", ["validate", *[("nope.parquet" if a == s[role] else a) for a in inp]],
            ["nope.parquet"])
        for cmd in ("mine bm25", "mine random"):
            swapped = [s[bads[0]] if a == s[role] else a for a in miners[cmd]]
            add(f"{cmd} {role}={bads[0]}", swapped, [s[bads[0]]])
    add("validate: unknown doc row", ["validate", *[s["p_unknown_doc"] if a == s["positives"] else a for a in inp]],
        ["row 56 "])
    add("validate: unknown query row", ["validate", *[s["p_unknown_q"] if a == s["positives"] else a for a in inp]],
        ["row 1 "])

    for bad in ("k_rank_nan", "k_rank_float", "k_rank_neg", "k_rank_zero", "k_rank_str", "k_score_nan", "k_nocol",
                "k_dup", "k_zero", "k_null_q", "text_file", "folder"):
        add(f"filter candidates={bad}", ["filter", "--candidates", s[bad], *out], [s[bad]])
        add(f"build candidates={bad}", ["build", "--candidates", s[bad], *inp, "--name", "d", "--out-dir", "ds"],
            [s[bad]])
    for bad in ("k_unknown_doc", "k_unknown_q"):
        add(f"build candidates={bad}", ["build", "--candidates", s[bad], *inp, "--name", "d", "--out-dir", "ds"],
            [s[bad]])
        add(f"denoise candidates={bad}", ["denoise", "--candidates", s[bad], *inp, *out, "--cross-encoder",
                                          "nowhere", "--max-score", "0.5"], [s[bad]])

    # -- empty results --------------------------------------------------------------------------------
    add("filter drops everything", [*fil, "--range-min", "1000"], ["nothing to write", "--range-min"])
    add("filter --max-score below all", [*fil, "--max-score", "-1000"], ["nothing to write", "--max-score"])
    add("mine bm25 stopword-only queries", ["mine", "bm25", *[s["q_stop"] if a == s["queries"] else a for a in inp],
                                            *out], ["--stopwords none"])
    add("build candidates of queries without positives",
        ["build", "--candidates", s["k_first_query"], *[s["p_other_queries"] if a == s["positives"] else a
                                                         for a in inp], "--name", "d", "--out-dir", "ds"],
        ["nothing to write", "No version"])
    add("build --num-negatives 400 --fill random", [*bld, "--num-negatives", "400", "--fill", "random"],
        ["--num-negatives", "325 documents"])
    add("build --num-negatives 50 --fill none (too few candidates)", [*bld, "--num-negatives", "50", "--fill", "none"],
        ["nothing to write", "--num-negatives"])
    add("evaluate bm25 stopword-only queries", ["evaluate", "--model", "bm25",
                                                *[s["q_stop"] if a == s["queries"] else a for a in inp]],
        expect="warn", warn="keep no word after tokenizing")

    # -- output paths ------------------------------------------------------------------------------------
    without_out = {
        "mine bm25": ["mine", "bm25", *inp], "mine random": ["mine", "random", *inp],
        "mine dense": ["mine", "dense", *inp, "--cache-dir", "none"], "filter": ["filter", "--candidates", s["cands"]],
        "denoise": ["denoise", "--candidates", s["cands"], *inp, "--cross-encoder", "nowhere", "--max-score", "0.5"],
    }
    for cmd, head in without_out.items():
        add(f"{cmd} --out folder", [*head, "--out", s["folder"]], ["--out", "is a folder"])
        add(f"{cmd} --out under a file", [*head, "--out", s["blocker"] + "/x.parquet"], ["--out", "a file"])
    add("evaluate --out folder", [*ev, "--out", s["folder"]], ["--out", "is a folder"])
    add("build --out-dir is a file", [*bld[:-2], "--out-dir", s["blocker"]], ["--out-dir", "is a file"])
    add("train --out is a file", ["train", "--dataset", s["dataset"], "--out", s["blocker"]], ["--out", "is a file"])
    add("train --out under a file", ["train", "--dataset", s["dataset"], "--out", s["blocker"] + "/m"], ["--out"])
    add("train-reranker --out under a file", ["train-reranker", "--dataset", s["dataset"], "--out",
                                              s["blocker"] + "/m"], ["--out"])
    add("run --runs-dir is a file", ["run", s["t_ok"], "--runs-dir", s["blocker"]], ["--runs-dir"])
    add("denoise --pseudo-positives folder", [*den, "--max-score", "0.5", "--pseudo-positives", s["folder"],
                                              "--min-positive-score", "0.9"], ["--pseudo-positives"])

    # -- datasets, models, metrics ------------------------------------------------------------------
    for ds in ("ds_bad_manifest", "ds_list_manifest", "ds_no_train", "blocker", "folder"):
        add(f"train --dataset {ds}", ["train", "--dataset", s[ds], "--out", "m"], [s[ds]])
        add(f"train-reranker --dataset {ds}", ["train-reranker", "--dataset", s[ds], "--out", "r"], ["--dataset"]
            if ds in ("ds_no_train", "blocker", "folder") else [])
        add(f"info {ds}", ["info", s[ds]], [s[ds]])
    add("info missing", ["info", "nope.parquet"], ["nope.parquet"])
    add("info text file", ["info", s["text_file"]], [s["text_file"]])
    add("info input without manifest", ["info", s["queries"]], [s["queries"]])
    add("denoise --cross-encoder folder without config", [*den[:-1], s["folder"], "--max-score", "0.5"],
        ["--cross-encoder"])
    for m in ("m_list", "m_str", "m_empty", "m_bad", "folder", "text_file"):
        add(f"compare {m}", ["compare", s["metrics"], s[m]], [s[m]])
    add("compare missing", ["compare", s["metrics"], "nope.json"], ["nope.json"])
    add("compare different positives", ["compare", s["metrics"], s["m_other_pos"]], expect="warn",
        warn="different positives files")

    # -- pipelines ----------------------------------------------------------------------------------------
    for t, key in (("t_range_min", "range_min"), ("t_range_max", "range_max"), ("t_format", "format"),
                   ("t_fill", "fill"), ("t_seed", "seed"), ("t_k1", "k1"), ("t_topk_str", "top_k"),
                   ("t_unknown_opt", "top_kk"), ("t_unknown_kind", "filtr"), ("t_bad_ref", "@nothing"),
                   ("t_bad_toml", "TOML"), ("t_switch", "keep_dropped"), ("t_table", "range_min"),
                   ("t_warmup", "warmup_ratio"), ("t_nsteps", "name")):
        add(f"run {t}", ["run", s[t], "--runs-dir", "runs"], [s[t], key])
    add("run parquet", ["run", s["cands"], "--runs-dir", "runs"], [s["cands"]])
    add("run folder", ["run", s["folder"], "--runs-dir", "runs"], [s["folder"]])
    add("run missing", ["run", "nope.toml", "--runs-dir", "runs"], ["nope.toml"])
    add("run --force --from", ["run", s["t_ok"], "--force", "--from", "bm25", "--runs-dir", "runs"], ["--force"])
    add("run --from unknown", ["run", s["t_ok"], "--from", "nope", "--runs-dir", "runs"], ["--from"])

    # -- faults ---------------------------------------------------------------------------------------------
    def truncate():
        from minekit.cli import app
        from typer.testing import CliRunner

        assert CliRunner().invoke(app, ["-q", "run", s["t_ok"], "--runs-dir", "runs"]).exit_code == 0
        target = Path("runs/t_ok/bm25/bm25.parquet")
        target.write_bytes(target.read_bytes()[:100])

    add("run after its output was truncated", ["run", s["t_ok"], "--runs-dir", "runs"], expect="ok-rerun",
        warn="output changed", setup=truncate)

    def stale():
        old = time.time() - 7200
        for name in (".o.parquet.p999999999-abcd1234.parquet.tmp", ".o.parquet.zzzz1234.parquet.tmp"):
            Path(name).write_text("half")
            os.utime(name, (old, old))

    add("stale temps from a killed run", [*fil], expect="ok-clean", setup=stale)
    reliability_cases(f, add)
    return found


# Words by which a message tells the user what to do (or what a valid value is).
FIX_HINTS = ("Fix", "give", "use ", "choose", "one of", "range", "must", "need", "should", "expected", "e.g.",
             "add ", "remove", "rebuild", "lower", "loosen", "only", "did you mean", "where it cannot apply",
             "go together", "give one")


def classify(case: Case, result, left: list[str], lost: list[str] = ()) -> tuple[str, str]:
    output = result.output
    if lost and case.expect == "error":  # a file that existed before is gone or changed: data destroyed
        return "silently wrong", f"destroyed {lost[:5]} (exit {result.exit_code})"
    if case.expect == "ok-check":
        return ("clear" if result.exit_code == 0 and case.check() else "silently wrong"), output[-200:]
    first = next((line for line in output.splitlines() if line.startswith("Error")), output.strip()[:200])
    if case.expect == "warn":
        return ("clear" if result.exit_code == 0 and case.warn in output else "weak"), first or output[-200:]
    if case.expect == "ok-rerun":
        return ("clear" if result.exit_code == 0 and case.warn in output else "silently wrong"), output[-200:]
    if case.expect == "ok-clean":
        stale = [p for p in left if ".tmp" in p and "o.parquet" in p]
        return ("clear" if result.exit_code == 0 and not stale else "weak"), f"left: {stale}"
    if result.exit_code == 0:
        return "silently wrong", f"exit 0; left: {left}"
    if "unexpected" in output or "Traceback" in output or not output.strip():
        return "weak", first
    missing = [n for n in case.names if n not in output]
    if missing:
        return "weak", f"message lacks {missing}: {first}"
    if not any(hint in first for hint in FIX_HINTS):
        return "weak", f"says what is wrong but not how to fix it: {first}"
    if left:
        return "weak", f"left behind: {left}: {first}"
    return "clear", first


def _contents(folders: list[Path]) -> dict[str, str]:
    """sha256 of every file under the folders (what a case must leave as it found it)."""
    import hashlib

    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for folder in folders if folder.is_dir()
            for p in folder.rglob("*") if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    from typer.testing import CliRunner

    from minekit.cli import app

    base = Path(tempfile.mkdtemp(prefix="minekit-sweep-"))
    start = os.getcwd()
    try:
        os.chdir(base)
        files = make_files(base)
        found = cases(files)
        counts = {"clear": 0, "weak": 0, "silently wrong": 0}
        report = []
        t0 = time.perf_counter()
        for i, case in enumerate(found):
            work = base / f"case{i:03d}"
            work.mkdir()
            os.chdir(work)
            if case.setup:
                case.setup()
            before = {str(p) for p in work.rglob("*")}
            kept = _contents([work, base / "in"])
            with case.patch() if case.patch else contextlib.nullcontext():
                result = CliRunner().invoke(app, ["-q", *case.args] if case.expect != "warn" else case.args)
            left = sorted(str(p.relative_to(work)) for p in (work.rglob("*") if work.is_dir() else []) if str(p) not in before)
            now = _contents([work, base / "in"])
            lost = sorted(str(Path(name).relative_to(base)) for name, digest in kept.items()
                          if now.get(name) != digest)
            verdict, detail = classify(case, result, left, lost)
            counts[verdict] += 1
            if verdict != "clear" or args.verbose:
                report.append(f"  [{verdict}] {case.name}: {detail}")
            os.chdir(base)
        wall = time.perf_counter() - t0
    finally:
        os.chdir(start)
        shutil.rmtree(base, ignore_errors=True)
    total = sum(counts.values())
    print(f"cases tried: {total} ({wall:.0f}s)")
    print(f"clear errors: {counts['clear']} ({100 * counts['clear'] / total:.1f}%)")
    print(f"weak: {counts['weak']}")
    print(f"silently wrong: {counts['silently wrong']}")
    if report:
        print("\n".join(report))
    sys.exit(0)


if __name__ == "__main__":
    main()
