"""The on-disk embedding cache: a text is never encoded twice by the same model.

Layout (one folder per model identity + prompt + compute dtype + max_seq_length + precision +
backend, under `cache_dir`):

    <cache_dir>/<key>/meta.json                what the key stands for (model identity, prompt, dim, ...)
    <cache_dir>/<key>/<shard>.vec.npy          embeddings of one encoded chunk (float32, float16 or int8)
    <cache_dir>/<key>/<shard>.scale.npy        int8 only: one float32 scale per row
    <cache_dir>/<key>/<shard>.keys.npy         16-byte sha256 prefixes of the chunk's texts (S16)
    <cache_dir>/<key>/<shard>.sum.json         rows and sha256 of the shard's files (written last)

A shard is written with temp files and renames (minekit.io.publish), its checksum file last: a shard
whose .sum.json exists is complete, so a run killed mid-write leaves at most hidden temp files, and two
runs writing at once only add separate shards (a text encoded by both is stored twice, harmlessly). A
shard whose files do not match their checksums (a truncated copy, a flipped byte) is removed with a
warning naming it, and its texts are encoded again. Vectors are read back memory-mapped
(np.load(mmap_mode="r")); no pickle anywhere.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import uuid
from pathlib import Path

import numpy as np

from minekit.io import publish, sha256_of

logger = logging.getLogger(__name__)

PRECISIONS = ("float32", "float16", "int8")
KEY_BYTES = 16
READ_BLOCK = 16384  # cached rows read (and normalised) at a time
CACHE_FORMAT = 2  # 2: checksummed shards, compute dtype and max_seq_length in the key


def text_keys(texts: list[str]) -> np.ndarray:
    """16-byte sha256 prefixes of the texts (the cache's row keys), as an S16 array."""
    return np.array([hashlib.sha256(t.encode("utf-8")).digest()[:KEY_BYTES] for t in texts], dtype=f"S{KEY_BYTES}")


def quantize(vectors: np.ndarray, precision: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Vectors as the cache stores them in `precision`, with one float32 scale per row for int8."""
    if precision == "float32":
        return vectors.astype(np.float32), None
    if precision == "float16":
        return vectors.astype(np.float16), None
    scale = np.abs(vectors).max(axis=1).astype(np.float32) / 127.0
    scale[scale == 0] = 1.0
    return np.clip(np.rint(vectors / scale[:, None]), -127, 127).astype(np.int8), scale


def normalize(vectors: np.ndarray) -> np.ndarray:
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
    return normalize(block)


def _write(path: Path, data: bytes) -> None:
    """Write `data` as `path` through a hidden temp file and minekit.io.publish.

    Not minekit.io.atomic_path: it lists the folder for stale temps on every write, and a cache folder
    holds thousands of shard files. The temp name is unique per write, as encoding threads write into
    one folder at once.
    """
    tmp = path.with_name(f".{path.name}.p{os.getpid()}-{uuid.uuid4().hex}.tmp")  # the pid: see _remove_killed_temps
    try:
        tmp.write_bytes(data)
        publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _save(path: Path, array: np.ndarray) -> str:
    """Write array as .npy (temp file + rename); return the sha256 of the bytes written."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    data = buffer.getvalue()
    _write(path, data)
    return hashlib.sha256(data).hexdigest()



class CorruptShard(Exception):
    pass


def open_cache(cache_dir: str | Path, meta: dict) -> "Cache":
    """The cache folder for `meta` (what the embeddings are of): its key is a hash of meta without the dim."""
    key = hashlib.sha256(json.dumps({k: v for k, v in meta.items() if k != "dim"},
                                    sort_keys=True).encode()).hexdigest()[:24]
    return Cache(Path(cache_dir) / key, meta)


_TEMP = re.compile(r"^\..+\.p(\d+)-[0-9a-f]{32}\.tmp$")


def _remove_killed_temps(folder: Path) -> None:
    """Temp files of encoders that were killed mid-write (their pid is dead) are removed, once per open."""
    from minekit.guards import pid_alive

    if not folder.is_dir():
        return
    for path in folder.glob(".*.tmp"):
        match = _TEMP.match(path.name)
        if match and not pid_alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            logger.info("removed %s, left by a run that did not finish", path)


class Cache:
    """The shards of one cache key: look texts up, add newly encoded ones."""

    def __init__(self, folder: Path, meta: dict) -> None:
        self.folder = folder
        self.meta = meta
        _remove_killed_temps(folder)

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
            raise CorruptShard(f"no checksum for its {part} file")
        if not path.is_file():
            raise CorruptShard(f"{path.name} is missing")
        if sha256_of(path) != sums["sha256"][part]:
            raise CorruptShard(f"{path.name} does not match its checksum (truncated or overwritten)")
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
            raise CorruptShard(str(exc)) from exc
        if keys.dtype != np.dtype(f"S{KEY_BYTES}") or keys.ndim != 1 or len(keys) != sums.get("rows"):
            raise CorruptShard("its keys file has the wrong shape")
        return sums, keys

    def _read_shard_vectors(self, shard: str, sums: dict, rows: int) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            vec = np.load(self._verified(shard, "vec", sums), mmap_mode="r", allow_pickle=False)
            scale = (np.load(self._verified(shard, "scale", sums), allow_pickle=False)
                     if vec.dtype == np.int8 else None)
        except (ValueError, OSError) as exc:
            raise CorruptShard(str(exc)) from exc
        if vec.ndim != 2 or len(vec) != rows or (scale is not None and len(scale) != rows):
            raise CorruptShard("its vectors file has the wrong shape")
        return vec, scale

    def keys(self) -> np.ndarray:
        """The distinct keys of every intact shard, read from the key files only (no vector is read); a
        corrupt shard is removed."""
        parts = []
        for name in self._shards():
            try:
                parts.append(self._read_shard_keys(name)[1])
            except CorruptShard as exc:
                self._drop(name, str(exc))
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=f"S{KEY_BYTES}")

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
            except CorruptShard as exc:
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
        if read_meta(self.folder) is None:
            _write(self.folder / "meta.json", json.dumps(self.meta, indent=2, sort_keys=True).encode())

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        stored, scale = quantize(vectors, self.meta["precision"])
        self.write_meta()
        shard = uuid.uuid4().hex
        sums = {"vec": _save(self.folder / f"{shard}.vec.npy", stored),
                "keys": _save(self.folder / f"{shard}.keys.npy", keys)}
        if scale is not None:
            sums["scale"] = _save(self.folder / f"{shard}.scale.npy", scale)
        data = json.dumps({"rows": len(keys), "sha256": sums}, sort_keys=True).encode()
        _write(self.folder / f"{shard}.sum.json", data)  # last: the shard is complete


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
