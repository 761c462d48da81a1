"""`minekit mine dense` + `minekit build` against sentence-transformers' `mine_hard_negatives`, same job.

Same model (the packaged all-MiniLM-L6-v2), same data (NFCorpus, one qrels split as positives), same
number of negatives from the same range (top `--num-negatives` of the `--range-max` most similar
non-positives), same batch size, n-tuple output. Each contender runs in its own process (a fresh
interpreter, imports included); a tiny wrapper process reports its wall time, CPU time (user + sys;
steadier than wall time on a shared machine) and peak RSS (getrusage of its child):

  1. sentence-transformers mine_hard_negatives (no cache, its defaults: float32)
  2. minekit cold: mine dense (empty embedding cache, default --dtype auto: bfloat16 on a CPU with
     native bf16) then build (peak RSS = the larger of the two)
  3. minekit cold --dtype float32 (its own empty cache): the reference for the overlap of each option
  4. minekit warm: run 2 again with the cache it filled

Prints wall time, peak RSS, the ratios (targets: cold <= 0.5x time and <= 0.6x RSS of
sentence-transformers, warm <= 0.1x time), each option's per-query top-10 overlap of mined candidates
with float32's, the overlap of the negatives chosen per (anchor, positive) row with
sentence-transformers', the time per encoded text (cold - warm over texts encoded), and the load
average before and after (the machine is shared: rerun when it was busy).

`--synthetic N` instead measures the memory of the search path at scale: N random normalised
vectors of dim 384 are put into the embedding cache (a separate process), then `minekit mine dense`
runs on a synthetic corpus of N passages with a warm cache (no model is loaded, no text encoded),
so its peak RSS is the cost of embeddings + blocked search + output.

    nice -n 10 python benchmarks/bench_dense.py                      # NFCorpus test split
    nice -n 10 python benchmarks/bench_dense.py --queries 30 --passages 600   # a quicker subset
    nice -n 10 python benchmarks/bench_dense.py --synthetic 200000   # memory at 200k passages
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

NFCORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "nfcorpus"
MINEKIT = str(Path(sys.executable).parent / "minekit")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def timed(cmd: list[str]) -> dict:
    """Wall time, CPU time (user + sys) and peak RSS of one command, via a tiny wrapper process that
    reports its child's rusage. On a shared machine CPU time is the steadier figure."""
    wrapper = ("import json,os,subprocess,sys,time,resource;t=time.perf_counter();"
               "p=subprocess.run(sys.argv[1:]);w=time.perf_counter()-t;"
               "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
               "print(json.dumps({'rc':p.returncode,'wall_s':w,'cpu_s':u.ru_utime+u.ru_stime,"
               "'rss_mib':u.ru_maxrss/1024}),file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", wrapper, *cmd], env=ENV, capture_output=True, text=True)
    stats = json.loads(proc.stderr.strip().splitlines()[-1])
    if stats["rc"]:
        sys.exit(f"failed ({stats['rc']}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    stats["stdout"] = proc.stdout
    return stats


def prepare(work: Path, split: str, n_queries: int, n_passages: int) -> dict[str, Path]:
    """Inputs in minekit's contract: the split's queries with a positive (the first n_queries by id, if
    given), their positives, and the corpus (if n_passages: those positives plus a seeded sample of the
    other passages, n_passages in all)."""
    import polars as pl

    positives = pl.read_parquet(NFCORPUS / f"qrels-{split}.parquet").filter(pl.col("score") > 0)
    if n_queries:
        keep = positives["query_id"].unique().sort().head(n_queries)
        positives = positives.filter(pl.col("query_id").is_in(keep.implode()))
    queries = pl.read_parquet(NFCORPUS / "queries.parquet")
    queries = queries.filter(pl.col("query_id").is_in(positives["query_id"].implode()))
    corpus = pl.read_parquet(NFCORPUS / "corpus.parquet")
    if n_passages:
        needed = corpus.filter(pl.col("doc_id").is_in(positives["doc_id"].implode()))
        others = corpus.filter(~pl.col("doc_id").is_in(positives["doc_id"].implode()))
        corpus = pl.concat([needed, others.sample(max(0, n_passages - needed.height), seed=0)]).sort("doc_id")
    paths = {name: work / f"{name}.parquet" for name in ("queries", "positives", "corpus")}
    queries.write_parquet(paths["queries"])
    positives.write_parquet(paths["positives"])
    corpus.write_parquet(paths["corpus"])
    return paths


def child_st(args: argparse.Namespace) -> None:
    """sentence-transformers' mine_hard_negatives on (query text, positive text) pairs; n-tuple out."""
    import polars as pl
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    from minekit.encode.models import resolve_model

    work = Path(args.work)
    queries = pl.read_parquet(work / "queries.parquet")
    positives = pl.read_parquet(work / "positives.parquet")
    corpus = pl.read_parquet(work / "corpus.parquet")
    pairs = (positives.join(queries.rename({"text": "anchor"}), on="query_id")
             .join(corpus.select("doc_id", pl.col("text").alias("positive")), on="doc_id")
             .sort("query_id", "doc_id"))
    model = SentenceTransformer(resolve_model("default"), device="cpu")
    result = mine_hard_negatives(
        Dataset.from_dict({"anchor": pairs["anchor"].to_list(), "positive": pairs["positive"].to_list()}), model,
        corpus=corpus["text"].to_list(), range_min=0, range_max=args.range_max, num_negatives=args.num_negatives,
        sampling_strategy="top", output_format="n-tuple", batch_size=args.batch_size, verbose=False)
    result.to_parquet(str(work / "st.parquet"))


def minekit_job(paths: dict[str, Path], work: Path, tag: str, args: argparse.Namespace, flags: list[str] = (),
                cache: str = "cache") -> dict:
    cands = work / f"dense-{tag}.parquet"
    common = ["--queries", str(paths["queries"]), "--positives", str(paths["positives"]),
              "--corpus", str(paths["corpus"])]
    mine = timed([MINEKIT, "-q", "mine", "dense", *common, "--out", str(cands),
                  "--top-k", str(max(args.range_max, 10)), "--batch-size", str(args.batch_size),
                  "--cache-dir", str(work / cache), *flags, *args.minekit_flags])
    build = timed([MINEKIT, "-q", "build", "--candidates", str(cands), *common,
                   "--name", "bench", "--out-dir", str(work / f"datasets-{tag}"), "--num-negatives",
                   str(args.num_negatives), "--format", "n-tuple", "--sampling-strategy", "top",
                   "--relative-margin", "none", "--fill", "none"])  # mine_hard_negatives' job: no margin, no padding
    return {"wall_s": mine["wall_s"] + build["wall_s"], "cpu_s": mine["cpu_s"] + build["cpu_s"],
            "rss_mib": max(mine["rss_mib"], build["rss_mib"]), "mine_s": mine["wall_s"], "build_s": build["wall_s"],
            "mine_cpu_s": mine["cpu_s"], "dataset": build["stdout"].strip().splitlines()[-1]}


def top10_overlap(ref_path: Path, got_path: Path) -> tuple[float, float]:
    """Mean and 5th percentile over queries of the share of a query's top-10 candidates both runs mined."""
    import numpy as np
    import polars as pl

    def top(path):
        return (pl.read_parquet(path).filter(pl.col("rank") <= 10).group_by("query_id")
                .agg(pl.col("doc_id").alias("d")))

    joined = top(ref_path).join(top(got_path), on="query_id", how="left", suffix="_got")
    shares = joined.select(pl.col("d").list.set_intersection(pl.col("d_got").fill_null([])).list.len()
                           / pl.col("d").list.len()).to_series().to_numpy()
    return float(shares.mean()), float(np.percentile(shares, 5))


def overlap(st_path: Path, mk_path: Path, n: int) -> dict:
    """Mean share of the negatives (as texts) that both chose, per (anchor, positive) row."""
    import polars as pl

    neg = [f"negative_{i}" for i in range(1, n + 1)]
    st = pl.read_parquet(st_path)
    mk = pl.read_parquet(mk_path)
    st = st.select("anchor", "positive", pl.concat_list(neg).alias("st"))
    mk = mk.select("anchor", "positive", pl.concat_list(neg).alias("mk"))
    joined = st.join(mk, on=["anchor", "positive"], how="inner")
    shared = joined.select(pl.col("st").list.set_intersection("mk").list.len()).to_series()
    return {"rows_st": st.height, "rows_minekit": mk.height, "rows_joined": joined.height,
            "mean_overlap": float(shared.mean()) / n, "rows_identical_sets": int((shared == n).sum())}


def bench_nfcorpus(args: argparse.Namespace) -> None:
    import polars as pl

    with tempfile.TemporaryDirectory(prefix="bench-dense-") as tmp:
        work = Path(tmp)
        paths = prepare(work, args.split, args.queries, args.passages)
        n_q = pl.read_parquet(paths["queries"]).height
        n_p = pl.read_parquet(paths["positives"]).height
        n_c = pl.read_parquet(paths["corpus"]).height
        print(f"NFCorpus {args.split}: {n_q} queries, {n_p} positive pairs, {n_c:,} passages; "
              f"top {args.num_negatives} of range 0-{args.range_max}, batch {args.batch_size}, "
              f"minekit flags {args.minekit_flags or 'none'}", flush=True)
        load_before = os.getloadavg()
        st = timed([sys.executable, __file__, "_st", "--work", str(work), "--split", args.split,
                    "--num-negatives", str(args.num_negatives), "--range-max", str(args.range_max),
                    "--batch-size", str(args.batch_size)])
        print(f"sentence-transformers   {st['wall_s']:7.1f} s wall  {st['cpu_s']:7.1f} s CPU  "
              f"{st['rss_mib']:7.0f} MiB", flush=True)
        cold = minekit_job(paths, work, "cold", args)
        print(f"minekit cold            {cold['wall_s']:7.1f} s wall  {cold['cpu_s']:7.1f} s CPU  "
              f"{cold['rss_mib']:7.0f} MiB   "
              f"(mine {cold['mine_s']:.1f} s, build {cold['build_s']:.1f} s)", flush=True)
        f32 = minekit_job(paths, work, "float32", args, ["--dtype", "float32"], cache="cache-float32")
        print(f"minekit cold float32    {f32['wall_s']:7.1f} s wall  {f32['cpu_s']:7.1f} s CPU  "
              f"{f32['rss_mib']:7.0f} MiB   "
              f"(mine {f32['mine_s']:.1f} s, build {f32['build_s']:.1f} s)", flush=True)
        warm = minekit_job(paths, work, "warm", args)
        print(f"minekit warm            {warm['wall_s']:7.1f} s wall  {warm['cpu_s']:7.1f} s CPU  "
              f"{warm['rss_mib']:7.0f} MiB   "
              f"(mine {warm['mine_s']:.1f} s, build {warm['build_s']:.1f} s)", flush=True)
        from minekit.io import read_manifest

        step = read_manifest(work / "dense-cold.parquet")["steps"][-1]
        # texts encoded cold: every passage and query (run facts such as texts_encoded stay out of manifests)
        texts = n_c + n_q
        print(f"minekit default dtype used: {step['params']['dtype']}")
        for what in ("wall_s", "cpu_s"):
            print(f"ratios vs sentence-transformers ({what[:-2]} time): cold {cold[what] / st[what]:.2f}x "
                  f"(target <= 0.5), cold float32 {f32[what] / st[what]:.2f}x, warm {warm[what] / st[what]:.2f}x "
                  f"(target <= 0.1)")
        print(f"cold peak RSS {cold['rss_mib'] / st['rss_mib']:.2f}x sentence-transformers' (target <= 0.6); "
              f"float32 {f32['rss_mib'] / st['rss_mib']:.2f}x")
        print(f"encoding: {texts} texts encoded in the cold run; (cold - warm mine) / texts = "
              f"{1000 * (cold['mine_s'] - warm['mine_s']) / texts:.0f} ms wall, "
              f"{1000 * (cold['mine_cpu_s'] - warm['mine_cpu_s']) / texts:.0f} ms CPU per text (model load included)")
        for tag in ("cold", "warm"):
            mean, p5 = top10_overlap(work / "dense-float32.parquet", work / f"dense-{tag}.parquet")
            print(f"top-10 candidates overlap with float32, minekit {tag} ({step['params']['dtype']}): "
                  f"{mean:.3f} mean, {p5:.2f} 5th percentile over queries")
        for tag, result in (("default", cold), ("float32", f32)):
            ov = overlap(work / "st.parquet", Path(result["dataset"]) / "train.parquet", args.num_negatives)
            print(f"negatives overlap with sentence-transformers, minekit {tag} (same (anchor, positive) rows): "
                  f"{ov['mean_overlap']:.3f} mean, {ov['rows_identical_sets']}/{ov['rows_joined']} rows identical "
                  f"sets (rows: st {ov['rows_st']}, minekit {ov['rows_minekit']})")
        print(f"load average (1 min) before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} on "
              f"{os.cpu_count()} cores (shared machine)")


def child_fill(args: argparse.Namespace) -> None:
    """Put N random normalised vectors (and the queries') into the cache for model 'default'."""
    import numpy as np
    import polars as pl

    from minekit.encode.cache import text_keys
    from minekit.encode.encoder import Encoder
    from minekit.inputs.schema import passage_text

    work = Path(args.work)
    corpus = pl.read_parquet(work / "corpus.parquet").sort("doc_id")
    queries = pl.read_parquet(work / "queries.parquet").sort("query_id")
    encoder = Encoder(model="default", cache_dir=work / "cache")
    rng = np.random.default_rng(0)
    for texts in (corpus.with_columns(pl.lit("").alias("title")).select(passage_text()).to_series().to_list(),
                  queries["text"].to_list()):
        cache = encoder._cache(None, 384)
        for a in range(0, len(texts), 50_000):
            vec = rng.normal(size=(len(texts[a:a + 50_000]), 384)).astype(np.float32)
            vec /= np.linalg.norm(vec, axis=1, keepdims=True)
            cache.add(text_keys(texts[a:a + 50_000]), vec)


def bench_synthetic(args: argparse.Namespace) -> None:
    import numpy as np
    import polars as pl

    n, n_q = args.synthetic, args.synthetic_queries
    with tempfile.TemporaryDirectory(prefix="bench-dense-mem-") as tmp:
        work = Path(tmp)
        rng = np.random.default_rng(0)
        doc_ids = [f"d{i:07d}" for i in range(n)]
        pl.DataFrame({"doc_id": doc_ids, "text": [f"synthetic passage {i}" for i in range(n)]}).write_parquet(
            work / "corpus.parquet")
        pl.DataFrame({"query_id": [f"q{i:06d}" for i in range(n_q)],
                      "text": [f"synthetic query {i}" for i in range(n_q)]}).write_parquet(work / "queries.parquet")
        pl.DataFrame({"query_id": [f"q{i:06d}" for i in range(n_q)],
                      "doc_id": [doc_ids[d] for d in rng.integers(0, n, n_q)]}).write_parquet(
            work / "positives.parquet")
        timed([sys.executable, __file__, "_fill", "--work", str(work)])
        emb_mib = n * 384 * 4 / 2**20
        from minekit.mine.dense import SCORE_BLOCK

        print(f"synthetic: {n:,} passages x 384 dims (embeddings {emb_mib:.0f} MiB float32), {n_q:,} queries, "
              f"score block {SCORE_BLOCK * 4 / 2**20:.0f} MiB; warm cache, no model loaded")
        base = timed([sys.executable, "-c", "import polars, numpy, minekit.cli, tqdm"])
        print(f"  baseline interpreter + imports           {base['rss_mib']:7.0f} MiB")
        for index in args.indexes:
            r = timed([MINEKIT, "-q", "mine", "dense", "--queries",
                       str(work / "queries.parquet"), "--positives", str(work / "positives.parquet"), "--corpus",
                       str(work / "corpus.parquet"), "--out", str(work / f"{index}.parquet"), "--top-k", "100",
                       "--cache-dir", str(work / "cache"), "--index", index])
            rows = pl.read_parquet(work / f"{index}.parquet").height
            print(f"  mine dense --index {index:5s} top-k 100    {r['rss_mib']:7.0f} MiB peak RSS   "
                  f"{r['wall_s']:6.1f} s   ({rows:,} candidates)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "_st", "_fill"])
    parser.add_argument("--work")
    parser.add_argument("--split", default="test")
    parser.add_argument("--queries", type=int, default=0, help="Only the first N queries of the split.")
    parser.add_argument("--passages", type=int, default=0,
                        help="Corpus cut to the queries' positives plus a seeded sample, N passages in all.")
    parser.add_argument("--num-negatives", type=int, default=5)
    parser.add_argument("--range-max", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--minekit-flags", nargs=argparse.REMAINDER, default=[],
                        help="Extra flags for minekit mine dense (e.g. --precision float16); must come last.")
    parser.add_argument("--synthetic", type=int, default=0, help="Memory run on N synthetic passages instead.")
    parser.add_argument("--synthetic-queries", type=int, default=10_000)
    parser.add_argument("--indexes", nargs="+", default=["flat"])
    args = parser.parse_args()
    if args.mode == "_st":
        child_st(args)
    elif args.mode == "_fill":
        child_fill(args)
    elif args.synthetic:
        bench_synthetic(args)
    else:
        bench_nfcorpus(args)


if __name__ == "__main__":
    main()
