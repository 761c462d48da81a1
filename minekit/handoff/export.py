"""Export a built dataset in the layouts other trainers read: FlagEmbedding, Tevatron, Hugging Face, JSONL.

All layouts but `hf` hold one record per (query, positive) row of the dataset (one per query for a
labeled-pair dataset), with that row's negatives in the order the dataset has them:

- flagembedding: {"query", "pos", "neg", "pos_scores", "neg_scores"[, "prompt"]} (FlagEmbedding's
  fine-tuning JSONL). Scores are written only when every positive and negative has one (a negative
  added by --fill random has none): a trainer reads them for distillation, where a missing score breaks.
- tevatron: {"query_id", "query", "positive_passages", "negative_passages"}, passages as
  {"docid", "title", "text"}; the text is the passage as minekit's models saw it ("title text").
- hf: train.parquet as a `datasets` folder (save_to_disk): columns in trainer order, nothing else, so
  sentence-transformers' trainer takes it as it is.
- jsonl: one line per row of train.parquet with the row-aligned ids.parquet columns beside the texts.

Every export is written atomically (temp file or folder, then rename) with the dataset's manifest,
plus an `export` step, beside it (FILE.manifest.json, or manifest.json inside the hf folder).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from minekit.dataset.store import read_dataset, teacher_scores
from minekit.errors import ConfigError, InputError
from minekit.guards import check_replaceable, finish_switches, is_export
from minekit.io import atomic_folder, atomic_paths, write_json

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("flagembedding", "tevatron", "hf", "jsonl")


@dataclass
class ExportResult:
    path: Path
    manifest_path: Path
    stats: dict


def dataset_records(train: "pl.DataFrame", ids: "pl.DataFrame") -> "pl.DataFrame":
    """The dataset as records: query_id, query, positive_ids, positives, positive_scores, negative_ids,
    negatives, negative_scores, negative_sources (lists), one per (query, positive); per query for labeled pairs.

    Scores are one scorer's (store.teacher_scores: denoise's teacher, else the only miner); with several
    miners and no teacher they are nulls, never a mix of kinds.
    """
    import polars as pl

    if "negative_scores" not in ids.columns:
        ids = teacher_scores(ids)[0]
    if train.height != ids.height:
        raise InputError(f"ids.parquet has {ids.height} rows but train.parquet {train.height}; rebuild the dataset.")
    if {"document", "label"} <= set(train.columns):
        return _labeled_pair_records(train, ids)
    if train.columns[:2] != ["anchor", "positive"]:
        raise InputError(f"train.parquet: columns must start with anchor, positive; got {', '.join(train.columns)}.")
    neg_cols = [c for c in train.columns[2:] if c == "negative" or c.startswith("negative_")]
    empty_str = pl.lit([], dtype=pl.List(pl.Utf8))
    negatives = pl.concat_list(neg_cols) if neg_cols else empty_str
    neg_ids = pl.col("negative_ids") if "negative_ids" in ids.columns else empty_str
    n_neg = pl.col("negatives").list.len()
    neg_scores = (pl.col("negative_scores").cast(pl.List(pl.Float32)) if numeric_column(ids, "negative_scores")
                  else pl.lit(None, pl.Float32).repeat_by(n_neg))
    neg_sources = (pl.col("negative_sources") if "negative_sources" in ids.columns
                   else pl.lit(None, pl.Utf8).repeat_by(n_neg))
    pos_score = (pl.col("positive_score").cast(pl.Float32) if numeric_column(ids, "positive_score")
                 else pl.lit(None, pl.Float32))
    rows = pl.concat([ids.select("query_id", "positive_id"),
                      train.select(pl.col("anchor").alias("query"), pl.col("positive"),
                                   negatives.alias("negatives"))], how="horizontal")
    rows = rows.with_columns(ids.select(neg_ids.alias("negative_ids")).to_series(),
                             ids.select(pos_score.alias("positive_score")).to_series())
    rows = rows.with_columns(ids.with_columns(negatives=rows["negatives"]).select(
        neg_scores.alias("negative_scores"), neg_sources.alias("negative_sources")))
    # A triplet dataset has one row per negative: its (query, positive) rows become one record again.
    def flat(column: str) -> "pl.Expr":
        return pl.col(column).list.explode(keep_nulls=False, empty_as_null=False)

    return (rows.group_by("query_id", "positive_id", maintain_order=True)
            .agg(pl.col("query").first(), pl.col("positive").first(), pl.col("positive_score").first(),
                 flat("negative_ids"), flat("negatives"), flat("negative_scores"), flat("negative_sources"))
            .select("query_id", "query", pl.concat_list("positive_id").alias("positive_ids"),
                    pl.concat_list("positive").alias("positives"),
                    pl.concat_list("positive_score").alias("positive_scores"),
                    "negative_ids", "negatives", "negative_scores", "negative_sources"))


def numeric_column(frame: "pl.DataFrame", column: str) -> bool:
    """A score column present and numeric (or a list of numbers); other score layouts are left out, not guessed."""
    if column not in frame.columns:
        return False
    dtype = frame.schema[column]
    inner = getattr(dtype, "inner", None)
    return (inner or dtype).is_numeric()


def _labeled_pair_records(train: "pl.DataFrame", ids: "pl.DataFrame") -> "pl.DataFrame":
    import polars as pl

    one = ["ce_score"] if "ce_score" in ids.columns else [c for c in ids.columns if c.startswith("score_")]
    score = (pl.col("score") if "score" in ids.columns else pl.col(one[0]) if len(one) == 1
             else pl.lit(None)).cast(pl.Float32)  # one scorer's scores, or none: kinds are never mixed
    source = pl.col("source") if "source" in ids.columns else pl.lit(None, pl.Utf8)
    rows = pl.concat([ids.select("query_id", "doc_id", score.alias("score"), source.alias("source")),
                      train.select(pl.col("anchor").alias("query"), "document", "label")], how="horizontal")
    pos, neg = pl.col("label") == 1, pl.col("label") == 0
    return rows.group_by("query_id", maintain_order=True).agg(
        pl.col("query").first(),
        pl.col("doc_id").filter(pos).alias("positive_ids"), pl.col("document").filter(pos).alias("positives"),
        pl.col("score").filter(pos).alias("positive_scores"),
        pl.col("doc_id").filter(neg).alias("negative_ids"), pl.col("document").filter(neg).alias("negatives"),
        pl.col("score").filter(neg).alias("negative_scores"), pl.col("source").filter(neg).alias("negative_sources"),
    )


def flagembedding_lines(records: "pl.DataFrame", *, prompt: str | None = None) -> tuple[list[str], dict]:
    """FlagEmbedding fine-tuning JSONL lines, and whether scores went in."""
    import polars as pl

    scored = not any(records[c].list.eval(pl.element().is_null()).list.any().any()
                     for c in ("positive_scores", "negative_scores"))
    lines = []
    for r in records.iter_rows(named=True):
        line = {"query": r["query"], "pos": r["positives"], "neg": r["negatives"]}
        if scored:
            line["pos_scores"], line["neg_scores"] = r["positive_scores"], r["negative_scores"]
        if prompt is not None:
            line["prompt"] = prompt
        lines.append(json.dumps(line, ensure_ascii=False))
    if not scored:
        logger.warning("pos_scores/neg_scores left out: some positives or negatives have no score "
                       "(a --fill random negative, or a positive without a score)")
    return lines, {"scores_written": bool(scored)}


def tevatron_lines(records: "pl.DataFrame") -> tuple[list[str], dict]:
    """Tevatron training JSONL lines: query_id, query, positive_passages, negative_passages."""
    def passages(ids, texts):
        return [{"docid": d, "title": "", "text": t} for d, t in zip(ids, texts)]

    lines = [json.dumps({"query_id": r["query_id"], "query": r["query"],
                         "positive_passages": passages(r["positive_ids"], r["positives"]),
                         "negative_passages": passages(r["negative_ids"], r["negatives"])}, ensure_ascii=False)
             for r in records.iter_rows(named=True)]
    return lines, {}


def jsonl_lines(train: "pl.DataFrame", ids: "pl.DataFrame") -> list[str]:
    """One line per train row: its texts, then the row-aligned ids columns (no name is in both)."""
    import polars as pl

    both = pl.concat([train, ids.select([c for c in ids.columns if c not in train.columns])], how="horizontal")
    return [json.dumps(row, ensure_ascii=False) for row in both.iter_rows(named=True)]


def export_dataset(dataset: str | Path, out: str | Path, *, to: str, prompt: str | None = None,
                   overwrite: bool = False) -> ExportResult:
    """Write the dataset folder `dataset` (datasets/NAME/vN) to `out` in the layout `to`, with its manifest beside."""
    from minekit.manifest import make_manifest

    if to not in EXPORT_FORMATS:
        raise ConfigError(f"--to: {to!r} is not one of {', '.join(EXPORT_FORMATS)}.")
    if prompt is not None and to != "flagembedding":
        raise ConfigError(f"--prompt: only the flagembedding layout carries a prompt, not {to}.")
    out = Path(out)
    manifest_path = out / "manifest.json" if to == "hf" else out.with_name(out.name + ".manifest.json")
    finish_switches(out.parent)  # an export a killed run was switching in: its new state
    if overwrite:
        check_replaceable(out, "--out", own=is_export, what="`minekit export`", inputs=[dataset])
    else:
        for path in (out, manifest_path):
            if path.exists():
                raise ConfigError(f"--out: {path} already exists; choose another path or pass --overwrite.")
    data = read_dataset(dataset)
    if data.ids is None:
        raise InputError(f"{dataset}: has no ids.parquet, which an export needs (rebuild with `minekit build`).")
    lines: list[str] = []
    stats: dict = {"rows": data.train.height}
    if to == "jsonl":
        lines = jsonl_lines(data.train, data.ids)
    elif to != "hf":
        records = dataset_records(data.train, data.ids)
        lines, extra = (flagembedding_lines(records, prompt=prompt) if to == "flagembedding"
                        else tevatron_lines(records))
        stats.update(records=len(lines), **extra)
    params = {"to": to, "prompt": prompt}
    inputs = {"dataset": {"path": str(dataset), "fingerprint": data.manifest.get("fingerprint")}}
    manifest = make_manifest("export", params, inputs, stats, data.manifest.get("steps", []))
    manifest.update({k: data.manifest[k] for k in ("name", "version") if k in data.manifest})
    if to == "hf":
        _write_hf(data.train, out, manifest)
    else:
        _write_lines(out, lines, manifest_path, manifest)
    return ExportResult(out, manifest_path, stats)


def _write_lines(out: Path, lines: list[str], manifest_path: Path, manifest: dict) -> None:
    """The JSONL file and its manifest, switched into place together (never one without the other)."""
    if out.is_dir():
        raise ConfigError(f"--out: {out} is a folder; give a file name such as {out / 'train.jsonl'}.")
    with atomic_paths(manifest_path, out) as (tmp_manifest, tmp):
        with open(tmp, "w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line + "\n")
        tmp_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write_hf(train: "pl.DataFrame", out: Path, manifest: dict) -> None:
    """save_to_disk into a hidden temp folder beside `out`, which takes the place of `out` once complete."""
    import datasets
    from datasets.table import InMemoryTable

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {out} is a file; the hf layout is a folder.")
    with atomic_folder(out, replace=True) as tmp:  # --overwrite: the old export stays until the new one is in
        datasets.Dataset(InMemoryTable(train.to_arrow())).save_to_disk(str(tmp))
        write_json(tmp / "manifest.json", manifest)
