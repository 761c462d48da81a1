"""Mining stages: BM25 on the query or on the positive passage, dense, cluster and random candidates, the
caches they read (`embed`: embeddings, `index bm25`: the BM25 index), and `merge`, which joins the shards of
one run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from minekit.errors import ConfigError
from minekit.options import BM25Options, EncoderOptions, RunOptions, check_params, none_word
from minekit.stages.base import (COMMON, Job, empty_shard, every, every_but, flat, job_of, manifest_of, no_queries,
                                 params_of, read_inputs, require_rows, some, stage, stage_fingerprint, write_frame)
from minekit.stats import Output

# -- BM25 -----------------------------------------------------------------------------------------------

def _bm25_kwargs(bm25: BM25Options) -> dict:
    return dict(k1=bm25.k1, b=bm25.b, method=bm25.method, stemmer=none_word(bm25.stemmer),
                stopwords=none_word(bm25.stopwords))


def _mine_bm25(lib: Callable, kind: str, queries, positives, corpus, out, top_k: int, bm25: BM25Options,
               cache_dir: str | None, job: Job, show_progress: bool) -> Output:
    # the corpus' ids here; its texts are read by the index, and only when it must be built
    inputs = read_inputs(queries, positives, corpus, corpus_texts=False)
    kwargs = dict(top_k=top_k, **_bm25_kwargs(bm25))
    mined = job.select(inputs.queries)  # a shard mines its queries against the whole corpus (global statistics)
    result = (empty_shard() if job.shard is not None and no_queries(mined, inputs.positives)
              else lib(mined, inputs.positives, inputs.paths["corpus"], show_progress=show_progress,
                       cache_dir=none_word(cache_dir), index_parts=bm25.index_parts, **kwargs))
    return write_frame(result, out, kind, params_of(lib, **kwargs), inputs.paths, fp=job.fp, job=job)


@stage("mine.bm25", bm25=every(BM25Options), encoder=some(EncoderOptions, "cache_dir"), run=every(RunOptions))
def mine_bm25(*, queries: str | Path, positives: str | Path, corpus: str | Path, out: str | Path,
              top_k: int = COMMON, bm25: BM25Options, encoder: EncoderOptions, run: RunOptions,
              show_progress: bool = COMMON) -> Output:
    """BM25 candidates with the query as query; a query's positives never appear (index cached in cache_dir)."""
    from minekit.mine.bm25 import mine_bm25 as lib

    check_params("mine.bm25", locals())  # its own values; the family objects were checked when made
    values = flat(locals())
    return _mine_bm25(lib, "mine.bm25", queries, positives, corpus, out, top_k, bm25, encoder.cache_dir,
                      job_of(mine_bm25, values), show_progress)


@stage("mine.passage-bm25", bm25=every(BM25Options), encoder=some(EncoderOptions, "cache_dir"),
       run=every(RunOptions))
def mine_passage_bm25(*, queries: str | Path, positives: str | Path, corpus: str | Path, out: str | Path,
                      top_k: int = COMMON, bm25: BM25Options, encoder: EncoderOptions, run: RunOptions,
                      show_progress: bool = COMMON) -> Output:
    """BM25 with each positive passage as the query (PassageBM25); the index cached in cache_dir."""
    from minekit.mine.bm25 import mine_passage_bm25 as lib

    check_params("mine.passage-bm25", locals())  # its own values; the family objects were checked when made
    values = flat(locals())
    return _mine_bm25(lib, "mine.passage-bm25", queries, positives, corpus, out, top_k, bm25, encoder.cache_dir,
                      job_of(mine_passage_bm25, values), show_progress)


@stage("index.bm25", bm25=every(BM25Options), encoder=some(EncoderOptions, "cache_dir"), run=some(RunOptions, "ray"))
def index_bm25(*, corpus: str | Path, bm25: BM25Options, encoder: EncoderOptions, run: RunOptions,
               show_progress: bool = COMMON, _map: Callable | None = None) -> Output:
    """Build the BM25 index of the corpus into cache_dir (nothing to do when it is there and intact), the index
    mine bm25 and mine passage-bm25 then read with the same corpus and BM25 settings.

    `_map` is an executor's: it runs each part's build steps elsewhere (Ray tasks) instead of in this process.
    """
    from minekit.mine.bm25_build import local_map
    from minekit.mine.bm25_index import build_cached
    from minekit.stages.base import local_only

    local_only("index_bm25", run.ray)
    if none_word(encoder.cache_dir) is None:
        raise ConfigError("cache_dir: index bm25 fills the cache; give a folder, not 'none'.", param="cache_dir")
    stats = build_cached(Path(corpus), cache_dir=encoder.cache_dir, parts=bm25.index_parts,
                         show_progress=show_progress, mapper=_map or local_map, **_bm25_kwargs(bm25))
    folder = Path(stats.pop("folder"))
    return Output(folder, stats, {"out": folder}, title="index bm25", reused=stats["index"] == "reused")


