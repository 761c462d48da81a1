"""Does denoise remove false negatives? Hidden-positive experiment on NFCorpus, plus cross-encoder pairs/s.

1. Train a reranker (minekit.train_reranker, from the default MiniLM bi-encoder weights) on NFCorpus
   train data built with minekit: BM25 negatives (all train qrels excluded), a sample of queries with
   up to 2 score-2 positives each, 3 negatives per positive.
2. On the test split (a sample of queries with >= 2 score-2 positives), hide ~30% of each query's
   score-2 positives from the positives file given to the miner, mine BM25 top-k, and count the hidden
   positives that show up among the mined negatives, before and after denoise with the trained
   cross-encoder and with the default bi-encoder as guide, under several rules.
   Target: denoise removes >= 50% of the hidden positives while keeping >= 90% of the other negatives.

Run: nice -n 10 python benchmarks/bench_denoise.py  (about 10-15 minutes on 2 shared cores)
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nfcorpus"


def load(name: str) -> pl.DataFrame:
    return pl.read_parquet(DATA / f"{name}.parquet").with_columns(pl.col(pl.Int64).exclude("score").cast(pl.Utf8))


def train_data(queries, corpus, qrels, *, n_queries, top_k, seed):
    from minekit.build import build_dataset
    from minekit.mine.bm25 import mine_bm25

    rng = np.random.default_rng(seed)
    strong = qrels.filter(pl.col("score") == 2)
    qids = sorted(strong["query_id"].unique().to_list())
    qids = sorted(rng.choice(qids, size=min(n_queries, len(qids)), replace=False).tolist())
    sample = (strong.filter(pl.col("query_id").is_in(qids)).sort("query_id", "doc_id")
              .group_by("query_id", maintain_order=True).head(2))
    all_pos = qrels.filter(pl.col("query_id").is_in(qids))
    cands = mine_bm25(queries, all_pos, corpus, top_k=top_k, show_progress=False).frame
    built = build_dataset([cands], queries, sample, corpus, num_negatives=3, format="n-tuple", seed=seed)
    return built.train


def hide_positives(qrels, *, n_queries, fraction, seed):
    """Test queries with >= 2 score-2 positives; hide ceil(fraction * n) of those (at least one stays)."""
    rng = np.random.default_rng(seed)
    strong = qrels.filter(pl.col("score") == 2)
    counts = strong.group_by("query_id").len().filter(pl.col("len") >= 2)
    qids = sorted(counts["query_id"].to_list())
    qids = sorted(rng.choice(qids, size=min(n_queries, len(qids)), replace=False).tolist())
    hidden = []
    for qid, docs in strong.filter(pl.col("query_id").is_in(qids)).group_by("query_id").agg("doc_id").sort(
            "query_id").iter_rows():
        docs = sorted(docs)
        k = min(len(docs) - 1, max(1, math.ceil(fraction * len(docs))))
        hidden += [(qid, d) for d in rng.choice(docs, size=k, replace=False).tolist()]
    hidden = pl.DataFrame(hidden, schema={"query_id": pl.Utf8, "doc_id": pl.Utf8}, orient="row")
    given = qrels.filter(pl.col("query_id").is_in(qids)).join(hidden, on=["query_id", "doc_id"], how="anti")
    return given, hidden


def measure(cands: pl.DataFrame, hidden: pl.DataFrame) -> tuple[int, int]:
    """(hidden positives among candidates, other candidates), counting (query, doc) pairs."""
    pairs = cands.select("query_id", "doc_id").unique()
    n_hidden = pairs.join(hidden, on=["query_id", "doc_id"], how="semi").height
    return n_hidden, pairs.height - n_hidden


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-queries", type=int, default=400)
    ap.add_argument("--max-steps", type=int, default=60)
    ap.add_argument("--learning-rate", type=float, default=2e-5)
    ap.add_argument("--test-queries", type=int, default=60)
    ap.add_argument("--top-k", type=int, default=20)
    ap.add_argument("--hide", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=None, help="keep the model and caches here (default: temp)")
    args = ap.parse_args()

    from minekit.denoise import denoise_candidates
    from minekit.mine.bm25 import mine_bm25
    from minekit.train_reranker import train_reranker

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-denoise-"))
    work.mkdir(parents=True, exist_ok=True)
    queries, corpus = load("queries"), load("corpus")
    if "title" not in corpus.columns:
        corpus = corpus.with_columns(pl.lit("").alias("title"))
    corpus = corpus.select("doc_id", pl.col("title").fill_null(""), "text")
    queries = queries.select("query_id", "text")
    t_all = time.perf_counter()

    model_dir = work / "reranker"
    if not model_dir.is_dir():
        t = time.perf_counter()
        train = train_data(queries, corpus, load("qrels-train"), n_queries=args.train_queries, top_k=30,
                           seed=args.seed)
        result = train_reranker(train, model="default", max_steps=args.max_steps, batch_size=16, max_length=128,
                                learning_rate=args.learning_rate,
                                seed=args.seed, show_progress=False)
        result.model.save(str(model_dir))
        print(f"reranker: {train.height} n-tuple rows -> {result.stats['pairs']} pairs, "
              f"{result.stats['steps']} steps (batch 16, max_length 128, lr {args.learning_rate}), loss {result.stats['train_loss']:.4f}, "
              f"{time.perf_counter() - t:.0f} s")

    given, hidden = hide_positives(load("qrels-test"), n_queries=args.test_queries, fraction=args.hide,
                                   seed=args.seed)
    cands = mine_bm25(queries, given, corpus, top_k=args.top_k, show_progress=False).frame
    h0, o0 = measure(cands, hidden)
    print(f"\ntest: {given['query_id'].n_unique()} queries, {given.height} positives given to the miner, "
          f"{hidden.height} score-2 positives hidden; BM25 top-{args.top_k}: {cands.height} candidates")
    print(f"without denoise: {h0}/{hidden.height} hidden positives ({h0 / hidden.height:.1%}) are mined as "
          f"negatives, beside {o0} other negatives")

    cache = work / "cache"
    common = dict(cache_dir=str(cache), show_progress=False, batch_size=32)
    t = time.perf_counter()
    cold = denoise_candidates(cands, queries, given, corpus, cross_encoder=str(model_dir), max_length=128,
                              **common)
    dt = time.perf_counter() - t
    n = cold.stats["pairs_scored"]
    print(f"\ncross-encoder (MiniLM-L6, max_length 128, batch 32): {n} pairs in {dt:.1f} s = {n / dt:.1f} pairs/s "
          f"(cold, model load included); {os.cpu_count()} cpus visible, torch threads "
          f"{__import__('torch').get_num_threads()}")
    t = time.perf_counter()
    warm = denoise_candidates(cands, queries, given, corpus, cross_encoder=str(model_dir), max_length=128,
                              max_score=0.5, **common)
    print(f"rerun with a new threshold: {warm.stats['pairs_scored']} pairs scored, {warm.stats['cache_hits']} "
          f"cache hits, {time.perf_counter() - t:.1f} s")

    settings = [("cross-encoder", dict(cross_encoder=str(model_dir), max_length=128), rules)
                for rules in (dict(max_score=0.1), dict(max_score=0.3), dict(max_score=0.5), dict(max_score=0.7),
                              dict(relative_margin=0.05), dict(relative_margin=0.0),
                              dict(max_score=0.5, relative_margin=0.05))]
    settings += [("bi-encoder", dict(scorer="bi-encoder", model="default"), rules)
                 for rules in (dict(relative_margin=0.0), dict(relative_margin=0.05), dict(max_score=0.7),
                               dict(max_score=0.6), dict(max_score=0.5))]
    print(f"\n{'scorer':14} {'rules':38} {'hidden removed':>15} {'others kept':>12}  target")
    for scorer, opts, rules in settings:
        t = time.perf_counter()
        res = denoise_candidates(cands, queries, given, corpus, **opts, **rules, **common)
        h, o = measure(res.frame, hidden)
        removed, kept = (h0 - h) / max(h0, 1), o / max(o0, 1)
        ok = "met" if removed >= 0.5 and kept >= 0.9 else "not met"
        rule = ", ".join(f"{k}={v}" for k, v in rules.items())
        print(f"{scorer:14} {rule:38} {removed:>14.1%} {kept:>11.1%}  {ok}   ({time.perf_counter() - t:.0f} s)")
    # Label-free operating points: drop the top q of all candidates by score (one global max_score).
    print(f"\n{'scorer':14} {'drop top':>9} {'max_score':>10} {'hidden removed':>15} {'others kept':>12}  target")
    for scorer, opts in (("cross-encoder", dict(cross_encoder=str(model_dir), max_length=128)),
                         ("bi-encoder", dict(scorer="bi-encoder", model="default"))):
        scored = denoise_candidates(cands, queries, given, corpus, **opts, **common).frame
        is_hidden = scored.join(hidden.with_columns(pl.lit(True).alias("h")), on=["query_id", "doc_id"],
                                how="left")["h"].fill_null(False).to_numpy()
        s = scored["ce_score"].to_numpy()
        auc = (s[is_hidden][:, None] > s[~is_hidden][None, :]).mean() if is_hidden.any() else float("nan")
        for q in (0.05, 0.10, 0.15, 0.20):
            thr = float(np.quantile(s, 1 - q))
            removed = (s[is_hidden] > thr).mean() if is_hidden.any() else float("nan")
            kept = (s[~is_hidden] <= thr).mean()
            ok = "met" if removed >= 0.5 and kept >= 0.9 else "not met"
            print(f"{scorer:14} {q:>9.0%} {thr:>10.4f} {removed:>14.1%} {kept:>11.1%}  {ok}")
        print(f"{scorer:14} AUC(hidden positive scored above another negative) = {auc:.3f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {rss:.0f} MiB; total {time.perf_counter() - t_all:.0f} s; work dir {work}", file=sys.stdout)


if __name__ == "__main__":
    main()
