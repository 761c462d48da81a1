"""One self-contained HTML page about a dataset (or a pipeline run): the plots to read before training.

Everything is inline SVG drawn here: the page fetches nothing, runs no script, and opens offline.
The dataset's ids.parquet gives the picked negatives; the candidate files named in its manifest (the
build's inputs, and the files the filter/denoise steps read before them) give the mined and dropped
candidates and their ranks, when they are still on disk unchanged. Without them the page says so and
shows what the dataset alone holds.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from minekit.errors import InputError

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)

COLORS = {"positive": "#2a9d4b", "picked": "#1f6fd1", "dropped": "#d1495b", "kept": "#9a9a9a"}
PALETTE = ["#1f6fd1", "#e07b00", "#2a9d4b", "#8e44ad", "#d1495b", "#17a2b8", "#7f7f7f", "#b8860b"]
CANDIDATE_COLUMNS = ("query_id", "doc_id", "source", "rank", "score", "positive_score")
BINS = 30
TEXT_CHARS = 280


@dataclass
class ReportResult:
    html: str
    stats: dict


@dataclass
class _Target:
    dataset: Path
    metrics: list[tuple[str, dict]] = field(default_factory=list)
    run: str | None = None


def make_report(path: str | Path, *, metrics: list[str | Path] = (), examples: int = 5, seed: int = 0) -> ReportResult:
    """The report of a dataset folder, or of a run folder (its last dataset and its evaluate metrics)."""
    from minekit.train import read_dataset

    target = _resolve(Path(path))
    target.metrics += [(_metrics_name(Path(p)), _read_metrics(Path(p))) for p in metrics]
    data = read_dataset(target.dataset)
    if data.ids is None:
        raise InputError(f"{target.dataset}: has no ids.parquet, which the report reads.")
    notes: list[str] = []
    picked = _picked(data.ids)
    lineage = _lineage(data.manifest, notes)
    if lineage is not None:
        picked_by_source = picked.join(lineage.kept, on=["query_id", "doc_id"], how="inner")
    else:
        picked_by_source = picked.with_columns(rank=None)
    sections = [
        _summary(target, data, picked, lineage, notes),
        _scores_section(picked_by_source, lineage),
        _margins_section(picked_by_source, lineage),
        _ranks_section(picked_by_source, lineage),
        _stages_section(data.manifest),
        _candidates_section(data.manifest, lineage),
        _overlap_section(picked, lineage),
        _examples_section(data.train, data.ids, examples, seed),
        _metrics_section(target.metrics),
    ]
    title = f"minekit report: {data.manifest.get('name', target.dataset.name)} v{data.manifest.get('version', '?')}"
    page = _page(title, [s for s in sections if s])
    stats = {"rows": data.train.height, "negatives": picked.height, "sources": len(_sources(picked, lineage)),
             "candidate_files": 0 if lineage is None else lineage.files, "metrics": len(target.metrics),
             "bytes": len(page.encode())}
    return ReportResult(page, stats)


# -- what to read ----------------------------------------------------------------------------------------

def _resolve(path: Path) -> _Target:
    if (path / "run.json").is_file():
        run = json.loads((path / "run.json").read_text())
        steps = run.get("steps", {})
        order = run.get("order", list(steps))
        dataset, metrics = None, []
        for name in order:
            output = steps.get(name, {}).get("output")
            if not output or steps[name].get("status") != "done":
                continue
            out = Path(output)
            if (out / "ids.parquet").is_file() and (out / "manifest.json").is_file():
                dataset = out
            elif out.suffix == ".json" and out.is_file():
                numbers = _read_metrics(out)
                if numbers:
                    metrics.append((name, numbers))
        if dataset is None:
            raise InputError(f"{path}: this run has no finished build step whose dataset still exists.")
        return _Target(dataset, metrics, run.get("pipeline"))
    if (path / "train.parquet").is_file():
        return _Target(path)
    raise InputError(f"{path}: neither a dataset folder (train.parquet, ids.parquet) nor a run folder (run.json).")


def _read_metrics(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot be read as metrics JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: is not a JSON object of metrics.")
    return {k: v for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _metrics_name(path: Path) -> str:
    return path.parent.name if path.name == "metrics.json" and path.parent.name else path.stem


def _picked(ids: "pl.DataFrame") -> "pl.DataFrame":
    """One row per picked negative: query_id, doc_id, score, sources, positive_score (nulls where unknown)."""
    import polars as pl

    from minekit.export import numeric_column

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

    from minekit.build import score_column

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
class _Lineage:
    mined: "pl.DataFrame"
    kept: "pl.DataFrame"
    dropped: "pl.DataFrame"
    files: int


def _lineage(manifest: dict, notes: list[str]) -> _Lineage | None:
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
    return _Lineage(mined_f, kept_f, dropped, files)


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


def _sources(picked: "pl.DataFrame", lineage: _Lineage | None) -> list[str]:
    if lineage is not None:
        return sorted(lineage.mined["source"].unique().to_list())
    return sorted(picked["sources"].unique().drop_nulls().to_list())


# -- sections ---------------------------------------------------------------------------------------------

def _summary(target: _Target, data, picked: "pl.DataFrame", lineage: _Lineage | None, notes: list[str]) -> str:
    m = data.manifest
    build = next((s for s in reversed(m.get("steps", [])) if s.get("stage") == "build"), {})
    facts = [("dataset", str(target.dataset)), ("run", target.run or "-"),
             ("format", build.get("params", {}).get("format", "-")), ("train rows", data.train.height),
             ("queries", data.ids["query_id"].n_unique()), ("picked negatives", picked.height),
             ("sources", ", ".join(_sources(picked, lineage)) or "-"),
             ("candidate files read", 0 if lineage is None else lineage.files),
             ("minekit", m.get("minekit_version", "-")), ("built", m.get("created", "-"))]
    body = _table(["", ""], [[k, v] for k, v in facts], header=False)
    if notes:
        body += "<ul class='notes'>" + "".join(f"<li>{_e(n)}</li>" for n in dict.fromkeys(notes)) + "</ul>"
    return _section("summary", "Summary", body)


def _by_source(frame: "pl.DataFrame", column: str, source_col: str = "source") -> dict[str, np.ndarray]:
    import polars as pl

    out = {}
    for (source,), part in frame.filter(pl.col(column).is_not_null() & pl.col(column).is_finite()) \
            .group_by(source_col, maintain_order=True):
        out[source] = part[column].to_numpy().astype(np.float64)
    return out


def _scores_section(picked: "pl.DataFrame", lineage: _Lineage | None) -> str:
    import polars as pl

    figures = []
    if lineage is not None:
        positives = lineage.mined.unique(["query_id", "source"]).select("source", "positive_score")
        groups = {"positive": _by_source(positives, "positive_score"), "picked": _by_source(picked, "score"),
                  "dropped": _by_source(lineage.dropped, "score"),
                  "not picked": _by_source(lineage.kept.join(picked.select("query_id", "doc_id"),
                                                                   on=["query_id", "doc_id"], how="anti"), "score")}
        for source in sorted(lineage.mined["source"].unique()):
            series = [(name, _color(name), values[source]) for name, values in groups.items() if source in values]
            figures.append(_hist_svg(f"{source}: scores", series, x_label=f"{source} score", density=True))
    else:
        positives = picked.unique(["query_id"]).select(pl.col("sources").alias("source"),
                                                       pl.col("picked_positive_score").alias("positive_score"))
        pos = _by_source(positives, "positive_score")
        for source, values in _by_source(picked.rename({"sources": "source"}), "picked_score").items():
            series = [("picked", _color("picked"), values)]
            if source in pos:
                series.insert(0, ("positive", _color("positive"), pos[source]))
            figures.append(_hist_svg(f"{source}: scores", series, x_label="score", density=True))
    text = ("Score distributions per source, as a share of each group: the positives' scores (the lowest "
            "positive of each query under that scorer), the picked negatives, the candidates the rules dropped, "
            "and those kept but not picked. Picked negatives close to or above the positives are likely false "
            "negatives.")
    return _section("scores", "Scores per source", _p(text) + _grid(figures or [_p("No scores to show.")]))


def _margins_section(picked: "pl.DataFrame", lineage: _Lineage | None) -> str:
    import polars as pl

    if lineage is not None:
        frame = picked.select("source", (pl.col("positive_score") - pl.col("score")).alias("margin"))
        everyone = lineage.mined.select("source", (pl.col("positive_score") - pl.col("score")).alias("margin"))
    else:
        frame = picked.select(pl.col("sources").alias("source"),
                              (pl.col("picked_positive_score") - pl.col("picked_score")).alias("margin"))
        everyone = None
    margins = _by_source(frame, "margin")
    figures = [_hist_svg(f"{s}: positive - negative", [("picked", _color("picked"), v)], x_label="margin",
                         density=False, mark_zero=True) for s, v in margins.items()]
    rows = []
    mined = _by_source(everyone, "margin") if everyone is not None else {}
    for source, values in margins.items():
        above = float((values < 0).mean()) if values.size else 0.0
        row = [source, values.size, _fmt(float(np.median(values))) if values.size else "-", _pct(above)]
        if everyone is not None:
            m = mined.get(source, np.array([]))
            row.append(_pct(float((m < 0).mean())) if m.size else "-")
        rows.append(row)
    header = ["source", "picked with scores", "median margin", "picked above their positive"]
    if everyone is not None:
        header.append("mined above their positive")
    text = ("Margin = the positive's score minus the negative's, under the same scorer. A negative scoring above "
            "its positive (margin < 0, left of the dashed line) is often an unlabeled positive.")
    body = _p(text) + (_table(header, rows) if rows else _p("No scores to compare.")) + _grid(figures)
    return _section("margins", "Margins and likely false negatives", body)


def _ranks_section(picked: "pl.DataFrame", lineage: _Lineage | None) -> str:
    if lineage is None:
        return _section("ranks", "Ranks of picked negatives", _p("Ranks need the candidate files (see the notes)."))
    ranks = _by_source(picked.with_columns(picked["rank"].cast(float)), "rank")
    figures = [_hist_svg(f"{s}: rank of picked negatives", [("picked", _color("picked"), v)], x_label="rank",
                         density=False, integer=True) for s, v in ranks.items()]
    text = "The miner's rank (1 = its best candidate for the query) of every picked negative, per source."
    return _section("ranks", "Ranks of picked negatives", _p(text) + _grid(figures))


def _stages_section(manifest: dict) -> str:
    steps = manifest.get("steps") or []
    rows, bars = [], []
    for i, step in enumerate(steps):
        stats = step.get("stats") or {}
        dropped = stats.get("dropped") or {}
        label = f"{i + 1}. {step.get('stage', '?')}"
        rows.append([label, _params(step.get("params") or {}), stats.get("rows_in", "-"), stats.get("rows_out", "-"),
                     ", ".join(f"{k}: {v:,}" for k, v in dropped.items()) or "-"])
        bars.append((label, stats.get("rows_out"), dropped))
    reasons = sorted({r for _, _, d in bars for r in d})
    series = [("rows out", PALETTE[0], [b[1] or 0 for b in bars])]
    series += [(f"dropped: {r}", PALETTE[(i + 1) % len(PALETTE)], [b[2].get(r, 0) for b in bars])
               for i, r in enumerate(reasons)]
    figure = _hbar_svg("Rows out and drops per step", [b[0] for b in bars], series) if bars else ""
    text = ("Every step of the manifest, from mining to the picked rows: what it kept and what each rule "
            "dropped (a reason is the parameter that caused the drop). Mined rows are per miner; build's rows "
            "out are training rows.")
    body = _p(text) + _table(["step", "params", "rows in", "rows out", "dropped"], rows) + figure
    return _section("stages", "What each step dropped", body)


def _candidates_section(manifest: dict, lineage: _Lineage | None) -> str:
    import polars as pl

    figures = []
    if lineage is not None:
        per_query = {name: frame.group_by("query_id").agg(pl.col("doc_id").n_unique())["doc_id"].to_numpy()
                     for name, frame in (("mined", lineage.mined), ("kept", lineage.kept))}
        figures.append(_hist_svg("Candidates per query (unique documents)",
                                 [("mined", _color("dropped"), per_query["mined"].astype(float)),
                                  ("kept after rules", _color("picked"), per_query["kept"].astype(float))],
                                 x_label="candidates", density=False, integer=True))
    build = next((s for s in reversed(manifest.get("steps") or []) if s.get("stage") == "build"), {})
    stats = build.get("stats") or {}
    filled, lost = stats.get("rows_filled", 0), stats.get("positives_lost", 0)
    positives = stats.get("positives")
    if positives is not None:
        full = max(positives - filled - lost, 0)
        figures.append(_hbar_svg("(query, positive) rows", ["rows"],
                                 [("negatives from candidates", PALETTE[0], [full]),
                                  ("filled at random", PALETTE[1], [filled]), ("lost", PALETTE[4], [lost])],
                                 stacked=True))
    facts = [[k, stats[k]] for k in ("queries", "positives", "queries_without_negatives", "rows_filled",
                                     "negatives_filled", "rows_without_enough_negatives", "positives_lost")
             if k in stats]
    text = ("How many candidates each query had before and after the rules, and how many (query, positive) rows "
            "got their negatives from candidates, were filled with random documents, or were lost.")
    return _section("candidates", "Candidates per query; rows filled or lost",
                    _p(text) + (_table(["count", "value"], facts) if facts else "") + _grid(figures))


def _overlap_section(picked: "pl.DataFrame", lineage: _Lineage | None) -> str:
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
                row.append(_Cell(_pct(both / found[a].height) if found[a].height else "-",
                                 both / found[a].height if found[a].height else 0.0))
            rows.append(row)
        body += _p("Share of each miner's candidates (row) that the other miner (column) also found for the "
                   "same query.") + _table(["miner", "candidates", *sources], rows)
    combos = picked.group_by("sources").len().sort(["len", "sources"], descending=[True, False])
    body += _p("Picked negatives by the sources that found them (a+b: found by both).")
    body += _table(["sources", "picked negatives"], combos.rows())
    return _section("overlap", "Overlap between miners", body)


def _examples_section(train: "pl.DataFrame", ids: "pl.DataFrame", examples: int, seed: int) -> str:
    if examples <= 0 or train.height == 0:
        return None
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(train.height, size=min(examples, train.height), replace=False).tolist())
    blocks = []
    for i in chosen:
        t, r = train.row(i, named=True), ids.row(i, named=True)
        if "document" in t:  # labeled pair
            blocks.append(f"<div class='example'><div class='q'>{_e(_cut(t['anchor']))}</div>"
                          f"<div class='doc'>label {t['label']}: {_e(_cut(t['document']))}</div></div>")
            continue
        negs = [c for c in train.columns[2:]]
        scores = (r.get("negative_scores") or next((r[c] for c in sorted(r) if c.startswith("negative_scores_")
                                                    and r[c] and any(v is not None for v in r[c])), None)
                  or [None] * len(negs))
        sources = r.get("negative_sources") or [None] * len(negs)
        items = "".join(f"<li><span class='tag'>{_e(src or '?')} {_fmt(sc)}</span> {_e(_cut(t[c]))}</li>"
                        for c, sc, src in zip(negs, scores, sources))
        pos_score = r.get("positive_score")
        blocks.append(f"<div class='example'><div class='q'>{_e(_cut(t['anchor']))}</div>"
                      f"<div class='pos'><span class='tag'>positive {_fmt(pos_score)}</span> "
                      f"{_e(_cut(t['positive']))}</div><ol>{items}</ol></div>")
    return _section("examples", "Example rows", _p(f"{len(chosen)} rows chosen with seed {seed}: the query, its "
                                                 "positive (with its score) and the negatives (source, score).")
                    + "".join(blocks))


def _metrics_section(metrics: list[tuple[str, dict]]) -> str:
    if not metrics:
        return None
    names = list(dict.fromkeys(k for _, m in metrics for k in m if k != "queries"))
    rows = [[name, *(_fmt(m.get(k)) for k in names)] for name, m in metrics]
    shown = [k for k in names if all(0 <= (m.get(k) or 0) <= 1 for _, m in metrics)]
    series = [(name, PALETTE[i % len(PALETTE)], [m.get(k) or 0.0 for k in shown]) for i, (name, m) in
              enumerate(metrics)]
    figure = _hbar_svg("Metrics by evaluation", shown, series) if shown else ""
    text = "The evaluate steps, in run order (the first is usually the base model, the last the trained one)."
    return _section("metrics", "Evaluation before and after", _p(text) + _table(["evaluation", *names], rows) + figure)


# -- SVG ------------------------------------------------------------------------------------------------

def _hist_svg(title: str, series: list[tuple[str, str, np.ndarray]], *, x_label: str, density: bool,
              integer: bool = False, mark_zero: bool = False) -> str:
    """Overlaid step histograms on shared bins; y is the share of each series (density) or counts."""
    series = [(n, c, v[np.isfinite(v)]) for n, c, v in series if v.size]
    if not series:
        return ""
    lo = min(float(v.min()) for _, _, v in series)
    hi = max(float(v.max()) for _, _, v in series)
    if integer:
        lo, hi = np.floor(lo) - 0.5, np.ceil(hi) + 0.5
        step = max(1.0, np.ceil((hi - lo) / BINS))
        edges = np.arange(lo, hi + step, step)
    else:
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, BINS + 1)
    counts = [np.histogram(v, bins=edges)[0].astype(float) for _, _, v in series]
    if density:
        counts = [c / c.sum() if c.sum() else c for c in counts]
    top = max(float(c.max()) for c in counts) or 1.0
    w, h, left, right, top_pad, bottom = 420, 240, 48, 22, 46, 38
    pw, ph = w - left - right, h - top_pad - bottom

    def x(v: float) -> float:
        return left + (v - edges[0]) / (edges[-1] - edges[0]) * pw

    def y(v: float) -> float:
        return top_pad + ph - v / top * ph

    parts = [_svg_open(w, h, title), f"<text x='{left}' y='14' class='t'>{_e(title)}</text>"]
    parts += _axes(left, top_pad, pw, ph, edges[0], edges[-1], top, x_label,
                   "share" if density else "count", integer)
    if mark_zero and edges[0] < 0 < edges[-1]:
        parts.append(f"<line x1='{x(0):.1f}' x2='{x(0):.1f}' y1='{top_pad}' y2='{top_pad + ph}' class='zero'/>")
    for (name, color, values), c in zip(series, counts):
        d = [f"M{x(edges[0]):.1f},{y(0):.1f}"]
        for i, v in enumerate(c):
            d.append(f"L{x(edges[i]):.1f},{y(v):.1f}L{x(edges[i + 1]):.1f},{y(v):.1f}")
        d.append(f"L{x(edges[-1]):.1f},{y(0):.1f}Z")
        parts.append(f"<path d='{''.join(d)}' fill='{color}' fill-opacity='0.18' stroke='{color}' "
                     f"stroke-width='1.5'><title>{_e(name)}: {values.size:,} values</title></path>")
    parts += _legend([(f"{n} ({v.size:,})", c) for n, c, v in series], 8, 28, w)
    parts.append("</svg>")
    return "".join(parts)


def _hbar_svg(title: str, labels: list[str], series: list[tuple[str, str, list[float]]], *,
              stacked: bool = False) -> str:
    """Horizontal bars: one group per label, one bar per series (or one stacked bar)."""
    n = len(series)
    bar = 14
    group = bar * (1 if stacked else n) + 10
    left, w = 170, 640
    top_pad = 40 + 13 * (sum(22 + 5.6 * len(n) for n, _, _ in series) > w - 8)
    h = top_pad + group * len(labels) + 34
    pw = w - left - 70
    totals = [sum(s[2][i] or 0 for s in series) for i in range(len(labels))] if stacked else []
    top = max(totals or [max((v or 0) for s in series for v in s[2]) if series else 1]) or 1
    parts = [_svg_open(w, h, title), f"<text x='8' y='14' class='t'>{_e(title)}</text>"]
    parts += _legend([(name, color) for name, color, _ in series], 8, 28, w)
    for i, label in enumerate(labels):
        y0 = top_pad + i * group
        parts.append(f"<text x='{left - 6}' y='{y0 + bar - 3}' class='l' text-anchor='end'>{_e(_short(label))}</text>")
        offset = 0.0
        for j, (name, color, values) in enumerate(series):
            v = float(values[i] or 0)
            width = v / top * pw
            yy = y0 if stacked else y0 + j * bar
            xx = left + (offset / top * pw if stacked else 0)
            parts.append(f"<rect x='{xx:.1f}' y='{yy}' width='{width:.1f}' height='{bar - 2}' fill='{color}'>"
                         f"<title>{_e(label)} / {_e(name)}: {_fmt(v)}</title></rect>")
            if not stacked and v:
                parts.append(f"<text x='{xx + width + 4:.1f}' y='{yy + bar - 4}' class='v'>{_fmt(v)}</text>")
            offset += v
        if stacked:
            parts.append(f"<text x='{left + offset / top * pw + 4:.1f}' y='{y0 + bar - 4}' class='v'>"
                         f"{_fmt(offset)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _axes(left, top, pw, ph, x0, x1, y1, x_label, y_label, integer) -> list[str]:
    parts = [f"<line x1='{left}' x2='{left + pw}' y1='{top + ph}' y2='{top + ph}' class='ax'/>",
             f"<line x1='{left}' x2='{left}' y1='{top}' y2='{top + ph}' class='ax'/>"]
    for k in range(5):
        v = x0 + (x1 - x0) * k / 4
        xx = left + pw * k / 4
        label = f"{round(v):d}" if integer else _fmt(v)
        parts.append(f"<text x='{xx:.1f}' y='{top + ph + 13}' class='l' text-anchor='middle'>{label}</text>")
    for v in _nice_ticks(y1, integer=y_label == "count"):
        yy = top + ph - ph * v / y1
        parts.append(f"<line x1='{left}' x2='{left + pw}' y1='{yy:.1f}' y2='{yy:.1f}' class='grid'/>"
                     f"<text x='{left - 4}' y='{yy + 3:.1f}' class='l' text-anchor='end'>{_fmt(v)}</text>")
    parts.append(f"<text x='{left + pw / 2:.1f}' y='{top + ph + 28}' class='l' text-anchor='middle'>"
                 f"{_e(x_label)}</text>")
    parts.append(f"<text x='10' y='{top + ph / 2:.1f}' class='l' transform='rotate(-90 10 {top + ph / 2:.1f})' "
                 f"text-anchor='middle'>{_e(y_label)}</text>")
    return parts


def _nice_ticks(top: float, *, integer: bool) -> list[float]:
    """Two to five round values (1, 2 or 5 times a power of ten) up to `top`."""
    if top <= 0:
        return []
    raw = top / 3
    power = 10 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(1.0, round(step))
    return [float(v) for v in np.arange(step, top * 1.0001, step)]


def _legend(items: list[tuple[str, str]], x: float, y: float, width: float = 420) -> list[str]:
    """Colour keys in a row, wrapping onto a second row where they would leave the figure."""
    parts, x0 = [], x
    for name, color in items:
        size = 22 + 5.6 * len(name)
        if x + size > width and x > x0:
            x, y = x0, y + 13
        parts.append(f"<rect x='{x:.0f}' y='{y - 8}' width='10' height='10' fill='{color}'/>"
                     f"<text x='{x + 13:.0f}' y='{y + 1}' class='l'>{_e(name)}</text>")
        x += size
    return parts


def _svg_open(w: int, h: int, title: str) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' viewBox='0 0 {w} {h}' "
            f"role='img' aria-label='{_e(title)}'>")


# -- HTML ----------------------------------------------------------------------------------------------------

@dataclass
class _Cell:
    text: str
    shade: float  # 0..1, the cell's background strength


CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2d3d;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
nav{padding:6px 24px;background:#e9edf2;font-size:13px}nav a{margin-right:14px;color:#1f4f8a}
section{background:#fff;margin:14px 24px;padding:10px 18px;border:1px solid #e2e2e2;border-radius:6px}
h2{font-size:17px;margin:6px 0 8px}p{margin:6px 0;max-width:980px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f0f3f6}.grid{display:flex;flex-wrap:wrap;gap:10px}svg{background:#fff;border:1px solid #eee}
svg .t{font-size:12px;font-weight:600}svg .l,svg .v{font-size:10px;fill:#444}svg .ax{stroke:#888}
svg .grid{stroke:#eee}svg .zero{stroke:#d1495b;stroke-dasharray:4 3}
.notes li{color:#8a4b00}.example{border-top:1px solid #eee;padding:6px 0}.q{font-weight:600}
.pos{color:#1d6b34}.tag{display:inline-block;background:#eef2f7;border-radius:3px;padding:0 5px;font-size:11px;
color:#333;margin-right:4px}ol{margin:4px 0 4px 18px;padding:0}
"""


