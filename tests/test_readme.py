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

ROOT = Path(__file__).resolve().parents[1]


def _block(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- ci: {name} -->\s*```bash\n(.*?)```", text, re.S)
    assert match, f"README.md lost its <!-- ci: {name} --> block"
    return match.group(1).strip()


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
