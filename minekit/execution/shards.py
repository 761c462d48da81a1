"""Shards: one stage's work split into n independent runs, and the merge that makes them one output again.

The contract (README, "Shards and Ray"):

- `shard="i/n"` (1 <= i <= n) runs a stage on the queries whose shard is i: the first 8 bytes of
  sha256(query_id), big-endian, modulo n, plus 1. A query's shard depends only on its id and n, so
  every machine agrees without talking to the others, and adding queries moves none.
- Mining (`mine bm25`, `mine passage-bm25`, `mine dense`) and `denoise` shard by query; every shard
  reads the whole corpus: BM25 indexes all of it (global idf, document count and average length),
  dense search scores all of it. Encoding (`embed`) shards distinct texts by the same hash of the text
  (the embedding cache's key) and writes into the shared cache.
- A shard writes a normal candidates file; its manifest adds `shard: {index, count, of, by}`, where
  `of` is the fingerprint the unsharded output has. The shard's own fingerprint is derived from it,
  so a shard file is never taken for the whole output.
- `merge(files)` checks the shards are complete (every i of n exactly once) and of one run (the same
  `of`: same stage, params and inputs), concatenates them, sorts rows by query_id (stable: every
  sharded stage writes a query's rows together, sorted by query_id first), sums the counts, and writes
  the manifest the unsharded run writes. Same rows, same order, same manifest: the same bytes.
- Neural scores are what the models compute, and a model's output for a text can depend on the batch
  it was encoded in. Shards of `mine dense` read the corpus (and queries) from the shared embedding
  cache, where each text is encoded once: run `embed` first (sharded or not), and the merged output is
  byte-identical to an unsharded run over the same cache.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from minekit.errors import ConfigError, InputError

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
SHARD_KEY = "shard"  # where a shard's facts live in its manifest


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(value: "str | Shard | None") -> Shard | None:
    """'i/n' -> Shard(i, n); None stays None. A bad spec is a ValueError saying what a good one looks like."""
    if value is None or isinstance(value, Shard):
        return value
    match = _SPEC.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a shard; give i/n, shard i of n, with 1 <= i <= n (e.g. 1/4).")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"{value!r} is not a shard: i must be between 1 and n (shards are numbered 1/{max(count, 1)} "
                         f"to {max(count, 1)}/{max(count, 1)}).")
    return Shard(index, count)


def shard_numbers(values: Sequence[str], count: int) -> "np.ndarray":
    """The 1-based shard of each value (a query id, a text): sha256's first 8 bytes modulo count, plus 1."""
    import numpy as np

    return np.fromiter((int.from_bytes(hashlib.sha256(v.encode("utf-8")).digest()[:8], "big") % count + 1
                        for v in values), dtype=np.int64, count=len(values)) if count > 1 \
        else np.ones(len(values), dtype=np.int64)


def key_shards(keys: "np.ndarray", count: int) -> "np.ndarray":
    """The 1-based shard of each embedding-cache key (16-byte sha256 prefixes of texts)."""
    import numpy as np

    if count == 1:
        return np.ones(len(keys), dtype=np.int64)
    heads = np.frombuffer(b"".join(bytes(k[:8]).ljust(8, b"\0") for k in keys), dtype=">u8") if len(keys) else \
        np.zeros(0, dtype=np.uint64)
    return (heads % np.uint64(count)).astype(np.int64) + 1


def select(frame: "pl.DataFrame", column: str, shard: Shard | None) -> "pl.DataFrame":
    """The rows of `frame` whose `column` (query_id) falls in the shard; all rows without a shard."""
    if shard is None or shard.count == 1:
        return frame
    ids = frame[column].unique().to_list()
    mine = [v for v, s in zip(ids, shard_numbers(ids, shard.count)) if s == shard.index]
    return frame.filter(frame[column].is_in(mine))


