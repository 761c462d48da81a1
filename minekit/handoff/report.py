"""One self-contained HTML page about a dataset (or a pipeline run): the plots to read before training.

Everything is inline SVG: the page fetches nothing, runs no script, and opens offline.
The dataset's ids.parquet gives the picked negatives; the candidate files named in its manifest (the
build's inputs, and the files the filter/denoise steps read before them) give the mined and dropped
candidates and their ranks, when they are still on disk unchanged. Without them the page says so and
shows what the dataset alone holds.

Here the page is assembled; report_inputs reads the files, report_sections makes each section,
report_plots draws the figures and report_html holds the page's HTML and formatting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from minekit.errors import InputError
from minekit.handoff.report_html import render_page
from minekit.handoff.report_inputs import (metrics_name, picked_negatives, read_lineage, read_metrics, resolve_target,
                                          sources_of)
from minekit.handoff.report_sections import (candidates_section, examples_section, margins_section, metrics_section,
                                            overlap_section, ranks_section, scores_section, stages_section,
                                            summary_section)


@dataclass
class ReportResult:
    html: str
    stats: dict


def make_report(path: str | Path, *, metrics: list[str | Path] = (), examples: int = 5, seed: int = 0) -> ReportResult:
    """The report of a dataset folder, or of a run folder (its last dataset and its evaluate metrics)."""
    from minekit.dataset.store import read_dataset

    target = resolve_target(Path(path))
    target.metrics += [(metrics_name(Path(p)), read_metrics(Path(p), given=True)) for p in metrics]
    data = read_dataset(target.dataset)
    if data.ids is None:
        raise InputError(f"{target.dataset}: has no ids.parquet, which the report reads.")
    notes: list[str] = []
    picked = picked_negatives(data.ids)
    lineage = read_lineage(data.manifest, notes)
    if lineage is not None:
        picked_by_source = picked.join(lineage.kept, on=["query_id", "doc_id"], how="inner")
    else:
        picked_by_source = picked.with_columns(rank=None)
    sections = [
        summary_section(target, data, picked, lineage, notes),
        scores_section(picked_by_source, lineage),
        margins_section(picked_by_source, lineage),
        ranks_section(picked_by_source, lineage),
        stages_section(data.manifest),
        candidates_section(data.manifest, lineage),
        overlap_section(picked, lineage),
        examples_section(data.train, data.ids, examples, seed),
        metrics_section(target.metrics),
    ]
    title = f"minekit report: {data.manifest.get('name', target.dataset.name)} v{data.manifest.get('version', '?')}"
    page = render_page(title, [s for s in sections if s])
    stats = {"rows": data.train.height, "negatives": picked.height, "sources": len(sources_of(picked, lineage)),
             "candidate_files": 0 if lineage is None else lineage.files, "metrics": len(target.metrics),
             "bytes": len(page.encode())}
    return ReportResult(page, stats)
