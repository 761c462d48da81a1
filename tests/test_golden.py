"""The sample pipeline, run in full, writes the same bytes as the release that recorded tests/golden/.

What it pins: every parquet file, the trained weights, both metrics files and the two manifests (their
`created` time, paths and wall times aside). The recorded run used torch 2.13.0 on a CPU without bfloat16
units (dtype auto = float32); where either differs, encodings differ in the last bits, so the comparison
is skipped there with the reason (tests/golden/sample_pipeline.json says what it was made with).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "tests/golden/sample_pipeline.json").read_text())
VOLATILE = {"created", "wall_s", "path", "minekit_version"}


def _normalised(value):
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


def _digest(path: Path) -> str:
    if path.name == "manifest.json":
        text = json.dumps(_normalised(json.loads(path.read_text())), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _environment() -> dict:
    import torch

    from minekit.encode.device import resolve_dtype

    return {"torch": torch.__version__, "encoder_dtype": resolve_dtype("auto", "cpu")}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> Path:
    """The sample pipeline, run once in a fresh folder, as a user runs it."""
    folder = tmp_path_factory.mktemp("sample-run")
    for name in ("sample_data", "pipelines"):
        shutil.copytree(ROOT / name, folder / name)
    result = subprocess.run([sys.executable, "-m", "minekit", "-q", "run", "pipelines/sample.toml"], cwd=folder,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


@pytest.mark.slow
def test_sample_pipeline_writes_the_recorded_bytes(sample_run):
    if _environment() != GOLDEN["made_with"]:
        pytest.skip(f"recorded with {GOLDEN['made_with']}, this machine has {_environment()}")
    got = {name: _digest(sample_run / name) for name in GOLDEN["sha256"]}
    assert got == GOLDEN["sha256"]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/chromium").is_file(), reason="no browser installed (/usr/bin/chromium)")
def test_the_sample_report_renders_offline(sample_run, tmp_path):
    """The page the sample pipeline wrote; MINEKIT_UPDATE_DOCS=1 makes it the docs' screenshot."""
    import os

    from test_report import _render

    page, shot = sample_run / "runs/sample/report.html", tmp_path / "report.png"
    errors, requests = _render(page, shot)
    assert errors == [] and requests == [page.as_uri()]
    if os.environ.get("MINEKIT_UPDATE_DOCS"):
        shutil.copyfile(shot, ROOT / "docs" / "report.png")
