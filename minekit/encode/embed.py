"""Sentence embeddings with an on-disk cache: a text is never encoded twice by the same model.

`encode` is the one-call API; the work is done in

    minekit.encode.device      device names, the compute dtype, the allocator setting (no model needed)
    minekit.encode.encoder     the Encoder: load a model once, encode texts through the cache
    minekit.encode.workers     chunks and batches, one worker per device or CPU core
    minekit.encode.cache       the cache on disk: keys, shards, checksums, atomic writes
    minekit.encode.vectors     cached embeddings read where they are stored
    minekit.encode.fill_cache  the cache filled ahead of mining (`minekit embed`)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np


if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def top_k_overlap(q_ref: np.ndarray, d_ref: np.ndarray, q: np.ndarray, d: np.ndarray, k: int = 10) -> np.ndarray:
    """Per query, the share of its top-k documents under embeddings (q, d) that are also in its top-k
    under the reference (q_ref, d_ref): how much an encoder option changes what is mined."""
    k = min(k, len(d_ref))
    ref = np.argsort(-(q_ref @ d_ref.T), axis=1, kind="stable")[:, :k]
    got = np.argsort(-(q @ d.T), axis=1, kind="stable")[:, :k]
    return np.array([len(np.intersect1d(a, b)) / k for a, b in zip(ref, got)], dtype=np.float64)


def encode(
    texts: list[str],
    model: "str | SentenceTransformer" = "default",
    *,
    prompt: str | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    dtype: str = "auto",
    max_seq_length: int | None = None,
    cache_dir: str | Path | None = None,
    precision: str = "float32",
    backend: str = "torch",
    show_progress: bool = True,
    trust_remote_code: bool = False,
) -> np.ndarray:
    """L2-normalised float32 embeddings (len(texts), dim) of `texts`, in their order.

    `model`: "default" (the packaged all-MiniLM-L6-v2), a local folder, a hub name, or an
    already-loaded SentenceTransformer (its identity is then a hash of its weights).
    With `cache_dir`, texts already cached for the same model identity, prompt, dtype, max_seq_length,
    precision and backend are not encoded again, and a fully cached call does not even load the model.
    `dtype` is the compute dtype ("auto": bfloat16 on CPUs with native bf16, float16 on CUDA, else
    float32). `precision` is how embeddings are stored in the cache (float16 / int8 halve / quarter the
    disk; what is returned is always float32, equal to what a later cached call returns).
    """
    from minekit.encode.encoder import Encoder

    encoder = Encoder(model=model, batch_size=batch_size, device=device, dtype=dtype, max_seq_length=max_seq_length,
                      cache_dir=cache_dir, precision=precision, backend=backend, trust_remote_code=trust_remote_code)
    return encoder.encode(list(texts), prompt=prompt, show_progress=show_progress)
