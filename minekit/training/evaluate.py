"""Retrieval evaluation: what a model (or plain BM25) retrieves for queries with known positives.

The metrics are small pure functions over one query's ranking (a list of doc ids, best first) and
its relevance judgements ({doc_id: gain}); the driver ranks the corpus exactly (no ANN) and averages
them over queries. Gains are the positives' `score` when the file has one (graded nDCG, the
BEIR / trec_eval convention: gain = score, discount log2(rank + 1)); otherwise every positive is 1.
MRR and recall count any positive as relevant.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from minekit.errors import ConfigError

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)

BM25 = "bm25"


# -- metrics over one ranking ----------------------------------------------------------------------

def dcg_at_k(ranking: Sequence[str], gains: dict[str, float], k: int) -> float:
    """Discounted cumulative gain of the first k documents: sum of gain / log2(rank + 1)."""
    return sum(gains.get(doc, 0.0) / math.log2(rank + 1) for rank, doc in enumerate(ranking[:k], start=1))


def ndcg_at_k(ranking: Sequence[str], gains: dict[str, float], k: int) -> float:
    """DCG@k divided by the DCG@k of the ideal ranking (all positives by gain, best first); 0 without positives."""
    ideal = sorted((g for g in gains.values() if g > 0), reverse=True)[:k]
    best = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return dcg_at_k(ranking, gains, k) / best if best > 0 else 0.0


def mrr_at_k(ranking: Sequence[str], gains: dict[str, float], k: int) -> float:
    """1 / rank of the first positive within the first k documents, else 0."""
    for rank, doc in enumerate(ranking[:k], start=1):
        if gains.get(doc, 0.0) > 0:
            return 1.0 / rank
    return 0.0


def recall_at_k(ranking: Sequence[str], gains: dict[str, float], k: int) -> float:
    """Share of the query's positives found in the first k documents (0 without positives)."""
    relevant = {doc for doc, g in gains.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


# -- the driver ------------------------------------------------------------------------------------

@dataclass
class EvalResult:
    """Averaged metrics (a flat dict, the metrics.json contract) and one row of metrics per query."""

    metrics: dict[str, Any]
    per_query: "pl.DataFrame"
    stats: dict[str, Any] = field(default_factory=dict)


def parse_ks(value: str | Sequence[int]) -> list[int]:
    """'10,100' -> [10, 100]; every k a positive integer."""
    if isinstance(value, str):
        try:
            ks = [int(v) for v in value.split(",") if v.strip()]
        except ValueError as exc:
            raise ConfigError(f"k: {value!r} is not a comma-separated list of integers (e.g. 10,100).") from exc
    else:
        ks = [int(v) for v in value]
    if not ks or any(v < 1 for v in ks):
        raise ConfigError(f"k: need one or more positive integers, got {value!r}.")
    return sorted(set(ks))


def relevance(positives: "pl.DataFrame") -> dict[str, dict[str, float]]:
    """{query_id: {doc_id: gain}}: gain = score when the positives carry one (rows <= 0 are not positives), else 1."""
    import polars as pl

    if "score" in positives.columns:
        frame = positives.filter(pl.col("score") > 0).select("query_id", "doc_id",
                                                             pl.col("score").cast(pl.Float64).alias("gain"))
    else:
        frame = positives.select("query_id", "doc_id", pl.lit(1.0).alias("gain"))
    out: dict[str, dict[str, float]] = {}
    for q, d, g in frame.iter_rows():
        out.setdefault(q, {})[d] = max(g, out.get(q, {}).get(d, 0.0))
    return out


def score_rankings(rankings: dict[str, list[str]], qrels: dict[str, dict[str, float]],
                   ks: Sequence[int]) -> tuple[dict[str, float], "pl.DataFrame"]:
    """Mean nDCG@k, MRR@k and Recall@k over the queries in `qrels`; a query without a ranking scores 0."""
    import polars as pl

    ks = list(ks)
    rows = []
    for query_id in sorted(qrels):
        ranking, gains = rankings.get(query_id, []), qrels[query_id]
        row: dict[str, Any] = {"query_id": query_id}
        for k in ks:
            row[f"ndcg@{k}"] = ndcg_at_k(ranking, gains, k)
            row[f"mrr@{k}"] = mrr_at_k(ranking, gains, k)
            row[f"recall@{k}"] = recall_at_k(ranking, gains, k)
        rows.append(row)
    per_query = pl.DataFrame(rows)
    names = [f"{m}@{k}" for m in ("ndcg", "mrr", "recall") for k in ks]
    means = {n: float(per_query[n].mean()) if per_query.height else 0.0 for n in names}
    return means, per_query


def evaluate_retrieval(
    queries: "pl.DataFrame",
    positives: "pl.DataFrame",
    corpus: "pl.DataFrame",
    *,
    model: Any = "default",
    k: str | Sequence[int] = (10, 100),
    batch_size: int = 64,
    max_seq_length: int | None = None,
    query_prompt: str | None = None,
    corpus_prompt: str | None = None,
    query_prompt_name: str | None = None,
    corpus_prompt_name: str | None = None,
    cache_dir: str | None = None,
    device: str = "cpu",
    dtype: str = "auto",
    trust_remote_code: bool = False,
    block_size: int | None = None,
    show_progress: bool = True,
) -> EvalResult:
    """Rank the whole corpus for every query that has a positive and score the rankings.

    `model` is "bm25" (plain BM25, the lexical reference), "default", a model folder or hub name, or an
    already loaded SentenceTransformer. Dense search is exact (cosine over all documents). With
    `cache_dir`, corpus and query embeddings go through minekit's embedding cache, and BM25 reads (or
    first builds) its index there, the one `mine bm25` uses.
    Prompts, dtype and max_seq_length are as for mine dense (minekit.encode.encoder.Encoder); the metrics
    record the dtype used. block_size: documents read from the cache, and queries ranked, at a time
    (default minekit.mine.exact.BLOCK_SIZE); memory grows with it, the rankings do not change.
    """
    import polars as pl

    ks = parse_ks(k)
    depth = max(max(ks), 10)
    qrels = relevance(positives)
    if not qrels:
        raise ConfigError("positives: no row with a score above 0; nothing to evaluate.")
    evaluated = queries.filter(pl.col("query_id").is_in(list(qrels))).sort("query_id")
    if model == BM25:
        dense_only = {"max_seq_length": max_seq_length, "query_prompt": query_prompt,
                      "corpus_prompt": corpus_prompt, "query_prompt_name": query_prompt_name,
                      "corpus_prompt_name": corpus_prompt_name, "trust_remote_code": trust_remote_code or None,
                      "dtype": None if dtype == "auto" else dtype, "block_size": block_size}
        given = [f"--{k.replace('_', '-')}" for k, v in dense_only.items() if v is not None]
        if given:
            raise ConfigError(f"{', '.join(given)}: apply to dense models, not bm25: drop them, or give a dense "
                              "--model.")
        from minekit.mine.bm25 import rank_bm25

        ranked = rank_bm25(evaluated, corpus, top_k=depth, cache_dir=cache_dir, show_progress=show_progress)
        grouped = ranked.group_by("query_id").agg(pl.col("doc_id").sort_by("rank"))
        rankings = dict(grouped.iter_rows())
        name = BM25
    else:
        from minekit.encode.encoder import Encoder

        encoder = Encoder(model=model, batch_size=batch_size, device=device, dtype=dtype,
                          max_seq_length=max_seq_length, cache_dir=cache_dir, trust_remote_code=trust_remote_code)
        prompts = (encoder.prompt_text(query_prompt, query_prompt_name, flag="query-prompt"),
                   encoder.prompt_text(corpus_prompt, corpus_prompt_name, flag="corpus-prompt"))
        rankings = _dense_rankings(evaluated, corpus, encoder, prompts, depth=depth, block_size=block_size,
                                   show_progress=show_progress)
        name = model if isinstance(model, str) else type(model).__name__
    means, per_query = score_rankings(rankings, qrels, ks)
    if not any(means.values()):
        retrieved = sum(1 for q in qrels if rankings.get(q))
        logger.warning("every metric is 0: no positive is in the top %d of any query (%d of %d queries retrieved "
                       "anything). Check that --positives, --queries and --corpus belong together and that the "
                       "model suits the texts.", max(ks), retrieved, len(qrels))
    graded = "score" in positives.columns and positives["score"].n_unique() > 1
    metrics = {"model": str(name), **means, "queries": len(qrels), "documents": corpus.height, "graded": graded}
    if model != BM25:
        metrics["dtype"] = encoder.dtype
    stats = {"queries": len(qrels), "documents": corpus.height, **{n: round(v, 4) for n, v in means.items()}}
    return EvalResult(metrics=metrics, per_query=per_query, stats=stats)


def _dense_rankings(queries: "pl.DataFrame", corpus: "pl.DataFrame", encoder, prompts: tuple, *, depth: int,
                    block_size: int | None, show_progress: bool) -> dict[str, list[str]]:
    from minekit.encode.encoder import TextColumn
    from minekit.mine.exact import BLOCK_SIZE, search_exact
    from minekit.inputs.schema import passage_text

    if block_size is not None and block_size < 1:
        raise ConfigError(f"block_size: must be at least 1, got {block_size}.")
    # A model name stays lazy: with a warm cache the model is never loaded.
    query_prompt, corpus_prompt = prompts
    corpus = corpus.sort("doc_id")  # position = tie-break order, as in the miners
    doc_ids = corpus["doc_id"]
    docs = encoder.encode_stored(TextColumn(corpus, passage_text()), prompt=corpus_prompt,
                                 show_progress=show_progress, desc="encode corpus")
    query_vecs = encoder.encode_stored(queries["text"].to_list(), prompt=query_prompt, show_progress=show_progress,
                                       desc="encode queries")
    query_ids = queries["query_id"].to_list()
    # The miners' exact search: embeddings read from the cache a block at a time, the same total order.
    nothing = [np.zeros(0, dtype=np.int64)] * len(query_ids)
    hits = search_exact(query_vecs, np.arange(len(query_ids)), docs, nothing, top_k=depth,
                        block_size=block_size or BLOCK_SIZE, desc="evaluate", show_progress=show_progress)
    ranked = hits.to_frame(query_ids, doc_ids, source="dense").group_by("query_id", maintain_order=True).agg("doc_id")
    rankings: dict[str, list[str]] = {q: [] for q in query_ids}
    rankings.update(zip(ranked["query_id"].to_list(), ranked["doc_id"].to_list()))
    return rankings


def compare_metrics(runs: list[dict[str, Any]], labels: list[str]) -> str:
    """Metrics of several runs side by side; every run after the first also shows its delta to the first."""
    keys = sorted({k for run in runs for k, v in run.items() if isinstance(v, float) and "@" in k}, key=_metric_order)
    header = ["metric", *labels]
    rows = []
    for key in keys:
        base = runs[0].get(key)
        cells = [key]
        for i, run in enumerate(runs):
            value = run.get(key)
            if value is None:
                cells.append("-")
            elif i == 0 or base is None:
                cells.append(f"{value:.4f}")
            else:
                cells.append(f"{value:.4f} ({value - base:+.4f})")
        rows.append(cells)
    rows.append(["queries", *(str(run.get("queries", "-")) for run in runs)])
    from minekit.stats import format_table

    return format_table([header, *rows])


def load_metrics(path: str | Path) -> dict[str, Any]:
    """A metrics.json as `minekit evaluate --out` writes it (a JSON object), or an InputError naming the file.

    The one reader of metrics files: compare and the report read them here.
    """
    import json

    from minekit.errors import InputError

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give metrics.json files from `minekit evaluate --out`.")
    def not_finite(word: str) -> float:
        raise ValueError(f"{word} is not a finite number")

    try:
        data = json.loads(path.read_text(), parse_constant=not_finite)  # NaN, Infinity: no metric holds them
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot be read as metrics JSON ({exc}). Fix: give metrics.json files "
                         "written by `minekit evaluate --out`.") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: holds a JSON {type(data).__name__}, not the metrics object `minekit evaluate "
                         "--out` writes. Fix: give metrics.json files from `minekit evaluate`.")
    return data


