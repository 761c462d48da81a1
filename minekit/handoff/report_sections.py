"""The report's sections, in page order: each a (key, title, HTML body) made from the picked negatives,
the lineage of candidate files and the dataset's manifest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from minekit.handoff.report_html import (PALETTE, Cell, color_of, cut, escape, fmt, grid, paragraph, params_text,
                                         pct, section, table)
from minekit.handoff.report_inputs import Lineage, Target, sources_of
from minekit.handoff.report_plots import hbar_svg, hist_svg

if TYPE_CHECKING:
    import polars as pl


def summary_section(target: Target, data, picked: "pl.DataFrame", lineage: Lineage | None, notes: list[str]) -> str:
    m = data.manifest
    build = next((s for s in reversed(m.get("steps", [])) if s.get("stage") == "build"), {})
    facts = [("dataset", str(target.dataset)), ("run", target.run or "-"),
             ("format", build.get("params", {}).get("format", "-")), ("train rows", data.train.height),
             ("queries", data.ids["query_id"].n_unique()), ("picked negatives", picked.height),
             ("sources", ", ".join(sources_of(picked, lineage)) or "-"),
             ("candidate files read", 0 if lineage is None else lineage.files),
             ("minekit", m.get("minekit_version", "-")), ("built", m.get("created", "-"))]
    body = table(["", ""], [[k, v] for k, v in facts], header=False)
    if notes:
        body += "<ul class='notes'>" + "".join(f"<li>{escape(n)}</li>" for n in dict.fromkeys(notes)) + "</ul>"
    return section("summary", "Summary", body)


def _by_source(frame: "pl.DataFrame", column: str, source_col: str = "source") -> dict[str, np.ndarray]:
    import polars as pl

    out = {}
    for (source,), part in frame.filter(pl.col(column).is_not_null() & pl.col(column).is_finite()) \
            .group_by(source_col, maintain_order=True):
        out[source] = part[column].to_numpy().astype(np.float64)
    return out


def scores_section(picked: "pl.DataFrame", lineage: Lineage | None) -> str:
    import polars as pl

    figures = []
    if lineage is not None:
        positives = lineage.mined.unique(["query_id", "source"]).select("source", "positive_score")
        groups = {"positive": _by_source(positives, "positive_score"), "picked": _by_source(picked, "score"),
                  "dropped": _by_source(lineage.dropped, "score"),
                  "not picked": _by_source(lineage.kept.join(picked.select("query_id", "doc_id"),
                                                                   on=["query_id", "doc_id"], how="anti"), "score")}
        for source in sorted(lineage.mined["source"].unique()):
            series = [(name, color_of(name), values[source]) for name, values in groups.items() if source in values]
            figures.append(hist_svg(f"{source}: scores", series, x_label=f"{source} score", density=True))
    else:
        positives = picked.unique(["query_id"]).select(pl.col("sources").alias("source"),
                                                       pl.col("picked_positive_score").alias("positive_score"))
        pos = _by_source(positives, "positive_score")
        for source, values in _by_source(picked.rename({"sources": "source"}), "picked_score").items():
            series = [("picked", color_of("picked"), values)]
            if source in pos:
                series.insert(0, ("positive", color_of("positive"), pos[source]))
            figures.append(hist_svg(f"{source}: scores", series, x_label="score", density=True))
    text = ("Score distributions per source, as a share of each group: the positives' scores (the lowest "
            "positive of each query under that scorer), the picked negatives, the candidates the rules dropped, "
            "and those kept but not picked. Picked negatives close to or above the positives are likely false "
            "negatives.")
    return section("scores", "Scores per source", paragraph(text) + grid(figures or [paragraph("No scores to show.")]))


def margins_section(picked: "pl.DataFrame", lineage: Lineage | None) -> str:
    import polars as pl

    if lineage is not None:
        frame = picked.select("source", (pl.col("positive_score") - pl.col("score")).alias("margin"))
        everyone = lineage.mined.select("source", (pl.col("positive_score") - pl.col("score")).alias("margin"))
    else:
        frame = picked.select(pl.col("sources").alias("source"),
                              (pl.col("picked_positive_score") - pl.col("picked_score")).alias("margin"))
        everyone = None
    margins = _by_source(frame, "margin")
    figures = [hist_svg(f"{s}: positive - negative", [("picked", color_of("picked"), v)], x_label="margin",
                        density=False, mark_zero=True) for s, v in margins.items()]
    rows = []
    mined = _by_source(everyone, "margin") if everyone is not None else {}
    for source, values in margins.items():
        above = float((values < 0).mean()) if values.size else 0.0
        row = [source, values.size, fmt(float(np.median(values))) if values.size else "-", pct(above)]
        if everyone is not None:
            m = mined.get(source, np.array([]))
            row.append(pct(float((m < 0).mean())) if m.size else "-")
        rows.append(row)
    header = ["source", "picked with scores", "median margin", "picked above their positive"]
    if everyone is not None:
        header.append("mined above their positive")
    text = ("Margin = the positive's score minus the negative's, under the same scorer. A negative scoring above "
            "its positive (margin < 0, left of the dashed line) is often an unlabeled positive.")
    body = paragraph(text) + (table(header, rows) if rows else paragraph("No scores to compare.")) + grid(figures)
    return section("margins", "Margins and likely false negatives", body)


def ranks_section(picked: "pl.DataFrame", lineage: Lineage | None) -> str:
    if lineage is None:
        return section("ranks", "Ranks of picked negatives",
                       paragraph("Ranks need the candidate files (see the notes)."))
    ranks = _by_source(picked.with_columns(picked["rank"].cast(float)), "rank")
    figures = [hist_svg(f"{s}: rank of picked negatives", [("picked", color_of("picked"), v)], x_label="rank",
                        density=False, integer=True) for s, v in ranks.items()]
    text = "The miner's rank (1 = its best candidate for the query) of every picked negative, per source."
    return section("ranks", "Ranks of picked negatives", paragraph(text) + grid(figures))


def stages_section(manifest: dict) -> str:
    steps = manifest.get("steps") or []
    rows, bars = [], []
    for i, step in enumerate(steps):
        stats = step.get("stats") or {}
        dropped = stats.get("dropped") or {}
        label = f"{i + 1}. {step.get('stage', '?')}"
        rows.append([label, params_text(step.get("params") or {}), stats.get("rows_in", "-"),
                     stats.get("rows_out", "-"), ", ".join(f"{k}: {v:,}" for k, v in dropped.items()) or "-"])
        bars.append((label, stats.get("rows_out"), dropped))
    reasons = sorted({r for _, _, d in bars for r in d})
    series = [("rows out", PALETTE[0], [b[1] or 0 for b in bars])]
    series += [(f"dropped: {r}", PALETTE[(i + 1) % len(PALETTE)], [b[2].get(r, 0) for b in bars])
               for i, r in enumerate(reasons)]
    figure = hbar_svg("Rows out and drops per step", [b[0] for b in bars], series) if bars else ""
    text = ("Every step of the manifest, from mining to the picked rows: what it kept and what each rule "
            "dropped (a reason is the parameter that caused the drop). Mined rows are per miner; build's rows "
            "out are training rows.")
    body = paragraph(text) + table(["step", "params", "rows in", "rows out", "dropped"], rows) + figure
    return section("stages", "What each step dropped", body)


def candidates_section(manifest: dict, lineage: Lineage | None) -> str:
    import polars as pl

    figures = []
    if lineage is not None:
        per_query = {name: frame.group_by("query_id").agg(pl.col("doc_id").n_unique())["doc_id"].to_numpy()
                     for name, frame in (("mined", lineage.mined), ("kept", lineage.kept))}
        figures.append(hist_svg("Candidates per query (unique documents)",
                                [("mined", color_of("dropped"), per_query["mined"].astype(float)),
                                 ("kept after rules", color_of("picked"), per_query["kept"].astype(float))],
                                x_label="candidates", density=False, integer=True))
    build = next((s for s in reversed(manifest.get("steps") or []) if s.get("stage") == "build"), {})
    stats = build.get("stats") or {}
    filled, lost = stats.get("rows_filled", 0), stats.get("positives_lost", 0)
    positives = stats.get("positives")
    if positives is not None:
        full = max(positives - filled - lost, 0)
        figures.append(hbar_svg("(query, positive) rows", ["rows"],
                                [("negatives from candidates", PALETTE[0], [full]),
                                 ("filled at random", PALETTE[1], [filled]), ("lost", PALETTE[4], [lost])],
                                stacked=True))
    facts = [[k, stats[k]] for k in ("queries", "positives", "queries_without_negatives", "rows_filled",
                                     "negatives_filled", "rows_without_enough_negatives", "positives_lost")
             if k in stats]
    text = ("How many candidates each query had before and after the rules, and how many (query, positive) rows "
            "got their negatives from candidates, were filled with random documents, or were lost.")
    return section("candidates", "Candidates per query; rows filled or lost",
                   paragraph(text) + (table(["count", "value"], facts) if facts else "") + grid(figures))


def overlap_section(picked: "pl.DataFrame", lineage: Lineage | None) -> str:
    import polars as pl

    body = ""
    if lineage is not None:
        sources = sorted(lineage.mined["source"].unique().to_list())
        found = {s: lineage.mined.filter(pl.col("source") == s).select("query_id", "doc_id") for s in sources}
        rows = []
        for a in sources:
            row: list[Any] = [a, found[a].height]
            for b in sources:
                # A file lists a (query, doc) once per source, so the diagonal is every candidate.
                both = found[a].height if a == b else found[a].join(found[b], on=["query_id", "doc_id"],
                                                                             how="semi").height
                row.append(Cell(pct(both / found[a].height) if found[a].height else "-",
                                both / found[a].height if found[a].height else 0.0))
            rows.append(row)
        body += paragraph("Share of each miner's candidates (row) that the other miner (column) also found for the "
                          "same query.") + table(["miner", "candidates", *sources], rows)
    combos = picked.group_by("sources").len().sort(["len", "sources"], descending=[True, False])
    body += paragraph("Picked negatives by the sources that found them (a+b: found by both).")
    body += table(["sources", "picked negatives"], combos.rows())
    return section("overlap", "Overlap between miners", body)


def examples_section(train: "pl.DataFrame", ids: "pl.DataFrame", examples: int, seed: int) -> str:
    if examples <= 0 or train.height == 0:
        return None
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(train.height, size=min(examples, train.height), replace=False).tolist())
    blocks = []
    for i in chosen:
        t, r = train.row(i, named=True), ids.row(i, named=True)
        if "document" in t:  # labeled pair
            blocks.append(f"<div class='example'><div class='q'>{escape(cut(t['anchor']))}</div>"
                          f"<div class='doc'>label {t['label']}: {escape(cut(t['document']))}</div></div>")
            continue
        negs = [c for c in train.columns[2:]]
        scores = (r.get("negative_scores") or next((r[c] for c in sorted(r) if c.startswith("negative_scores_")
                                                    and r[c] and any(v is not None for v in r[c])), None)
                  or [None] * len(negs))
        sources = r.get("negative_sources") or [None] * len(negs)
        items = "".join(f"<li><span class='tag'>{escape(src or '?')} {fmt(sc)}</span> {escape(cut(t[c]))}</li>"
                        for c, sc, src in zip(negs, scores, sources))
        pos_score = r.get("positive_score")
        blocks.append(f"<div class='example'><div class='q'>{escape(cut(t['anchor']))}</div>"
                      f"<div class='pos'><span class='tag'>positive {fmt(pos_score)}</span> "
                      f"{escape(cut(t['positive']))}</div><ol>{items}</ol></div>")
    return section("examples", "Example rows",
                   paragraph(f"{len(chosen)} rows chosen with seed {seed}: the query, its "
                             "positive (with its score) and the negatives (source, score).") + "".join(blocks))


def metrics_section(metrics: list[tuple[str, dict]]) -> str:
    if not metrics:
        return None
    names = list(dict.fromkeys(k for _, m in metrics for k in m if k != "queries"))
    rows = [[name, *(fmt(m.get(k)) for k in names)] for name, m in metrics]
    shown = [k for k in names if all(0 <= (m.get(k) or 0) <= 1 for _, m in metrics)]
    series = [(name, PALETTE[i % len(PALETTE)], [m.get(k) or 0.0 for k in shown]) for i, (name, m) in
              enumerate(metrics)]
    figure = hbar_svg("Metrics by evaluation", shown, series) if shown else ""
    text = "The evaluate steps, in run order (the first is usually the base model, the last the trained one)."
    return section("metrics", "Evaluation before and after",
                   paragraph(text) + table(["evaluation", *names], rows) + figure)
