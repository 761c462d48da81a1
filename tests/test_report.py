"""The report: one offline HTML page whose numbers come from the dataset and its candidate files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from minekit.cli import app
from minekit.handoff.report import make_report

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SECTIONS = ["summary", "scores", "margins", "ranks", "stages", "candidates", "overlap", "examples", "metrics"]


def _ok(args):
    result = runner.invoke(app, ["-q", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(sample_files, tmp_path_factory):
    """bm25 and random candidates of the sample data, bm25 filtered, merged into a dataset; a bm25 evaluation."""
    folder = tmp_path_factory.mktemp("report")
    inputs = ["--queries", str(sample_files["queries"]), "--positives", str(sample_files["positives"]),
              "--corpus", str(sample_files["corpus"])]
    _ok(["mine", "bm25", *inputs, "--out", str(folder / "bm25.parquet"), "--top-k", "20"])
    _ok(["mine", "random", *inputs, "--out", str(folder / "random.parquet"), "--top-k", "5"])
    _ok(["filter", "--candidates", str(folder / "bm25.parquet"), "--out", str(folder / "bm25-f.parquet"),
         "--range-min", "2", "--relative-margin", "0.05"])
    dataset = Path(_ok(["build", "--candidates", str(folder / "bm25-f.parquet"), "--candidates",
                        str(folder / "random.parquet"), *inputs, "--out-dir", str(folder / "datasets"), "--name",
                        "demo", "--num-negatives", "2", "--format", "n-tuple", "--sampling-strategy", "random"]))
    _ok(["evaluate", "--model", "bm25", *inputs, "--k", "10", "--out", str(folder / "bm25-eval.json")])
    return {"folder": folder, "dataset": dataset, "metrics": folder / "bm25-eval.json"}


def test_report_sections_and_numbers_come_from_the_files(built):
    result = make_report(built["dataset"], metrics=[built["metrics"]])
    page = result.html
    assert [s for s in SECTIONS if f"<section id='{s}'>" in page] == SECTIONS
    assert result.stats["candidate_files"] == 3  # bm25-f, the bm25 file it came from, random
    # Nothing to fetch: no scripts, no external links or images.
    assert not re.search(r"<script|<link|<img|src=|href=['\"]http|url\(", page)
    # The filter step's drops, as the manifest counted them.
    manifest = json.loads((built["dataset"] / "manifest.json").read_text())
    dropped = next(s for s in manifest["steps"] if s["stage"] == "filter")["stats"]["dropped"]
    assert f"range_min: {dropped['range_min']:,}, relative_margin: {dropped['relative_margin']:,}" in page
    # The share of picked bm25 negatives scoring above their positive, computed here from the files.
    ids = pl.read_parquet(built["dataset"] / "ids.parquet")
    picked = ids.select("query_id", pl.col("negative_ids").alias("doc_id")).explode("doc_id")
    bm25 = pl.read_parquet(built["folder"] / "bm25-f.parquet").join(picked, on=["query_id", "doc_id"])
    above = (bm25["score"] > bm25["positive_score"]).mean()
    assert f"<td>bm25</td><td>{bm25.height}</td>" in page and f"{100 * above:.1f}%" in page
    # Overlap: every random candidate found by random itself.
    assert "<td>random</td><td>200</td>" in page
    assert "ndcg@10" in page and "bm25-eval" in page


def test_report_without_candidate_files_says_so(built, tmp_path):
    copy = tmp_path / "v1"
    shutil.copytree(built["dataset"], copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    for key, entry in manifest["steps"][-1]["inputs"].items():
        if key.startswith("candidates"):
            entry["path"] = str(tmp_path / "gone" / Path(entry["path"]).name)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = make_report(copy)
    assert result.stats["candidate_files"] == 0
    assert "is not on disk" in result.html and "Ranks need the candidate files" in result.html
    assert "<section id='scores'>" in result.html and "<svg" in result.html


def test_report_cli_and_bad_path(built, tmp_path):
    out = tmp_path / "r.html"
    ok = runner.invoke(app, ["report", str(built["dataset"]), "--out", str(out), "--metrics", str(built["metrics"])])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip() == str(out) and out.read_text().startswith("<!DOCTYPE html>")
    bad = runner.invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "x.html")])
    assert bad.exit_code == 2 and "neither a dataset folder" in bad.output and not (tmp_path / "x.html").exists()


PIPELINE = """
name = "rep"
[inputs]
queries = "{q}"
positives = "{p}"
corpus = "{c}"
[steps.bm25]
run = "mine.bm25"
top_k = 10
[steps.build]
run = "build"
candidates = ["@bm25"]
name = "rep"
[steps.evaluate]
run = "evaluate"
model = "bm25"
k = "10"
[steps.report]
run = "report"
dataset_or_run = "@build"
metrics = ["@evaluate"]
"""


def test_pipeline_report_step_and_run_folder(sample_files, tmp_path):
    toml = tmp_path / "rep.toml"
    toml.write_text(PIPELINE.format(q=sample_files["queries"], p=sample_files["positives"], c=sample_files["corpus"]))
    first = runner.invoke(app, ["run", str(toml)])
    assert first.exit_code == 0, first.output
    page = (tmp_path / "runs" / "rep" / "report" / "report.html").read_text()
    assert "<section id='metrics'>" in page and "<td>evaluate</td>" in page
    again = runner.invoke(app, ["run", str(toml)])
    assert re.search(r"skip\s+report\s+up to date", again.stdout)
    # The run folder itself: its last dataset and its evaluate steps.
    result = make_report(tmp_path / "runs" / "rep")
    assert "<td>evaluate</td>" in result.html and "runs/rep/build/rep/v1</td>" in result.html
    assert "<td>run</td><td>rep</td>" in result.html


def test_sample_pipeline_ends_with_the_report():
    text = (ROOT / "pipelines" / "sample.toml").read_text()
    steps = re.findall(r"^\[steps\.(\w+)\]", text, re.M)
    assert steps[-1] == "report" and 'out = "runs/sample/report.html"' in text


def _render(page_path: Path, shot: Path) -> tuple[list[str], list[str]]:
    """Open the page in headless Chromium, check its sections and plots, screenshot it; console errors, requests."""
    from playwright.sync_api import sync_playwright

    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri())
            page.wait_for_load_state("load")
            for section in SECTIONS:
                assert page.locator(f"section#{section}").is_visible(), section
            boxes = [page.locator(f"section#{s} svg").first.bounding_box()
                     for s in ("scores", "margins", "ranks", "stages", "metrics")]
            assert all(b and b["width"] > 100 and b["height"] > 50 for b in boxes)
            assert page.locator("svg path").count() >= 6
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    return errors, requests


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="no browser installed (/usr/bin/chromium)")
def test_report_renders_in_a_headless_browser_offline(built, tmp_path):
    out = tmp_path / "report.html"
    out.write_text(make_report(built["dataset"], metrics=[built["metrics"]]).html)
    errors, requests = _render(out, tmp_path / "report.png")
    assert errors == []
    assert requests == [out.as_uri()]  # the page itself, nothing else