# -- dense ----------------------------------------------------------------------------------------------

def encoder_kwargs(encoder: EncoderOptions, device: str, trust_remote_code: bool, *, prompts: bool = True) -> dict:
    """The encoder's library arguments; the dtype 'auto' stands for goes into the manifest (what was used)."""
    from minekit.encode.device import resolve_dtype

    kwargs = dict(model=encoder.model, batch_size=encoder.batch_size, device=device,
                  dtype=resolve_dtype(encoder.dtype, device), max_seq_length=encoder.max_seq_length,
                  cache_dir=none_word(encoder.cache_dir), query_prompt=encoder.query_prompt,
                  corpus_prompt=encoder.corpus_prompt, query_prompt_name=encoder.query_prompt_name,
                  corpus_prompt_name=encoder.corpus_prompt_name, precision=encoder.precision,
                  backend=encoder.backend, trust_remote_code=trust_remote_code)
    if not prompts:
        for key in ("query_prompt", "corpus_prompt", "query_prompt_name", "corpus_prompt_name"):
            del kwargs[key]
    return kwargs


@stage("mine.dense", encoder=every(EncoderOptions), run=every(RunOptions))
def mine_dense(*, queries: str | Path, positives: str | Path, corpus: str | Path, out: str | Path,
               top_k: int = COMMON, index: str = "flat", nlist: int | None = None, nprobe: int | None = None,
               hnsw_m: int | None = None, ef_search: int | None = None, pq_m: int | None = None, seed: int = COMMON,
               block_size: int = 65_536, query_from: str = "query", encoder: EncoderOptions,
               device: str = COMMON, trust_remote_code: bool = COMMON, run: RunOptions,
               show_progress: bool = COMMON) -> Output:
    """Dense candidates: cosine of bi-encoder embeddings, searched exactly or with faiss."""
    from minekit.mine.dense import mine_dense as lib

    check_params("mine.dense", locals())  # its own values; the family objects were checked when made
    values = flat(locals())
    job = job_of(mine_dense, values)
    kwargs = dict(top_k=top_k, index=index, nlist=nlist, nprobe=nprobe, hnsw_m=hnsw_m, ef_search=ef_search,
                  pq_m=pq_m, seed=seed, block_size=block_size, query_from=query_from,
                  **encoder_kwargs(encoder, device, trust_remote_code))
    inputs = read_inputs(queries, positives, corpus)
    mined = job.select(inputs.queries)
    result = (empty_shard() if job.shard is not None and no_queries(mined, inputs.positives)
              else lib(mined, inputs.positives, inputs.corpus, show_progress=show_progress, **kwargs))
    return write_frame(result, out, "mine.dense", params_of(lib, **kwargs), inputs.paths, fp=job.fp, job=job)


@stage("embed", encoder=every(EncoderOptions), run=every_but(RunOptions, "shards"))
def embed_corpus(*, corpus: str | Path, queries: str | Path | None = None, encoder: EncoderOptions,
                 device: str = COMMON, trust_remote_code: bool = COMMON, run: RunOptions,
                 show_progress: bool = COMMON, _encode: Callable | None = None) -> Output:
    """Encode the corpus (and queries) into the embedding cache mine dense reads; a shard encodes its share.

    `_encode` is an executor's: it encodes the planned jobs elsewhere (Ray Data) instead of in this process.
    """
    from minekit.encode.encoder import Encoder
    from minekit.encode.fill_cache import fill_cache, plan
    from minekit.execution.shards import parse_shard
    from minekit.mine.dense import resolve_prompts
    from minekit.stages.base import check_run, local_only

    check_run(flat(locals()))
    local_only("embed_corpus", run.ray)
    if none_word(encoder.cache_dir) is None:
        raise ConfigError("cache_dir: embed fills the embedding cache; give a folder, not 'none'.", param="cache_dir")
    corpus_frame, queries_frame = _read_texts(corpus, queries)
    model = Encoder(**encoder_kwargs(encoder, device, trust_remote_code, prompts=False))
    prompts = resolve_prompts(model, encoder.query_prompt, encoder.query_prompt_name, encoder.corpus_prompt,
                              encoder.corpus_prompt_name)
    jobs = plan(corpus_frame, queries_frame, model, shard=parse_shard(run.shard), **prompts)
    stats = (_encode or fill_cache)(jobs, model, show_progress=show_progress)
    title = "embed" if run.shard is None else f"embed (shard {parse_shard(run.shard)})"
    return Output(Path(encoder.cache_dir), stats, {"out": Path(encoder.cache_dir)}, title=title)


