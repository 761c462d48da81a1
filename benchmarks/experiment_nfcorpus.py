"""What do mined negatives buy? Fine-tune MiniLM on NFCorpus train pairs with different negatives, evaluate on test.

Reproduces issue #6's experiment from scratch (no files in the repo are needed besides minekit):

  nice -n 10 python benchmarks/experiment_nfcorpus.py --work /tmp/nfexp 2>/tmp/nfexp.log

Data: ../shared/data/nfcorpus (lowercased, stopwords removed; see its SOURCE.md). Training pairs: a seeded
sample of score-2 (direct citation) pairs from qrels-train, at most --per-query positives a query. Every
train qrel of a sampled query (score 1 or 2) is masked from mining, so known positives are never negatives.
Every variant trains the same number of steps (--pairs // --batch-size) with the same seed, learning rate
and max_seq_length; evaluation is exact search on qrels-test (323 queries, graded nDCG) at max_seq_length.

Variants: base (no training), pairs (MNRL, in-batch negatives only), bm25 (top-1 BM25 negative), dense
(top-1 dense negative from the base model), mix (bm25 + dense merged, ranks 1..range_min skipped, rank
<= range_max, relative margin to the positive, one negative sampled at random), and more with --variants.
Results go to WORK/results.json after each variant, and a table to stdout at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import polars as pl

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nfcorpus"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/nfcorpus")

# name -> how its negatives are made (None = no negatives)
RECIPES = {
    "pairs": None,
    "bm25": {"sources": ["bm25"], "filter": {}, "sampling_strategy": "top"},
    "dense": {"sources": ["dense"], "filter": {}, "sampling_strategy": "top"},
    "mix": {"sources": ["bm25", "dense"], "filter": {"range_min": 3, "range_max": 30, "relative_margin": 0.05},
            "sampling_strategy": "random"},
    "dense-skip": {"sources": ["dense"], "filter": {"range_min": 10, "range_max": 50},
                   "sampling_strategy": "random"},
    "bm25-skip": {"sources": ["bm25"], "filter": {"range_min": 10, "range_max": 50},
                  "sampling_strategy": "random"},
}


def sample_pairs(positives: pl.DataFrame, *, n: int, per_query: int, seed: int) -> pl.DataFrame:
    """A seeded sample of n score-2 pairs, at most per_query a query."""
    direct = positives.filter(pl.col("score") >= 2).sort("query_id", "doc_id")
    direct = direct.with_columns(pl.int_range(pl.len()).shuffle(seed=seed).over("query_id").alias("_r"))
    capped = direct.filter(pl.col("_r") < per_query).drop("_r")
    return capped.sample(n=min(n, capped.height), seed=seed, shuffle=False).sort("query_id", "doc_id")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/nfexp"))
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--per-query", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default="base,pairs,bm25,dense,mix")
    parser.add_argument("--cache", type=Path, default=None, help="Embedding cache folder (default WORK/embeddings).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")

    from minekit.build import build_dataset
    from minekit.evaluate import evaluate_retrieval
    from minekit.filter import filter_candidates
    from minekit.io import read_inputs
    from minekit.mine.bm25 import mine_bm25
    from minekit.mine.dense import mine_dense
    from minekit.models import load_bi_encoder
    from minekit.train import train_bi_encoder

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    cache = str(args.cache or work / "embeddings")
    results_path = work / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}

    train_in = read_inputs(DATA / "queries.parquet", DATA / "qrels-train.parquet", DATA / "corpus.parquet")
    test_in = read_inputs(DATA / "queries.parquet", DATA / "qrels-test.parquet", DATA / "corpus.parquet")
    pairs = sample_pairs(train_in.positives, n=args.pairs, per_query=args.per_query, seed=args.seed)
    sampled_queries = train_in.queries.filter(pl.col("query_id").is_in(pairs["query_id"].unique().implode()))
    mask = train_in.positives.filter(pl.col("query_id").is_in(pairs["query_id"].unique().implode()))
    steps = pairs.height // args.batch_size  # one epoch, the same for every variant
    print(f"# {pairs.height} training pairs from {sampled_queries.height} queries; {steps} steps of "
          f"{args.batch_size}; lr {args.learning_rate}; max_seq_length {args.max_seq_length}; seed {args.seed}",
          flush=True)

    def base_model():
        model = load_bi_encoder("default")
        model.max_seq_length = args.max_seq_length
        return model

    def evaluate(name: str, model, cache_dir: str | None) -> None:
        started = time.perf_counter()
        res = evaluate_retrieval(test_in.queries, test_in.positives, test_in.corpus, model=model, k=(10, 100),
                                 cache_dir=cache_dir, show_progress=False)
        entry = {k: v for k, v in res.metrics.items() if "@" in k}
        entry["eval_s"] = round(time.perf_counter() - started, 1)
        results[name] = {**results.get(name, {}), **entry}
        results_path.write_text(json.dumps(results, indent=2))
        print(f"{name}: ndcg@10 {entry['ndcg@10']:.4f} mrr@10 {entry['mrr@10']:.4f} "
              f"recall@100 {entry['recall@100']:.4f} ({entry['eval_s']}s eval)", flush=True)

    candidates: dict[str, pl.DataFrame] = {}

    def mined(source: str) -> pl.DataFrame:
        if source not in candidates:
            path = work / f"cands-{source}.parquet"
            if path.is_file():
                candidates[source] = pl.read_parquet(path)
            else:
                started = time.perf_counter()
                # Mine against the sampled positives, so positive_score (the base of the margins) is the
                # score of the pairs we train on; then drop every other known positive of the query
                # (NFCorpus has a median 18 qrels a query, many indirect): they are not negatives.
                if source == "bm25":
                    res = mine_bm25(sampled_queries, pairs, train_in.corpus, top_k=args.top_k, show_progress=False)
                else:
                    res = mine_dense(sampled_queries, pairs, train_in.corpus, model=base_model(), top_k=args.top_k,
                                     cache_dir=cache, show_progress=False)
                frame = filter_candidates(res.frame, mask.select("query_id", "doc_id")).frame
                frame.write_parquet(path)
                candidates[source] = frame
                print(f"# mined {source}: {res.frame.height} candidates in {time.perf_counter() - started:.0f}s",
                      flush=True)
        return candidates[source]

    for name in args.variants.split(","):
        if name in results and "ndcg@10" in results[name]:
            print(f"{name}: done before (see {results_path})", flush=True)
            continue
        if name == "base":
            evaluate("base", base_model(), cache)
            continue
        recipe = RECIPES[name]
        if recipe is None:
            train = pairs.join(train_in.queries, on="query_id").join(
                train_in.corpus.select("doc_id", pl.col("text").alias("positive")), on="doc_id"
            ).select(pl.col("text").alias("anchor"), "positive")
            ids, build_stats = None, {}
        else:
            frames = []
            for source in recipe["sources"]:
                cands = mined(source)
                if recipe["filter"]:
                    cands = filter_candidates(cands, None, **recipe["filter"]).frame
                frames.append(cands)
            built = build_dataset(frames, train_in.queries, pairs, train_in.corpus, num_negatives=1,
                                  format="triplet", sampling_strategy=recipe["sampling_strategy"], fill="random",
                                  seed=args.seed)
            train, ids, build_stats = built.train, built.ids, built.stats
            sources = ids["negative_sources"].list.first().value_counts().sort("count", descending=True)
            print(f"# {name}: {train.height} rows; negative sources {dict(sources.iter_rows())}; "
                  f"mean negative rank-score {ids['negative_scores'].list.first().mean():.3f}", flush=True)
        started = time.perf_counter()
        trained = train_bi_encoder(train, ids, model=base_model(), loss="mnrl", batch_size=args.batch_size,
                                   learning_rate=args.learning_rate, max_seq_length=args.max_seq_length,
                                   max_steps=steps, seed=args.seed, show_progress=False)
        results[name] = {"train": {**trained.stats, "build": {k: v for k, v in build_stats.items()
                                                              if not isinstance(v, dict)}}}
        print(f"# {name}: trained {trained.stats['steps']} steps in {time.perf_counter() - started:.0f}s, "
              f"loss {trained.stats['train_loss']:.4f}", flush=True)
        evaluate(name, trained.model, None)

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n| variant | nDCG@10 | MRR@10 | Recall@10 | Recall@100 | d nDCG@10 vs base | d vs pairs |")
    print("|---|---|---|---|---|---|---|")
    base = results.get("base", {}).get("ndcg@10")
    pairs_score = results.get("pairs", {}).get("ndcg@10")
    for name, r in results.items():
        if "ndcg@10" not in r:
            continue
        d_base = f"{r['ndcg@10'] - base:+.4f}" if base is not None else "-"
        d_pairs = f"{r['ndcg@10'] - pairs_score:+.4f}" if pairs_score is not None else "-"
        print(f"| {name} | {r['ndcg@10']:.4f} | {r['mrr@10']:.4f} | {r['recall@10']:.4f} | {r['recall@100']:.4f} "
              f"| {d_base} | {d_pairs} |")
    print(f"\npeak RSS {rss:.0f} MiB; results in {results_path}")


if __name__ == "__main__":
    main()
