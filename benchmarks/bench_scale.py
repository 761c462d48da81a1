"""Memory and time at scale: every figure is one `minekit` command in its own process.

A seeded synthetic corpus (Zipf pseudo-words, as bench_bm25 makes at 200k) of N passages (default 1M)
with Q queries (default 10k), each drawn from its positive passage. Prints wall time and peak RSS
(getrusage of the child, via a wrapper process) of:

  bm25      `minekit index bm25` (cold build: time, peak RSS, size on disk), then `minekit mine bm25` on the
            warm index and cold (--cache-dir none: it builds its own), the four `--shard i/4` runs on the warm
            index (their total against one build) and their merge (byte identity checked), and a bare bm25s
            index + retrieve loop on the same data in its own process (queries/s of its retrieve phase);
            with --ray-build also `minekit index bm25 --ray` (each index part a Ray task) against the
            local build, its files compared byte for byte
  bm25-warm `minekit index bm25` and the warm `mine bm25` alone, for corpora the cold run and the peer
            (every token list in memory) cannot hold: 10M passages
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
    nice -n 10 python benchmarks/bench_scale.py --only bm25 --shape msmarco --passages 1000000 --queries 2000
    nice -n 10 python benchmarks/bench_scale.py --only bm25-warm --shape msmarco --passages 10000000 --queries 10000
    (add --work DIR --keep to keep data and index; --reuse-index then times the warm run without a new build)
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
STEPS = ("bm25", "bm25-warm", "dense", "ivfpq", "evaluate", "denoise")


def show(label: str, r: dict, extra: str = "") -> None:
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  {label:44s} {r['wall_s']:8.1f} s wall  {r['cpu_s']:8.1f} s CPU  {r['rss_mib']:7.0f} MiB peak RSS"
          f"  load {load}{('  ' + extra) if extra else ''}", flush=True)


def child_data(args: argparse.Namespace) -> None:
    """The seeded synthetic inputs (bench_bm25's generator, or the MS MARCO shape), and the --small cut of them."""
    from bench_bm25 import make_synthetic

    work = Path(args.work)
    (make_msmarco if args.shape == "msmarco" else make_synthetic)(work, args.passages, args.queries)
    make_small(work, args.small)


def make_msmarco(folder: Path, n_docs: int, n_queries: int, seed: int = 0) -> None:
    """MS MARCO passage's shape: passages of about 55 words (normal, sd 20, 10 to 200), queries of about 6
    (3 to 12) drawn from their one positive passage; Zipf pseudo-words over a 500k vocabulary, made a block
    of passages at a time."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(500_000)], dtype=object)
    probs = 1 / np.arange(1, len(vocab) + 1) ** 1.05
    probs /= probs.sum()
    cdf = np.cumsum(probs)
    lengths = np.clip(rng.normal(55, 20, n_docs).round(), 10, 200).astype(np.int64)
    texts = []
    for a in range(0, n_docs, 100_000):
        block = lengths[a:a + 100_000]
        words = vocab[np.minimum(np.searchsorted(cdf, rng.random(int(block.sum()))), len(vocab) - 1)]
        cuts = np.cumsum(block)[:-1]
        texts += [" ".join(w) for w in np.split(words, cuts)]
    doc_ids = [f"d{i}" for i in range(n_docs)]
    chosen = rng.choice(n_docs, size=n_queries, replace=False)
    queries = []
    for d in chosen:
        tokens = texts[d].split()
        size = int(np.clip(rng.normal(6, 2), 3, 12))
        queries.append(" ".join(rng.choice(tokens, size=min(size, len(tokens)), replace=False)))
    pl.DataFrame({"doc_id": doc_ids, "text": texts}).write_parquet(folder / "corpus.parquet")
    pl.DataFrame({"query_id": [f"q{i}" for i in range(n_queries)], "text": queries}).write_parquet(
        folder / "queries.parquet")
    pl.DataFrame({"query_id": [f"q{i}" for i in range(n_queries)],
                  "doc_id": [doc_ids[d] for d in chosen]}).write_parquet(folder / "positives.parquet")


def child_bare(args: argparse.Namespace) -> None:
    """A bare bm25s index + retrieve loop on the same data (its defaults: numpy backend, english stemmer,
    en stopwords), top-k + 1 a query; prints the CPU seconds of each phase as JSON."""
    import json

    import bm25s
    import polars as pl
    import Stemmer

    work = Path(args.work)
    t0 = time.process_time()
    corpus = pl.read_parquet(work / "corpus.parquet")
    queries = pl.read_parquet(work / "queries.parquet")["text"].to_list()
    stemmer = Stemmer.Stemmer("english")
    t1 = time.process_time()
    retriever = bm25s.BM25(backend=args.bare_backend)
    retriever.index(bm25s.tokenize(corpus["text"].to_list(), stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)
    del corpus
    t2 = time.process_time()
    tokens = bm25s.tokenize(queries, stopwords="en", stemmer=stemmer, show_progress=False)
    retriever.retrieve(tokens, k=101, show_progress=False, n_threads=1)
    t3 = time.process_time()
    print(json.dumps({"read_s": t1 - t0, "index_s": t2 - t1, "retrieve_s": t3 - t2, "queries": len(queries)}))


def child_search(args: argparse.Namespace) -> None:
    """minekit's search on the warm index in this process, by phase (CPU seconds, steadier than wall here): inputs read, index opened (corpus hashed
    for the key, files checked), then mine_bm25 (query tokenizing, retrieval, positives masked, frame); JSON."""
    import json

    from minekit.io import read_inputs
    from minekit.mine.bm25 import mine_bm25
    from minekit.mine.bm25_index import bm25_index

    work = Path(args.work)
    params = dict(k1=1.5, b=0.75, method="lucene", stemmer="english", stopwords="en")
    t0 = time.process_time()
    inputs = read_inputs(work / "queries.parquet", work / "positives.parquet", work / "corpus.parquet")
    t1 = time.process_time()
    with bm25_index(inputs.corpus, cache_dir=work / "bm25-cache", parts=args.index_parts, show_progress=False,
                    **params) as index:
        assert not index.built
    t2 = time.process_time()
    mine_bm25(inputs.queries, inputs.positives, inputs.corpus, top_k=100, cache_dir=work / "bm25-cache",
              index_parts=args.index_parts, show_progress=False, **params)
    t3 = time.process_time()
    print(json.dumps({"read_s": t1 - t0, "open_s": t2 - t1, "mine_s": t3 - t2}))


def du(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def bench_bm25(args: argparse.Namespace, work: Path, me: list[str], common: list[str], *, warm_only: bool = False
               ) -> None:
    """minekit's BM25 index (build, size, warm and cold mining, 4 shards) against a bare bm25s loop; with
    warm_only, the build and the warm run alone."""
    import json
    import shutil

    import polars as pl

    n_q = pl.read_parquet(work / "positives.parquet")["query_id"].n_unique()
    cache = work / "bm25-cache"
    reuse = args.reuse_index and warm_only and (cache / "bm25").is_dir()
    if not reuse:
        shutil.rmtree(cache, ignore_errors=True)
    mine = [MINEKIT, "-q", "mine", "bm25", *inputs(work), "--top-k", "100"]
    parts = ["--index-parts", str(args.index_parts)]
    r = timed([MINEKIT, "-q", "index", "bm25", "--corpus", str(work / "corpus.parquet"), "--cache-dir", str(cache),
               *parts])
    show("index bm25 (" + ("found in the cache: read, hash, check" if reuse else "cold build") + ")", r,
         f"{du(cache / 'bm25') / 2**20:,.0f} MiB on disk")
    if args.ray_build:
        bench_ray_build(work, cache, parts, r)
    warm = timed([*mine, "--cache-dir", str(cache), *parts, "--out", str(work / "bm25-warm.parquet")])
    show(f"mine bm25, warm index ({n_q:,} queries)", warm, f"{n_q / warm['wall_s']:,.1f} queries/s")
    if warm_only:
        return
    cold = timed([*mine, "--cache-dir", "none", *parts, "--out", str(work / "bm25-cold.parquet")])
    show("mine bm25, cold (builds its index: --cache-dir none)", cold, f"{n_q / cold['wall_s']:,.1f} queries/s")
    print(f"  warm / cold wall: {warm['wall_s'] / cold['wall_s']:.2f}   (CPU {warm['cpu_s'] / cold['cpu_s']:.2f})")
    shard_runs = [timed([*mine, "--cache-dir", str(cache), *parts, "--shard", f"{i}/4",
                         "--out", str(work / f"bm25-s{i}.parquet")]) for i in range(1, 5)]
    total = {k: sum(s[k] for s in shard_runs) for k in ("wall_s", "cpu_s")}
    show("mine bm25 --shard i/4, all four (warm index)", {**total, "rss_mib": max(s["rss_mib"] for s in shard_runs)},
         f"= {total['wall_s'] / r['wall_s']:.2f} index builds of wall")
    timed([MINEKIT, "-q", "merge", *[str(work / f"bm25-s{i}.parquet") for i in range(1, 5)],
           "--out", str(work / "bm25-merged.parquet")])
    same = {(work / n).read_bytes() for n in ("bm25-warm.parquet", "bm25-cold.parquet", "bm25-merged.parquet")}
    print(f"  warm, cold and merged shards byte-identical: {len(same) == 1}")
    bare = timed([*me, "_bare", *common, "--bare-backend", args.bare_backend])
    phases = json.loads(bare["stdout"].strip().splitlines()[-1])
    show(f"bare bm25s ({args.bare_backend}): read + index + retrieve", bare,
         f"CPU: index {phases['index_s']:.1f} s, tokenize + retrieve {phases['retrieve_s']:.1f} s")
    search = timed([*me, "_search", *common, "--index-parts", str(args.index_parts)])
    mk = json.loads(search["stdout"].strip().splitlines()[-1])
    show("minekit search in process (warm index)", search,
         f"CPU: read {mk['read_s']:.1f} s, open {mk['open_s']:.1f} s, mine {mk['mine_s']:.1f} s")
    bare_qps = phases["queries"] / phases["retrieve_s"]
    mk_qps = n_q / (mk["mine_s"] - mk["open_s"])  # mine_bm25 opens the index again (hash + checks) before searching
    print(f"  queries/s of CPU: bm25s tokenize + retrieve {bare_qps:,.1f}; minekit tokenize + retrieve + mask + frame "
          f"{mk_qps:,.1f} (ratio {mk_qps / bare_qps:.2f}); minekit warm command end to end "
          f"{n_q / warm['wall_s']:,.1f}", flush=True)


def bench_ray_build(work: Path, cache: Path, parts: list[str], local: dict) -> None:
    """`index bm25 --ray`: each part's steps a Ray task (a local Ray on this machine's cores); the files must be
    the local build's, byte for byte. The CPU of Ray's workers is not the command's: wall time is the figure."""
    import shutil

    ray_cache = work / "bm25-cache-ray"
    shutil.rmtree(ray_cache, ignore_errors=True)
    r = timed([MINEKIT, "-q", "index", "bm25", "--corpus", str(work / "corpus.parquet"), "--cache-dir",
               str(ray_cache), *parts, "--ray"])
    here = [f for f in (cache / "bm25").iterdir() if f.name != "files"][0]
    there = ray_cache / "bm25" / here.name
    same = there.is_dir() and all((there / f.name).read_bytes() == f.read_bytes() for f in here.iterdir())
    show("index bm25 --ray (parts as tasks, local Ray)", r,
         f"{local['wall_s'] / r['wall_s']:.2f}x the local build's speed; same files: {same}")
    shutil.rmtree(ray_cache, ignore_errors=True)


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
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "_data", "_fill", "_bare", "_search"])
    parser.add_argument("--shape", default="zipf", choices=["zipf", "msmarco"],
                        help="Synthetic data: zipf (40-120 words a passage, 8 a query) or msmarco (about 55 and 6).")
    parser.add_argument("--index-parts", type=int, default=1, help="--index-parts of the bm25 runs.")
    parser.add_argument("--bare-backend", default="numpy", help="bm25s backend of the bare loop (numpy, numba).")
    parser.add_argument("--work", help="Folder for data and caches (default: a temporary one).")
    parser.add_argument("--keep", action="store_true", help="Keep --work's data and caches for the next run.")
    parser.add_argument("--ray-build", action="store_true",
                        help="bm25: also time `index bm25 --ray` (each index part a Ray task) against the local build.")
    parser.add_argument("--reuse-index", action="store_true",
                        help="bm25-warm: keep the BM25 index a --keep run left in --work instead of building it.")
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
    if args.mode == "_bare":
        return child_bare(args)
    if args.mode == "_search":
        return child_search(args)
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
              "--small", str(args.small), "--precision", args.precision, "--shape", args.shape]
    print(f"scale benchmark: {args.passages:,} passages, {args.queries:,} queries, small cut {args.small:,}; "
          f"{os.cpu_count()} cores (shared machine), nice {os.nice(0)}", flush=True)
    if not (work / "corpus.parquet").is_file():
        show("make synthetic data (seed 0)", timed([*me, "_data", *common]))
    elif not (work / "small" / "corpus.parquet").is_file():
        make_small(work, args.small)
    block = ["--block-size", str(args.block_size)] if args.block_size else []
    base = timed([sys.executable, "-c", "import polars, numpy, minekit.cli, tqdm"])
    show("baseline: interpreter + imports", base)
    if "bm25" in steps or "bm25-warm" in steps:
        bench_bm25(args, work, me, common, warm_only="bm25" not in steps)
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
