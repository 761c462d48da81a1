"""Cluster mining: spherical k-means (faiss) over corpus embeddings; negatives spread across the clusters
nearest to a query's positives.

For each query, the `clusters_per_query` centroids most similar to any of its positives are chosen;
each chosen cluster contributes its ceil(top_k / clusters_per_query) documents most similar to the
query (fewer if it is small; the rest of the pool fills the gap), and the union is ranked by cosine
to the query (ties by doc_id) and cut to top_k. score = cosine(query, document); positive_scores =
the cosine of the query to each of its positives, as for `dense`. The centroids are returned (the CLI
saves them beside the output); passing them back makes a rerun reproducible without k-means.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from minekit.encode.encoder import Encoder
from minekit.errors import ConfigError
from minekit.mine.dense import SCORE_BLOCK, embed_inputs, model_stats, positive_scores, resolve_prompts
from minekit.mine.topk import Hits, top_k_exact
from minekit.stats import StageResult

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)


@dataclass
class ClusterResult(StageResult):
    """A StageResult plus the k-means centroids (n_clusters x dim, float32) it used."""

    centroids: np.ndarray | None = None


def default_n_clusters(n_docs: int) -> int:
    """sqrt(corpus size), but at least 39 documents a cluster (faiss' minimum for a stable k-means)."""
    return int(min(n_docs, np.clip(min(round(math.sqrt(n_docs)), n_docs // 39), 2, 4096)))


def kmeans(doc_emb: np.ndarray, n_clusters: int, *, seed: int, niter: int) -> np.ndarray:
    """Spherical k-means centroids (faiss), seeded."""
    import faiss

    km = faiss.Kmeans(doc_emb.shape[1], n_clusters, niter=niter, seed=seed, spherical=True, verbose=False,
                      max_points_per_centroid=256)
    km.train(np.ascontiguousarray(doc_emb, dtype=np.float32))
    return np.asarray(km.centroids, dtype=np.float32)


def assign(doc_emb: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Each document's most similar centroid, a block of documents at a time."""
    per_block = max(1, SCORE_BLOCK // max(len(centroids), 1))
    return np.concatenate([np.argmax(doc_emb[a:a + per_block] @ centroids.T, axis=1)
                           for a in range(0, len(doc_emb), per_block)]) if len(doc_emb) else np.empty(0, np.int64)


def _pick(query: np.ndarray, pool_by_cluster: list[np.ndarray], doc_emb: np.ndarray, top_k: int) -> tuple:
    """Quota per cluster, gaps filled from the rest of the pool, union ranked by cosine."""
    quota = math.ceil(top_k / len(pool_by_cluster))
    chosen_s, chosen_d, rest_s, rest_d = [], [], [], []
    for members in pool_by_cluster:
        scores = doc_emb[members] @ query
        s, d = top_k_exact(scores, members, quota)
        chosen_s.append(s)
        chosen_d.append(d)
        left = ~np.isin(members, d)
        rest_s.append(scores[left])
        rest_d.append(members[left])
    s, d = np.concatenate(chosen_s), np.concatenate(chosen_d)
    if len(d) < top_k:
        fs, fd = top_k_exact(np.concatenate(rest_s), np.concatenate(rest_d), top_k - len(d))
        s, d = np.concatenate([s, fs]), np.concatenate([d, fd])
    return top_k_exact(s, d, top_k)


def mine_cluster(
    queries: "pl.DataFrame",
    positives: "pl.DataFrame",
    corpus: "pl.DataFrame",
    *,
    model: str = "default",
    top_k: int = 100,
    n_clusters: int | None = None,
    clusters_per_query: int = 4,
    centroids: np.ndarray | None = None,
    niter: int = 20,
    seed: int = 0,
    query_prompt: str | None = None,
    corpus_prompt: str | None = None,
    query_prompt_name: str | None = None,
    corpus_prompt_name: str | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    dtype: str = "auto",
    max_seq_length: int | None = None,
    cache_dir: str | None = None,
    precision: str = "float32",
    backend: str = "torch",
    trust_remote_code: bool = False,
    show_progress: bool = True,
) -> ClusterResult:
    """Cluster-diverse candidates for every query that has a positive, its positives removed."""
    from tqdm.auto import tqdm

    if top_k < 1 or clusters_per_query < 1 or niter < 1:
        raise ConfigError(f"top_k, clusters_per_query and niter must be at least 1 (got {top_k}, "
                          f"{clusters_per_query}, {niter}).")
    if centroids is not None and n_clusters is not None and n_clusters != len(centroids):
        raise ConfigError(f"n_clusters: {n_clusters} conflicts with the {len(centroids)} centroids given; "
                          "give one or the other.")
    if centroids is None and n_clusters is None:
        n_clusters = default_n_clusters(corpus.height)
    elif centroids is not None:
        n_clusters = len(centroids)
    if not 1 <= n_clusters <= corpus.height:
        raise ConfigError(f"n_clusters: must be between 1 and the corpus size ({corpus.height}), got {n_clusters}.")
    encoder = Encoder(model=model, batch_size=batch_size, device=device, dtype=dtype, max_seq_length=max_seq_length,
                      cache_dir=cache_dir, precision=precision, backend=backend, trust_remote_code=trust_remote_code)
    prompts = resolve_prompts(encoder, query_prompt, query_prompt_name, corpus_prompt, corpus_prompt_name)
    emb = embed_inputs(queries, positives, corpus, encoder, **prompts, show_progress=show_progress)
    if centroids is None:
        logger.info("k-means: %d clusters over %d documents (seed %d)", n_clusters, len(emb.doc_emb), seed)
        centroids = kmeans(emb.doc_emb, n_clusters, seed=seed, niter=niter)
    elif centroids.ndim != 2 or centroids.shape[1] != emb.doc_emb.shape[1]:
        raise ConfigError(f"centroids: shape {centroids.shape} does not fit embeddings of dim {emb.doc_emb.shape[1]}.")
    centroids = np.asarray(centroids, dtype=np.float32)
    labels = assign(emb.doc_emb, centroids)
    order = np.argsort(labels, kind="stable")
    members = np.split(order, np.cumsum(np.bincount(labels, minlength=n_clusters))[:-1])
    per_query = min(clusters_per_query, n_clusters)
    hits, spread = Hits(), []
    for g in tqdm(range(len(emb.query_ids)), desc="cluster", unit="query", disable=not show_progress):
        pos = emb.positives[g]
        sims = (emb.doc_emb[pos] @ centroids.T).max(axis=0)
        near = top_k_exact(sims, np.arange(n_clusters), per_query)[1]
        pools = [m[~np.isin(m, pos)] for m in (members[c] for c in near)]
        pools = [p for p in pools if len(p)]
        if not pools:
            continue
        s, d = _pick(emb.query_emb[g], pools, emb.doc_emb, top_k)
        hits.add(g, s, d, None)
        spread.append(len(np.unique(labels[d])))
    frame = hits.to_frame(emb.query_ids, emb.doc_ids, source="cluster", kind="cosine", positives=emb.positives,
                          positive_scores=positive_scores(emb, emb.query_emb, np.arange(len(emb.query_ids)), None))
    stats = model_stats(emb, frame, encoder, {"n_clusters": n_clusters, "clusters_per_query": per_query})
    stats["mean_clusters_per_query"] = float(np.mean(spread)) if spread else 0.0
    return ClusterResult(frame, stats, centroids)
