"""`minekit mine bm25` end to end against a bare bm25s index + retrieve loop on the same data.

Each contender runs in its own process (so peak RSS is its own): minekit's whole command (read and
validate inputs, index, retrieve with per-query positive masking, write candidates with manifest)
against bm25s alone (tokenize, index, retrieve top-k; no masking, no output). Prints queries/s of
both, the ratio (target: minekit >= 0.7x), and peak RSS.

    python benchmarks/bench_bm25.py                      # NFCorpus + synthetic 200k passages
    python benchmarks/bench_bm25.py --synthetic 50000    # smaller synthetic corpus
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NFCORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "nfcorpus"
TOP_K = 100


def make_synthetic(folder: Path, n_docs: int, n_queries: int, seed: int = 0) -> dict[str, Path]:
    """A seeded corpus with Zipf-distributed pseudo-words; each query is drawn from its positive passage."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(50_000)])
    ranks = np.arange(1, len(vocab) + 1)
    probs = 1 / ranks**1.1
    probs /= probs.sum()
    lengths = rng.integers(40, 120, size=n_docs)
    words = rng.choice(len(vocab), size=int(lengths.sum()), p=probs)
    texts, start = [], 0
    for n in lengths:
        texts.append(" ".join(vocab[words[start:start + n]]))
        start += n
    doc_ids = [f"d{i}" for i in range(n_docs)]
    positives = rng.choice(n_docs, size=n_queries, replace=False)
    queries = []
    for d in positives:
        tokens = texts[d].split()
        queries.append(" ".join(rng.choice(tokens, size=min(8, len(tokens)), replace=False)))
    paths = {name: folder / f"{name}.parquet" for name in ("queries", "positives", "corpus")}
    pl.DataFrame({"doc_id": doc_ids, "text": texts}).write_parquet(paths["corpus"])
    pl.DataFrame({"query_id": [f"q{i}" for i in range(n_queries)], "text": queries}).write_parquet(paths["queries"])
    pl.DataFrame({"query_id": [f"q{i}" for i in range(n_queries)],
                  "doc_id": [doc_ids[d] for d in positives]}).write_parquet(paths["positives"])
    return paths


def child_minekit(paths: dict[str, str], out: str) -> dict:
    start = time.perf_counter()
    from minekit.cli import app

    try:
        app(["-q", "mine", "bm25", "--queries", paths["queries"], "--positives", paths["positives"],
             "--corpus", paths["corpus"], "--out", out, "--top-k", str(TOP_K)], standalone_mode=False)
    finally:
        seconds = time.perf_counter() - start
    import polars as pl

    n = pl.read_parquet(paths["positives"])["query_id"].n_unique()
    return {"seconds": seconds, "queries": n}


def child_bare(paths: dict[str, str]) -> dict:
    start = time.perf_counter()  # imports included, as they are in minekit's command
    import bm25s
    import polars as pl
    import Stemmer

    corpus = pl.read_parquet(paths["corpus"])
    queries = pl.read_parquet(paths["queries"])
    wanted = pl.read_parquet(paths["positives"])["query_id"].unique()
    queries = queries.filter(pl.col("query_id").is_in(wanted.implode()))
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus["text"].to_list(), stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)
    query_tokens = bm25s.tokenize(queries["text"].to_list(), stopwords="en", stemmer=stemmer, show_progress=False)
    retriever.retrieve(query_tokens, k=min(TOP_K, corpus.height), show_progress=False)
    return {"seconds": time.perf_counter() - start, "queries": queries.height}


def run_child(kind: str, paths: dict[str, Path], out: Path) -> dict:
    args = [sys.executable, __file__, "--child", kind, "--paths", json.dumps({k: str(v) for k, v in paths.items()}),
            "--out", str(out)]
    result = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def compare(label: str, paths: dict[str, Path], tmp: Path) -> None:
    mk = run_child("minekit", paths, tmp / "cands.parquet")
    bare = run_child("bare", paths, tmp / "unused")
    mk_qps, bare_qps = mk["queries"] / mk["seconds"], bare["queries"] / bare["seconds"]
    print(f"{label}: {mk['queries']} queries")
    print(f"  bm25s bare loop : {bare['seconds']:7.2f} s  {bare_qps:8.0f} queries/s  peak RSS {bare['rss_mb']:6.0f} MB")
    print(f"  minekit mine bm25: {mk['seconds']:7.2f} s  {mk_qps:8.0f} queries/s  peak RSS {mk['rss_mb']:6.0f} MB")
    print(f"  ratio (minekit / bare queries/s): {mk_qps / bare_qps:.2f}x   (target >= 0.70x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child")
    parser.add_argument("--paths")
    parser.add_argument("--out")
    parser.add_argument("--synthetic", type=int, default=200_000, help="synthetic corpus size (0 to skip)")
    parser.add_argument("--synthetic-queries", type=int, default=5_000)
    args = parser.parse_args()
    if args.child:
        paths = json.loads(args.paths)
        result = child_minekit(paths, args.out) if args.child == "minekit" else child_bare(paths)
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if NFCORPUS.is_dir():
            compare("NFCorpus (3,395 passages, train queries)", {"queries": NFCORPUS / "queries.parquet",
                    "positives": NFCORPUS / "qrels-train.parquet", "corpus": NFCORPUS / "corpus.parquet"}, tmp)
        if args.synthetic:
            paths = make_synthetic(tmp, args.synthetic, args.synthetic_queries)
            compare(f"synthetic ({args.synthetic:,} passages, seed 0)", paths, tmp)


if __name__ == "__main__":
    main()