def _page(title: str, sections: list[tuple[str, str, str]]) -> str:
    links = "".join(f"<a href='#{key}'>{_e(name)}</a>" for key, name, _ in sections)
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{_e(title)}</title>"
            f"<style>{CSS}</style></head><body><header><h1>{_e(title)}</h1></header><nav>{links}</nav>"
            + "".join(f"<section id='{key}'><h2>{_e(name)}</h2>{body}</section>" for key, name, body in sections)
            + "</body></html>\n")


def _section(key: str, title: str, body: str) -> tuple[str, str, str]:
    return key, title, body


def _table(columns: list[str], rows: list[list[Any]], *, header: bool = True) -> str:
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in columns) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _td(value: Any) -> str:
    if isinstance(value, _Cell):
        return f"<td style='background:rgba(31,111,209,{0.08 + 0.6 * value.shade:.2f})'>{_e(value.text)}</td>"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"<td>{_e(_fmt(value))}</td>"
    return f"<td>{_e(str(value))}</td>"


def _grid(figures: list[str]) -> str:
    return "<div class='grid'>" + "".join(figures) + "</div>"


def _p(text: str) -> str:
    return f"<p>{_e(text)}</p>"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _cut(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= TEXT_CHARS else text[:TEXT_CHARS].rstrip() + " …"


def _short(text: str, n: int = 28) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _params(params: dict) -> str:
    shown = {k: v for k, v in params.items() if v not in (None, False, "", [])}
    return ", ".join(f"{k}={v}" for k, v in list(shown.items())[:8]) + (" …" if len(shown) > 8 else "")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value == int(value) and abs(value) >= 1:
            return f"{int(value):,}"
        return f"{value:.4g}"
    return str(value)


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _color(name: str) -> str:
    return COLORS.get(name.split(",")[0], COLORS["kept"])
