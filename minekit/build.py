"""Turn candidates into a versioned training dataset: datasets/<name>/v<N>/ (see DESIGN.md).

One row per (query, positive). Candidates from several miners are merged: a (query, document) pair
found by two sources is kept once, at its best rank, with both sources recorded ("bm25+dense").
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from minekit.errors import ConfigError, InputError
from minekit.io import file_sha256, write_json, write_parquet, write_text
from minekit.schema import passage_text

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)

FORMATS = ("triplet", "n-tuple", "labeled-pair")
SAMPLING_STRATEGIES = ("top", "random")
FILLS = ("none", "random")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass
class BuildResult:
    train: "pl.DataFrame"  # texts, columns in trainer order
    ids: "pl.DataFrame"  # ids, scores and sources, row-aligned with train
    stats: dict


def merge_candidates(frames: list["pl.DataFrame"]) -> "pl.DataFrame":
    """One row per (query, doc): the best rank and its score, every source that found it, in name order."""
    import polars as pl

    cands = pl.concat(frames, how="diagonal_relaxed").sort("query_id", "doc_id", "rank", "source")
    aggs = [
        pl.col("rank").first(),
        pl.col("score").first(),
        pl.col("positive_score").first(),
        pl.col("source").unique().sort().str.join("+").alias("sources"),
    ]
    if "ce_score" in cands.columns:
        aggs.append(pl.col("ce_score").drop_nulls().first())
    return cands.group_by("query_id", "doc_id", maintain_order=True).agg(aggs)


def _check_params(num_negatives: int, format: str, sampling_strategy: str, fill: str) -> None:
    if num_negatives < 1:
        raise ConfigError(f"num_negatives: must be at least 1, got {num_negatives}.")
    for name, value, choices in (("format", format, FORMATS), ("sampling_strategy", sampling_strategy,
                                 SAMPLING_STRATEGIES), ("fill", fill, FILLS)):
        if value not in choices:
            raise ConfigError(f"{name}: {value!r} is not one of {', '.join(choices)}.")


def build_dataset(
    candidates: list["pl.DataFrame"],
    queries: "pl.DataFrame",
    positives: "pl.DataFrame",
    corpus: "pl.DataFrame",
    *,
    num_negatives: int = 1,
    format: str = "triplet",
    sampling_strategy: str = "top",
    fill: str = "none",
    seed: int = 0,
) -> BuildResult:
    """Pick num_negatives negatives for every (query, positive) and write them out as texts and ids.

    sampling_strategy "top" takes the best-ranked negatives, "random" samples among all candidates
    of the query (seeded). A row with fewer candidates than num_negatives is dropped and counted
    (fill="none"), or padded with random corpus documents that are not positives (fill="random").
    """
    import polars as pl

    _check_params(num_negatives, format, sampling_strategy, fill)
    rows_in = sum(f.height for f in candidates)
    merged = merge_candidates(candidates)
    is_pos = merged.join(positives.select("query_id", "doc_id"), on=["query_id", "doc_id"], how="semi")
    merged = merged.join(positives.select("query_id", "doc_id"), on=["query_id", "doc_id"], how="anti")
    copies = _copies_of_positives(merged, positives, corpus)
    merged = merged.join(copies, on=["query_id", "doc_id"], how="anti")
    pools = merged.sort("query_id", "rank", "doc_id").group_by("query_id", maintain_order=True).agg(
        pl.col("doc_id").alias("neg_ids"), pl.col("score").alias("neg_scores"), pl.col("sources").alias("neg_sources"),
        pl.col("positive_score").first(),
        *([pl.col("ce_score").alias("neg_ce_scores")] if "ce_score" in merged.columns else []),
    )
    rows = positives.sort("query_id", "doc_id").join(pools, on="query_id", how="left")
    picked = _pick(rows, corpus, positives, num_negatives=num_negatives,
                   sampling_strategy=sampling_strategy, fill=fill, seed=seed)
    ids = pl.DataFrame(picked.rows, schema=picked.schema, orient="row")
    texts = _Texts(queries, corpus)
    if format == "triplet":
        ids = _explode_to_triplets(ids)
        train = pl.DataFrame({"anchor": texts.query(ids["query_id"]), "positive": texts.doc(ids["positive_id"]),
                              "negative": texts.doc(ids["negative_ids"].list.first())})
    elif format == "n-tuple":
        train = pl.DataFrame({"anchor": texts.query(ids["query_id"]), "positive": texts.doc(ids["positive_id"]),
                              **{f"negative_{i + 1}": texts.doc(ids["negative_ids"].list.get(i))
                                 for i in range(num_negatives)}})
    else:
        ids = _labeled_pairs(ids)
        train = pl.DataFrame({"anchor": texts.query(ids["query_id"]), "document": texts.doc(ids["doc_id"]),
                              "label": ids["label"]})
    stats = {
        "rows_in": rows_in,
        "rows_out": train.height,
        "candidates_unique": merged.height,
        "dropped": {k: v for k, v in (("is_positive", is_pos.height), ("same_text_as_positive", copies.height))
                    if v},
        "queries": positives["query_id"].n_unique(),
        "positives": positives.height,
        "queries_without_negatives": rows.filter(pl.col("neg_ids").is_null())["query_id"].n_unique(),
        **picked.counts,
    }
    return BuildResult(train=train, ids=ids, stats=stats)


def _copies_of_positives(merged: "pl.DataFrame", positives: "pl.DataFrame", corpus: "pl.DataFrame") -> "pl.DataFrame":
    """Candidates whose text is exactly a positive's text: a duplicate document, so a false negative."""
    texts = corpus.select("doc_id", passage_text().str.strip_chars().alias("passage"))
    positive_texts = positives.select("query_id", "doc_id").join(texts, on="doc_id").select("query_id", "passage")
    return (merged.select("query_id", "doc_id").join(texts, on="doc_id")
            .join(positive_texts, on=["query_id", "passage"], how="semi").select("query_id", "doc_id")
            .unique(maintain_order=True))


