"""The README's demo command, run as a user would paste it (after the install part), in a fresh folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _block(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- ci: {name} -->\s*```bash\n(.*?)```", text, re.S)
    assert match, f"README.md lost its <!-- ci: {name} --> block"
    return match.group(1).strip()


@pytest.mark.slow
def test_readme_demo_runs_end_to_end(tmp_path):
    setup = _block("setup")
    # The install part is CI's job; the demo is everything from the first minekit command on.
    demo = setup[setup.index("minekit "):]
    for folder in ("sample_data", "pipelines"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, tmp_path / folder)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", demo], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    versions = list(tmp_path.glob("**/v1/train.parquet"))
    assert versions, f"no dataset version written; stdout: {result.stdout}"
    train = pl.read_parquet(versions[0])
    assert train.height > 0 and train.columns[:2] == ["anchor", "positive"]
    run = json.loads(next(tmp_path.glob("runs/*/run.json")).read_text())
    statuses = {name: step["status"] for name, step in run["steps"].items()}
    assert set(statuses.values()) == {"done"}, statuses
    assert "ndcg@10" in result.stdout


def _python_block() -> str:
    text = (ROOT / "docs" / "python.md").read_text()
    match = re.search(r"<!-- ci: python -->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/python.md lost its <!-- ci: python --> block"
    return match.group(1)


EQUIVALENT_PIPELINE = """\
name = "python-recipe"

[inputs]
queries = "sample_data/queries.parquet"
positives = "sample_data/positives.parquet"
corpus = "sample_data/corpus.parquet"

[steps.bm25]
run = "mine.bm25"
out = "work/bm25.parquet"
top_k = 30

[steps.dense]
run = "mine.dense"
out = "work/dense.parquet"
model = "default"
top_k = 30

[steps.build]
run = "build"
candidates = ["@bm25", "@dense"]
out_dir = "datasets"
name = "sample"
"""


def test_readme_python_recipe_writes_the_dataset_the_cli_and_a_pipeline_write(tmp_path, monkeypatch, capsys,
                                                                             tiny_bi_encoder):
    # Mining uses the packaged default model, as docs/python.md does (a tiny random model's scores leave the filter
    # nothing to keep), with one embedding cache shared by the three folders; the tiny model is the one trained
    # and evaluated, which the compared dataset files do not depend on.
    from typer.testing import CliRunner

    from minekit.cli import app

    code = _python_block()
    tuned = 'mk.train(dataset=dataset.path, out="models/sample", model=model,'
    assert 'model = "default"' in code and tuned in code
    code = code.replace(tuned, tuned.replace("model=model", f"model={str(tiny_bi_encoder)!r}"))
    folders = {name: tmp_path / name for name in ("python", "cli", "pipeline")}
    (tmp_path / "cache").mkdir()
    for folder in folders.values():
        shutil.copytree(ROOT / "sample_data", folder / "sample_data")
        (folder / ".minekit-cache").symlink_to(tmp_path / "cache")

    monkeypatch.chdir(folders["python"])
    exec(compile(code, "docs/python.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert Path(printed[-1].split()[0]).resolve() == Path("datasets/sample/v1").resolve()
    # The default recipe's counts, as the dataset's manifest records them: it did leave candidates out.
    stats = json.loads(Path("datasets/sample/v1/manifest.json").read_text())["steps"][-1]["stats"]
    assert printed[0].split() == [str(stats["negatives_excluded_by_relative_margin"]), str(stats["rows_filled"])]
    assert stats["negatives_excluded_by_relative_margin"] > 0
    assert Path("models/sample/manifest.json").is_file() and "ndcg@10" in json.loads(Path("work/metrics.json").read_text())

    monkeypatch.chdir(folders["cli"])
    data = ["--queries", "sample_data/queries.parquet", "--positives", "sample_data/positives.parquet",
            "--corpus", "sample_data/corpus.parquet"]
    for args in (["mine", "bm25", *data, "--out", "work/bm25.parquet", "--top-k", "30"],
                 ["mine", "dense", *data, "--out", "work/dense.parquet", "--model", "default",
                  "--top-k", "30"],
                 ["build", "--candidates", "work/bm25.parquet", "--candidates", "work/dense.parquet", *data,
                  "--name", "sample"]):
        result = CliRunner().invoke(app, ["-q", *args])
        assert result.exit_code == 0, result.output

    monkeypatch.chdir(folders["pipeline"])
    Path("p.toml").write_text(EQUIVALENT_PIPELINE)
    result = CliRunner().invoke(app, ["-q", "run", "p.toml"])
    assert result.exit_code == 0, result.output

    for name in ("train.parquet", "ids.parquet"):
        files = [(folder / "datasets" / "sample" / "v1" / name).read_bytes() for folder in folders.values()]
        assert files[0] == files[1] == files[2], name
    manifests = [json.loads((folder / "datasets/sample/v1/manifest.json").read_text()) for folder in folders.values()]
    assert manifests[0]["fingerprint"] == manifests[1]["fingerprint"] == manifests[2]["fingerprint"]