def shard_fingerprint(base: str, shard: "str | Shard | None") -> str:
    """A shard output's fingerprint: the unsharded output's with the shard appended ('<base>.shard1of4'), so it is
    never taken for the whole output, and a merge of all n (merged_fingerprint) is known before any shard runs."""
    shard = parse_shard(shard)
    if shard is None:
        return base
    return f"{base}.shard{shard.index}of{shard.count}"


_SHARD_FP = re.compile(r"^(?P<base>[0-9a-f]+)\.shard(?P<index>\d+)of(?P<count>\d+)$")


def merged_fingerprint(identities: Sequence) -> str | None:
    """The fingerprint of merging outputs with these identities: the unsharded output's when they are the n
    shards of one run, each once (what `merge` writes); None otherwise."""
    found = [_SHARD_FP.match(str(i)) for i in identities]
    if not found or not all(found) or len({m["base"] for m in found}) != 1:
        return None
    count = {int(m["count"]) for m in found}
    indexes = sorted(int(m["index"]) for m in found)
    return found[0]["base"] if len(count) == 1 and indexes == list(range(1, count.pop() + 1)) else None


def shard_facts(base: str, shard: Shard, by: str) -> dict:
    return {"index": shard.index, "count": shard.count, "of": base, "by": by}


# -- merge -----------------------------------------------------------------------------------------

@dataclass
class Merged:
    frame: "pl.DataFrame"
    manifest: dict
    stats: dict
    stage: str


def merge_shards(files: Sequence[str | Path]) -> Merged:
    """The shards of one run as the unsharded output: rows, stats and manifest (see the module doc)."""
    import polars as pl

    from minekit.io import read_manifest, read_parquet
    from minekit.inputs.schema import validate_candidates

    files = [Path(f) for f in files]
    if not files:
        raise ConfigError("files: no shard file given. Fix: give every shard's output, e.g. bm25.*-of-4.parquet.")
    manifests = [_shard_manifest(f, read_manifest(f)) for f in files]
    _check_one_run(files, manifests)
    _check_complete(files, manifests)
    frames = [read_parquet(f, what="candidates") for f in files]
    for path, frame, manifest in zip(files, frames, manifests):  # rows_out counts kept rows, not marked drops
        kept = frame["drop_reason"].is_null().sum() if "drop_reason" in frame.columns else frame.height
        _check_rows(path, int(kept), manifest)
    nonempty = [validate_candidates(frame, f) for f, frame in zip(files, frames) if frame.height] or frames[:1]
    frame = pl.concat(nonempty, how="vertical").sort("query_id", maintain_order=True).rechunk()
    stats = merge_stats([m["steps"][-1].get("stats", {}) for m in manifests])
    base = manifests[0][SHARD_KEY]["of"]
    manifest = {k: v for k, v in manifests[0].items() if k != SHARD_KEY}
    manifest["fingerprint"] = base
    manifest["steps"] = [*manifests[0]["steps"][:-1], {**manifests[0]["steps"][-1], "stats": stats,
                                                        "fingerprint": base}]
    return Merged(frame, manifest, stats, manifest.get("stage", ""))


def _check_rows(path: Path, rows: int, manifest: dict) -> None:
    """A shard holds the rows its manifest counted: a cut or edited file would merge into a wrong output."""
    counted = (manifest["steps"][-1].get("stats") or {}).get("rows_out")
    if isinstance(counted, int) and counted != rows:
        raise InputError(f"{path}: holds {rows} rows, but its manifest says the shard wrote {counted} (the file was "
                         "cut or edited). Fix: run this shard again, then merge.")


def _shard_manifest(path: Path, manifest: dict | None) -> dict:
    facts = (manifest or {}).get(SHARD_KEY)
    if not isinstance(facts, dict) or not {"index", "count", "of"} <= set(facts) or not manifest.get("steps"):
        raise InputError(f"{path}: is not a shard output (its manifest has no shard facts). Fix: give the files "
                         "written by a stage run with --shard i/n (an unsharded output needs no merge).")
    return manifest