def _read_texts(corpus, queries):
    """The corpus and (optional) queries files, checked as their contracts say."""
    from minekit.inputs.schema import validate_corpus, validate_queries
    from minekit.io import read_parquet

    corpus_frame = validate_corpus(read_parquet(corpus, what="corpus"), Path(corpus))
    queries_frame = None if queries is None else validate_queries(read_parquet(queries, what="queries"), Path(queries))
    return corpus_frame, queries_frame


@stage("merge")
def merge(files: Sequence[str | Path], *, out: str | Path) -> Output:
    """Join the shard outputs of one run (every i of n once) into the file the unsharded run writes, byte for byte."""
    from minekit.execution.shards import merge_shards
    from minekit.io import write_parquet
    from minekit.stats import StageResult

    merged = merge_shards(files)
    require_rows(StageResult(merged.frame, merged.stats), merged.stage)
    out = write_parquet(merged.frame, out, merged.manifest)
    return Output(Path(out), merged.stats, {"out": Path(out)}, title=f"merge ({merged.stage}, {len(files)} shards)")


# -- cluster, random ------------------------------------------------------------------------------------

def _load_centroids(centroids: Path):
    import numpy as np

    if not centroids.is_file():
        raise ConfigError(f"centroids: {centroids} not found. Fix: give the OUT.centroids.npy an earlier "
                          "`minekit mine cluster` wrote, or leave --centroids out to run k-means.", param="centroids")
    try:
        return np.load(centroids, allow_pickle=False)
    except ValueError as exc:
        raise ConfigError(f"centroids: {centroids} is not a numpy .npy array ({exc}). Fix: give the "
                          "OUT.centroids.npy an earlier `minekit mine cluster` wrote.", param="centroids") from exc


@stage("mine.cluster", encoder=every(EncoderOptions))
def mine_cluster(*, queries: str | Path, positives: str | Path, corpus: str | Path, out: str | Path,
                 top_k: int = COMMON, n_clusters: int | None = None, clusters_per_query: int = 4,
                 centroids: str | Path | None = None, niter: int = 20, seed: int = COMMON, encoder: EncoderOptions,
                 device: str = COMMON, trust_remote_code: bool = COMMON, show_progress: bool = COMMON) -> Output:
    """K-means over corpus embeddings; writes OUT and its centroids OUT.centroids.npy together."""
    import numpy as np

    from minekit.io import atomic_paths, write_parquet
    from minekit.mine.cluster import mine_cluster as lib

    check_params("mine.cluster", locals())  # its own values; the family objects were checked when made
    values = flat(locals())
    fp = stage_fingerprint(mine_cluster, values)
    kwargs = dict(top_k=top_k, n_clusters=n_clusters, clusters_per_query=clusters_per_query, niter=niter, seed=seed,
                  **encoder_kwargs(encoder, device, trust_remote_code))
    inputs = read_inputs(queries, positives, corpus)
    centroids = None if centroids is None else Path(centroids)
    given = None if centroids is None else _load_centroids(centroids)
    result = lib(inputs.queries, inputs.positives, inputs.corpus, centroids=given, show_progress=show_progress,
                 **kwargs)
    require_rows(result, "mine.cluster")
    out = Path(out)
    saved = out.with_name(out.name + ".centroids.npy")
    params = {**params_of(lib, **kwargs), "centroids": None if centroids is None else str(centroids)}
    manifest = manifest_of("mine.cluster", params, {**inputs.paths, "centroids": centroids}, result.stats, fp=fp)
    with atomic_paths(saved, out) as (tmp_centroids, tmp_out):  # the parquet, the completion marker, lands last
        with open(tmp_centroids, "wb") as handle:
            np.save(handle, result.centroids, allow_pickle=False)
        write_parquet(result.frame, tmp_out, manifest)
    return Output(out, result.stats, {"out": out, "centroids": saved}, title="mine.cluster")


@stage("mine.random")
def mine_random(*, queries: str | Path, positives: str | Path, corpus: str | Path, out: str | Path,
                top_k: int = COMMON, seed: int = COMMON, show_progress: bool = COMMON) -> Output:
    """Uniformly random non-positive documents per query (seeded)."""
    from minekit.mine.random import mine_random as lib

    check_params("mine.random", locals())  # its own values; the family objects were checked when made
    values = flat(locals())
    fp = stage_fingerprint(mine_random, values)
    inputs = read_inputs(queries, positives, corpus)
    result = lib(inputs.queries, inputs.positives, inputs.corpus, top_k=top_k, seed=seed, show_progress=show_progress)
    return write_frame(result, out, "mine.random", params_of(lib, top_k=top_k, seed=seed), inputs.paths, fp=fp)
