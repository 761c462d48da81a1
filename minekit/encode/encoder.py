"""The Encoder: a model loaded at most once (lazily: a warm cache never loads it), encoding texts through
its embedding cache (minekit.encode.cache), in the order given.

The compute dtype (`auto`: bfloat16 on a CPU with native bf16 units, float16 on CUDA, float32
otherwise) and devices (`cuda:0,cuda:1` encode disjoint chunks in parallel, each into the shared
cache) are resolved up front, before any model loads (minekit.encode.device).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from minekit.encode import workers
from minekit.encode.cache import CACHE_FORMAT, KEY_BYTES, PRECISIONS, Cache, open_cache, read_meta, text_keys
from minekit.encode.device import parse_devices, resolve_dtype
from minekit.encode.models import (load_bi_encoder, loaded_model_identity, model_dim, model_identity, model_prompts,
                                   resolve_model)
from minekit.encode.vectors import ArrayVectors, StoredVectors, Vectors
from minekit.errors import ConfigError

if TYPE_CHECKING:
    import polars as pl
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

BACKENDS = ("torch",)
ENCODE_SLICE = 65536  # texts encoded per encode() call by encode_stored (bounds its float32 buffer)


class TextColumn:
    """The texts of a column expression over a frame (e.g. passage_text() over a corpus), built a slice at a
    time: encode_stored hashes and encodes them without holding every text as a Python string."""

    def __init__(self, frame: "pl.DataFrame", expr: "pl.Expr") -> None:
        self.frame, self.expr = frame, expr

    def __len__(self) -> int:
        return self.frame.height

    def take(self, positions: np.ndarray) -> list[str]:
        return self.frame[np.asarray(positions, dtype=np.int64)].select(self.expr).to_series().to_list()

    def keys(self) -> np.ndarray:
        """text_keys of every text, ENCODE_SLICE texts built at a time."""
        return np.concatenate([np.zeros(0, dtype=f"S{KEY_BYTES}")] + [
            text_keys(self.frame.slice(a, ENCODE_SLICE).select(self.expr).to_series().to_list())
            for a in range(0, self.frame.height, ENCODE_SLICE)])


def _check(precision: str, backend: str, batch_size: int, max_seq_length: int | None) -> None:
    if precision not in PRECISIONS:
        raise ConfigError(f"precision: {precision!r} is not supported; choose one of {', '.join(PRECISIONS)}.")
    if backend not in BACKENDS:
        raise ConfigError(f"backend: {backend!r} is not supported; choose one of {', '.join(BACKENDS)}.")
    if batch_size < 1:
        raise ConfigError(f"batch_size: must be at least 1, got {batch_size}.")
    if max_seq_length is not None and max_seq_length < 1:
        raise ConfigError(f"--max-seq-length: must be at least 1, got {max_seq_length}.")


@dataclass
class Encoder:
    """A model loaded at most once (lazily: a warm cache never loads it), with its cache.

    `model` is "default", a local folder, a hub name, or an already-loaded SentenceTransformer.
    `device` may list several devices ("cuda:0,cuda:1"): missing texts are split into disjoint chunks
    that each device encodes (its own model copy) and commits to the shared cache.
    `dtype` is the compute dtype ("auto" resolves per device, see resolve_dtype); `max_seq_length`
    overrides the model's (None: the model's own). `stats` counts texts encoded and texts served from
    the cache, over every call.
    """

    model: Any = "default"
    batch_size: int = 64
    device: str = "cpu"
    dtype: str = "auto"
    max_seq_length: int | None = None
    cache_dir: str | Path | None = None
    precision: str = "float32"
    backend: str = "torch"
    trust_remote_code: bool = False
    stats: dict = field(default_factory=lambda: {"encoded": 0, "cached": 0})
    _loaded: Any = field(default=None, init=False, repr=False)
    _identity: str | None = field(default=None, init=False, repr=False)
    _prompts: tuple | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        _check(self.precision, self.backend, self.batch_size, self.max_seq_length)
        self.devices = parse_devices(self.device)
        self.dtype = resolve_dtype(self.dtype, self.devices[0])
        if not isinstance(self.model, str):
            self._loaded = self._prepare(self.model, self.devices[0], copy_model=True)
        else:
            resolve_model(self.model)  # an unknown model fails here, before any work

    # -- the model ------------------------------------------------------------------------------------

    @property
    def identity(self) -> str:
        if self._identity is None:
            self._identity = (model_identity(self.model) if isinstance(self.model, str)
                              else loaded_model_identity(self.model))
        return self._identity

    def _prepare(self, model: "SentenceTransformer", device: str, *, copy_model: bool) -> "SentenceTransformer":
        """The model on `device` in the compute dtype with max_seq_length set; a caller's model is copied
        first when anything about it would change."""
        import torch

        dtype = getattr(torch, self.dtype)
        changes = (next(model.parameters()).dtype != dtype or str(model.device) != str(torch.device(device))
                   or (self.max_seq_length is not None and model.max_seq_length != self.max_seq_length))
        if copy_model and changes:
            model = copy.deepcopy(model)
        model.to(device=device, dtype=dtype)
        if self.max_seq_length is not None:
            model.max_seq_length = self.max_seq_length
        return model.eval()

    def load(self) -> "SentenceTransformer":
        if self._loaded is None:
            logger.info("loading model %s on %s (%s)", self.model, self.devices[0], self.dtype)
            model = self._load_plain()
            if model is None:
                model = load_bi_encoder(self.model, device=self.devices[0], trust_remote_code=self.trust_remote_code)
            self._loaded = self._prepare(model, self.devices[0], copy_model=False)
        return self._loaded

    def _load_plain(self):
        """The model on plain transformers (minekit.encode.plain_encoder) when its folder has the classic
        Transformer + Pooling (+ Normalize) layout: no sentence-transformers import (~250 MB, seconds)."""
        folder = Path(resolve_model(self.model))
        if self.trust_remote_code or not folder.is_dir():
            return None
        from minekit.encode.plain_encoder import PlainEncoder, plain_layout

        layout = plain_layout(folder)
        if layout is None:
            return None
        return PlainEncoder(folder, layout, device=self.devices[0], dtype=self.dtype)

    def _worker_models(self) -> list["SentenceTransformer"]:
        """One model per device (the first is self.load()); the others are copies moved to their device."""
        first = self.load()
        return [first] + [self._prepare(copy.deepcopy(first), d, copy_model=False) for d in self.devices[1:]]

    def dim(self) -> int | None:
        if self._loaded is not None:
            return model_dim(self._loaded)
        return None

    def prompts(self) -> tuple[dict[str, str], str | None]:
        """The model's named prompts and its default prompt name, read from the model folder's
        config_sentence_transformers.json when the model is not loaded (a warm cache loads nothing)."""
        if self._prompts is None:
            found = model_prompts(self.model) if isinstance(self.model, str) else None
            if found is None:
                model = self.load()
                found = (dict(getattr(model, "prompts", None) or {}), getattr(model, "default_prompt_name", None))
            self._prompts = found
        return self._prompts

    def prompt_text(self, prompt: str | None, prompt_name: str | None, *, flag: str = "prompt") -> str | None:
        """The text prepended before encoding: `prompt` as given, else the model's prompt named
        `prompt_name`, else the model's default prompt (as sentence-transformers would apply it)."""
        if prompt is not None and prompt_name is not None:
            raise ConfigError(f"--{flag} and --{flag}-name: give one of them.")
        if prompt is not None:
            return prompt
        named, default = self.prompts()
        if prompt_name is not None:
            if prompt_name not in named:
                have = ", ".join(repr(n) for n in named) or "none"
                raise ConfigError(f"--{flag}-name: the model has no prompt named {prompt_name!r} (it has: {have}); "
                                  f"give the text with --{flag} instead.")
            return named[prompt_name]
        return named.get(default) if default else None

    # -- the cache ------------------------------------------------------------------------------------

    def _cache(self, prompt: str | None, dim: int) -> Cache:
        return open_cache(self.cache_dir, {
            "format": CACHE_FORMAT, "model": self.identity, "prompt": prompt or "", "precision": self.precision,
            "backend": self.backend, "dtype": self.dtype, "max_seq_length": self.max_seq_length, "dim": dim,
            "normalized": True})

    def _known_dim(self, prompt: str | None) -> int | None:
        """The dim recorded in this key's cache folder, so a warm cache needs no model."""
        if self.dim() is not None:
            return self.dim()
        meta = read_meta(self._cache(prompt, 0).folder)
        return int(meta["dim"]) if meta is not None else None

    def _prompt_cache(self, prompt: str | None) -> Cache:
        """This prompt's cache, its dim read from the cache folder (else the model, loaded for it)."""
        dim = self._known_dim(prompt)
        cache = self._cache(prompt, dim if dim is not None else model_dim(self.load()))
        if cache.folder.is_dir():
            cache.write_meta()  # a folder whose meta.json was lost or damaged gets it back
        return cache

    # -- encoding -------------------------------------------------------------------------------------

    def encode(self, texts: list[str], *, prompt: str | None = None, show_progress: bool = True,
               desc: str = "encode") -> np.ndarray:
        """L2-normalised float32 embeddings (len(texts), dim) in the order of `texts`; repeats encoded once.

        `prompt` is the text prepended to each one (see prompt_text for names and model defaults);
        passed explicitly, so the cache key always says what the model saw.
        """
        keys = text_keys(texts)
        uniq_keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        cache = self._prompt_cache(prompt) if self.cache_dir is not None else None
        dim = cache.meta["dim"] if cache is not None else model_dim(self.load())
        # Filled in place: each distinct text at its first position, repeats copied at the end.
        out = np.zeros((len(texts), dim), dtype=np.float32)
        found = cache.lookup(uniq_keys, out, first) if cache is not None else np.zeros(len(uniq_keys), dtype=bool)
        missing = np.flatnonzero(~found)
        self.stats["cached"] += len(texts) - int(np.isin(inverse, missing).sum())
        if len(missing):
            logger.info("%s: %d of %d distinct texts not cached, encoding them", desc, len(missing), len(uniq_keys))
            miss_texts = [texts[i] for i in first[missing]]
            sink = None if cache is None else (cache, uniq_keys[missing])
            self._encode(miss_texts, prompt, show_progress, desc, sink, out, first[missing])
            self.stats["encoded"] += len(miss_texts)
        repeats = np.flatnonzero(first[inverse] != np.arange(len(texts)))
        out[repeats] = out[first[inverse[repeats]]]
        return out

    def encode_stored(self, texts: "list[str] | TextColumn", *, prompt: str | None = None,
                      show_progress: bool = True, desc: str = "encode") -> Vectors:
        """The embeddings of `texts` (same values as encode()) left where the cache stores them: texts not
        cached yet are encoded and committed first, ENCODE_SLICE at a time. Without a cache_dir they are
        encoded into memory (minekit.encode.vectors.ArrayVectors). A TextColumn is read a slice at a time."""
        column = texts if isinstance(texts, TextColumn) else None
        if self.cache_dir is None:
            texts = column.take(np.arange(len(column))) if column is not None else texts
            return ArrayVectors(self.encode(texts, prompt=prompt, show_progress=show_progress, desc=desc))
        keys = column.keys() if column is not None else text_keys(texts)
        cache = self._prompt_cache(prompt)
        found, shards, shard_of, row_of = cache.locate(keys)
        self.stats["cached"] += int(found.sum())
        missing = np.flatnonzero(~found)
        if len(missing):
            miss_keys, first = np.unique(keys[missing], return_index=True)
            to_encode = missing[first]  # a position of each missing text, in key order
            logger.info("%s: %d of %d distinct texts not cached, encoding them", desc, len(to_encode),
                        len(np.unique(keys)))
            for a in range(0, len(to_encode), ENCODE_SLICE):
                part = to_encode[a:a + ENCODE_SLICE]
                part_texts = column.take(part) if column is not None else [texts[i] for i in part]
                before = self.stats["cached"]
                self.encode(part_texts, prompt=prompt, show_progress=show_progress, desc=desc)
                self.stats["cached"] = before  # encode() counted these as encoded, not cached
            cache = self._cache(prompt, int(cache.meta["dim"]))
            found2, shards2, shard2, row2 = cache.locate(keys[missing])
            if not found2.all():
                raise RuntimeError(f"{desc}: {int((~found2).sum())} texts are still not in the cache "
                                   f"{cache.folder} after encoding them (removed by another process?)")
            shard_of[missing] = shard2 + len(shards)
            row_of[missing] = row2
            shards = shards + shards2
        return StoredVectors(shards, shard_of, row_of, int(cache.meta["dim"]))

    def _encode(self, texts: list[str], prompt: str | None, show_progress: bool, desc: str,
                sink: tuple[Cache, np.ndarray] | None, out: np.ndarray, targets: np.ndarray) -> None:
        """Encode into out[targets] (and the cache, through `sink`), one model per device or CPU worker."""
        # On CPU, as many workers as there are whole batches, up to cpu_workers.
        n_workers = min(workers.cpu_workers(self.devices), -(-len(texts) // self.batch_size))
        if len(self.devices) > 1:
            models = self._worker_models()
        else:  # on CPU, the workers (threads) share the one model
            models = [self.load()] * n_workers
        workers.encode_missing(models, texts, prompt, sink, out, targets, batch_size=self.batch_size,
                               device=self.devices[0], precision=self.precision, cpu_workers=n_workers,
                               show_progress=show_progress, desc=desc)
