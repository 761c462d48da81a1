"""Embeddings read a block at a time, where they are stored: never the whole corpus in float32.

A `Vectors` is n rows of dim floats addressed by position (a corpus in doc_id order, queries in
query_id order). `ArrayVectors` wraps an array already in memory; `StoredVectors` points into the
embedding cache's shard files (float32, float16 or int8 as stored, see minekit.encode.cache) and reads
rows memory-mapped, decoding (scale, normalise) exactly as a cache lookup does, so a row is the
same float32 vector whichever way it is read. Each read maps the shard files it needs and drops
them again, so resident memory stays at the block being read, not at the size of the files.

`canonical_dot` is the score every exact search reports: the float64 sum of float32 products,
rounded to float32, computed pair by pair; unlike a BLAS product its value does not depend on the
shapes of the matrices it came from, so search results do not depend on block sizes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from minekit.encode.cache import decode_rows

DOT_CHUNK = 8192  # pairs per canonical_dot step (two float64 copies of 8192 x dim rows)


class Vectors:
    """n rows of dim float32 embeddings, read by position."""

    n: int
    dim: int

    def __len__(self) -> int:
        return self.n

    def gather(self, positions: np.ndarray) -> np.ndarray:
        """Rows at `positions` (any order, repeats allowed) as a float32 array."""
        raise NotImplementedError

    def blocks(self, block_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(positions, rows) blocks of at most block_size rows covering every position once, in the
        order cheapest to read (storage order); callers must not depend on it."""
        for a in range(0, self.n, block_size):
            positions = np.arange(a, min(a + block_size, self.n))
            yield positions, self.gather(positions)

    def to_array(self) -> np.ndarray:
        """Every row in position order (n x dim float32): only for callers that need it all."""
        return self.gather(np.arange(self.n))


class ArrayVectors(Vectors):
    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.n, self.dim = array.shape

    def gather(self, positions: np.ndarray) -> np.ndarray:
        return np.asarray(self.array[positions], dtype=np.float32)

    def to_array(self) -> np.ndarray:
        return np.asarray(self.array, dtype=np.float32)


def as_vectors(value: "Vectors | np.ndarray") -> Vectors:
    return value if isinstance(value, Vectors) else ArrayVectors(np.asarray(value))


class StoredVectors(Vectors):
    """Rows in cache shard files: position i is row row_of[i] of shard shard_of[i]."""

    def __init__(self, shards: list[tuple[Path, np.ndarray | None]], shard_of: np.ndarray, row_of: np.ndarray,
                 dim: int) -> None:
        self.shards = shards  # (vec.npy path, per-row scales for int8 or None)
        self.shard_of = shard_of.astype(np.int32)
        self.row_of = row_of.astype(np.int64)
        self.n, self.dim = len(shard_of), dim

    def _read_sorted(self, positions: np.ndarray) -> np.ndarray:
        """Rows of positions already sorted by (shard, row)."""
        out = np.empty((len(positions), self.dim), dtype=np.float32)
        shard = self.shard_of[positions]
        starts = np.concatenate([[0], np.flatnonzero(np.diff(shard)) + 1, [len(positions)]])
        for a, b in zip(starts[:-1], starts[1:]):
            path, scale = self.shards[int(shard[a])]
            vec = np.load(path, mmap_mode="r", allow_pickle=False)
            out[a:b] = decode_rows(vec, scale, self.row_of[positions[a:b]])
            del vec  # unmapped: its pages leave this process's resident set
        return out

    def gather(self, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        order = np.lexsort((self.row_of[positions], self.shard_of[positions]))
        out = np.empty((len(positions), self.dim), dtype=np.float32)
        out[order] = self._read_sorted(positions[order])
        return out

    def blocks(self, block_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = np.lexsort((self.row_of, self.shard_of))
        for a in range(0, self.n, block_size):
            positions = order[a:a + block_size]
            yield positions, self._read_sorted(positions)


def canonical_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of two float32 arrays of the same shape, as float32: float64 products
    (exact) summed in a fixed order, so a pair's value never depends on what it was computed with."""
    out = np.empty(len(a), dtype=np.float32)
    for s in range(0, len(a), DOT_CHUNK):
        x = a[s:s + DOT_CHUNK].astype(np.float64)
        x *= b[s:s + DOT_CHUNK]
        out[s:s + DOT_CHUNK] = np.add.reduce(x, axis=1)
    return out


def blas_error(dim: int) -> float:
    """A bound on |float32 BLAS dot - canonical_dot| per unit of |a| * |b|, for vectors of `dim` floats:
    the float32 summation error of any order (dim * u / (1 - dim * u)) plus canonical_dot's rounding."""
    u = 2.0 ** -24
    return dim * u / (1 - dim * u) + 2 * u
