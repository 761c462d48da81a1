"""Reading inputs, atomic writes, and the manifest that travels inside every parquet minekit writes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from minekit.inputs import schema
from minekit.errors import InputError, OutputError

if TYPE_CHECKING:
    import polars as pl

METADATA_KEY = b"minekit"


@dataclass
class Inputs:
    """The three validated input tables, with the paths they came from."""

    queries: "pl.DataFrame"
    positives: "pl.DataFrame"
    corpus: "pl.DataFrame"
    paths: dict[str, Path]


def read_parquet(path: str | Path, *, what: str = "input", columns: list[str] | None = None) -> "pl.DataFrame":
    """Read one parquet file (or some of its columns, all of them present), or say clearly why it cannot be read."""
    import polars as pl

    from minekit.guards import finish_switches

    path = Path(path)
    finish_switches(path.parent)  # a multi-file output a killed run was switching: its new state
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a {what} parquet file. Fix: give the path of the .parquet file "
                         f"itself (e.g. {path / (what.split()[-1] + '.parquet')}).")
    if not path.is_file():
        raise InputError(f"{path}: {what} file not found. Fix: check the path (relative paths start in {Path.cwd()}).")
    try:
        return pl.read_parquet(path, columns=columns)
    except Exception as exc:  # polars raises several kinds for a corrupt or non-parquet file
        raise InputError(f"{path}: cannot be read as parquet ({exc}). Fix: give a parquet file; for JSONL or BEIR "
                         "data use `minekit import`.") from exc


def read_inputs(queries: str | Path, positives: str | Path, corpus: str | Path, *, corpus_texts: bool = True
                ) -> Inputs:
    """Read and validate queries, positives and corpus; raise InputError before any work on bad input.

    Without corpus_texts the corpus frame holds its doc_id column alone (a miner that reads its texts itself,
    only when its cache lacks them)."""
    paths = {"queries": Path(queries), "positives": Path(positives), "corpus": Path(corpus)}
    q = schema.validate_queries(read_parquet(paths["queries"], what="queries"), paths["queries"])
    c = (schema.validate_corpus(read_parquet(paths["corpus"], what="corpus"), paths["corpus"]) if corpus_texts
         else read_corpus_ids(paths["corpus"]))
    p = schema.validate_positives(read_parquet(paths["positives"], what="positives"), paths["positives"], q, c)
    return Inputs(queries=q, positives=p, corpus=c, paths=paths)


def read_corpus_ids(path: str | Path) -> "pl.DataFrame":
    """A corpus file's doc_id column alone, checked (unique, not null, the text column present)."""
    path = Path(path)
    columns = parquet_columns(path, what="corpus")
    frame = read_parquet(path, what="corpus", columns=[c for c in ("doc_id",) if c in columns])
    return schema.validate_corpus_ids(frame, path, columns)


def parquet_columns(path: Path, *, what: str) -> list[str]:
    import polars as pl

    read_parquet(path, what=what, columns=[])  # the same errors as a full read for a missing or damaged file
    return list(pl.read_parquet_schema(path))


def read_candidates(path: str | Path) -> "pl.DataFrame":
    """Read a candidates file written by a miner, filter or denoise, checking its contract."""
    path = Path(path)
    return schema.validate_candidates(read_parquet(path, what="candidates"), path)


_SHA256: dict[tuple, str] = {}


def file_sha256(path: str | Path) -> str:
    """A file's sha256, computed once per process while the file is unchanged (a stage hashes its inputs twice:
    for the fingerprint and for the manifest's lineage)."""
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key not in _SHA256:
        _SHA256[key] = sha256_of(path)
    return _SHA256[key]


def sha256_of(path: str | Path) -> str:
    """A file's sha256, read now (cache checks: a file may have been damaged in place)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_sha256(folder: str | Path) -> str:
    """sha256 over a folder's files (relative names and contents); hidden files (temp files) are left out."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()