def _check_one_run(files: list[Path], manifests: list[dict]) -> None:
    """Every shard must come from the same stage, params and inputs (the same unsharded fingerprint), and the same n."""
    first, first_m = files[0], manifests[0]
    for path, manifest in zip(files[1:], manifests[1:]):
        if manifest[SHARD_KEY]["count"] != first_m[SHARD_KEY]["count"]:
            raise InputError(f"{path} is shard {_spec(manifest)} but {first} is shard {_spec(first_m)}: shards of one "
                             "run all have the same n. Fix: merge the shards of one run.")
        if manifest[SHARD_KEY]["of"] != first_m[SHARD_KEY]["of"]:
            raise InputError(f"{path} and {first} are shards of different runs ({_difference(first_m, manifest)}). "
                             "Fix: rerun the odd shards with the same command, params and inputs.")


def _check_complete(files: list[Path], manifests: list[dict]) -> None:
    count = manifests[0][SHARD_KEY]["count"]
    seen: dict[int, list[Path]] = {}
    for path, manifest in zip(files, manifests):
        seen.setdefault(manifest[SHARD_KEY]["index"], []).append(path)
    twice = {i: p for i, p in sorted(seen.items()) if len(p) > 1}
    if twice:
        i, paths = next(iter(twice.items()))
        raise InputError(f"shard {i}/{count} is given {len(paths)} times ({', '.join(map(str, paths))}). "
                         "Fix: give each shard's file once.")
    missing = [i for i in range(1, count + 1) if i not in seen]
    if missing:
        shown = ", ".join(f"{i}/{count}" for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise InputError(f"shards missing: {shown} ({len(seen)} of {count} given: "
                         f"{', '.join(str(p) for p in files[:5])}{' ...' if len(files) > 5 else ''}). "
                         f"Fix: run the missing shards with --shard i/{count} and merge all {count} files.")


def _spec(manifest: dict) -> str:
    return f"{manifest[SHARD_KEY]['index']}/{manifest[SHARD_KEY]['count']}"


def _difference(a: dict, b: dict) -> str:
    """What makes two shards' runs differ: stage, params or inputs, named."""
    sa, sb = a["steps"][-1], b["steps"][-1]
    if sa.get("stage") != sb.get("stage"):
        return f"stages {sa.get('stage')} and {sb.get('stage')}"
    pa, pb = sa.get("params", {}), sb.get("params", {})
    params = sorted(k for k in set(pa) | set(pb) if pa.get(k) != pb.get(k))
    if params:
        return "params differ: " + ", ".join(f"{k} {pa.get(k)!r} vs {pb.get(k)!r}" for k in params[:5])
    ia, ib = sa.get("inputs", {}), sb.get("inputs", {})
    inputs = sorted(k for k in set(ia) | set(ib) if (ia.get(k) or {}).get("sha256") != (ib.get(k) or {}).get("sha256"))
    if inputs:
        return "inputs differ: " + ", ".join(inputs)
    return f"fingerprints {a[SHARD_KEY]['of'][:12]} vs {b[SHARD_KEY]['of'][:12]}"


# Stats that are settings, not counts: equal in every shard, taken as they are.
SETTINGS = frozenset({"resolved"})


def merge_stats(parts: Sequence[dict]) -> dict:
    """The counts of the whole run from its shards': numbers add up, nested counts ({reason: n}) too; anything
    else (a scorer's name, a model identity, the resolved settings) is the same in every shard."""
    merged: dict = {}
    for key in sorted({k for p in parts for k in p}):
        values = [p[key] for p in parts if key in p]
        if key in SETTINGS or not all(_count_like(v) for v in values):
            merged[key] = values[0]
        elif all(isinstance(v, dict) for v in values):
            merged[key] = merge_stats(values)
        else:
            merged[key] = sum(values)
    return {k: merged[k] for k in _key_order(parts)}


def _count_like(value) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) or (isinstance(value, dict) and all(_count_like(v) for v in value.values()))


def _key_order(parts: Sequence[dict]) -> list[str]:
    order: list[str] = []
    for part in parts:
        order.extend(k for k in part if k not in order)
    return order
