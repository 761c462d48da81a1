"""Dataset folders on disk, datasets/<name>/v<N>/: the one place that writes and reads them.

A version holds train.parquet (texts, in trainer order), ids.parquet (ids, sources and scores, row by
row), manifest.json and a README card. Versions are numbered 1, 2, ... and never overwritten: a build
goes to a hidden temp folder that is renamed to the next free number once complete.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from minekit.errors import ConfigError, InputError
from minekit.io import file_sha256, publish, read_manifest_json, read_parquet, write_json, write_parquet, write_text

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass
class BuildResult:
    """A dataset made in memory by minekit.dataset.build, not yet written."""

    train: "pl.DataFrame"  # texts, columns in trainer order
    ids: "pl.DataFrame"  # ids, scores and sources, row-aligned with train
    stats: dict
    score_columns: dict = field(default_factory=dict)  # ids.parquet score column -> what scored it


@dataclass
class Dataset:
    """A built dataset version, read back: train texts, row-aligned ids and scores, its manifest."""

    path: Path
    train: "pl.DataFrame"
    ids: "pl.DataFrame | None"
    manifest: dict


# -- the columns of ids.parquet ---------------------------------------------------------------------

def score_column(source: str) -> str:
    """A source name as a column suffix: passage-bm25 -> passage_bm25."""
    return re.sub(r"[^A-Za-z0-9_]", "_", source)


# -- reading ----------------------------------------------------------------------------------------

def read_dataset(path: str | Path) -> Dataset:
    """Read datasets/<name>/v<N>: train.parquet (required), ids.parquet and manifest.json (when present)."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: dataset folder not found (expected datasets/NAME/vN from `minekit build`).")
    train = read_parquet(path / "train.parquet", what="dataset train")
    ids = read_parquet(path / "ids.parquet", what="dataset ids") if (path / "ids.parquet").is_file() else None
    if ids is not None and ids.height != train.height:
        raise InputError(f"{path / 'ids.parquet'}: {ids.height} rows, but train.parquet has {train.height}; "
                         "they must be row-aligned (rebuild the dataset).")
    manifest_path = path / "manifest.json"
    manifest = read_manifest_json(manifest_path) if manifest_path.is_file() else {}
    check_dataset_files(path, manifest)
    return Dataset(path=path, train=train, ids=ids, manifest=manifest)


def check_dataset_files(path: Path, manifest: dict) -> None:
    """Each file a dataset's manifest lists still holds what `build` wrote (its sha256): a cut or edited
    train.parquet is named before anything reads it."""
    files = manifest.get("files") if isinstance(manifest, dict) else None
    for name, facts in (files.items() if isinstance(files, dict) else []):
        file = path / name
        expected = facts.get("sha256") if isinstance(facts, dict) else None
        if isinstance(expected, str) and file.is_file() and file_sha256(file) != expected:
            rows = f" ({facts['rows']} rows when built)" if isinstance(facts.get("rows"), int) else ""
            raise InputError(f"{file}: is not the file `minekit build` wrote{rows}: its sha256 differs from the one "
                             f"in {path / 'manifest.json'} (cut, edited or replaced). Fix: rebuild the dataset, or "
                             "restore the file from a copy.")


def dataset_root(out_dir: str | Path, name: str) -> Path:
    """datasets/<name>, refusing names that could leave out_dir."""
    if not _NAME.match(name) or ".." in name:
        raise ConfigError(
            f"name: {name!r} is not a valid dataset name; use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit), without '..' or '/'."
        )
    out = Path(out_dir).resolve()
    root = (out / name).resolve()
    if root.parent != out:
        raise ConfigError(f"name: {name!r} would leave the output folder {out}.")
    return root


def _versions(root: Path) -> list[tuple[int, Path]]:
    if not root.is_dir():
        return []
    found = [(int(p.name[1:]), p) for p in root.iterdir() if p.is_dir() and re.fullmatch(r"v\d+", p.name)]
    return sorted(found)


def find_version(out_dir: str | Path, name: str, fingerprint: str) -> Path | None:
    """The existing version built from the same inputs and params, if any."""
    for _, path in _versions(dataset_root(out_dir, name)):
        manifest = path / "manifest.json"
        if manifest.is_file() and read_manifest_json(manifest).get("fingerprint") == fingerprint:
            return path
    return None


# -- writing ----------------------------------------------------------------------------------------

