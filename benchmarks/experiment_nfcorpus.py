"""Which negatives make a model better? Fine-tune MiniLM on NFCorpus train pairs with each recipe, on
several training seeds, in two label regimes, and evaluate on a held-out split.

  python benchmarks/experiment_nfcorpus.py --work /tmp/nfexp --split dev --seeds 0 \
      --variants base,pairs,ntuple-3,ntuple-3-random,simans,ntuple-5 2>/tmp/nfexp.log     # choose
  python benchmarks/experiment_nfcorpus.py --work /tmp/nfexp --split dev --seeds 0,1,2 \
      --variants base,pairs,ntuple-5,ntuple-7 2>/tmp/nfexp.log                           # 5 or 7 negatives
  python benchmarks/experiment_nfcorpus.py --work /tmp/nfexp --split test --seeds 0,1,2 2>/tmp/nfexp.log   # report
  OMP_NUM_THREADS=1 python benchmarks/experiment_nfcorpus.py ... --seeds 1 &    # seeds as parallel processes,
  OMP_NUM_THREADS=1 python benchmarks/experiment_nfcorpus.py ... --seeds 2 &    # one core each, one results file
  python benchmarks/experiment_nfcorpus.py ... --seeds 0,1,2 --cost-seeds 1,2 --table-only   # the table so far
  python benchmarks/experiment_nfcorpus.py ... --table-only --choose hardest-1,hardest-3,hardest-5   # the cost rule

Data: ../shared/data/nfcorpus (lowercased, stopwords removed; see its SOURCE.md). Training pairs: one seeded
sample (seed 0 for every run) of score-2 (direct citation) pairs from qrels-train, at most --per-query a
query. Two label regimes, the same training pairs:

- sparse: only the training pairs are known positives (what a user with these pairs has); the query's
  other labelled documents (its other score-2 and its score-1 citations) can be mined as negatives,
  as the unlabelled positives of sparse data are.
- complete: every labelled document of the query is masked from the negatives, which behaves like data
  with complete labels: there the hardest candidates are true negatives.

Every variant trains the same number of steps (--pairs // --batch-size, one epoch of the pairs) with the
same learning rate, max_seq_length and training dtype; a training seed sets data order, initialisation of nothing else,
and the seed of every random draw in build. Evaluation is exact search over the corpus on the chosen
split (graded nDCG). Results go to WORK/results-SPLIT-DTYPE.json after every run (a rerun skips what is there;
another budget, e.g. --learning-rate 2e-5, goes to results-SPLIT-DTYPE-learningrate2e-05.json), and
the table (mean and standard deviation over seeds) to stdout.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import polars as pl

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nfcorpus"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/nfcorpus")

# name -> how its negatives are made: miners, filter params per miner, optional denoise params, build
# params (None = pairs only).
# mhn-*: sentence-transformers' mine_hard_negatives with its defaults (top-1 dense) and with its
# documented "safe" settings; minekit: `minekit build` with no recipe flag over bm25 + dense candidates.
RECIPES = {
    "pairs": None,
    "mhn-default": {"sources": ["dense"], "filter": {},
                    "build": {"num_negatives": 1, "relative_margin": None, "sampling_strategy": "top"}},
    "mhn-safe": {"sources": ["dense"], "filter": {"range_min": 10, "range_max": 50, "max_score": 0.8,
                                                 "relative_margin": 0.05},
                 "build": {"num_negatives": 1, "relative_margin": None, "sampling_strategy": "random"}},
    "bm25-top1": {"sources": ["bm25"], "filter": {},
                  "build": {"num_negatives": 1, "relative_margin": None, "sampling_strategy": "top"}},
    "minekit": {"sources": ["bm25", "dense"], "filter": {}, "build": {}},  # build's defaults when it ran
    # minekit build recipes by name, so results stay meaningful when the default changes:
    "triplet-3": {"sources": ["bm25", "dense"], "filter": {}, "build": {"format": "triplet", "num_negatives": 3}},
    "ntuple-3": {"sources": ["bm25", "dense"], "filter": {}, "build": {"format": "n-tuple", "num_negatives": 3}},
    "ntuple-3-random": {"sources": ["bm25", "dense"], "filter": {},
                        "build": {"format": "n-tuple", "num_negatives": 3, "sampling_strategy": "random"}},
    "ntuple-5": {"sources": ["bm25", "dense"], "filter": {}, "build": {"format": "n-tuple", "num_negatives": 5}},
    "ntuple-7": {"sources": ["bm25", "dense"], "filter": {}, "build": {"format": "n-tuple", "num_negatives": 7}},
    "percpos-top1": {"sources": ["bm25", "dense"], "filter": {}, "build": {"num_negatives": 1}},
    # the sampling strategies at 3 negatives (as simans ran on dev), so they compare with ntuple-3:
    "simans": {"sources": ["bm25", "dense"], "filter": {},
               "build": {"sampling_strategy": "simans", "format": "n-tuple", "num_negatives": 3}},
    "trisampler": {"sources": ["bm25", "dense"], "filter": {},
                   "build": {"sampling_strategy": "trisampler", "format": "n-tuple", "num_negatives": 3}},
    "mix-bm25-dense": {"sources": ["bm25", "dense"], "filter": {},
                       "build": {"source_shares": {"bm25": 1, "dense": 2}, "format": "n-tuple", "num_negatives": 3}},
    # the default recipe after `minekit denoise --scorer bi-encoder` with its defaults (the guide is the
    # default model; the positives it knows are the training pairs, in both regimes)
    "minekit-denoised": {"sources": ["bm25", "dense"], "filter": {}, "denoise": {"scorer": "bi-encoder"}, "build": {}},
    # the k hardest candidates below 95% of the row's positive (the default relative margin), k = 1, 3, 5
    "hardest-1": {"sources": ["bm25", "dense"], "filter": {}, "build": {"format": "triplet", "num_negatives": 1}},
    "hardest-3": {"sources": ["bm25", "dense"], "filter": {}, "build": {"format": "n-tuple", "num_negatives": 3}},
    "hardest-5": {"sources": ["bm25", "dense"], "filter": {}, "build": {"format": "n-tuple", "num_negatives": 5}},
    # ANCE-style second round: the dense candidates are mined with the round-1 model (the pairs-only model
    # of the same seed), then hardest-1's rule builds; training starts again from the base model, and the
    # cost counts round 1's training and the mining too. "-guide": denoise with the round-1 model as the
    # bi-encoder guide (an in-domain judge of "too close to a known positive").
    "round2": {"sources": ["bm25", "dense-round1"], "filter": {},
               "build": {"format": "triplet", "num_negatives": 1}},
    "round2-guide": {"sources": ["bm25", "dense-round1"], "filter": {},
                     "denoise": {"scorer": "bi-encoder", "model": "round1"},
                     "build": {"format": "triplet", "num_negatives": 1}},
}


# The budget and the candidates every variant shares; a run with other values keeps its results (and its
# candidates) in files named after what differs, so cached runs are never mixed across budgets.
BUDGET = {"pairs": 1600, "per_query": 3, "batch_size": 32, "learning_rate": 5e-5, "max_seq_length": 96, "top_k": 30}


def sample_pairs(positives: pl.DataFrame, *, n: int, per_query: int, seed: int) -> pl.DataFrame:
    """A seeded sample of n score-2 pairs, at most per_query a query."""
    direct = positives.filter(pl.col("score") >= 2).sort("query_id", "doc_id")
    direct = direct.with_columns(pl.int_range(pl.len()).shuffle(seed=seed).over("query_id").alias("_r"))
    capped = direct.filter(pl.col("_r") < per_query).drop("_r")
    return capped.sample(n=min(n, capped.height), seed=seed, shuffle=False).sort("query_id", "doc_id")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/nfexp"))
    parser.add_argument("--split", default="test", choices=["test", "dev"])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--settings", default="sparse,complete")
    for name, value in BUDGET.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"],
                        help="training precision (bfloat16 autocast: about 1.8x faster on AMX CPUs); results of "
                             "each dtype are kept apart")
    parser.add_argument("--variants", default="base,pairs,mhn-default,mhn-safe,bm25-top1,ntuple-5,ntuple-3,simans,"
                                              "trisampler,mix-bm25-dense")
    parser.add_argument("--table-only", action="store_true",
                        help="print the table of what WORK holds for these seeds, and run nothing")
    parser.add_argument("--cost-seeds", default=None,
                        help="the seeds whose CPU seconds the table averages (default: --seeds), e.g. the runs "
                             "that had the machine to themselves")
    parser.add_argument("--choose", default=None,
                        help="recipes to choose the default from by the cost rule, e.g. hardest-1,hardest-3,hardest-5 "
                             "(printed after the table)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    cost_seeds = [int(s) for s in args.cost_seeds.split(",")] if args.cost_seeds else None
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")

    from minekit.dataset.build import build_dataset
    from minekit.clean.denoise import denoise_candidates
    from minekit.training.evaluate import evaluate_retrieval
    from minekit.clean.filter import filter_candidates
    from minekit.io import read_inputs
    from minekit.mine.bm25 import mine_bm25
    from minekit.mine.dense import mine_dense
    from minekit.encode.models import load_bi_encoder
    from minekit.training.train import train_bi_encoder

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    cache = str(work / "embeddings")
    # Runs under another budget (or other candidates) are other results: they get files of their own.
    tag = "".join(f"-{name.replace('_', '')}{getattr(args, name)}" for name, value in BUDGET.items()
                  if getattr(args, name) != value)
    results_path = work / f"results-{args.split}-{args.dtype}{tag}.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    if args.table_only:
        print(table(results, args.split, seeds, cost_seeds))
        if args.choose:
            print(choose(results, seeds, args.choose.split(","), cost_seeds))
        return

    train_in = read_inputs(DATA / "queries.parquet", DATA / "qrels-train.parquet", DATA / "corpus.parquet")
    eval_in = read_inputs(DATA / "queries.parquet", DATA / f"qrels-{args.split}.parquet", DATA / "corpus.parquet")
    pairs = sample_pairs(train_in.positives, n=args.pairs, per_query=args.per_query, seed=0)
    queries = train_in.queries.filter(pl.col("query_id").is_in(pairs["query_id"].unique().implode()))
    labelled = train_in.positives.filter(pl.col("query_id").is_in(pairs["query_id"].unique().implode()))
    steps = pairs.height // args.batch_size
    print(f"# {pairs.height} training pairs from {queries.height} queries; {steps} steps of {args.batch_size}; "
          f"lr {args.learning_rate}; max_seq_length {args.max_seq_length}; {args.dtype}; eval on {args.split} "
          f"({eval_in.positives['query_id'].n_unique()} queries)", flush=True)

    def base_model():
        model = load_bi_encoder("default")
        model.max_seq_length = args.max_seq_length
        return model

    def save(key: str, entry: dict) -> None:
        # Seeds may run as separate processes: merge with what they saved, under a lock, then rename.
        with open(results_path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if results_path.is_file():
                results.update({k: v for k, v in json.loads(results_path.read_text()).items() if k not in results})
            results[key] = entry
            tmp = results_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(results, indent=2, sort_keys=True))
            tmp.replace(results_path)

    def evaluate(model, cache_dir: str | None) -> dict:
        res = evaluate_retrieval(eval_in.queries, eval_in.positives, eval_in.corpus, model=model, k=(10, 100),
                                 cache_dir=cache_dir, show_progress=False)
        return {k: round(v, 5) for k, v in res.metrics.items() if "@" in k}

    candidates: dict[tuple[str, str], pl.DataFrame] = {}
    pairs_train = pairs.join(train_in.queries, on="query_id").join(
        train_in.corpus.select("doc_id", pl.col("text").alias("positive")), on="doc_id"
    ).select(pl.col("text").alias("anchor"), "positive")

    def fit(train: pl.DataFrame, seed: int):
        """Train from the base model; (model, wall seconds, CPU seconds of this process's threads)."""
        wall, cpu = time.perf_counter(), time.process_time()
        trained = train_bi_encoder(train, None, model=base_model(), loss="mnrl", batch_size=args.batch_size,
                                   learning_rate=args.learning_rate, max_seq_length=args.max_seq_length,
                                   max_steps=steps, seed=seed, dtype=args.dtype, show_progress=False)
        return trained.model, time.perf_counter() - wall, time.process_time() - cpu

    def round1(seed: int) -> tuple[str, float]:
        """The pairs-only model of this seed, saved once (its folder, its training CPU seconds)."""
        folder = work / f"round1-{seed}{tag}"
        if f"round1/{seed}" not in results or not folder.is_dir():
            model, train_s, cpu = fit(pairs_train, seed)
            model.save(str(folder))
            save(f"round1/{seed}", {"train_cpu_s": round(cpu, 1), "train_s": round(train_s, 1)})
        return str(folder), results[f"round1/{seed}"]["train_cpu_s"]

    def mined(source: str, setting: str, seed: int) -> tuple[pl.DataFrame, float]:
        """A miner's candidates in this label regime, and the CPU seconds they cost beyond the shared miners
        (round-1 dense candidates: round 1's training and the mining with its model)."""
        model, extra = ("default", 0.0) if source != "dense-round1" else round1(seed)
        name = source if source != "dense-round1" else f"{source}-{seed}"
        key = (name, setting)
        path = work / f"cands-{name}-{setting}{tag}.parquet"
        if key not in candidates:
            stale = source == "dense" and path.is_file() and "positive_similarities" not in pl.read_parquet_schema(path)
            if stale or not path.is_file():  # written before mine dense kept the candidate-positive cosines
                started, cpu = time.perf_counter(), time.process_time()
                if source == "bm25":
                    frame = mine_bm25(queries, pairs, train_in.corpus, top_k=args.top_k, show_progress=False).frame
                else:
                    model_obj = base_model() if model == "default" else load_bi_encoder(model)
                    model_obj.max_seq_length = args.max_seq_length
                    frame = mine_dense(queries, pairs, train_in.corpus, model=model_obj, top_k=args.top_k,
                                       cache_dir=cache if model == "default" else None, show_progress=False).frame
                if setting == "complete":  # every labelled document of the query is a known positive
                    frame = filter_candidates(frame, labelled.select("query_id", "doc_id")).frame
                # Seeds may run as separate processes: the other one must never read a half-written file.
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                frame.write_parquet(tmp)
                tmp.replace(path)
                save(f"mining/{name}-{setting}", {"cpu_s": round(time.process_time() - cpu, 1)})
                print(f"# mined {name} ({setting}): {frame.height} candidates in "
                      f"{time.perf_counter() - started:.0f}s", flush=True)
            candidates[key] = pl.read_parquet(path)
        mining = results.get(f"mining/{name}-{setting}", {}).get("cpu_s", 0.0) if source == "dense-round1" else 0.0
        return candidates[key], extra + mining

    def negatives_of(recipe: dict, setting: str, seed: int) -> tuple[pl.DataFrame, dict, float]:
        extra, frames = 0.0, []
        for source in recipe["sources"]:
            frame, cost = mined(source, setting, seed)
            extra += cost
            frames.append(filter_candidates(frame, None, **recipe["filter"]).frame if recipe["filter"] else frame)
        if "denoise" in recipe:
            options = dict(recipe["denoise"])
            if options.get("model") == "round1":
                options["model"] = round1(seed)[0]
            cpu = time.process_time()
            frames = [denoise_candidates(f, train_in.queries, pairs, train_in.corpus, show_progress=False,
                                         cache_dir=cache if "model" not in options else None, **options).frame
                      for f in frames]
            extra += time.process_time() - cpu
        built = build_dataset(frames, train_in.queries, pairs, train_in.corpus, **{"seed": seed, **recipe["build"]})
        return built.train, built.stats, extra

    if "base" in args.variants.split(",") and "base" not in results:
        save("base", evaluate(base_model(), cache))
    for setting in args.settings.split(","):
        for name in [v for v in args.variants.split(",") if v != "base"]:
            for seed in seeds:
                key = f"{setting}/{name}/{seed}"
                if key in results:
                    continue
                recipe = RECIPES[name]
                same = [k for k in results if recipe is None and k.endswith(f"/{name}/{seed}")]
                if same:  # pairs only: no negatives, so the label regime changes nothing; one run serves both
                    save(key, results[same[0]])
                    continue
                if recipe is None:  # pairs alone is round 1's model: trained once, evaluated here
                    folder, cpu = round1(seed)
                    train, build_stats, extra = pairs_train, {}, 0.0
                    model, train_s = load_bi_encoder(folder), results[f"round1/{seed}"].get("train_s", 0.0)
                else:
                    train, build_stats, extra = negatives_of(recipe, setting, seed)
                    model, train_s, cpu = fit(train, seed)
                metrics = evaluate(model, None)
                save(key, {**metrics, "rows": train.height, "texts_per_row": train.width, "train_s": round(train_s, 1),
                           "train_cpu_s": round(cpu, 1), "extra_cpu_s": round(extra, 1),
                           "positives_lost": build_stats.get("positives_lost", 0),
                           "rows_filled": build_stats.get("rows_filled", 0)})
                print(f"{key}: ndcg@10 {metrics['ndcg@10']:.4f} ({train.height} rows x {train.width} texts, "
                      f"{train_s:.0f}s train, {cpu:.0f} CPU s + {extra:.0f} CPU s before)", flush=True)
    print(table(results, args.split, seeds, cost_seeds))
    if args.choose:
        print(choose(results, seeds, args.choose.split(","), cost_seeds))


def choose(results: dict, seeds: list[int], names: list[str], cost_seeds: list[int] | None = None) -> str:
    """The cost rule: walk the recipes from the cheapest (mean CPU seconds of training, plus those spent before
    training beyond the shared miners, e.g. round 1 and its mining for round 2); a costlier recipe
    replaces the choice only if its mean nDCG@10 is ahead by more than the seeds' spread (the larger of
    the two standard deviations) in both label regimes. Every comparison is printed with its figures."""
    settings = ("sparse", "complete")

    def runs(setting: str, name: str) -> list[dict]:
        return [results[f"{setting}/{name}/{s}"] for s in seeds if f"{setting}/{name}/{s}" in results]

    def cost(name: str) -> float:
        priced = [results[f"{setting}/{name}/{s}"] for setting in settings for s in (cost_seeds or seeds)
                  if f"{setting}/{name}/{s}" in results]
        return statistics.mean(r["train_cpu_s"] + r.get("extra_cpu_s", 0.0) for r in priced)

    missing = [f"{setting}/{name}" for name in names for setting in settings if len(runs(setting, name)) < len(seeds)]
    if missing or len(seeds) < 2:
        return f"\nno choice: the rule needs every seed of {', '.join(missing) or 'two seeds or more'}"
    order = sorted(names, key=cost)
    chosen, lines = order[0], ["", f"choosing from {', '.join(order)} (cheapest first, seeds {seeds}):"]
    for name in order[1:]:
        verdicts, ahead = [], True
        for setting in settings:
            new = [r["ndcg@10"] for r in runs(setting, name)]
            old = [r["ndcg@10"] for r in runs(setting, chosen)]
            gap, spread = statistics.mean(new) - statistics.mean(old), max(statistics.stdev(new), statistics.stdev(old))
            ahead &= gap > spread
            verdicts.append(f"{setting} {gap:+.4f} (spread {spread:.4f})")
        lines.append(f"- {name} ({cost(name):.0f} CPU s) against {chosen} ({cost(chosen):.0f} CPU s): "
                     f"{', '.join(verdicts)} -> {name if ahead else chosen}")
        chosen = name if ahead else chosen
    lines.append(f"chosen: {chosen}")
    return "\n".join(lines)


def table(results: dict, split: str, seeds: list[int], cost_seeds: list[int] | None = None) -> str:
    """Mean (sd) over the given seeds of nDCG@10, MRR@10 and Recall@100, per regime and variant, and the
    nDCG@10 difference from pairs alone paired by seed (the same seed gives the same data order). Runs of
    other seeds in the cache are left out, so a table is always the one its command asked for."""
    lines = []
    base = results.get("base")
    results = {k: v for k, v in results.items() if k.count("/") == 2 and int(k.rsplit("/", 1)[1]) in seeds}
    for setting in ("sparse", "complete"):
        names = sorted({k.split("/")[1] for k in results if k.startswith(setting + "/")},
                       key=lambda n: list(RECIPES).index(n) if n in RECIPES else 99)
        if not names:
            continue
        lines += [f"\n{setting} labels, NFCorpus {split}", "",
                  "| negatives | nDCG@10 | MRR@10 | Recall@100 | seeds | nDCG@10 - pairs, by seed | rows x texts "
                  "| training CPU s | CPU s before training |",
                  "|---|---|---|---|---|---|---|---|---|"]
        if base:
            lines.append(f"| none (base model) | {base['ndcg@10']:.4f} | {base['mrr@10']:.4f} | "
                         f"{base['recall@100']:.4f} | - | |")
        for name in names:
            keys = [k for k in results if k.startswith(f"{setting}/{name}/")]
            runs = [results[k] for k in keys]
            cells = []
            for metric in ("ndcg@10", "mrr@10", "recall@100"):
                values = [r[metric] for r in runs]
                sd = statistics.stdev(values) if len(values) > 1 else 0.0
                cells.append(f"{statistics.mean(values):.4f} ± {sd:.4f}")
            pairs_of = {k: f"{setting}/pairs/{k.rsplit('/', 1)[1]}" for k in keys} if name != "pairs" else {}
            paired = " ".join(f"{results[k]['ndcg@10'] - results[p]['ndcg@10']:+.4f}"
                              for k, p in pairs_of.items() if p in results)
            priced = [results[k] for k in keys if int(k.rsplit("/", 1)[1]) in (cost_seeds or seeds)] or runs
            cost = [r.get("train_cpu_s") for r in priced]
            cost = f"{statistics.mean(cost):.0f}" if None not in cost else "-"
            extra = statistics.mean(r.get("extra_cpu_s", 0.0) for r in priced)
            shape = f"{runs[0]['rows']} x {runs[0].get('texts_per_row', '-')}"
            lines.append(f"| {name} | {' | '.join(cells)} | {len(runs)} | {paired} | {shape} | {cost} | {extra:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
