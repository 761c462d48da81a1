"""Filling the embedding cache ahead of mining (`minekit embed`): the texts `mine dense` will encode,
all of them or one shard of them, so mining shards (and evaluate, denoise's guide) read vectors instead
of encoding.

The texts are exactly those `mine dense` encodes: every corpus passage (title + text) with the corpus
prompt, and every query text with the query prompt. A shard takes the distinct texts whose cache key
(sha256 of the text) falls in it (minekit.execution.shards.key_shards); texts already cached are skipped before
any model loads, and the rest are encoded a bounded chunk at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from minekit.encode.cache import KEY_BYTES, text_keys
from minekit.encode.encoder import Encoder

if TYPE_CHECKING:
    import polars as pl

    from minekit.execution.shards import Shard

logger = logging.getLogger(__name__)

ENCODE_CHUNK = 65536  # texts per Encoder.encode call: bounds the vectors held at once


@dataclass
class Job:
    """One kind of text to encode with one prompt: the distinct texts not cached yet, of this shard."""

    what: str  # corpus / queries
    prompt: str | None
    texts: list[str]
    total: int  # distinct texts of this kind in the shard, cached or not


def cached_keys(encoder: Encoder, prompt: str | None) -> np.ndarray:
    """The keys (cache.text_keys) already in the encoder's cache for `prompt`, read from the cache shards'
    key files only (no vector is read, no model loads)."""
    dim = encoder._known_dim(prompt) if encoder.cache_dir is not None else None
    if dim is None:  # no cache, or no folder for this key yet
        return np.zeros(0, dtype=f"S{KEY_BYTES}")
    return encoder._cache(prompt, dim).keys()


def plan(corpus: "pl.DataFrame", queries: "pl.DataFrame | None", encoder: Encoder, *, query_prompt: str | None,
         corpus_prompt: str | None, shard: "Shard | None" = None) -> list[Job]:
    """What is left to encode: per kind, the distinct texts of the shard that the cache lacks."""
    from minekit.inputs.schema import passage_text
    from minekit.execution.shards import key_shards

    kinds = [("corpus", corpus.select(passage_text()).to_series().to_list(), corpus_prompt)]
    if queries is not None:
        kinds.append(("queries", queries["text"].to_list(), query_prompt))
    jobs = []
    for what, texts, prompt in kinds:
        texts = list(dict.fromkeys(texts))
        keys = text_keys(texts)
        mine = np.ones(len(texts), dtype=bool) if shard is None else key_shards(keys, shard.count) == shard.index
        todo = mine & ~np.isin(keys, cached_keys(encoder, prompt))
        jobs.append(Job(what, prompt, [t for t, keep in zip(texts, todo) if keep], int(mine.sum())))
    return jobs


def fill_cache(jobs: list[Job], encoder: Encoder, *, show_progress: bool = True) -> dict:
    """Encode the jobs' texts into the encoder's cache, a chunk at a time; the counts."""
    for job in jobs:
        for a in range(0, len(job.texts), ENCODE_CHUNK):
            encoder.encode(job.texts[a:a + ENCODE_CHUNK], prompt=job.prompt, show_progress=show_progress,
                           desc=f"encode {job.what}")
    return counts(jobs)


def counts(jobs: list[Job]) -> dict:
    stats = {f"{job.what}_texts": job.total for job in jobs}
    stats["texts_encoded"] = sum(len(job.texts) for job in jobs)
    stats["texts_from_cache"] = sum(job.total - len(job.texts) for job in jobs)
    return stats