@contextmanager
def _locked(root: Path):
    """One build at a time per dataset name, so two identical builds cannot both make a version."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: the rename below still never overwrites a version
        yield
        return
    fd = os.open(root, os.O_RDONLY)  # lock the folder itself: no lock file is left behind
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_dataset(result: BuildResult, *, out_dir: str | Path, name: str, manifest: dict) -> Path:
    """Write a new version v<N+1> next to the existing ones; never touches an existing version.

    Files go to a hidden temp folder first, which is renamed into place only once complete. A version
    with the same fingerprint (an identical build that finished meanwhile) is returned instead. An
    empty result is an error saying why: a 0-row dataset trains nothing.
    """
    no_candidate = result.stats.get("queries") and result.stats.get("queries_without_negatives") == result.stats["queries"]
    if result.train.height == 0 or no_candidate:  # random fill alone is not a mined dataset
        raise InputError(_why_empty(result.stats, manifest))
    root = dataset_root(out_dir, name)
    made = [p for p in (root, *root.parents) if not p.exists()]  # removed again if nothing is written
    root.mkdir(parents=True, exist_ok=True)
    try:
        return _write_version(result, root, out_dir, name, manifest)
    except BaseException:
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty
        raise


def _write_version(result: BuildResult, root: Path, out_dir: str | Path, name: str, manifest: dict) -> Path:
    from minekit.guards import remove_stale_temps, respect_umask

    remove_stale_temps(root, ".tmp-")
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-p{os.getpid()}-", dir=root))
    respect_umask(tmp, folder=True)
    try:
        write_parquet(result.train, tmp / "train.parquet", manifest)
        write_parquet(result.ids, tmp / "ids.parquet", manifest)
        with _locked(root):
            same = find_version(out_dir, name, manifest["fingerprint"]) if manifest.get("fingerprint") else None
            if same is not None:
                logger.info("an identical build finished meanwhile: %s", same)
                return same
            return _rename_in(tmp, root, result, manifest, name)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _why_empty(stats: dict, manifest: dict) -> str:
    """Why a build kept no row, and what to change."""
    params = (manifest.get("steps") or [{}])[-1].get("params", {})
    n, fill = params.get("num_negatives"), params.get("fill")
    positives, without = stats.get("positives", 0), stats.get("queries_without_negatives", 0)
    if without and without == stats.get("queries"):
        why = (f"none of the {stats.get('queries')} queries in --positives has a candidate (were the candidates "
               "mined from another positives file, or filtered down to nothing?)")
        fix = "mine with the same --positives, or loosen the filter (for random negatives, `minekit mine random`)"
        return f"build: nothing to write: {why}. No version was made. Fix: {fix}."
    else:
        why = (f"all {positives} (query, positive) rows have fewer than --num-negatives {n} usable candidates "
               f"({stats.get('rows_without_enough_negatives', 0)} rows)")
        fix = "lower --num-negatives or mine more candidates (--top-k)"
    if fill == "random":
        why += f"; --fill random could not pad them either: the corpus has fewer than {n} documents outside " \
               "each query's positives and candidates"
        fix = "lower --num-negatives, or use a larger --corpus"
    elif "--fill random" not in fix:
        fix += ", or pad rows with --fill random"
    return f"build: nothing to write: {why}. No version was made. Fix: {fix}."


def _rename_in(tmp: Path, root: Path, result: BuildResult, manifest: dict, name: str) -> Path:
    """Give the complete temp folder the next free version number."""
    while True:
        version = (_versions(root)[-1][0] if _versions(root) else 0) + 1
        full = {**manifest, "name": name, "version": version,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "files": {f: {"rows": getattr(result, f.split(".")[0]).height,
                              "sha256": file_sha256(tmp / f)} for f in ("train.parquet", "ids.parquet")},
                "columns": result.train.columns}
        write_json(tmp / "manifest.json", full)
        write_text(tmp / "README.md", dataset_card(full, result))
        try:
            publish(tmp, root / f"v{version}", replace=False)  # fails if another run took this number meanwhile
            return root / f"v{version}"
        except OSError:
            if not (root / f"v{version}").exists():
                raise


def dataset_card(manifest: dict, result: BuildResult) -> str:
    """A README a person can read: what is in the dataset, how it was made, how to load it."""
    params = manifest["steps"][-1]["params"]
    steps = "\n".join(
        f"{i + 1}. `{s['stage']}` " + ", ".join(f"{k}={v}" for k, v in s["params"].items())
        for i, s in enumerate(manifest["steps"])
    )
    inputs = "\n".join(f"- {k}: `{v['path']}` (sha256 {v['sha256'][:12]}…)"
                       for k, v in manifest["steps"][-1]["inputs"].items())
    stats = "\n".join(f"- {k}: {v}" for k, v in result.stats.items())
    scores = "\n".join(f"- `{k}`: {v}" for k, v in result.score_columns.items()) or "- none (random negatives)"
    return f"""# {manifest['name']} v{manifest['version']}

A {params['format']} dataset for training retrieval models with hard negatives, built by minekit
{manifest['minekit_version']} on {manifest['created']}.

- `train.parquet`: {result.train.height} rows, columns {', '.join(f'`{c}`' for c in result.train.columns)} (texts, in trainer order)
- `ids.parquet`: the ids, scores and sources of the same rows, row by row
- `manifest.json`: inputs, every step's params, counts, fingerprint `{manifest['fingerprint'][:16]}`

## How it was made
{steps}

Inputs:
{inputs}

## Scores
Each score column of `ids.parquet` holds one kind of score, from one scorer:
{scores}

## Counts
{stats}

## Load it
```python
from datasets import load_dataset
train = load_dataset("parquet", data_files="train.parquet", split="train")
```
The texts come from the inputs above: this dataset carries their licence.
"""
