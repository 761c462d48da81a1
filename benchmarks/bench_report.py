"""`minekit report` on a 100k-row dataset: wall time and page size (targets: < 30 s, < 5 MB).

The dataset is synthetic but made the way minekit makes one, so the report reads everything it reads
on real data: two miners' candidate files (20 per query each, so 4M candidate rows), each filtered
(range_min 2, relative_margin 0.05) with manifests chaining the files, then `build` (one random
negative per query, fill random) into a dataset folder. As a reference measured in the same run,
it also times plainly reading the files the report reads (ids, train, the four candidate files).

    python benchmarks/bench_report.py                 # 100k queries, one positive each
    python benchmarks/bench_report.py --queries 20000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

PER_SOURCE = 20


def make_dataset(folder: Path, n_queries: int, seed: int = 0) -> Path:
    import numpy as np
    import polars as pl

    from minekit.dataset.build import build_dataset
    from minekit.dataset.store import write_dataset
    from minekit.clean.filter import filter_candidates
    from minekit.io import write_parquet
    from minekit.manifest import describe_inputs, make_manifest, upstream_steps

    rng = np.random.default_rng(seed)
    n_docs = 2 * n_queries
    queries = pl.DataFrame({"query_id": [f"q{i:07d}" for i in range(n_queries)],
                            "text": [f"question {i} about topic {i % 997}" for i in range(n_queries)]})
    corpus = pl.DataFrame({"doc_id": [f"d{i:07d}" for i in range(n_docs)], "title": [""] * n_docs,
                           "text": [f"passage {i} on topic {i % 997} with some words" for i in range(n_docs)]})
    positives = pl.DataFrame({"query_id": queries["query_id"], "doc_id": corpus["doc_id"][:n_queries],
                              "score": [1] * n_queries})
    kept_files = []
    for source, draw in (("bm25", lambda n: rng.gamma(2.0, 2.0, n)), ("dense", lambda n: rng.beta(5, 3, n))):
        qidx = np.repeat(np.arange(n_queries), PER_SOURCE)
        docs = (qidx + 1 + rng.integers(0, n_docs - 1, qidx.size)) % n_docs  # never doc qidx: the positive
        scores = -np.sort(-draw(qidx.size).reshape(n_queries, PER_SOURCE), axis=1).ravel()
        cands = pl.DataFrame({
            "query_id": queries["query_id"].gather(qidx), "doc_id": corpus["doc_id"].gather(docs),
            "source": source, "rank": np.tile(np.arange(1, PER_SOURCE + 1), n_queries).astype(np.int32),
            "score": scores.astype(np.float32),
            "positive_score": np.repeat(draw(n_queries) * 1.3, PER_SOURCE).astype(np.float32)})
        cands = cands.unique(["query_id", "doc_id"], keep="first", maintain_order=True)
        mined = folder / f"{source}.parquet"
        write_parquet(cands, mined, make_manifest(f"mine.{source}", {"top_k": PER_SOURCE}, {},
                                                  {"rows_out": cands.height}))
        result = filter_candidates(cands, range_min=2, relative_margin=0.05)
        kept = folder / f"{source}-filtered.parquet"
        write_parquet(result.frame, kept, make_manifest("filter", {"range_min": 2, "relative_margin": 0.05},
                                                        describe_inputs({"candidates": mined}), result.stats,
                                                        upstream_steps([mined])))
        kept_files.append(kept)
    frames = [pl.read_parquet(p) for p in kept_files]
    params = {"num_negatives": 1, "format": "triplet", "sampling_strategy": "random", "fill": "random", "seed": 0}
    built = build_dataset(frames, queries, positives, corpus, **params)
    manifest = make_manifest("build", params, describe_inputs({"candidates": kept_files}), built.stats,
                             upstream_steps(kept_files))
    return write_dataset(built, out_dir=folder / "datasets", name="bench", manifest=manifest)


def main() -> None:
    import polars as pl

    from minekit.io import write_text
    from minekit.handoff.report import make_report

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        dataset = make_dataset(folder, args.queries)
        print(f"dataset: {pl.read_parquet(dataset / 'train.parquet').height:,} rows, made in "
              f"{time.perf_counter() - t0:.1f}s")
        t0 = time.perf_counter()
        for name in ("ids.parquet", "train.parquet"):
            pl.read_parquet(dataset / name)
        for path in folder.glob("*.parquet"):
            pl.read_parquet(path)
        read_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = make_report(dataset, examples=5)
        write_text(folder / "report.html", result.html)
        report_s = time.perf_counter() - t0
        size = (folder / "report.html").stat().st_size
        print(f"reading the files alone: {read_s:.2f}s")
        print(f"minekit report: {report_s:.2f}s ({report_s / read_s:.1f}x reading), {size / 1e6:.3f} MB "
              f"(targets: < 30 s, < 5 MB) -> {'ok' if report_s < 30 and size < 5e6 else 'MISSED'}")


if __name__ == "__main__":
    main()
