"""Does denoise remove false negatives? Hidden-positive experiments on NFCorpus, plus cross-encoder pairs/s.

0. The bi-encoder guide's rules, as a user runs `minekit denoise --scorer bi-encoder`: on the test split,
   every query with >= 2 score-2 positives has some of them hidden from the miner and from denoise
   (30% of them, or one per query); its other labelled documents are masked,
   so the candidates are hidden positives and unlabelled documents. A third setting hides one and gives
   every other labelled document as a positive (many positives a query); a fourth hides all but one (one
   positive a query, nothing to calibrate on). BM25 top-20 and dense top-30 are
   denoised with the default rules (positive_neighbours "auto"), with max_positive_similarity "auto", with
   GISTEmbed's margin alone and with a relative margin; printed: the hidden positives removed, the other
   candidates kept, and the AUC of each signal (hidden positive scored above another candidate).
   Target: >= 80% of the hidden positives removed while >= 90% of the other candidates are kept.
   Run for each guide of --guides: the default model, and the round-1 model (pairs-only fine-tuning on
   NFCorpus train, an in-domain judge). About 2 minutes a guide, plus a few to train round 1. Steps 1-2 run with --reranker.
1. Train a reranker (minekit.training.reranker, from the default MiniLM bi-encoder weights) on NFCorpus
   train data built with minekit: BM25 negatives (all train qrels excluded), a sample of queries with
   up to 2 score-2 positives each, 3 negatives per positive.
2. On the test split (a sample of queries with >= 2 score-2 positives), hide ~30% of each query's
   score-2 positives from the positives file given to the miner, mine BM25 top-k, and count the hidden
   positives that show up among the mined negatives, before and after denoise with the trained
   cross-encoder and with the default bi-encoder as guide, under several rules.
   Target: denoise removes >= 50% of the hidden positives while keeping >= 90% of the other negatives.

Run: nice -n 10 python benchmarks/bench_denoise.py [--reranker]  (about 2, or 12-17, minutes on 2 shared cores)
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
    from minekit.dataset.build import build_dataset
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


def measure(cands: pl.DataFrame, hidden: pl.DataFrame) -> tuple[int, int]:
    """(hidden positives among candidates, other candidates), counting (query, doc) pairs."""
    pairs = cands.select("query_id", "doc_id").unique()
    n_hidden = pairs.join(hidden, on=["query_id", "doc_id"], how="semi").height
    return n_hidden, pairs.height - n_hidden


def hide_positives(qrels, *, fraction: float | None, seed: int, n_queries: int | None = None):
    """Test queries with >= 2 score-2 positives (n_queries of them drawn at random, or all) hide
    ceil(fraction * n) of those (one when fraction is None; at least one stays). Returns (given: the
    score-2 positives left, hidden, masked: every labelled document of those queries except the hidden
    ones, which the miner must not return)."""
    rng = np.random.default_rng(seed)
    strong = qrels.filter(pl.col("score") == 2)
    multi = (strong.group_by("query_id").agg(pl.col("doc_id").sort()).filter(pl.col("doc_id").list.len() >= 2)
             .sort("query_id"))
    if n_queries is not None:
        qids = multi["query_id"].to_list()
        picked = rng.choice(qids, size=min(n_queries, len(qids)), replace=False).tolist()
        multi = multi.filter(pl.col("query_id").is_in(pl.Series(picked).implode()))
    hidden = []
    for qid, docs in multi.iter_rows():
        k = 1 if fraction is None else min(len(docs) - 1, max(1, math.ceil(fraction * len(docs))))
        hidden += [(qid, d) for d in rng.choice(docs, size=k, replace=False).tolist()]
    hidden = pl.DataFrame(hidden, schema={"query_id": pl.Utf8, "doc_id": pl.Utf8}, orient="row")
    qids = multi.select("query_id")
    given = strong.join(qids, on="query_id", how="semi").join(hidden, on=["query_id", "doc_id"], how="anti")
    masked = qrels.join(qids, on="query_id", how="semi").join(hidden, on=["query_id", "doc_id"], how="anti")
    return given, hidden, masked


def auc(scores: np.ndarray, is_hidden: np.ndarray) -> float:
    """P(a hidden positive scores above another candidate), ties counted half."""
    h, o = scores[is_hidden], scores[~is_hidden]
    if not len(h) or not len(o):
        return float("nan")
    return float((h[:, None] > o[None, :]).mean() + 0.5 * (h[:, None] == o[None, :]).mean())


def round1_guide(queries, corpus, folder: Path, seed: int) -> str:
    """An in-domain guide: the pairs-only model of experiment_nfcorpus.py's round 1 (1,600 score-2 train
    pairs, at most 3 a query; 50 steps of 32, MNRL, lr 5e-5, max_seq_length 96, float32), saved once."""
    from experiment_nfcorpus import sample_pairs

    from minekit.training.train import train_bi_encoder

    if not (folder / "config.json").is_file():
        pairs = sample_pairs(load("qrels-train"), n=1600, per_query=3, seed=seed)
        train = (pairs.join(queries, on="query_id").join(corpus.select("doc_id", pl.col("text").alias("positive")),
                                                         on="doc_id")
                 .select(pl.col("text").alias("anchor"), "positive"))
        started = time.process_time()
        trained = train_bi_encoder(train, None, model="default", loss="mnrl", batch_size=32, learning_rate=5e-5,
                                   max_seq_length=96, max_steps=50, seed=seed, dtype="float32", show_progress=False)
        trained.model.save(str(folder))
        print(f"round-1 guide: {train.height} pairs, 50 steps, {time.process_time() - started:.0f} CPU s -> {folder}")
    return str(folder)


def guide_rules(queries, corpus, cache: Path, seed: int, guide: str = "default") -> None:
    from minekit.clean.denoise import denoise_candidates
    from minekit.mine.bm25 import mine_bm25
    from minekit.mine.dense import mine_dense

    qrels = load("qrels-test")
    off = {"positive_neighbours": None}
    rules = [("default (positive_neighbours auto)", {}),
             ("max_positive_similarity auto", {**off, "max_positive_similarity": "auto"}),
             ("GISTEmbed margin alone (absolute 0)", off),
             ("relative margin 0.05", {**off, "absolute_margin": None, "relative_margin": 0.05})]
    print(f"{'hidden':9} {'miner':13} {'rule':40} {'hidden removed':>15} {'others kept':>12}  target")
    # "all": one hidden, and every other labelled document (score 1 too, ~28 a query) given as a positive;
    # "one given": all but one hidden, as with one positive a query (nothing to calibrate on)
    for label, fraction in (("30%", 0.3), ("one", None), ("one, all", None), ("one given", 1.0)):
        given, hidden, masked = hide_positives(qrels, fraction=fraction, seed=seed)
        if label == "one, all":
            given = masked
        for miner, top_k in (("bm25", 20), ("dense", 30)):
            if miner == "bm25":
                cands = mine_bm25(queries, masked, corpus, top_k=top_k, show_progress=False).frame
            else:
                cands = mine_dense(queries, masked, corpus, top_k=top_k, cache_dir=str(cache),
                                   show_progress=False).frame
            h0, o0 = measure(cands, hidden)
            for name, opts in rules:
                res = denoise_candidates(cands, queries, given, corpus, scorer="bi-encoder", model=guide,
                                         cache_dir=str(cache), show_progress=False, **opts)
                h, o = measure(res.frame, hidden)
                removed, kept = (h0 - h) / max(h0, 1), o / max(o0, 1)
                ok = "met" if removed >= 0.8 and kept >= 0.9 else "not met"
                print(f"{label:9} {f'{miner} top-{top_k}':13} {name:40} {removed:>14.1%} {kept:>11.1%}  {ok}")
            run = denoise_candidates(cands, queries, given, corpus, scorer="bi-encoder", model=guide,
                                     cache_dir=str(cache), max_positive_similarity="auto", keep_dropped=True,
                                     show_progress=False)
            scored, resolved = run.frame, run.stats["resolved"]
            is_hidden = scored.join(hidden.with_columns(pl.lit(True).alias("_h")), on=["query_id", "doc_id"],
                                    how="left")["_h"].fill_null(False).to_numpy()
            k = resolved["positive_neighbours"]
            near = -scored["neighbour_rank"].fill_null(k + 1).to_numpy().astype(float)  # higher: nearer
            cosine = (f"{auc(scored['positive_cosine'].to_numpy(), is_hidden):.3f}"
                      if "positive_cosine" in scored.columns else "- (no pairs to calibrate on)")
            print(f"{'':23} {h0} hidden positives among {cands.height} candidates; auto k {k} (from "
                  f"{resolved['positive_neighbours_calibrated_on']} positives), auto cosine threshold "
                  f"{resolved['max_positive_similarity']} (from {resolved['positive_similarity_calibrated_on']} "
                  f"pairs); AUC of the guide's cosine to the query {auc(scored['ce_score'].to_numpy(), is_hidden):.3f}, "
                  f"to the nearest positive {cosine}, of the neighbour rank {auc(near, is_hidden):.3f}")


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
    ap.add_argument("--guides", default="default,round1",
                    help="bi-encoder guides of step 0: default (all-MiniLM-L6-v2) and/or round1 (the pairs-only "
                         "model trained on NFCorpus train, as the experiments' round 1)")
    ap.add_argument("--reranker", action="store_true", help="also train a reranker and denoise with it (steps 1-2)")
    args = ap.parse_args()

    from minekit.clean.denoise import denoise_candidates
    from minekit.mine.bm25 import mine_bm25
    from minekit.training.reranker import train_reranker

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-denoise-"))
    work.mkdir(parents=True, exist_ok=True)
    queries, corpus = load("queries"), load("corpus")
    if "title" not in corpus.columns:
        corpus = corpus.with_columns(pl.lit("").alias("title"))
    corpus = corpus.select("doc_id", pl.col("title").fill_null(""), "text")
    queries = queries.select("query_id", "text")
    t_all = time.perf_counter()
    for guide in args.guides.split(","):
        model = "default" if guide == "default" else round1_guide(queries, corpus, work / f"round1-{args.seed}",
                                                                   args.seed)
        print(f"\nguide: {guide} ({model})")
        guide_rules(queries, corpus, work / "cache", args.seed, model)
    if not args.reranker:
        print(f"\ntotal {time.perf_counter() - t_all:.0f} s; work dir {work}")
        return

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

    # the miner and denoise are given every labelled document but the hidden ones
    _, hidden, given = hide_positives(load("qrels-test"), n_queries=args.test_queries, fraction=args.hide,
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
    settings += [("bi-encoder", dict(scorer="bi-encoder", model="default", positive_neighbours=None), rules)
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
        scored = denoise_candidates(cands, queries, given, corpus, **opts, keep_dropped=True, **common).frame
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
