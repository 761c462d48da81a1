"""Export a built dataset in the layouts other trainers read: FlagEmbedding, Tevatron, Hugging Face, JSONL.

All layouts but `hf` hold one record per (query, positive) row of the dataset (one per query for a
labeled-pair dataset), with that row's negatives in the order the dataset has them. Every record keeps
the dataset's ids, so importing an export gives back the same (query, positive, negatives) rows:

- flagembedding: {"query", "pos", "neg"[, "pos_scores", "neg_scores"][, "prompt"], "query_id", "pos_ids",
  "neg_ids"} (FlagEmbedding's fine-tuning JSONL; it reads the fields it knows and ignores the ids).
  pos_scores/neg_scores are distillation targets, so by default (scores="teacher") they are the denoise
  teacher's scores as it scored them, and are left out when the dataset has no teacher; scores="miner"
  writes the one miner's raw scores when asked; scores="none" leaves them out. A negative added by
  --fill random has no score: then none are written. The manifest says which, and why.
- tevatron: {"query_id", "query", "positive_passages", "negative_passages"}, passages as
  {"docid", "title", "text"} with the corpus's own title and text. One record per (query, positive), not per
  query: the negatives were chosen for that positive (a margin may rule a passage out for one positive and
  not another), and Tevatron's loader trains one positive of a record per epoch.
- hf: train.parquet as a `datasets` folder (save_to_disk): columns in trainer order, nothing else, so
  sentence-transformers' trainer takes it as it is; ids.parquet (row-aligned) beside it in the folder.
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

from minekit.dataset.store import read_dataset
from minekit.errors import ConfigError, InputError
from minekit.guards import check_replaceable, finish_switches, is_export
from minekit.io import atomic_folder, atomic_paths, write_json

if TYPE_CHECKING:
    import polars as pl

    from minekit.dataset.store import Dataset

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("flagembedding", "tevatron", "hf", "jsonl")
SCORE_CHOICES = ("teacher", "miner", "none")


@dataclass
class ExportResult:
    path: Path
    manifest_path: Path
    stats: dict


@dataclass(frozen=True)
class ScorePick:
    """Which ids.parquet columns give a record's scores (None: no scores), and what to tell the user."""

    positive: str | None
    negatives: str | None
    note: str


def pick_scores(ids: "pl.DataFrame", scores: str, score_columns: dict | None = None) -> ScorePick:
    """The scores an export may write: the denoise teacher's (scores="teacher"), the one miner's when
    asked (scores="miner"), or none. Raw miner scores are never a teacher by default: softmaxed they
    give near-uniform targets (cosines) or put a positive below its negatives (BM25 scores a positive
    with no shared term 0)."""
    if scores not in SCORE_CHOICES:
        raise ConfigError(f"--scores: {scores!r} is not one of {', '.join(SCORE_CHOICES)}.", param="scores")
    labeled = "doc_id" in ids.columns and "positive_id" not in ids.columns
    teacher = ("ce_score", "ce_score") if labeled else ("positive_ce_score", "negative_ce_scores")
    prefix = "score_" if labeled else "negative_scores_"
    miners = [c.removeprefix(prefix) for c in ids.columns if c.startswith(prefix)]
    kinds = score_columns or {}
    if scores == "none":
        return ScorePick(None, None, "left out: --scores none")
    if scores == "teacher":
        if teacher[1] in ids.columns:
            kind = kinds.get("negative_ce_scores", "the denoise teacher")
            return ScorePick(*teacher, f"the denoise teacher's scores as it scored them: {kind}")
        return ScorePick(None, None, "left out: the dataset has no denoise teacher (run `minekit denoise` before "
                         "`build`), and raw miner scores make poor distillation targets; --scores miner writes "
                         "them anyway")
    if len(miners) != 1:
        found = ", ".join(miners) or "none"
        raise ConfigError(f"--scores miner: needs exactly one miner's scores, the dataset has {found}; scores of "
                          "different miners are of different kinds. Use --scores teacher after `minekit denoise`, "
                          "or --scores none.", param="scores")
    pos = f"score_{miners[0]}" if labeled else f"positive_score_{miners[0]}"
    kind = kinds.get(f"negative_scores_{miners[0]}", miners[0])
    return ScorePick(pos, f"{prefix}{miners[0]}", f"the miner's raw scores, asked for with --scores miner: {kind}")


