"""What the report reads: the dataset (or the run folder naming it), metrics files, the picked negatives,
and the candidate files they came from (the lineage), when those are still on disk unchanged."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from minekit.errors import InputError

if TYPE_CHECKING:
    import polars as pl

CANDIDATE_COLUMNS = ("query_id", "doc_id", "source", "rank", "score", "positive_score")


@dataclass
class Target:
    dataset: Path
    metrics: list[tuple[str, dict]] = field(default_factory=list)
    run: str | None = None


def resolve_target(path: Path) -> Target:
    if (path / "run.json").is_file():
        run, steps, order = _read_run(path / "run.json")
        dataset, metrics = None, []
        for name in order:
            output = steps.get(name, {}).get("output")
            if not output or steps[name].get("status") != "done":
                continue
            out = Path(output)
            if (out / "ids.parquet").is_file() and (out / "manifest.json").is_file():
                dataset = out
            elif out.suffix == ".json" and out.is_file():
                numbers = read_metrics(out)
                if numbers:
                    metrics.append((name, numbers))
        if dataset is None:
            raise InputError(f"{path}: this run has no finished build step whose dataset still exists.")
        return Target(dataset, metrics, run.get("pipeline"))
    if (path / "train.parquet").is_file():
        return Target(path)
    raise InputError(f"{path}: neither a dataset folder (train.parquet, ids.parquet) nor a run folder (run.json).")


def _read_run(path: Path) -> tuple[dict, dict, list]:
    """run.json of a pipeline run folder, or an InputError saying it is damaged."""
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot be read ({exc}); it was damaged or edited. Fix: rerun the pipeline "
                         "(`minekit run`), which rewrites it, or give the dataset folder instead.") from None
    steps = run.get("steps") if isinstance(run, dict) else None
    order = run.get("order", list(steps or {})) if isinstance(run, dict) else None
    if not isinstance(steps, dict) or not isinstance(order, list) or \
            not all(isinstance(v, dict) for v in steps.values()):
        raise InputError(f"{path}: is not the run record `minekit run` writes (an object with steps). Fix: rerun "
                         "the pipeline (`minekit run`), or give the dataset folder instead.")
    return run, steps, order


def read_metrics(path: Path, *, given: bool = False) -> dict:
    """The numbers of a metrics.json (minekit.training.evaluate.load_metrics reads it); a file the user `given`
    must hold a metric, as `compare` requires."""
    from minekit.training.evaluate import check_metrics, load_metrics

    data = load_metrics(path)
    if given:
        check_metrics(data, str(path))
    return {k: v for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def metrics_name(path: Path) -> str:
    return path.parent.name if path.name == "metrics.json" and path.parent.name else path.stem


def picked_negatives(ids: "pl.DataFrame") -> "pl.DataFrame":
    """One row per picked negative: query_id, doc_id, score, sources, positive_score (nulls where unknown)."""
    import polars as pl

    from minekit.handoff.export import numeric_column

    if "negative_ids" in ids.columns and any(c.startswith("negative_scores_") for c in ids.columns):
        return _picked_by_miner(ids)
    if "negative_ids" in ids.columns:
        n = pl.col("negative_ids").list.len()
        cols = [pl.col("query_id"), pl.col("negative_ids").alias("doc_id"),
                (pl.col("negative_scores").cast(pl.List(pl.Float64)) if numeric_column(ids, "negative_scores")
                 else pl.lit(None, pl.Float64).repeat_by(n)).alias("picked_score"),
                (pl.col("negative_sources") if "negative_sources" in ids.columns
                 else pl.lit("unknown").repeat_by(n)).alias("sources"),
                (pl.col("positive_score").cast(pl.Float64) if numeric_column(ids, "positive_score")
                 else pl.lit(None, pl.Float64)).alias("picked_positive_score")]
        return ids.select(cols).explode("doc_id", "picked_score", "sources")
    if "label" in ids.columns:  # labeled pairs: the label-0 rows are the negatives
        neg = ids.filter(pl.col("label") == 0)
        return neg.select("query_id", "doc_id",
                          (pl.col("score").cast(pl.Float64) if "score" in ids.columns
                           else pl.lit(None, pl.Float64)).alias("picked_score"),
                          (pl.col("source") if "source" in ids.columns else pl.lit("unknown")).alias("sources"),
                          pl.lit(None, pl.Float64).alias("picked_positive_score"))
    raise InputError("ids.parquet: has neither negative_ids nor label; rebuild the dataset.")


def _picked_by_miner(ids: "pl.DataFrame") -> "pl.DataFrame":
    """One row per picked negative, its score and positive score both from the first of its sources (in
    name order) that scored it, so a row's score and positive score are always of one kind."""
    import polars as pl

    from minekit.dataset.store import score_column

    suffixes = [c.removeprefix("negative_scores_") for c in ids.columns if c.startswith("negative_scores_")]
    lists = ["negative_ids", "negative_sources", *(f"negative_scores_{c}" for c in suffixes)]
    rows = ids.select("query_id", *lists, *(f"positive_score_{c}" for c in suffixes)).explode(lists)
    sources = sorted({s for combo in rows["negative_sources"].drop_nulls().unique() for s in combo.split("+")})
    by_suffix = {score_column(s): s for s in sources}
    score, positive = pl.lit(None, pl.Float64), pl.lit(None, pl.Float64)
    for c in reversed([c for c in suffixes if c in by_suffix]):
        found = pl.col("negative_sources").str.split("+").list.contains(by_suffix[c]) & \
            pl.col(f"negative_scores_{c}").is_not_null()
        score = pl.when(found).then(pl.col(f"negative_scores_{c}").cast(pl.Float64)).otherwise(score)
        positive = pl.when(found).then(pl.col(f"positive_score_{c}").cast(pl.Float64)).otherwise(positive)
    return rows.select("query_id", pl.col("negative_ids").alias("doc_id"), score.alias("picked_score"),
                       pl.col("negative_sources").alias("sources"), positive.alias("picked_positive_score"))


