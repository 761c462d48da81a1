"""Sentence embeddings with an on-disk cache: a text is never encoded twice by the same model.

Cache layout (one folder per model identity + prompt + compute dtype + max_seq_length + precision +
backend, under `cache_dir`):

    <cache_dir>/<key>/meta.json                what the key stands for (model identity, prompt, dim, ...)
    <cache_dir>/<key>/<shard>.vec.npy          embeddings of one encoded chunk (float32, float16 or int8)
    <cache_dir>/<key>/<shard>.scale.npy        int8 only: one float32 scale per row
    <cache_dir>/<key>/<shard>.keys.npy         16-byte sha256 prefixes of the chunk's texts (S16)
    <cache_dir>/<key>/<shard>.sum.json         rows and sha256 of the shard's files (written last)

A shard is written with temp files and renames, its checksum file last: a shard whose .sum.json
exists is complete, so a run killed mid-write leaves at most hidden temp files, and two runs writing
at once only add separate shards (a text encoded by both is stored twice, harmlessly). A shard whose
files do not match their checksums (a truncated copy, a flipped byte) is removed with a warning
naming it, and its texts are encoded again. Vectors are read back memory-mapped
(np.load(mmap_mode="r")); no pickle anywhere. Each encoded chunk is committed as soon as it is done,
and Ctrl-C commits the part of the chunk already encoded, so an interrupted run resumes where it stopped.

The compute dtype (`auto`: bfloat16 on a CPU with native bf16 units, float16 on CUDA, float32
otherwise) and devices (`cuda:0,cuda:1` encode disjoint chunks in parallel, each into the shared
cache) are resolved up front, before any model loads.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from minekit.errors import ConfigError

if TYPE_CHECKING:
    import polars as pl
    from sentence_transformers import SentenceTransformer

    from minekit.vectors import Vectors

logger = logging.getLogger(__name__)

PRECISIONS = ("float32", "float16", "int8")
BACKENDS = ("torch",)
DTYPES = ("auto", "float32", "bfloat16", "float16")
# Texts per committed shard: the unit of progress a SIGKILL keeps (Ctrl-C keeps every finished batch).
CHUNK = 2048
KEY_BYTES = 16
# Estimated tokens (characters / 4, capped at the model's max_seq_length) per encoding batch, for the
# default batch_size 64 (scaled with larger batch sizes). Measured on 542 NFCorpus passages with MiniLM
# (`mine dense`, 2 shared cores), bfloat16: a budget of 4096 cost 43 CPU-s and 762 MB peak RSS, 8192
# 28 CPU-s and 798 MB, 16384 25 CPU-s and 872 MB (many small batches, each of a new shape, are slow;
# AMX units want large matrices); float32: 1024 cost 145 CPU-s, 8192 42 CPU-s and 849 MB.
TOKEN_BUDGET = 8192
READ_BLOCK = 16384  # cached rows read (and normalised) at a time
ENCODE_SLICE = 65536  # texts encoded per encode() call by encode_stored (bounds its float32 buffer)
CACHE_FORMAT = 2  # 2: checksummed shards, compute dtype and max_seq_length in the key
_DEVICE = re.compile(r"^(cpu|mps|(cuda|xpu)(:\d+)?)$")


def text_keys(texts: list[str]) -> np.ndarray:
    """16-byte sha256 prefixes of the texts (the cache's row keys), as an S16 array."""
    return np.array([hashlib.sha256(t.encode("utf-8")).digest()[:KEY_BYTES] for t in texts], dtype=f"S{KEY_BYTES}")


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


def return_freed_memory(threshold_mb: int = 8) -> bool:
    """Ask glibc to serve allocations above threshold_mb with mmap and give freed memory back at once.

    Encoding allocates large activation buffers of changing sizes; with glibc's adaptive thresholds
    they end up in a fragmented heap that only grows. But an mmap'd buffer is new memory the kernel
    zeroes page by page on first touch, so a low threshold page-faults every batch. Measured with two
    CPU encoding workers (bfloat16, 600 NFCorpus passages): 4 MB cost 20-30% of encoding's CPU time in
    page faults; 8 MB 751 MB peak RSS, sys time 5.3 s; 16 MB 800 MB, 3.5 s; 32 MB 820 MB, 3.4 s (user
    time within noise). One arena, so the workers (threads) share one heap of reused buffers instead
    of one each. Process-wide, so only the CLI calls it; True if applied (glibc), False elsewhere.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
    return (bool(mallopt(m_mmap_threshold, threshold_mb << 20)) and bool(mallopt(m_trim_threshold, threshold_mb << 20))
            and bool(mallopt(m_arena_max, 1)))


def top_k_overlap(q_ref: np.ndarray, d_ref: np.ndarray, q: np.ndarray, d: np.ndarray, k: int = 10) -> np.ndarray:
    """Per query, the share of its top-k documents under embeddings (q, d) that are also in its top-k
    under the reference (q_ref, d_ref): how much an encoder option changes what is mined."""
    k = min(k, len(d_ref))
    ref = np.argsort(-(q_ref @ d_ref.T), axis=1, kind="stable")[:, :k]
    got = np.argsort(-(q @ d.T), axis=1, kind="stable")[:, :k]
    return np.array([len(np.intersect1d(a, b)) / k for a, b in zip(ref, got)], dtype=np.float64)


def cpu_has_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """True if the CPU has native bfloat16 units (AMX or AVX512-BF16): there bf16 encodes ~2x faster."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    return bool(flags & {"amx_bf16", "avx512_bf16"})


def parse_devices(device: str) -> list[str]:
    """'cpu', 'cuda', 'cuda:1', 'mps' or a comma-separated list ('cuda:0,cuda:1'), checked before any work:
    an unknown name, a missing GPU or a GPU index beyond the machine's is a ConfigError."""
    devices = [d.strip() for d in str(device).split(",")]
    bad = [d for d in devices if not _DEVICE.match(d)]
    if bad:
        raise ConfigError(f"--device: {bad[0]!r} is not a device; use cpu, cuda, cuda:N (several: cuda:0,cuda:1) "
                          "or mps.")
    kinds = {d.split(":")[0] for d in devices}
    if len(kinds) > 1:
        raise ConfigError(f"--device: {device!r} mixes device kinds ({', '.join(sorted(kinds))}); use one kind.")
    kind = kinds.pop()
    if kind in ("cuda", "xpu"):
        import torch

        backend = getattr(torch, kind)
        count = backend.device_count() if backend.is_available() else 0
        if count == 0:
            raise ConfigError(f"--device: {device!r} asks for {kind}, but no {kind} device is visible on this "
                              "machine; use --device cpu.")
        wrong = [d for d in devices if ":" in d and int(d.split(":")[1]) >= count]
        if wrong:
            raise ConfigError(f"--device: {wrong[0]!r} does not exist; this machine has {count} {kind} device(s) "
                              f"({kind}:0 to {kind}:{count - 1}).")
    elif kind == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise ConfigError("--device: 'mps' is not available on this machine; use --device cpu.")
    return devices


def resolve_dtype(dtype: str, device: str, *, cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The compute dtype `auto` stands for on `device`: float16 on GPUs, bfloat16 on a CPU with native
    bf16 units, float32 otherwise; other values are returned as given (checked)."""
    if dtype not in DTYPES:
        raise ConfigError(f"--dtype: {dtype!r} is not supported; choose one of {', '.join(DTYPES)}.")
    if dtype != "auto":
        return dtype
    kind = str(device).split(",")[0].strip().split(":")[0]
    if kind in ("cuda", "xpu"):
        return "float16"
    if kind == "cpu" and cpu_has_bf16(cpuinfo):
        return "bfloat16"
    return "float32"


def _check(precision: str, backend: str, batch_size: int, max_seq_length: int | None) -> None:
    if precision not in PRECISIONS:
        raise ConfigError(f"precision: {precision!r} is not supported; choose one of {', '.join(PRECISIONS)}.")
    if backend not in BACKENDS:
        raise ConfigError(f"backend: {backend!r} is not supported; choose one of {', '.join(BACKENDS)}.")
    if batch_size < 1:
        raise ConfigError(f"batch_size: must be at least 1, got {batch_size}.")
    if max_seq_length is not None and max_seq_length < 1:
        raise ConfigError(f"--max-seq-length: must be at least 1, got {max_seq_length}.")


def _loaded_model_identity(model: "SentenceTransformer") -> str:
    """Identity of an in-memory SentenceTransformer: sha256 of its module layout and weights."""
    import torch

    digest = hashlib.sha256(repr(model).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(dtype=torch.uint8).numpy())
    return f"weights:{digest.hexdigest()}"


def _batches(lengths: list[int], batch_size: int, max_tokens: int, max_length: int) -> list[tuple[int, int]]:
    """[a, b) batches of longest-first texts (character lengths): at most batch_size texts and about
    max_tokens tokens each, a text counting characters / 4 tokens, at most max_length."""
    bounds, a = [], 0
    while a < len(lengths):
        # The first text of a batch is its longest; rounded up to 32 tokens, so batch sizes (and shapes)
        # repeat from batch to batch.
        longest = max(1, min(max_length, -(-(lengths[a] // 4 + 2) // 32) * 32))
        b = min(len(lengths), a + max(1, min(batch_size, max_tokens // longest)))
        bounds.append((a, b))
        a = b
    return bounds


def _model_dim(model: "SentenceTransformer") -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def _quantize(vectors: np.ndarray, precision: str) -> tuple[np.ndarray, np.ndarray | None]:
    if precision == "float32":
        return vectors.astype(np.float32), None
    if precision == "float16":
        return vectors.astype(np.float16), None
    scale = np.abs(vectors).max(axis=1).astype(np.float32) / 127.0
    scale[scale == 0] = 1.0
    return np.clip(np.rint(vectors / scale[:, None]), -127, 127).astype(np.int8), scale


def _normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def decode_rows(vec: np.ndarray, scale: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
    """Rows of a stored vectors file (memory-mapped) as the normalised float32 vectors minekit uses:
    every reader of the cache goes through here, so a row always decodes to the same numbers."""
    block = np.asarray(vec[rows], dtype=np.float32)
    if scale is not None:
        block *= scale[rows, None]
    return _normalize(block)


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _save_atomic(path: Path, array: np.ndarray) -> str:
    """Write array as .npy (temp file + rename); return the sha256 of the bytes written."""
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    data = buffer.getvalue()
    _write_atomic(path, lambda handle: handle.write(data))
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


class _CorruptShard(Exception):
    pass


class _Cache:
    """The shards of one cache key: look texts up, add newly encoded ones."""

    def __init__(self, folder: Path, meta: dict) -> None:
        self.folder = folder
        self.meta = meta

    def _shards(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name[: -len(".sum.json")] for p in self.folder.glob("*.sum.json")
                      if not p.name.startswith("."))

    def _files(self, shard: str) -> dict[str, Path]:
        return {part: self.folder / f"{shard}.{part}.npy" for part in ("vec", "scale", "keys")}

    def _verified(self, shard: str, part: str, sums: dict) -> Path:
        path = self._files(shard)[part]
        if part not in sums["sha256"]:
            raise _CorruptShard(f"no checksum for its {part} file")
        if not path.is_file():
            raise _CorruptShard(f"{path.name} is missing")
        if _file_sha256(path) != sums["sha256"][part]:
            raise _CorruptShard(f"{path.name} does not match its checksum (truncated or overwritten)")
        return path

    def _drop(self, shard: str, why: str) -> None:
        logger.warning("embedding cache %s: shard %s is corrupt (%s); removing it, its texts are encoded again",
                       self.folder, shard, why)
        for path in [*self._files(shard).values(), self.folder / f"{shard}.sum.json"]:
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    def _read_shard_keys(self, shard: str) -> tuple[dict, np.ndarray]:
        try:
            sums = json.loads((self.folder / f"{shard}.sum.json").read_text())
            keys = np.load(self._verified(shard, "keys", sums), allow_pickle=False)
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise _CorruptShard(str(exc)) from exc
        if keys.dtype != np.dtype(f"S{KEY_BYTES}") or keys.ndim != 1 or len(keys) != sums.get("rows"):
            raise _CorruptShard("its keys file has the wrong shape")
        return sums, keys

    def _read_shard_vectors(self, shard: str, sums: dict, rows: int) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            vec = np.load(self._verified(shard, "vec", sums), mmap_mode="r", allow_pickle=False)
            scale = (np.load(self._verified(shard, "scale", sums), allow_pickle=False)
                     if vec.dtype == np.int8 else None)
        except (ValueError, OSError) as exc:
            raise _CorruptShard(str(exc)) from exc
        if vec.ndim != 2 or len(vec) != rows or (scale is not None and len(scale) != rows):
            raise _CorruptShard("its vectors file has the wrong shape")
        return vec, scale

    def lookup(self, keys: np.ndarray, out: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Fill out[targets[i]] for each cached keys[i]; return a mask of the keys found.

        Rows are read from the memory maps in file order, a bounded block at a time, so the only
        large allocation is `out` itself. A shard that fails its checksums is removed (its keys stay
        not found, so they are encoded again).
        """
        found = np.zeros(len(keys), dtype=bool)
        for _, vec, scale, rows, keys_at in self._shard_hits(keys, found, out.shape[1]):
            in_file_order = np.argsort(rows)
            rows, keys_at = rows[in_file_order], keys_at[in_file_order]
            for a in range(0, len(rows), READ_BLOCK):
                out[targets[keys_at[a:a + READ_BLOCK]]] = decode_rows(vec, scale, rows[a:a + READ_BLOCK])
            found[keys_at] = True
        return found

    def _shard_hits(self, keys: np.ndarray, found: np.ndarray, dim: int):
        """For each shard holding keys not `found` yet (the caller marks them found before the next):
        (shard, vectors, int8 scales or None, rows in the shard, positions in keys). Checks each shard
        as it opens it: a corrupt one is removed, one of another dim ignored."""
        for shard in self._shards():
            todo = np.flatnonzero(~found)
            if len(todo) == 0:
                return
            try:
                sums, shard_keys = self._read_shard_keys(shard)
                order = np.argsort(shard_keys)
                sorted_keys = shard_keys[order]
                at = np.clip(np.searchsorted(sorted_keys, keys[todo]), 0, max(len(sorted_keys) - 1, 0))
                hit = (sorted_keys[at] == keys[todo]) if len(sorted_keys) else np.zeros(len(todo), dtype=bool)
                if not hit.any():
                    continue
                vec, scale = self._read_shard_vectors(shard, sums, len(shard_keys))
            except _CorruptShard as exc:
                self._drop(shard, str(exc))
                continue
            if vec.shape[1] != dim:
                logger.warning("cache shard %s has dim %d, expected %d: ignored", shard, vec.shape[1], dim)
                continue
            yield shard, vec, scale, order[at[hit]], todo[hit]

    def locate(self, keys: np.ndarray) -> tuple[np.ndarray, list[tuple[Path, np.ndarray | None]], np.ndarray,
                                                    np.ndarray]:
        """Where each key's vector is stored, without reading any vector: (found mask, shards as
        (vec path, int8 scales or None), shard index and row of each key; -1 where not found).

        A key in several shards is taken from the first, as lookup() does; shards are checked (and a
        corrupt one removed) as in lookup().
        """
        found = np.zeros(len(keys), dtype=bool)
        shard_of = np.full(len(keys), -1, dtype=np.int32)
        row_of = np.full(len(keys), -1, dtype=np.int64)
        shards: list[tuple[Path, np.ndarray | None]] = []
        for shard, vec, scale, rows, keys_at in self._shard_hits(keys, found, self.meta["dim"]):
            del vec
            found[keys_at] = True
            shard_of[keys_at] = len(shards)
            row_of[keys_at] = rows
            shards.append((self._files(shard)["vec"], scale))
        return found, shards, shard_of, row_of

    def write_meta(self) -> None:
        """(Re)write meta.json when it is missing or unreadable (it says what the folder holds)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        meta_path = self.folder / "meta.json"
        if read_meta(self.folder) is None:
            data = json.dumps(self.meta, indent=2, sort_keys=True).encode()
            _write_atomic(meta_path, lambda handle: handle.write(data))

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        stored, scale = _quantize(vectors, self.meta["precision"])
        self.write_meta()
        shard = uuid.uuid4().hex
        sums = {"vec": _save_atomic(self.folder / f"{shard}.vec.npy", stored),
                "keys": _save_atomic(self.folder / f"{shard}.keys.npy", keys)}
        if scale is not None:
            sums["scale"] = _save_atomic(self.folder / f"{shard}.scale.npy", scale)
        data = json.dumps({"rows": len(keys), "sha256": sums}, sort_keys=True).encode()
        _write_atomic(self.folder / f"{shard}.sum.json", lambda handle: handle.write(data))  # last: complete


def read_meta(folder: Path) -> dict | None:
    """A cache folder's meta.json, or None if it is missing; an unreadable one is removed with a warning
    (it is rewritten from the model on the next write)."""
    path = folder / "meta.json"
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
        int(meta["dim"])
        return meta
    except (ValueError, KeyError, TypeError, OSError) as exc:
        logger.warning("embedding cache %s: meta.json is unreadable (%s); removing it, it is rewritten from "
                       "the model", folder, exc)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        return None


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
            from minekit.models import resolve_model

            resolve_model(self.model)  # an unknown model fails here, before any work

    @property
    def identity(self) -> str:
        if self._identity is None:
            from minekit.models import model_identity

            self._identity = (model_identity(self.model) if isinstance(self.model, str)
                              else _loaded_model_identity(self.model))
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
            from minekit.models import load_bi_encoder

            logger.info("loading model %s on %s (%s)", self.model, self.devices[0], self.dtype)
            model = self._load_plain()
            if model is None:
                model = load_bi_encoder(self.model, device=self.devices[0], trust_remote_code=self.trust_remote_code)
            self._loaded = self._prepare(model, self.devices[0], copy_model=False)
        return self._loaded

    def _load_plain(self):
        """The model on plain transformers (minekit.plain_encoder) when its folder has the classic
        Transformer + Pooling (+ Normalize) layout: no sentence-transformers import (~250 MB, seconds)."""
        from minekit.models import resolve_model

        folder = Path(resolve_model(self.model))
        if self.trust_remote_code or not folder.is_dir():
            return None
        from minekit.plain_encoder import PlainEncoder, plain_layout

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
            return _model_dim(self._loaded)
        return None

    def prompts(self) -> tuple[dict[str, str], str | None]:
        """The model's named prompts and its default prompt name, read from the model folder's
        config_sentence_transformers.json when the model is not loaded (a warm cache loads nothing)."""
        if self._prompts is None:
            from minekit.models import model_prompts

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

    def _cache(self, prompt: str | None, dim: int) -> _Cache:
        meta = {"format": CACHE_FORMAT, "model": self.identity, "prompt": prompt or "", "precision": self.precision,
                "backend": self.backend, "dtype": self.dtype, "max_seq_length": self.max_seq_length, "dim": dim,
                "normalized": True}
        key = hashlib.sha256(json.dumps({k: v for k, v in meta.items() if k != "dim"},
                                        sort_keys=True).encode()).hexdigest()[:24]
        return _Cache(Path(self.cache_dir) / key, meta)

    def _known_dim(self, prompt: str | None) -> int | None:
        """The dim recorded in this key's cache folder, so a warm cache needs no model."""
        if self.dim() is not None:
            return self.dim()
        meta = read_meta(self._cache(prompt, 0).folder)
        return int(meta["dim"]) if meta is not None else None

    def encode(self, texts: list[str], *, prompt: str | None = None, show_progress: bool = True,
               desc: str = "encode") -> np.ndarray:
        """L2-normalised float32 embeddings (len(texts), dim) in the order of `texts`; repeats encoded once.

        `prompt` is the text prepended to each one (see prompt_text for names and model defaults);
        passed explicitly, so the cache key always says what the model saw.
        """
        keys = text_keys(texts)
        uniq_keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        cache = None
        if self.cache_dir is not None:
            dim = self._known_dim(prompt)
            cache = self._cache(prompt, dim if dim is not None else _model_dim(self.load()))
            if cache.folder.is_dir():
                cache.write_meta()  # a folder whose meta.json was lost or damaged gets it back
        dim = cache.meta["dim"] if cache is not None else _model_dim(self.load())
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
                      show_progress: bool = True, desc: str = "encode") -> "Vectors":
        """The embeddings of `texts` (same values as encode()) left where the cache stores them: texts not
        cached yet are encoded and committed first, ENCODE_SLICE at a time. Without a cache_dir they are
        encoded into memory (minekit.vectors.ArrayVectors). A TextColumn is read a slice at a time."""
        from minekit.vectors import ArrayVectors, StoredVectors

        column = texts if isinstance(texts, TextColumn) else None
        if self.cache_dir is None:
            texts = column.take(np.arange(len(column))) if column is not None else texts
            return ArrayVectors(self.encode(texts, prompt=prompt, show_progress=show_progress, desc=desc))
        keys = column.keys() if column is not None else text_keys(texts)
        dim = self._known_dim(prompt)
        cache = self._cache(prompt, dim if dim is not None else _model_dim(self.load()))
        if cache.folder.is_dir():
            cache.write_meta()
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
                sink: tuple[_Cache, np.ndarray] | None, out: np.ndarray, targets: np.ndarray) -> None:
        """Encode longest-first in chunks (each committed to the cache when done) into out[targets];
        with several devices, each pulls the next chunk until none is left."""
        from tqdm.auto import tqdm

        # On CPU, as many workers as there are whole batches, up to cpu_workers.
        workers = min(cpu_workers(self.devices), -(-len(texts) // self.batch_size))
        if len(self.devices) > 1:
            models = self._worker_models()
        else:  # on CPU, `workers` threads share the one model
            models = [self.load()] * workers
        # Length-sorted: batches of similar length waste no padding. Long texts go in smaller batches
        # (a token budget), which bounds the activations' memory (attention is batch x heads x
        # length^2) at no cost in speed on CPU. The workers' chunks interleave the sorted order, so
        # each gets the same mix of lengths (and they finish together).
        order = np.argsort([-len(t) for t in texts], kind="stable")
        chunks = _interleaved_chunks(order, len(models), CHUNK)
        with tqdm(total=len(texts), desc=desc, unit="text", disable=not show_progress) as bar:
            job = _Job(self, texts, prompt, sink, out, targets, chunks, bar, cpu_workers=workers)
            if len(models) == 1:
                job.work(models[0])
            else:
                job.run_parallel(models)

    def encode_chunk(self, model: "SentenceTransformer", texts: list[str], prompt: str | None, bar,
                     stop: threading.Event | None, *, cpu_workers: int = 1) -> tuple[np.ndarray, int]:
        """Embeddings of one chunk, batch by batch; stops early (returning how many rows are done) on
        Ctrl-C in this thread or when `stop` is set by another. `cpu_workers`: how many CPU workers
        encode at once (they share the token budget)."""
        vectors = np.zeros((len(texts), _model_dim(model)), dtype=np.float32)
        max_length = int(getattr(model, "max_seq_length", None) or 512)
        # The token budget bounds CPU memory at no cost in speed there (split between the CPU
        # workers, so their batches together hold what one would); a GPU wants full batches.
        budget = TOKEN_BUDGET * max(1, self.batch_size // 64) // cpu_workers
        max_tokens = self.batch_size * max_length if self.devices[0].startswith("cuda") else budget
        done = 0
        try:
            for a, b in _batches([len(t) for t in texts], self.batch_size, max_tokens, max_length):
                if stop is not None and stop.is_set():
                    break
                encoded = model.encode(texts[a:b], prompt=prompt or "", batch_size=b - a, show_progress_bar=False,
                                       convert_to_tensor=True, normalize_embeddings=True)
                vectors[a:b] = encoded.float().cpu().numpy()
                done = b
                bar.update(b - a)
        except KeyboardInterrupt:
            return vectors, -done - 1  # negative: interrupted after `done` rows
        return vectors, done


def cpu_workers(devices: list[str]) -> int:
    """Threads that encode at once on a lone CPU device: torch's intra-op thread count (the cores it
    would use), each thread then running its batches on one core. 1 for other devices.

    Why: with one model running each op on all cores, every op ends at a barrier, and on a machine
    shared with other jobs a core taken away stalls the other (measured on 2 shared cores, MiniLM
    bfloat16: 12 CPU-s for what two one-core workers did in 5-6 CPU-s); independent workers do not
    wait for each other. GPUs and several devices keep one worker per device.
    """
    if devices != ["cpu"]:
        return 1
    import torch

    return max(1, torch.get_num_threads())


def _interleaved_chunks(order: np.ndarray, workers: int, chunk: int) -> list[np.ndarray]:
    """`order` cut into chunks of at most `chunk` texts, `workers` chunks at a time taking every
    workers-th text of the next stretch: length-sorted texts give each worker the same lengths."""
    size = min(chunk, -(-len(order) // workers))
    chunks = []
    for a in range(0, len(order), size * workers):
        stretch = order[a:a + size * workers]
        chunks += [part for w in range(workers) if len(part := stretch[w::workers])]
    return chunks


class _Job:
    """Chunks of one encode call, handed out to one worker per device (or per core on CPU, see
    cpu_workers); each chunk (or the finished part of it, on Ctrl-C) goes to the cache and to `out`
    as soon as it is encoded."""

    def __init__(self, encoder: Encoder, texts, prompt, sink, out, targets, chunks, bar, *,
                 cpu_workers: int = 1) -> None:
        self.encoder, self.texts, self.prompt, self.sink = encoder, texts, prompt, sink
        self.out, self.targets, self.bar = out, targets, bar
        self.cpu_workers = cpu_workers  # > 1: threads sharing one CPU model, one core each
        self.chunks = list(reversed(chunks))
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def _next(self):
        with self.lock:
            return self.chunks.pop() if self.chunks and not self.stop.is_set() else None

    def _commit(self, idx: np.ndarray, vectors: np.ndarray) -> None:
        if len(idx) == 0:
            return
        if self.sink is not None:
            cache, keys = self.sink
            cache.add(keys[idx], vectors)
        # What comes back is what the cache holds (with or without a cache), so a warm run gives the
        # same numbers as a cold one.
        stored, scale = _quantize(vectors, self.encoder.precision)
        self.out[self.targets[idx]] = _normalize(stored.astype(np.float32) * (scale[:, None] if scale is not None
                                                                               else 1.0))

    def work(self, model) -> None:
        while (idx := self._next()) is not None:
            vectors, done = self.encoder.encode_chunk(model, [self.texts[i] for i in idx], self.prompt, self.bar,
                                                      self.stop, cpu_workers=self.cpu_workers)
            interrupted = done < 0
            done = -done - 1 if interrupted else done
            self._commit(idx[:done], vectors[:done])
            if interrupted:
                logger.warning("interrupted: the texts encoded so far are kept in the cache")
                raise KeyboardInterrupt
            if done < len(idx):  # stopped by another worker's failure or Ctrl-C
                return

    def run_parallel(self, models) -> None:
        import torch

        errors: list[BaseException] = []
        threads_before = torch.get_num_threads()

        def run(model) -> None:
            try:
                if self.cpu_workers > 1:
                    torch.set_num_threads(1)  # this thread's ops on one core
                self.work(model)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                errors.append(exc)
                self.stop.set()

        threads = [threading.Thread(target=run, args=(m,), daemon=True) for m in models]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except KeyboardInterrupt:
            self.stop.set()  # workers commit what they finished and return
            for t in threads:
                t.join()
            logger.warning("interrupted: the texts encoded so far are kept in the cache")
            raise
        finally:
            if self.cpu_workers > 1:  # some BLAS thread settings are process-wide: put them back
                torch.set_num_threads(threads_before)
        if errors:
            raise errors[0]


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
    encoder = Encoder(model=model, batch_size=batch_size, device=device, dtype=dtype, max_seq_length=max_seq_length,
                      cache_dir=cache_dir, precision=precision, backend=backend, trust_remote_code=trust_remote_code)
    return encoder.encode(list(texts), prompt=prompt, show_progress=show_progress)