@dataclass
class _Picked:
    rows: list[tuple]
    schema: dict
    counts: dict


def _pick(rows: "pl.DataFrame", corpus: "pl.DataFrame", positives: "pl.DataFrame", *, num_negatives: int,
          sampling_strategy: str, fill: str, seed: int) -> _Picked:
    """Choose the negatives of each (query, positive) row, in the order rows are given (deterministic)."""
    import polars as pl

    rng = np.random.default_rng(seed)
    corpus_ids = corpus["doc_id"].sort().to_list()
    pos_by_query = dict(positives.group_by("query_id").agg("doc_id").iter_rows())
    has_ce = "neg_ce_scores" in rows.columns
    out, counts = [], {"rows_filled": 0, "negatives_filled": 0, "rows_without_enough_negatives": 0,
                       "positives_lost": 0}
    for row in rows.iter_rows(named=True):
        docs = row["neg_ids"] or []
        take = list(range(min(num_negatives, len(docs))))
        if sampling_strategy == "random" and len(docs) > num_negatives:
            take = sorted(rng.choice(len(docs), size=num_negatives, replace=False).tolist())
        neg = [docs[i] for i in take]
        scores = [row["neg_scores"][i] for i in take]
        sources = [row["neg_sources"][i] for i in take]
        ce = [row["neg_ce_scores"][i] for i in take] if has_ce else None
        missing = num_negatives - len(neg)
        if missing and fill == "random":
            extra = _random_fill(rng, corpus_ids, set(pos_by_query[row["query_id"]]) | set(neg), missing)
            if len(extra) == missing:
                neg += extra
                scores += [None] * missing
                sources += ["random"] * missing
                ce = ce + [None] * missing if has_ce else None
                counts["rows_filled"] += 1
                counts["negatives_filled"] += missing
                missing = 0
        if missing:
            counts["rows_without_enough_negatives"] += 1
            counts["positives_lost"] += 1
            continue
        record = (row["query_id"], row["doc_id"], neg, scores, sources, row["positive_score"])
        out.append(record + ((ce,) if has_ce else ()))
    schema = {"query_id": pl.Utf8, "positive_id": pl.Utf8, "negative_ids": pl.List(pl.Utf8),
              "negative_scores": pl.List(pl.Float32), "negative_sources": pl.List(pl.Utf8),
              "positive_score": pl.Float32}
    if has_ce:
        schema["negative_ce_scores"] = pl.List(pl.Float32)
    if counts["positives_lost"]:
        logger.warning("%d (query, positive) rows had fewer than %d negatives and were dropped; "
                       "--fill random pads them instead", counts["positives_lost"], num_negatives)
    return _Picked(out, schema, counts)