def describe_file(path: str | Path, rows: int | None = None) -> dict:
    """Lineage entry for one input: where it was, what it held (sha256), how many rows."""
    entry = {"path": str(path), "sha256": file_sha256(path)}
    if rows is not None:
        entry["rows"] = rows
    return entry


def fsync_tree(path: Path) -> None:
    """Flush a file, or every file of a folder and the folder itself, to disk."""
    for item in sorted(path.rglob("*")) + [path] if path.is_dir() else [path]:
        fd = os.open(item, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def publish(tmp: str | Path, path: str | Path, *, replace: bool = True) -> None:
    """Make a finished temp file or folder visible as `path`: durable on disk first, then one rename.

    The one way minekit marks work as done, so a crash right after it never leaves an output that
    exists but is empty. `replace=False` renames (fails if `path` is a non-empty folder).
    """
    tmp, path = Path(tmp), Path(path)
    fsync_tree(tmp)
    (os.replace if replace else os.rename)(tmp, path)
    _fsync_folder(path.parent)


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it over `path` only if the block finishes.

    A killed run leaves at most a hidden temp file, never a half-written output.
    """
    with _temp_beside(Path(path), suffix) as tmp:
        yield tmp
        publish(tmp, path)


@contextmanager
def atomic_paths(*paths: str | Path, remove: tuple[str | Path, ...] = ()) -> Iterator[list[Path]]:
    """Temp paths for several files written as one output, switched into place together only if the block
    finishes (publish_together): a run killed mid-switch is finished by the next reader or writer.

    Put the main output (the file whose manifest marks the stage done) last. `remove`: files of the old
    state that the new one no longer has, removed in the same switch.
    """
    with contextlib.ExitStack() as stack:
        temps = [stack.enter_context(_temp_beside(Path(p), "".join(Path(p).suffixes[-1:]))) for p in paths]
        yield temps
        publish_together(list(zip(temps, map(Path, paths))), remove=[Path(r) for r in remove])


def publish_together(moves: list[tuple[Path, Path]], *, remove: list[Path] = ()) -> None:
    """Make several finished temps visible as one unit: each is durable, then a journal naming the renames
    is written (durable) beside the last target, the renames are made, the journal removed.

    A run killed during the renames leaves the journal: guards.finish_switches, run by the next reader or
    writer of that folder, makes the remaining renames, so the folder holds the old state or the new one.
    """
    import uuid

    from minekit.guards import SWITCH_PREFIX, finish_switch

    for tmp, _ in moves:
        fsync_tree(tmp)
    folder = moves[-1][1].parent
    journal = folder / f"{SWITCH_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
    plan = {"moves": [[str(t.resolve()), str(p.resolve())] for t, p in moves],
            "remove": [str(r.resolve()) for r in remove]}
    staged = journal.with_name(journal.name + ".tmp")
    with open(staged, "w", encoding="utf-8") as handle:
        json.dump(plan, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staged, journal)
    _fsync_folder(folder)
    _SWITCHING.update(t for t, _ in moves)
    try:
        finish_switch(journal)
    except BaseException:
        with contextlib.suppress(Exception):  # interrupted between two renames: they take microseconds to finish
            finish_switch(journal)
        raise
    _SWITCHING.difference_update(t for t, _ in moves)


# Temps a journal names whose switch did not finish: kept for the next run to finish it, never removed.
_SWITCHING: set[Path] = set()


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # the new directory entries, where the platform allows it
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def _temp_beside(path: Path, suffix: str) -> Iterator[Path]:
    """A hidden temp file beside `path` (named for it and this process), removed unless renamed away."""
    from minekit.guards import remove_stale_temps, respect_umask, temp_prefix

    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path.parent, f".{path.name}.", suffix + ".tmp")
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    respect_umask(tmp_path, folder=False)
    try:
        with writing(path):
            yield tmp_path
    finally:
        if tmp_path.exists() and tmp_path not in _SWITCHING:
            tmp_path.unlink()


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """A full disk or a read-only place met while writing `path` becomes an OutputError naming `path`."""
    from minekit.guards import write_fault

    try:
        yield
    except OSError as exc:
        message = write_fault(exc, path)
        if message is None:
            raise
        raise OutputError(message) from exc


@contextmanager
def atomic_folder(path: str | Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield a hidden temp folder beside `path`, renamed to `path` as one unit only if the block finishes.

    `path` must not exist or be an empty folder (a model or dataset is never overwritten), unless
    `replace`: then an existing folder is swapped for the new one in one step (replace_folder).
    """
    import shutil

    from minekit.guards import remove_stale_temps, respect_umask, temp_prefix

    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path.parent, f".{path.name}.")
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(path.name), dir=path.parent))
    respect_umask(tmp, folder=True)
    try:
        with writing(path):
            yield tmp
        if replace and path.exists():
            replace_folder(tmp, path)
        else:
            if path.is_dir():
                path.rmdir()  # empty: the caller checked
            publish(tmp, path, replace=False)
    finally:
        if tmp.exists() and tmp not in _SWITCHING:
            shutil.rmtree(tmp, ignore_errors=True)


