"""Hand-off stages: `export` (a dataset in another trainer's layout) and `report` (one offline HTML page)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from minekit.stages.base import COMMON, stage
from minekit.stats import Output


@stage("export")
def export(dataset: str | Path, *, to: str, out: str | Path, prompt: str | None = None, scores: str = "teacher",
           overwrite: bool = False) -> Output:
    """Write a dataset in the layout another trainer reads (FlagEmbedding, Tevatron, datasets, JSONL)."""
    from minekit.handoff.export import export_dataset

    result = export_dataset(dataset, out, to=to, prompt=prompt, scores=scores, overwrite=overwrite)
    notes = [f"pos_scores/neg_scores: {result.stats['scores']}"] if "scores" in result.stats else []
    return Output(Path(result.path), result.stats, {"out": Path(result.path)}, title=f"export {to}", notes=notes)


@stage("report")
def report(dataset_or_run: str | Path, *, out: str | Path, metrics: Sequence[str | Path] | None = None,
           examples: int = 5, seed: int = COMMON) -> Output:
    """One offline HTML page with the plots to read before training."""
    from minekit.errors import ConfigError
    from minekit.guards import is_report
    from minekit.options import check_params
    from minekit.io import write_text
    from minekit.handoff.report import make_report

    if Path(out).is_file() and not is_report(Path(out)):
        raise ConfigError(f"out: {out} already exists and is not a report minekit wrote; it is never overwritten. "
                          "Fix: choose another file name (e.g. report.html).", param="out")
    check_params("report", {"examples": examples})
    result = make_report(dataset_or_run, metrics=list(metrics or []), examples=examples, seed=seed)
    out = write_text(out, result.html)
    return Output(Path(out), result.stats, {"out": Path(out)}, title="report")