def _random_fill(rng: np.random.Generator, corpus_ids: list[str], exclude: set[str], n: int) -> list[str]:
    """n distinct random corpus documents outside `exclude` (fewer if the corpus has not enough)."""
    available = len(corpus_ids) - len(exclude)
    if available < n:
        return []
    chosen: list[str] = []
    while len(chosen) < n:
        doc = corpus_ids[int(rng.integers(len(corpus_ids)))]
        if doc not in exclude:
            exclude.add(doc)
            chosen.append(doc)
    return chosen


def _explode_to_triplets(ids: "pl.DataFrame") -> "pl.DataFrame":
    """One row per negative, each list column holding that single negative (row-aligned with train)."""
    import polars as pl

    lists = [c for c in ids.columns if c.startswith("negative_")]
    return ids.explode(lists).with_columns(pl.concat_list(c).alias(c) for c in lists)


def _labeled_pairs(ids: "pl.DataFrame") -> "pl.DataFrame":
    """(query, document, label) rows: each positive once (label 1), then its query's negatives (label 0)."""
    import polars as pl

    pos = ids.select("query_id", pl.col("positive_id").alias("doc_id"), pl.lit(1, pl.Int8).alias("label"),
                     pl.lit(None, pl.Float32).alias("score"), pl.lit("positive").alias("source"),
                     pl.int_range(pl.len()).alias("order"))
    neg = ids.select("query_id", pl.col("negative_ids").alias("doc_id"), pl.lit(0, pl.Int8).alias("label"),
                     pl.col("negative_scores").alias("score"), pl.col("negative_sources").alias("source"),
                     pl.int_range(pl.len()).alias("order")).explode("doc_id", "score", "source")
    both = pl.concat([pos, neg]).with_row_index("seq")
    return (both.sort("order", "label", "seq", descending=[False, True, False])
            .unique(["query_id", "doc_id"], keep="first", maintain_order=True).drop("order", "seq"))


class _Texts:
    def __init__(self, queries: "pl.DataFrame", corpus: "pl.DataFrame") -> None:
        self._q = (queries["query_id"], queries["text"])
        self._d = (corpus["doc_id"], corpus.select(passage_text()).to_series())

    def query(self, ids: "pl.Series") -> "pl.Series":
        return ids.replace_strict(*self._q)

    def doc(self, ids: "pl.Series") -> "pl.Series":
        return ids.replace_strict(*self._d)


# -- versions on disk ---------------------------------------------------------------------------

def dataset_root(out_dir: str | Path, name: str) -> Path:
    """datasets/<name>, refusing names that could leave out_dir."""
    if not _NAME.match(name) or ".." in name:
        raise ConfigError(
            f"name: {name!r} is not a valid dataset name; use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit), without '..' or '/'."
        )
    out = Path(out_dir).resolve()
    root = (out / name).resolve()
    if root.parent != out:
        raise ConfigError(f"name: {name!r} would leave the output folder {out}.")
    return root


def _versions(root: Path) -> list[tuple[int, Path]]:
    if not root.is_dir():
        return []
    found = [(int(p.name[1:]), p) for p in root.iterdir() if p.is_dir() and re.fullmatch(r"v\d+", p.name)]
    return sorted(found)


def find_version(out_dir: str | Path, name: str, fingerprint: str) -> Path | None:
    """The existing version built from the same inputs and params, if any."""
    from minekit.io import read_manifest_json

    for _, path in _versions(dataset_root(out_dir, name)):
        manifest = path / "manifest.json"
        if manifest.is_file() and read_manifest_json(manifest).get("fingerprint") == fingerprint:
            return path
    return None