def check_metrics(run: Any, path: str) -> dict[str, Any]:
    """A metrics.json from `minekit evaluate`: a JSON object with at least one metric@k number."""
    from minekit.errors import InputError

    if not isinstance(run, dict):
        raise InputError(f"{path}: holds a JSON {type(run).__name__}, not the metrics object `minekit evaluate --out` "
                         "writes. Fix: give metrics.json files from `minekit evaluate`.")
    if not any("@" in k and isinstance(v, (int, float)) and not isinstance(v, bool) for k, v in run.items()):
        raise InputError(f"{path}: has no metric (ndcg@10, mrr@10, recall@100, ...). Fix: give metrics.json files "
                         "written by `minekit evaluate --out`.")
    return run


def comparability_notes(runs: list[dict[str, Any]], labels: list[str]) -> list[str]:
    """Why deltas between these runs may mean nothing: different positives files or corpora."""
    notes = []
    for key, what in (("positives_sha256", "positives files"), ("positives", "positives files"),
                      ("documents", "corpus sizes"), ("queries", "query counts")):
        values = [run.get(key) for run in runs]
        if key == "positives" and any(run.get("positives_sha256") for run in runs):
            continue  # content hashes say it better than paths
        if len({repr(v) for v in values if v is not None}) > 1:
            shown = ", ".join(f"{label}: {v}" for label, v in zip(labels, values))
            notes.append(f"these metrics come from different {what} ({shown}); the deltas do not compare like "
                         "with like. Evaluate every model on the same --positives and --corpus.")
            break
    return notes


def _metric_order(key: str) -> tuple:
    """ndcg, mrr, recall, then anything else; by cut-off within each."""
    name, _, cut = key.partition("@")
    family = ("ndcg", "mrr", "recall").index(name) if name in ("ndcg", "mrr", "recall") else 3
    return (family, name, int(cut) if cut.isdigit() else 0, cut)


def format_metrics(metrics: dict[str, Any]) -> str:
    """A small table of one run's metrics."""
    keys = sorted((k for k in metrics if "@" in k), key=_metric_order)
    width = max(len(k) for k in keys) if keys else 0
    lines = [f"model: {metrics.get('model')}  ({metrics.get('queries')} queries, {metrics.get('documents')} documents)"]
    lines += [f"  {k.ljust(width)}  {metrics[k]:.4f}" for k in keys]
    return "\n".join(lines)