def replace_folder(tmp: Path, path: Path) -> None:
    """Put the finished folder `tmp` in the place of the folder `path`: old or new is there at every moment.

    On Linux the two are exchanged in one rename (renameat2), and the old one, now at the hidden `tmp`,
    is removed (by the next run if this one is killed first). Elsewhere the old folder is renamed aside
    and the new one in, as one journaled switch (publish_together).
    """
    fsync_tree(tmp)
    if _exchange(tmp, path):
        _fsync_folder(path.parent)
        return
    aside = tmp.with_name(tmp.name + ".old")
    publish_together([(path, aside), (tmp, path)], remove=[aside])


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic rename (Linux renameat2 RENAME_EXCHANGE); False where that is not possible."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def write_parquet(frame: "pl.DataFrame", path: str | Path, manifest: dict | None = None) -> Path:
    """Write `frame` atomically, with `manifest` as JSON in the parquet key-value metadata.

    The manifest must hold no timestamps: the same inputs and params give byte-identical files.
    """
    import pyarrow.parquet as pq

    table = frame.to_arrow()
    if manifest is not None:
        metadata = dict(table.schema.metadata or {})
        metadata[METADATA_KEY] = json.dumps(manifest, sort_keys=True).encode()
        table = table.replace_schema_metadata(metadata)
    path = Path(path)
    with atomic_path(path, ".parquet") as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def write_text(path: str | Path, text: str) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(path: str | Path, data: dict) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_manifest(path: str | Path) -> dict | None:
    """The manifest of a parquet file minekit wrote, of a dataset folder, or None."""
    import pyarrow.parquet as pq

    path = Path(path)
    if path.is_dir():
        return read_manifest_json(path / "manifest.json") if (path / "manifest.json").is_file() else None
    if not path.is_file():
        raise InputError(f"{path}: file not found. Fix: check the path.")
    try:
        metadata = pq.read_schema(path).metadata or {}
    except Exception as exc:
        raise InputError(f"{path}: cannot be read as parquet ({exc}). Fix: give a parquet file minekit wrote, "
                         "or a dataset folder.") from exc
    raw = metadata.get(METADATA_KEY)
    if not raw:
        return None
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise InputError(f"{path}: its minekit manifest (parquet metadata) is not valid JSON ({exc}).") from None
    return manifest if isinstance(manifest, dict) else None


def read_manifest_json(path: str | Path) -> dict:
    """A dataset's or model's manifest.json, or an InputError saying it is damaged and what to do."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot be read as a minekit manifest ({exc}). It was damaged or edited; "
                         f"Fix: rebuild this folder, or restore manifest.json from a copy.") from None
    if not isinstance(manifest, dict):
        raise InputError(f"{path}: holds a JSON {type(manifest).__name__}, not a minekit manifest (an object). "
                         f"Fix: rebuild this folder, or restore manifest.json from a copy.")
    return manifest

