"""Memory and time at scale: every figure is one `minekit` command in its own process.

A seeded synthetic corpus (Zipf pseudo-words, as bench_bm25 makes at 200k) of N passages (default 1M)
with Q queries (default 10k), each drawn from its positive passage. Prints wall time and peak RSS
(getrusage of the child, via a wrapper process) of:

  bm25      `minekit mine bm25` end to end (read, validate, tokenize, index, retrieve, write)
  dense     `minekit mine dense --index flat` over N cached vectors (warm cache: a separate process first
            fills it with seeded clustered unit vectors, dim 384, so no model loads and no text is encoded)
  ivfpq     `minekit mine dense --index ivf-pq` on the same cache, and its recall@100 against `dense`
  evaluate  `minekit evaluate` (dense, warm cache) on the first --small passages (default 200k)
  denoise   `minekit denoise --scorer bi-encoder` (warm cache) on the bm25 candidates of the --small corpus,
            with its positives (one a query) and with a second positive for half the queries (the
            default rule, positive_neighbours "auto", calibrates on those); both search the corpus for
            every positive's nearest passages

    nice -n 10 python benchmarks/bench_scale.py                         # everything, 1M / 10k, 200k
    nice -n 10 python benchmarks/bench_scale.py --only bm25 --passages 200000
    python benchmarks/bench_scale.py --work /tmp/scale --keep          # reuse data and caches next time

Targets: at 1M, mine bm25 and mine dense (warm) each under 6 GB peak RSS.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dense import MINEKIT, timed  # noqa: E402 - one timing wrapper for both benchmarks

DIM = 384
STEPS = ("bm25", "dense", "ivfpq", "evaluate", "denoise")


def show(label: str, r: dict, extra: str = "") -> None:
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  {label:44s} {r['wall_s']:8.1f} s wall  {r['cpu_s']:8.1f} s CPU  {r['rss_mib']:7.0f} MiB peak RSS"
          f"  load {load}{('  ' + extra) if extra else ''}", flush=True)


def child_data(args: argparse.Namespace) -> None:
    """The seeded synthetic inputs (bench_bm25's generator), and the --small cut of them."""
    import polars as pl

    from bench_bm25 import make_synthetic

    work = Path(args.work)
    make_synthetic(work, args.passages, args.queries)
    make_small(work, args.small)


def make_small(work: Path, n: int) -> None:
    """The first n passages of the corpus with every positive swapped in, so the same queries apply."""
    import polars as pl

    small = work / "small"
    small.mkdir(exist_ok=True)
    corpus = pl.read_parquet(work / "corpus.parquet")
    positives = pl.read_parquet(work / "positives.parquet")
    pos = positives.select("doc_id").unique()
    rest = corpus.select("doc_id").join(pos, on="doc_id", how="anti", maintain_order="left").head(n - pos.height)
    corpus.join(pl.concat([pos, rest]), on="doc_id", how="semi", maintain_order="left").write_parquet(
        small / "corpus.parquet")
    positives.write_parquet(small / "positives.parquet")
    pl.read_parquet(work / "queries.parquet").write_parquet(small / "queries.parquet")


def child_fill(args: argparse.Namespace) -> None:
    """Seeded clustered unit vectors for every passage and query text, into the cache of model 'default'
    (what `minekit mine dense` would have written, without encoding): a query is its positive passage's
    vector plus noise, passages are 2,000 clusters, so recall of an approximate index means something."""
    import numpy as np
    import polars as pl

    from minekit.encode.cache import text_keys
    from minekit.encode.encoder import Encoder
    from minekit.inputs.schema import passage_text

    work = Path(args.work)
    corpus = pl.read_parquet(work / "corpus.parquet")
    queries = pl.read_parquet(work / "queries.parquet").sort("query_id")
    positives = pl.read_parquet(work / "positives.parquet")
    encoder = Encoder(model="default", cache_dir=work / "cache", precision=args.precision)
    cache = encoder._cache(None, DIM)
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(2000, DIM)).astype(np.float32)
    texts = corpus.with_columns(pl.lit("").alias("title")).select(passage_text()).to_series().to_list()
    doc_pos = {d: i for i, d in enumerate(corpus["doc_id"].to_list())}
    block = 65_536
    wanted = {doc_pos[d]: q for q, d in positives.iter_rows()}
    query_vec = {}
    for a in range(0, len(texts), block):
        n = len(texts[a:a + block])
        vec = centers[rng.integers(0, len(centers), n)] + 0.8 * rng.normal(size=(n, DIM)).astype(np.float32)
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        for i in range(a, a + n):
            if i in wanted:
                query_vec[wanted[i]] = vec[i - a]
        cache.add(text_keys(texts[a:a + n]), vec)
    qv = np.stack([query_vec[q] for q in queries["query_id"].to_list()])
    qv = qv + 0.5 * rng.normal(size=qv.shape).astype(np.float32) / np.sqrt(DIM)
    qv /= np.linalg.norm(qv, axis=1, keepdims=True)
    cache.add(text_keys(queries["text"].to_list()), qv.astype(np.float32))


