"""`minekit build` at scale: peak RSS and time on N candidate rows, in its own process.

Seeded synthetic inputs of the MS MARCO shape: Q queries (a tenth with a second positive), a corpus of
--passages short passages, and two candidates files (bm25 and dense, as the miners write them) with
--top-k candidates per query each, so N = 2 x Q x top_k rows. Prints wall time, CPU time and peak RSS
(getrusage of the child) of `minekit build` with the default recipe, and the sha256 of train.parquet
and ids.parquet, so runs with other --chunk-queries can be compared byte for byte.

    nice -n 10 python benchmarks/bench_build.py                        # 10M candidate rows (50k x 2 x 100)
    python benchmarks/bench_build.py --queries 5000 --chunk-queries 0  # 1M rows, one chunk (all queries)

Target: 10M candidate rows under 4 GB peak RSS.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dense import MINEKIT, timed  # noqa: E402 - one timing wrapper for every benchmark


def make_inputs(work: Path, n_queries: int, n_passages: int, top_k: int, seed: int = 0) -> dict[str, Path]:
    import numpy as np
    import polars as pl

    files = {name: work / f"{name}.parquet" for name in ("queries", "positives", "corpus", "bm25", "dense")}
    if all(f.is_file() for f in files.values()):  # --work of an earlier run: the same seeded inputs
        return files
    rng = np.random.default_rng(seed)
    work.mkdir(parents=True, exist_ok=True)
    doc_ids = [f"d{i:08d}" for i in range(n_passages)]
    pl.DataFrame({"doc_id": doc_ids, "title": [""] * n_passages,
                  "text": [f"passage {i} about topic {i % 997}" for i in range(n_passages)]}
                 ).write_parquet(work / "corpus.parquet")
    query_ids = [f"q{i:07d}" for i in range(n_queries)]
    pl.DataFrame({"query_id": query_ids, "text": [f"question {i}" for i in range(n_queries)]}
                 ).write_parquet(work / "queries.parquet")
    first = rng.integers(n_passages, size=n_queries)
    second = rng.integers(n_passages, size=n_queries)
    two = np.arange(n_queries) % 10 == 0
    pos = pl.DataFrame({"query_id": query_ids + [q for q, t in zip(query_ids, two) if t],
                        "doc_id": [doc_ids[i] for i in first] + [doc_ids[i] for i in second[two]]})
    pos = pos.unique(["query_id", "doc_id"], maintain_order=True).with_columns(pl.lit(1.0).alias("score"))
    pos.write_parquet(work / "positives.parquet")
    pos_lists = pos.group_by("query_id", maintain_order=True).agg(pl.col("doc_id").alias("positive_ids"))
    for source, kind, scale in (("bm25", "bm25", 20.0), ("dense", "cosine", 1.0)):
        docs = rng.integers(n_passages, size=(n_queries, top_k))
        scores = np.sort(rng.random((n_queries, top_k)).astype(np.float32) * scale, axis=1)[:, ::-1]
        frame = pl.DataFrame({
            "query_id": np.repeat(np.array(query_ids), top_k),
            "doc_id": np.array(doc_ids)[docs.ravel()],
            "source": source,
            "rank": np.tile(np.arange(1, top_k + 1, dtype=np.int32), n_queries),
            "score": scores.ravel(),
            "score_kind": kind,
            "positive_score": np.repeat(rng.random(n_queries).astype(np.float32) * scale * 0.9, top_k),
        }).unique(["query_id", "doc_id"], maintain_order=True)
        frame = frame.join(pos_lists, on="query_id", maintain_order="left").with_columns(
            pl.col("positive_ids").list.eval(pl.lit(0.9 * scale, pl.Float32)).alias("positive_scores"))
        frame.write_parquet(work / f"{source}.parquet")
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=50_000)
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--top-k", type=int, default=100)
    parser.add_argument("--chunk-queries", type=int, default=None,
                        help="build's --chunk-queries (0: every query in one chunk); default: build's own")
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-build-"))
    files = make_inputs(work, args.queries, args.passages, args.top_k)
    import polars as pl

    rows = sum(pl.scan_parquet(files[s]).select(pl.len()).collect().item() for s in ("bm25", "dense"))
    print(f"# {rows:,} candidate rows ({args.queries:,} queries, {args.passages:,} passages), work {work}")
    cmd = [MINEKIT, "-q", "build", "--candidates", str(files["bm25"]), "--candidates", str(files["dense"]),
           "--queries", str(files["queries"]), "--positives", str(files["positives"]),
           "--corpus", str(files["corpus"]), "--name", "bench", "--out-dir", str(work / "datasets")]
    if args.chunk_queries is not None:
        cmd += ["--chunk-queries", str(args.chunk_queries)]
    shutil.rmtree(work / "datasets", ignore_errors=True)
    r = timed(cmd)
    version = work / "datasets" / "bench" / "v1"
    digest = {f: hashlib.sha256((version / f).read_bytes()).hexdigest()[:16] for f in ("train.parquet", "ids.parquet")}
    print(f"  build  {r['wall_s']:8.1f} s wall  {r['cpu_s']:8.1f} s CPU  {r['rss_mib']:7.0f} MiB peak RSS  {digest}")


if __name__ == "__main__":
    main()
