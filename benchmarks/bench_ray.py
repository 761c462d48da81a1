"""Single process vs a local Ray (same machine) for `mine bm25` and `mine dense`: wall time and the ratio.

Each run is its own process. The Ray runs start a local Ray (`ray.init(num_cpus=N)`), which is counted
separately ("ray start"), run the stage with ray=True (shards as Ray tasks, encoding on Ray Data actors),
and are checked byte for byte against the single-process output (dense: against a single-process run
over the cache the Ray actors filled, see minekit.execution.shards). On one machine Ray can only spread the same
cores: the ratio shows the overhead of the runner, not the gain of a cluster.

    python benchmarks/bench_ray.py                          # 20k synthetic passages (dense: the first 2k)
    python benchmarks/bench_ray.py --docs 5000 --dense-docs 500 --cpus 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def child(kind: str, paths: dict, out: str, cache: str, cpus: int, ray_on: bool) -> dict:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    ray_start = 0.0
    if ray_on:
        import ray

        ray.init(num_cpus=cpus, include_dashboard=False, configure_logging=False)
        ray_start = time.perf_counter() - started
    import minekit as mk

    began = time.perf_counter()
    extra = {"ray": True, "shards": cpus} if ray_on else {}
    if kind == "bm25":
        result = mk.mine_bm25(**paths, out=out, top_k=100, show_progress=False, **extra)
    else:
        result = mk.mine_dense(**paths, out=out, top_k=100, cache_dir=cache, show_progress=False, **extra)
    return {"seconds": time.perf_counter() - began, "ray_start": ray_start,
            "texts_encoded": result.stats.get("texts_encoded")}


def run(kind: str, paths: dict, out: Path, cache: Path, cpus: int, ray_on: bool) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); import bench_ray; "
            f"print(json.dumps(bench_ray.child({kind!r}, {json.dumps({k: str(v) for k, v in paths.items()})}, "
            f"{str(out)!r}, {str(cache)!r}, {cpus}, {ray_on})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{kind} (ray={ray_on}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def subset(paths: dict, folder: Path, n_docs: int) -> dict:
    """The first n_docs passages and the queries whose positives are among them."""
    import polars as pl

    corpus = pl.read_parquet(paths["corpus"]).head(n_docs)
    positives = pl.read_parquet(paths["positives"]).filter(pl.col("doc_id").is_in(corpus["doc_id"].implode()))
    queries = pl.read_parquet(paths["queries"]).filter(pl.col("query_id").is_in(positives["query_id"].implode()))
    out = {name: folder / f"dense-{name}.parquet" for name in ("queries", "positives", "corpus")}
    for name, frame in (("queries", queries), ("positives", positives), ("corpus", corpus)):
        frame.write_parquet(out[name])
    return out


def main() -> None:
    from bench_bm25 import make_synthetic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--dense-docs", type=int, default=2_000)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = make_synthetic(tmp, args.docs, args.queries)
        dense_paths = subset(paths, tmp, args.dense_docs)
        rows = []
        for kind, inputs in (("bm25", paths), ("dense", dense_paths)):
            single = run(kind, inputs, tmp / f"{kind}.parquet", tmp / "cache-single", args.cpus, False)
            on_ray = run(kind, inputs, tmp / f"{kind}-ray.parquet", tmp / "cache-ray", args.cpus, True)
            reference = tmp / f"{kind}.parquet"
            if kind == "dense":  # the same vectors: a single-process run over the cache the actors filled
                run(kind, inputs, tmp / "dense-warm.parquet", tmp / "cache-ray", args.cpus, False)
                reference = tmp / "dense-warm.parquet"
            same = reference.read_bytes() == (tmp / f"{kind}-ray.parquet").read_bytes()
            rows.append((kind, single["seconds"], on_ray["seconds"], on_ray["ray_start"], same))
        import polars as pl

        n_dense = pl.read_parquet(dense_paths["queries"]).height
        print(f"{args.docs} passages / {args.queries} queries (bm25), {args.dense_docs} passages / {n_dense} "
              f"queries (dense, cold cache, packaged MiniLM); local Ray with {args.cpus} CPUs, {args.cpus} shards")
        print(f"{'stage':6} {'single s':>9} {'ray s':>8} {'ray/single':>11} {'ray start s':>12}  identical")
        for kind, single_s, ray_s, start_s, same in rows:
            print(f"{kind:6} {single_s:9.1f} {ray_s:8.1f} {ray_s / single_s:11.2f} {start_s:12.1f}  {same}")


if __name__ == "__main__":
    main()