def inputs(folder: Path) -> list[str]:
    return ["--queries", str(folder / "queries.parquet"), "--positives", str(folder / "positives.parquet"),
            "--corpus", str(folder / "corpus.parquet")]


def recall(ref: Path, got: Path, k: int = 100) -> float:
    import polars as pl

    a = pl.read_parquet(ref).filter(pl.col("rank") <= k).select("query_id", "doc_id")
    b = pl.read_parquet(got).filter(pl.col("rank") <= k).select("query_id", "doc_id")
    return a.join(b, on=["query_id", "doc_id"], how="semi").height / max(a.height, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "_data", "_fill"])
    parser.add_argument("--work", help="Folder for data and caches (default: a temporary one).")
    parser.add_argument("--keep", action="store_true", help="Keep --work's data and caches for the next run.")
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=200_000, help="Passages for evaluate and denoise.")
    parser.add_argument("--precision", default="float32", help="How the filled cache stores vectors.")
    parser.add_argument("--only", default=",".join(STEPS), help=f"Comma-separated steps of {', '.join(STEPS)}.")
    parser.add_argument("--block-size", type=int, default=None, help="--block-size for the dense commands.")
    parser.add_argument("--nlist", type=int, default=1024, help="IVF lists of the ivf-pq run.")
    parser.add_argument("--nprobe", type=int, default=64)
    args = parser.parse_args()
    if args.mode == "_data":
        return child_data(args)
    if args.mode == "_fill":
        return child_fill(args)
    steps = [s for s in args.only.split(",") if s]
    tmp = None
    if args.work:
        work = Path(args.work)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-scale-")
        work = Path(tmp.name)
    try:
        run(args, work, steps)
    finally:
        if tmp is not None:
            tmp.cleanup()