@contextmanager
def _locked(root: Path):
    """One build at a time per dataset name, so two identical builds cannot both make a version."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: the rename below still never overwrites a version
        yield
        return
    fd = os.open(root, os.O_RDONLY)  # lock the folder itself: no lock file is left behind
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_dataset(result: BuildResult, *, out_dir: str | Path, name: str, manifest: dict) -> Path:
    """Write a new version v<N+1> next to the existing ones; never touches an existing version.

    Files go to a hidden temp folder first, which is renamed into place only once complete. A version
    with the same fingerprint (an identical build that finished meanwhile) is returned instead. An
    empty result is an error saying why: a 0-row dataset trains nothing.
    """
    from minekit.guards import remove_stale_temps, respect_umask

    if result.train.height == 0:
        raise InputError(_why_empty(result.stats, manifest))
    root = dataset_root(out_dir, name)
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(root, ".tmp-")
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-p{os.getpid()}-", dir=root))
    respect_umask(tmp, folder=True)
    try:
        write_parquet(result.train, tmp / "train.parquet", manifest)
        write_parquet(result.ids, tmp / "ids.parquet", manifest)
        with _locked(root):
            same = find_version(out_dir, name, manifest["fingerprint"]) if manifest.get("fingerprint") else None
            if same is not None:
                logger.info("an identical build finished meanwhile: %s", same)
                return same
            return _rename_in(tmp, root, result, manifest, name)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _why_empty(stats: dict, manifest: dict) -> str:
    """Why a build kept no row, and what to change."""
    params = (manifest.get("steps") or [{}])[-1].get("params", {})
    n, fill = params.get("num_negatives"), params.get("fill")
    positives, without = stats.get("positives", 0), stats.get("queries_without_negatives", 0)
    if without and without == stats.get("queries"):
        why = (f"none of the {stats.get('queries')} queries in --positives has a candidate (were the candidates "
               "mined from another positives file, or filtered down to nothing?)")
        fix = "mine with the same --positives, loosen the filter, or give --fill random"
    else:
        why = (f"all {positives} (query, positive) rows have fewer than --num-negatives {n} usable candidates "
               f"({stats.get('rows_without_enough_negatives', 0)} rows)")
        fix = "lower --num-negatives or mine more candidates (--top-k)"
    if fill == "random":
        why += f"; --fill random could not pad them either: the corpus has fewer than {n} documents outside " \
               "each query's positives and candidates"
        fix = "lower --num-negatives, or use a larger --corpus"
    elif "--fill random" not in fix:
        fix += ", or pad rows with --fill random"
    return f"build: nothing to write: {why}. No version was made. Fix: {fix}."


def _rename_in(tmp: Path, root: Path, result: BuildResult, manifest: dict, name: str) -> Path:
    """Give the complete temp folder the next free version number."""
    while True:
        version = (_versions(root)[-1][0] if _versions(root) else 0) + 1
        full = {**manifest, "name": name, "version": version,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "files": {f: {"rows": getattr(result, f.split(".")[0]).height,
                              "sha256": file_sha256(tmp / f)} for f in ("train.parquet", "ids.parquet")},
                "columns": result.train.columns}
        write_json(tmp / "manifest.json", full)
        write_text(tmp / "README.md", dataset_card(full, result))
        try:
            os.rename(tmp, root / f"v{version}")  # fails if another run took this number meanwhile
            return root / f"v{version}"
        except OSError:
            if not (root / f"v{version}").exists():
                raise


def dataset_card(manifest: dict, result: BuildResult) -> str:
    """A README a person can read: what is in the dataset, how it was made, how to load it."""
    params = manifest["steps"][-1]["params"]
    steps = "\n".join(
        f"{i + 1}. `{s['stage']}` " + ", ".join(f"{k}={v}" for k, v in s["params"].items())
        for i, s in enumerate(manifest["steps"])
    )
    inputs = "\n".join(f"- {k}: `{v['path']}` (sha256 {v['sha256'][:12]}…)"
                       for k, v in manifest["steps"][-1]["inputs"].items())
    stats = "\n".join(f"- {k}: {v}" for k, v in result.stats.items())
    return f"""# {manifest['name']} v{manifest['version']}

A {params['format']} dataset for training retrieval models with hard negatives, built by minekit
{manifest['minekit_version']} on {manifest['created']}.

- `train.parquet`: {result.train.height} rows, columns {', '.join(f'`{c}`' for c in result.train.columns)} (texts, in trainer order)
- `ids.parquet`: the ids, scores and sources of the same rows, row by row
- `manifest.json`: inputs, every step's params, counts, fingerprint `{manifest['fingerprint'][:16]}`

## How it was made
{steps}

Inputs:
{inputs}

## Counts
{stats}

## Load it
```python
from datasets import load_dataset
train = load_dataset("parquet", data_files="train.parquet", split="train")
```
The texts come from the inputs above: this dataset carries their licence.
"""