@dataclass
class Lineage:
    mined: "pl.DataFrame"
    kept: "pl.DataFrame"
    dropped: "pl.DataFrame"
    files: int


def read_lineage(manifest: dict, notes: list[str]) -> Lineage | None:
    """The build's candidate files (kept) and the earliest files they came from (mined), when still on disk."""
    import polars as pl

    steps = manifest.get("steps") or []
    if not steps or steps[-1].get("stage") != "build":
        notes.append("The manifest has no build step: candidate plots are left out.")
        return None
    entries = [v for k, v in sorted(steps[-1].get("inputs", {}).items()) if k.startswith("candidates")]
    kept, mined, files, seen = [], [], 0, set()
    for entry in entries:
        if entry.get("path") in seen:
            continue
        seen.add(entry.get("path"))
        frame = _read_candidates(entry, notes)
        if frame is None:
            continue
        files += 1
        kept.append(frame)
        origin = _origin(Path(entry["path"]), notes)
        if origin is not None and origin[0] != Path(entry["path"]):
            files += 1
        mined.append(frame if origin is None else origin[1])
    if not kept:
        return None
    # A candidates file lists a (query, doc) once per source; a file named twice is read once (above).
    kept_f = pl.concat(kept, how="vertical_relaxed")
    mined_f = pl.concat(mined, how="vertical_relaxed")
    dropped = mined_f.join(kept_f.select("query_id", "doc_id", "source"), on=["query_id", "doc_id", "source"],
                           how="anti")
    return Lineage(mined_f, kept_f, dropped, files)


def _read_candidates(entry: dict, notes: list[str]) -> "pl.DataFrame | None":
    import polars as pl

    from minekit.io import file_sha256

    path = Path(entry.get("path", ""))
    if not path.is_file():
        notes.append(f"Candidate file {path} is not on disk (run the report where the dataset was built).")
        return None
    if entry.get("sha256") and file_sha256(path) != entry["sha256"]:
        notes.append(f"Candidate file {path} changed since it was used: left out.")
        return None
    try:
        frame = pl.read_parquet(path, columns=list(CANDIDATE_COLUMNS))
    except Exception as exc:  # any unreadable file: say so, keep the rest of the report
        notes.append(f"Candidate file {path} cannot be read ({exc}).")
        return None
    return frame.with_columns(pl.col("rank").cast(pl.Int64), pl.col("score").cast(pl.Float64),
                              pl.col("positive_score").cast(pl.Float64))


def _origin(path: Path, notes: list[str]) -> tuple[Path, "pl.DataFrame"] | None:
    """Follow filter/denoise steps back to the miner's file (the last one still on disk)."""
    from minekit.io import read_manifest

    found = None
    for _ in range(20):  # a chain is a few steps long; the bound guards against a loop
        try:
            manifest = read_manifest(path) or {}
        except InputError:
            break
        last = (manifest.get("steps") or [{}])[-1]
        entry = last.get("inputs", {}).get("candidates")
        if last.get("stage", "").startswith("mine.") or not entry:
            break
        frame = _read_candidates(entry, notes)
        if frame is None:
            break
        path, found = Path(entry["path"]), (Path(entry["path"]), frame)
    return found


def sources_of(picked: "pl.DataFrame", lineage: Lineage | None) -> list[str]:
    if lineage is not None:
        return sorted(lineage.mined["source"].unique().to_list())
    return sorted(picked["sources"].unique().drop_nulls().to_list())