def dataset_records(train: "pl.DataFrame", ids: "pl.DataFrame", pick: ScorePick) -> "pl.DataFrame":
    """The dataset as records: query_id, query, positive_ids, positives, positive_scores, negative_ids,
    negatives, negative_scores, negative_sources (lists), one per (query, positive); per query for labeled pairs.

    Scores are those of `pick` (pick_scores): one scorer's, never a mix of kinds; nulls when none.
    """
    import polars as pl

    if train.height != ids.height:
        raise InputError(f"ids.parquet has {ids.height} rows but train.parquet {train.height}; rebuild the dataset.")
    if {"document", "label"} <= set(train.columns):
        return _labeled_pair_records(train, ids, pick)
    if train.columns[:2] != ["anchor", "positive"]:
        raise InputError(f"train.parquet: columns must start with anchor, positive; got {', '.join(train.columns)}.")
    neg_cols = [c for c in train.columns[2:] if c == "negative" or c.startswith("negative_")]
    n_neg = pl.col("negative_ids").list.len()
    none = pl.lit(None, pl.Float32)
    rows = pl.concat([
        ids.select("query_id", "positive_id", "negative_ids",
                   (pl.col(pick.positive).cast(pl.Float32) if pick.positive else none).alias("positive_score"),
                   (pl.col(pick.negatives).cast(pl.List(pl.Float32)) if pick.negatives
                    else none.repeat_by(n_neg)).alias("negative_scores"),
                   (pl.col("negative_sources") if "negative_sources" in ids.columns
                    else pl.lit(None, pl.Utf8).repeat_by(n_neg)).alias("negative_sources")),
        train.select(pl.col("anchor").alias("query"), "positive", pl.concat_list(neg_cols).alias("negatives")),
    ], how="horizontal")

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


def _labeled_pair_records(train: "pl.DataFrame", ids: "pl.DataFrame", pick: ScorePick) -> "pl.DataFrame":
    import polars as pl

    score = (pl.col(pick.positive) if pick.positive else pl.lit(None)).cast(pl.Float32)
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


def flagembedding_lines(records: "pl.DataFrame", pick: ScorePick, *,
                        prompt: str | None = None) -> tuple[list[str], dict]:
    """FlagEmbedding fine-tuning JSONL lines, and whether scores went in and why."""
    import polars as pl

    missing = pick.negatives is not None and any(
        records[c].list.eval(pl.element().is_null()).list.any().any() for c in ("positive_scores", "negative_scores"))
    scored = pick.negatives is not None and not missing
    note = pick.note if not missing else ("left out: some positives or negatives have no score (a --fill random "
                                          "negative, or a positive the scorer did not score)")
    lines = []
    for r in records.iter_rows(named=True):
        line = {"query": r["query"], "pos": r["positives"], "neg": r["negatives"]}
        if scored:
            line["pos_scores"], line["neg_scores"] = r["positive_scores"], r["negative_scores"]
        if prompt is not None:
            line["prompt"] = prompt
        line.update(query_id=r["query_id"], pos_ids=r["positive_ids"], neg_ids=r["negative_ids"])
        lines.append(json.dumps(line, ensure_ascii=False))
    if not scored:
        logger.warning("pos_scores/neg_scores %s", note)
    return lines, {"scores_written": bool(scored), "scores": note}


def tevatron_lines(records: "pl.DataFrame", passages: dict[str, tuple[str, str]] | None) -> tuple[list[str], dict]:
    """Tevatron training JSONL lines: query_id, query, positive_passages, negative_passages.

    `passages` gives each doc_id's (title, text) from the corpus; without it the title is empty and the
    text is the passage as minekit's models saw it ("title text")."""
    def items(ids, texts):
        return [dict(zip(("docid", "title", "text"), (d, *passages[d]))) if passages and d in passages
                else {"docid": d, "title": "", "text": t} for d, t in zip(ids, texts)]

    lines = [json.dumps({"query_id": r["query_id"], "query": r["query"],
                         "positive_passages": items(r["positive_ids"], r["positives"]),
                         "negative_passages": items(r["negative_ids"], r["negatives"])}, ensure_ascii=False)
             for r in records.iter_rows(named=True)]
    return lines, {"titles": "from the corpus" if passages else "empty: the build's corpus was not found"}