def run(args: argparse.Namespace, work: Path, steps: list[str]) -> None:
    import polars as pl

    me = [sys.executable, __file__]
    common = ["--work", str(work), "--passages", str(args.passages), "--queries", str(args.queries),
              "--small", str(args.small), "--precision", args.precision]
    print(f"scale benchmark: {args.passages:,} passages, {args.queries:,} queries, small cut {args.small:,}; "
          f"{os.cpu_count()} cores (shared machine), nice {os.nice(0)}", flush=True)
    if not (work / "corpus.parquet").is_file():
        show("make synthetic data (seed 0)", timed([*me, "_data", *common]))
    elif not (work / "small" / "corpus.parquet").is_file():
        make_small(work, args.small)
    block = ["--block-size", str(args.block_size)] if args.block_size else []
    base = timed([sys.executable, "-c", "import polars, numpy, minekit.cli, tqdm"])
    show("baseline: interpreter + imports", base)
    if "bm25" in steps:
        r = timed([MINEKIT, "-q", "mine", "bm25", *inputs(work), "--out", str(work / "bm25.parquet"),
                   "--top-k", "100"])
        show(f"mine bm25 top-k 100 ({args.passages:,})", r, f"{pl.read_parquet(work / 'bm25.parquet').height:,} rows")
    if {"dense", "ivfpq", "evaluate", "denoise"} & set(steps) and not (work / "cache").is_dir():
        show(f"fill embedding cache ({args.precision}, separate process)", timed([*me, "_fill", *common]))
    dense = [MINEKIT, "-q", "mine", "dense", *inputs(work), "--top-k", "100", "--cache-dir", str(work / "cache"),
             "--precision", args.precision]
    if "dense" in steps:
        r = timed([*dense, "--out", str(work / "dense.parquet"), *block])
        show(f"mine dense flat top-k 100 ({args.passages:,}, warm)", r,
             f"{pl.read_parquet(work / 'dense.parquet').height:,} rows")
    if "ivfpq" in steps:
        r = timed([*dense, "--out", str(work / "ivfpq.parquet"), "--index", "ivf-pq", "--nlist", str(args.nlist),
                   "--nprobe", str(args.nprobe)])
        extra = ""
        if (work / "dense.parquet").is_file():
            extra = f"recall@100 vs flat {recall(work / 'dense.parquet', work / 'ivfpq.parquet'):.3f}"
        show(f"mine dense ivf-pq nlist {args.nlist} nprobe {args.nprobe}", r, extra)
    small = work / "small"
    if "evaluate" in steps:
        r = timed([MINEKIT, "-q", "evaluate", *inputs(small), "--model", "default", "--cache-dir", str(work / "cache"),
                   "--out", str(work / "metrics.json"), *block])
        show(f"evaluate dense ({args.small:,}, warm)", r)
    if "denoise" in steps:
        cands = small / "bm25.parquet"
        if not cands.is_file():
            show(f"(mine bm25 on {args.small:,} for denoise's input)",
                 timed([MINEKIT, "-q", "mine", "bm25", *inputs(small), "--out", str(cands), "--top-k", "30"]))
        denoise = [MINEKIT, "-q", "denoise", "--candidates", str(cands), "--queries", str(small / "queries.parquet"),
                   "--corpus", str(small / "corpus.parquet"), "--scorer", "bi-encoder", "--model", "default",
                   "--cache-dir", str(work / "cache")]
        r = timed([*denoise, "--positives", str(small / "positives.parquet"), "--max-score", "0.9",
                   "--out", str(work / "denoised.parquet")])
        show(f"denoise bi-encoder ({args.small:,}, {pl.read_parquet(cands).height:,} pairs)", r,
             f"{pl.read_parquet(work / 'denoised.parquet').height:,} rows kept")
        # With one positive a query, positive_neighbours "auto" has nothing to calibrate on (k is its cap);
        # with a second positive for every other query it calibrates first. Both runs search every
        # positive's nearest passages in the corpus (the first also applies --max-score 0.9, as it did).
        multi = small / "positives-2.parquet"
        positives = pl.read_parquet(small / "positives.parquet").sort("query_id")
        extra = positives.gather_every(2).with_columns(
            pl.read_parquet(small / "corpus.parquet")["doc_id"].sample(n=(positives.height + 1) // 2, seed=0)
            .alias("doc_id"))
        pl.concat([positives, extra]).unique(["query_id", "doc_id"]).sort("query_id", "doc_id").write_parquet(multi)
        r = timed([*denoise, "--positives", str(multi), "--out", str(work / "denoised-2.parquet")])
        kept = pl.read_parquet(work / "denoised-2.parquet").height
        show("denoise bi-encoder, neighbours auto, 2 positives for half the queries", r, f"{kept:,} rows kept")
    if not args.keep and args.work:
        print(f"(data and caches left in {work}; delete when done)")


if __name__ == "__main__":
    main()
