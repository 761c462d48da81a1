"""Importers: common layouts in, minekit's queries / positives / corpus parquet files out."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from minekit.errors import InputError

if TYPE_CHECKING:
    import polars as pl


@dataclass
class Imported:
    queries: "pl.DataFrame"
    positives: "pl.DataFrame"
    corpus: "pl.DataFrame"
    stats: dict


def _read_jsonl(path: Path, required: list[str], optional: tuple[str, ...] = ()) -> "pl.DataFrame":
    import polars as pl

    if not path.is_file():
        raise InputError(f"{path}: file not found.")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: line {number} is not valid JSON ({exc.msg}).") from exc
            missing = [k for k in required if k not in record]
            if missing:
                raise InputError(f"{path}: line {number} lacks field(s) {', '.join(missing)}.")
            rows.append({k: record.get(k) for k in (*required, *optional)})
    if not rows:
        raise InputError(f"{path}: no records.")
    return pl.DataFrame(rows, schema={k: pl.Utf8 for k in (*required, *optional)}, strict=False)


def import_beir(folder: str | Path, *, split: str = "test") -> Imported:
    """A BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv); only the split's queries are kept."""
    import polars as pl

    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        found = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        raise InputError(f"{qrels_path}: not found; splits in this folder: {', '.join(found) or 'none'}.")
    corpus = _read_jsonl(folder / "corpus.jsonl", ["_id", "text"], optional=("title",))
    corpus = corpus.select(pl.col("_id").alias("doc_id"), pl.col("title").fill_null(""), "text")
    queries = _read_jsonl(folder / "queries.jsonl", ["_id", "text"]).rename({"_id": "query_id"})
    qrels = pl.read_csv(qrels_path, separator="\t", schema_overrides={"query-id": pl.Utf8, "corpus-id": pl.Utf8})
    if not {"query-id", "corpus-id"} <= set(qrels.columns):
        raise InputError(f"{qrels_path}: needs a header with query-id, corpus-id[, score]; found {qrels.columns}.")
    positives = qrels.rename({"query-id": "query_id", "corpus-id": "doc_id"})
    if "score" not in positives.columns:
        positives = positives.with_columns(pl.lit(1).alias("score"))
    positives = positives.select("query_id", "doc_id", pl.col("score").cast(pl.Int64))
    kept = queries.filter(pl.col("query_id").is_in(positives["query_id"].implode()))
    stats = {"queries": kept.height, "queries_not_in_split": queries.height - kept.height,
             "documents": corpus.height, "qrels": positives.height,
             "positives": int((positives["score"] > 0).sum())}
    return Imported(kept, positives, corpus, stats)


def _content_id(prefix: str, text: str) -> str:
    return f"{prefix}{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def import_pairs(file: str | Path, *, anchor_column: str = "anchor", positive_column: str = "positive") -> Imported:
    """(anchor, positive) text pairs from parquet or JSONL; stable content-hash ids, repeated texts merged."""
    import polars as pl

    file = Path(file)
    if file.suffix in (".jsonl", ".json"):
        pairs = _read_jsonl(file, [anchor_column, positive_column])
    else:
        from minekit.io import read_parquet

        pairs = read_parquet(file, what="pairs")
        missing = [c for c in (anchor_column, positive_column) if c not in pairs.columns]
        if missing:
            raise InputError(f"{file}: missing column(s) {', '.join(missing)} (found: {', '.join(pairs.columns)}); "
                             "name them with --anchor-column / --positive-column.")
    pairs = pairs.select(pl.col(anchor_column).alias("anchor"), pl.col(positive_column).alias("positive"))
    empty = pairs.filter(pl.any_horizontal(pl.col("anchor", "positive").is_null()
                                           | (pl.col("anchor", "positive").str.strip_chars() == "")))
    if empty.height:
        raise InputError(f"{file}: {empty.height} pair(s) have an empty {anchor_column} or {positive_column}, "
                         f"e.g. {empty.head(3).rows()}. Fix: drop them.")
    pairs = pairs.with_columns(
        pl.col("anchor").map_elements(lambda t: _content_id("q", t), return_dtype=pl.Utf8).alias("query_id"),
        pl.col("positive").map_elements(lambda t: _content_id("d", t), return_dtype=pl.Utf8).alias("doc_id"),
    )
    queries = pairs.select("query_id", pl.col("anchor").alias("text")).unique("query_id").sort("query_id")
    corpus = pairs.select("doc_id", pl.lit("").alias("title"), pl.col("positive").alias("text")) \
        .unique("doc_id").sort("doc_id")
    positives = pairs.select("query_id", "doc_id", pl.lit(1, pl.Int64).alias("score")) \
        .unique(["query_id", "doc_id"]).sort("query_id", "doc_id")
    stats = {"pairs": pairs.height, "queries": queries.height, "documents": corpus.height,
             "positives": positives.height, "duplicate_pairs_merged": pairs.height - positives.height}
    return Imported(queries, positives, corpus, stats)


def write_inputs(result: Imported, out: str | Path, *, stage: str, params: dict, source: str | Path) -> Path:
    """queries.parquet, positives.parquet, corpus.parquet in `out`, each with its manifest."""
    from minekit.io import write_parquet
    from minekit.manifest import make_manifest

    out = Path(out)
    source = Path(source)
    inputs = {"source": {"path": str(source)}}
    manifest = make_manifest(stage, params, inputs, result.stats)
    for name in ("queries", "positives", "corpus"):
        write_parquet(getattr(result, name), out / f"{name}.parquet", manifest)
    return out