def corpus_passages(data: "Dataset") -> dict[str, tuple[str, str]] | None:
    """{doc_id: (title, text)} from the corpus the dataset was built from, when that file is still there
    unchanged (its sha256 in the manifest); None otherwise."""
    from minekit.io import file_sha256, read_parquet

    steps = [s for s in data.manifest.get("steps", []) if s.get("stage") == "build"]
    corpus = steps[-1].get("inputs", {}).get("corpus", {}) if steps else {}
    path = Path(corpus.get("path", ""))
    if not corpus.get("path") or not path.is_file() or file_sha256(path) != corpus.get("sha256"):
        logger.warning("tevatron: the build's corpus %s is not there unchanged; titles are left empty and each "
                       "text is the passage as the models saw it", corpus.get("path"))
        return None
    frame = read_parquet(path, what="corpus")
    titles = frame["title"] if "title" in frame.columns else [""] * frame.height
    return {d: (t or "", x) for d, t, x in zip(frame["doc_id"].cast(str), titles, frame["text"])}


def jsonl_lines(train: "pl.DataFrame", ids: "pl.DataFrame") -> list[str]:
    """One line per train row: its texts, then the row-aligned ids columns (no name is in both)."""
    import polars as pl

    both = pl.concat([train, ids.select([c for c in ids.columns if c not in train.columns])], how="horizontal")
    return [json.dumps(row, ensure_ascii=False) for row in both.iter_rows(named=True)]


def export_dataset(dataset: str | Path, out: str | Path, *, to: str, prompt: str | None = None,
                   scores: str = "teacher", overwrite: bool = False) -> ExportResult:
    """Write the dataset folder `dataset` (datasets/NAME/vN) to `out` in the layout `to`, with its manifest beside."""
    from minekit.manifest import make_manifest

    if to not in EXPORT_FORMATS:
        raise ConfigError(f"--to: {to!r} is not one of {', '.join(EXPORT_FORMATS)}.")
    if prompt is not None and to != "flagembedding":
        raise ConfigError(f"--prompt: only the flagembedding layout carries a prompt, not {to}.")
    if scores != "teacher" and to != "flagembedding":
        raise ConfigError(f"--scores: only the flagembedding layout carries scores, not {to}.", param="scores")
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
    lines, stats = _lines(data, to, prompt, scores)
    params = {"to": to, "prompt": prompt, **({"scores": scores} if to == "flagembedding" else {})}
    inputs = {"dataset": {"path": str(dataset), "fingerprint": data.manifest.get("fingerprint")}}
    manifest = make_manifest("export", params, inputs, stats, data.manifest.get("steps", []))
    manifest.update({k: data.manifest[k] for k in ("name", "version", "score_columns") if k in data.manifest})
    if to == "hf":
        _write_hf(data.train, data.ids, out, manifest)
    else:
        _write_lines(out, lines, manifest_path, manifest)
    return ExportResult(out, manifest_path, stats)


def _lines(data: "Dataset", to: str, prompt: str | None, scores: str) -> tuple[list[str], dict]:
    stats: dict = {"rows": data.train.height}
    if to == "hf":
        return [], stats
    if to == "jsonl":
        return jsonl_lines(data.train, data.ids), stats
    pick = pick_scores(data.ids, scores if to == "flagembedding" else "none", data.manifest.get("score_columns"))
    records = dataset_records(data.train, data.ids, pick)
    lines, extra = (flagembedding_lines(records, pick, prompt=prompt) if to == "flagembedding"
                    else tevatron_lines(records, corpus_passages(data)))
    return lines, {**stats, "records": len(lines), **extra}


def _write_lines(out: Path, lines: list[str], manifest_path: Path, manifest: dict) -> None:
    """The JSONL file and its manifest, switched into place together (never one without the other)."""
    if out.is_dir():
        raise ConfigError(f"--out: {out} is a folder; give a file name such as {out / 'train.jsonl'}.")
    with atomic_paths(manifest_path, out) as (tmp_manifest, tmp):
        with open(tmp, "w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line + "\n")
        tmp_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write_hf(train: "pl.DataFrame", ids: "pl.DataFrame", out: Path, manifest: dict) -> None:
    """save_to_disk into a hidden temp folder beside `out`, which takes the place of `out` once complete."""
    import datasets
    from datasets.table import InMemoryTable

    from minekit.io import write_parquet

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {out} is a file; the hf layout is a folder.")
    with atomic_folder(out, replace=True) as tmp:  # --overwrite: the old export stays until the new one is in
        datasets.Dataset(InMemoryTable(train.to_arrow())).save_to_disk(str(tmp))
        write_parquet(ids, tmp / "ids.parquet", manifest)  # load_from_disk reads only its own files
        write_json(tmp / "manifest.json", manifest)
